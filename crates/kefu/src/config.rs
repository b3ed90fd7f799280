//! Configuration, layered: built-in defaults, then a TOML file (`--config`
//! or `KEFU_CONFIG`), then `KEFU_*` environment variables (`__` for
//! nesting), then command-line flags. Unknown keys and unknown `KEFU_*`
//! variables are errors, so a typo never silently does nothing.

use anyhow::{Context, bail};
use kefu_app::attachments::AttachmentSettings;
use kefu_store::DatabaseLocation;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Log output style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The effective settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where the embedded database and other local files live.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (or `sqlite:` URL); unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Log style.
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `kefu=debug,info`.
    pub log_level: String,
    /// The address people reach Kefu at (links in mail; https makes cookies
    /// Secure). Unset: `http://` and the listen address.
    pub public_url: Option<String>,
    /// Database tuning.
    pub database: DatabaseSettings,
    /// Attached files.
    pub attachments: AttachmentConfig,
}

/// Where attached files' bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentStore {
    /// Files below `attachments.dir`, named by their SHA-256.
    Disk,
    /// In the database.
    Database,
}

/// `[attachments]` settings.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentConfig {
    /// `disk` or `database`; unset: disk with SQLite, database with
    /// PostgreSQL (whose instances may not share a disk).
    pub store: Option<AttachmentStore>,
    /// The directory for `disk`; unset: `attachments` in the data dir.
    pub dir: Option<PathBuf>,
    /// The largest file accepted, in MB.
    pub max_mb: u64,
}

/// `[database]` settings.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseSettings {
    /// Pool size.
    pub max_connections: u32,
    /// SQLite lock wait, milliseconds.
    pub busy_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./kefu-data"),
            database_url: None,
            log_format: LogFormat::Human,
            log_level: "info".into(),
            public_url: None,
            database: DatabaseSettings {
                max_connections: 8,
                busy_timeout_ms: 5000,
            },
            attachments: AttachmentConfig {
                store: None,
                dir: None,
                max_mb: 25,
            },
        }
    }
}

/// The file's shape: every key optional, no others allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    public_url: Option<String>,
    database: Option<FileDatabase>,
    attachments: Option<FileAttachments>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAttachments {
    store: Option<AttachmentStore>,
    dir: Option<PathBuf>,
    max_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    max_connections: Option<u32>,
    busy_timeout_ms: Option<u64>,
}

/// Values given as command-line flags (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct FlagSettings {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    pub database_url: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--log-level`.
    pub log_level: Option<String>,
}

/// Environment variables Kefu reads; any other `KEFU_*` is an error.
pub const KNOWN_ENV: [&str; 12] = [
    "KEFU_CONFIG",
    "KEFU_PUBLIC_URL",
    "KEFU_LISTEN",
    "KEFU_DATA_DIR",
    "KEFU_DATABASE_URL",
    "KEFU_LOG_FORMAT",
    "KEFU_LOG_LEVEL",
    "KEFU_DATABASE__MAX_CONNECTIONS",
    "KEFU_DATABASE__BUSY_TIMEOUT_MS",
    "KEFU_ATTACHMENTS__STORE",
    "KEFU_ATTACHMENTS__DIR",
    "KEFU_ATTACHMENTS__MAX_MB",
];

/// Prefix of variables that belong to Kefu's own test harness, not to the
/// server, and are therefore not checked here.
const TEST_ENV_PREFIX: &str = "KEFU_TEST_";

impl Settings {
    /// Builds the settings from all layers. `env` is the process
    /// environment (passed in so tests can supply their own).
    pub fn load(
        config_file: Option<&Path>,
        env: &[(String, String)],
        flags: &FlagSettings,
    ) -> anyhow::Result<Settings> {
        let mut settings = Settings::default();
        let env_value = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());

        for (name, _) in env {
            if name.starts_with("KEFU_")
                && !name.starts_with(TEST_ENV_PREFIX)
                && !KNOWN_ENV.contains(&name.as_str())
            {
                bail!(
                    "unknown environment variable {name}; Kefu reads only {}",
                    KNOWN_ENV.join(", ")
                );
            }
        }

