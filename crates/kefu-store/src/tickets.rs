//! Work orders (工单): tickets, their tags and watchers, the conversation,
//! the category tree and the ticket settings.

use crate::filter::{Param, Where, bind_params};
use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, NaiveDate, Utc};
use kefu_domain::ticket::{
    Channel, Direction, Level, MessageKind, Priority, PriorityMatrix, ResolutionCategory,
    ServiceKind, Status, TicketType,
};
use serde::Serialize;

/// A stored ticket.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Ticket {
    /// Id, also the number people quote (`#id`).
    pub id: i64,
    /// Subject line.
    pub subject: String,
    /// What the customer described.
    pub description: String,
    /// Type.
    pub ticket_type: TicketType,
    /// For service requests: activate, change, cancel.
    pub service_kind: Option<ServiceKind>,
    /// Category in the tree.
    pub category_id: Option<i64>,
    /// Urgency.
    pub urgency: Level,
    /// Impact.
    pub impact: Level,
    /// Priority (from the matrix unless overridden).
    pub priority: Priority,
    /// Why the priority differs from the matrix; empty when it does not.
    pub priority_reason: String,
    /// Where it came in.
    pub channel: Channel,
    /// The customer.
    pub customer_id: Option<i64>,
    /// The customer's organization when the ticket was made.
    pub organization_id: Option<i64>,
    /// What the customer expects (客户期望).
    pub expectation: String,
    /// The date by which the customer wants it.
    pub wanted_by: Option<NaiveDate>,
    /// For logged calls and visits: in or out.
    pub call_direction: Option<Direction>,
    /// For logged calls and visits: how long, in seconds.
    pub call_seconds: Option<i64>,
    /// Lifecycle status.
    pub status: Status,
    /// Team responsible.
    pub team_id: Option<i64>,
    /// Agent responsible.
    pub assignee_id: Option<i64>,
    /// How it ended.
    pub resolution_category: Option<ResolutionCategory>,
    /// The resolution text.
    pub resolution: String,
    /// The ticket this one was merged into.
    pub merged_into_id: Option<i64>,
    /// The ticket this one was split from or escalated out of.
    pub parent_id: Option<i64>,
    /// First public reply.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Last resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The SLA the ticket runs under: policy, due times, clocks.
    #[serde(flatten)]
    pub sla: crate::sla::TicketSla,
}

const COLUMNS: &str = "id, subject, description, ticket_type, service_kind, category_id, urgency, impact, priority, \
     priority_reason, channel, customer_id, organization_id, expectation, wanted_by, call_direction, call_seconds, \
     status, team_id, assignee_id, resolution_category, resolution, merged_into_id, parent_id, first_response_at, \
     resolved_at, closed_at, version, created_at, updated_at, sla_policy_id, first_response_due_at, \
     next_response_due_at, resolution_due_at, awaiting_reply_since, sla_paused_since, sla_paused_seconds, \
     sla_next_due_at, sla_warn_at, sla_timer_at, overdue_category, overdue_reason, result_due_at, result_answered_at";

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    subject: String,
    description: String,
    ticket_type: String,
    service_kind: Option<String>,
    category_id: Option<i64>,
    urgency: String,
    impact: String,
    priority: String,
    priority_reason: String,
    channel: String,
    customer_id: Option<i64>,
    organization_id: Option<i64>,
    expectation: String,
    wanted_by: Option<NaiveDate>,
    call_direction: Option<String>,
    call_seconds: Option<i64>,
    status: String,
    team_id: Option<i64>,
    assignee_id: Option<i64>,
    resolution_category: Option<String>,
    resolution: String,
    merged_into_id: Option<i64>,
    parent_id: Option<i64>,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[sqlx(flatten)]
    sla: crate::sla::TicketSla,
}

fn code<T: std::str::FromStr>(id: i64, column: &str, value: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Other(format!("ticket {id}: unknown {column} {value:?}")))
}

fn optional_code<T: std::str::FromStr>(
    id: i64,
    column: &str,
    value: Option<&str>,
) -> Result<Option<T>, StoreError> {
    value.map(|v| code(id, column, v)).transpose()
}

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;
    fn try_from(r: TicketRow) -> Result<Self, StoreError> {
        let id = r.id;
        Ok(Ticket {
            ticket_type: code(id, "ticket_type", &r.ticket_type)?,
            service_kind: optional_code(id, "service_kind", r.service_kind.as_deref())?,
            urgency: code(id, "urgency", &r.urgency)?,
            impact: code(id, "impact", &r.impact)?,
            priority: code(id, "priority", &r.priority)?,
            channel: code(id, "channel", &r.channel)?,
            call_direction: optional_code(id, "call_direction", r.call_direction.as_deref())?,
            status: code(id, "status", &r.status)?,
            resolution_category: optional_code(
                id,
                "resolution_category",
                r.resolution_category.as_deref(),
            )?,
            id,
            subject: r.subject,
            description: r.description,
            category_id: r.category_id,
            priority_reason: r.priority_reason,
            customer_id: r.customer_id,
            organization_id: r.organization_id,
            expectation: r.expectation,
            wanted_by: r.wanted_by,
            call_seconds: r.call_seconds,
            team_id: r.team_id,
            assignee_id: r.assignee_id,
            resolution: r.resolution,
            merged_into_id: r.merged_into_id,
            parent_id: r.parent_id,
            first_response_at: r.first_response_at,
            resolved_at: r.resolved_at,
            closed_at: r.closed_at,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            sla: r.sla,
        })
    }
}

