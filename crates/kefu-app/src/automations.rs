//! Automation rules (触发器): admins and managers keep ordered rules that,
//! when an event happens to a ticket and the conditions hold, set fields,
//! assign, tag, notify, email the customer or call a webhook.
//!
//! Rules run inside the transaction of the change that set them off, in
//! order, each seeing what the rules before it did. What a rule changes is
//! written as an ordinary ticket change authored by `system:automation:<id>`
//! (audited, on the timeline) and sets off no further rules: a rule can
//! never re-trigger itself or another one, so there are no loops.

use crate::audit::record_change;
use crate::caller::Caller;
use crate::tickets::{TicketChanges, update_in};
use crate::{App, AppError};
use chrono::Utc;
use kefu_domain::audit::{Action, Actor};
use kefu_domain::automation::{
    self as rules, ActionKind, Condition, Field, RuleAction, Snapshot, Trigger,
};
use kefu_domain::customer::{ContactKind, Grade};
use kefu_domain::ticket::{Channel, Priority, Status, TicketType};
use kefu_domain::{Permission, validate};
use kefu_store::automations::{self as store, Automation, AutomationFields};
use kefu_store::{Tx, agents, teams, tickets};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The prefix of the audit author of what a rule does.
pub const ACTOR_PREFIX: &str = "automation:";

/// Input to add or change a rule.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationInput {
    /// The version read (changes only).
    #[serde(default)]
    pub version: Option<i64>,
    /// Name.
    pub name: String,
    /// Order (lowest first); default: after the others.
    #[serde(default)]
    pub position: Option<i64>,
    /// Runs (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// `ticket.created`, `ticket.updated`, `customer.replied`,
    /// `sla.warning` or `sla.breach`.
    pub event: String,
    /// Conditions, all of which must hold.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Actions, in order.
    #[serde(default)]
    pub actions: Vec<RuleAction>,
}

fn code_ok(field: Field, value: &str) -> bool {
    match field {
        Field::Status => Status::from_str(value).is_ok(),
        Field::Priority => Priority::from_str(value).is_ok(),
        Field::Type => TicketType::from_str(value).is_ok(),
        Field::Channel => Channel::from_str(value).is_ok(),
        Field::CustomerGrade => Grade::from_str(value).is_ok(),
        _ => true,
    }
}

async fn checked(
    tx: &mut Tx,
    input: &AutomationInput,
    default_position: i64,
) -> Result<AutomationFields, AppError> {
    let name = validate::name("name", &input.name, 80)?;
    let event = Trigger::parse_field("event", &input.event)?;
    rules::check_conditions(&input.conditions, code_ok)
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    let kinds =
        rules::check_actions(&input.actions).map_err(|e| AppError::invalid(e.field, e.message))?;
    for (i, (kind, action)) in kinds.iter().zip(&input.actions).enumerate() {
        let id = action.value.trim().parse::<i64>().ok();
        let exists = match (kind, id) {
            (ActionKind::SetTeam, Some(id)) => teams::get(&mut tx.conn(), id).await.is_ok(),
            (ActionKind::Assign | ActionKind::Notify, Some(id)) => {
                agents::get(&mut tx.conn(), id).await.is_ok()
            }
            (ActionKind::CallWebhook, Some(id)) => {
                kefu_store::webhooks::get(&mut tx.conn(), id).await.is_ok()
            }
            _ => true,
        };
        if !exists {
            return Err(AppError::invalid(
                format!("actions[{i}].value"),
                format!("{} {} does not exist", kind.as_str(), action.value.trim()),
            ));
        }
    }
    Ok(AutomationFields {
        name,
        position: input.position.unwrap_or(default_position),
        active: input.active.unwrap_or(true),
        event: event.as_str().to_owned(),
        conditions: to_json(&input.conditions)?,
        actions: to_json(&input.actions)?,
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(e.to_string()))
}

/// Every rule in order (anyone who reads settings).
pub async fn list(app: &App, caller: &Caller) -> Result<Vec<Automation>, AppError> {
    caller.require(Permission::ViewSettings)?;
    let mut reader = app.store.read().await?;
    Ok(store::all(&mut reader.conn()).await?)
}

/// Adds a rule.
pub async fn create(
    app: &App,
    caller: &Caller,
    input: &AutomationInput,
) -> Result<Automation, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let mut tx = app.store.write().await?;
    let last = store::all(&mut tx.conn())
        .await?
        .last()
        .map_or(0, |a| a.position);
    let fields = checked(&mut tx, input, last + 10).await?;
    let rule = store::insert(&mut tx.conn(), &fields).await?;
    record_change(
        &mut tx,
        caller,
        "automation",
        rule.id,
        Action::Create,
        &(),
        &rule,
    )
    .await?;
    tx.commit().await?;
    Ok(rule)
}

