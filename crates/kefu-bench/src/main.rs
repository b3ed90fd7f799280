//! `kefu-bench`: generates a realistic service floor from a seed —
//! customers with contact points and orders through Kefu's own import,
//! work orders over a year with three to five messages each — into SQLite
//! or PostgreSQL, starts the real `kefu serve` binary on 127.0.0.1, and
//! measures the API under concurrent load: customer lookup, lists and the
//! 360° view, ticket queues, the ticket page, search, creation and import,
//! and the server's memory. Prints a Markdown table, writes JSON, and can
//! rewrite its section of BENCHMARKS.md.
//!
//! Timing here never decides a test; the runner checks correctness (every
//! looked-up phone finds its customer, every created ticket reads back as
//! sent) and fails when it does not hold.

mod mail;
mod markdown;
mod server;
mod standards;

use anyhow::{Context, Result, bail};
use clap::Parser;
use kefu_app::import::{ImportField, Table, Target};
use kefu_app::{App, Caller};
use kefu_store::{DatabaseLocation, Store, StoreOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "kefu-bench", about = "Measure Kefu's customer archive")]
struct Options {
    /// Customers to load (besides the demo set).
    #[arg(long, default_value_t = 100_000)]
    customers: usize,
    /// PostgreSQL URL of an empty database; default: a new SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Requests per measured operation.
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Rows imported in one measured HTTP import.
    #[arg(long, default_value_t = 20_000)]
    import_rows: usize,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Work orders to generate (with conversations and search documents)
    /// after the customers; 0 skips the ticket measurements.
    #[arg(long, default_value_t = 0)]
    tickets: usize,
    /// Measure only ticket creation (to profile the write path).
    #[arg(long)]
    only_creation: bool,
    /// Measure service standards instead of the HTTP operations: this many
    /// SLA alarms falling due together, and this many tickets routed.
    #[arg(long, default_value_t = 0)]
    standards: usize,
    /// Measure the email channel instead of the HTTP operations: this many
    /// raw messages posted to the inbound endpoint (new requests, replies
    /// threading onto them, GBK and UTF-8, some with files).
    #[arg(long, default_value_t = 0)]
    mail: usize,
    /// Orders per generated customer: each gets between none and this many,
    /// over the last year.
    #[arg(long, default_value_t = 6)]
    orders: usize,
    /// The server binary to measure (default: `kefu` beside this runner).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Rewrite this section of BENCHMARKS.md (between the markers
    /// `<!-- kefu-bench:KEY -->` and `<!-- /kefu-bench:KEY -->`).
    #[arg(long, value_name = "KEY")]
    benchmarks: Option<String>,
    /// The file `--benchmarks` rewrites.
    #[arg(long, default_value = "BENCHMARKS.md")]
    benchmarks_file: PathBuf,
    /// Keep the SQLite file afterwards (to inspect or profile queries).
    #[arg(long)]
    keep: bool,
    /// Where to write the JSON result.
    #[arg(long, default_value = "target/bench/customers.json")]
    out: PathBuf,
}

/// Builds the request number `i` of an operation.
pub(crate) type MakeRequest = Arc<dyn Fn(usize) -> reqwest::RequestBuilder + Send + Sync>;
/// Checks the answer to request number `i`.
pub(crate) type CheckAnswer = Arc<dyn Fn(usize, &serde_json::Value) -> bool + Send + Sync>;

/// Latency percentiles of one operation, in milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    operation: String,
    requests: usize,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    per_second: f64,
}

/// Everything measured.
#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    customers: usize,
    orders: u64,
    concurrency: usize,
    load_rows_per_second: f64,
    http_import_rows: usize,
    http_import_rows_per_second: f64,
    tickets: usize,
    messages: u64,
    ticket_load_per_second: f64,
    latencies: Vec<Latency>,
    /// The server process's resident memory in MiB: once started, at its
    /// highest during the run, and at the end.
    server_rss_start_mib: f64,
    server_rss_peak_mib: f64,
    server_rss_end_mib: f64,
    machine: String,
    date: String,
    command: String,
}

