//! The one mapping from failures to HTTP status codes and JSON bodies:
//! `{"error": {"code", "message", "field"}}`. Internal details are logged,
//! never sent.

use crate::i18n::Locale;
use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kefu_app::AppError;

/// An API error: a status, a stable code, a sentence from the catalogue,
/// maybe a field.
///
/// The sentence is written when the answer is made, in the language the
/// request asks for (`Accept-Language`, English when it names none we
/// offer): the catalogue's `api_errors.<key>` with this error's arguments.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// The catalogue entry of the sentence (`api_errors.<key>`); the code
    /// unless one code has several sentences.
    pub key: &'static str,
    /// Values for the sentence's `{name}` placeholders. A `reason` is the
    /// domain's English and is translated on the way out.
    pub args: Vec<(&'static str, String)>,
    /// The input field at fault, as named in the API.
    pub field: Option<String>,
    /// For conflicts: the version now stored.
    pub current_version: Option<i64>,
}

impl ApiError {
    /// An error with no field, its sentence under its code.
    pub fn new(status: StatusCode, code: &'static str) -> Self {
        ApiError {
            status,
            code,
            key: code,
            args: Vec::new(),
            field: None,
            current_version: None,
        }
    }

    /// The same error with the sentence under another catalogue key.
    pub fn keyed(mut self, key: &'static str) -> Self {
        self.key = key;
        self
    }

    /// The same error with a value for the sentence's `{name}`.
    pub fn arg(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    /// The same error, naming a field (also the sentence's `{field}`).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.args.push(("field", field.clone()));
        self.field = Some(field);
        self
    }

    /// 404 in the standard shape.
    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found")
    }

    /// The sentence for people, in `locale`.
    pub fn message(&self, locale: Locale) -> String {
        let mut text = locale.t(&format!("api_errors.{}", self.key)).to_owned();
        for (name, value) in &self.args {
            let value = if *name == "reason" {
                locale.reason(value)
            } else {
                value.clone()
            };
            text = text.replace(&format!("{{{name}}}"), &value);
        }
        text
    }
}

tokio::task_local! {
    /// The language error sentences of the request being answered are in.
    static ANSWER_LOCALE: Locale;
}

/// Middleware: error answers of this request speak the language its
/// `Accept-Language` header asks for; English when it asks for none we
/// offer, since API clients are programs that rarely say.
pub async fn answer_in_requested_language(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let locale = Locale::from_headers(request.headers()).unwrap_or(Locale::En);
    ANSWER_LOCALE.scope(locale, next.run(request)).await
}

/// The language of the request being answered.
pub fn answer_locale() -> Locale {
    ANSWER_LOCALE.try_with(|l| *l).unwrap_or(Locale::En)
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Validation { field, reason } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                    .with_field(field)
                    .arg("reason", reason)
            }
            AppError::TooLarge { field, limit_mb } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large")
                    .with_field(field)
                    .arg("limit", limit_mb.to_string())
            }
            AppError::RateLimited => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AppError::NotFound => ApiError::not_found(),
            AppError::Conflict { current_version } => ApiError {
                current_version: Some(current_version),
                ..ApiError::new(StatusCode::CONFLICT, "conflict")
                    .arg("version", current_version.to_string())
            },
            AppError::Duplicate { field } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "duplicate").with_field(field)
            }
            AppError::Unauthenticated => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "forbidden"),
            AppError::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

/// The body of every error answer.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, in [`ErrorBody`].
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`validation_failed`, `conflict`, …).
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The input field at fault, as named in the API.
    pub field: Option<String>,
    /// For conflicts (409): the version now stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

impl ApiError {
    /// The status and body of this error, the message in the language of
    /// the request; for answers that carry more beside the error.
    pub fn into_body(self) -> (StatusCode, ErrorBody) {
        let message = self.message(answer_locale());
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message,
                field: self.field,
                current_version: self.current_version,
            },
        };
        (self.status, body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.into_body();
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"kefu\""),
            );
        }
        response
    }
}

/// Answer for paths no route matches: JSON under `/api`, a page elsewhere.
pub async fn fallback(request: axum::extract::Request) -> Response {
    crate::metrics::count_unmatched();
    if request.uri().path().starts_with("/api/") || request.uri().path() == "/api" {
        return ApiError::not_found().into_response();
    }
    let locale =
        crate::i18n::Locale::from_headers(request.headers()).unwrap_or(crate::i18n::Locale::ZhCn);
    let context = crate::ui::PageContext {
        locale,
        csrf: String::new(),
        path: request.uri().path().to_owned(),
        signed_in: None,
    };
    crate::ui::message(&context, StatusCode::NOT_FOUND, "not_found")
}

/// Answer for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
}

/// A panic in a handler becomes a 500 in the standard shape; the panic
/// message goes to the log only.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    tracing::error!(%detail, "handler panicked");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::catalogue;

    /// Every sentence an error can name, found by scanning the sources for
    /// the constructor's code and for re-keyed sentences.
    #[test]
    fn every_error_sentence_is_in_both_catalogues() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        collect(&root, &mut files);
        let mut keys = std::collections::BTreeSet::from(["not_found".to_owned()]);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for marker in ["ApiError::new(", ".keyed("] {
                for (index, _) in text.match_indices(marker) {
                    let rest = &text[index + marker.len()..];
                    let Some(open) = rest.find('"') else { continue };
                    let rest = &rest[open + 1..];
                    let Some(close) = rest.find('"') else {
                        continue;
                    };
                    let key = &rest[..close];
                    if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                        keys.insert(key.to_owned());
                    }
                }
            }
        }
        assert!(keys.len() > 15, "{keys:?}");
        for key in &keys {
            for locale in Locale::ALL {
                assert!(
                    catalogue(locale).contains_key(&format!("api_errors.{key}")),
                    "api_errors.{key} missing in {}",
                    locale.code()
                );
            }
        }
    }

    fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn a_validation_error_speaks_the_requested_language_and_keeps_its_values() {
        let error = ApiError::from(AppError::invalid(
            "subject",
            "must be at most 200 characters",
        ));
        assert_eq!(
            error.message(Locale::En),
            "subject must be at most 200 characters"
        );
        let chinese = error.message(Locale::ZhCn);
        assert!(chinese.starts_with("subject："), "{chinese}");
        assert!(chinese.contains("200"), "{chinese}");
        assert!(!chinese.contains("must be"), "{chinese}");
    }

    #[test]
    fn a_conflict_names_the_stored_version_in_both_languages() {
        let error = ApiError::from(AppError::Conflict { current_version: 7 });
        assert!(error.message(Locale::En).contains("version 7"));
        assert!(error.message(Locale::ZhCn).contains("版本为 7"));
    }

    #[tokio::test]
    async fn outside_a_request_answers_are_english() {
        assert_eq!(answer_locale(), Locale::En);
        let inside = ANSWER_LOCALE
            .scope(Locale::ZhCn, async { answer_locale() })
            .await;
        assert_eq!(inside, Locale::ZhCn);
    }
}
