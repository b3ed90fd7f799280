//! SLA policies (服务级别协议) and the clocks of work orders.
//!
//! Admins and managers keep an ordered list of policies; each ticket falls
//! under the first whose conditions hold, and its due times are computed
//! on that policy's business calendar. They are recomputed whenever what
//! they depend on changes — the ticket's type, priority, channel, tags,
//! customer or organization; its status (a pending ticket's resolution
//! clock stops); a public reply or a customer's message; the policies or
//! a calendar — inside the same transaction as the change.

use crate::audit::record_change;
use crate::calendars::{self, CalendarView};
use crate::{App, AppError, Caller};
use chrono::{DateTime, Utc};
use kefu_domain::Permission;
use kefu_domain::alarm::{self, EscalationStep};
use kefu_domain::audit::Action;
use kefu_domain::calendar::Calendar;
use kefu_domain::customer::Grade;
use kefu_domain::sla::{
    self as rules, Clocks, Conditions, TargetState, Targets, TicketFacts, Warning,
};
use kefu_domain::ticket::{Channel, Priority, Status, TicketType};
use kefu_domain::{DomainError, validate};
use kefu_store::sla::{self as store, Policy, PolicyFields, SlaFacts, TicketSla};
use kefu_store::{Conn, Tx};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The longest target: a year of working minutes around the clock.
pub const MAX_TARGET_MINUTES: i64 = 366 * 24 * 60;

/// Input to add or change a policy.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    /// The version read (changes only).
    #[serde(default)]
    pub version: Option<i64>,
    /// Name.
    pub name: String,
    /// Order of evaluation, lowest first (default: after the others).
    #[serde(default)]
    pub position: Option<i64>,
    /// Applied to tickets (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// The business calendar targets count on.
    pub calendar_id: i64,
    /// Ticket types it applies to (empty: any).
    #[serde(default)]
    pub ticket_types: Vec<String>,
    /// Priorities (empty: any).
    #[serde(default)]
    pub priorities: Vec<String>,
    /// Customer grades (empty: any).
    #[serde(default)]
    pub grades: Vec<String>,
    /// Channels (empty: any).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Organization ids (empty: any).
    #[serde(default)]
    pub organization_ids: Vec<i64>,
    /// Tags; a ticket with any of them matches (empty: any).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Working minutes from creation to the first public reply.
    #[serde(default)]
    pub first_response_minutes: Option<i64>,
    /// Working minutes from a waiting customer message to the next reply.
    #[serde(default)]
    pub next_response_minutes: Option<i64>,
    /// Working minutes from creation to resolution.
    #[serde(default)]
    pub resolution_minutes: Option<i64>,
    /// Stop the resolution clock while the ticket is pending (default true).
    #[serde(default)]
    pub pause_when_pending: Option<bool>,
    /// At what share of a target, in percent, a ticket is at risk (default 75).
    #[serde(default)]
    pub warn_percent: Option<i64>,
    /// Working minutes from creation to answering a complaint with a
    /// result (结果答复); applies to complaints only.
    #[serde(default)]
    pub result_minutes: Option<i64>,
    /// Or this many minutes before a target is due, if that comes sooner.
    #[serde(default)]
    pub warn_before_minutes: Option<i64>,
    /// What happens once a target breached: steps run in order of their
    /// delay after the breach (notify the team lead, the managers, raise
    /// the priority, move to a team).
    #[serde(default)]
    pub escalation: Vec<EscalationStep>,
}

/// Checks a list of codes with a parser; the error names the entry.
pub(crate) fn codes<T>(
    field: &str,
    values: &[String],
    parse: impl Fn(&str, &str) -> Result<T, DomainError>,
    code: impl Fn(T) -> &'static str,
) -> Result<String, AppError> {
    let mut out: Vec<&str> = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        let parsed = code(parse(&format!("{field}[{index}]"), value)?);
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok(out.join(","))
}

fn minutes(field: &str, value: Option<i64>) -> Result<Option<i64>, AppError> {
    match value {
        Some(m) if !(1..=MAX_TARGET_MINUTES).contains(&m) => Err(AppError::invalid(
            field,
            format!("must be between 1 and {MAX_TARGET_MINUTES} working minutes"),
        )),
        other => Ok(other),
    }
}