/// Everything about a ticket that is written, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFields {
    /// Subject.
    pub subject: String,
    /// Description.
    pub description: String,
    /// Type.
    pub ticket_type: TicketType,
    /// Service kind.
    pub service_kind: Option<ServiceKind>,
    /// Category.
    pub category_id: Option<i64>,
    /// Urgency.
    pub urgency: Level,
    /// Impact.
    pub impact: Level,
    /// Priority.
    pub priority: Priority,
    /// Reason for an overridden priority.
    pub priority_reason: String,
    /// Channel.
    pub channel: Channel,
    /// Customer.
    pub customer_id: Option<i64>,
    /// Organization.
    pub organization_id: Option<i64>,
    /// Expectation.
    pub expectation: String,
    /// Wanted by.
    pub wanted_by: Option<NaiveDate>,
    /// Call direction.
    pub call_direction: Option<Direction>,
    /// Call length in seconds.
    pub call_seconds: Option<i64>,
    /// Status.
    pub status: Status,
    /// Team.
    pub team_id: Option<i64>,
    /// Assignee.
    pub assignee_id: Option<i64>,
    /// Resolution category.
    pub resolution_category: Option<ResolutionCategory>,
    /// Resolution text.
    pub resolution: String,
    /// Merged into.
    pub merged_into_id: Option<i64>,
    /// Parent ticket.
    pub parent_id: Option<i64>,
    /// First public reply.
    pub first_response_at: Option<DateTime<Utc>>,
    /// Last resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl TicketFields {
    /// The fields of a stored ticket, as the starting point of a change.
    pub fn of(t: &Ticket) -> TicketFields {
        TicketFields {
            subject: t.subject.clone(),
            description: t.description.clone(),
            ticket_type: t.ticket_type,
            service_kind: t.service_kind,
            category_id: t.category_id,
            urgency: t.urgency,
            impact: t.impact,
            priority: t.priority,
            priority_reason: t.priority_reason.clone(),
            channel: t.channel,
            customer_id: t.customer_id,
            organization_id: t.organization_id,
            expectation: t.expectation.clone(),
            wanted_by: t.wanted_by,
            call_direction: t.call_direction,
            call_seconds: t.call_seconds,
            status: t.status,
            team_id: t.team_id,
            assignee_id: t.assignee_id,
            resolution_category: t.resolution_category,
            resolution: t.resolution.clone(),
            merged_into_id: t.merged_into_id,
            parent_id: t.parent_id,
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            closed_at: t.closed_at,
        }
    }

    fn into_ticket(self, id: i64, at: DateTime<Utc>) -> Ticket {
        Ticket {
            id,
            subject: self.subject,
            description: self.description,
            ticket_type: self.ticket_type,
            service_kind: self.service_kind,
            category_id: self.category_id,
            urgency: self.urgency,
            impact: self.impact,
            priority: self.priority,
            priority_reason: self.priority_reason,
            channel: self.channel,
            customer_id: self.customer_id,
            organization_id: self.organization_id,
            expectation: self.expectation,
            wanted_by: self.wanted_by,
            call_direction: self.call_direction,
            call_seconds: self.call_seconds,
            status: self.status,
            team_id: self.team_id,
            assignee_id: self.assignee_id,
            resolution_category: self.resolution_category,
            resolution: self.resolution,
            merged_into_id: self.merged_into_id,
            parent_id: self.parent_id,
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            closed_at: self.closed_at,
            version: 1,
            created_at: at,
            updated_at: at,
            sla: crate::sla::TicketSla::default(),
        }
    }
}

/// The written columns, in [`bind_fields`] order.
const FIELD_COLUMNS: &str = "subject, description, ticket_type, service_kind, category_id, urgency, impact, priority, \
     priority_reason, channel, customer_id, organization_id, expectation, wanted_by, call_direction, call_seconds, \
     status, team_id, assignee_id, resolution_category, resolution, merged_into_id, parent_id, first_response_at, \
     resolved_at, closed_at";
const FIELD_COUNT: usize = 26;

macro_rules! bind_fields {
    ($query:expr, $f:expr) => {{
        let f = $f;
        $query
            .bind(&f.subject)
            .bind(&f.description)
            .bind(f.ticket_type.as_str())
            .bind(f.service_kind.map(|k| k.as_str()))
            .bind(f.category_id)
            .bind(f.urgency.as_str())
            .bind(f.impact.as_str())
            .bind(f.priority.as_str())
            .bind(&f.priority_reason)
            .bind(f.channel.as_str())
            .bind(f.customer_id)
            .bind(f.organization_id)
            .bind(&f.expectation)
            .bind(f.wanted_by)
            .bind(f.call_direction.map(|d| d.as_str()))
            .bind(f.call_seconds)
            .bind(f.status.as_str())
            .bind(f.team_id)
            .bind(f.assignee_id)
            .bind(f.resolution_category.map(|c| c.as_str()))
            .bind(&f.resolution)
            .bind(f.merged_into_id)
            .bind(f.parent_id)
            .bind(f.first_response_at)
            .bind(f.resolved_at)
            .bind(f.closed_at)
    }};
}

/// Creates a ticket at `at` (now for live work; the past for demo data).
pub async fn insert(
    conn: &mut Conn<'_>,
    f: &TicketFields,
    at: DateTime<Utc>,
) -> Result<Ticket, StoreError> {
    insert_many(conn, &[(f.clone(), at, at)])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Other("the ticket insert returned no row".into()))
}

/// Rows per multi-row INSERT (27 values a row, far below both limits).
const BULK_ROWS: usize = 50;

/// Creates many tickets with one statement per 50 rows, each with
/// its own creation and last-change time (the past, for demo data);
/// returns them in the order given (ids follow VALUES order on both
/// backends).
pub async fn insert_many(
    conn: &mut Conn<'_>,
    all: &[(TicketFields, DateTime<Utc>, DateTime<Utc>)],
) -> Result<Vec<Ticket>, StoreError> {
    let mut out = Vec::with_capacity(all.len());
    let width = FIELD_COUNT + 2;
    for chunk in all.chunks(BULK_ROWS) {
        let values = (0..chunk.len())
            .map(|r| {
                let base = 1 + r * width;
                let cells: Vec<String> = (base..base + width).map(|n| format!("${n}")).collect();
                format!(
                    "({}, 1, {}, {})",
                    cells[..FIELD_COUNT].join(", "),
                    cells[FIELD_COUNT],
                    cells[FIELD_COUNT + 1]
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO tickets ({FIELD_COLUMNS}, version, created_at, updated_at) VALUES {values} RETURNING id"
        );
        let sql = crate::for_backend(&*conn, sql);
        let mut ids: Vec<i64> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for (f, created, updated) in chunk {
                query = bind_fields!(query, f).bind(*created).bind(*updated);
            }
            query.fetch_all(c).await?
        });
        if ids.len() != chunk.len() {
            return Err(StoreError::Other(format!(
                "inserted {} tickets, expected {}",
                ids.len(),
                chunk.len()
            )));
        }
        ids.sort_unstable();
        for (id, (f, created, updated)) in ids.into_iter().zip(chunk) {
            let mut ticket = f.clone().into_ticket(id, *created);
            ticket.updated_at = *updated;
            out.push(ticket);
        }
    }
    Ok(out)
}

/// One ticket by id.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Ticket, StoreError> {
    select_one(conn, id, "").await
}

