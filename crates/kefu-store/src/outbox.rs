//! Outgoing mail, kept durably until it is sent (by the email channel's
//! job, through a mailbox's SMTP server) and as the record of what went out.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A queued or sent message.
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
    /// The ticket it is about, if any.
    pub ticket_id: Option<i64>,
    /// The mailbox it goes out from (the default sending one when none).
    pub mailbox_id: Option<i64>,
    /// Copies, comma-separated addresses.
    pub cc_addresses: String,
    /// The `Message-ID` it answers, if any.
    pub in_reply_to: String,
    /// The thread's ids, space-separated.
    pub references_ids: String,
    /// Its own `Message-ID` (set when queued, so a bounce finds it).
    pub message_id: String,
    /// Sent by Kefu itself (an acknowledgement): marked `Auto-Submitted`.
    pub automatic: bool,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    /// Why the last try failed.
    pub last_error: String,
    /// The ticket message whose files go with it (an agent's reply).
    pub ticket_message_id: Option<i64>,
}

/// A message to queue.
#[derive(Debug, Clone, Default)]
pub struct NewOutgoing<'a> {
    /// Recipient.
    pub to: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Text.
    pub body: &'a str,
    /// Ticket.
    pub ticket_id: Option<i64>,
    /// Mailbox.
    pub mailbox_id: Option<i64>,
    /// Copies, comma-separated.
    pub cc: &'a str,
    /// Answered id.
    pub in_reply_to: &'a str,
    /// Thread ids, space-separated.
    pub references: &'a str,
    /// Own id.
    pub message_id: &'a str,
    /// Automatic.
    pub automatic: bool,
    /// The ticket message whose files go with it (an agent's reply).
    pub ticket_message_id: Option<i64>,
}

const COLUMNS: &str = "id, to_address, subject, body_text, created_at, sent_at, ticket_id, mailbox_id, \
     cc_addresses, in_reply_to, references_ids, message_id, automatic, state, last_error, ticket_message_id";

/// Queues a plain message (a notification); answers its id.
pub async fn push(
    conn: &mut Conn<'_>,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<i64, StoreError> {
    push_mail(
        conn,
        &NewOutgoing {
            to,
            subject,
            body,
            ..NewOutgoing::default()
        },
    )
    .await
}

/// Queues a message with its threading; answers its id.
pub async fn push_mail(conn: &mut Conn<'_>, m: &NewOutgoing<'_>) -> Result<i64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_scalar(
            "INSERT INTO outbox (to_address, subject, body_text, created_at, ticket_id, mailbox_id, cc_addresses, \
             in_reply_to, references_ids, message_id, automatic, ticket_message_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        )
        .bind(m.to)
        .bind(m.subject)
        .bind(m.body)
        .bind(now)
        .bind(m.ticket_id)
        .bind(m.mailbox_id)
        .bind(m.cc)
        .bind(m.in_reply_to)
        .bind(m.references)
        .bind(m.message_id)
        .bind(m.automatic)
        .bind(m.ticket_message_id)
        .fetch_one(c)
        .await?)
    })
}

/// One message.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<OutboxMessage, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE id = $1");
    let row: Option<OutboxMessage> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// Sets a queued message's own `Message-ID`.
pub async fn set_message_id(
    conn: &mut Conn<'_>,
    id: i64,
    message_id: &str,
) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE outbox SET message_id = $1 WHERE id = $2")
            .bind(message_id)
            .bind(id)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Records that a message went out.
pub async fn mark_sent(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $1, last_error = '' WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Records a failed try; `last` when no try follows.
pub async fn mark_failed(
    conn: &mut Conn<'_>,
    id: i64,
    error: &str,
    last: bool,
) -> Result<(), StoreError> {
    let state = if last { "failed" } else { "pending" };
    on_conn!(conn, |c| {
        sqlx::query("UPDATE outbox SET state = $1, last_error = $2 WHERE id = $3")
            .bind(state)
            .bind(error)
            .bind(id)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// The newest messages to an address, newest first.
pub async fn to_address(
    conn: &mut Conn<'_>,
    to: &str,
    limit: i64,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM outbox WHERE to_address = $1 ORDER BY id DESC LIMIT $2");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(to)
        .bind(limit)
        .fetch_all(c)
        .await?))
}

/// A ticket's outgoing mail, oldest first.
pub async fn for_ticket(
    conn: &mut Conn<'_>,
    ticket_id: i64,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM outbox WHERE ticket_id = $1 ORDER BY id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .fetch_all(c)
        .await?))
}
