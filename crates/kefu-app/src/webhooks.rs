//! Outgoing webhooks: admins point events at a URL; each event becomes a
//! delivery, written in the transaction of the change it reports (so an
//! event is never lost and never sent for a change that rolled back), and
//! sent by the job worker with an HMAC-SHA256 signature, retried with
//! backoff, logged with the answer, and redelivered from the log on demand.
//!
//! A slow or dead receiver never slows ticket work: requests go out from
//! the worker, after the commit, with a time limit.

use crate::audit::record_change;
use crate::{App, AppError, Caller};
use chrono::{DateTime, Utc};
use kefu_domain::Permission;
use kefu_domain::audit::Action;
use kefu_domain::validate;
use kefu_domain::webhook::{self as rules, WebhookEvent};
use kefu_store::Tx;
use kefu_store::jobs::Job;
use kefu_store::webhooks::{self as store, Attempt, Delivery, Webhook, WebhookFields};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The job kind that sends one delivery.
pub const DELIVER: &str = "webhook.deliver";

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Input to add or change a webhook.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// The version read (changes only).
    #[serde(default)]
    pub version: Option<i64>,
    /// A name for people.
    pub name: String,
    /// Where to post: an `http` or `https` URL.
    pub url: String,
    /// Event codes to send: `ticket.created`, `ticket.updated`,
    /// `ticket.message`, `sla.warning`, `sla.breach`.
    #[serde(default)]
    pub events: Vec<String>,
    /// Whether events are sent (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// Make a new signing secret (changes only).
    #[serde(default)]
    pub rotate_secret: bool,
}

/// A webhook as its managers see it, with the signing secret.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WebhookView {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: Webhook,
    /// The secret receivers check signatures with.
    pub secret: String,
}

impl WebhookView {
    fn of(webhook: Webhook) -> WebhookView {
        WebhookView {
            secret: webhook.secret.clone(),
            webhook,
        }
    }
}

fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("whsec_{}", kefu_domain::hex(&bytes))
}

fn checked(input: &WebhookInput) -> Result<WebhookFields, AppError> {
    let name = validate::name("name", &input.name, 80)?;
    let url = rules::check_url(&input.url).map_err(|reason| AppError::invalid("url", reason))?;
    let mut events: Vec<&str> = Vec::new();
    for (index, code) in input.events.iter().enumerate() {
        let event = WebhookEvent::parse_field(&format!("events[{index}]"), code)?;
        if matches!(event, WebhookEvent::Ping | WebhookEvent::Automation) {
            return Err(AppError::invalid(
                format!("events[{index}]"),
                "sent only by the test button or an automation rule",
            ));
        }
        if !events.contains(&event.as_str()) {
            events.push(event.as_str());
        }
    }
    if events.is_empty() {
        return Err(AppError::invalid("events", "choose at least one event"));
    }
    Ok(WebhookFields {
        name,
        url,
        events: events.join(","),
        active: input.active.unwrap_or(true),
    })
}

/// Every webhook.
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<WebhookView>, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut reader = app.store.read().await?;
    Ok(store::all(&mut reader.conn())
        .await?
        .into_iter()
        .map(WebhookView::of)
        .collect())
}

/// One webhook.
pub async fn get(app: &App, caller: &Caller, id: i64) -> Result<WebhookView, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut reader = app.store.read().await?;
    Ok(WebhookView::of(store::get(&mut reader.conn(), id).await?))
}

/// Adds a webhook with a new secret.
pub async fn create(
    app: &App,
    caller: &Caller,
    input: &WebhookInput,
) -> Result<WebhookView, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let fields = checked(input)?;
    let mut tx = app.store.write().await?;
    let webhook = store::insert(&mut tx.conn(), &fields, &new_secret()).await?;
    record_change(
        &mut tx,
        caller,
        "webhook",
        webhook.id,
        Action::Create,
        &(),
        &webhook,
    )
    .await?;
    tx.commit().await?;
    Ok(WebhookView::of(webhook))
}