async fn checked_fields(
    conn: &mut Conn<'_>,
    input: &PolicyInput,
    default_position: i64,
) -> Result<PolicyFields, AppError> {
    let name = validate::name("name", &input.name, 80)?;
    if kefu_store::calendars::get(conn, input.calendar_id)
        .await
        .is_err()
    {
        return Err(AppError::invalid(
            "calendar_id",
            format!("calendar {} does not exist", input.calendar_id),
        ));
    }
    for (index, id) in input.organization_ids.iter().enumerate() {
        if kefu_store::organizations::get(conn, *id).await.is_err() {
            return Err(AppError::invalid(
                format!("organization_ids[{index}]"),
                format!("organization {id} does not exist"),
            ));
        }
    }
    let tags = kefu_domain::customer::tags("tags", &input.tags)?;
    let first_response_minutes = minutes("first_response_minutes", input.first_response_minutes)?;
    let next_response_minutes = minutes("next_response_minutes", input.next_response_minutes)?;
    let resolution_minutes = minutes("resolution_minutes", input.resolution_minutes)?;
    let result_minutes = minutes("result_minutes", input.result_minutes)?;
    if first_response_minutes.is_none()
        && next_response_minutes.is_none()
        && resolution_minutes.is_none()
        && result_minutes.is_none()
    {
        return Err(AppError::invalid(
            "first_response_minutes",
            "a policy needs at least one target (first response, next response or resolution)",
        ));
    }
    let warn_percent = input.warn_percent.unwrap_or(75);
    if !(1..=100).contains(&warn_percent) {
        return Err(AppError::invalid(
            "warn_percent",
            "must be between 1 and 100",
        ));
    }
    if let Some(before) = input.warn_before_minutes
        && !(1..=MAX_TARGET_MINUTES).contains(&before)
    {
        return Err(AppError::invalid(
            "warn_before_minutes",
            format!("must be between 1 and {MAX_TARGET_MINUTES} minutes"),
        ));
    }
    let chain = alarm::checked_chain(&input.escalation)
        .map_err(|e| AppError::invalid(e.field, e.message))?;
    for (index, step) in input.escalation.iter().enumerate() {
        if let Some(team) = step.team_id
            && kefu_store::teams::get(conn, team).await.is_err()
        {
            return Err(AppError::invalid(
                format!("escalation[{index}].team_id"),
                format!("team {team} does not exist"),
            ));
        }
    }
    let escalation = serde_json::to_string(&chain)
        .map_err(|e| AppError::Internal(format!("escalation chain: {e}")))?;
    let mut organization_ids = input.organization_ids.clone();
    organization_ids.sort_unstable();
    organization_ids.dedup();
    Ok(PolicyFields {
        name,
        position: input.position.unwrap_or(default_position),
        active: input.active.unwrap_or(true),
        calendar_id: input.calendar_id,
        ticket_types: codes(
            "ticket_types",
            &input.ticket_types,
            TicketType::parse_field,
            TicketType::as_str,
        )?,
        priorities: codes(
            "priorities",
            &input.priorities,
            Priority::parse_field,
            Priority::as_str,
        )?,
        grades: codes("grades", &input.grades, Grade::parse_field, Grade::as_str)?,
        channels: codes(
            "channels",
            &input.channels,
            Channel::parse_field,
            Channel::as_str,
        )?,
        organization_ids: organization_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        tags: tags.join(","),
        first_response_minutes,
        next_response_minutes,
        resolution_minutes,
        pause_when_pending: input.pause_when_pending.unwrap_or(true),
        warn_percent,
        warn_before_minutes: input.warn_before_minutes,
        escalation,
        result_minutes,
    })
}

/// Every policy, in the order they are tried (anyone who reads settings).
pub async fn list_policies(app: &App, caller: &Caller) -> Result<Vec<Policy>, AppError> {
    caller.require(Permission::ViewSettings)?;
    let mut reader = app.store.read().await?;
    Ok(store::all(&mut reader.conn()).await?)
}