        let file = config_file
            .map(Path::to_path_buf)
            .or_else(|| env_value("KEFU_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!("cannot read the configuration file {}", path.display())
            })?;
            let parsed: FileSettings = toml::from_str(&text)
                .map_err(|e| {
                    anyhow::anyhow!(
                        "configuration file {}: {}",
                        path.display(),
                        e.message().trim()
                    )
                })
                .with_context(|| {
                    format!("the configuration file {} is not valid", path.display())
                })?;
            if let Some(listen) = parsed.listen {
                settings.listen = parse_listen(&listen, &format!("listen in {}", path.display()))?;
            }
            if let Some(dir) = parsed.data_dir {
                settings.data_dir = dir;
            }
            if parsed.database_url.is_some() {
                settings.database_url = parsed.database_url;
            }
            if let Some(format) = parsed.log_format {
                settings.log_format = format;
            }
            if let Some(level) = parsed.log_level {
                settings.log_level = level;
            }
            if parsed.public_url.is_some() {
                settings.public_url = parsed.public_url;
            }
            if let Some(db) = parsed.database {
                if let Some(n) = db.max_connections {
                    settings.database.max_connections = n;
                }
                if let Some(ms) = db.busy_timeout_ms {
                    settings.database.busy_timeout_ms = ms;
                }
            }
            if let Some(a) = parsed.attachments {
                if a.store.is_some() {
                    settings.attachments.store = a.store;
                }
                if a.dir.is_some() {
                    settings.attachments.dir = a.dir;
                }
                if let Some(mb) = a.max_mb {
                    settings.attachments.max_mb = mb;
                }
            }
        }

        if let Some(v) = env_value("KEFU_LISTEN") {
            settings.listen = parse_listen(&v, "KEFU_LISTEN")?;
        }
        if let Some(v) = env_value("KEFU_DATA_DIR") {
            settings.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env_value("KEFU_DATABASE_URL") {
            settings.database_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env_value("KEFU_LOG_FORMAT") {
            settings.log_format = match v.as_str() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                _ => bail!("KEFU_LOG_FORMAT must be human or json, not {v:?}"),
            };
        }
        if let Some(v) = env_value("KEFU_LOG_LEVEL") {
            settings.log_level = v;
        }
        if let Some(v) = env_value("KEFU_PUBLIC_URL") {
            settings.public_url = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = env_value("KEFU_DATABASE__MAX_CONNECTIONS") {
            settings.database.max_connections = v.parse().with_context(|| {
                format!("KEFU_DATABASE__MAX_CONNECTIONS must be a whole number, not {v:?}")
            })?;
        }
        if let Some(v) = env_value("KEFU_DATABASE__BUSY_TIMEOUT_MS") {
            settings.database.busy_timeout_ms = v.parse().with_context(|| {
                format!("KEFU_DATABASE__BUSY_TIMEOUT_MS must be a whole number, not {v:?}")
            })?;
        }
        if let Some(v) = env_value("KEFU_ATTACHMENTS__STORE") {
            settings.attachments.store = Some(match v.as_str() {
                "disk" => AttachmentStore::Disk,
                "database" => AttachmentStore::Database,
                _ => bail!("KEFU_ATTACHMENTS__STORE must be disk or database, not {v:?}"),
            });
        }
        if let Some(v) = env_value("KEFU_ATTACHMENTS__DIR") {
            settings.attachments.dir = Some(PathBuf::from(v)).filter(|d| !d.as_os_str().is_empty());
        }
        if let Some(v) = env_value("KEFU_ATTACHMENTS__MAX_MB") {
            settings.attachments.max_mb = v.parse().with_context(|| {
                format!("KEFU_ATTACHMENTS__MAX_MB must be a whole number, not {v:?}")
            })?;
        }

        if let Some(v) = &flags.listen {
            settings.listen = parse_listen(v, "--listen")?;
        }
        if let Some(v) = &flags.data_dir {
            settings.data_dir = v.clone();
        }
        if let Some(v) = &flags.database_url {
            settings.database_url = Some(v.clone());
        }
        if let Some(v) = flags.log_format {
            settings.log_format = v;
        }
        if let Some(v) = &flags.log_level {
            settings.log_level = v.clone();
        }

        if !(1..=1000).contains(&settings.database.max_connections) {
            bail!("database.max_connections must be between 1 and 1000");
        }
        if !(1..=4096).contains(&settings.attachments.max_mb) {
            bail!("attachments.max_mb must be between 1 and 4096");
        }
        if let Some(url) = &settings.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("public_url must start with http:// or https://, not {url:?}");
        }
        settings.database_location()?;
        Ok(settings)
    }

    /// The public address: the configured one, or `http://` + the listen address.
    pub fn effective_public_url(&self, bound: std::net::SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }

    /// Where the database is: the URL if set, else `kefu.db` in the data dir.
    pub fn database_location(&self) -> anyhow::Result<DatabaseLocation> {
        match &self.database_url {
            Some(url) => Ok(DatabaseLocation::parse(url)?),
            None => Ok(DatabaseLocation::SqliteFile(self.data_dir.join("kefu.db"))),
        }
    }

    /// Where attached files go: the configured store, else on disk for
    /// SQLite and in the database for PostgreSQL.
    pub fn attachment_settings(&self) -> anyhow::Result<AttachmentSettings> {
        let store = match self.attachments.store {
            Some(store) => store,
            None if matches!(self.database_location()?, DatabaseLocation::Postgres(_)) => {
                AttachmentStore::Database
            }
            None => AttachmentStore::Disk,
        };
        let max_mb = self.attachments.max_mb;
        Ok(match store {
            AttachmentStore::Disk => {
                let dir = self
                    .attachments
                    .dir
                    .clone()
                    .unwrap_or_else(|| self.data_dir.join("attachments"));
                AttachmentSettings::on_disk(dir, max_mb)
            }
            AttachmentStore::Database => {
                AttachmentSettings::in_database(self.data_dir.join("tmp"), max_mb)
            }
        })
    }

    /// The settings as TOML, with secrets replaced by `***`.
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database_url = self.database_url.as_deref().map(kefu_store::redact_url);
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

