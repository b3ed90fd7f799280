//! Request extractors whose failures use the standard error body.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use kefu_app::Caller;
use serde::de::DeserializeOwned;

/// The authenticated caller, as established by [`crate::access::enforce`]
/// for the route. A handler on a public route that asks for one is a bug,
/// answered with a 500 and logged.
pub struct ApiCaller(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .map(ApiCaller)
            .ok_or_else(|| {
                kefu_app::AppError::Internal(format!(
                    "route {} has no access rule that signs the caller in",
                    parts.uri.path()
                ))
                .into()
            })
    }
}

/// The largest JSON body accepted.
pub const JSON_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A JSON body; a malformed body is a 400, a body of the wrong shape a 422
/// naming the field at fault.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ));
        }
        let _ = state;
        // JSON bodies have their own bound, also on routes that accept large uploads.
        let bytes = axum::body::to_bytes(request.into_body(), JSON_BODY_LIMIT)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if too_large {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
                } else {
                    ApiError::new(StatusCode::BAD_REQUEST, "bad_request")
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes` as `T`, with field-naming errors.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_json")
                .arg("detail", inner.to_string());
        }
        let message = inner.to_string();
        let path = error.path().to_string();
        // For an unknown field the path already ends with its name; for a
        // missing one it names the parent object.
        let field = match missing_field(&message) {
            Some(name) if path == "." => name,
            Some(name) => format!("{path}.{name}"),
            None => path,
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .keyed("invalid_field")
            .with_field(field)
            .arg("detail", message)
    })
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// Query-string parameters; a bad one is a 422 naming it.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                let text = e.body_text();
                let detail = text.split(": ").skip(1).collect::<Vec<_>>().join(": ");
                let field = detail
                    .split(':')
                    .next()
                    .unwrap_or("query")
                    .trim()
                    .to_owned();
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                    .keyed("invalid_query")
                    .with_field(field)
                    .arg("detail", detail)
            })
    }
}

/// A numeric id in the path; anything else is simply not found.
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|p| PathId(p.0))
            .map_err(|_| ApiError::not_found())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        #[serde(default)]
        count: Option<u8>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let cases = [
            (r#"{"name": 5}"#, 422, Some("name")),
            (r#"{"name": "a", "colour": "red"}"#, 422, Some("colour")),
            (r#"{}"#, 422, Some("name")),
            (r#"{"name": "a", "count": 999}"#, 422, Some("count")),
            (r#"{"name": "#, 400, None),
            (r#"not json"#, 400, None),
        ];
        for (body, status, field) in cases {
            match parse_json::<Input>(body.as_bytes()) {
                Ok(_) => panic!("{body} accepted"),
                Err(e) => {
                    assert_eq!(
                        e.status.as_u16(),
                        status,
                        "{body}: {}",
                        e.message(crate::i18n::Locale::En)
                    );
                    assert_eq!(
                        e.field.as_deref(),
                        field,
                        "{body}: {}",
                        e.message(crate::i18n::Locale::En)
                    );
                }
            }
        }
    }
}