/// Adds a policy and applies the policies anew to the open tickets.
pub async fn create_policy(
    app: &App,
    caller: &Caller,
    input: PolicyInput,
) -> Result<Policy, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let mut tx = app.store.write().await?;
    let next = store::all(&mut tx.conn())
        .await?
        .iter()
        .map(|p| p.position + 1)
        .max()
        .unwrap_or(1);
    let fields = checked_fields(&mut tx.conn(), &input, next).await?;
    let created = store::insert(&mut tx.conn(), &fields).await?;
    record_change(
        &mut tx,
        caller,
        "sla_policy",
        created.id,
        Action::Create,
        &(),
        &created,
    )
    .await?;
    refresh_open(&mut tx, Utc::now()).await?;
    tx.commit().await?;
    Ok(created)
}

/// Changes a policy (optimistic locking) and applies the policies anew.
pub async fn update_policy(
    app: &App,
    caller: &Caller,
    id: i64,
    input: PolicyInput,
) -> Result<Policy, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must be the version you read"))?;
    let mut tx = app.store.write().await?;
    let before = store::get(&mut tx.conn(), id).await?;
    let fields = checked_fields(&mut tx.conn(), &input, before.position).await?;
    let after = store::update(&mut tx.conn(), id, version, &fields).await?;
    record_change(
        &mut tx,
        caller,
        "sla_policy",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    refresh_open(&mut tx, Utc::now()).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a policy; open tickets fall under the next that matches.
pub async fn delete_policy(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let mut tx = app.store.write().await?;
    let before = store::get(&mut tx.conn(), id).await?;
    store::delete(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "sla_policy",
        id,
        Action::Delete,
        &before,
        &(),
    )
    .await?;
    refresh_open(&mut tx, Utc::now()).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) fn split_codes(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A stored policy as the rules see it.
fn rules_of(p: &Policy) -> (Conditions, Targets) {
    (
        Conditions {
            types: split_codes(&p.ticket_types),
            priorities: split_codes(&p.priorities),
            grades: split_codes(&p.grades),
            channels: split_codes(&p.channels),
            organization_ids: p
                .organization_ids
                .split(',')
                .filter_map(|s| s.parse().ok())
                .collect(),
            tags: split_codes(&p.tags),
        },
        Targets {
            first_response: p.first_response_minutes,
            next_response: p.next_response_minutes,
            resolution: p.resolution_minutes,
            result: p.result_minutes,
            pause_when_pending: p.pause_when_pending,
            warning: warning_of(p),
        },
    )
}

/// The active policies with their rules and calendars, read once for a
/// batch of tickets.
pub(crate) struct PolicySet {
    policies: Vec<(Policy, Conditions, Targets)>,
    calendars: HashMap<i64, Calendar>,
    /// Each policy's escalation chain, in firing order.
    chains: HashMap<i64, Vec<EscalationStep>>,
}

impl crate::cache::Cached for PolicySet {
    async fn load(conn: &mut Conn<'_>) -> Result<PolicySet, AppError> {
        PolicySet::load(conn).await
    }
}

impl PolicySet {
    /// Reads the active policies and the calendars they count on.
    pub(crate) async fn load(conn: &mut Conn<'_>) -> Result<PolicySet, AppError> {
        let mut policies = Vec::new();
        let mut read = HashMap::new();
        let mut chains = HashMap::new();
        for policy in store::all(conn).await?.into_iter().filter(|p| p.active) {
            if let std::collections::hash_map::Entry::Vacant(slot) = read.entry(policy.calendar_id)
            {
                let view = CalendarView {
                    calendar: kefu_store::calendars::get(conn, policy.calendar_id).await?,
                    days: kefu_store::calendars::days(conn, policy.calendar_id).await?,
                };
                slot.insert(calendars::to_rules(&view)?);
            }
            let (conditions, targets) = rules_of(&policy);
            chains.insert(policy.id, store::chain_of(&policy));
            policies.push((policy, conditions, targets));
        }
        Ok(PolicySet {
            policies,
            calendars: read,
            chains,
        })
    }

    /// An active policy by id.
    pub(crate) fn policy(&self, id: i64) -> Option<&Policy> {
        self.policies.iter().map(|(p, _, _)| p).find(|p| p.id == id)
    }

    /// A policy's escalation chain (empty for one not active).
    pub(crate) fn chain(&self, policy_id: i64) -> &[EscalationStep] {
        self.chains.get(&policy_id).map_or(&[], Vec::as_slice)
    }

    /// The delays of a policy's chain steps, in minutes after the breach.
    pub(crate) fn delays(&self, policy_id: i64) -> Vec<i64> {
        self.chain(policy_id)
            .iter()
            .map(|s| s.after_minutes)
            .collect()
    }

    /// The policy a ticket falls under, with its targets and calendar.
    fn for_ticket(&self, facts: &SlaFacts) -> Option<(&Policy, &Targets, &Calendar)> {
        let ticket = TicketFacts {
            ticket_type: facts.ticket_type.clone(),
            priority: facts.priority.clone(),
            grade: facts.grade.clone(),
            channel: facts.channel.clone(),
            organization_id: facts.organization_id,
            tags: facts.tags.clone(),
        };
        let index = rules::first_match(self.policies.iter().map(|(_, c, _)| c), &ticket)?;
        let (policy, _, targets) = &self.policies[index];
        let calendar = self.calendars.get(&policy.calendar_id)?;
        Some((policy, targets, calendar))
    }
}

/// What changed on a ticket that its clocks care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClockEvent {
    /// Only what the policy is chosen by may have changed.
    Recompute,
    /// The status moved.
    Status {
        /// From.
        from: Status,
        /// To.
        to: Status,
    },
    /// The customer wrote.
    CustomerMessage,
    /// An agent replied publicly.
    PublicReply,
    /// An agent's reply answered the customer with a result (结果答复).
    ResultGiven,
}

/// Brings the SLA columns of tickets up to date after `event` at `now`;
/// answers each ticket's columns as they now are.
pub(crate) async fn refresh(
    tx: &mut Tx,
    ids: &[i64],
    events: &[ClockEvent],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, TicketSla>, AppError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let set = crate::cache::cached::<PolicySet>(tx).await?;
    refresh_with(tx, &set, ids, events, now).await
}

/// [`refresh`] with the policies already read.
pub(crate) async fn refresh_with(
    tx: &mut Tx,
    set: &PolicySet,
    ids: &[i64],
    events: &[ClockEvent],
    now: DateTime<Utc>,
) -> Result<HashMap<i64, TicketSla>, AppError> {
    let mut out = HashMap::with_capacity(ids.len());
    let mut changed = Vec::new();
    for facts in store::facts(&mut tx.conn(), ids).await? {
        let updated = next_sla(set, &facts, events, now);
        if updated != facts.sla {
            changed.push((facts.id, updated.clone()));
        }
        out.insert(facts.id, updated);
    }
    store::set_ticket_sla_many(&mut tx.conn(), &changed).await?;
    Ok(out)
}

/// The due times of tickets just created, set on them; nothing to do
/// while no policy is active.
pub(crate) async fn start_clocks(
    tx: &mut Tx,
    tickets: &mut [kefu_store::tickets::Ticket],
) -> Result<(), AppError> {
    let set = crate::cache::cached::<PolicySet>(tx).await?;
    if set.policies.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
    let now = Utc::now();
    let mut slas = refresh_with(tx, &set, &ids, &[ClockEvent::Recompute], now).await?;
    for ticket in tickets {
        if let Some(sla) = slas.remove(&ticket.id) {
            ticket.sla = sla;
        }
    }
    Ok(())
}

/// The demo floor's service standards: a 9–18 weekday calendar with the
/// National Day week off, a round-the-clock hotline calendar, and four
/// policies (VIP, P1 faults, complaints, everything else); then the due
/// times of every demo ticket.
pub(crate) async fn load_demo(tx: &mut Tx, caller: &Caller) -> Result<usize, AppError> {
    use kefu_store::calendars::{CalendarDay, CalendarFields, WeekHours};
    let office = "09:00-12:00, 13:00-18:00".to_owned();
    let all_day = "00:00-24:00".to_owned();
    let weekdays = WeekHours::from_days([
        office.clone(),
        office.clone(),
        office.clone(),
        office.clone(),
        office,
        String::new(),
        String::new(),
    ]);
    let workday = kefu_store::calendars::insert(
        &mut tx.conn(),
        &CalendarFields {
            name: "工作日 Weekdays 9–18".into(),
            time_zone: "Asia/Shanghai".into(),
            hours: weekdays,
        },
    )
    .await?;
    let national_day: Vec<CalendarDay> = (1..=7)
        .filter_map(|d| chrono::NaiveDate::from_ymd_opt(2026, 10, d))
        .map(|date| CalendarDay {
            date,
            kind: "holiday".into(),
            name: "国庆节 National Day".into(),
        })
        .collect();
    kefu_store::calendars::replace_days(&mut tx.conn(), workday.id, &national_day).await?;
    let hotline = kefu_store::calendars::insert(
        &mut tx.conn(),
        &CalendarFields {
            name: "7×24 热线 Hotline".into(),
            time_zone: "Asia/Shanghai".into(),
            hours: WeekHours::from_days(std::array::from_fn(|_| all_day.clone())),
        },
    )
    .await?;
    for calendar in [&workday, &hotline] {
        record_change(
            tx,
            caller,
            "calendar",
            calendar.id,
            Action::Create,
            &(),
            calendar,
        )
        .await?;
    }
    let policy = |name: &str, position, calendar_id, first, resolution| PolicyFields {
        name: name.to_owned(),
        position,
        active: true,
        calendar_id,
        ticket_types: String::new(),
        priorities: String::new(),
        grades: String::new(),
        channels: String::new(),
        organization_ids: String::new(),
        tags: String::new(),
        first_response_minutes: Some(first),
        next_response_minutes: Some(first),
        resolution_minutes: Some(resolution),
        pause_when_pending: true,
        warn_percent: 75,
        warn_before_minutes: None,
        escalation: "[]".to_owned(),
        result_minutes: None,
    };
    let teams = kefu_store::teams::list(&mut tx.conn(), 0, 100).await?;
    let team_named = |name: &str| teams.iter().find(|t| t.name == name).map(|t| t.id);
    let step = |after_minutes, action, team_id| EscalationStep {
        after_minutes,
        action,
        team_id,
    };
    let chain = |steps: &[EscalationStep]| serde_json::to_string(steps).unwrap_or_default();
    use kefu_domain::alarm::EscalationAction::{
        MoveToTeam, NotifyManagers, NotifyTeamLead, RaisePriority,
    };
    let policies = [
        PolicyFields {
            grades: "vip".into(),
            warn_before_minutes: Some(10),
            escalation: chain(&[
                step(0, NotifyTeamLead, None),
                step(30, NotifyManagers, None),
            ]),
            ..policy("VIP 客户 VIP customers", 10, hotline.id, 30, 24 * 60)
        },
        PolicyFields {
            priorities: "p1".into(),
            escalation: chain(&[
                step(0, NotifyTeamLead, None),
                step(30, NotifyManagers, None),
            ]),
            ..policy("P1 紧急 Urgent", 20, hotline.id, 15, 4 * 60)
        },
        PolicyFields {
            ticket_types: "complaint".into(),
            // Three working days to answer a complaint with a result.
            result_minutes: Some(3 * 8 * 60),
            escalation: chain(
                &[
                    Some(step(0, NotifyTeamLead, None)),
                    team_named("投诉处理组").map(|team| step(120, MoveToTeam, Some(team))),
                    Some(step(240, NotifyManagers, None)),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
            ),
            ..policy("投诉 Complaints", 30, workday.id, 60, 16 * 60)
        },
        PolicyFields {
            escalation: chain(&[
                step(0, NotifyTeamLead, None),
                step(8 * 60, RaisePriority, None),
            ]),
            ..policy("一般 Standard", 40, workday.id, 4 * 60, 24 * 60)
        },
    ];
    for fields in &policies {
        let created = store::insert(&mut tx.conn(), fields).await?;
        record_change(
            tx,
            caller,
            "sla_policy",
            created.id,
            Action::Create,
            &(),
            &created,
        )
        .await?;
    }
    let ids = store::all_ticket_ids(&mut tx.conn()).await?;
    refresh(tx, &ids, &[ClockEvent::Recompute], Utc::now()).await?;
    Ok(policies.len())
}

/// Recomputes every open ticket's due times (after a policy or calendar change).
pub(crate) async fn refresh_open(tx: &mut Tx, now: DateTime<Utc>) -> Result<(), AppError> {
    let ids = store::open_ticket_ids(&mut tx.conn()).await?;
    refresh(tx, &ids, &[ClockEvent::Recompute], now).await?;
    Ok(())
}

/// A ticket's SLA columns after an event: the clocks moved as the event
/// says, then the due times computed under the policy that now applies.
fn next_sla(
    set: &PolicySet,
    facts: &SlaFacts,
    events: &[ClockEvent],
    now: DateTime<Utc>,
) -> TicketSla {
    let mut sla = facts.sla.clone();
    // Only complaints are answered with a result.
    let complaint = facts.ticket_type == TicketType::Complaint.as_str();
    let adjusted = set.for_ticket(facts).map(|(policy, targets, calendar)| {
        let targets = Targets {
            result: targets.result.filter(|_| complaint),
            ..*targets
        };
        (policy, targets, calendar)
    });
    let chosen = adjusted.as_ref().map(|(p, t, c)| (*p, t, *c));
    for event in events {
        match *event {
            ClockEvent::CustomerMessage => {
                sla.awaiting_reply_since.get_or_insert(now);
            }
            ClockEvent::PublicReply => sla.awaiting_reply_since = None,
            ClockEvent::ResultGiven => {
                sla.result_answered_at.get_or_insert(now);
            }
            ClockEvent::Status { from, to } => {
                let pauses = chosen.is_some_and(|(_, t, _)| t.pause_when_pending);
                if to == Status::Pending && from != Status::Pending && pauses {
                    sla.sla_paused_since.get_or_insert(now);
                }
                if from == Status::Pending
                    && to != Status::Pending
                    && let Some(since) = sla.sla_paused_since.take()
                    && let Some((_, targets, calendar)) = chosen
                {
                    // The due time the clock had when it stopped.
                    let mut clocks = clocks_of(facts, &sla);
                    clocks.paused_since = None;
                    let due = rules::due_times(calendar, targets, &clocks).resolution;
                    sla.sla_paused_seconds += rules::pause_seconds(calendar, since, now, due);
                }
            }
            ClockEvent::Recompute => {}
        }
    }
    match chosen {
        Some((policy, targets, calendar)) => {
            let clocks = clocks_of(facts, &sla);
            let due = rules::due_times(calendar, targets, &clocks);
            let open = matches!(
                facts.status.as_str(),
                "new" | "open" | "pending" | "on_hold"
            );
            let next = rules::next_due(targets, &clocks, &due, open);
            sla.sla_warn_at = next.map(|(warn, _)| warn);
            sla.sla_next_due_at = next.map(|(_, due)| due);
            sla.sla_policy_id = Some(policy.id);
            sla.first_response_due_at = due.first_response;
            sla.next_response_due_at = due.next_response;
            sla.resolution_due_at = due.resolution;
            sla.result_due_at = due.result;
            sla.sla_timer_at = alarm::next_alarm(&alarm_of(facts, &sla), &set.delays(policy.id));
        }
        None => {
            sla.sla_policy_id = None;
            sla.sla_warn_at = None;
            sla.sla_next_due_at = None;
            sla.first_response_due_at = None;
            sla.next_response_due_at = None;
            sla.resolution_due_at = None;
            sla.result_due_at = None;
            sla.sla_timer_at = None;
        }
    }
    sla
}

/// A ticket's alarm: its SLA columns with what already fired.
pub(crate) fn alarm_of(facts: &SlaFacts, sla: &TicketSla) -> alarm::Alarm {
    alarm::Alarm {
        warn_at: sla.sla_warn_at,
        due_at: sla.sla_next_due_at,
        warned_for: facts.marks.sla_warned_due_at,
        breached_for: facts.marks.sla_breached_due_at,
        steps_done: u32::try_from(facts.marks.sla_escalation_steps).unwrap_or(0),
    }
}

fn clocks_of(facts: &SlaFacts, sla: &TicketSla) -> Clocks {
    Clocks {
        created_at: facts.created_at,
        first_response_at: facts.first_response_at,
        awaiting_reply_since: sla.awaiting_reply_since,
        resolved_at: facts.resolved_at,
        paused_seconds: sla.sla_paused_seconds,
        paused_since: sla.sla_paused_since,
        result_at: sla.result_answered_at,
    }
}

/// One target of a ticket as shown: when it is due and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TargetView {
    /// `first_response`, `next_response`, `resolution` or `result` (complaints).
    pub target: &'static str,
    /// When it is (or was) due.
    pub due_at: DateTime<Utc>,
    /// `running`, `at_risk`, `breached`, `met` or `missed`.
    pub state: &'static str,
}

/// A ticket's SLA as shown on the ticket and in the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SlaView {
    /// The policy the ticket falls under.
    pub policy_id: Option<i64>,
    /// Its targets.
    pub targets: Vec<TargetView>,
    /// Whether the resolution clock is stopped (pending the customer).
    pub paused: bool,
    /// The most pressing state: `breached`, `at_risk`, `running`, `met`, `missed` or `paused`.
    pub state: &'static str,
}

