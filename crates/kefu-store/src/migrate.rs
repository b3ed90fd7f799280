//! Schema migrations, kept in lockstep for both backends: the same version
//! ids in `migrations/sqlite` and `migrations/postgres`.

use crate::{Inner, Store, StoreError};
use sqlx::migrate::Migrator;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which migrations a database has, against what this binary carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest migration applied, or `None` for an empty database.
    pub applied: Option<i64>,
    /// The newest migration this binary carries.
    pub latest: i64,
}

impl SchemaStatus {
    /// Whether the database is exactly at this binary's version.
    pub fn is_current(&self) -> bool {
        self.applied == Some(self.latest)
    }
}

fn latest(migrator: &Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The newest SQLite migration this binary carries.
pub(crate) fn latest_sqlite() -> i64 {
    latest(&SQLITE)
}

/// The migration version ids of each backend, for the lockstep test.
pub fn migration_versions() -> (Vec<i64>, Vec<i64>) {
    (
        SQLITE.iter().map(|m| m.version).collect(),
        POSTGRES.iter().map(|m| m.version).collect(),
    )
}

impl Store {
    /// Reads which migrations are applied, without changing anything.
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let applied = match &*self.inner {
            Inner::Sqlite { reader, .. } => {
                let exists: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(reader)
                .await?;
                if exists == 0 {
                    None
                } else {
                    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                        .fetch_one(reader)
                        .await?
                }
            }
            Inner::Postgres { pool, .. } => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                if exists {
                    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                        .fetch_one(pool)
                        .await?
                } else {
                    None
                }
            }
        };
        let latest = match &*self.inner {
            Inner::Sqlite { .. } => latest(&SQLITE),
            Inner::Postgres { .. } => latest(&POSTGRES),
        };
        Ok(SchemaStatus { applied, latest })
    }

    /// Applies the migrations this database lacks. Refuses, changing
    /// nothing, when the database is newer than this binary.
    pub async fn migrate(&self) -> Result<SchemaStatus, StoreError> {
        let before = self.schema_status().await?;
        if let Some(applied) = before.applied
            && applied > before.latest
        {
            return Err(StoreError::SchemaTooNew {
                database: applied,
                binary: before.latest,
            });
        }
        let result = match &*self.inner {
            Inner::Sqlite { writer, .. } => SQLITE.run(writer).await,
            // Several instances may start at once; sqlx takes an advisory
            // lock on PostgreSQL so only one applies each migration.
            Inner::Postgres { pool, .. } => POSTGRES.run(pool).await,
        };
        result.map_err(|e| StoreError::Other(format!("migration failed: {e}")))?;
        crate::customers::fill_sort_and_sound_keys(self).await?;
        self.schema_status().await
    }
}
