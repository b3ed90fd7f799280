//! The few ways a store call can fail, free of driver types.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("not found")]
    NotFound,
    /// Someone else changed the record since it was read.
    #[error("the record was changed by someone else (now at version {current_version})")]
    Conflict {
        /// The version now stored.
        current_version: i64,
    },
    /// A unique field already holds this value.
    #[error("{field} is already taken")]
    Duplicate {
        /// The field, as named in the API.
        field: String,
    },
    /// A referenced record (`lead_agent_id`, …) does not exist.
    #[error("a referenced record does not exist")]
    MissingReference,
    /// The database cannot be reached or opened; the text says why.
    #[error("{0}")]
    Unavailable(String),
    /// The request to the store itself was wrong (bad URL, bad path).
    #[error("{0}")]
    Invalid(String),
    /// The database schema is newer than this binary knows.
    #[error(
        "the database schema is at version {database}, newer than this kefu binary knows (up to {binary}); run a newer kefu, or restore a backup made by this version"
    )]
    SchemaTooNew {
        /// The newest migration applied to the database.
        database: i64,
        /// The newest migration this binary carries.
        binary: i64,
    },
    /// Anything else the database said; logged, never shown to clients.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// Names `field` as the one in use when this is a unique violation, for
    /// tables whose unique key is computed (a category's path, say).
    pub fn on_unique(self, field: &str) -> StoreError {
        match self {
            StoreError::Duplicate { .. } => StoreError::Duplicate {
                field: field.to_owned(),
            },
            other => other,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate {
                field: unique_field(db.constraint(), db.table(), db.message()),
            },
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::MissingReference
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(error.to_string())
            }
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// The API field behind a unique violation. PostgreSQL names the index
/// (`teams_name_uq`); SQLite names the column (`UNIQUE constraint failed:
/// teams.name`). Our unique indexes are all named `<table>_<field>_uq`.
fn unique_field(constraint: Option<&str>, table: Option<&str>, message: &str) -> String {
    if let Some(index) = constraint {
        let stem = index.strip_suffix("_uq").unwrap_or(index);
        let field = table
            .and_then(|t| stem.strip_prefix(t))
            .and_then(|rest| rest.strip_prefix('_'))
            .unwrap_or(stem);
        return field.to_owned();
    }
    message
        .rsplit(": ")
        .next()
        .and_then(|cols| cols.split(", ").next())
        .and_then(|col| col.split_once('.'))
        .map(|(_, field)| field.to_owned())
        .unwrap_or_else(|| "value".to_owned())
}

#[cfg(test)]
mod tests {
    use super::unique_field;

    #[test]
    fn unique_field_from_either_backend() {
        assert_eq!(
            unique_field(Some("teams_name_uq"), Some("teams"), ""),
            "name"
        );
        assert_eq!(
            unique_field(Some("api_tokens_token_hash_uq"), Some("api_tokens"), ""),
            "token_hash"
        );
        assert_eq!(
            unique_field(None, None, "UNIQUE constraint failed: agents.email"),
            "email"
        );
    }
}
