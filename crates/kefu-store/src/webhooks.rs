//! Outgoing webhooks and their delivery log.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Name (unique).
    pub name: String,
    /// Where events are posted.
    pub url: String,
    /// The signing secret; shown only to those who manage integrations.
    #[serde(skip)]
    #[schemars(skip)]
    pub secret: String,
    /// Event codes it receives, comma-separated.
    pub events: String,
    /// Whether events are sent.
    pub active: bool,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    /// Whether it receives `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.active && self.events.split(',').any(|e| e == event)
    }
}

/// A webhook's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFields {
    /// Name.
    pub name: String,
    /// URL.
    pub url: String,
    /// Event codes, comma-separated.
    pub events: String,
    /// Active.
    pub active: bool,
}

const COLUMNS: &str = "id, name, url, secret, events, active, version, created_at, updated_at";

/// Adds a webhook with its secret; `Duplicate("name")` when the name is taken.
pub async fn insert(
    conn: &mut Conn<'_>,
    f: &WebhookFields,
    secret: &str,
) -> Result<Webhook, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO webhooks (name, url, secret, events, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING {COLUMNS}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(&f.url)
        .bind(secret)
        .bind(&f.events)
        .bind(f.active)
        .bind(now)
        .fetch_one(c)
        .await?))
}

/// Saves a webhook if it is still at `expected_version`; a new secret
/// replaces the old one when given.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &WebhookFields,
    new_secret: Option<&str>,
) -> Result<Webhook, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE webhooks SET name = $1, url = $2, events = $3, active = $4, secret = COALESCE($5, secret), \
         version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8 RETURNING {COLUMNS}"
    );
    let row: Option<Webhook> = on_conn!(&mut *conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(&f.url)
        .bind(&f.events)
        .bind(f.active)
        .bind(new_secret)
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .fetch_optional(c)
        .await?);
    match row {
        Some(w) => Ok(w),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// One webhook.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Webhook, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1");
    let row: Option<Webhook> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// Every webhook, by name.
pub async fn all(conn: &mut Conn<'_>) -> Result<Vec<Webhook>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks ORDER BY name, id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}

/// Deletes a webhook and its delivery log.
pub async fn delete(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let deleted = on_conn!(conn, |c| sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// One event for one webhook, and how sending it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Delivery {
    /// Id (also sent as `X-Kefu-Delivery`, for receivers to drop repeats).
    pub id: i64,
    /// The webhook.
    pub webhook_id: i64,
    /// Event code.
    pub event: String,
    /// The ticket it is about, if any.
    pub ticket_id: Option<i64>,
    /// The JSON body sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last answer's HTTP status.
    pub response_status: Option<i64>,
    /// The start of the last answer's body.
    pub response_body: String,
    /// Why the last attempt failed (timeout, refused, status).
    pub error: String,
    /// How long the last attempt took.
    pub duration_ms: Option<i64>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Last tried.
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// Answered with 2xx.
    pub delivered_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event, ticket_id, payload, state, attempts, response_status, \
     response_body, error, duration_ms, created_at, last_attempt_at, delivered_at";

/// Records a delivery to make; answers its id.
pub async fn add_delivery(
    conn: &mut Conn<'_>,
    webhook_id: i64,
    event: &str,
    ticket_id: Option<i64>,
    payload: &str,
) -> Result<i64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (webhook_id, event, ticket_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id"
    )
    .bind(webhook_id)
    .bind(event)
    .bind(ticket_id)
    .bind(payload)
    .bind(now)
    .fetch_one(c)
    .await?))
}

/// One delivery.
pub async fn delivery(conn: &mut Conn<'_>, id: i64) -> Result<Delivery, StoreError> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = $1");
    let row: Option<Delivery> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// A webhook's deliveries, newest first, before id `before` (0: from the newest).
pub async fn deliveries(
    conn: &mut Conn<'_>,
    webhook_id: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 = 0 OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(webhook_id)
        .bind(before)
        .bind(limit)
        .fetch_all(c)
        .await?))
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `pending` (will retry), `delivered` or `failed` (no more tries).
    pub state: &'static str,
    /// HTTP status, if an answer came.
    pub status: Option<i64>,
    /// The start of the answer's body.
    pub body: String,
    /// Why it failed, empty when delivered.
    pub error: String,
    /// How long it took.
    pub duration_ms: i64,
}

/// Records an attempt on a delivery.
pub async fn record_attempt(
    conn: &mut Conn<'_>,
    id: i64,
    attempt: &Attempt,
) -> Result<(), StoreError> {
    let now = crate::now();
    let delivered = (attempt.state == "delivered").then_some(now);
    on_conn!(conn, |c| sqlx::query(
        "UPDATE webhook_deliveries SET state = $1, attempts = attempts + 1, response_status = $2, \
         response_body = $3, error = $4, duration_ms = $5, last_attempt_at = $6, \
         delivered_at = COALESCE($7, delivered_at) WHERE id = $8"
    )
    .bind(attempt.state)
    .bind(attempt.status)
    .bind(&attempt.body)
    .bind(&attempt.error)
    .bind(attempt.duration_ms)
    .bind(now)
    .bind(delivered)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Marks a delivery to be sent again (redelivery from the log).
pub async fn reset_delivery(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    on_conn!(conn, |c| sqlx::query(
        "UPDATE webhook_deliveries SET state = 'pending', error = '' WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}