/// When a policy's targets turn at risk.
fn warning_of(p: &Policy) -> Warning {
    Warning {
        percent: u8::try_from(p.warn_percent.clamp(1, 100)).unwrap_or(75),
        before_minutes: p.warn_before_minutes,
    }
}

/// Each policy's warning, by id (read once per page of tickets).
pub(crate) async fn warnings(conn: &mut Conn<'_>) -> Result<HashMap<i64, Warning>, AppError> {
    Ok(store::all(conn)
        .await?
        .iter()
        .map(|p| (p.id, warning_of(p)))
        .collect())
}

impl SlaView {
    /// When the next target that still runs is due.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.targets
            .iter()
            .filter(|t| matches!(t.state, "running" | "at_risk" | "breached"))
            .map(|t| t.due_at)
            .min()
    }
}

/// Where a ticket's targets stand at `now`, from its stored columns.
pub fn view_of(
    ticket: &kefu_store::tickets::Ticket,
    warnings: &HashMap<i64, Warning>,
    now: DateTime<Utc>,
) -> Option<SlaView> {
    let sla = &ticket.sla;
    let policy = sla.sla_policy_id?;
    let warning = warnings.get(&policy).copied().unwrap_or_default();
    let (created_at, first_response_at, resolved_at) = (
        ticket.created_at,
        ticket.first_response_at,
        ticket.resolved_at,
    );
    let mut targets = Vec::new();
    let mut push = |target, started: DateTime<Utc>, due: Option<DateTime<Utc>>, stopped| {
        if let Some(due) = due {
            let state = rules::target_state(started, due, stopped, warning, now);
            targets.push((target, due, state));
        }
    };
    push(
        "first_response",
        created_at,
        sla.first_response_due_at,
        first_response_at,
    );
    if let Some(since) = sla.awaiting_reply_since {
        push("next_response", since, sla.next_response_due_at, None);
    }
    push("resolution", created_at, sla.resolution_due_at, resolved_at);
    push(
        "result",
        created_at,
        sla.result_due_at,
        sla.result_answered_at.or(resolved_at),
    );
    let paused = sla.sla_paused_since.is_some();
    let rank = |s: TargetState| match s {
        TargetState::Breached => 0,
        TargetState::AtRisk => 1,
        TargetState::Running => 2,
        TargetState::MissedThenMet => 3,
        TargetState::Met => 4,
        TargetState::Paused => 5,
    };
    let worst = targets.iter().map(|(_, _, s)| *s).min_by_key(|s| rank(*s));
    let state = match worst {
        Some(s) if rank(s) <= 2 => s,
        _ if paused => TargetState::Paused,
        Some(s) => s,
        None => TargetState::Paused,
    };
    Some(SlaView {
        policy_id: sla.sla_policy_id,
        targets: targets
            .into_iter()
            .map(|(target, due_at, state)| TargetView {
                target,
                due_at,
                state: state.as_str(),
            })
            .collect(),
        paused,
        state: state.as_str(),
    })
}