const SURNAMES: [&str; 12] = [
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙",
];
const GIVEN: [&str; 12] = [
    "芳", "伟", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "涛",
];
const ENGLISH: [&str; 6] = [
    "James Miller",
    "Olivia Brown",
    "Lucas Schmidt",
    "Hannah Kim",
    "Noah Garcia",
    "Emma Wilson",
];
const CITIES: [(&str, &str, &str); 6] = [
    ("北京市", "北京市", "华北"),
    ("上海市", "上海市", "华东"),
    ("广东省", "广州市", "华南"),
    ("浙江省", "杭州市", "华东"),
    ("四川省", "成都市", "西南"),
    ("湖北省", "武汉市", "华中"),
];
const TAGS: [&str; 6] = ["宽带", "5G套餐", "家庭融合", "IPTV", "老用户", "企业专线"];

/// The phone number of generated customer `n`: unique, valid, CN mobile.
fn phone_of(n: usize) -> String {
    format!("+86150{:08}", n)
}

/// A table of `count` generated customers numbered from `first`.
fn generate(first: usize, count: usize, rng: &mut ChaCha8Rng) -> (Table, Vec<Option<Target>>) {
    let headers = [
        "name",
        "language",
        "phone",
        "email",
        "external_id",
        "province",
        "city",
        "region",
        "grade",
        "tags",
    ]
    .map(str::to_owned)
    .to_vec();
    let mapping = [
        ImportField::Name,
        ImportField::Language,
        ImportField::Phone,
        ImportField::Email,
        ImportField::ExternalId,
        ImportField::Province,
        ImportField::City,
        ImportField::Region,
        ImportField::Grade,
        ImportField::Tags,
    ]
    .map(|f| Some(Target::Field(f)))
    .to_vec();
    let rows = (first..first + count)
        .map(|n| {
            let english = n % 10 == 7;
            let name = if english {
                ENGLISH[rng.random_range(0..ENGLISH.len())].to_owned()
            } else {
                format!(
                    "{}{}{}",
                    SURNAMES[rng.random_range(0..SURNAMES.len())],
                    GIVEN[rng.random_range(0..GIVEN.len())],
                    GIVEN[rng.random_range(0..GIVEN.len())]
                )
            };
            let (province, city, region) = CITIES[rng.random_range(0..CITIES.len())];
            let email = if rng.random_bool(0.5) {
                format!("c{n}@example.com")
            } else {
                String::new()
            };
            let grade = ["vip", "a", "b", "c", "c", "c"][rng.random_range(0..6)];
            vec![
                name,
                if english { "en" } else { "zh-CN" }.to_owned(),
                phone_of(n),
                email,
                format!("BENCH-{n}"),
                province.to_owned(),
                city.to_owned(),
                region.to_owned(),
                grade.to_owned(),
                TAGS[rng.random_range(0..TAGS.len())].to_owned(),
            ]
        })
        .collect();
    (Table { headers, rows }, mapping)
}