/// Changes a webhook (optimistic locking), optionally with a new secret.
pub async fn update(
    app: &App,
    caller: &Caller,
    id: i64,
    input: &WebhookInput,
) -> Result<WebhookView, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must be the version you read"))?;
    let fields = checked(input)?;
    let mut tx = app.store.write().await?;
    let before = store::get(&mut tx.conn(), id).await?;
    let secret = input.rotate_secret.then(new_secret);
    let after = store::update(&mut tx.conn(), id, version, &fields, secret.as_deref()).await?;
    record_change(
        &mut tx,
        caller,
        "webhook",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    if input.rotate_secret {
        // The secret itself never enters the log; that it changed does.
        record_change(
            &mut tx,
            caller,
            "webhook",
            id,
            Action::Update,
            &serde_json::json!({}),
            &serde_json::json!({"secret_rotated": true}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(WebhookView::of(after))
}

/// Deletes a webhook and its delivery log.
pub async fn delete(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut tx = app.store.write().await?;
    let before = store::get(&mut tx.conn(), id).await?;
    store::delete(&mut tx.conn(), id).await?;
    record_change(&mut tx, caller, "webhook", id, Action::Delete, &before, &()).await?;
    tx.commit().await?;
    Ok(())
}

/// A webhook's deliveries, newest first, before id `before` (0: newest).
pub async fn deliveries(
    app: &App,
    caller: &Caller,
    id: i64,
    before: i64,
    limit: i64,
) -> Result<Vec<Delivery>, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut reader = app.store.read().await?;
    store::get(&mut reader.conn(), id).await?;
    Ok(store::deliveries(&mut reader.conn(), id, before, limit.clamp(1, 200)).await?)
}

/// Sends a delivery again, whatever became of it.
pub async fn redeliver(app: &App, caller: &Caller, delivery_id: i64) -> Result<Delivery, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut tx = app.store.write().await?;
    let webhook_id = store::delivery(&mut tx.conn(), delivery_id)
        .await?
        .webhook_id;
    store::reset_delivery(&mut tx.conn(), delivery_id).await?;
    queue(&mut tx, delivery_id, Utc::now()).await?;
    record_change(
        &mut tx,
        caller,
        "webhook",
        webhook_id,
        Action::Update,
        &serde_json::json!({}),
        &serde_json::json!({"redelivered": delivery_id}),
    )
    .await?;
    let after = store::delivery(&mut tx.conn(), delivery_id).await?;
    tx.commit().await?;
    Ok(after)
}

/// Sends a `ping` to one webhook, to test it from the settings page.
pub async fn ping(app: &App, caller: &Caller, id: i64) -> Result<Delivery, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut tx = app.store.write().await?;
    let webhook = store::get(&mut tx.conn(), id).await?;
    let body = envelope(
        WebhookEvent::Ping,
        Utc::now(),
        serde_json::json!({"webhook": webhook.name}),
    );
    let delivery =
        store::add_delivery(&mut tx.conn(), id, WebhookEvent::Ping.as_str(), None, &body).await?;
    queue(&mut tx, delivery, Utc::now()).await?;
    let after = store::delivery(&mut tx.conn(), delivery).await?;
    tx.commit().await?;
    Ok(after)
}

fn envelope(event: WebhookEvent, at: DateTime<Utc>, data: serde_json::Value) -> String {
    serde_json::json!({
        "event": event.as_str(),
        "occurred_at": at,
        "data": data,
    })
    .to_string()
}

async fn queue(tx: &mut Tx, delivery_id: i64, at: DateTime<Utc>) -> Result<(), AppError> {
    let payload = serde_json::json!({"delivery_id": delivery_id}).to_string();
    kefu_store::jobs::enqueue(
        &mut tx.conn(),
        DELIVER,
        &payload,
        at,
        i64::from(rules::MAX_ATTEMPTS),
    )
    .await?;
    Ok(())
}

/// The switched-on webhooks, kept between transactions.
struct ActiveWebhooks(Vec<Webhook>);

impl crate::cache::Cached for ActiveWebhooks {
    async fn load(conn: &mut kefu_store::Conn<'_>) -> Result<ActiveWebhooks, AppError> {
        let all = store::all(conn).await?;
        Ok(ActiveWebhooks(
            all.into_iter().filter(|w| w.active).collect(),
        ))
    }
}

/// Records `event` for every webhook that wants it, inside the
/// transaction of the change: one delivery per webhook and ticket, sent
/// after the commit. `items` are (ticket id, data).
pub(crate) async fn emit(
    tx: &mut Tx,
    event: WebhookEvent,
    items: &[(Option<i64>, serde_json::Value)],
) -> Result<(), AppError> {
    if items.is_empty() {
        return Ok(());
    }
    let active = crate::cache::cached::<ActiveWebhooks>(tx).await?;
    let hooks: Vec<&Webhook> = active
        .0
        .iter()
        .filter(|w| w.wants(event.as_str()))
        .collect();
    if hooks.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    for (ticket_id, data) in items {
        let body = envelope(event, now, data.clone());
        for hook in &hooks {
            let delivery =
                store::add_delivery(&mut tx.conn(), hook.id, event.as_str(), *ticket_id, &body)
                    .await?;
            queue(tx, delivery, now).await?;
        }
    }
    Ok(())
}

