//! Work orders (工单): creating a ticket from any channel, working it
//! through its lifecycle, the conversation, the queues, the category tree
//! and the ticket settings.

use crate::attachments::{self, StagedFile};
use crate::audit::record_change;
use crate::creation;
use crate::custom_fields::{Requirement, check_values, replace_values, values_json};
use crate::directory::double_option;
use crate::sla::ClockEvent;
use crate::{App, AppError, Caller};
use chrono::{DateTime, NaiveDate, Utc};
use kefu_domain::Permission;
use kefu_domain::audit::Action;
use kefu_domain::automation::Trigger;
use kefu_domain::custom_field::FieldTarget;
use kefu_domain::ticket::{
    self as rules, Channel, Direction, Level, MessageKind, Priority, PriorityMatrix,
    ResolutionCategory, ServiceKind, Status, TicketType, TransitionFacts,
};
use kefu_domain::webhook::WebhookEvent;
use kefu_domain::{customer as customer_rules, validate};
use kefu_store::attachments::Attachment;
use kefu_store::custom_fields;
use kefu_store::tickets::{
    self, After, Author, Category, CategoryFields, Filter, Message, NewMessage, PlanStep,
    PlanStepFields, Settings, SlaFilter, Sort, Ticket, TicketFields,
};
use kefu_store::{Conn, Named, Tx, audit as audit_log, customers, teams};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Input to open a ticket.
#[derive(Debug, Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// Subject line.
    pub subject: String,
    /// What the customer described.
    #[serde(default)]
    pub description: Option<String>,
    /// `inquiry`, `complaint`, `fault`, `service_request`, `suggestion`, `other` (default `inquiry`).
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    /// For service requests: `activate`, `change`, `cancel`.
    #[serde(default)]
    pub service_kind: Option<String>,
    /// Category id.
    #[serde(default)]
    pub category_id: Option<i64>,
    /// `high`, `medium`, `low` (default `medium`).
    #[serde(default)]
    pub urgency: Option<String>,
    /// `high`, `medium`, `low` (default `medium`).
    #[serde(default)]
    pub impact: Option<String>,
    /// `p1`…`p4` to override the matrix; needs `priority_reason`.
    #[serde(default)]
    pub priority: Option<String>,
    /// Why the priority differs from the matrix.
    #[serde(default)]
    pub priority_reason: Option<String>,
    /// Where it came in (default `api` through the API, `phone` on the page).
    #[serde(default)]
    pub channel: Option<String>,
    /// The customer.
    #[serde(default)]
    pub customer_id: Option<i64>,
    /// What the customer expects.
    #[serde(default)]
    pub expectation: Option<String>,
    /// `YYYY-MM-DD` the customer wants it by.
    #[serde(default)]
    pub wanted_by: Option<String>,
    /// Logged calls and visits: `inbound` or `outbound`.
    #[serde(default)]
    pub call_direction: Option<String>,
    /// Logged calls and visits: length in seconds.
    #[serde(default)]
    pub call_seconds: Option<i64>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Team.
    #[serde(default)]
    pub team_id: Option<i64>,
    /// Assignee.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// Agents to keep informed.
    #[serde(default)]
    pub watchers: Vec<i64>,
    /// The ticket this one is escalated or split out of; the child takes
    /// the parent's customer when none is given.
    #[serde(default)]
    pub parent_id: Option<i64>,
    /// Values of the ticket's custom fields, by key (text, number, date
    /// `YYYY-MM-DD`, an option, or a list of options).
    #[serde(default)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// Input to change a ticket's properties: the version read, and only the
/// fields to change; `null` clears a clearable field.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketChanges {
    /// The version the editor read; a stale one gets a conflict.
    pub version: i64,
    /// Subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Type.
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    /// Service kind; `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub service_kind: Option<Option<String>>,
    /// Category; `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub category_id: Option<Option<i64>>,
    /// Urgency.
    #[serde(default)]
    pub urgency: Option<String>,
    /// Impact.
    #[serde(default)]
    pub impact: Option<String>,
    /// Priority; `null` goes back to the matrix's.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub priority: Option<Option<String>>,
    /// Why the priority differs from the matrix.
    #[serde(default)]
    pub priority_reason: Option<String>,
    /// Channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Customer; `null` detaches it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub customer_id: Option<Option<i64>>,
    /// Expectation.
    #[serde(default)]
    pub expectation: Option<String>,
    /// Wanted-by date; `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub wanted_by: Option<Option<String>>,
    /// Tags (replace the old ones).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Team; `null` clears it.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub team_id: Option<Option<i64>>,
    /// Assignee; `null` unassigns.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub assignee_id: Option<Option<i64>>,
    /// Watchers (replace the old ones).
    #[serde(default)]
    pub watchers: Option<Vec<i64>>,
    /// Custom field values to change, by key; `null` clears one. Fields
    /// not named keep their values.
    #[serde(default)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Input to move a ticket along its lifecycle.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// The version the agent read.
    pub version: i64,
    /// The new status.
    pub status: String,
    /// Why (required to reopen or mark as spam; recorded always).
    #[serde(default)]
    pub reason: Option<String>,
    /// How it ended (required to resolve or close, unless already given).
    #[serde(default)]
    pub resolution_category: Option<String>,
    /// The resolution text.
    #[serde(default)]
    pub resolution: Option<String>,
    /// Why the ticket ran over its SLA (required to resolve or close a
    /// ticket that did): one of the ticket settings' overdue reasons.
    #[serde(default)]
    pub overdue_category: Option<String>,
    /// The explanation of the overrun.
    #[serde(default)]
    pub overdue_reason: Option<String>,
}

/// Input to add to the conversation.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// `reply` (the customer sees it) or `note` (agents only).
    pub kind: String,
    /// The text.
    pub body: String,
    /// This reply answers the customer with the result (结果答复): it
    /// stops a complaint's result clock. Replies only.
    #[serde(default)]
    pub gives_result: bool,
    /// For a reply on a ticket that came by email: the addresses to copy,
    /// separated by commas. Omitted: those the customer's last message
    /// copied (the reply form offers them); empty: nobody.
    #[serde(default)]
    pub cc: Option<String>,
}

/// The addresses an agent chose to copy on a reply, checked.
fn copies_of(list: &str) -> Result<Vec<String>, AppError> {
    let mut copies: Vec<String> = Vec::new();
    for part in list.split([',', ';', '\n']).map(str::trim) {
        if part.is_empty() {
            continue;
        }
        let address = kefu_domain::validate::email("cc", part)?;
        if !copies.contains(&address) {
            copies.push(address);
        }
    }
    if copies.len() > 20 {
        return Err(AppError::invalid("cc", "at most 20 addresses"));
    }
    Ok(copies)
}

/// A name-bearing reference shown with a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NameRef {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A ticket as the API and pages show it, with names resolved.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TicketView {
    /// The stored ticket.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// `#id`.
    pub number: String,
    /// The priority the matrix gives (differs when overridden).
    pub matrix_priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// Watching agents.
    pub watchers: Vec<NameRef>,
    /// The customer.
    pub customer: Option<NameRef>,
    /// The organization.
    pub organization: Option<NameRef>,
    /// The category's path.
    pub category: Option<NameRef>,
    /// The team.
    pub team: Option<NameRef>,
    /// The assignee.
    pub assignee: Option<NameRef>,
    /// The statuses the ticket may move to now.
    pub next_statuses: Vec<Status>,
    /// The ticket this one was escalated or split out of.
    pub parent: Option<NameRef>,
    /// Tickets escalated or split out of this one, with their state.
    pub children: Vec<TicketSummary>,
    /// Related tickets.
    pub related: Vec<TicketSummary>,
    /// The service plan.
    pub plan: Vec<PlanStepView>,
    /// Values of the active ticket custom fields, by key (`null` when empty).
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Where the ticket's SLA targets stand now (none without a policy).
    pub sla: Option<crate::sla::SlaView>,
}

/// A plan step with its owner's name.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PlanStepView {
    /// The step.
    #[serde(flatten)]
    pub step: PlanStep,
    /// Owner's name.
    pub owner_name: Option<String>,
}

/// One message as shown, with its author's name.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MessageView {
    /// The message.
    #[serde(flatten)]
    pub message: Message,
    /// Who wrote it, by name.
    pub author_name: String,
    /// Files that came with it.
    pub attachments: Vec<Attachment>,
}

/// One entry of a ticket's timeline: a message or a change.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum TimelineItem {
    /// A reply or note.
    Message(MessageView),
    /// A change from the audit log.
    Change {
        /// When.
        at: DateTime<Utc>,
        /// Who, by name.
        actor: String,
        /// `create` or `update`.
        action: String,
        /// Each field's old and new value.
        changes: Vec<kefu_domain::audit::FieldChange>,
    },
}

impl TimelineItem {
    /// When it happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            TimelineItem::Message(m) => m.message.created_at,
            TimelineItem::Change { at, .. } => *at,
        }
    }
}

/// A ticket with its whole conversation and history.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TicketDetail {
    /// The ticket.
    #[serde(flatten)]
    pub view: TicketView,
    /// Messages and changes, oldest first.
    pub timeline: Vec<TimelineItem>,
    /// Every file on the ticket (on messages and on the ticket itself), oldest first.
    pub attachments: Vec<Attachment>,
}

fn text(value: Option<&String>, field: &str, max: usize) -> Result<String, AppError> {
    let t = value.map(|v| v.trim()).unwrap_or("");
    if t.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

fn date(value: Option<&str>, field: &str) -> Result<Option<NaiveDate>, AppError> {
    match value.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| AppError::invalid(field, "must be a date written YYYY-MM-DD")),
    }
}

fn level(value: Option<&String>, field: &str) -> Result<Level, AppError> {
    match value.map(|v| v.trim()).filter(|t| !t.is_empty()) {
        None => Ok(Level::Medium),
        Some(t) => Ok(Level::parse_field(field, t)?),
    }
}

fn blank(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|t| !t.is_empty())
}

