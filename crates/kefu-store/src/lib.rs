//! The only place with SQL.
//!
//! Kefu runs on embedded SQLite (one machine) or PostgreSQL (several
//! instances). This crate hides which: a [`Store`] hands out read
//! connections and write transactions, and the repository modules run the
//! same SQL text on either backend (SQLite accepts `$1` placeholders). The
//! database driver's error types never leave this crate; callers see
//! [`StoreError`]. Business rules do not live here.

pub mod agents;
pub mod attachments;
pub mod audit;
pub mod automations;
pub mod calendars;
pub mod company;
pub mod custom_fields;
pub mod customers;
mod error;
mod filter;
pub mod instance;
pub mod jobs;
mod location;
pub mod macros;
pub mod mail;
mod migrate;
pub mod orders;
pub mod organizations;
pub mod outbox;
pub mod portal;
pub mod resets;
pub mod routing;
pub mod sessions;
pub mod sla;
pub mod teams;
pub mod throttle;
pub mod tickets;
pub mod tokens;
pub mod totp;
pub mod uploads;
pub mod webhooks;

pub use error::StoreError;
pub use location::{DatabaseLocation, redact_url};
pub use migrate::{SchemaStatus, migration_versions};

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// How to open the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool (readers on SQLite; all on PostgreSQL).
    pub max_connections: u32,
    /// How long a SQLite writer waits for another process's lock.
    pub busy_timeout: Duration,
    /// Create the SQLite file when it does not exist (`serve`, `migrate`).
    pub create_if_missing: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            create_if_missing: true,
        }
    }
}

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The name shown in logs and `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Pool usage figures, for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    /// Connections open.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The configured maximum.
    pub max: u32,
}

/// A handle on the database; cheap to clone, shared by all requests.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    cache: Arc<ConfigCache>,
}

/// Configuration the hot paths read on every write, kept in memory
/// between transactions: each value under the configuration stamp it was
/// read at ([`Tx::config_stamp`]), so a change anywhere (this process,
/// another instance, the command line) is seen by the next read of the
/// stamp.
#[derive(Default)]
struct ConfigCache(std::sync::Mutex<HashMap<TypeId, Kept>>);

/// A kept value and the stamp it was read under.
type Kept = (i64, Arc<dyn Any + Send + Sync>);

enum Inner {
    Sqlite {
        /// SQLite allows one writer at a time; one connection serialises
        /// writes inside the process, so they queue instead of failing busy.
        writer: SqlitePool,
        reader: SqlitePool,
        path: PathBuf,
        max: u32,
    },
    Postgres {
        pool: PgPool,
        max: u32,
        /// For connections outside the pool (the notification listener).
        connect: Box<PgConnectOptions>,
    },
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish()
    }
}

impl Store {
    /// Opens the database at `location`. Fails with a sentence an operator
    /// can act on when the file is corrupt, unreadable or the server is down.
    pub async fn open(
        location: &DatabaseLocation,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let inner = match location {
            DatabaseLocation::SqliteFile(path) => open_sqlite(path, options).await?,
            DatabaseLocation::Postgres(url) => open_postgres(url, options).await?,
        };
        Ok(Store {
            inner: Arc::new(inner),
            cache: Arc::default(),
        })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        match &*self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The SQLite file, when the store is SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &*self.inner {
            Inner::Sqlite { path, .. } => Some(path),
            Inner::Postgres { .. } => None,
        }
    }

    /// A connection for reading, outside any transaction.
    pub async fn read(&self) -> Result<Reader, StoreError> {
        Ok(Reader(match &*self.inner {
            Inner::Sqlite { reader, .. } => ReaderInner::Sqlite(reader.acquire().await?),
            Inner::Postgres { pool, .. } => ReaderInner::Postgres(pool.acquire().await?),
        }))
    }

    /// A write transaction. Commit it with [`Tx::commit`]; dropping it
    /// rolls everything back, so nothing is half-saved.
    pub async fn write(&self) -> Result<Tx, StoreError> {
        let inner = match &*self.inner {
            // IMMEDIATE takes the write lock up front, so a transaction never
            // fails half-way when another process (the CLI) writes too.
            Inner::Sqlite { writer, .. } => {
                TxInner::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?)
            }
            Inner::Postgres { pool, .. } => TxInner::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            inner,
            cache: self.cache.clone(),
            pinned: None,
        })
    }

    /// Pool usage now.
    pub fn pool_stats(&self) -> PoolStats {
        match &*self.inner {
            Inner::Sqlite {
                writer,
                reader,
                max,
                ..
            } => PoolStats {
                size: reader.size() + writer.size(),
                idle: (reader.num_idle() + writer.num_idle()) as u32,
                max: max + 1,
            },
            Inner::Postgres { pool, max, .. } => PoolStats {
                size: pool.size(),
                idle: pool.num_idle() as u32,
                max: *max,
            },
        }
    }

    /// Tells every Kefu instance listening on `channel` (PostgreSQL
    /// `NOTIFY`, so several servers on one database hear each other);
    /// on SQLite there is only this process, and nothing is sent.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if let Inner::Postgres { pool, .. } = &*self.inner {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Listens on `channel` for [`Store::notify`] messages from every
    /// instance; `None` on SQLite, where there is only this process.
    pub async fn listen(&self, channel: &str) -> Result<Option<Listener>, StoreError> {
        match &*self.inner {
            Inner::Postgres { connect, .. } => {
                // Its own one-connection pool: a listener holds its
                // connection for ever and must not starve the requests.
                let own = PgPoolOptions::new()
                    .max_connections(1)
                    .max_lifetime(None)
                    .idle_timeout(None)
                    .connect_with((**connect).clone())
                    .await?;
                let mut listener = sqlx::postgres::PgListener::connect_with(&own).await?;
                listener.listen(channel).await?;
                Ok(Some(Listener(listener)))
            }
            Inner::Sqlite { .. } => Ok(None),
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut reader = self.read().await?;
        on_conn!(&mut reader.conn(), |c| {
            sqlx::query("SELECT 1").execute(c).await?;
        });
        Ok(())
    }

    /// Finishes in-flight statements and closes every connection; on SQLite
    /// this also checkpoints the write-ahead log into the main file.
    pub async fn close(&self) {
        match &*self.inner {
            Inner::Sqlite { writer, reader, .. } => {
                reader.close().await;
                writer.close().await;
            }
            Inner::Postgres { pool, .. } => pool.close().await,
        }
    }

    /// Writes a consistent copy of a SQLite database to `target` while it is
    /// in use (`VACUUM INTO`). Refuses to overwrite an existing file.
    pub async fn backup_sqlite_to(&self, target: &Path) -> Result<(), StoreError> {
        if target.exists() {
            return Err(StoreError::Invalid(format!(
                "{} already exists; choose a new file name so no backup is overwritten",
                target.display()
            )));
        }
        // VACUUM INTO writes the target file, which the query-only readers
        // may not; on the source it only reads, so other writers go on.
        let Inner::Sqlite { writer, .. } = &*self.inner else {
            return Err(StoreError::Invalid(
                "online backup is for SQLite; use pg_dump for PostgreSQL".into(),
            ));
        };
        let target_text = target.to_str().ok_or_else(|| {
            StoreError::Invalid(format!("{} is not a UTF-8 path", target.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target_text)
            .execute(writer)
            .await?;
        Ok(())
    }
}

/// Reads the schema status of a SQLite file without changing it (opened
/// read-only, integrity checked): used to vet backups before restoring.
pub async fn inspect_sqlite_file(path: &Path) -> Result<SchemaStatus, StoreError> {
    use sqlx::ConnectOptions;
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| sqlite_open_error(path, e))?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| sqlite_open_error(path, e))?;
    if check != "ok" {
        return Err(StoreError::Unavailable(format!(
            "{} fails SQLite's integrity check: {check}",
            path.display()
        )));
    }
    let has_migrations: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(&mut conn)
    .await?;
    let applied = if has_migrations == 0 {
        None
    } else {
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await?
    };
    Ok(SchemaStatus {
        applied,
        latest: migrate::latest_sqlite(),
    })
}

async fn open_sqlite(path: &Path, options: &StoreOptions) -> Result<Inner, StoreError> {
    let base = SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout)
        .synchronous(SqliteSynchronous::Full);
    if !options.create_if_missing && !path.exists() {
        return Err(StoreError::Unavailable(format!(
            "there is no database at {}",
            path.display()
        )));
    }
    // A connection to a local file cannot go stale: skip the ping before
    // each use, a round trip to the connection's thread on every request.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(false)
        .connect_with(
            base.clone()
                .create_if_missing(options.create_if_missing)
                .journal_mode(SqliteJournalMode::Wal)
                // A 64 MiB page cache for the one writer: large imports touch
                // every index of a table, and the 2 MiB default thrashes.
                .pragma("cache_size", "-65536")
                // Statement journals (a multi-row insert's undo) stay in
                // memory instead of a temporary file written page by page.
                .pragma("temp_store", "MEMORY"),
        )
        .await
        .map_err(|e| sqlite_open_error(path, e))?;
    let reader = SqlitePoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .test_before_acquire(false)
        .connect_with(
            base.pragma("query_only", "ON")
                .pragma("cache_size", "-16384"),
        )
        .await
        .map_err(|e| sqlite_open_error(path, e))?;
    // Reading the schema proves the file is a database, not just openable.
    sqlx::query("SELECT count(*) FROM sqlite_master")
        .execute(&reader)
        .await
        .map_err(|e| sqlite_open_error(path, e))?;
    Ok(Inner::Sqlite {
        writer,
        reader,
        path: path.to_owned(),
        max: options.max_connections.max(1),
    })
}

fn sqlite_open_error(path: &Path, error: sqlx::Error) -> StoreError {
    let detail = error.to_string();
    let shown = path.display();
    let sentence = if detail.contains("not a database") || detail.contains("malformed") {
        format!(
            "{shown} is not a readable Kefu database (the file is corrupt or of another kind); restore it from a backup with `kefu restore`, or point --data-dir at another directory"
        )
    } else if detail.contains("unable to open")
        || detail.contains("readonly")
        || detail.contains("permission")
    {
        format!(
            "cannot open {shown}: the file or its directory is not readable and writable by this user ({detail})"
        )
    } else {
        format!("cannot open the SQLite database {shown}: {detail}")
    };
    StoreError::Unavailable(sentence)
}

async fn open_postgres(url: &str, options: &StoreOptions) -> Result<Inner, StoreError> {
    let connect = PgConnectOptions::from_str(url).map_err(|e| {
        StoreError::Invalid(format!("the PostgreSQL URL is not valid ({e}); expected postgres://user:password@host:5432/database"))
    })?;
    let target = format!(
        "{}:{}/{}",
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or("(default)")
    );
    let connect_options = connect.clone();
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(connect)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {target}: {e}; check that the server runs and the URL, user and database are right"
            ))
        })?;
    Ok(Inner::Postgres {
        pool,
        max: options.max_connections.max(1),
        connect: Box::new(connect_options),
    })
}

/// A borrowed database connection of either backend, inside or outside a
/// transaction. Repository functions take `&mut Conn`.
pub enum Conn<'c> {
    /// SQLite.
    Sqlite(&'c mut SqliteConnection),
    /// PostgreSQL.
    Postgres(&'c mut PgConnection),
}

/// Runs the same query code on whichever backend `conn` is; `c` is bound to
/// the typed connection in each arm.
#[macro_export]
#[doc(hidden)]
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Sqlite(inner) => {
                let $c = &mut **inner;
                $body
            }
            $crate::Conn::Postgres(inner) => {
                let $c = &mut **inner;
                $body
            }
        }
    };
}

/// Messages other instances sent with [`Store::notify`].
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// The next message's payload; reconnects after a lost connection
    /// (messages sent meanwhile are missed).
    pub async fn recv(&mut self) -> Result<String, StoreError> {
        Ok(self.0.recv().await?.payload().to_owned())
    }
}

/// A pooled connection for reads.
pub struct Reader(ReaderInner);

enum ReaderInner {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Reader {
    /// The connection, for repository functions.
    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.0 {
            ReaderInner::Sqlite(c) => Conn::Sqlite(c),
            ReaderInner::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// A write transaction; rolled back unless committed.
pub struct Tx {
    inner: TxInner,
    cache: Arc<ConfigCache>,
    /// The configuration stamp read once for the whole transaction
    /// ([`Tx::pin_config_stamp`]).
    pinned: Option<i64>,
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// The connection, for repository functions.
    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.inner {
            TxInner::Sqlite(t) => Conn::Sqlite(t),
            TxInner::Postgres(t) => Conn::Postgres(t),
        }
    }

    /// The configuration stamp as this transaction sees it: it changes,
    /// by trigger, in every transaction that changes SLA policies,
    /// calendars, automation rules or webhooks, and never takes a value
    /// twice.
    pub async fn config_stamp(&mut self) -> Result<i64, StoreError> {
        if let Some(stamp) = self.pinned {
            return Ok(stamp);
        }
        self.read_config_stamp().await
    }

    /// Reads the configuration stamp once for the rest of the
    /// transaction, for writers that never change configuration (group
    /// commits of new tickets and received mail): every later
    /// [`Tx::config_stamp`] answers it without a read. Test builds check
    /// at commit, on SQLite (where nobody else can change it meanwhile),
    /// that the transaction did not change configuration after all.
    pub async fn pin_config_stamp(&mut self) -> Result<i64, StoreError> {
        let stamp = self.read_config_stamp().await?;
        self.pinned = Some(stamp);
        Ok(stamp)
    }

    async fn read_config_stamp(&mut self) -> Result<i64, StoreError> {
        let mut conn = self.conn();
        on_conn!(&mut conn, |c| Ok(sqlx::query_scalar(
            "SELECT stamp FROM config_stamp WHERE id = 1"
        )
        .fetch_one(c)
        .await?))
    }

    /// The value of type `T` kept under `stamp`, if one is.
    pub fn cached<T: Any + Send + Sync>(&self, stamp: i64) -> Option<Arc<T>> {
        let kept = self.cache.0.lock().ok()?;
        let (at, value) = kept.get(&TypeId::of::<T>())?;
        if *at != stamp {
            return None;
        }
        value.clone().downcast::<T>().ok()
    }

    /// Keeps `value`, read under `stamp`, for the transactions after.
    pub fn keep<T: Any + Send + Sync>(&self, stamp: i64, value: Arc<T>) {
        if let Ok(mut kept) = self.cache.0.lock() {
            kept.insert(TypeId::of::<T>(), (stamp, value));
        }
    }

    /// Opens a savepoint: the changes made after it can be undone alone
    /// with [`Tx::undo_to_savepoint`], keeping the ones before. One
    /// transaction can then carry several independent pieces of work
    /// (a group commit) where a failing piece leaves no trace.
    pub async fn savepoint(&mut self) -> Result<(), StoreError> {
        self.run("SAVEPOINT kefu_piece").await
    }

    /// Keeps the changes made since [`Tx::savepoint`] as part of the
    /// transaction.
    pub async fn keep_savepoint(&mut self) -> Result<(), StoreError> {
        self.run("RELEASE SAVEPOINT kefu_piece").await
    }

    /// Undoes every change made since [`Tx::savepoint`]; the
    /// transaction goes on with the changes made before it.
    pub async fn undo_to_savepoint(&mut self) -> Result<(), StoreError> {
        self.run("ROLLBACK TO SAVEPOINT kefu_piece; RELEASE SAVEPOINT kefu_piece")
            .await
    }

    /// [`Tx::keep_savepoint`] and a new [`Tx::savepoint`] in one round
    /// trip, between two pieces of work.
    pub async fn next_savepoint(&mut self) -> Result<(), StoreError> {
        self.run("RELEASE SAVEPOINT kefu_piece; SAVEPOINT kefu_piece")
            .await
    }

    async fn run(&mut self, statement: &'static str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        on_conn!(&mut conn, |c| {
            sqlx::raw_sql(statement).execute(c).await?;
        });
        Ok(())
    }

    /// Makes every change in the transaction durable; on success the data
    /// survives a crash (SQLite `synchronous=FULL`, PostgreSQL defaults).
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if cfg!(debug_assertions)
            && let Some(pinned) = self.pinned
            && matches!(self.inner, TxInner::Sqlite(_))
            && self.read_config_stamp().await? != pinned
        {
            return Err(StoreError::Invalid(
                "a transaction that pinned the configuration stamp changed configuration".into(),
            ));
        }
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Tables whose rows have a name people read, for [`names_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// Agents' display names.
    Agents,
    /// Team names.
    Teams,
    /// Customer names.
    Customers,
    /// Organization names.
    Organizations,
    /// Ticket categories' paths.
    TicketCategories,
}

