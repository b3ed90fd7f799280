//! SLA policies and the SLA columns of tickets: the policy a ticket fell
//! under, its due times, and the clocks they are computed from.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored SLA policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Policy {
    /// Id.
    pub id: i64,
    /// Name (unique).
    pub name: String,
    /// Order of evaluation, lowest first.
    pub position: i64,
    /// Applied to new and changed tickets.
    pub active: bool,
    /// The business calendar targets count on.
    pub calendar_id: i64,
    /// Ticket types it applies to, comma-separated (empty: any).
    pub ticket_types: String,
    /// Priorities, comma-separated (empty: any).
    pub priorities: String,
    /// Customer grades, comma-separated (empty: any).
    pub grades: String,
    /// Channels, comma-separated (empty: any).
    pub channels: String,
    /// Organization ids, comma-separated (empty: any).
    pub organization_ids: String,
    /// Tags, comma-separated; a ticket with any of them matches (empty: any).
    pub tags: String,
    /// Working minutes from creation to the first public reply.
    pub first_response_minutes: Option<i64>,
    /// Working minutes from a waiting customer message to the next reply.
    pub next_response_minutes: Option<i64>,
    /// Working minutes from creation to resolution.
    pub resolution_minutes: Option<i64>,
    /// Working minutes from creation to answering a complaint with a result.
    pub result_minutes: Option<i64>,
    /// Whether the resolution clock stops while the ticket is pending.
    pub pause_when_pending: bool,
    /// At what share of a target, in percent, a ticket is at risk.
    pub warn_percent: i64,
    /// Or how many minutes before a target is due, if sooner.
    pub warn_before_minutes: Option<i64>,
    /// What happens once a target breached, step by step (stored as JSON).
    #[serde(serialize_with = "chain_as_json")]
    #[schemars(with = "Vec<kefu_domain::alarm::EscalationStep>")]
    pub escalation: String,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// A policy's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFields {
    /// Name.
    pub name: String,
    /// Position.
    pub position: i64,
    /// Active.
    pub active: bool,
    /// Calendar.
    pub calendar_id: i64,
    /// Types.
    pub ticket_types: String,
    /// Priorities.
    pub priorities: String,
    /// Grades.
    pub grades: String,
    /// Channels.
    pub channels: String,
    /// Organization ids.
    pub organization_ids: String,
    /// Tags.
    pub tags: String,
    /// First response target.
    pub first_response_minutes: Option<i64>,
    /// Next response target.
    pub next_response_minutes: Option<i64>,
    /// Resolution target.
    pub resolution_minutes: Option<i64>,
    /// Result-answer target (complaints).
    pub result_minutes: Option<i64>,
    /// Pause while pending.
    pub pause_when_pending: bool,
    /// Warning share.
    pub warn_percent: i64,
    /// Warning lead time.
    pub warn_before_minutes: Option<i64>,
    /// Escalation chain, as JSON.
    pub escalation: String,
}

/// The escalation chain of a policy as it was stored, read back.
pub fn chain_of(policy: &Policy) -> Vec<kefu_domain::alarm::EscalationStep> {
    serde_json::from_str(&policy.escalation).unwrap_or_default()
}

fn chain_as_json<S: serde::Serializer>(text: &str, out: S) -> Result<S::Ok, S::Error> {
    let steps: Vec<kefu_domain::alarm::EscalationStep> =
        serde_json::from_str(text).unwrap_or_default();
    serde::Serialize::serialize(&steps, out)
}

const COLUMNS: &str = "id, name, position, active, calendar_id, ticket_types, priorities, grades, channels, \
     organization_ids, tags, first_response_minutes, next_response_minutes, resolution_minutes, \
     pause_when_pending, warn_percent, warn_before_minutes, escalation, result_minutes, version, created_at, updated_at";