/// Checks that the referenced records exist; each error names its field.
async fn check_references(conn: &mut Conn<'_>, f: &TicketFields) -> Result<(), AppError> {
    if let Some(id) = f.category_id {
        let all = tickets::categories(conn).await?;
        match all.iter().find(|c| c.id == id) {
            Some(c) if c.active => {}
            Some(_) => {
                return Err(AppError::invalid(
                    "category_id",
                    format!("category {id} is switched off; choose an active one"),
                ));
            }
            None => {
                let valid: Vec<String> = all
                    .iter()
                    .filter(|c| c.active)
                    .take(30)
                    .map(|c| format!("{} ({})", c.id, c.path))
                    .collect();
                return Err(AppError::invalid(
                    "category_id",
                    format!("unknown category {id}; valid: {}", valid.join(", ")),
                ));
            }
        }
    }
    if let Some(id) = f.team_id
        && teams::get(conn, id).await.is_err()
    {
        return Err(AppError::invalid(
            "team_id",
            format!("team {id} does not exist"),
        ));
    }
    if let Some(agent) = f.assignee_id {
        let field = "assignee_id";
        match kefu_store::agents::get(conn, agent).await {
            Ok(a) if a.active => {}
            Ok(_) => {
                return Err(AppError::invalid(
                    field,
                    format!("agent {agent} is deactivated"),
                ));
            }
            Err(_) => {
                return Err(AppError::invalid(
                    field,
                    format!("agent {agent} does not exist"),
                ));
            }
        }
    }
    Ok(())
}

