//! The email channel: the raw-message endpoint (`/api/v1/mail/inbound`,
//! authenticated by a mailbox's token), mailboxes, the quarantine, and a
//! ticket's mail with its raw sources.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kefu_app::AppError;
use kefu_app::mail::{self, MailboxInput, MailboxWithToken, Receipt};
use kefu_store::mail::{MailMessage, Mailbox, Quarantined};

/// The largest raw message the endpoint takes, in bytes.
pub const INBOUND_LIMIT: usize = kefu_mail::parse::MAX_MESSAGE_BYTES;

/// Receives one raw RFC 5322 message for the mailbox whose token is the
/// bearer token.
pub async fn inbound(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Receipt>, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(AppError::Unauthenticated)?;
    if body.is_empty() {
        return Err(
            AppError::invalid("body", "must be a raw email message (message/rfc822)").into(),
        );
    }
    Ok(Json(
        mail::receive_with_token(&state.app, token, &body).await?,
    ))
}

/// Every mailbox.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<Mailbox>>, ApiError> {
    Ok(Json(mail::mailboxes(&state.app, &caller).await?))
}

/// One mailbox.
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Mailbox>, ApiError> {
    Ok(Json(mail::mailbox(&state.app, &caller, id).await?))
}

/// Adds a mailbox; the answer carries its token, shown once.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<MailboxInput>,
) -> Result<(StatusCode, Json<MailboxWithToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(mail::create_mailbox(&state.app, &caller, input).await?),
    ))
}

/// Changes a mailbox.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<MailboxInput>,
) -> Result<Json<Mailbox>, ApiError> {
    Ok(Json(
        mail::update_mailbox(&state.app, &caller, id, input).await?,
    ))
}

/// Gives a mailbox a new token.
pub async fn renew_token(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<MailboxWithToken>, ApiError> {
    Ok(Json(mail::renew_token(&state.app, &caller, id).await?))
}

/// Deletes a mailbox.
pub async fn remove(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    mail::delete_mailbox(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The quarantine.
pub async fn quarantine(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<Quarantined>>, ApiError> {
    Ok(Json(mail::quarantine(&state.app, &caller).await?))
}

/// A raw message as a download, never shown inline.
pub(crate) fn eml(raw: Vec<u8>, name: &str) -> Response {
    let mut response = raw.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A held-back message's raw source.
pub async fn quarantined_source(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let raw = mail::quarantined_source(&state.app, &caller, id).await?;
    Ok(eml(raw, &format!("quarantine-{id}.eml")))
}

/// Takes a held-back message in again.
pub async fn retry(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Receipt>, ApiError> {
    Ok(Json(
        mail::retry_quarantined(&state.app, &caller, id).await?,
    ))
}

/// Deletes a held-back message.
pub async fn discard(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    mail::discard_quarantined(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A ticket's mail, oldest first.
pub async fn ticket_mail(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Vec<MailMessage>>, ApiError> {
    Ok(Json(mail::ticket_mail(&state.app, &caller, id).await?))
}

/// One message's raw source, as received.
pub async fn source(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    let (_, raw) = mail::message_source(&state.app, &caller, id).await?;
    Ok(eml(raw, &format!("message-{id}.eml")))
}

/// Tries a mailbox's servers.
pub async fn test(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<mail::ConnectionTest>, ApiError> {
    Ok(Json(mail::test_connection(&state.app, &caller, id).await?))
}

/// Reads a mailbox's IMAP server now.
pub async fn check(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<kefu_app::imap::PassReport>, ApiError> {
    Ok(Json(mail::check_now(&state.app, &caller, id).await?))
}