macro_rules! bind_fields {
    ($query:expr, $f:expr) => {
        $query
            .bind(&$f.name)
            .bind($f.position)
            .bind($f.active)
            .bind($f.calendar_id)
            .bind(&$f.ticket_types)
            .bind(&$f.priorities)
            .bind(&$f.grades)
            .bind(&$f.channels)
            .bind(&$f.organization_ids)
            .bind(&$f.tags)
            .bind($f.first_response_minutes)
            .bind($f.next_response_minutes)
            .bind($f.resolution_minutes)
            .bind($f.pause_when_pending)
            .bind($f.warn_percent)
            .bind($f.warn_before_minutes)
            .bind(&$f.escalation)
            .bind($f.result_minutes)
    };
}

/// Adds a policy; `Duplicate("name")` when the name is taken.
pub async fn insert(conn: &mut Conn<'_>, f: &PolicyFields) -> Result<Policy, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO sla_policies (name, position, active, calendar_id, ticket_types, priorities, grades, channels, \
         organization_ids, tags, first_response_minutes, next_response_minutes, resolution_minutes, \
         pause_when_pending, warn_percent, warn_before_minutes, escalation, result_minutes, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 1, $19, $19) RETURNING {COLUMNS}"
    );
    on_conn!(conn, |c| Ok(bind_fields!(
        sqlx::query_as(sqlx::AssertSqlSafe(sql)),
        f
    )
    .bind(now)
    .fetch_one(c)
    .await?))
}

/// Saves a policy if it is still at `expected_version`.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &PolicyFields,
) -> Result<Policy, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE sla_policies SET name = $1, position = $2, active = $3, calendar_id = $4, ticket_types = $5, \
         priorities = $6, grades = $7, channels = $8, organization_ids = $9, tags = $10, \
         first_response_minutes = $11, next_response_minutes = $12, resolution_minutes = $13, \
         pause_when_pending = $14, warn_percent = $15, warn_before_minutes = $16, escalation = $17, \
         result_minutes = $18, version = version + 1, updated_at = $19 WHERE id = $20 AND version = $21 RETURNING {COLUMNS}"
    );
    let row: Option<Policy> = on_conn!(&mut *conn, |c| {
        bind_fields!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await?
    });
    match row {
        Some(p) => Ok(p),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// One policy.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Policy, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM sla_policies WHERE id = $1");
    let row: Option<Policy> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)
}

/// Every policy in the order they are tried.
pub async fn all(conn: &mut Conn<'_>) -> Result<Vec<Policy>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM sla_policies ORDER BY position, id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}

/// The names of the policies that count on a calendar.
pub async fn using_calendar(
    conn: &mut Conn<'_>,
    calendar_id: i64,
) -> Result<Vec<String>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT name FROM sla_policies WHERE calendar_id = $1 ORDER BY position, id"
    )
    .bind(calendar_id)
    .fetch_all(c)
    .await?))
}

/// Deletes a policy; tickets under it keep their due times and lose the link.
pub async fn delete(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let deleted = on_conn!(conn, |c| {
        sqlx::query("DELETE FROM sla_policies WHERE id = $1")
            .bind(id)
            .execute(c)
            .await?
            .rows_affected()
    });
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A ticket's SLA columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct TicketSla {
    /// The policy the ticket fell under.
    pub sla_policy_id: Option<i64>,
    /// First response due.
    pub first_response_due_at: Option<DateTime<Utc>>,
    /// Next response due (a customer message waits).
    pub next_response_due_at: Option<DateTime<Utc>>,
    /// Resolution due (none while the clock is stopped).
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// Result answer due (complaints).
    pub result_due_at: Option<DateTime<Utc>>,
    /// When the customer was answered with a result.
    pub result_answered_at: Option<DateTime<Utc>>,
    /// The customer message waiting for an answer.
    pub awaiting_reply_since: Option<DateTime<Utc>>,
    /// Since when the resolution clock is stopped (pending).
    pub sla_paused_since: Option<DateTime<Utc>>,
    /// Working seconds the resolution clock spent stopped.
    pub sla_paused_seconds: i64,
    /// When the next target still running is due.
    pub sla_next_due_at: Option<DateTime<Utc>>,
    /// When that target turns at risk.
    pub sla_warn_at: Option<DateTime<Utc>>,
    /// When the alarm sweep must next look at the ticket (a warning or an
    /// escalation step due); bookkeeping, not shown.
    #[serde(skip)]
    #[schemars(skip)]
    pub sla_timer_at: Option<DateTime<Utc>>,
    /// Why the ticket ran over its SLA: the category (超时须说明).
    pub overdue_category: Option<String>,
    /// The explanation.
    pub overdue_reason: String,
}