async fn check_watchers(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<i64>, AppError> {
    let mut out: Vec<i64> = ids.to_vec();
    out.sort_unstable();
    out.dedup();
    let found = kefu_store::names_of(conn, Named::Agents, &out).await?;
    if let Some(missing) = out.iter().find(|id| !found.iter().any(|(f, _)| f == *id)) {
        return Err(AppError::invalid(
            "watchers",
            format!("agent {missing} does not exist"),
        ));
    }
    Ok(out)
}

/// The customer a ticket may be for (it exists and was not merged away).
async fn ticket_customer(
    conn: &mut Conn<'_>,
    id: Option<i64>,
) -> Result<Option<customers::Customer>, AppError> {
    let Some(id) = id else {
        return Ok(None);
    };
    match customers::get(conn, id).await {
        Ok(c) if c.merged_into_id.is_some() => Err(AppError::invalid(
            "customer_id",
            format!(
                "customer {id} was merged into customer {}; use that one",
                c.merged_into_id.unwrap_or_default()
            ),
        )),
        Ok(c) => Ok(Some(c)),
        Err(kefu_store::StoreError::NotFound) => Err(AppError::invalid(
            "customer_id",
            format!("customer {id} does not exist"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The priority to store: the matrix's, or an override with its reason.
fn priority_of(
    matrix: &PriorityMatrix,
    urgency: Level,
    impact: Level,
    requested: Option<&str>,
    reason: &str,
) -> Result<(Priority, String), AppError> {
    let computed = matrix.priority(urgency, impact);
    let Some(requested) = requested else {
        return Ok((computed, String::new()));
    };
    let priority = Priority::parse_field("priority", requested)?;
    if priority == computed {
        return Ok((computed, String::new()));
    }
    if reason.is_empty() {
        return Err(AppError::invalid(
            "priority_reason",
            format!(
                "say why the priority differs from the matrix ({} for this urgency and impact)",
                computed.as_str().to_uppercase()
            ),
        ));
    }
    Ok((priority, reason.to_owned()))
}

/// A new ticket's input checked against the rules, ready to store.
pub(crate) struct CheckedTicket {
    pub(crate) fields: TicketFields,
    pub(crate) tags: Vec<String>,
    pub(crate) watchers: Vec<i64>,
    /// The customer's name, for the answer.
    pub(crate) customer_name: Option<String>,
    /// The customer's grade, for the routing rules.
    pub(crate) customer_grade: Option<kefu_domain::customer::Grade>,
}

/// Checks a new ticket's input; the first problem is returned with its field.
pub(crate) async fn check_new_ticket(
    conn: &mut Conn<'_>,
    input: &NewTicket,
    default_channel: Channel,
    settings: &Settings,
) -> Result<CheckedTicket, AppError> {
    let subject = validate::name("subject", &input.subject, rules::SUBJECT_MAX)?;
    let ticket_type = match blank(input.ticket_type.as_ref()) {
        Some(t) => TicketType::parse_field("type", t)?,
        None => TicketType::Inquiry,
    };
    let service_kind = match blank(input.service_kind.as_ref()) {
        Some(k) if ticket_type == TicketType::ServiceRequest => {
            Some(ServiceKind::parse_field("service_kind", k)?)
        }
        Some(_) => {
            return Err(AppError::invalid(
                "service_kind",
                "only service requests (业务办理) have a service kind",
            ));
        }
        None => None,
    };
    let urgency = level(input.urgency.as_ref(), "urgency")?;
    let impact = level(input.impact.as_ref(), "impact")?;
    let reason = text(input.priority_reason.as_ref(), "priority_reason", 500)?;
    let (priority, priority_reason) = priority_of(
        &settings.priority_matrix,
        urgency,
        impact,
        blank(input.priority.as_ref()),
        &reason,
    )?;
    let channel = match blank(input.channel.as_ref()) {
        Some(c) => Channel::parse_field("channel", c)?,
        None => default_channel,
    };
    let call_direction = match blank(input.call_direction.as_ref()) {
        Some(d) => Some(Direction::parse_field("call_direction", d)?),
        None => None,
    };
    if let Some(seconds) = input.call_seconds
        && !(0..=86_400).contains(&seconds)
    {
        return Err(AppError::invalid(
            "call_seconds",
            "must be between 0 and 86400 (one day)",
        ));
    }
    let parent = match input.parent_id {
        None => None,
        Some(id) => match tickets::get(conn, id).await {
            Ok(p) if p.status == Status::Merged => {
                return Err(AppError::invalid(
                    "parent_id",
                    format!("ticket {id} was merged into another"),
                ));
            }
            Ok(p) => Some(p),
            Err(kefu_store::StoreError::NotFound) => {
                return Err(AppError::invalid(
                    "parent_id",
                    format!("ticket {id} does not exist"),
                ));
            }
            Err(e) => return Err(e.into()),
        },
    };
    let customer = input
        .customer_id
        .or(parent.as_ref().and_then(|p| p.customer_id));
    let customer = ticket_customer(conn, customer).await?;
    let customer_id = customer.as_ref().map(|c| c.id);
    let organization_id = customer.as_ref().and_then(|c| c.organization_id);
    let fields = TicketFields {
        subject,
        description: text(input.description.as_ref(), "description", rules::BODY_MAX)?,
        ticket_type,
        service_kind,
        category_id: input.category_id,
        urgency,
        impact,
        priority,
        priority_reason,
        channel,
        customer_id,
        organization_id,
        expectation: text(input.expectation.as_ref(), "expectation", 2000)?,
        wanted_by: date(input.wanted_by.as_deref(), "wanted_by")?,
        call_direction,
        call_seconds: input.call_seconds,
        status: Status::New,
        team_id: input.team_id,
        assignee_id: input.assignee_id,
        resolution_category: None,
        resolution: String::new(),
        merged_into_id: None,
        parent_id: parent.map(|p| p.id),
        first_response_at: None,
        resolved_at: None,
        closed_at: None,
    };
    check_references(conn, &fields).await?;
    let tags = customer_rules::tags("tags", &input.tags)?;
    let watchers = check_watchers(conn, &input.watchers).await?;
    Ok(CheckedTicket {
        fields,
        tags,
        watchers,
        customer_grade: customer.as_ref().map(|c| c.grade),
        customer_name: customer.map(|c| c.name),
    })
}

/// Rewrites a ticket's search document from its subject, description and
/// conversation, in the transaction that changed one of them.
pub(crate) async fn reindex(conn: &mut Conn<'_>, ticket: &Ticket) -> Result<(), AppError> {
    let mut text = format!("{}\n{}", ticket.subject, ticket.description);
    for message in tickets::messages(conn, ticket.id).await? {
        text.push('\n');
        text.push_str(&message.body);
    }
    tickets::index(conn, &[(ticket.id, crate::search::document(&text))]).await?;
    Ok(())
}

/// What the audit log keeps of a ticket: its fields, tags and watchers.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct AuditSnapshot<'a> {
    #[serde(flatten)]
    pub(crate) ticket: &'a Ticket,
    pub(crate) tags: &'a [String],
    pub(crate) watchers: &'a [i64],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<&'a str>,
}

pub(crate) fn default_channel(caller: &Caller) -> Channel {
    match caller.source {
        kefu_domain::audit::Source::Email => Channel::Email,
        kefu_domain::audit::Source::Web => Channel::Phone,
        _ => Channel::Api,
    }
}

/// Opens a ticket (agents, technical support, managers, admins).
pub async fn create_ticket(
    app: &App,
    caller: &Caller,
    input: NewTicket,
) -> Result<TicketView, AppError> {
    create_ticket_with_files(app, caller, input, Vec::new()).await
}

/// Logs a work order with files on it (a call's recording, documents the
/// customer handed over), all in one transaction.
pub async fn create_ticket_with_files(
    app: &App,
    caller: &Caller,
    input: NewTicket,
    files: Vec<StagedFile>,
) -> Result<TicketView, AppError> {
    caller.require(Permission::ManageTickets)?;
    attachments::check_files(&files)?;
    let view = if files.is_empty() {
        // Without files a creation joins the next group commit.
        let prepared = {
            let mut reader = app.store.read().await?;
            creation::prepare(&mut reader.conn(), caller, &input).await?
        };
        let (ticket, prepared) = app.creations.store(prepared).await?;
        creation::view(ticket, prepared)
    } else {
        let mut tx = app.store.write().await?;
        let view = create_in(app, &mut tx, caller, &input, files).await?;
        tx.commit().await?;
        view
    };
    app.events
        .ticket(caller, view.ticket.id, crate::events::EventKind::Created)
        .await;
    Ok(view)
}

/// Opens a ticket inside `tx`: checks, row, search index, tags,
/// watchers, custom field values, audit records and files. The caller
/// checks permissions and [`attachments::check_files`] first.
pub(crate) async fn create_in(
    app: &App,
    tx: &mut Tx,
    caller: &Caller,
    input: &NewTicket,
    files: Vec<StagedFile>,
) -> Result<TicketView, AppError> {
    let view = create_in_tx(tx, caller, input).await?;
    if !files.is_empty() {
        let author = attachments::author_of(caller);
        attachments::store_files(app, tx, caller, view.ticket.id, None, author, files).await?;
    }
    Ok(view)
}

/// Creates a ticket without files inside `tx` (for channels that write
/// several things in one transaction).
pub(crate) async fn create_in_tx(
    tx: &mut Tx,
    caller: &Caller,
    input: &NewTicket,
) -> Result<TicketView, AppError> {
    let prepared = creation::prepare(&mut tx.conn(), caller, input).await?;
    let ticket = creation::write(tx, std::slice::from_ref(&prepared))
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal("the ticket insert returned no row".into()))?;
    Ok(creation::view(ticket, prepared))
}

/// The name of one row of `kind`, when there is an id.
pub(crate) async fn named(
    conn: &mut Conn<'_>,
    kind: Named,
    id: Option<i64>,
) -> Result<Option<NameRef>, AppError> {
    let Some(id) = id else {
        return Ok(None);
    };
    let name = kefu_store::names_of(conn, kind, &[id])
        .await?
        .pop()
        .map(|(_, n)| n)
        .unwrap_or_default();
    Ok(Some(NameRef { id, name }))
}

async fn view_of(
    conn: &mut Conn<'_>,
    ticket: Ticket,
    settings: &Settings,
) -> Result<TicketView, AppError> {
    let tags = tickets::tags(conn, ticket.id).await?;
    let watcher_ids = tickets::watchers(conn, ticket.id).await?;
    let name = |pairs: Vec<(i64, String)>, id: Option<i64>| {
        id.map(|id| NameRef {
            id,
            name: pairs
                .into_iter()
                .find(|(i, _)| *i == id)
                .map(|(_, n)| n)
                .unwrap_or_default(),
        })
    };
    let mut agent_ids = watcher_ids.clone();
    agent_ids.extend(ticket.assignee_id);
    let agents = kefu_store::names_of(conn, Named::Agents, &agent_ids).await?;
    let customer = named(conn, Named::Customers, ticket.customer_id).await?;
    let organization = named(conn, Named::Organizations, ticket.organization_id).await?;
    let category = named(conn, Named::TicketCategories, ticket.category_id).await?;
    let team = named(conn, Named::Teams, ticket.team_id).await?;
    let assignee = name(agents.clone(), ticket.assignee_id);
    let watchers = watcher_ids
        .iter()
        .map(|id| NameRef {
            id: *id,
            name: agents
                .iter()
                .find(|(i, _)| i == id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
        })
        .collect();
    let parent = match ticket.parent_id {
        Some(id) => Some(NameRef {
            id,
            name: tickets::get(conn, id).await?.subject,
        }),
        None => None,
    };
    let child_rows = tickets::search(
        conn,
        &Filter {
            parent_id: Some(ticket.id),
            ..Filter::default()
        },
        Sort::Oldest,
        &After::Start,
        100,
    )
    .await?;
    let children = summaries(conn, child_rows).await?;
    let related_ids = tickets::links(conn, ticket.id).await?;
    let related_rows = tickets::get_many(conn, &related_ids).await?;
    let related = summaries(conn, related_rows).await?;
    let steps = tickets::steps(conn, ticket.id).await?;
    let owners: HashMap<i64, String> = kefu_store::names_of(
        conn,
        Named::Agents,
        &steps.iter().filter_map(|s| s.owner_id).collect::<Vec<_>>(),
    )
    .await?
    .into_iter()
    .collect();
    let plan = steps
        .into_iter()
        .map(|step| PlanStepView {
            owner_name: step.owner_id.and_then(|o| owners.get(&o).cloned()),
            step,
        })
        .collect();
    let fields_defined = custom_fields::all(conn, FieldTarget::Ticket).await?;
    let custom = if fields_defined.iter().any(|f| f.active) {
        let values: Vec<(i64, String)> =
            custom_fields::values_of(conn, FieldTarget::Ticket, &[ticket.id])
                .await?
                .into_iter()
                .map(|(_, field, value)| (field, value))
                .collect();
        values_json(&fields_defined, &values)
    } else {
        serde_json::Map::new()
    };
    let warn = crate::sla::warnings(conn).await?;
    let sla = crate::sla::view_of(&ticket, &warn, Utc::now());
    Ok(TicketView {
        sla,
        parent,
        children,
        related,
        plan,
        custom_fields: custom,
        number: rules::display_number(ticket.id),
        matrix_priority: settings
            .priority_matrix
            .priority(ticket.urgency, ticket.impact),
        next_statuses: ticket.status.next().to_vec(),
        tags,
        watchers,
        customer,
        organization,
        category,
        team,
        assignee,
        ticket,
    })
}

/// One ticket with names resolved.
pub async fn get_ticket(app: &App, caller: &Caller, id: i64) -> Result<TicketView, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    let ticket = tickets::get(&mut reader.conn(), id).await?;
    let settings = tickets::settings(&mut reader.conn()).await?;
    view_of(&mut reader.conn(), ticket, &settings).await
}

/// One ticket with its conversation and every change, oldest first.
pub async fn ticket_detail(app: &App, caller: &Caller, id: i64) -> Result<TicketDetail, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    let ticket = tickets::get(&mut reader.conn(), id).await?;
    let settings = tickets::settings(&mut reader.conn()).await?;
    let view = view_of(&mut reader.conn(), ticket, &settings).await?;
    let messages = tickets::messages(&mut reader.conn(), id).await?;
    let attachments = kefu_store::attachments::for_ticket(&mut reader.conn(), id).await?;
    let history = audit_log::for_record(&mut reader.conn(), "ticket", id).await?;
    let mut agent_ids: Vec<i64> = messages
        .iter()
        .filter_map(|m| match m.author {
            Author::Agent(a) => Some(a),
            _ => None,
        })
        .collect();
    agent_ids.extend(
        history
            .iter()
            .filter(|r| r.actor_kind == "agent")
            .filter_map(|r| r.actor_ref.parse::<i64>().ok()),
    );
    let agents: HashMap<i64, String> =
        kefu_store::names_of(&mut reader.conn(), Named::Agents, &agent_ids)
            .await?
            .into_iter()
            .collect();
    let mut customer_ids: Vec<i64> = messages
        .iter()
        .filter_map(|m| match m.author {
            Author::Customer(c) => Some(c),
            _ => None,
        })
        .collect();
    customer_ids.extend(
        history
            .iter()
            .filter(|r| r.actor_kind == "customer")
            .filter_map(|r| r.actor_ref.parse::<i64>().ok()),
    );
    let customer_names: HashMap<i64, String> =
        kefu_store::names_of(&mut reader.conn(), Named::Customers, &customer_ids)
            .await?
            .into_iter()
            .collect();
    let mut timeline: Vec<TimelineItem> = messages
        .into_iter()
        .map(|m| {
            let author_name = match m.author {
                Author::Agent(a) => agents.get(&a).cloned().unwrap_or_default(),
                Author::Customer(c) => customer_names.get(&c).cloned().unwrap_or_default(),
                Author::System => "Kefu".to_owned(),
            };
            let files = attachments
                .iter()
                .filter(|a| a.message_id == Some(m.id))
                .cloned()
                .collect();
            TimelineItem::Message(MessageView {
                message: m,
                author_name,
                attachments: files,
            })
        })
        .collect();
    for record in history {
        let actor = match record.actor_kind.as_str() {
            "agent" => record
                .actor_ref
                .parse::<i64>()
                .ok()
                .and_then(|id| agents.get(&id).cloned())
                .unwrap_or_else(|| format!("agent:{}", record.actor_ref)),
            // A customer acting through the portal or the web form, by name.
            "customer" => record
                .actor_ref
                .parse::<i64>()
                .ok()
                .and_then(|id| customer_names.get(&id).cloned())
                .unwrap_or_else(|| format!("customer:{}", record.actor_ref)),
            other => format!("{other}:{}", record.actor_ref),
        };
        // The record of creation is written with the ticket; a ticket made
        // with an earlier time (imported, demo) is shown when it was made.
        let at = if record.action == "create" {
            view.ticket.created_at.min(record.at)
        } else {
            record.at
        };
        timeline.push(TimelineItem::Change {
            at,
            actor,
            action: record.action,
            changes: record.changes,
        });
    }
    timeline.sort_by_key(TimelineItem::at);
    Ok(TicketDetail {
        view,
        timeline,
        attachments,
    })
}

/// Changes a ticket's properties if nobody else changed it since
/// `changes.version`. Priority follows the matrix when urgency or impact
/// change, unless it was overridden with a reason.
pub async fn update_ticket(
    app: &App,
    caller: &Caller,
    id: i64,
    changes: TicketChanges,
) -> Result<TicketView, AppError> {
    caller.require(Permission::ManageTickets)?;
    let mut tx = app.store.write().await?;
    let after = update_in(&mut tx, caller, id, &changes).await?;
    let settings = tickets::settings(&mut tx.conn()).await?;
    let view = view_of(&mut tx.conn(), after, &settings).await?;
    tx.commit().await?;
    app.events
        .ticket(caller, id, crate::events::EventKind::Changed)
        .await;
    Ok(view)
}

/// [`update_ticket`] inside a caller's transaction (macros, bulk actions).
pub(crate) async fn update_in(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    changes: &TicketChanges,
) -> Result<Ticket, AppError> {
    let before = tickets::get(&mut tx.conn(), id).await?;
    if before.version != changes.version {
        return Err(AppError::Conflict {
            current_version: before.version,
        });
    }
    if matches!(before.status, Status::Merged) {
        return Err(AppError::invalid(
            "status",
            "this ticket was merged into another; change that one",
        ));
    }
    let settings = tickets::settings(&mut tx.conn()).await?;
    let old_tags = tickets::tags(&mut tx.conn(), id).await?;
    let old_watchers = tickets::watchers(&mut tx.conn(), id).await?;
    let mut f = TicketFields::of(&before);
    if let Some(v) = &changes.subject {
        f.subject = validate::name("subject", v, rules::SUBJECT_MAX)?;
    }
    if let Some(v) = &changes.description {
        f.description = text(Some(v), "description", rules::BODY_MAX)?;
    }
    if let Some(v) = &changes.ticket_type {
        f.ticket_type = TicketType::parse_field("type", v)?;
    }
    if let Some(v) = &changes.service_kind {
        f.service_kind = match blank(v.as_ref()) {
            Some(k) => Some(ServiceKind::parse_field("service_kind", k)?),
            None => None,
        };
    }
    if f.ticket_type != TicketType::ServiceRequest {
        f.service_kind = None;
    }
    if let Some(v) = changes.category_id {
        f.category_id = v;
    }
    if let Some(v) = &changes.urgency {
        f.urgency = Level::parse_field("urgency", v)?;
    }
    if let Some(v) = &changes.impact {
        f.impact = Level::parse_field("impact", v)?;
    }
    let reason = match &changes.priority_reason {
        Some(r) => text(Some(r), "priority_reason", 500)?,
        None => before.priority_reason.clone(),
    };
    let requested: Option<String> = match &changes.priority {
        Some(Some(p)) => Some(p.clone()),
        Some(None) => None,
        // Not sent: an override stays while its reason does.
        None if !before.priority_reason.is_empty() => Some(before.priority.as_str().to_owned()),
        None => None,
    };
    let (priority, priority_reason) = priority_of(
        &settings.priority_matrix,
        f.urgency,
        f.impact,
        requested
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty()),
        &reason,
    )?;
    f.priority = priority;
    f.priority_reason = priority_reason;
    if let Some(v) = &changes.channel {
        f.channel = Channel::parse_field("channel", v)?;
    }
    if let Some(v) = changes.customer_id {
        let customer = ticket_customer(&mut tx.conn(), v).await?;
        f.customer_id = customer.as_ref().map(|c| c.id);
        f.organization_id = customer.and_then(|c| c.organization_id);
    }
    if let Some(v) = &changes.expectation {
        f.expectation = text(Some(v), "expectation", 2000)?;
    }
    if let Some(v) = &changes.wanted_by {
        f.wanted_by = date(v.as_deref(), "wanted_by")?;
    }
    if let Some(v) = changes.team_id {
        f.team_id = v;
    }
    if let Some(v) = changes.assignee_id {
        f.assignee_id = v;
    }
    // A category switched off later must not block other edits.
    let mut check = f.clone();
    if check.category_id == before.category_id {
        check.category_id = None;
    }
    if check.assignee_id == before.assignee_id {
        check.assignee_id = None;
    }
    check_references(&mut tx.conn(), &check).await?;
    let tags = match &changes.tags {
        Some(values) => customer_rules::tags("tags", values)?,
        None => old_tags.clone(),
    };
    let watchers = match &changes.watchers {
        Some(ids) => check_watchers(&mut tx.conn(), ids).await?,
        None => old_watchers.clone(),
    };
    let custom_change = match &changes.custom_fields {
        Some(given) => {
            let fields_defined = custom_fields::all(&mut tx.conn(), FieldTarget::Ticket).await?;
            let old: Vec<(i64, String)> =
                custom_fields::values_of(&mut tx.conn(), FieldTarget::Ticket, &[id])
                    .await?
                    .into_iter()
                    .map(|(_, field, value)| (field, value))
                    .collect();
            let new = check_values(&fields_defined, given, &old, Requirement::Enforced)?;
            (new != old).then_some((old, new))
        }
        None => None,
    };
    let mut after = tickets::update(&mut tx.conn(), id, changes.version, &f).await?;
    if after.subject != before.subject || after.description != before.description {
        reindex(&mut tx.conn(), &after).await?;
    }
    if let Some((old, new)) = &custom_change {
        replace_values(
            tx,
            caller,
            FieldTarget::Ticket,
            id,
            Action::Update,
            old,
            new,
        )
        .await?;
    }
    if tags != old_tags {
        tickets::set_tags(&mut tx.conn(), id, &tags).await?;
    }
    if watchers != old_watchers {
        tickets::set_watchers(&mut tx.conn(), id, &watchers).await?;
    }
    // A new priority, type, channel, tag or customer may mean a new policy
    // or new targets; the audit record shows the due times that follow.
    if let Some(sla) = crate::sla::refresh(tx, &[id], &[ClockEvent::Recompute], Utc::now())
        .await?
        .remove(&id)
    {
        after.sla = sla;
    }
    record_change(
        tx,
        caller,
        "ticket",
        id,
        Action::Update,
        &AuditSnapshot {
            ticket: &before,
            tags: &old_tags,
            watchers: &old_watchers,
            reason: None,
        },
        &AuditSnapshot {
            ticket: &after,
            tags: &tags,
            watchers: &watchers,
            reason: None,
        },
    )
    .await?;
    crate::routing::mark(tx, &[id]).await?;
    // Boxed: a rule's own change comes back through here (and stops).
    Box::pin(crate::automations::run(
        tx,
        caller,
        Trigger::TicketUpdated,
        &[id],
    ))
    .await?;
    crate::webhooks::emit(
        tx,
        WebhookEvent::TicketUpdated,
        &[(
            Some(id),
            serde_json::json!({"ticket": &after, "tags": &tags}),
        )],
    )
    .await?;
    Ok(after)
}

/// The overdue explanation a resolution needs (超时须说明): none when the
/// ticket kept every SLA target; otherwise the category, one of those the
/// settings offer, and a text, or a refusal naming what is missing.
async fn overdue_explanation(
    tx: &mut Tx,
    before: &Ticket,
    settings: &Settings,
    change: &StatusChange,
) -> Result<Option<(String, String)>, AppError> {
    let warn = crate::sla::warnings(&mut tx.conn()).await?;
    let ran_over = crate::sla::view_of(before, &warn, Utc::now()).is_some_and(|v| {
        v.targets
            .iter()
            .any(|t| matches!(t.state, "breached" | "missed"))
    });
    if !ran_over {
        return Ok(None);
    }
    let valid = &settings.overdue_reasons;
    let category = match blank(change.overdue_category.as_ref()) {
        Some(c) if valid.iter().any(|v| v == c) => c.to_owned(),
        _ => {
            return Err(AppError::invalid(
                "overdue_category",
                format!(
                    "the ticket ran over its SLA: choose why; valid: {}",
                    valid.join(", ")
                ),
            ));
        }
    };
    let reason = text(change.overdue_reason.as_ref(), "overdue_reason", 1000)?;
    if reason.is_empty() {
        return Err(AppError::invalid(
            "overdue_reason",
            "must not be empty: explain why the ticket ran over its SLA",
        ));
    }
    Ok(Some((category, reason)))
}

/// Moves a ticket along its lifecycle, with the reason and, to resolve or
/// close, the resolution; refused moves name the allowed ones.
pub async fn change_status(
    app: &App,
    caller: &Caller,
    id: i64,
    change: StatusChange,
) -> Result<TicketView, AppError> {
    caller.require(Permission::ManageTickets)?;
    let mut tx = app.store.write().await?;
    let after = change_status_in(&mut tx, caller, id, &change).await?;
    let settings = tickets::settings(&mut tx.conn()).await?;
    let view = view_of(&mut tx.conn(), after, &settings).await?;
    tx.commit().await?;
    app.events
        .ticket(caller, id, crate::events::EventKind::Changed)
        .await;
    Ok(view)
}

/// [`change_status`] inside a caller's transaction (macros, bulk actions).
pub(crate) async fn change_status_in(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    change: &StatusChange,
) -> Result<Ticket, AppError> {
    let to = Status::parse_field("status", &change.status)?;
    let reason = text(change.reason.as_ref(), "reason", 1000)?;
    let before = tickets::get(&mut tx.conn(), id).await?;
    if before.version != change.version {
        return Err(AppError::Conflict {
            current_version: before.version,
        });
    }
    let settings = tickets::settings(&mut tx.conn()).await?;
    let mut f = TicketFields::of(&before);
    if let Some(category) = blank(change.resolution_category.as_ref()) {
        f.resolution_category = Some(ResolutionCategory::parse_field(
            "resolution_category",
            category,
        )?);
    }
    if change.resolution.is_some() {
        f.resolution = text(change.resolution.as_ref(), "resolution", rules::BODY_MAX)?;
    }
    let closing = matches!(to, Status::Resolved | Status::Closed);
    // The explanation is the service team's duty: a customer closing their
    // own request in the portal is never asked for it.
    let explanation = if closing
        && !matches!(before.status, Status::Resolved | Status::Closed)
        && !matches!(caller.actor, kefu_domain::audit::Actor::Customer(_))
    {
        overdue_explanation(tx, &before, &settings, change).await?
    } else {
        None
    };
    if closing && f.resolution_category.is_none() && !f.resolution.is_empty() {
        return Err(AppError::invalid(
            "resolution_category",
            format!(
                "choose how the ticket ended; valid: {}",
                ResolutionCategory::ALL
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if closing {
        let open_children: Vec<String> = tickets::search(
            &mut tx.conn(),
            &Filter {
                parent_id: Some(id),
                statuses: Status::ACTIVE.to_vec(),
                ..Filter::default()
            },
            Sort::Oldest,
            &After::Start,
            20,
        )
        .await?
        .iter()
        .map(|c| rules::display_number(c.id))
        .collect();
        if !open_children.is_empty() {
            return Err(AppError::invalid(
                "status",
                format!(
                    "child tickets are still open: {}; resolve them first",
                    open_children.join(", ")
                ),
            ));
        }
    }
    let now = kefu_store::now();
    rules::check_transition(
        &TransitionFacts {
            from: before.status,
            resolved_at: before.resolved_at.or(before.closed_at),
            reopen_days: settings.reopen_days,
            has_resolution: f.resolution_category.is_some() && !f.resolution.is_empty(),
            has_reason: !reason.is_empty(),
            now,
        },
        to,
    )?;
    f.status = to;
    match to {
        Status::Resolved => f.resolved_at = Some(now),
        Status::Closed => {
            f.closed_at = Some(now);
            f.resolved_at = f.resolved_at.or(Some(now));
        }
        Status::Open if !before.status.is_active() => {
            f.resolved_at = None;
            f.closed_at = None;
        }
        _ => {}
    }
    let mut after = tickets::update(&mut tx.conn(), id, change.version, &f).await?;
    if after.status == Status::Resolved {
        // A ticket that came by email hears by email that it was resolved.
        crate::mail_out::queue_resolved(tx, &after).await?;
    }
    let event = ClockEvent::Status {
        from: before.status,
        to: after.status,
    };
    if let Some(mut sla) = crate::sla::refresh(tx, &[id], &[event], Utc::now())
        .await?
        .remove(&id)
    {
        if let Some((category, reason)) = explanation {
            sla.overdue_category = Some(category);
            sla.overdue_reason = reason;
            kefu_store::sla::set_ticket_sla(&mut tx.conn(), id, &sla).await?;
        }
        after.sla = sla;
    }
    let tags = tickets::tags(&mut tx.conn(), id).await?;
    let watchers = tickets::watchers(&mut tx.conn(), id).await?;
    record_change(
        tx,
        caller,
        "ticket",
        id,
        Action::Update,
        &AuditSnapshot {
            ticket: &before,
            tags: &tags,
            watchers: &watchers,
            reason: None,
        },
        &AuditSnapshot {
            ticket: &after,
            tags: &tags,
            watchers: &watchers,
            reason: Some(reason.as_str()).filter(|r| !r.is_empty()),
        },
    )
    .await?;
    crate::routing::mark(tx, &[id]).await?;
    // Boxed: a rule's own change comes back through here (and stops).
    Box::pin(crate::automations::run(
        tx,
        caller,
        Trigger::TicketUpdated,
        &[id],
    ))
    .await?;
    crate::webhooks::emit(
        tx,
        WebhookEvent::TicketUpdated,
        &[(
            Some(id),
            serde_json::json!({"ticket": &after, "tags": &tags}),
        )],
    )
    .await?;
    Ok(after)
}

/// Adds a public reply or an internal note. The first public reply marks
/// the first response; replying to a new ticket opens it.
pub async fn add_message(
    app: &App,
    caller: &Caller,
    id: i64,
    input: MessageInput,
) -> Result<MessageView, AppError> {
    add_message_with_files(app, caller, id, input, Vec::new()).await
}

/// Adds a reply or note with attached files, all in one transaction; the
/// text may be empty when files come with it.
pub async fn add_message_with_files(
    app: &App,
    caller: &Caller,
    id: i64,
    input: MessageInput,
    files: Vec<StagedFile>,
) -> Result<MessageView, AppError> {
    caller.require(Permission::ManageTickets)?;
    let kind = MessageKind::parse_field("kind", &input.kind)?;
    let body = text(Some(&input.body), "body", rules::BODY_MAX)?;
    if body.is_empty() && files.is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    attachments::check_files(&files)?;
    let author = attachments::author_of(caller);
    let mut tx = app.store.write().await?;
    if input.gives_result && kind != MessageKind::Reply {
        return Err(AppError::invalid(
            "gives_result",
            "only a reply the customer sees can give them the result",
        ));
    }
    let copies = match input.cc.as_deref() {
        Some(_) if kind != MessageKind::Reply => {
            return Err(AppError::invalid(
                "cc",
                "only a reply the customer sees goes out by email",
            ));
        }
        Some(list) => Some(copies_of(list)?),
        None => None,
    };
    let message =
        append_message_copying(&mut tx, caller, id, kind, author, body, copies.as_deref()).await?;
    if input.gives_result {
        let now = Utc::now();
        crate::sla::refresh(&mut tx, &[id], &[ClockEvent::ResultGiven], now).await?;
        record_change(
            &mut tx,
            caller,
            "ticket",
            id,
            Action::Update,
            &serde_json::json!({}),
            &serde_json::json!({"result_answered": message.id}),
        )
        .await?;
    }
    let files =
        attachments::store_files(app, &mut tx, caller, id, Some(message.id), author, files).await?;
    let author_name = match author {
        Author::Agent(a) => kefu_store::names_of(&mut tx.conn(), Named::Agents, &[a])
            .await?
            .pop()
            .map(|(_, n)| n)
            .unwrap_or_default(),
        _ => String::new(),
    };
    tx.commit().await?;
    app.events
        .ticket(caller, id, crate::events::EventKind::Changed)
        .await;
    Ok(MessageView {
        message,
        author_name,
        attachments: files,
    })
}

/// Appends a message inside `tx` and applies what it implies for the
/// ticket (first response, new → open), all audited.
pub(crate) async fn append_message(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    kind: MessageKind,
    author: Author,
    body: String,
) -> Result<Message, AppError> {
    append_message_copying(tx, caller, id, kind, author, body, None).await
}

/// [`append_message`] with the addresses an agent's emailed reply
/// copies (`None`: those the customer's last message copied).
async fn append_message_copying(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    kind: MessageKind,
    author: Author,
    body: String,
    copies: Option<&[String]>,
) -> Result<Message, AppError> {
    let before = tickets::get_for_update(&mut tx.conn(), id).await?;
    if matches!(before.status, Status::Merged) {
        return Err(AppError::invalid(
            "status",
            "this ticket was merged into another; write on that one",
        ));
    }
    let now = kefu_store::now();
    let message_id = tickets::add_messages(
        &mut tx.conn(),
        &[NewMessage {
            ticket_id: id,
            kind,
            author,
            body: body.clone(),
            at: now,
        }],
    )
    .await?
    .pop()
    .ok_or_else(|| AppError::Internal("the message insert returned no id".into()))?;
    record_change(
        tx,
        caller,
        "ticket_message",
        message_id,
        Action::Create,
        &(),
        &serde_json::json!({ "ticket_id": id, "kind": kind }),
    )
    .await?;
    reindex(&mut tx.conn(), &before).await?;
    if let Author::Agent(writer) = author
        && body.contains('@')
    {
        notify_mentions(tx, id, writer, &body).await?;
    }
    if kind == MessageKind::Reply && matches!(author, Author::Agent(_)) {
        // A ticket that came by email is answered by email.
        crate::mail_out::queue_reply(tx, &before, message_id, &body, copies).await?;
    }
    let by_agent = matches!(author, Author::Agent(_) | Author::System);
    let mut f = TicketFields::of(&before);
    if kind == MessageKind::Reply && by_agent {
        f.first_response_at = f.first_response_at.or(Some(now));
        if f.status == Status::New {
            f.status = Status::Open;
        }
    }
    // The customer answered what the agents were waiting for, or came
    // back to a resolved request within the reopen window.
    let mut reason = None;
    if matches!(author, Author::Customer(_)) {
        let reopen_days = if before.status == Status::Resolved {
            tickets::settings(&mut tx.conn()).await?.reopen_days
        } else {
            0
        };
        let to = rules::status_after_customer_reply(
            before.status,
            before.resolved_at,
            reopen_days,
            now,
        )?;
        if to == Status::Open && before.status == Status::Resolved {
            f.resolved_at = None;
            f.closed_at = None;
            reason = Some(rules::CUSTOMER_REOPEN_REASON);
        }
        f.status = to;
    }
    if f != TicketFields::of(&before) {
        let after = tickets::update(&mut tx.conn(), id, before.version, &f).await?;
        crate::routing::mark(tx, &[id]).await?;
        let tags = tickets::tags(&mut tx.conn(), id).await?;
        let watchers = tickets::watchers(&mut tx.conn(), id).await?;
        record_change(
            tx,
            caller,
            "ticket",
            id,
            Action::Update,
            &AuditSnapshot {
                ticket: &before,
                tags: &tags,
                watchers: &watchers,
                reason: None,
            },
            &AuditSnapshot {
                ticket: &after,
                tags: &tags,
                watchers: &watchers,
                reason,
            },
        )
        .await?;
    }
    let mut events = Vec::with_capacity(2);
    if f.status != before.status {
        events.push(ClockEvent::Status {
            from: before.status,
            to: f.status,
        });
    }
    if matches!(author, Author::Customer(_)) {
        events.push(ClockEvent::CustomerMessage);
    } else if kind == MessageKind::Reply {
        events.push(ClockEvent::PublicReply);
    }
    if !events.is_empty() {
        crate::sla::refresh(tx, &[id], &events, now).await?;
    }
    let message = Message {
        id: message_id,
        ticket_id: id,
        kind,
        author,
        body,
        created_at: now,
    };
    if matches!(author, Author::Customer(_)) {
        Box::pin(crate::automations::run(
            tx,
            caller,
            Trigger::CustomerReplied,
            &[id],
        ))
        .await?;
    }
    crate::webhooks::emit(
        tx,
        WebhookEvent::TicketMessage,
        &[(Some(id), serde_json::json!({"message": &message}))],
    )
    .await?;
    Ok(message)
}

/// Queue and search parameters as the API and the pages receive them.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// `mine`, `team` (the caller's teams), `unassigned` or `all` (default).
    pub view: Option<String>,
    /// Comma-separated statuses, or `active` (default) or `any`.
    pub status: Option<String>,
    /// Comma-separated types.
    #[serde(rename = "type")]
    pub ticket_type: Option<String>,
    /// Comma-separated priorities.
    pub priority: Option<String>,
    /// Comma-separated channels.
    pub channel: Option<String>,
    /// Category (and everything below it).
    pub category_id: Option<i64>,
    /// Tag.
    pub tag: Option<String>,
    /// Assignee.
    pub assignee_id: Option<i64>,
    /// Team.
    pub team_id: Option<i64>,
    /// Customer.
    pub customer_id: Option<i64>,
    /// Organization.
    pub organization_id: Option<i64>,
    /// Customer grade (`vip`, `a`, `b`, `c`).
    pub grade: Option<String>,
    /// Words in the subject, description or conversation (Chinese is cut
    /// into words, English stemmed), or a ticket number (`#1024`).
    pub q: Option<String>,
    /// RFC 3339: created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// RFC 3339: created before.
    pub created_until: Option<DateTime<Utc>>,
    /// RFC 3339: changed at or after.
    pub updated_from: Option<DateTime<Utc>>,
    /// RFC 3339: changed before.
    pub updated_until: Option<DateTime<Utc>>,
    /// `YYYY-MM-DD`: wanted by this date or earlier.
    pub due_by: Option<String>,
    /// A ticket custom field's key, to filter by its `value`.
    pub field: Option<String>,
    /// The value the custom field `field` must have.
    pub value: Option<String>,
    /// Where the ticket stands against its SLA now: `breached`, `at_risk`,
    /// `attention` (either) or `running` (some target running).
    pub sla: Option<String>,
    /// `newest` (default), `oldest`, `updated`, `priority`, `due` (soonest
    /// SLA due time first).
    pub sort: Option<String>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

/// One row of a queue.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TicketSummary {
    /// Id.
    pub id: i64,
    /// `#id`.
    pub number: String,
    /// Subject.
    pub subject: String,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Type.
    #[serde(rename = "type")]
    pub ticket_type: TicketType,
    /// Channel.
    pub channel: Channel,
    /// Customer.
    pub customer: Option<NameRef>,
    /// Team.
    pub team: Option<NameRef>,
    /// Assignee.
    pub assignee: Option<NameRef>,
    /// Wanted by.
    pub wanted_by: Option<NaiveDate>,
    /// The most pressing SLA state: `breached`, `at_risk`, `running`,
    /// `paused`, `met` or `missed` (none without a policy).
    pub sla_state: Option<&'static str>,
    /// When the next target still running is due.
    pub sla_due_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// A page of tickets and the cursor of the next.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TicketPage {
    /// The tickets.
    pub items: Vec<TicketSummary>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

fn codes<T>(
    value: Option<&String>,
    parse: fn(&str, &str) -> Result<T, kefu_domain::DomainError>,
    field: &str,
) -> Result<Vec<T>, AppError> {
    let mut out = Vec::new();
    for part in value
        .map(|v| v.split(','))
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        out.push(parse(field, part)?);
    }
    Ok(out)
}

fn sla_filter(code: &str) -> Result<SlaFilter, AppError> {
    Ok(match code {
        "breached" => SlaFilter::Breached,
        "at_risk" => SlaFilter::AtRisk,
        "attention" => SlaFilter::Attention,
        "running" => SlaFilter::Running,
        other => {
            return Err(AppError::invalid(
                "sla",
                format!(
                    "unknown SLA state {other:?}; valid: breached, at_risk, attention, running"
                ),
            ));
        }
    })
}

fn sort_of(value: Option<&str>) -> Result<Sort, AppError> {
    Ok(match value.map(str::trim).unwrap_or("") {
        "" | "newest" => Sort::Newest,
        "oldest" => Sort::Oldest,
        "updated" => Sort::Updated,
        "priority" => Sort::Priority,
        "due" => Sort::Due,
        other => {
            return Err(AppError::invalid(
                "sort",
                format!("unknown sort {other:?}; valid: newest, oldest, updated, priority, due"),
            ));
        }
    })
}

fn cursor_of(sort: Sort, cursor: Option<&str>) -> Result<After, AppError> {
    let Some(text) = cursor.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(After::Start);
    };
    let bad = || AppError::invalid("cursor", "is not a cursor this API returned");
    let (key, id) = match text.rsplit_once('~') {
        Some((key, id)) => (Some(key), id),
        None => (None, text),
    };
    let id: i64 = id.parse().map_err(|_| bad())?;
    Ok(match (sort, key) {
        (Sort::Newest | Sort::Oldest, None) => After::Id(id),
        (Sort::Updated, Some(at)) => After::Updated(
            DateTime::parse_from_rfc3339(at)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id,
        ),
        (Sort::Priority, Some(p)) => After::Priority(
            Priority::parse_field("cursor", p)
                .map_err(|_| bad())?
                .as_str()
                .to_owned(),
            id,
        ),
        (Sort::Due, Some(at)) => After::Due(
            DateTime::parse_from_rfc3339(at)
                .map_err(|_| bad())?
                .with_timezone(&Utc),
            id,
        ),
        _ => return Err(bad()),
    })
}

fn cursor_after(sort: Sort, t: &Ticket) -> String {
    match sort {
        Sort::Newest | Sort::Oldest => t.id.to_string(),
        Sort::Updated => format!("{}~{}", t.updated_at.to_rfc3339(), t.id),
        Sort::Priority => format!("{}~{}", t.priority.as_str(), t.id),
        Sort::Due => format!(
            "{}~{}",
            t.sla.sla_next_due_at.unwrap_or(t.created_at).to_rfc3339(),
            t.id
        ),
    }
}

/// Lists tickets: a queue (mine, my teams', unassigned, all) narrowed by
/// filters, sorted, a page at a time.
pub async fn list_tickets(
    app: &App,
    caller: &Caller,
    query: &TicketQuery,
) -> Result<TicketPage, AppError> {
    caller.require(Permission::ViewTickets)?;
    let limit = query.limit.unwrap_or(crate::page::DEFAULT_LIMIT);
    if !(1..=crate::page::MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid(
            "limit",
            format!("must be between 1 and {}", crate::page::MAX_LIMIT),
        ));
    }
    let sort = sort_of(query.sort.as_deref())?;
    let after = cursor_of(sort, query.cursor.as_deref())?;
    let mut reader = app.store.read().await?;
    let filter = filter_of(&mut reader.conn(), caller, query).await?;
    let rows = tickets::search(&mut reader.conn(), &filter, sort, &after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let mut rows = rows;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_cursor = if more {
        rows.last().map(|t| cursor_after(sort, t))
    } else {
        None
    };
    let items = summaries(&mut reader.conn(), rows).await?;
    Ok(TicketPage { items, next_cursor })
}

/// How many tickets a queue holds (for the workspace's counters).
pub async fn count_tickets(
    app: &App,
    caller: &Caller,
    query: &TicketQuery,
) -> Result<i64, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    let filter = filter_of(&mut reader.conn(), caller, query).await?;
    Ok(tickets::count(&mut reader.conn(), &filter).await?)
}

async fn filter_of(
    conn: &mut Conn<'_>,
    caller: &Caller,
    query: &TicketQuery,
) -> Result<Filter, AppError> {
    let statuses = match query.status.as_deref().map(str::trim) {
        None | Some("") | Some("active") => Status::ACTIVE.to_vec(),
        Some("any") => Vec::new(),
        Some(_) => codes(query.status.as_ref(), Status::parse_field, "status")?,
    };
    let mut filter = Filter {
        statuses,
        types: codes(query.ticket_type.as_ref(), TicketType::parse_field, "type")?,
        priorities: codes(query.priority.as_ref(), Priority::parse_field, "priority")?,
        channels: codes(query.channel.as_ref(), Channel::parse_field, "channel")?,
        tag: blank(query.tag.as_ref()).map(str::to_owned),
        assignee_id: query.assignee_id,
        customer_id: query.customer_id,
        organization_id: query.organization_id,
        created_from: query.created_from,
        created_until: query.created_until,
        updated_from: query.updated_from,
        updated_until: query.updated_until,
        due_by: date(query.due_by.as_deref(), "due_by")?,
        sla: match blank(query.sla.as_ref()) {
            None => None,
            Some(code) => Some((sla_filter(code)?, Utc::now())),
        },
        ..Filter::default()
    };
    if let Some(team) = query.team_id {
        filter.team_ids = Some(vec![team]);
    }
    if let Some(key) = blank(query.field.as_ref()) {
        let fields = custom_fields::all(conn, FieldTarget::Ticket).await?;
        filter.custom = Some(crate::custom_fields::filter_of(
            &fields,
            key,
            query.value.as_deref(),
        )?);
    }
    if let Some(grade) = blank(query.grade.as_ref()) {
        filter.grade = Some(
            customer_rules::Grade::parse_field("grade", grade)?
                .as_str()
                .to_owned(),
        );
    }
    if let Some(category) = query.category_id {
        let all = tickets::categories(conn).await?;
        let Some(root) = all.iter().find(|c| c.id == category) else {
            return Err(AppError::invalid(
                "category_id",
                format!("unknown category {category}"),
            ));
        };
        let prefix = format!("{} / ", root.path);
        filter.category_ids = all
            .iter()
            .filter(|c| c.id == category || c.path.starts_with(&prefix))
            .map(|c| c.id)
            .collect();
    }
    if let Some(q) = blank(query.q.as_ref()) {
        let looks_like_number = q.starts_with(['#', '＃']) || q.chars().all(|c| c.is_ascii_digit());
        match rules::parse_number(q) {
            // A number finds that ticket, whatever else is chosen.
            Some(number) if looks_like_number => {
                return Ok(Filter {
                    id: Some(number),
                    ..Filter::default()
                });
            }
            _ => {
                filter.terms = crate::search::query(q);
                if filter.terms.is_empty() {
                    filter.subject = Some(q.to_lowercase());
                }
            }
        }
    }
    match query.view.as_deref().map(str::trim).unwrap_or("all") {
        "" | "all" => {}
        "mine" => {
            filter.assignee_id =
                Some(caller.agent_id.ok_or_else(|| {
                    AppError::invalid("view", "\"mine\" needs a signed-in agent")
                })?);
        }
        "unassigned" => filter.unassigned = true,
        "team" => {
            let agent = caller
                .agent_id
                .ok_or_else(|| AppError::invalid("view", "\"team\" needs a signed-in agent"))?;
            filter.team_ids = Some(teams::of_member(conn, agent).await?);
        }
        other => {
            return Err(AppError::invalid(
                "view",
                format!("unknown view {other:?}; valid: mine, team, unassigned, all"),
            ));
        }
    }
    Ok(filter)
}

pub(crate) async fn summaries(
    conn: &mut Conn<'_>,
    rows: Vec<Ticket>,
) -> Result<Vec<TicketSummary>, AppError> {
    let ids = |f: fn(&Ticket) -> Option<i64>| rows.iter().filter_map(f).collect::<Vec<_>>();
    let customers: HashMap<i64, String> =
        kefu_store::names_of(conn, Named::Customers, &ids(|t| t.customer_id))
            .await?
            .into_iter()
            .collect();
    let agents: HashMap<i64, String> =
        kefu_store::names_of(conn, Named::Agents, &ids(|t| t.assignee_id))
            .await?
            .into_iter()
            .collect();
    let teams: HashMap<i64, String> = kefu_store::names_of(conn, Named::Teams, &ids(|t| t.team_id))
        .await?
        .into_iter()
        .collect();
    let named = |names: &HashMap<i64, String>, id: Option<i64>| {
        id.map(|id| NameRef {
            id,
            name: names.get(&id).cloned().unwrap_or_default(),
        })
    };
    let warn = crate::sla::warnings(conn).await?;
    let now = Utc::now();
    Ok(rows
        .into_iter()
        .map(|t| {
            let sla = crate::sla::view_of(&t, &warn, now);
            (t, sla)
        })
        .map(|(t, sla)| TicketSummary {
            sla_state: sla.as_ref().map(|s| s.state),
            sla_due_at: sla.as_ref().and_then(crate::sla::SlaView::next_due),
            number: rules::display_number(t.id),
            customer: named(&customers, t.customer_id),
            team: named(&teams, t.team_id),
            assignee: named(&agents, t.assignee_id),
            id: t.id,
            subject: t.subject,
            status: t.status,
            priority: t.priority,
            ticket_type: t.ticket_type,
            channel: t.channel,
            wanted_by: t.wanted_by,
            created_at: t.created_at,
            updated_at: t.updated_at,
        })
        .collect())
}

/// Input to add or change a category.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    /// The version read (changes only).
    #[serde(default)]
    pub version: Option<i64>,
    /// Parent category; none for a top-level one.
    #[serde(default)]
    pub parent_id: Option<i64>,
    /// Name (usually Chinese).
    pub name: String,
    /// English name.
    #[serde(default)]
    pub name_en: Option<String>,
    /// Offered for new tickets (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

/// Every category of the tree, by path.
pub async fn list_categories(app: &App, caller: &Caller) -> Result<Vec<Category>, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    Ok(tickets::categories(&mut reader.conn()).await?)
}

fn category_fields(
    all: &[Category],
    id: Option<i64>,
    input: &CategoryInput,
) -> Result<CategoryFields, AppError> {
    let name = validate::name("name", &input.name, 60)?;
    if name.contains(" / ") || name.contains('/') {
        return Err(AppError::invalid("name", "must not contain a slash"));
    }
    let name_en = text(input.name_en.as_ref(), "name_en", 60)?;
    let path = match input.parent_id {
        None => name.clone(),
        Some(parent) => {
            let Some(p) = all.iter().find(|c| c.id == parent) else {
                return Err(AppError::invalid(
                    "parent_id",
                    format!("category {parent} does not exist"),
                ));
            };
            if let Some(me) = id.and_then(|id| all.iter().find(|c| c.id == id))
                && (p.id == me.id || p.path.starts_with(&format!("{} / ", me.path)))
            {
                return Err(AppError::invalid(
                    "parent_id",
                    "a category cannot be placed under itself or its own subcategory",
                ));
            }
            format!("{} / {name}", p.path)
        }
    };
    Ok(CategoryFields {
        parent_id: input.parent_id,
        name,
        name_en,
        path,
        active: input.active.unwrap_or(true),
    })
}

/// Adds a category (administrators).
pub async fn create_category(
    app: &App,
    caller: &Caller,
    input: CategoryInput,
) -> Result<Category, AppError> {
    caller.require(Permission::ManageSettings)?;
    let mut tx = app.store.write().await?;
    let all = tickets::categories(&mut tx.conn()).await?;
    let fields = category_fields(&all, None, &input)?;
    let category = tickets::insert_category(&mut tx.conn(), &fields).await?;
    record_change(
        &mut tx,
        caller,
        "ticket_category",
        category.id,
        Action::Create,
        &(),
        &category,
    )
    .await?;
    tx.commit().await?;
    Ok(category)
}

/// Changes a category (administrators); a rename moves its subtree's paths.
pub async fn update_category(
    app: &App,
    caller: &Caller,
    id: i64,
    input: CategoryInput,
) -> Result<Category, AppError> {
    caller.require(Permission::ManageSettings)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must be the version you read"))?;
    let mut tx = app.store.write().await?;
    let all = tickets::categories(&mut tx.conn()).await?;
    let before = all
        .iter()
        .find(|c| c.id == id)
        .cloned()
        .ok_or(AppError::NotFound)?;
    let fields = category_fields(&all, Some(id), &input)?;
    let after =
        tickets::update_category(&mut tx.conn(), id, version, &fields, &before.path).await?;
    record_change(
        &mut tx,
        caller,
        "ticket_category",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// The ticket settings as the API shows and takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    /// The version read (0 before the first save).
    pub version: i64,
    /// Rows urgency high, medium, low; columns impact high, medium, low.
    pub priority_matrix: Vec<Vec<String>>,
    /// Days a resolved ticket may be reopened.
    pub reopen_days: i64,
    /// The overdue reason categories an agent picks from when resolving a
    /// ticket that ran over its SLA; absent keeps them as they are, empty
    /// restores the built-in list.
    #[serde(default)]
    pub overdue_reasons: Option<Vec<String>>,
}

/// The ticket settings.
pub async fn get_settings(app: &App, caller: &Caller) -> Result<SettingsInput, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    Ok(settings_view(&tickets::settings(&mut reader.conn()).await?))
}

fn settings_view(s: &Settings) -> SettingsInput {
    SettingsInput {
        version: s.version,
        priority_matrix: s
            .priority_matrix
            .0
            .iter()
            .map(|row| row.iter().map(|p| p.as_str().to_owned()).collect())
            .collect(),
        reopen_days: s.reopen_days,
        overdue_reasons: Some(s.overdue_reasons.clone()),
    }
}

/// Saves the priority matrix and reopen window (administrators).
pub async fn save_settings(
    app: &App,
    caller: &Caller,
    input: SettingsInput,
) -> Result<SettingsInput, AppError> {
    caller.require(Permission::ManageSettings)?;
    let cells: Vec<String> = input.priority_matrix.iter().flatten().cloned().collect();
    if input.priority_matrix.len() != 3 || input.priority_matrix.iter().any(|r| r.len() != 3) {
        return Err(AppError::invalid(
            "priority_matrix",
            "must be three rows (urgency high, medium, low) of three priorities (impact high, medium, low)",
        ));
    }
    let matrix = PriorityMatrix::from_codes("priority_matrix", &cells.join(","))?;
    if !(0..=365).contains(&input.reopen_days) {
        return Err(AppError::invalid(
            "reopen_days",
            "must be between 0 and 365",
        ));
    }
    let overdue = match &input.overdue_reasons {
        Some(list) => {
            let mut checked: Vec<String> = Vec::with_capacity(list.len());
            for (index, reason) in list.iter().enumerate() {
                if reason.trim().is_empty() {
                    continue;
                }
                let reason = validate::name(&format!("overdue_reasons[{index}]"), reason, 80)?;
                if !checked.contains(&reason) {
                    checked.push(reason);
                }
            }
            Some(checked)
        }
        None => None,
    };
    let mut tx = app.store.write().await?;
    let before = tickets::settings(&mut tx.conn()).await?;
    let overdue = overdue.unwrap_or_else(|| before.overdue_reasons.clone());
    let after = tickets::save_settings(
        &mut tx.conn(),
        input.version,
        &matrix,
        input.reopen_days,
        &overdue,
    )
    .await?;
    record_change(
        &mut tx,
        caller,
        "ticket_settings",
        1,
        Action::Update,
        &settings_view(&before),
        &settings_view(&after),
    )
    .await?;
    tx.commit().await?;
    Ok(settings_view(&after))
}

/// A customer's most recent tickets, for the 360° view.
pub(crate) async fn recent_for_customer(
    conn: &mut Conn<'_>,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<TicketSummary>, AppError> {
    let filter = Filter {
        customer_id: Some(customer_id),
        ..Filter::default()
    };
    let rows = tickets::search(conn, &filter, Sort::Newest, &After::Start, limit).await?;
    summaries(conn, rows).await
}

/// How many of a customer's tickets are still being worked on.
pub(crate) async fn open_count_for_customer(
    conn: &mut Conn<'_>,
    customer_id: i64,
) -> Result<i64, AppError> {
    let filter = Filter {
        customer_id: Some(customer_id),
        statuses: Status::ACTIVE.to_vec(),
        ..Filter::default()
    };
    Ok(tickets::count(conn, &filter).await?)
}

/// What a search across the floor finds.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SearchResults {
    /// The words searched for, as the index holds them (a phrase's words together).
    pub terms: Vec<String>,
    /// Tickets whose subject, description or conversation hold every word, newest first.
    pub tickets: Vec<TicketSummary>,
    /// Customers whose name or contact details match.
    pub customers: Vec<crate::customers::CustomerSummary>,
}

/// Searches tickets (newest first, Chinese segmented, English stemmed) and
/// customers (name and contact details) at once.
pub async fn search(
    app: &App,
    caller: &Caller,
    text: &str,
    limit: i64,
) -> Result<SearchResults, AppError> {
    caller.require(Permission::ViewTickets)?;
    if !(1..=crate::page::MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid(
            "limit",
            format!("must be between 1 and {}", crate::page::MAX_LIMIT),
        ));
    }
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::invalid("q", "must not be empty"));
    }
    let phrases = crate::search::query(text);
    let terms = phrases.iter().map(|p| p.join("")).collect();
    let mut reader = app.store.read().await?;
    let ids = match rules::parse_number(text) {
        Some(number) if text.starts_with(['#', '＃']) => vec![number],
        _ => tickets::search_newest(&mut reader.conn(), &phrases, limit).await?,
    };
    let mut found = tickets::get_many(&mut reader.conn(), &ids).await?;
    found.sort_by_key(|t| ids.iter().position(|id| *id == t.id));
    let tickets = summaries(&mut reader.conn(), found).await?;
    drop(reader);
    let customers = if caller.role.allows(Permission::ViewCustomers) {
        crate::customers::list_customers(
            app,
            caller,
            &crate::customers::CustomerQuery {
                q: Some(text.to_owned()),
                limit: Some(limit.min(20)),
                ..crate::customers::CustomerQuery::default()
            },
        )
        .await?
        .items
    } else {
        Vec::new()
    };
    Ok(SearchResults {
        terms,
        tickets,
        customers,
    })
}

