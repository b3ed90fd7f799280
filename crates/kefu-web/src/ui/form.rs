//! Form state for pages: the values a person typed and the error of each
//! field, so a refused form comes back filled in with errors beside fields.

use crate::i18n::Locale;
use kefu_app::AppError;
use std::collections::HashMap;

/// Values and per-field errors of one form.
#[derive(Debug, Clone, Default)]
pub struct FormState {
    values: HashMap<String, String>,
    errors: HashMap<String, String>,
}

impl FormState {
    /// A form pre-filled with `values`.
    pub fn with_values(values: &[(&str, &str)]) -> FormState {
        FormState {
            values: values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            errors: HashMap::new(),
        }
    }

    /// A form echoing what was submitted (passwords are never echoed).
    pub fn from_submitted(fields: &HashMap<String, String>) -> FormState {
        FormState {
            values: fields
                .iter()
                .filter(|(k, _)| !k.contains("password") && k.as_str() != "csrf")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            errors: HashMap::new(),
        }
    }

    /// Sets a field's value.
    pub fn set_value(&mut self, field: &str, value: &str) {
        self.values.insert(field.to_owned(), value.to_owned());
    }

    /// The value of a field, or empty.
    pub fn value(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// The error of a field, if any.
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field).map(String::as_str)
    }

    /// Whether any field has an error.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// Marks `field` with an error message.
    pub fn set_error(&mut self, field: &str, message: String) {
        self.errors.insert(field.to_owned(), message);
    }

    /// Puts a use case's refusal next to its field, translated. Returns the
    /// error back when it is not about a field (for the caller to handle).
    pub fn absorb(&mut self, locale: Locale, error: AppError) -> Result<(), AppError> {
        match error {
            AppError::Validation { field, reason } => {
                let message = locale.reason(&reason);
                self.set_error(&field, message);
                Ok(())
            }
            AppError::TooLarge { field, limit_mb } => {
                let limit = limit_mb.to_string();
                self.set_error(
                    &field,
                    locale.tf("reasons.file_too_large", &[("n", &limit)]),
                );
                Ok(())
            }
            AppError::Duplicate { field } => {
                self.set_error(&field, locale.t("reasons.in_use").to_owned());
                Ok(())
            }
            AppError::Conflict { .. } => {
                self.set_error("version", locale.t("errors.conflict").to_owned());
                Ok(())
            }
            other => Err(other),
        }
    }
}