/// Writes a ticket's SLA columns (derived data: the version stays).
pub async fn set_ticket_sla(conn: &mut Conn<'_>, id: i64, s: &TicketSla) -> Result<(), StoreError> {
    set_ticket_sla_many(conn, &[(id, s.clone())]).await
}

/// Writes the SLA columns of many tickets, a hundred per statement (an
/// UPDATE from a VALUES list, whose columns both backends name column1…).
pub async fn set_ticket_sla_many(
    conn: &mut Conn<'_>,
    rows: &[(i64, TicketSla)],
) -> Result<(), StoreError> {
    const WIDTH: usize = 15;
    for chunk in rows.chunks(100) {
        let values = crate::customers::value_rows(chunk.len(), WIDTH);
        let sql = format!(
            "UPDATE tickets SET sla_policy_id = v.column2, first_response_due_at = v.column3, \
             next_response_due_at = v.column4, resolution_due_at = v.column5, awaiting_reply_since = v.column6, \
             sla_paused_since = v.column7, sla_paused_seconds = v.column8, sla_next_due_at = v.column9, \
             sla_warn_at = v.column10, overdue_category = v.column11, overdue_reason = v.column12, \
             sla_timer_at = v.column13, result_due_at = v.column14, result_answered_at = v.column15 \
             FROM (VALUES {values}) AS v WHERE tickets.id = v.column1"
        );
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, s) in chunk {
                query = query
                    .bind(*id)
                    .bind(s.sla_policy_id)
                    .bind(s.first_response_due_at)
                    .bind(s.next_response_due_at)
                    .bind(s.resolution_due_at)
                    .bind(s.awaiting_reply_since)
                    .bind(s.sla_paused_since)
                    .bind(s.sla_paused_seconds)
                    .bind(s.sla_next_due_at)
                    .bind(s.sla_warn_at)
                    .bind(&s.overdue_category)
                    .bind(&s.overdue_reason)
                    .bind(s.sla_timer_at)
                    .bind(s.result_due_at)
                    .bind(s.result_answered_at);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// What a ticket's alarm already fired: written only by the alarm sweep,
/// under the ticket's row lock, so a warning or a step fires once.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct AlarmMarks {
    /// The due time the assignee was warned about.
    pub sla_warned_due_at: Option<DateTime<Utc>>,
    /// The due time whose breach was escalated.
    pub sla_breached_due_at: Option<DateTime<Utc>>,
    /// Chain steps run since that breach.
    pub sla_escalation_steps: i64,
}

/// The tickets whose alarm is due at `now`, soonest first, at most
/// `limit`; on PostgreSQL their rows are locked for this transaction and
/// rows another instance holds are passed over, so two sweeps never fire
/// the same alarm.
pub async fn claim_due_alarms(
    conn: &mut Conn<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let lock = match conn {
        Conn::Sqlite(_) => "",
        Conn::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "SELECT id FROM tickets WHERE sla_timer_at <= $1 ORDER BY sla_timer_at, id LIMIT $2{lock}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await?))
}

/// The soonest alarm of any ticket (what the sweep sleeps until).
pub async fn next_alarm_at(conn: &mut Conn<'_>) -> Result<Option<DateTime<Utc>>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_scalar(
        "SELECT sla_timer_at FROM tickets WHERE sla_timer_at IS NOT NULL ORDER BY sla_timer_at LIMIT 1"
    )
    .fetch_optional(c)
    .await?)
    })
}