/// Input to add a step to a ticket's service plan.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanStepInput {
    /// What will be done.
    pub title: String,
    /// Who does it.
    #[serde(default)]
    pub owner_id: Option<i64>,
    /// `YYYY-MM-DD` by when.
    #[serde(default)]
    pub due_on: Option<String>,
}

/// Input to change a plan step: the version read and the fields to change.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanStepChanges {
    /// The version read.
    pub version: i64,
    /// What.
    #[serde(default)]
    pub title: Option<String>,
    /// Who; `null` clears.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub owner_id: Option<Option<i64>>,
    /// By when; `null` clears.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<String>")]
    pub due_on: Option<Option<String>>,
    /// Checked off or not.
    #[serde(default)]
    pub done: Option<bool>,
}

async fn check_owner(conn: &mut Conn<'_>, owner: Option<i64>) -> Result<(), AppError> {
    if let Some(agent) = owner
        && kefu_store::agents::get(conn, agent).await.is_err()
    {
        return Err(AppError::invalid(
            "owner_id",
            format!("agent {agent} does not exist"),
        ));
    }
    Ok(())
}

/// Adds a step to a ticket's service plan.
pub async fn add_plan_step(
    app: &App,
    caller: &Caller,
    ticket_id: i64,
    input: PlanStepInput,
) -> Result<PlanStep, AppError> {
    caller.require(Permission::ManageTickets)?;
    let title = validate::name("title", &input.title, 200)?;
    let due_on = date(input.due_on.as_deref(), "due_on")?;
    let mut tx = app.store.write().await?;
    let ticket = tickets::get(&mut tx.conn(), ticket_id).await?;
    if !ticket.status.is_active() {
        return Err(AppError::invalid(
            "status",
            format!(
                "the ticket is {}; reopen it to change its plan",
                ticket.status
            ),
        ));
    }
    check_owner(&mut tx.conn(), input.owner_id).await?;
    let step = tickets::add_step(
        &mut tx.conn(),
        ticket_id,
        &PlanStepFields {
            title,
            owner_id: input.owner_id,
            due_on,
            done: None,
        },
    )
    .await?;
    record_change(
        &mut tx,
        caller,
        "ticket_plan_step",
        step.id,
        Action::Create,
        &(),
        &step,
    )
    .await?;
    tx.commit().await?;
    app.events
        .ticket(caller, ticket_id, crate::events::EventKind::Changed)
        .await;
    Ok(step)
}