impl Named {
    fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            Named::Agents => ("agents", "display_name"),
            Named::Teams => ("teams", "name"),
            Named::Customers => ("customers", "name"),
            Named::Organizations => ("organizations", "name"),
            Named::TicketCategories => ("ticket_categories", "path"),
        }
    }
}

/// The names of the rows with these ids, as (id, name), in one query; ids
/// that do not exist are left out. List pages use it so a page of rows
/// costs one query per kind of name, not one per row.
pub async fn names_of(
    conn: &mut Conn<'_>,
    named: Named,
    ids: &[i64],
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (table, column) = named.table_and_column();
    let sql = format!(
        "SELECT id, {column} FROM {table} WHERE id IN ({})",
        customers::placeholders(1, ids.len())
    );
    on_conn!(conn, |c| {
        let mut query = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(c).await?)
    })
}

/// A statement for `conn`'s backend. On SQLite, `$1, $2, …` appearing once
/// each and in order become anonymous `?`: the driver looks up every named
/// parameter by walking SQLite's list of names, which costs time squared in
/// their number, and a multi-row insert binds a thousand. Anything else is
/// left as written.
pub(crate) fn for_backend(conn: &Conn<'_>, sql: String) -> String {
    match conn {
        Conn::Sqlite(_) => anonymous_parameters_or_same(sql),
        Conn::Postgres(_) => sql,
    }
}