async fn select_one(conn: &mut Conn<'_>, id: i64, lock: &str) -> Result<Ticket, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM tickets WHERE id = $1{lock}");
    let row: Option<TicketRow> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// A ticket about to be changed by the server on its own reading of it
/// (a reply that opens it, a customer's answer that reopens it), not on
/// a version the caller sent. On PostgreSQL the row stays locked until
/// the transaction ends, so two such changes at once wait for each other
/// instead of the second failing on the version the first moved; SQLite's
/// write transactions already run one at a time.
pub async fn get_for_update(conn: &mut Conn<'_>, id: i64) -> Result<Ticket, StoreError> {
    let lock = match conn {
        Conn::Sqlite(_) => "",
        Conn::Postgres(_) => " FOR UPDATE",
    };
    select_one(conn, id, lock).await
}

/// Several tickets by id, in id order; missing ids are left out.
pub async fn get_many(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<Ticket>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM tickets WHERE id IN ({}) ORDER BY id",
        crate::customers::placeholders(1, ids.len())
    );
    let rows: Vec<TicketRow> = on_conn!(conn, |c| {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(c).await?
    });
    rows.into_iter().map(Ticket::try_from).collect()
}

/// Saves new field values if the ticket is still at `expected_version`;
/// otherwise `Conflict` with the version now stored.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &TicketFields,
) -> Result<Ticket, StoreError> {
    let now = crate::now();
    let sets = FIELD_COLUMNS
        .split(',')
        .enumerate()
        .map(|(i, column)| format!("{} = ${}", column.trim(), i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let n = FIELD_COUNT;
    let sql = format!(
        "UPDATE tickets SET {sets}, version = version + 1, updated_at = ${} WHERE id = ${} AND version = ${} RETURNING {COLUMNS}",
        n + 1,
        n + 2,
        n + 3
    );
    let row: Option<TicketRow> = on_conn!(&mut *conn, |c| {
        bind_fields!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await?
    });
    match row {
        Some(row) => row.try_into(),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// Moves every ticket of one customer to another (merging duplicates);
/// returns the ids of the tickets moved.
pub async fn move_customer(
    conn: &mut Conn<'_>,
    from: i64,
    to: i64,
) -> Result<Vec<i64>, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_scalar(
        "UPDATE tickets SET customer_id = $1, version = version + 1, updated_at = $2 WHERE customer_id = $3 RETURNING id"
    )
    .bind(to)
    .bind(now)
    .bind(from)
    .fetch_all(c)
    .await?)
    })
}

/// A ticket's tags, sorted.
pub async fn tags(conn: &mut Conn<'_>, id: i64) -> Result<Vec<String>, StoreError> {
    Ok(tags_of(conn, &[id])
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

/// The tags of several tickets, as (ticket id, tag), sorted.
pub async fn tags_of(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN ({}) ORDER BY ticket_id, tag",
        crate::customers::placeholders(1, ids.len())
    );
    let mut rows: Vec<(i64, String)> = on_conn!(conn, |c| {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        query.fetch_all(c).await?
    });
    // By code point on both backends, whatever the database's collation.
    rows.sort();
    Ok(rows)
}

/// Replaces a ticket's tags.
pub async fn set_tags(conn: &mut Conn<'_>, id: i64, tags: &[String]) -> Result<(), StoreError> {
    on_conn!(&mut *conn, |c| {
        sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
    });
    let pairs: Vec<(i64, String)> = tags.iter().map(|t| (id, t.clone())).collect();
    add_tags_many(conn, &pairs).await
}

/// Adds tags to tickets that do not carry them yet: (ticket id, tag).
pub async fn add_tags_many(conn: &mut Conn<'_>, pairs: &[(i64, String)]) -> Result<(), StoreError> {
    for chunk in pairs.chunks(BULK_ROWS * 4) {
        let values = crate::customers::value_rows(chunk.len(), 2);
        let sql = format!("INSERT INTO ticket_tags (ticket_id, tag) VALUES {values}");
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, tag) in chunk {
                query = query.bind(*id).bind(tag);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// The agents watching a ticket.
pub async fn watchers(conn: &mut Conn<'_>, id: i64) -> Result<Vec<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT agent_id FROM ticket_watchers WHERE ticket_id = $1 ORDER BY agent_id"
    )
    .bind(id)
    .fetch_all(c)
    .await?))
}

/// Replaces a ticket's watchers.
pub async fn set_watchers(
    conn: &mut Conn<'_>,
    id: i64,
    agent_ids: &[i64],
) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM ticket_watchers WHERE ticket_id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
        for agent in agent_ids {
            sqlx::query("INSERT INTO ticket_watchers (ticket_id, agent_id) VALUES ($1, $2)")
                .bind(id)
                .bind(*agent)
                .execute(&mut *c)
                .await?;
        }
        Ok(())
    })
}

/// Adds watchers to new tickets: (ticket id, agent id).
pub async fn add_watchers_many(
    conn: &mut Conn<'_>,
    pairs: &[(i64, i64)],
) -> Result<(), StoreError> {
    for chunk in pairs.chunks(BULK_ROWS * 4) {
        let values = crate::customers::value_rows(chunk.len(), 2);
        let sql = format!("INSERT INTO ticket_watchers (ticket_id, agent_id) VALUES {values}");
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, agent) in chunk {
                query = query.bind(*id).bind(*agent);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Author {
    /// An agent.
    Agent(i64),
    /// The customer.
    Customer(i64),
    /// Kefu itself (a rule, an integration without an agent).
    System,
}

impl Author {
    /// The `author_kind`, `author_agent_id`, `author_customer_id` columns.
    pub(crate) fn columns(self) -> (&'static str, Option<i64>, Option<i64>) {
        match self {
            Author::Agent(id) => ("agent", Some(id), None),
            Author::Customer(id) => ("customer", None, Some(id)),
            Author::System => ("system", None, None),
        }
    }

    /// Reads the three author columns of row `row` (named in the error).
    pub(crate) fn from_columns(
        row: &str,
        kind: &str,
        agent: Option<i64>,
        customer: Option<i64>,
    ) -> Result<Author, StoreError> {
        match (kind, agent, customer) {
            ("agent", Some(id), _) => Ok(Author::Agent(id)),
            ("customer", _, Some(id)) => Ok(Author::Customer(id)),
            ("system", _, _) => Ok(Author::System),
            (other, _, _) => Err(StoreError::Other(format!(
                "{row}: unknown author {other:?}"
            ))),
        }
    }
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Message {
    /// Id.
    pub id: i64,
    /// Ticket.
    pub ticket_id: i64,
    /// Public reply or internal note.
    pub kind: MessageKind,
    /// Who wrote it.
    pub author: Author,
    /// Text.
    pub body: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    ticket_id: i64,
    kind: String,
    author_kind: String,
    author_agent_id: Option<i64>,
    author_customer_id: Option<i64>,
    body: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        let author = Author::from_columns(
            &format!("message {}", r.id),
            &r.author_kind,
            r.author_agent_id,
            r.author_customer_id,
        )?;
        Ok(Message {
            kind: code(r.ticket_id, "message kind", &r.kind)?,
            id: r.id,
            ticket_id: r.ticket_id,
            author,
            body: r.body,
            created_at: r.created_at,
        })
    }
}

/// A message to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    /// Ticket.
    pub ticket_id: i64,
    /// Reply or note.
    pub kind: MessageKind,
    /// Author.
    pub author: Author,
    /// Text.
    pub body: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// Appends messages, several per statement; returns their ids in order.
pub async fn add_messages(
    conn: &mut Conn<'_>,
    messages: &[NewMessage],
) -> Result<Vec<i64>, StoreError> {
    let mut out = Vec::with_capacity(messages.len());
    for chunk in messages.chunks(BULK_ROWS * 2) {
        let values = (0..chunk.len())
            .map(|r| {
                let b = 1 + r * 7;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b,
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO ticket_messages (ticket_id, kind, author_kind, author_agent_id, author_customer_id, body, created_at) \
             VALUES {values} RETURNING id"
        );
        let mut ids: Vec<i64> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                let (kind, agent, customer) = m.author.columns();
                query = query
                    .bind(m.ticket_id)
                    .bind(m.kind.as_str())
                    .bind(kind)
                    .bind(agent)
                    .bind(customer)
                    .bind(&m.body)
                    .bind(m.at);
            }
            query.fetch_all(c).await?
        });
        ids.sort_unstable();
        out.extend(ids);
    }
    Ok(out)
}