/// Posts a ticket to one webhook for an automation rule, whatever events
/// it receives otherwise (a switched-off webhook sends nothing).
pub(crate) async fn send_to(
    tx: &mut Tx,
    webhook_id: i64,
    ticket_id: Option<i64>,
    data: serde_json::Value,
) -> Result<(), AppError> {
    let hook = store::get(&mut tx.conn(), webhook_id).await?;
    if !hook.active {
        return Ok(());
    }
    let now = Utc::now();
    let body = envelope(WebhookEvent::Automation, now, data);
    let delivery = store::add_delivery(
        &mut tx.conn(),
        hook.id,
        WebhookEvent::Automation.as_str(),
        ticket_id,
        &body,
    )
    .await?;
    queue(tx, delivery, now).await
}

/// What became of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Try again after this many seconds.
    Retry(String, i64),
    /// Give up.
    Failed(String),
}

/// Sends one delivery (the `webhook.deliver` job) and logs the answer.
pub(crate) async fn deliver(app: &App, job: &Job) -> Result<Outcome, AppError> {
    #[derive(Deserialize)]
    struct Payload {
        delivery_id: i64,
    }
    let Ok(payload) = serde_json::from_str::<Payload>(&job.payload) else {
        return Ok(Outcome::Failed("unreadable job payload".into()));
    };
    let (delivery, webhook) = {
        let mut reader = app.store.read().await?;
        let delivery = match store::delivery(&mut reader.conn(), payload.delivery_id).await {
            Ok(d) => d,
            // The webhook was deleted with its log: nothing to send.
            Err(kefu_store::StoreError::NotFound) => return Ok(Outcome::Done),
            Err(e) => return Err(e.into()),
        };
        let webhook = store::get(&mut reader.conn(), delivery.webhook_id).await?;
        (delivery, webhook)
    };
    if delivery.state == "delivered" {
        return Ok(Outcome::Done);
    }
    if !webhook.active && delivery.event != WebhookEvent::Ping.as_str() {
        return Ok(Outcome::Failed("the webhook is switched off".into()));
    }
    let timestamp = Utc::now().timestamp();
    let started = Instant::now();
    let sent = app
        .http
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("Kefu-Webhook/", env!("CARGO_PKG_VERSION")),
        )
        .header("x-kefu-event", &delivery.event)
        .header("x-kefu-delivery", delivery.id.to_string())
        .header("x-kefu-timestamp", timestamp.to_string())
        .header(
            "x-kefu-signature",
            rules::signature(&webhook.secret, timestamp, delivery.payload.as_bytes()),
        )
        .body(delivery.payload.clone())
        .timeout(TIMEOUT)
        .send()
        .await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, body, error) = match sent {
        Ok(response) => {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let excerpt: String = text.chars().take(1000).collect();
            let error = if status.is_success() {
                String::new()
            } else {
                format!("answered {status}")
            };
            (Some(i64::from(status.as_u16())), excerpt, error)
        }
        Err(e) if e.is_timeout() => (
            None,
            String::new(),
            format!("no answer within {} s", TIMEOUT.as_secs()),
        ),
        Err(e) if e.is_connect() => (None, String::new(), "could not connect".to_owned()),
        Err(e) => (None, String::new(), e.to_string()),
    };
    let attempt_number = u32::try_from(job.attempts).unwrap_or(u32::MAX);
    let outcome = if error.is_empty() {
        Outcome::Done
    } else {
        match rules::retry_delay(attempt_number) {
            Some(delay) if job.attempts < job.max_attempts => Outcome::Retry(error.clone(), delay),
            _ => Outcome::Failed(error.clone()),
        }
    };
    let state = match outcome {
        Outcome::Done => "delivered",
        Outcome::Retry(..) => "pending",
        Outcome::Failed(_) => "failed",
    };
    let mut tx = app.store.write().await?;
    store::record_attempt(
        &mut tx.conn(),
        delivery.id,
        &Attempt {
            state,
            status,
            body,
            error,
            duration_ms,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}
