//! The SLA alarm sweep: warnings before a target is due, and the
//! escalation chain once it breached (超时升级).
//!
//! Each ticket stores when its alarm must next be looked at
//! (`sla_timer_at`, kept by [`crate::sla`] whenever due times change) and
//! what already fired. The sweep takes the tickets whose time has come —
//! on PostgreSQL with their rows locked and rows another instance holds
//! skipped — decides with [`kefu_domain::alarm::fire`] what fires, records
//! that first, then does it, all in one transaction: a crash before the
//! commit fires everything again later, a commit fires nothing twice.
//! Every firing lands on the ticket's timeline (the audit log, authored by
//! `system:sla`) and notifies the people it concerns.

use crate::audit::record_change;
use crate::caller::Caller;
use crate::events::{EventKind, TicketEvent};
use crate::sla::{PolicySet, alarm_of};
use crate::tickets::{TicketChanges, update_in};
use crate::{App, AppError};
use chrono::{DateTime, Utc};
use kefu_domain::Role;
use kefu_domain::alarm::{self, EscalationAction, EscalationStep, Firing};
use kefu_domain::audit::Action;
use kefu_domain::ticket::Priority;
use kefu_domain::webhook::WebhookEvent;
use kefu_store::sla::{self as store, AlarmMarks, SlaFacts};
use kefu_store::{Tx, agents, teams, tickets};
use serde_json::json;

/// The author of what the sweep does, in the audit log.
pub const ACTOR: &str = "sla";

/// Tickets one sweep transaction takes at most.
pub const BATCH: i64 = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Tickets looked at.
    pub tickets: usize,
    /// Warnings sent.
    pub warnings: usize,
    /// Breaches recorded.
    pub breaches: usize,
    /// Escalation steps run.
    pub steps: usize,
}

/// Fires the alarms due at `now`, up to [`BATCH`] tickets; call again
/// while it reports a full batch.
pub async fn sweep(app: &App, now: DateTime<Utc>) -> Result<SweepReport, AppError> {
    let mut tx = app.store.write().await?;
    let ids = store::claim_due_alarms(&mut tx.conn(), now, BATCH).await?;
    let mut report = SweepReport {
        tickets: ids.len(),
        ..SweepReport::default()
    };
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(report);
    }
    let set = crate::cache::cached::<PolicySet>(&mut tx).await?;
    let facts = store::facts(&mut tx.conn(), &ids).await?;
    let mut marks = Vec::with_capacity(facts.len());
    let mut work = Vec::new();
    for ticket in &facts {
        let policy = ticket.sla.sla_policy_id;
        let chain = policy.map_or(&[][..], |p| set.chain(p));
        let delays: Vec<i64> = chain.iter().map(|s| s.after_minutes).collect();
        let (fired, moved) = alarm::fire(&alarm_of(ticket, &ticket.sla), &delays, now);
        marks.push((
            ticket.id,
            AlarmMarks {
                sla_warned_due_at: moved.warned_for,
                sla_breached_due_at: moved.breached_for,
                sla_escalation_steps: i64::from(moved.steps_done),
            },
            alarm::next_alarm(&moved, &delays),
        ));
        if !fired.is_empty() {
            work.push((ticket, fired, chain.to_vec()));
        }
    }
    // Marks first: a step that changes the ticket recomputes its timer
    // from them.
    store::set_alarm_marks(&mut tx.conn(), &marks).await?;
    let caller = Caller::system(ACTOR);
    let managers = managers(&mut tx).await?;
    let mut touched = Vec::with_capacity(work.len());
    for (ticket, fired, chain) in work {
        let policy_name = ticket
            .sla
            .sla_policy_id
            .and_then(|p| set.policy(p))
            .map(|p| p.name.clone())
            .unwrap_or_default();
        for firing in fired {
            match firing {
                Firing::Warning => report.warnings += 1,
                Firing::Breach => report.breaches += 1,
                Firing::Step(_) => report.steps += 1,
            }
            fire_one(
                &mut tx,
                &caller,
                ticket,
                firing,
                &chain,
                &policy_name,
                &managers,
            )
            .await?;
        }
        touched.push(ticket.id);
    }
    tx.commit().await?;
    for ticket_id in touched {
        app.events
            .publish(TicketEvent {
                ticket_id,
                kind: EventKind::Changed,
                agent_id: None,
                agent_name: String::new(),
            })
            .await;
    }
    Ok(report)
}

/// The target a due time belongs to: `first_response`, `next_response`
/// or `resolution`.
fn target_of(ticket: &SlaFacts) -> &'static str {
    let due = ticket.sla.sla_next_due_at;
    if due.is_some()
        && due == ticket.sla.first_response_due_at
        && ticket.first_response_at.is_none()
    {
        "first_response"
    } else if due.is_some() && due == ticket.sla.next_response_due_at {
        "next_response"
    } else {
        "resolution"
    }
}