/// A ticket's conversation, oldest first.
pub async fn messages(conn: &mut Conn<'_>, ticket_id: i64) -> Result<Vec<Message>, StoreError> {
    let rows: Vec<MessageRow> = on_conn!(conn, |c| {
        sqlx::query_as(
            "SELECT id, ticket_id, kind, author_kind, author_agent_id, author_customer_id, body, created_at \
             FROM ticket_messages WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket_id)
        .fetch_all(c)
        .await?
    });
    rows.into_iter().map(Message::try_from).collect()
}

/// The order of a ticket list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first.
    #[default]
    Newest,
    /// Oldest first (first come, first served).
    Oldest,
    /// Most recently changed first.
    Updated,
    /// Most urgent first (P1 before P4), then newest.
    Priority,
    /// Soonest SLA due time first; tickets with no target running left out.
    Due,
}

/// Where a page starts: after this row in the list's order.
#[derive(Debug, Clone, PartialEq)]
pub enum After {
    /// The first page.
    Start,
    /// After the ticket with this id (newest or oldest first).
    Id(i64),
    /// After this change time and id.
    Updated(DateTime<Utc>, i64),
    /// After this priority code and id.
    Priority(String, i64),
    /// After this SLA due time and id.
    Due(DateTime<Utc>, i64),
}

/// Where tickets stand against their SLA, as a queue filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaFilter {
    /// A target still running is past due.
    Breached,
    /// A target still running has passed its warning share but is not yet due.
    AtRisk,
    /// Breached or at risk: what a manager looks at now.
    Attention,
    /// Some target is running.
    Running,
}

/// What to narrow a ticket list to; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only the ticket with this id (a number typed into search).
    pub id: Option<i64>,
    /// Children of this ticket.
    pub parent_id: Option<i64>,
    /// One of these statuses.
    pub statuses: Vec<Status>,
    /// One of these types.
    pub types: Vec<TicketType>,
    /// One of these priorities.
    pub priorities: Vec<Priority>,
    /// One of these channels.
    pub channels: Vec<Channel>,
    /// In this category or below it.
    pub category_ids: Vec<i64>,
    /// Carries this tag.
    pub tag: Option<String>,
    /// Assigned to this agent.
    pub assignee_id: Option<i64>,
    /// Assigned to nobody.
    pub unassigned: bool,
    /// Belongs to one of these teams.
    pub team_ids: Option<Vec<i64>>,
    /// Of this customer.
    pub customer_id: Option<i64>,
    /// Of this organization.
    pub organization_id: Option<i64>,
    /// Of customers of this grade.
    pub grade: Option<String>,
    /// Subject contains (already lower-cased for ASCII).
    pub subject: Option<String>,
    /// Every one of these search terms is in the subject, description or
    /// conversation (terms as [`index`] stored them); a term of several
    /// words is a phrase, its words in sequence.
    pub terms: Vec<Vec<String>>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_until: Option<DateTime<Utc>>,
    /// Changed at or after.
    pub updated_from: Option<DateTime<Utc>>,
    /// Changed before.
    pub updated_until: Option<DateTime<Utc>>,
    /// Wanted by at or before this date (due).
    pub due_by: Option<NaiveDate>,
    /// Has this value in this custom field: (field id, value).
    pub custom: Option<(i64, String)>,
    /// Stands so against its SLA at this instant.
    pub sla: Option<(SlaFilter, DateTime<Utc>)>,
}

fn any_of(w: &mut Where, column: &str, values: Vec<String>) {
    if values.is_empty() {
        return;
    }
    let marks = vec!["?"; values.len()].join(", ");
    w.add(
        &format!("{column} IN ({marks})"),
        values.into_iter().map(Param::Text).collect(),
    );
}