fn parse_listen(value: &str, source: &str) -> anyhow::Result<SocketAddr> {
    value.parse().with_context(|| {
        format!("{source} must be an address and port such as 127.0.0.1:8080, not {value:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_without_anything() -> anyhow::Result<()> {
        let s = Settings::load(None, &[], &FlagSettings::default())?;
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            s.database_location()?,
            DatabaseLocation::SqliteFile(PathBuf::from("./kefu-data/kefu.db"))
        );
        Ok(())
    }

    #[test]
    fn flags_beat_env_beat_file() -> anyhow::Result<()> {
        let mut file = tempfile::NamedTempFile::new()?;
        writeln!(
            file,
            "listen = \"127.0.0.1:9001\"\nlog_level = \"debug\"\n[database]\nmax_connections = 3"
        )?;
        let from_file = Settings::load(Some(file.path()), &[], &FlagSettings::default())?;
        assert_eq!(from_file.listen.port(), 9001);
        assert_eq!(from_file.database.max_connections, 3);

        let vars = env(&[
            ("KEFU_LISTEN", "127.0.0.1:9002"),
            ("KEFU_DATABASE__MAX_CONNECTIONS", "4"),
        ]);
        let from_env = Settings::load(Some(file.path()), &vars, &FlagSettings::default())?;
        assert_eq!(from_env.listen.port(), 9002);
        assert_eq!(from_env.database.max_connections, 4);
        assert_eq!(from_env.log_level, "debug");

        let flags = FlagSettings {
            listen: Some("127.0.0.1:9003".into()),
            ..Default::default()
        };
        let from_flags = Settings::load(Some(file.path()), &vars, &flags)?;
        assert_eq!(from_flags.listen.port(), 9003);
        Ok(())
    }

    #[test]
    fn unknown_keys_are_errors() -> anyhow::Result<()> {
        let mut file = tempfile::NamedTempFile::new()?;
        writeln!(file, "listen = \"127.0.0.1:9001\"\nlisten_port = 3")?;
        let error = Settings::load(Some(file.path()), &[], &FlagSettings::default())
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(error.contains("listen_port"), "{error}");

        let error = Settings::load(None, &env(&[("KEFU_LISTN", "x")]), &FlagSettings::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("KEFU_LISTN"), "{error}");

        assert!(
            Settings::load(
                None,
                &env(&[("KEFU_TEST_DATABASE_URL", "x")]),
                &FlagSettings::default()
            )
            .is_ok()
        );
        Ok(())
    }

    #[test]
    fn bad_values_name_their_source() {
        let error = Settings::load(
            None,
            &env(&[("KEFU_LISTEN", "nowhere")]),
            &FlagSettings::default(),
        )
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
        assert!(error.contains("KEFU_LISTEN"), "{error}");
        let error = Settings::load(
            None,
            &env(&[("KEFU_DATABASE_URL", "mysql://x")]),
            &FlagSettings::default(),
        )
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
        assert!(error.contains("postgres://"), "{error}");
    }

    #[test]
    fn redacts_the_database_password() -> anyhow::Result<()> {
        let flags = FlagSettings {
            database_url: Some("postgres://kefu:hunter2@db/kefu".into()),
            ..Default::default()
        };
        let s = Settings::load(None, &[], &flags)?;
        let shown = s.to_redacted_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://kefu:***@db/kefu"), "{shown}");
        Ok(())
    }
}
