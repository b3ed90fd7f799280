//! Outgoing mail, kept durably until the email channel sends it.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A queued message.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OutboxMessage {
    /// Internal id.
    pub id: i64,
    /// Recipient address.
    pub to_address: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body_text: String,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// Sent at, once sent.
    pub sent_at: Option<DateTime<Utc>>,
}

/// Queues a message.
pub async fn push(
    conn: &mut Conn<'_>,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<i64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_scalar(
        "INSERT INTO outbox (to_address, subject, body_text, created_at) VALUES ($1, $2, $3, $4) RETURNING id"
    )
    .bind(to)
    .bind(subject)
    .bind(body)
    .bind(now)
    .fetch_one(c)
    .await?)
    })
}

/// The newest messages to an address, newest first.
pub async fn to_address(
    conn: &mut Conn<'_>,
    to: &str,
    limit: i64,
) -> Result<Vec<OutboxMessage>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT id, to_address, subject, body_text, created_at, sent_at FROM outbox WHERE to_address = $1 ORDER BY id DESC LIMIT $2"
    )
    .bind(to)
    .bind(limit)
    .fetch_all(c)
    .await?)
    })
}