/// The full-text condition on ticket ids for `terms`, in each engine's
/// dialect, with its one bound value.
fn terms_condition(backend: crate::Backend, terms: &[Vec<String>]) -> (&'static str, String) {
    match backend {
        // FTS5: each term a quoted string (a phrase when it holds several
        // words), so nothing is read as an operator; all required.
        crate::Backend::Sqlite => (
            "id IN (SELECT rowid FROM fts_tickets WHERE fts_tickets MATCH ?)",
            terms
                .iter()
                .map(|t| format!("\"{}\"", t.join(" ").replace('"', "\"\"")))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        // tsquery: quoted lexemes, phrases with <->, all joined by &.
        crate::Backend::Postgres => (
            "id IN (SELECT ticket_id FROM fts_tickets WHERE terms @@ to_tsquery('simple', ?))",
            postgres_query(terms),
        ),
    }
}

fn postgres_query(terms: &[Vec<String>]) -> String {
    let quote = |w: &String| format!("'{}'", w.replace('\\', "\\\\").replace('\'', "''"));
    terms
        .iter()
        .map(|t| {
            let words: Vec<String> = t.iter().map(quote).collect();
            format!("({})", words.join(" <-> "))
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

fn backend_of(conn: &Conn<'_>) -> crate::Backend {
    match conn {
        Conn::Sqlite(_) => crate::Backend::Sqlite,
        Conn::Postgres(_) => crate::Backend::Postgres,
    }
}

fn conditions(backend: crate::Backend, filter: &Filter) -> Where {
    let mut w = Where::default();
    if !filter.terms.is_empty() {
        let (clause, value) = terms_condition(backend, &filter.terms);
        w.add(clause, vec![Param::Text(value)]);
    }
    if let Some(id) = filter.id {
        w.add("id = ?", vec![Param::Int(id)]);
    }
    if let Some(id) = filter.parent_id {
        w.add("parent_id = ?", vec![Param::Int(id)]);
    }
    any_of(
        &mut w,
        "status",
        filter
            .statuses
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
    );
    any_of(
        &mut w,
        "ticket_type",
        filter.types.iter().map(|s| s.as_str().to_owned()).collect(),
    );
    any_of(
        &mut w,
        "priority",
        filter
            .priorities
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
    );
    any_of(
        &mut w,
        "channel",
        filter
            .channels
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect(),
    );
    if !filter.category_ids.is_empty() {
        let marks = vec!["?"; filter.category_ids.len()].join(", ");
        w.add(
            &format!("category_id IN ({marks})"),
            filter
                .category_ids
                .iter()
                .map(|id| Param::Int(*id))
                .collect(),
        );
    }
    if let Some(tag) = &filter.tag {
        w.add(
            "id IN (SELECT g.ticket_id FROM ticket_tags g WHERE g.tag = ?)",
            vec![Param::Text(tag.clone())],
        );
    }
    if let Some((field, value)) = &filter.custom {
        w.add(
            "id IN (SELECT v.ticket_id FROM ticket_field_values v WHERE v.field_id = ? AND v.value = ?)",
            vec![Param::Int(*field), Param::Text(value.clone())],
        );
    }
    if let Some(agent) = filter.assignee_id {
        w.add("assignee_id = ?", vec![Param::Int(agent)]);
    }
    if filter.unassigned {
        w.add("assignee_id IS NULL", vec![]);
    }
    if let Some(teams) = &filter.team_ids {
        if teams.is_empty() {
            w.add("FALSE", vec![]);
        } else {
            let marks = vec!["?"; teams.len()].join(", ");
            w.add(
                &format!("team_id IN ({marks})"),
                teams.iter().map(|id| Param::Int(*id)).collect(),
            );
        }
    }
    if let Some(id) = filter.customer_id {
        w.add("customer_id = ?", vec![Param::Int(id)]);
    }
    if let Some(id) = filter.organization_id {
        w.add("organization_id = ?", vec![Param::Int(id)]);
    }
    if let Some(grade) = &filter.grade {
        w.add(
            "customer_id IN (SELECT k.id FROM customers k WHERE k.grade = ?)",
            vec![Param::Text(grade.clone())],
        );
    }
    if let Some(text) = &filter.subject {
        w.add(
            "lower(subject) LIKE ? ESCAPE '\\'",
            vec![Param::Text(crate::customers::like_pattern(text))],
        );
    }
    let times = [
        ("created_at >= ?", filter.created_from),
        ("created_at < ?", filter.created_until),
        ("updated_at >= ?", filter.updated_from),
        ("updated_at < ?", filter.updated_until),
    ];
    for (clause, value) in times {
        if let Some(at) = value {
            w.add(clause, vec![Param::Time(at)]);
        }
    }
    if let Some(date) = filter.due_by {
        w.add("wanted_by <= ?", vec![Param::Date(date)]);
    }
    match filter.sla {
        Some((SlaFilter::Breached, now)) => w.add("sla_next_due_at < ?", vec![Param::Time(now)]),
        Some((SlaFilter::AtRisk, now)) => w.add(
            "sla_warn_at <= ? AND sla_next_due_at >= ?",
            vec![Param::Time(now), Param::Time(now)],
        ),
        Some((SlaFilter::Attention, now)) => w.add("sla_warn_at <= ?", vec![Param::Time(now)]),
        Some((SlaFilter::Running, _)) => w.add("sla_next_due_at IS NOT NULL", vec![]),
        None => {}
    }
    w
}

/// One page of tickets matching `filter`, in `sort` order, after `after`.
pub async fn search(
    conn: &mut Conn<'_>,
    filter: &Filter,
    sort: Sort,
    after: &After,
    limit: i64,
) -> Result<Vec<Ticket>, StoreError> {
    let mut w = conditions(backend_of(conn), filter);
    if sort == Sort::Due {
        w.add("sla_next_due_at IS NOT NULL", vec![]);
    }
    match (sort, after) {
        (_, After::Start) => {}
        (_, After::Due(at, id)) => w.add(
            "(sla_next_due_at > ? OR (sla_next_due_at = ? AND id > ?))",
            vec![Param::Time(*at), Param::Time(*at), Param::Int(*id)],
        ),
        (Sort::Oldest, After::Id(id)) => w.add("id > ?", vec![Param::Int(*id)]),
        (_, After::Id(id)) => w.add("id < ?", vec![Param::Int(*id)]),
        (_, After::Updated(at, id)) => w.add(
            "(updated_at < ? OR (updated_at = ? AND id < ?))",
            vec![Param::Time(*at), Param::Time(*at), Param::Int(*id)],
        ),
        (_, After::Priority(p, id)) => w.add(
            "(priority > ? OR (priority = ? AND id < ?))",
            vec![
                Param::Text(p.clone()),
                Param::Text(p.clone()),
                Param::Int(*id),
            ],
        ),
    }
    let order = match sort {
        Sort::Newest => "id DESC",
        Sort::Oldest => "id",
        Sort::Updated => "updated_at DESC, id DESC",
        Sort::Priority => "priority, id DESC",
        Sort::Due => "sla_next_due_at, id",
    };
    let limit = w.bind(Param::Int(limit));
    let condition = w.condition();
    // Only placeholders and fixed column names go into the text; every value is bound.
    let sql =
        format!("SELECT {COLUMNS} FROM tickets WHERE {condition} ORDER BY {order} LIMIT {limit}");
    let rows: Vec<TicketRow> = on_conn!(conn, |c| {
        bind_params!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), w.params)
            .fetch_all(c)
            .await?
    });
    rows.into_iter().map(Ticket::try_from).collect()
}

/// How many tickets match `filter` (queue counts).
pub async fn count(conn: &mut Conn<'_>, filter: &Filter) -> Result<i64, StoreError> {
    let w = conditions(backend_of(conn), filter);
    let sql = format!("SELECT count(*) FROM tickets WHERE {}", w.condition());
    on_conn!(conn, |c| Ok(bind_params!(
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)),
        w.params
    )
    .fetch_one(c)
    .await?))
}

