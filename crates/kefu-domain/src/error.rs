//! Errors a business rule can raise, free of any I/O type.

/// A broken business rule, carrying what a user needs to correct the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field's value is not acceptable; `field` names it as the API does.
    #[error("{field}: {reason}")]
    Validation {
        /// The field as named in the API (`name`, `members[2].agent_id`).
        field: String,
        /// Why the value was refused, in plain words.
        reason: String,
    },
}

impl DomainError {
    /// Shorthand for a validation error on `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