/// Changes a plan step or checks it off (optimistic locking).
pub async fn update_plan_step(
    app: &App,
    caller: &Caller,
    step_id: i64,
    changes: PlanStepChanges,
) -> Result<PlanStep, AppError> {
    caller.require(Permission::ManageTickets)?;
    let mut tx = app.store.write().await?;
    let before = tickets::step(&mut tx.conn(), step_id).await?;
    if before.version != changes.version {
        return Err(AppError::Conflict {
            current_version: before.version,
        });
    }
    let mut f = PlanStepFields {
        title: before.title.clone(),
        owner_id: before.owner_id,
        due_on: before.due_on,
        done: before.done_at.zip(before.done_by),
    };
    if let Some(t) = &changes.title {
        f.title = validate::name("title", t, 200)?;
    }
    if let Some(o) = changes.owner_id {
        check_owner(&mut tx.conn(), o).await?;
        f.owner_id = o;
    }
    if let Some(d) = &changes.due_on {
        f.due_on = date(d.as_deref(), "due_on")?;
    }
    match changes.done {
        Some(true) if f.done.is_none() => {
            let by = caller.agent_id.unwrap_or_default();
            f.done = Some((kefu_store::now(), by));
            if caller.agent_id.is_none() {
                f.done = None;
                return Err(AppError::invalid(
                    "done",
                    "only an agent can check a step off",
                ));
            }
        }
        Some(false) => f.done = None,
        _ => {}
    }
    let after = tickets::update_step(&mut tx.conn(), step_id, changes.version, &f).await?;
    record_change(
        &mut tx,
        caller,
        "ticket_plan_step",
        step_id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    tx.commit().await?;
    app.events
        .ticket(caller, after.ticket_id, crate::events::EventKind::Changed)
        .await;
    Ok(after)
}

/// Records two tickets as related (both show the link).
pub async fn link_tickets(
    app: &App,
    caller: &Caller,
    id: i64,
    other: i64,
) -> Result<TicketView, AppError> {
    caller.require(Permission::ManageTickets)?;
    if id == other {
        return Err(AppError::invalid(
            "ticket_id",
            "a ticket cannot be related to itself",
        ));
    }
    let mut tx = app.store.write().await?;
    let ticket = tickets::get(&mut tx.conn(), id).await?;
    if tickets::get(&mut tx.conn(), other).await.is_err() {
        return Err(AppError::invalid(
            "ticket_id",
            format!("ticket {other} does not exist"),
        ));
    }
    if tickets::link(&mut tx.conn(), id, other).await? {
        for (from, to) in [(id, other), (other, id)] {
            record_change(
                &mut tx,
                caller,
                "ticket",
                from,
                Action::Update,
                &serde_json::json!({ "related": null }),
                &serde_json::json!({ "related": to }),
            )
            .await?;
        }
    }
    let settings = tickets::settings(&mut tx.conn()).await?;
    let view = view_of(&mut tx.conn(), ticket, &settings).await?;
    tx.commit().await?;
    app.events
        .ticket(caller, id, crate::events::EventKind::Changed)
        .await;
    app.events
        .ticket(caller, other, crate::events::EventKind::Changed)
        .await;
    Ok(view)
}

/// Notifies the agents a message mentions (not the writer).
async fn notify_mentions(
    tx: &mut Tx,
    ticket_id: i64,
    writer: i64,
    body: &str,
) -> Result<(), AppError> {
    let agents = kefu_store::agents::list(&mut tx.conn(), 0, 10_000).await?;
    let named: Vec<(i64, &str, &str)> = agents
        .iter()
        .filter(|a| a.active)
        .map(|a| (a.id, a.display_name.as_str(), a.email.as_str()))
        .collect();
    let excerpt: String = body.chars().take(140).collect();
    let rows: Vec<(i64, i64, &str, Option<i64>, String)> = rules::mentions(body, &named)
        .into_iter()
        .filter(|id| *id != writer)
        .map(|agent| (agent, ticket_id, "mention", Some(writer), excerpt.clone()))
        .collect();
    tickets::notify_agents(&mut tx.conn(), &rows).await?;
    Ok(())
}

/// A notification with names, for the workspace.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NotificationView {
    /// The notification.
    #[serde(flatten)]
    pub notification: kefu_store::tickets::Notification,
    /// Who caused it.
    pub by_name: String,
    /// The ticket's subject.
    pub subject: String,
}