/// Stores the search document of tickets (space-separated terms), replacing
/// what was indexed for them before; call it in the transaction that
/// changes the text.
pub async fn index(conn: &mut Conn<'_>, documents: &[(i64, String)]) -> Result<(), StoreError> {
    for chunk in documents.chunks(BULK_ROWS * 2) {
        let ids = crate::customers::placeholders(1, chunk.len());
        let values = crate::customers::value_rows(chunk.len(), 2);
        match &mut *conn {
            Conn::Sqlite(c) => {
                let delete = crate::anonymous_parameters_or_same(format!(
                    "DELETE FROM fts_tickets WHERE rowid IN ({ids})"
                ));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(delete));
                for (id, _) in chunk {
                    query = query.bind(*id);
                }
                query.execute(&mut **c).await?;
                let insert = crate::anonymous_parameters_or_same(format!(
                    "INSERT INTO fts_tickets (rowid, document) VALUES {values}"
                ));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
                for (id, document) in chunk {
                    query = query.bind(*id).bind(document);
                }
                query.execute(&mut **c).await?;
            }
            Conn::Postgres(c) => {
                let upsert = format!(
                    "INSERT INTO fts_tickets (ticket_id, document) VALUES {values} \
                     ON CONFLICT (ticket_id) DO UPDATE SET document = EXCLUDED.document"
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(upsert));
                for (id, document) in chunk {
                    query = query.bind(*id).bind(document);
                }
                query.execute(&mut **c).await?;
            }
        }
    }
    Ok(())
}

/// How many messages (replies and notes) all tickets hold.
pub async fn count_messages(conn: &mut Conn<'_>) -> Result<u64, StoreError> {
    let n: i64 = on_conn!(conn, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM ticket_messages"
    )
    .fetch_one(c)
    .await?);
    Ok(u64::try_from(n).unwrap_or_default())
}

/// Refreshes the planner's statistics of the ticket tables after a bulk
/// load (PostgreSQL plans queues and searches by them; until autovacuum
/// gets to it, a freshly loaded table looks empty).
pub async fn analyze_after_bulk(conn: &mut Conn<'_>) -> Result<(), StoreError> {
    if let Conn::Postgres(c) = conn {
        sqlx::query("ANALYZE tickets, ticket_messages, ticket_tags, fts_tickets, audit_log")
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

/// The ids of tickets matching every term, newest first, at most `limit`.
///
/// Newest first rather than by relevance: agents look for current work,
/// and SQLite's FTS5 can stop after `limit` matches in id order (PostgreSQL
/// sorts the matches, a top-N sort), where
/// ranking (BM25, `ts_rank`) must score every match — hundreds of
/// milliseconds for a word in a fifth of all tickets.
pub async fn search_newest(
    conn: &mut Conn<'_>,
    terms: &[Vec<String>],
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let (_, value) = terms_condition(backend_of(conn), terms);
    match conn {
        Conn::Sqlite(c) => Ok(sqlx::query_scalar(
            "SELECT rowid FROM fts_tickets WHERE fts_tickets MATCH $1 ORDER BY rowid DESC LIMIT $2",
        )
        .bind(value)
        .bind(limit)
        .fetch_all(&mut **c)
        .await?),
        Conn::Postgres(c) => {
            // Most searches are for words of current work: the newest
            // tickets hold enough matches, and when they fill the page,
            // those are exactly the newest matches (any other has a
            // smaller id). A fraction of a millisecond at 1,000,000.
            let recent: Vec<i64> = sqlx::query_scalar(
                "SELECT ticket_id FROM (SELECT ticket_id, terms FROM fts_tickets \
                 ORDER BY ticket_id DESC LIMIT $3) recent \
                 WHERE terms @@ to_tsquery('simple', $1) ORDER BY ticket_id DESC LIMIT $2",
            )
            .bind(&value)
            .bind(limit)
            .bind(RECENT_WINDOW)
            .fetch_all(&mut **c)
            .await?;
            if i64::try_from(recent.len()).unwrap_or(i64::MAX) >= limit {
                return Ok(recent);
            }
            // The planner cannot tell a rare word from a common one, and
            // its favourite plan (walk tickets newest first, test each)
            // reads most of the table for a rare word. So count the matches
            // up to a cap first (cheap either way), then: a common word
            // walks newest first and stops early; a rare one takes its few
            // matches from the GIN index and sorts them.
            let common: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM (SELECT 1 FROM fts_tickets \
                 WHERE terms @@ to_tsquery('simple', $1) LIMIT $2) m",
            )
            .bind(&value)
            .bind(COMMON_MATCHES)
            .fetch_one(&mut **c)
            .await?;
            let sql = if common >= COMMON_MATCHES {
                "SELECT ticket_id FROM fts_tickets WHERE terms @@ to_tsquery('simple', $1) \
                 ORDER BY ticket_id DESC LIMIT $2"
            } else {
                "WITH matches AS MATERIALIZED ( \
                     SELECT ticket_id FROM fts_tickets WHERE terms @@ to_tsquery('simple', $1)) \
                 SELECT ticket_id FROM matches ORDER BY ticket_id DESC LIMIT $2"
            };
            Ok(sqlx::query_scalar(sql)
                .bind(value)
                .bind(limit)
                .fetch_all(&mut **c)
                .await?)
        }
    }
}

/// Matches from which a search term counts as common on PostgreSQL (see
/// [`search_newest`]).
const COMMON_MATCHES: i64 = 200;

/// The newest tickets a PostgreSQL search looks through first (see
/// [`search_newest`]).
const RECENT_WINDOW: i64 = 5_000;

/// One step of a ticket's service plan (服务方案).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PlanStep {
    /// Id.
    pub id: i64,
    /// Ticket.
    pub ticket_id: i64,
    /// What will be done.
    pub title: String,
    /// Who does it.
    pub owner_id: Option<i64>,
    /// By when.
    pub due_on: Option<NaiveDate>,
    /// When it was checked off.
    pub done_at: Option<DateTime<Utc>>,
    /// Who checked it off.
    pub done_by: Option<i64>,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

const STEP_COLUMNS: &str =
    "id, ticket_id, title, owner_id, due_on, done_at, done_by, version, created_at, updated_at";

/// A plan step's editable fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStepFields {
    /// What.
    pub title: String,
    /// Who.
    pub owner_id: Option<i64>,
    /// By when.
    pub due_on: Option<NaiveDate>,
    /// Done when, by whom.
    pub done: Option<(DateTime<Utc>, i64)>,
}

/// Adds a step to a ticket's plan.
pub async fn add_step(
    conn: &mut Conn<'_>,
    ticket_id: i64,
    f: &PlanStepFields,
) -> Result<PlanStep, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO ticket_plan_steps (ticket_id, title, owner_id, due_on, done_at, done_by, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING {STEP_COLUMNS}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .bind(&f.title)
        .bind(f.owner_id)
        .bind(f.due_on)
        .bind(f.done.map(|d| d.0))
        .bind(f.done.map(|d| d.1))
        .bind(now)
        .fetch_one(c)
        .await?))
}