/// [`for_backend`] for a statement known to run on SQLite.
pub(crate) fn anonymous_parameters_or_same(sql: String) -> String {
    anonymous_parameters(&sql).unwrap_or(sql)
}

fn anonymous_parameters(sql: &str) -> Option<String> {
    let mut out = String::with_capacity(sql.len());
    let mut expected = 1usize;
    let mut chars = sql.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let start = at + 1;
        let mut end = start;
        while let Some((i, d)) = chars.peek().copied() {
            if !d.is_ascii_digit() {
                break;
            }
            end = i + 1;
            chars.next();
        }
        if end == start {
            out.push('$');
            continue;
        }
        if sql[start..end].parse::<usize>().ok()? != expected {
            return None;
        }
        expected += 1;
        out.push('?');
    }
    Some(out)
}

/// Current time as stored: UTC, truncated to microseconds so a value read
/// back equals the value written on both backends.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    let now = chrono::Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::anonymous_parameters;

    #[test]
    fn numbered_parameters_in_order_become_anonymous() {
        assert_eq!(
            anonymous_parameters("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)").as_deref(),
            Some("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)")
        );
        assert_eq!(
            anonymous_parameters("SELECT '价格 $' || $1").as_deref(),
            Some("SELECT '价格 $' || ?")
        );
        assert_eq!(
            anonymous_parameters("SELECT 1").as_deref(),
            Some("SELECT 1")
        );
    }

    #[test]
    fn repeated_or_reordered_parameters_are_left_alone() {
        assert_eq!(anonymous_parameters("VALUES ($1, $2), ($3, $1)"), None);
        assert_eq!(anonymous_parameters("VALUES ($2, $1)"), None);
        assert_eq!(anonymous_parameters("VALUES ($1, $10)"), None);
    }
}