/// The caller's newest notifications and how many are unread.
pub async fn notifications(
    app: &App,
    caller: &Caller,
) -> Result<(Vec<NotificationView>, i64), AppError> {
    let Some(agent) = caller.agent_id else {
        return Ok((Vec::new(), 0));
    };
    let mut reader = app.store.read().await?;
    let rows = tickets::notifications(&mut reader.conn(), agent, 30).await?;
    let unread = tickets::unread_count(&mut reader.conn(), agent).await?;
    let by: HashMap<i64, String> = kefu_store::names_of(
        &mut reader.conn(),
        Named::Agents,
        &rows
            .iter()
            .filter_map(|n| n.by_agent_id)
            .collect::<Vec<_>>(),
    )
    .await?
    .into_iter()
    .collect();
    let ids: Vec<i64> = rows.iter().map(|n| n.ticket_id).collect();
    let subjects: HashMap<i64, String> = tickets::get_many(&mut reader.conn(), &ids)
        .await?
        .into_iter()
        .map(|t| (t.id, t.subject))
        .collect();
    Ok((
        rows.into_iter()
            .map(|n| NotificationView {
                by_name: n
                    .by_agent_id
                    .and_then(|b| by.get(&b).cloned())
                    .unwrap_or_default(),
                subject: subjects.get(&n.ticket_id).cloned().unwrap_or_default(),
                notification: n,
            })
            .collect(),
        unread,
    ))
}