/// A ticket's plan, in the order the steps were added.
pub async fn steps(conn: &mut Conn<'_>, ticket_id: i64) -> Result<Vec<PlanStep>, StoreError> {
    let sql =
        format!("SELECT {STEP_COLUMNS} FROM ticket_plan_steps WHERE ticket_id = $1 ORDER BY id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .fetch_all(c)
        .await?))
}

/// Saves a step if it is still at `expected_version`.
pub async fn update_step(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &PlanStepFields,
) -> Result<PlanStep, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE ticket_plan_steps SET title = $1, owner_id = $2, due_on = $3, done_at = $4, done_by = $5, \
         version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8 RETURNING {STEP_COLUMNS}"
    );
    let row: Option<PlanStep> = on_conn!(&mut *conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.title)
            .bind(f.owner_id)
            .bind(f.due_on)
            .bind(f.done.map(|d| d.0))
            .bind(f.done.map(|d| d.1))
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await?
    });
    match row {
        Some(step) => Ok(step),
        None => Err(StoreError::Conflict {
            current_version: step(conn, id).await?.version,
        }),
    }
}

/// One step by id.
pub async fn step(conn: &mut Conn<'_>, id: i64) -> Result<PlanStep, StoreError> {
    let sql = format!("SELECT {STEP_COLUMNS} FROM ticket_plan_steps WHERE id = $1");
    let row: Option<PlanStep> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)
}

/// Records two tickets as related; linking twice is harmless.
pub async fn link(conn: &mut Conn<'_>, a: i64, b: i64) -> Result<bool, StoreError> {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query(
        "INSERT INTO ticket_links (low_id, high_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    )
    .bind(low)
    .bind(high)
    .bind(now)
    .execute(c)
    .await?
    .rows_affected()
        == 1)
    })
}

/// The tickets related to one, ascending.
pub async fn links(conn: &mut Conn<'_>, id: i64) -> Result<Vec<i64>, StoreError> {
    let mut ids: Vec<i64> = on_conn!(conn, |c| {
        sqlx::query_scalar(
        "SELECT high_id FROM ticket_links WHERE low_id = $1 UNION SELECT low_id FROM ticket_links WHERE high_id = $1"
    )
    .bind(id)
    .fetch_all(c)
    .await?
    });
    ids.sort_unstable();
    Ok(ids)
}

/// A node of the category tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Category {
    /// Id.
    pub id: i64,
    /// Parent, none for a root.
    pub parent_id: Option<i64>,
    /// Name (usually Chinese).
    pub name: String,
    /// English name; empty to show `name` in English too.
    pub name_en: String,
    /// Names from the root, joined by " / ".
    pub path: String,
    /// Offered for new tickets.
    pub active: bool,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

const CATEGORY_COLUMNS: &str =
    "id, parent_id, name, name_en, path, active, version, created_at, updated_at";

/// A category's editable fields, validated, with its computed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryFields {
    /// Parent.
    pub parent_id: Option<i64>,
    /// Name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Path from the root.
    pub path: String,
    /// Offered.
    pub active: bool,
}

/// Adds a category; `Duplicate("name")` when a sibling has the name.
pub async fn insert_category(
    conn: &mut Conn<'_>,
    f: &CategoryFields,
) -> Result<Category, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO ticket_categories (parent_id, name, name_en, path, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING {CATEGORY_COLUMNS}"
    );
    let result = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(f.parent_id)
            .bind(&f.name)
            .bind(&f.name_en)
            .bind(&f.path)
            .bind(f.active)
            .bind(now)
            .fetch_one(c)
            .await
    });
    result.map_err(|e| StoreError::from(e).on_unique("name"))
}

/// Every category, by path.
pub async fn categories(conn: &mut Conn<'_>) -> Result<Vec<Category>, StoreError> {
    let sql = format!("SELECT {CATEGORY_COLUMNS} FROM ticket_categories ORDER BY path");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}

/// Saves a category if it is still at `expected_version`, and rewrites the
/// paths of its descendants when its name moved.
pub async fn update_category(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &CategoryFields,
    old_path: &str,
) -> Result<Category, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE ticket_categories SET parent_id = $1, name = $2, name_en = $3, path = $4, active = $5, \
         version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8 RETURNING {CATEGORY_COLUMNS}"
    );
    let result: Result<Option<Category>, sqlx::Error> = on_conn!(&mut *conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(f.parent_id)
            .bind(&f.name)
            .bind(&f.name_en)
            .bind(&f.path)
            .bind(f.active)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await
    });
    let Some(category) = result.map_err(|e| StoreError::from(e).on_unique("name"))? else {
        let current: Option<i64> = on_conn!(&mut *conn, |c| {
            sqlx::query_scalar("SELECT version FROM ticket_categories WHERE id = $1")
                .bind(id)
                .fetch_optional(c)
                .await?
        });
        return Err(match current {
            Some(current_version) => StoreError::Conflict { current_version },
            None => StoreError::NotFound,
        });
    };
    if old_path != f.path {
        let prefix = format!("{old_path} / ");
        let sql = "UPDATE ticket_categories SET path = $1 || substr(path, CAST($2 AS INTEGER)), version = version + 1, \
                   updated_at = $3 WHERE substr(path, 1, CAST($4 AS INTEGER)) = $5";
        on_conn!(&mut *conn, |c| {
            sqlx::query(sql)
                .bind(format!("{} / ", f.path))
                .bind(i64::try_from(prefix.chars().count() + 1).unwrap_or(i64::MAX))
                .bind(now)
                .bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
                .bind(&prefix)
                .execute(c)
                .await?;
        });
    }
    Ok(category)
}

/// The ticket settings: priority matrix and reopen window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Settings {
    /// Urgency × impact → priority.
    pub priority_matrix: PriorityMatrix,
    /// Days a resolved ticket may be reopened.
    pub reopen_days: i64,
    /// The overdue reason categories offered, in order.
    pub overdue_reasons: Vec<String>,
    /// Optimistic-locking version (0 before the first save).
    pub version: i64,
}

/// The overdue reason categories offered before an admin sets any.
pub const DEFAULT_OVERDUE_REASONS: [&str; 5] = [
    "客户原因 Customer side",
    "第三方原因 Third party",
    "内部资源不足 Not enough staff",
    "技术难题 Technical difficulty",
    "其他 Other",
];

fn overdue_list(text: &str) -> Vec<String> {
    let list: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        DEFAULT_OVERDUE_REASONS
            .iter()
            .map(|r| (*r).to_owned())
            .collect()
    } else {
        list
    }
}

