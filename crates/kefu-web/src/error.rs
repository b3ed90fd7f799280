//! The one mapping from failures to HTTP status codes and JSON bodies:
//! `{"error": {"code", "message", "field"}}`. Internal details are logged,
//! never sent.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use kefu_app::AppError;

/// An API error: a status, a stable code, a sentence, maybe a field.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The input field at fault, as named in the API.
    pub field: Option<String>,
    /// For conflicts: the version now stored.
    pub current_version: Option<i64>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            current_version: None,
        }
    }

    /// The same error, naming a field.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 404 in the standard shape.
    pub fn not_found() -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Validation { field, reason } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("{field} {reason}"),
            )
            .with_field(field),
            AppError::TooLarge { field, limit_mb } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("{field} is larger than the limit of {limit_mb} MB"),
            )
            .with_field(field),
            AppError::RateLimited => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; wait a few minutes and try again",
            ),
            AppError::NotFound => ApiError::not_found(),
            AppError::Conflict { current_version } => ApiError {
                current_version: Some(current_version),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!(
                        "someone else changed this record; it is now at version {current_version}. Reload it, reapply your change and save again"
                    ),
                )
            },
            AppError::Duplicate { field } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "duplicate",
                format!("{field} is already in use"),
            )
            .with_field(field),
            AppError::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign-in required: send a valid API token (Authorization: Bearer …) or email and password (HTTP Basic)",
            ),
            AppError::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your role does not allow this",
            ),
            AppError::Unavailable(detail) => {
                tracing::error!(%detail, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is not reachable; try again shortly",
                )
            }
            AppError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on our side; it has been logged",
                )
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
                current_version: self.current_version,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
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
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept that method",
    )
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
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "something went wrong on our side; it has been logged",
    )
    .into_response()
}