fn csv_of(table: &Table) -> Vec<u8> {
    let mut rows = vec![table.headers.clone()];
    rows.extend(table.rows.iter().cloned());
    kefu_app::import::write_csv(&rows).unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs `requests` requests made by `make` from `concurrency` clients;
/// every answer must be 200 and pass `check`.
pub(crate) async fn measure(
    name: &str,
    requests: usize,
    concurrency: usize,
    make: MakeRequest,
    check: CheckAnswer,
) -> Result<Latency> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let make = make.clone();
        let check = check.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut i = worker;
            while i < requests {
                let t = Instant::now();
                let response = make(i).send().await?;
                let status = response.status();
                let body: serde_json::Value = response.json().await?;
                times.push(t.elapsed());
                if !status.is_success() || !check(i, &body) {
                    bail!("request {i} answered {status}: {body}");
                }
                i += concurrency;
            }
            Ok::<_, anyhow::Error>(times)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = started.elapsed();
    all.sort();
    Ok(Latency {
        operation: name.to_owned(),
        requests: all.len(),
        p50_ms: percentile(&all, 0.50),
        p95_ms: percentile(&all, 0.95),
        p99_ms: percentile(&all, 0.99),
        per_second: all.len() as f64 / elapsed.as_secs_f64(),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let options = Options::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let (location, backend) = match &options.database_url {
        Some(url) => (DatabaseLocation::Postgres(url.clone()), "postgres"),
        None => {
            // A folder of its own: the server is started on it as its data dir.
            let dir = PathBuf::from(format!("target/bench/run-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            (DatabaseLocation::SqliteFile(dir.join("kefu.db")), "sqlite")
        }
    };
    let store = Store::open(&location, &StoreOptions::default()).await?;
    store.migrate().await?;
    let files = std::env::temp_dir().join(format!("kefu-bench-files-{}", std::process::id()));
    let app = App::start(
        store,
        kefu_app::attachments::AttachmentSettings::on_disk(files, 25),
    )
    .await?;
    kefu_app::demo::load(&app, kefu_app::demo::DEFAULT_SEED).await?;
    let admin = Caller {
        agent_id: Some(1),
        ..Caller::system("bench")
    };

    // Load the archive through the import, 50,000 rows a transaction.
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let started = Instant::now();
    let mut loaded = 0;
    while loaded < options.customers {
        let count = (options.customers - loaded).min(50_000);
        let (table, mapping) = generate(loaded, count, &mut rng);
        let report =
            kefu_app::import::import_customers(&app, &admin, &table, &mapping, false).await?;
        if !report.committed {
            bail!(
                "the generated rows were refused: {:?}",
                report.errors.first()
            );
        }
        loaded += count;
        eprintln!("loaded {loaded} customers");
    }
    let load_rate = options.customers as f64 / started.elapsed().as_secs_f64();
    let orders = store_orders(&app, options.orders, &mut rng).await?;
    if orders > 0 {
        eprintln!("loaded {orders} orders");
    }
    let started = Instant::now();
    let tickets = if options.tickets > 0 {
        kefu_app::demo_tickets::load_bulk(
            &app,
            options.tickets,
            kefu_app::demo_tickets::Shape::YEAR,
            options.seed,
        )
        .await?
    } else {
        0
    };
    let ticket_load_rate = tickets as f64 / started.elapsed().as_secs_f64().max(1e-9);
    if tickets > 0 {
        eprintln!("loaded {tickets} tickets");
    }

    if options.standards > 0 {
        let alarms = standards::alarms(&app, &admin, options.standards).await?;
        let routing = standards::routing(&app, &admin, options.standards, 20).await?;
        let report = serde_json::json!({
            "backend": backend,
            "customers": options.customers,
            "tickets": tickets,
            "alarms": alarms,
            "routing": routing,
            "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
            "command": command,
        });
        if let Some(parent) = options.out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&options.out, serde_json::to_vec_pretty(&report)?)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        app.store.close().await;
        remove_unless_kept(&location, options.keep);
        return Ok(());
    }
    let token = kefu_app::auth::create_api_token(
        &app,
        &admin,
        kefu_app::auth::NewTokenInput {
            name: "bench".into(),
            agent_id: Some(1),
            role: Some("admin".into()),
            expires_in_days: Some(1),
        },
    )
    .await?
    .token;
    kefu_app::install_tls();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency.max(64))
        .build()?;
    if options.mail > 0 {
        // The mail measurement reads the app's own state as it goes, so its
        // server runs in this process.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let router = kefu_web::router(
            app.clone(),
            kefu_web::WebOptions {
                public_url: format!("http://{address}"),
            },
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(kefu_web::serve(listener, router, async {
            let _ = stopped.await;
        }));
        let base = format!("http://{address}/api/v1");
        let latency = mail::receive(
            &app,
            &admin,
            &client,
            &base,
            options.mail,
            options.concurrency,
        )
        .await?;
        let report = serde_json::json!({
            "backend": backend,
            "customers": options.customers,
            "mail": latency,
            "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
            "command": command,
        });
        if let Some(parent) = options.out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&options.out, serde_json::to_vec_pretty(&report)?)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        let _ = stop.send(());
        let _ = server.await;
        app.store.close().await;
        remove_unless_kept(&location, options.keep);
        return Ok(());
    }
    let messages = kefu_store::tickets::count_messages(&mut app.store.read().await?.conn()).await?;
    // The loading is done: hand the database to the real server.
    app.store.close().await;
    drop(app);
    let server =
        server::Server::start(&server::binary(options.server.as_deref())?, &location).await?;
    let (rss_start, _) = server.memory_mib();
    eprintln!(
        "kefu serve listens on {} ({rss_start:.0} MiB)",
        server.address
    );
    let base = format!("http://{}/api/v1", server.address);
    let n = options.customers.max(1);
    let spread = move |i: usize| (i.wrapping_mul(2_654_435_761)) % n;
    let get = |path: Arc<dyn Fn(usize) -> String + Send + Sync>| {
        let client = client.clone();
        let token = token.clone();
        let base = base.clone();
        Arc::new(move |i: usize| client.get(format!("{base}{}", path(i))).bearer_auth(&token))
            as MakeRequest
    };
    let any = Arc::new(|_: usize, _: &serde_json::Value| true) as CheckAnswer;
    let mut latencies = Vec::new();
    let reads = !options.only_creation;
    if reads {
        latencies.push(
            measure(
                "customer lookup by phone",
                options.requests,
                options.concurrency,
                get(Arc::new(move |i| {
                    format!(
                        "/customers/lookup?kind=phone&value={}",
                        phone_of(spread(i)).replace('+', "%2B")
                    )
                })),
                Arc::new(move |i, body| body["external_id"] == format!("BENCH-{}", spread(i))),
            )
            .await
            .context("lookup")?,
        );
        latencies.push(
            measure(
                "customer list page (50, newest first)",
                options.requests,
                options.concurrency,
                get(Arc::new(|_| "/customers?limit=50".to_owned())),
                Arc::new(|_, body| body["items"].as_array().is_some_and(|a| a.len() == 50)),
            )
            .await?,
        );
        latencies.push(
            measure(
                "customer list filtered by tag and grade",
                options.requests,
                options.concurrency,
                get(Arc::new(|i| {
                    format!(
                        "/customers?limit=50&grade=vip&tag={}",
                        ["%E5%AE%BD%E5%B8%A6", "IPTV"][i % 2]
                    )
                })),
                any.clone(),
            )
            .await?,
        );
        latencies.push(
            measure(
                "customer 360° view",
                options.requests,
                options.concurrency,
                get(Arc::new(move |i| {
                    format!("/customers/{}/profile", 321 + spread(i))
                })),
                any.clone(),
            )
            .await?,
        );
        latencies.push(
            measure(
                "customer search by partial phone",
                options.requests.min(200),
                options.concurrency,
                get(Arc::new(move |i| {
                    format!("/customers?limit=20&q={:08}", spread(i))
                })),
                any.clone(),
            )
            .await?,
        );
    }
    if tickets > 0 && reads {
        let total = tickets + 1_000;
        let pick = move |i: usize| 1 + (i.wrapping_mul(2_654_435_761)) % total;
        latencies.push(
            measure(
                "ticket queue page (50, open work, newest)",
                options.requests,
                options.concurrency,
                get(Arc::new(|_| "/tickets?view=all&limit=50".to_owned())),
                Arc::new(|_, body| body["items"].as_array().is_some_and(|a| a.len() == 50)),
            )
            .await?,
        );
        latencies.push(
            measure(
                "ticket queue filtered (status, priority, channel)",
                options.requests,
                options.concurrency,
                get(Arc::new(|i| {
                    format!(
                        "/tickets?view=all&limit=50&status=open,pending&priority={}&channel=phone,email",
                        ["p2", "p3", "p4"][i % 3]
                    )
                })),
                any.clone(),
            )
            .await?,
        );
        latencies.push(
            measure(
                "ticket page (ticket, conversation, history)",
                options.requests,
                options.concurrency,
                get(Arc::new(move |i| format!("/tickets/{}", pick(i)))),
                Arc::new(move |i, body| body["id"] == pick(i)),
            )
            .await?,
        );
        for (label, word) in [
            ("search, Chinese word (宽带)", "%E5%AE%BD%E5%B8%A6"),
            (
                "search, Chinese phrase (光猫 红灯)",
                "%E5%85%89%E7%8C%AB%20%E7%BA%A2%E7%81%AF",
            ),
            ("search, English word (modem)", "modem"),
        ] {
            latencies.push(
                measure(
                    label,
                    options.requests.min(500),
                    options.concurrency,
                    get(Arc::new(move |_| format!("/search?limit=20&q={word}"))),
                    any.clone(),
                )
                .await?,
            );
        }
    }
    if tickets > 0 {
        let created: Arc<std::sync::Mutex<Vec<(i64, String)>>> = Arc::default();
        for clients in [8usize, 64] {
            let client = client.clone();
            let token = token.clone();
            let base = base.clone();
            let subject = move |i: usize| format!("压测工单 {clients}-{i} broadband down");
            let make = Arc::new(move |i: usize| {
                client
                    .post(format!("{base}/tickets"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({
                        "subject": subject(i),
                        "description": "客户反映宽带无法上网，光猫红灯。",
                        "type": "fault",
                        "channel": "api",
                        "customer_id": 1 + i % 300,
                    }))
            }) as MakeRequest;
            latencies.push(
                measure(
                    &format!("ticket creation (POST, {clients} clients)"),
                    options.requests,
                    clients,
                    make,
                    {
                        let created = created.clone();
                        Arc::new(move |i, body| {
                            let Some(id) = body["id"].as_i64() else {
                                return false;
                            };
                            if let Ok(mut created) = created.lock() {
                                created.push((id, subject(i)));
                            }
                            true
                        })
                    },
                )
                .await?,
            );
        }
        // Every created ticket reads back as it was sent.
        let created =
            std::mem::take(&mut *created.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
        for (id, subject) in &created {
            let body: serde_json::Value = client
                .get(format!("{base}/tickets/{id}"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            if body["subject"] != subject.as_str() {
                bail!("created ticket {id} reads back as {body}, not {subject}");
            }
        }
        eprintln!("read back all {} created tickets", created.len());
    }

    if tickets > 0 && reads {
        // Recomputing every open ticket's SLA due times: what saving a
        // policy does, measured as the whole PATCH round trip. After the
        // creations, so that they do not run in its aftermath (alarms
        // rescheduled for every open ticket).
        let policies: serde_json::Value = client
            .get(format!("{base}/sla-policies"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let Some(standard) = policies
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|p| p["ticket_types"] == "" && p["grades"] == "" && p["priorities"] == "")
            })
            .cloned()
        else {
            bail!("the demo's catch-all SLA policy is missing: {policies}");
        };
        let id = standard["id"].as_i64().unwrap_or_default();
        let version = standard["version"].as_i64().unwrap_or_default();
        let client = client.clone();
        let token = token.clone();
        let base = base.clone();
        let make = Arc::new(move |i: usize| {
            client
                .patch(format!("{base}/sla-policies/{id}"))
                .bearer_auth(&token)
                .json(&serde_json::json!({
                    "version": version + i as i64,
                    "name": standard["name"],
                    "position": standard["position"],
                    "calendar_id": standard["calendar_id"],
                    "first_response_minutes": standard["first_response_minutes"],
                    "next_response_minutes": standard["next_response_minutes"],
                    "resolution_minutes": 1440 + 60 * (i as i64 % 2 + 1),
                    "warn_percent": standard["warn_percent"],
                }))
        }) as MakeRequest;
        latencies.push(
            measure(
                "SLA policy saved: every open ticket's due times recomputed (PATCH)",
                3,
                1,
                make,
                Arc::new(|_, body| body["id"].as_i64().is_some()),
            )
            .await?,
        );
    }
    // One import through HTTP, timed end to end.
    let (table, _) = generate(options.customers + 1_000_000, options.import_rows, &mut rng);
    let body = csv_of(&table);
    let started = Instant::now();
    let response = client
        .post(format!("{base}/customers/import"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await?;
    let import_rate = options.import_rows as f64 / started.elapsed().as_secs_f64();
    if !status.is_success() || answer["created"] != options.import_rows {
        bail!("the HTTP import answered {status}: {answer}");
    }
    let (rss_end, rss_peak) = server.memory_mib();

    let report = Report {
        backend: backend.to_owned(),
        customers: options.customers,
        orders,
        concurrency: options.concurrency,
        load_rows_per_second: load_rate,
        http_import_rows: options.import_rows,
        http_import_rows_per_second: import_rate,
        tickets,
        messages,
        ticket_load_per_second: ticket_load_rate,
        latencies,
        server_rss_start_mib: rss_start,
        server_rss_peak_mib: rss_peak,
        server_rss_end_mib: rss_end,
        machine: markdown::machine(),
        date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        command,
    };
    if let Some(parent) = options.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&options.out, serde_json::to_vec_pretty(&report)?)?;
    let table = render(&report);
    println!("{table}");
    if let Some(key) = &options.benchmarks {
        markdown::replace_section(&options.benchmarks_file, key, &table)?;
        eprintln!(
            "rewrote section {key} of {}",
            options.benchmarks_file.display()
        );
    }
    // Stopped after the figures are written: a slow shutdown is a finding
    // of its own, and must not lose them.
    let stopped = server.stop().await;
    if options.keep {
        println!("kept {}", location.redacted());
    }
    remove_unless_kept(&location, options.keep);
    stopped
}

/// The run as Markdown: what was loaded, on what machine, by which
/// command, and every figure.
fn render(report: &Report) -> String {
    let mut out = format!(
        "#### {date}, {backend}: {tickets} tickets ({messages} messages), {customers} customers ({orders} orders)\n\n\
         Machine: {machine}. Reads by {concurrency} concurrent clients.\n\n\
         ```sh\n{command}\n```\n\n\
         | operation | p50 ms | p95 ms | p99 ms | req/s |\n|---|---|---|---|---|\n",
        date = report.date,
        backend = if report.backend == "sqlite" {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        tickets = thousands(report.tickets as f64),
        messages = thousands(report.messages as f64),
        customers = thousands(report.customers as f64),
        orders = thousands(report.orders as f64),
        machine = report.machine,
        concurrency = report.concurrency,
        command = report.command,
    );
    for l in &report.latencies {
        out.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {} |\n",
            l.operation,
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            thousands(l.per_second)
        ));
    }
    out.push_str(&format!(
        "\n| load and memory | figure |\n|---|---|\n\
         | customers imported through the use case (50,000-row transactions) | {} rows/s |\n\
         | {} customers imported through `POST /api/v1/customers/import` | {} rows/s |\n",
        thousands(report.load_rows_per_second),
        thousands(report.http_import_rows as f64),
        thousands(report.http_import_rows_per_second)
    ));
    if report.tickets > 0 {
        out.push_str(&format!(
            "| generated tickets stored with their messages (20,000 per transaction) | {} tickets/s |\n",
            thousands(report.ticket_load_per_second)
        ));
    }
    out.push_str(&format!(
        "| server resident memory: started / peak / end | {:.0} / {:.0} / {:.0} MiB |\n",
        report.server_rss_start_mib, report.server_rss_peak_mib, report.server_rss_end_mib
    ));
    out
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Removes the SQLite run folder unless asked to keep it.
fn remove_unless_kept(location: &DatabaseLocation, keep: bool) {
    if let DatabaseLocation::SqliteFile(file) = location
        && !keep
        && let Some(dir) = file.parent()
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Gives every live customer between none and `most` orders over the last
/// year (products, amounts and channels of a telecom shop), a thousand
/// customers to a transaction; returns how many orders.
async fn store_orders(app: &App, most: usize, rng: &mut ChaCha8Rng) -> Result<u64> {
    const PRODUCTS: [(&str, i64); 6] = [
        ("5G畅享套餐 129元", 12_900),
        ("千兆宽带 年付", 119_900),
        ("IPTV 点播包", 3_000),
        ("流量加油包 10GB", 3_000),
        ("Family bundle (broadband + 2 SIMs)", 19_900),
        ("光猫 HG8145V5", 39_900),
    ];
    const CHANNELS: [&str; 4] = ["营业厅", "app", "web", "热线"];
    if most == 0 {
        return Ok(0);
    }
    let roster = kefu_store::customers::roster(&mut app.store.read().await?.conn()).await?;
    let now = chrono::Utc::now();
    let mut stored = 0;
    for people in roster.chunks(1_000) {
        let mut orders = Vec::new();
        for person in people {
            for _ in 0..rng.random_range(0..=most) {
                let (product, price) = PRODUCTS[rng.random_range(0..PRODUCTS.len())];
                orders.push(kefu_store::orders::NewOrder {
                    customer_id: person.id,
                    ordered_at: now - chrono::Duration::minutes(rng.random_range(0..365 * 24 * 60)),
                    amount_minor: price,
                    currency: "CNY".into(),
                    product: product.into(),
                    channel: CHANNELS[rng.random_range(0..CHANNELS.len())].into(),
                    external_id: None,
                });
            }
        }
        let mut tx = app.store.write().await?;
        stored += kefu_store::orders::insert_many(&mut tx.conn(), &orders).await?;
        tx.commit().await?;
    }
    Ok(stored)
}