/// Changes a rule (optimistic locking); switching it off is a change of `active`.
pub async fn update(
    app: &App,
    caller: &Caller,
    id: i64,
    input: &AutomationInput,
) -> Result<Automation, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must be the version you read"))?;
    let mut tx = app.store.write().await?;
    let before = store::get(&mut tx.conn(), id).await?;
    let fields = checked(&mut tx, input, before.position).await?;
    let after = store::update(&mut tx.conn(), id, version, &fields).await?;
    record_change(
        &mut tx,
        caller,
        "automation",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a rule.
pub async fn delete(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let mut tx = app.store.write().await?;
    let before = store::get(&mut tx.conn(), id).await?;
    store::delete(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "automation",
        id,
        Action::Delete,
        &before,
        &(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// One condition's verdict in a test.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConditionResult {
    /// The condition.
    pub condition: Condition,
    /// Whether it holds for the sample ticket now.
    pub holds: bool,
}

/// A rule tried against a sample ticket, changing nothing.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TestResult {
    /// The ticket tried.
    pub ticket_id: i64,
    /// Whether every condition holds (the rule would fire on its event).
    pub matches: bool,
    /// Each condition's verdict.
    pub conditions: Vec<ConditionResult>,
    /// The actions that would run.
    pub actions: Vec<RuleAction>,
}

/// Tries a rule against a ticket without changing anything.
pub async fn test(
    app: &App,
    caller: &Caller,
    id: i64,
    ticket_id: i64,
) -> Result<TestResult, AppError> {
    caller.require(Permission::ViewSettings)?;
    caller.require(Permission::ViewTickets)?;
    let mut tx = app.store.write().await?;
    let rule = store::get(&mut tx.conn(), id).await?;
    let snapshot = match snapshot(&mut tx, ticket_id).await {
        Ok(s) => s,
        Err(AppError::NotFound) => {
            return Err(AppError::invalid(
                "ticket_id",
                format!("ticket {ticket_id} does not exist"),
            ));
        }
        Err(e) => return Err(e),
    };
    // Read only: nothing is written, and the transaction is dropped.
    drop(tx);
    let now = Utc::now();
    let conditions: Vec<ConditionResult> = rule
        .condition_list()
        .into_iter()
        .map(|c| ConditionResult {
            holds: rules::holds(&c, &snapshot, now),
            condition: c,
        })
        .collect();
    Ok(TestResult {
        ticket_id,
        matches: conditions.iter().all(|c| c.holds),
        conditions,
        actions: rule.action_list(),
    })
}

/// A ticket as conditions see it.
async fn snapshot(tx: &mut Tx, id: i64) -> Result<Snapshot, AppError> {
    let ticket = tickets::get(&mut tx.conn(), id).await?;
    let facts = kefu_store::sla::facts(&mut tx.conn(), &[id])
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    Ok(Snapshot {
        status: ticket.status.as_str().to_owned(),
        priority: ticket.priority.as_str().to_owned(),
        ticket_type: ticket.ticket_type.as_str().to_owned(),
        channel: ticket.channel.as_str().to_owned(),
        team_id: ticket.team_id,
        assignee_id: ticket.assignee_id,
        tags: facts.tags,
        grade: facts.grade,
        subject: ticket.subject,
        created_at: ticket.created_at,
        updated_at: ticket.updated_at,
    })
}

/// The active rules, in order, kept between transactions.
struct ActiveRules(Vec<Automation>);

impl crate::cache::Cached for ActiveRules {
    async fn load(conn: &mut kefu_store::Conn<'_>) -> Result<ActiveRules, AppError> {
        let all = store::all(conn).await?;
        Ok(ActiveRules(all.into_iter().filter(|r| r.active).collect()))
    }
}

/// Whether a change was made by a rule (and so sets off none).
fn by_rule(caller: &Caller) -> bool {
    matches!(&caller.actor, Actor::System(name) if name.starts_with(ACTOR_PREFIX))
}

/// Runs the active rules for `trigger` on these tickets, inside the
/// transaction of the change that set them off; nothing when a rule made
/// the change.
pub(crate) async fn run(
    tx: &mut Tx,
    caller: &Caller,
    trigger: Trigger,
    ids: &[i64],
) -> Result<(), AppError> {
    if ids.is_empty() || by_rule(caller) {
        return Ok(());
    }
    let active = crate::cache::cached::<ActiveRules>(tx).await?;
    let rules_for: Vec<&Automation> = active
        .0
        .iter()
        .filter(|r| r.event == trigger.as_str())
        .collect();
    if rules_for.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    for id in ids {
        let mut seen = snapshot(tx, *id).await?;
        for rule in &rules_for {
            if !rules::all_hold(&rule.condition_list(), &seen, now) {
                continue;
            }
            let by = Caller::system(&format!("{ACTOR_PREFIX}{}", rule.id));
            let actions = rule.action_list();
            for action in &actions {
                apply(tx, &by, rule, *id, action).await?;
            }
            record_change(
                tx,
                &by,
                "ticket",
                *id,
                Action::Update,
                &serde_json::json!({}),
                &serde_json::json!({"automation": rule.name, "event": trigger.as_str()}),
            )
            .await?;
            store::fired(&mut tx.conn(), rule.id, now).await?;
            // The rules after this one see what it did.
            seen = snapshot(tx, *id).await?;
        }
    }
    Ok(())
}

async fn apply(
    tx: &mut Tx,
    by: &Caller,
    rule: &Automation,
    id: i64,
    action: &RuleAction,
) -> Result<(), AppError> {
    let Ok(kind) = ActionKind::from_str(&action.action) else {
        return Ok(());
    };
    let value = action.value.trim();
    let ticket = tickets::get(&mut tx.conn(), id).await?;
    let change = |f: &dyn Fn(&mut TicketChanges)| {
        let mut c = TicketChanges {
            version: ticket.version,
            ..TicketChanges::default()
        };
        f(&mut c);
        c
    };
    match kind {
        ActionKind::SetPriority => {
            if ticket.priority.as_str() != value {
                let c = change(&|c| {
                    c.priority = Some(Some(value.to_owned()));
                    c.priority_reason = Some(format!("自动化规则 rule: {}", rule.name));
                });
                update_in(tx, by, id, &c).await?;
            }
        }
        ActionKind::SetTeam => {
            let team = value.parse::<i64>().ok();
            if team.is_some() && ticket.team_id != team {
                update_in(tx, by, id, &change(&|c| c.team_id = Some(team))).await?;
            }
        }
        ActionKind::Assign => {
            let agent = value.parse::<i64>().ok();
            if agent.is_some() && ticket.assignee_id != agent {
                update_in(tx, by, id, &change(&|c| c.assignee_id = Some(agent))).await?;
            }
        }
        ActionKind::AddTags | ActionKind::RemoveTags => {
            let old = tickets::tags(&mut tx.conn(), id).await?;
            let named: Vec<String> = value
                .split([',', '，'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            let mut new = old.clone();
            if kind == ActionKind::AddTags {
                for tag in named {
                    if !new.contains(&tag) {
                        new.push(tag);
                    }
                }
            } else {
                new.retain(|t| !named.contains(t));
            }
            if new != old {
                update_in(tx, by, id, &change(&|c| c.tags = Some(new.clone()))).await?;
            }
        }
        ActionKind::Notify => {
            let to: Vec<i64> = match value {
                "assignee" => ticket.assignee_id.into_iter().collect(),
                "team_lead" => match ticket.team_id {
                    Some(team) => teams::get(&mut tx.conn(), team)
                        .await?
                        .lead_agent_id
                        .into_iter()
                        .collect(),
                    None => Vec::new(),
                },
                "managers" => crate::alarms::managers(tx).await?,
                other => other.parse::<i64>().ok().into_iter().collect(),
            };
            let rows: Vec<(i64, i64, &str, Option<i64>, String)> = to
                .into_iter()
                .map(|agent| (agent, id, "automation", None, rule.name.clone()))
                .collect();
            tickets::notify_agents(&mut tx.conn(), &rows).await?;
        }
        ActionKind::EmailCustomer => {
            let Some(customer) = ticket.customer_id else {
                return Ok(());
            };
            let email = kefu_store::customers::contact_points(&mut tx.conn(), customer)
                .await?
                .into_iter()
                .find(|p| p.kind == ContactKind::Email)
                .map(|p| p.value);
            let Some(email) = email else {
                return Ok(());
            };
            let subject = crate::macros::fill_text(tx, by, &action.subject, id).await?;
            let body = crate::macros::fill_text(tx, by, &action.body, id).await?;
            crate::mail_out::notify(tx, &email, &subject, &body).await?;
            record_change(
                tx,
                by,
                "ticket",
                id,
                Action::Update,
                &serde_json::json!({}),
                &serde_json::json!({"emailed": email, "email_subject": subject}),
            )
            .await?;
        }
        ActionKind::CallWebhook => {
            if let Ok(hook) = value.parse::<i64>() {
                let tags = tickets::tags(&mut tx.conn(), id).await?;
                crate::webhooks::send_to(
                    tx,
                    hook,
                    Some(id),
                    serde_json::json!({"rule": rule.name, "ticket": ticket, "tags": tags}),
                )
                .await?;
            }
        }
    }
    Ok(())
}