/// Records what fired on tickets and when to look next, a hundred per
/// statement: (id, marks, next timer).
pub async fn set_alarm_marks(
    conn: &mut Conn<'_>,
    rows: &[(i64, AlarmMarks, Option<DateTime<Utc>>)],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(100) {
        let values = crate::customers::value_rows(chunk.len(), 5);
        let sql = format!(
            "UPDATE tickets SET sla_warned_due_at = v.column2, sla_breached_due_at = v.column3, \
             sla_escalation_steps = v.column4, sla_timer_at = v.column5 \
             FROM (VALUES {values}) AS v WHERE tickets.id = v.column1"
        );
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, marks, timer) in chunk {
                query = query
                    .bind(*id)
                    .bind(marks.sla_warned_due_at)
                    .bind(marks.sla_breached_due_at)
                    .bind(marks.sla_escalation_steps)
                    .bind(*timer);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// What an SLA policy is chosen by and its clocks run from, for one ticket.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SlaFacts {
    /// Ticket id.
    pub id: i64,
    /// Type code.
    pub ticket_type: String,
    /// Priority code.
    pub priority: String,
    /// Channel code.
    pub channel: String,
    /// Status code.
    pub status: String,
    /// Organization.
    pub organization_id: Option<i64>,
    /// The customer's grade.
    pub grade: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// First public reply.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Team.
    pub team_id: Option<i64>,
    /// Assignee.
    pub assignee_id: Option<i64>,
    /// The stored SLA columns.
    #[sqlx(flatten)]
    pub sla: TicketSla,
    /// What the alarm sweep already fired.
    #[sqlx(flatten)]
    pub marks: AlarmMarks,
    /// Tags (filled after the row is read).
    #[sqlx(skip)]
    pub tags: Vec<String>,
}

/// The SLA facts of tickets, in no particular order; missing ids are left out.
pub async fn facts(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<SlaFacts>, StoreError> {
    let mut out: Vec<SlaFacts> = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let marks = crate::customers::placeholders(1, chunk.len());
        let sql = crate::for_backend(
            &*conn,
            format!(
                "SELECT t.id, t.ticket_type, t.priority, t.channel, t.status, t.organization_id, c.grade, \
                 t.created_at, t.first_response_at, t.resolved_at, t.team_id, t.assignee_id, t.sla_policy_id, t.first_response_due_at, \
                 t.next_response_due_at, t.resolution_due_at, t.awaiting_reply_since, t.sla_paused_since, \
                 t.sla_paused_seconds, t.sla_next_due_at, t.sla_warn_at, t.sla_timer_at, t.overdue_category, t.overdue_reason, \
                 t.result_due_at, t.result_answered_at, \
                 t.sla_warned_due_at, t.sla_breached_due_at, t.sla_escalation_steps FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id \
                 WHERE t.id IN ({marks})"
            ),
        );
        let mut rows: Vec<SlaFacts> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(c).await?
        });
        let sql = crate::for_backend(
            &*conn,
            format!("SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN ({marks})"),
        );
        let tags: Vec<(i64, String)> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(c).await?
        });
        let index: std::collections::HashMap<i64, usize> =
            rows.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        for (ticket, tag) in tags {
            if let Some(&i) = index.get(&ticket) {
                rows[i].tags.push(tag);
            }
        }
        out.append(&mut rows);
    }
    Ok(out)
}

/// The ids of tickets not yet resolved, closed, merged or spam: the ones
/// whose clocks still run.
pub async fn open_ticket_ids(conn: &mut Conn<'_>) -> Result<Vec<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT id FROM tickets WHERE status IN ('new', 'open', 'pending', 'on_hold') ORDER BY id"
    )
    .fetch_all(c)
    .await?))
}

/// The ids of every ticket (the demo floor's due times are set once).
pub async fn all_ticket_ids(conn: &mut Conn<'_>) -> Result<Vec<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT id FROM tickets ORDER BY id"
    )
    .fetch_all(c)
    .await?))
}