async fn fire_one(
    tx: &mut Tx,
    caller: &Caller,
    ticket: &SlaFacts,
    firing: Firing,
    chain: &[EscalationStep],
    policy_name: &str,
    managers: &[i64],
) -> Result<(), AppError> {
    let target = target_of(ticket);
    let due = ticket.sla.sla_next_due_at;
    let lead = match ticket.team_id {
        Some(team) => teams::get(&mut tx.conn(), team).await?.lead_agent_id,
        None => None,
    };
    // Who hears of a warning or a breach: the assignee, or the team lead
    // of an unassigned ticket.
    let owner: Vec<i64> = ticket.assignee_id.or(lead).into_iter().collect();
    let (event, notified, kind) = match firing {
        Firing::Warning => ("warning", owner, "sla_warning"),
        Firing::Breach => ("breach", owner, "sla_breach"),
        Firing::Step(index) => {
            let Some(step) = chain.get(index) else {
                return Ok(());
            };
            match step.action {
                EscalationAction::NotifyTeamLead => (
                    step.action.as_str(),
                    lead.into_iter().collect(),
                    "sla_escalation",
                ),
                EscalationAction::NotifyManagers => {
                    (step.action.as_str(), managers.to_vec(), "sla_escalation")
                }
                EscalationAction::RaisePriority => {
                    raise_priority(tx, caller, ticket.id, policy_name).await?;
                    (step.action.as_str(), Vec::new(), "")
                }
                EscalationAction::MoveToTeam => {
                    if let Some(team) = step.team_id {
                        move_to_team(tx, caller, ticket.id, team).await?;
                    }
                    (step.action.as_str(), Vec::new(), "")
                }
            }
        }
    };
    record_change(
        tx,
        caller,
        "ticket",
        ticket.id,
        Action::Update,
        &json!({}),
        &json!({
            "sla_event": event,
            "sla_target": target,
            "sla_due_at": due,
            "notified": notified,
        }),
    )
    .await?;
    let hook = match firing {
        Firing::Warning => Some(WebhookEvent::SlaWarning),
        Firing::Breach => Some(WebhookEvent::SlaBreach),
        Firing::Step(_) => None,
    };
    let trigger = match firing {
        Firing::Warning => Some(kefu_domain::automation::Trigger::SlaWarning),
        Firing::Breach => Some(kefu_domain::automation::Trigger::SlaBreach),
        Firing::Step(_) => None,
    };
    if let Some(trigger) = trigger {
        crate::automations::run(tx, caller, trigger, &[ticket.id]).await?;
    }
    if let Some(hook) = hook {
        crate::webhooks::emit(
            tx,
            hook,
            &[(
                Some(ticket.id),
                json!({"ticket_id": ticket.id, "target": target, "due_at": due,
                    "policy_id": ticket.sla.sla_policy_id, "assignee_id": ticket.assignee_id,
                    "team_id": ticket.team_id}),
            )],
        )
        .await?;
    }
    if !notified.is_empty() && !kind.is_empty() {
        let rows: Vec<(i64, i64, &str, Option<i64>, String)> = notified
            .iter()
            .map(|agent| (*agent, ticket.id, kind, None, target.to_owned()))
            .collect();
        tickets::notify_agents(&mut tx.conn(), &rows).await?;
    }
    Ok(())
}

/// The ids of the active managers (an escalation chain's last resort,
/// and automation rules' `notify managers`).
pub(crate) async fn managers(tx: &mut Tx) -> Result<Vec<i64>, AppError> {
    Ok(agents::list(&mut tx.conn(), 0, 10_000)
        .await?
        .into_iter()
        .filter(|a| a.active && a.role == Role::Manager)
        .map(|a| a.id)
        .collect())
}

async fn raise_priority(
    tx: &mut Tx,
    caller: &Caller,
    id: i64,
    policy_name: &str,
) -> Result<(), AppError> {
    let ticket = tickets::get(&mut tx.conn(), id).await?;
    let raised = ticket.priority.raised();
    if raised == ticket.priority || ticket.priority == Priority::P1 {
        return Ok(());
    }
    let changes = TicketChanges {
        version: ticket.version,
        priority: Some(Some(raised.as_str().to_owned())),
        priority_reason: Some(format!("SLA 升级 escalation: {policy_name}")),
        ..TicketChanges::default()
    };
    update_in(tx, caller, id, &changes).await?;
    Ok(())
}

async fn move_to_team(tx: &mut Tx, caller: &Caller, id: i64, team: i64) -> Result<(), AppError> {
    let ticket = tickets::get(&mut tx.conn(), id).await?;
    if ticket.team_id == Some(team) {
        return Ok(());
    }
    let members = teams::members(&mut tx.conn(), team).await?;
    let keeps_assignee = ticket.assignee_id.is_some_and(|a| members.contains(&a));
    let changes = TicketChanges {
        version: ticket.version,
        team_id: Some(Some(team)),
        assignee_id: (!keeps_assignee).then_some(None),
        ..TicketChanges::default()
    };
    update_in(tx, caller, id, &changes).await?;
    Ok(())
}

/// Runs sweeps until the app closes: at once when a batch was full, else
/// when the soonest alarm falls due, and at least every second (alarms
/// another instance set, or a change made here, are seen within a second).
/// Errors are logged and retried.
pub fn start(app: &App) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    let mut closing = app.events.closing();
    tokio::spawn(async move {
        let most = std::time::Duration::from_secs(1);
        let mut wait = std::time::Duration::ZERO;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = closing.changed() => return,
            }
            wait = most;
            match sweep(&app, Utc::now()).await {
                Ok(report) if report.tickets >= usize::try_from(BATCH).unwrap_or(500) => {
                    wait = std::time::Duration::ZERO;
                }
                Ok(_) => {
                    if let Ok(Some(next)) = next_alarm(&app).await {
                        // Not below 50 ms: a timer another instance is
                        // firing right now must not make this one spin.
                        let until = (next - Utc::now()).to_std().unwrap_or_default();
                        wait = until.clamp(std::time::Duration::from_millis(50), most);
                    }
                }
                Err(error) => tracing::warn!(%error, "SLA alarm sweep failed; retrying"),
            }
        }
    })
}

async fn next_alarm(app: &App) -> Result<Option<DateTime<Utc>>, AppError> {
    let mut reader = app.store.read().await?;
    Ok(store::next_alarm_at(&mut reader.conn()).await?)
}