/// Marks the caller's notifications read.
pub async fn mark_notifications_read(app: &App, caller: &Caller) -> Result<u64, AppError> {
    let Some(agent) = caller.agent_id else {
        return Ok(0);
    };
    let mut tx = app.store.write().await?;
    let n = tickets::mark_read(&mut tx.conn(), agent).await?;
    tx.commit().await?;
    Ok(n)
}

/// The keys a saved view's query may hold: the queue's filters.
const VIEW_KEYS: [&str; 18] = [
    "view",
    "status",
    "type",
    "priority",
    "channel",
    "category_id",
    "tag",
    "assignee_id",
    "team_id",
    "customer_id",
    "organization_id",
    "grade",
    "q",
    "due_by",
    "field",
    "value",
    "sla",
    "sort",
];

/// Saves the caller's current queue filters under a name.
pub async fn save_view(
    app: &App,
    caller: &Caller,
    name: &str,
    query: &str,
) -> Result<kefu_store::tickets::SavedView, AppError> {
    caller.require(Permission::ViewTickets)?;
    let agent = caller
        .agent_id
        .ok_or_else(|| AppError::invalid("name", "only agents save views"))?;
    let name = validate::name("name", name, 40)?;
    let query = query.trim().trim_start_matches('?');
    let pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    if let Some((key, _)) = pairs.iter().find(|(k, _)| !VIEW_KEYS.contains(&k.as_str())) {
        return Err(AppError::invalid(
            "query",
            format!("unknown filter {key:?}; valid: {}", VIEW_KEYS.join(", ")),
        ));
    }
    let kept: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut tx = app.store.write().await?;
    let view = tickets::save_view(&mut tx.conn(), agent, &name, &kept.join("&")).await?;
    tx.commit().await?;
    Ok(view)
}

/// The caller's saved views.
pub async fn views(
    app: &App,
    caller: &Caller,
) -> Result<Vec<kefu_store::tickets::SavedView>, AppError> {
    caller.require(Permission::ViewTickets)?;
    let Some(agent) = caller.agent_id else {
        return Ok(Vec::new());
    };
    let mut reader = app.store.read().await?;
    Ok(tickets::views(&mut reader.conn(), agent).await?)
}

/// Deletes one of the caller's saved views.
pub async fn delete_view(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ViewTickets)?;
    let agent = caller.agent_id.ok_or(AppError::NotFound)?;
    let mut tx = app.store.write().await?;
    if !tickets::delete_view(&mut tx.conn(), agent, id).await? {
        return Err(AppError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}
