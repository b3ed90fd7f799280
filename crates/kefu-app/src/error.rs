//! What a use case can answer besides success.

use kefu_domain::DomainError;
use kefu_store::StoreError;

/// A use-case failure; the web crate maps each variant to a status once.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    /// The input is wrong; `field` names the field as the API does.
    #[error("{field}: {reason}")]
    Validation {
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An uploaded file is over the installation's size limit.
    #[error("{field}: is larger than the limit of {limit_mb} MB")]
    TooLarge {
        /// Field name.
        field: String,
        /// The limit, in MB.
        limit_mb: u64,
    },
    /// Too many submissions from one address in a short time.
    #[error("too many requests; wait a few minutes and try again")]
    RateLimited,
    /// No such record, or the caller may not know it exists.
    #[error("not found")]
    NotFound,
    /// The record changed since the caller read it.
    #[error("the record was changed by someone else; reload it (now at version {current_version})")]
    Conflict {
        /// Version now stored.
        current_version: i64,
    },
    /// A unique value is already used.
    #[error("{field} is already in use")]
    Duplicate {
        /// Field name.
        field: String,
    },
    /// No valid credentials were presented.
    #[error("sign-in required: the credentials are missing, wrong, expired or revoked")]
    Unauthenticated,
    /// The caller's role does not allow this.
    #[error("your role does not allow this")]
    Forbidden,
    /// The database is unreachable.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or unexpected failure; logged in full, shown to nobody.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// Shorthand for a validation error.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AppError::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => AppError::NotFound,
            StoreError::Conflict { current_version } => AppError::Conflict { current_version },
            StoreError::Duplicate { field } => AppError::Duplicate { field },
            StoreError::MissingReference => {
                AppError::Internal("a referenced record vanished during the change".into())
            }
            StoreError::Unavailable(text) => AppError::Unavailable(text),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation { field, reason } => AppError::Validation { field, reason },
        }
    }
}
