//! The `kefu` binary: command line, configuration, start-up and graceful
//! shutdown of the server, demo data, backups.
//!
//! Every failure an operator can meet (a port in use, a corrupt database, a
//! database newer than the binary, a wrong URL) ends with one sentence
//! saying what is wrong and what to do, and a non-zero exit code.

mod backup;
mod config;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use config::{FlagSettings, LogFormat, Settings};
use kefu_app::{App, Caller};
use kefu_store::{DatabaseLocation, Store, StoreOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Kefu 客服 — customer service management.
#[derive(Debug, Parser)]
#[command(name = "kefu", version, about)]
struct Cli {
    /// A TOML configuration file (also KEFU_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Directory for the embedded database and local files (default ./kefu-data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// postgres://user:password@host/db to run on PostgreSQL (also KEFU_DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log style.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    /// Log filter, e.g. info, debug, kefu_web=debug.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (UI, API, background jobs).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Load the demo data set first if the database is empty.
        #[arg(long)]
        demo: bool,
        /// Seed for the demo data set.
        #[arg(long, default_value_t = kefu_app::demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// Apply database migrations and report the schema version.
    Migrate,
    /// Load the bilingual demo data set into an empty database.
    Demo {
        /// Seed; the same seed gives the same data.
        #[arg(long, default_value_t = kefu_app::demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// Write a consistent copy of the SQLite database, even while Kefu runs.
    Backup {
        /// The backup file to create (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the SQLite database with a backup (Kefu must be stopped).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing database (it is kept beside, renamed).
        #[arg(long)]
        force: bool,
    },
    /// Print the version.
    Version,
    /// Print the role × permission and role × route tables (docs/permissions.md).
    Permissions,
    /// Print the OpenAPI document of the API (also served at /api/openapi.json).
    Openapi,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Agent accounts.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// API tokens for integrations.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check the configuration and print the effective settings (secrets redacted).
    Check,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Create an agent account; the password is read from standard input.
    Create {
        /// Sign-in email.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Role: admin, manager, agent, tech_support, qa_inspector, trainer, analyst.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Issue an API token acting for an agent; printed once.
    Create {
        /// The agent the token acts for (email).
        #[arg(long)]
        agent: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// Role the token acts with (default: the agent's).
        #[arg(long)]
        role: Option<String>,
        /// Days until it expires (default: never).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen, .. } => listen.clone(),
        _ => None,
    };
    let flags = FlagSettings {
        listen,
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        log_format: cli.log_format,
        log_level: cli.log_level.clone(),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let settings = match Settings::load(cli.config.as_deref(), &env, &flags) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&settings.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve { demo, seed, .. } => serve(settings, demo.then_some(seed)).await,
        Command::Migrate => {
            let store = open(&settings, true).await?;
            let status = store.migrate().await?;
            println!(
                "database {} is at schema version {} (this binary's latest)",
                settings.database_location()?.redacted(),
                status.applied.unwrap_or(0)
            );
            store.close().await;
            Ok(())
        }
        Command::Demo { seed } => {
            let app = start_app(&settings).await?;
            let summary = kefu_app::demo::load(&app, seed).await?;
            app.store.close().await;
            if !summary.loaded {
                bail!(
                    "the database already holds data; the demo is only loaded into an empty database (use a new --data-dir)"
                );
            }
            print_demo(&summary);
            Ok(())
        }
        Command::Backup { to } => backup::backup(&settings, &to).await,
        Command::Restore { from, force } => backup::restore(&settings, &from, force).await,
        Command::Openapi => {
            println!(
                "{}",
                String::from_utf8_lossy(kefu_web::openapi::document_json())
            );
            Ok(())
        }
        Command::Permissions => {
            print!("{}", kefu_web::access::permissions_markdown());
            Ok(())
        }
        Command::Version => {
            println!("kefu {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            println!("# effective configuration (defaults < file < KEFU_* environment < flags)");
            print!("{}", settings.to_redacted_toml());
            Ok(())
        }
        Command::Agent {
            command:
                AgentCommand::Create {
                    email,
                    name,
                    role,
                    password_stdin,
                },
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let app = start_app(&settings).await?;
            let input = kefu_app::directory::NewAgentInput {
                email,
                display_name: name,
                role,
                language: None,
                time_zone: None,
                password,
            };
            let result =
                kefu_app::directory::create_agent(&app, &Caller::system("cli"), input).await;
            app.store.close().await;
            let agent = result.map_err(describe)?;
            println!(
                "created agent {} <{}> with role {}",
                agent.id, agent.email, agent.role
            );
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    agent,
                    name,
                    role,
                    expires_in_days,
                },
        } => {
            let app = start_app(&settings).await?;
            let result = issue_token(&app, &agent, name, role, expires_in_days).await;
            app.store.close().await;
            let issued = result?;
            println!("{}", issued.token);
            eprintln!(
                "API token {} ({}) issued for agent {} with role {}; it is shown only this once",
                issued.record.id, issued.record.name, agent, issued.record.role
            );
            Ok(())
        }
    }
}

async fn issue_token(
    app: &App,
    email: &str,
    name: String,
    role: Option<String>,
    expires_in_days: Option<i64>,
) -> anyhow::Result<kefu_app::auth::IssuedToken> {
    let email =
        kefu_domain::validate::email("--agent", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let credentials = {
        let mut reader = app.store.read().await?;
        kefu_store::agents::credentials(&mut reader.conn(), &email).await?
    };
    let Some(agent) = credentials else {
        bail!("there is no agent with the email {email}");
    };
    let input = kefu_app::auth::NewTokenInput {
        name,
        agent_id: Some(agent.id),
        role,
        expires_in_days,
    };
    kefu_app::auth::create_api_token(app, &Caller::system("cli"), input)
        .await
        .map_err(describe)
}

fn describe(error: kefu_app::AppError) -> anyhow::Error {
    match error {
        kefu_app::AppError::Duplicate { field } => anyhow::anyhow!("{field} is already in use"),
        other => anyhow::anyhow!("{other}"),
    }
}

/// Opens the configured database with the settings' pool options.
async fn open(settings: &Settings, create_if_missing: bool) -> anyhow::Result<Store> {
    let location = settings.database_location()?;
    if let DatabaseLocation::SqliteFile(path) = &location
        && create_if_missing
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot create the data directory {}; check its permissions or choose another with --data-dir", dir.display())
                })?;
    }
    let options = StoreOptions {
        max_connections: settings.database.max_connections,
        busy_timeout: Duration::from_millis(settings.database.busy_timeout_ms),
        create_if_missing,
    };
    Ok(Store::open(&location, &options).await?)
}

/// Opens, migrates and prepares the app for a command that uses it.
async fn start_app(settings: &Settings) -> anyhow::Result<App> {
    let store = open(settings, true).await?;
    store.migrate().await?;
    App::start(store, settings.attachment_settings()?)
        .await
        .map_err(describe)
}

fn print_demo(summary: &kefu_app::demo::DemoSummary) {
    if summary.loaded {
        println!(
            "demo data loaded: {} agents, {} teams, {} organizations, {} customers, {} orders, {} tickets (星河宽带 StarRiver Broadband)",
            summary.agents,
            summary.teams,
            summary.organizations,
            summary.customers,
            summary.orders,
            summary.tickets
        );
    } else {
        println!("the database already holds data; demo data was not loaded");
    }
    println!(
        "demo logins (password for all: {}):",
        kefu_app::demo::DEMO_PASSWORD
    );
    for login in &summary.logins {
        println!("  {:<13} {}", login.role, login.email);
    }
}

async fn serve(settings: Settings, demo_seed: Option<u64>) -> anyhow::Result<()> {
    // Bind first: a port in use should fail before anything touches the database.
    let listener = tokio::net::TcpListener::bind(settings.listen).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            "another program is using it; stop that program or choose another address with --listen"
        } else {
            "check the address, or choose another with --listen"
        };
        anyhow::anyhow!("cannot listen on {}: {e}; {hint}", settings.listen)
    })?;
    let location = settings.database_location()?;
    let _lock = match &location {
        DatabaseLocation::SqliteFile(path) => Some(backup::lock_database(path, true)?),
        DatabaseLocation::Postgres(_) => None,
    };
    let app = start_app(&settings).await?;
    if let Some(seed) = demo_seed {
        let summary = kefu_app::demo::load(&app, seed).await.map_err(describe)?;
        print_demo(&summary);
    }
    let store = app.store.clone();
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %location.redacted(), "kefu is listening");
    println!(
        "Kefu is running at http://{address}/ (database: {})",
        location.redacted()
    );
    let upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            kefu_web::metrics::upkeep();
        }
    });
    // Warnings and escalations fire in the background, on every instance.
    let alarms = kefu_app::alarms::start(&app);
    // Webhook deliveries and mail go out from the job worker.
    let jobs = kefu_app::jobs::start(&app);
    // Mailboxes with an IMAP server are read in the background.
    let imap = kefu_app::imap::start(&app);
    // Waiting tickets go to agents in the background, on every instance.
    let router = kefu_app::routing::start(&app);
    let options = kefu_web::WebOptions {
        public_url: settings.effective_public_url(address),
    };
    let events = app.events.clone();
    let shutdown = async move {
        shutdown_signal().await;
        events.close();
    };
    kefu_web::serve(listener, kefu_web::router(app, options), shutdown)
        .await
        .context("the HTTP server failed")?;
    upkeep.abort();
    // It stops at the close signal; a sweep under way finishes or rolls back.
    let _ = alarms.await;
    let _ = jobs.await;
    let _ = router.await;
    let _ = imap.await;
    store.close().await;
    tracing::info!("kefu stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