/// The settings, or the defaults before an administrator saved any.
pub async fn settings(conn: &mut Conn<'_>) -> Result<Settings, StoreError> {
    let row: Option<(String, i64, String, i64)> = on_conn!(conn, |c| {
        sqlx::query_as(
            "SELECT priority_matrix, reopen_days, overdue_reasons, version FROM ticket_settings WHERE id = 1",
        )
        .fetch_optional(c)
        .await?
    });
    Ok(match row {
        None => Settings {
            priority_matrix: PriorityMatrix::default(),
            reopen_days: kefu_domain::ticket::DEFAULT_REOPEN_DAYS,
            overdue_reasons: overdue_list(""),
            version: 0,
        },
        Some((matrix, reopen_days, overdue, version)) => Settings {
            priority_matrix: PriorityMatrix::from_codes("priority_matrix", &matrix)
                .map_err(|e| StoreError::Other(format!("stored priority matrix: {e}")))?,
            reopen_days,
            overdue_reasons: overdue_list(&overdue),
            version,
        },
    })
}

/// Saves the settings if they are still at `expected_version` (0: never saved).
pub async fn save_settings(
    conn: &mut Conn<'_>,
    expected_version: i64,
    matrix: &PriorityMatrix,
    reopen_days: i64,
    overdue_reasons: &[String],
) -> Result<Settings, StoreError> {
    let overdue = overdue_reasons.join("\n");
    let now = crate::now();
    let current = settings(conn).await?;
    if current.version != expected_version {
        return Err(StoreError::Conflict {
            current_version: current.version,
        });
    }
    let changed = on_conn!(conn, |c| {
        if expected_version == 0 {
            sqlx::query(
                "INSERT INTO ticket_settings (id, priority_matrix, reopen_days, version, updated_at, overdue_reasons) \
                 VALUES (1, $1, $2, 1, $3, $4)",
            )
            .bind(matrix.to_codes())
            .bind(reopen_days)
            .bind(now)
            .bind(&overdue)
            .execute(c)
            .await
            .map_err(|e| StoreError::from(e).on_unique("version"))?
            .rows_affected()
        } else {
            sqlx::query(
                "UPDATE ticket_settings SET priority_matrix = $1, reopen_days = $2, version = version + 1, \
                 updated_at = $3, overdue_reasons = $5 WHERE id = 1 AND version = $4",
            )
            .bind(matrix.to_codes())
            .bind(reopen_days)
            .bind(now)
            .bind(expected_version)
            .bind(&overdue)
            .execute(c)
            .await?
            .rows_affected()
        }
    });
    if changed != 1 {
        return Err(StoreError::Conflict {
            current_version: settings(conn).await?.version,
        });
    }
    settings(conn).await
}

/// A saved queue view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SavedView {
    /// Id.
    pub id: i64,
    /// Whose.
    pub agent_id: i64,
    /// Name.
    pub name: String,
    /// The queue's query string (`view=team&status=pending`).
    pub query: String,
    /// Saved.
    pub created_at: DateTime<Utc>,
}

/// Saves a view; `Duplicate("name")` when the agent has one by that name.
pub async fn save_view(
    conn: &mut Conn<'_>,
    agent_id: i64,
    name: &str,
    query: &str,
) -> Result<SavedView, StoreError> {
    let now = crate::now();
    let result = on_conn!(conn, |c| {
        sqlx::query_as(
            "INSERT INTO saved_views (agent_id, name, query, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id, agent_id, name, query, created_at",
        )
        .bind(agent_id)
        .bind(name)
        .bind(query)
        .bind(now)
        .fetch_one(c)
        .await
    });
    result.map_err(|e| StoreError::from(e).on_unique("name"))
}

/// An agent's saved views, by name.
pub async fn views(conn: &mut Conn<'_>, agent_id: i64) -> Result<Vec<SavedView>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT id, agent_id, name, query, created_at FROM saved_views WHERE agent_id = $1 ORDER BY name, id"
    )
    .bind(agent_id)
    .fetch_all(c)
    .await?)
    })
}

/// Deletes one of an agent's views; false when the agent has no such view.
pub async fn delete_view(conn: &mut Conn<'_>, agent_id: i64, id: i64) -> Result<bool, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query(
        "DELETE FROM saved_views WHERE id = $1 AND agent_id = $2"
    )
    .bind(id)
    .bind(agent_id)
    .execute(c)
    .await?
    .rows_affected()
        == 1))
}

/// Something an agent should look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Notification {
    /// Id.
    pub id: i64,
    /// For whom.
    pub agent_id: i64,
    /// About which ticket.
    pub ticket_id: i64,
    /// `mention`.
    pub kind: String,
    /// Who caused it.
    pub by_agent_id: Option<i64>,
    /// The start of the message.
    pub excerpt: String,
    /// When it was seen.
    pub read_at: Option<DateTime<Utc>>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Adds notifications: (agent, ticket, kind, by, excerpt).
pub async fn notify_agents(
    conn: &mut Conn<'_>,
    rows: &[(i64, i64, &str, Option<i64>, String)],
) -> Result<(), StoreError> {
    let now = crate::now();
    for (agent, ticket, kind, by, excerpt) in rows {
        on_conn!(&mut *conn, |c| {
            sqlx::query(
                "INSERT INTO notifications (agent_id, ticket_id, kind, by_agent_id, excerpt, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(*agent)
            .bind(*ticket)
            .bind(*kind)
            .bind(*by)
            .bind(excerpt)
            .bind(now)
            .execute(c)
            .await?;
        });
    }
    Ok(())
}

/// An agent's newest notifications.
pub async fn notifications(
    conn: &mut Conn<'_>,
    agent_id: i64,
    limit: i64,
) -> Result<Vec<Notification>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT id, agent_id, ticket_id, kind, by_agent_id, excerpt, read_at, created_at FROM notifications \
         WHERE agent_id = $1 ORDER BY id DESC LIMIT $2"
    )
    .bind(agent_id)
    .bind(limit)
    .fetch_all(c)
    .await?)
    })
}

/// How many of an agent's notifications are unread.
pub async fn unread_count(conn: &mut Conn<'_>, agent_id: i64) -> Result<i64, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE agent_id = $1 AND read_at IS NULL"
    )
    .bind(agent_id)
    .fetch_one(c)
    .await?))
}

/// Marks all of an agent's notifications read.
pub async fn mark_read(conn: &mut Conn<'_>, agent_id: i64) -> Result<u64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| Ok(sqlx::query(
        "UPDATE notifications SET read_at = $1 WHERE agent_id = $2 AND read_at IS NULL"
    )
    .bind(now)
    .bind(agent_id)
    .execute(c)
    .await?
    .rows_affected()))
}
