//! Routing (派单): rules that send work to a team, and the background
//! router that gives each waiting ticket to an agent of its team.
//!
//! A ticket waits for the router while it is open and nobody has it
//! (`route_at` on the ticket, set in the transaction that made it so).
//! The router takes waiting tickets — on PostgreSQL with row locks,
//! skipping those another instance holds — gives a teamless one the team
//! of the first routing rule that matches, then asks the team's strategy
//! ([`kefu_domain::routing::choose`]) for an agent, under a lock on the
//! team's routing row so two instances never count the same free slot
//! twice. Assignments are ordinary ticket changes by `system:routing`:
//! audited, on the timeline, announced to open screens. A ticket nobody
//! can take now is looked at again shortly.

use crate::audit::record_change;
use crate::caller::Caller;
use crate::events::{EventKind, TicketEvent};
use crate::sla::{codes, split_codes};
use crate::tickets::{CheckedTicket, TicketChanges, update_in};
use crate::{App, AppError};
use chrono::{DateTime, Duration, Utc};
use kefu_domain::audit::Action;
use kefu_domain::customer::Grade;
use kefu_domain::presence::AgentStatus;
use kefu_domain::routing::{self as rules, Candidate, Strategy};
use kefu_domain::sla::{Conditions, TicketFacts};
use kefu_domain::ticket::{Channel, Priority, TicketType};
use kefu_domain::{Permission, validate};
use kefu_store::routing::{self as store, AgentRouting, RoutingRule, RuleFields};
use kefu_store::{Conn, Tx, agents, teams, tickets};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The author of the router's changes in the audit log.
pub const ACTOR: &str = "routing";

/// Tickets one router pass takes at most: a pass holds the database's
/// writer on SQLite, so it stays short enough not to stall ticket creation.
pub const BATCH: i64 = 50;

/// How long a ticket nobody could take waits before the next look.
pub const RETRY_SECONDS: i64 = 15;

/// A team's routing as shown.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TeamRoutingView {
    /// Team id.
    pub team_id: i64,
    /// Team name.
    pub name: String,
    /// `manual`, `round_robin`, `least_loaded` or `skills`.
    pub strategy: String,
}

/// An agent's routing as shown.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AgentRoutingView {
    /// Agent id.
    pub agent_id: i64,
    /// Name.
    pub name: String,
    /// `online`, `away` or `offline`.
    pub status: String,
    /// Most open tickets, if limited.
    pub capacity: Option<i64>,
    /// Skill codes.
    pub skills: Vec<String>,
    /// Open tickets assigned now.
    pub open_tickets: i64,
}

/// Routing settings in one view.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RoutingOverview {
    /// Every team's strategy.
    pub teams: Vec<TeamRoutingView>,
    /// Every active agent's capacity, skills and load.
    pub agents: Vec<AgentRoutingView>,
    /// The rules that pick a team, in order.
    pub rules: Vec<RoutingRule>,
}

/// The routing settings (anyone who reads settings).
pub async fn overview(app: &App, caller: &Caller) -> Result<RoutingOverview, AppError> {
    caller.require(Permission::ViewSettings)?;
    let mut reader = app.store.read().await?;
    let conn = &mut reader.conn();
    let strategies: HashMap<i64, String> = store::team_settings(conn)
        .await?
        .into_iter()
        .map(|t| (t.team_id, t.strategy))
        .collect();
    let teams = teams::list(conn, 0, 10_000)
        .await?
        .into_iter()
        .map(|t| TeamRoutingView {
            strategy: strategies
                .get(&t.id)
                .cloned()
                .unwrap_or_else(|| Strategy::Manual.as_str().to_owned()),
            team_id: t.id,
            name: t.name,
        })
        .collect();
    let settings: HashMap<i64, AgentRouting> = store::agent_settings(conn)
        .await?
        .into_iter()
        .map(|a| (a.agent_id, a))
        .collect();
    let loads: HashMap<i64, i64> = store::open_loads(conn).await?.into_iter().collect();
    let agents = agents::list(conn, 0, 10_000)
        .await?
        .into_iter()
        .filter(|a| a.active)
        .map(|a| {
            let set = settings.get(&a.id);
            AgentRoutingView {
                agent_id: a.id,
                name: a.display_name,
                status: a.status.as_str().to_owned(),
                capacity: set.and_then(|s| s.capacity),
                skills: set
                    .map(|s| rules::parse_skills(&s.skills))
                    .unwrap_or_default(),
                open_tickets: loads.get(&a.id).copied().unwrap_or(0),
            }
        })
        .collect();
    Ok(RoutingOverview {
        teams,
        agents,
        rules: store::rules(conn).await?,
    })
}

/// Input to set a team's strategy.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamStrategyInput {
    /// `manual`, `round_robin`, `least_loaded` or `skills`.
    pub strategy: String,
}

/// Sets how a team hands out its tickets; its waiting tickets are looked
/// at again at once.
pub async fn set_team_strategy(
    app: &App,
    caller: &Caller,
    team_id: i64,
    input: &TeamStrategyInput,
) -> Result<TeamRoutingView, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let strategy = Strategy::parse_field("strategy", &input.strategy)?;
    let mut tx = app.store.write().await?;
    let team = teams::get(&mut tx.conn(), team_id).await?;
    let before = store::lock_team(&mut tx.conn(), team_id).await?;
    store::set_strategy(&mut tx.conn(), team_id, strategy.as_str()).await?;
    record_change(
        &mut tx,
        caller,
        "team_routing",
        team_id,
        Action::Update,
        &serde_json::json!({"strategy": before.strategy}),
        &serde_json::json!({"strategy": strategy.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(TeamRoutingView {
        team_id,
        name: team.name,
        strategy: strategy.as_str().to_owned(),
    })
}

/// Input to set an agent's capacity and skills.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRoutingInput {
    /// Most open tickets (1–1000); `null` for no limit.
    #[serde(default)]
    pub capacity: Option<i64>,
    /// Skill codes: `language:en`, `channel:phone`, `product:宽带` …
    #[serde(default)]
    pub skills: Vec<String>,
}

/// Sets an agent's capacity and skills.
pub async fn set_agent_routing(
    app: &App,
    caller: &Caller,
    agent_id: i64,
    input: &AgentRoutingInput,
) -> Result<AgentRoutingView, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    if let Some(capacity) = input.capacity
        && !(1..=1000).contains(&capacity)
    {
        return Err(AppError::invalid(
            "capacity",
            "must be between 1 and 1000 open tickets",
        ));
    }
    let skills = rules::parse_skills(&input.skills.join(","));
    for (index, skill) in skills.iter().enumerate() {
        if skill.chars().count() > 60 || skill.contains(['<', '>', '"']) {
            return Err(AppError::invalid(
                format!("skills[{index}]"),
                "a skill is a short code such as language:en or channel:phone",
            ));
        }
    }
    let mut tx = app.store.write().await?;
    let agent = agents::get(&mut tx.conn(), agent_id).await?;
    let before = store::agent_settings(&mut tx.conn())
        .await?
        .into_iter()
        .find(|a| a.agent_id == agent_id);
    let after = AgentRouting {
        agent_id,
        capacity: input.capacity,
        skills: skills.join(","),
    };
    store::set_agent(&mut tx.conn(), &after).await?;
    record_change(
        &mut tx,
        caller,
        "agent_routing",
        agent_id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    let open = store::open_loads(&mut tx.conn())
        .await?
        .into_iter()
        .find(|(a, _)| *a == agent_id)
        .map_or(0, |(_, n)| n);
    tx.commit().await?;
    Ok(AgentRoutingView {
        agent_id,
        name: agent.display_name,
        status: agent.status.as_str().to_owned(),
        capacity: after.capacity,
        skills,
        open_tickets: open,
    })
}

/// Input to add or change a routing rule.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// The version read (changes only).
    #[serde(default)]
    pub version: Option<i64>,
    /// Name.
    pub name: String,
    /// Order (lowest first); default: after the others.
    #[serde(default)]
    pub position: Option<i64>,
    /// Applied (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// Ticket types (empty: any).
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
    /// Tags, any of them (empty: any).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The team matching tickets go to.
    pub team_id: i64,
}

async fn checked_rule(
    conn: &mut kefu_store::Conn<'_>,
    input: &RuleInput,
    default_position: i64,
) -> Result<RuleFields, AppError> {
    let name = validate::name("name", &input.name, 80)?;
    if teams::get(conn, input.team_id).await.is_err() {
        return Err(AppError::invalid(
            "team_id",
            format!("team {} does not exist", input.team_id),
        ));
    }
    let tags = kefu_domain::customer::tags("tags", &input.tags)?;
    Ok(RuleFields {
        name,
        position: input.position.unwrap_or(default_position),
        active: input.active.unwrap_or(true),
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
        tags: tags.join(","),
        team_id: input.team_id,
    })
}

/// Adds a routing rule.
pub async fn create_rule(
    app: &App,
    caller: &Caller,
    input: &RuleInput,
) -> Result<RoutingRule, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let mut tx = app.store.write().await?;
    let last = store::rules(&mut tx.conn())
        .await?
        .last()
        .map_or(0, |r| r.position);
    let fields = checked_rule(&mut tx.conn(), input, last + 10).await?;
    let rule = store::insert_rule(&mut tx.conn(), &fields).await?;
    record_change(
        &mut tx,
        caller,
        "routing_rule",
        rule.id,
        Action::Create,
        &(),
        &rule,
    )
    .await?;
    tx.commit().await?;
    Ok(rule)
}

/// Changes a routing rule (optimistic locking).
pub async fn update_rule(
    app: &App,
    caller: &Caller,
    id: i64,
    input: &RuleInput,
) -> Result<RoutingRule, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must be the version you read"))?;
    let mut tx = app.store.write().await?;
    let before = store::rule(&mut tx.conn(), id).await?;
    let fields = checked_rule(&mut tx.conn(), input, before.position).await?;
    let after = store::update_rule(&mut tx.conn(), id, version, &fields).await?;
    record_change(
        &mut tx,
        caller,
        "routing_rule",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a routing rule.
pub async fn delete_rule(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let mut tx = app.store.write().await?;
    let before = store::rule(&mut tx.conn(), id).await?;
    store::delete_rule(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "routing_rule",
        id,
        Action::Delete,
        &before,
        &(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks, in the transaction of a change, which of these tickets now wait
/// for the router (open and unassigned) and which no longer do.
pub(crate) async fn mark(tx: &mut Tx, ids: &[i64]) -> Result<(), AppError> {
    store::mark_waiting(&mut tx.conn(), ids, Utc::now()).await?;
    Ok(())
}

/// The active routing rules in order, each with its conditions.
async fn active_rules(conn: &mut Conn<'_>) -> Result<Vec<(RoutingRule, Conditions)>, AppError> {
    Ok(store::rules(conn)
        .await?
        .into_iter()
        .filter(|r| r.active)
        .map(|r| {
            let c = conditions_of(&r);
            (r, c)
        })
        .collect())
}

/// The team of the first rule whose conditions `ticket` meets.
fn team_of_first_match(rules: &[(RoutingRule, Conditions)], ticket: &TicketFacts) -> Option<i64> {
    kefu_domain::sla::first_match(rules.iter().map(|(_, c)| c), ticket)
        .and_then(|i| rules.get(i))
        .map(|(r, _)| r.team_id)
}

/// The team the routing rules send a new ticket to: only one that comes
/// without a team and without an assignee, as the router would decide it
/// later. Deciding at creation stores the team with the ticket and spares
/// the router a change per ticket.
pub(crate) async fn team_for_new(
    conn: &mut Conn<'_>,
    checked: &CheckedTicket,
) -> Result<Option<i64>, AppError> {
    let f = &checked.fields;
    if f.team_id.is_some() || f.assignee_id.is_some() {
        return Ok(None);
    }
    let rules = active_rules(conn).await?;
    if rules.is_empty() {
        return Ok(None);
    }
    let ticket = TicketFacts {
        ticket_type: f.ticket_type.as_str().to_owned(),
        priority: f.priority.as_str().to_owned(),
        grade: checked.customer_grade.map(|g| g.as_str().to_owned()),
        channel: f.channel.as_str().to_owned(),
        organization_id: f.organization_id,
        tags: checked.tags.clone(),
    };
    Ok(team_of_first_match(&rules, &ticket))
}

/// The audit record of a team the routing rules chose at creation: a
/// change by the router, after the creator's own record.
pub(crate) fn team_choice_change(team_id: i64) -> Vec<kefu_domain::audit::FieldChange> {
    kefu_domain::audit::diff(
        &serde_json::json!({"team_id": null}),
        &serde_json::json!({"team_id": team_id}),
        &crate::audit::BOOKKEEPING,
    )
}

fn conditions_of(rule: &RoutingRule) -> Conditions {
    Conditions {
        types: split_codes(&rule.ticket_types),
        priorities: split_codes(&rule.priorities),
        grades: split_codes(&rule.grades),
        channels: split_codes(&rule.channels),
        organization_ids: Vec::new(),
        tags: split_codes(&rule.tags),
    }
}

/// What one router pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteReport {
    /// Tickets looked at.
    pub tickets: usize,
    /// Given a team by a rule.
    pub teamed: usize,
    /// Given an agent.
    pub assigned: usize,
    /// Still waiting (nobody available).
    pub waiting: usize,
}

const OPEN: [&str; 4] = ["new", "open", "pending", "on_hold"];

/// Routes the tickets waiting at `now`, up to [`BATCH`].
pub async fn sweep(app: &App, now: DateTime<Utc>) -> Result<RouteReport, AppError> {
    let mut tx = app.store.write().await?;
    let ids = store::claim_waiting(&mut tx.conn(), now, BATCH).await?;
    let mut report = RouteReport {
        tickets: ids.len(),
        ..RouteReport::default()
    };
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(report);
    }
    let caller = Caller::system(ACTOR);
    let facts = kefu_store::sla::facts(&mut tx.conn(), &ids).await?;
    let active_rules = active_rules(&mut tx.conn()).await?;
    let mut by_team: Vec<(i64, i64)> = Vec::new();
    let mut done_with: Vec<i64> = Vec::new();
    for f in &facts {
        if f.assignee_id.is_some() || !OPEN.contains(&f.status.as_str()) {
            done_with.push(f.id);
            continue;
        }
        let team = match f.team_id {
            Some(team) => Some(team),
            None => {
                let ticket = TicketFacts {
                    ticket_type: f.ticket_type.clone(),
                    priority: f.priority.clone(),
                    grade: f.grade.clone(),
                    channel: f.channel.clone(),
                    organization_id: f.organization_id,
                    tags: f.tags.clone(),
                };
                let rule = team_of_first_match(&active_rules, &ticket);
                if let Some(team) = rule {
                    let current = tickets::get(&mut tx.conn(), f.id).await?;
                    let changes = TicketChanges {
                        version: current.version,
                        team_id: Some(Some(team)),
                        ..TicketChanges::default()
                    };
                    update_in(&mut tx, &caller, f.id, &changes).await?;
                    report.teamed += 1;
                }
                rule
            }
        };
        match team {
            Some(team) => by_team.push((team, f.id)),
            None => done_with.push(f.id),
        }
    }
    store::set_route_at_many(&mut tx.conn(), &done_with, None).await?;
    // One team at a time, in id order: two routers lock teams in the same
    // order and never wait on each other in a circle.
    by_team.sort_unstable();
    let mut start = 0;
    while start < by_team.len() {
        let team = by_team[start].0;
        let end = by_team[start..]
            .iter()
            .position(|(t, _)| *t != team)
            .map_or(by_team.len(), |n| start + n);
        let waiting: Vec<i64> = by_team[start..end].iter().map(|(_, id)| *id).collect();
        let (assigned, left) = route_team(&mut tx, &caller, team, &waiting, now).await?;
        report.assigned += assigned;
        report.waiting += left;
        start = end;
    }
    tx.commit().await?;
    for ticket_id in ids {
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

/// Gives a team's waiting tickets to its agents; answers how many were
/// assigned and how many still wait.
async fn route_team(
    tx: &mut Tx,
    caller: &Caller,
    team: i64,
    waiting: &[i64],
    now: DateTime<Utc>,
) -> Result<(usize, usize), AppError> {
    let settings = store::lock_team(&mut tx.conn(), team).await?;
    let strategy =
        Strategy::parse_field("strategy", &settings.strategy).unwrap_or(Strategy::Manual);
    if strategy == Strategy::Manual {
        store::set_route_at_many(&mut tx.conn(), waiting, None).await?;
        return Ok((0, 0));
    }
    let members = teams::members(&mut tx.conn(), team).await?;
    let loads: HashMap<i64, i64> = store::open_loads_of(&mut tx.conn(), &members)
        .await?
        .into_iter()
        .collect();
    let routing: HashMap<i64, AgentRouting> = store::agent_settings(&mut tx.conn())
        .await?
        .into_iter()
        .map(|a| (a.agent_id, a))
        .collect();
    let mut candidates = Vec::with_capacity(members.len());
    for agent_id in members {
        let agent = agents::get(&mut tx.conn(), agent_id).await?;
        let set = routing.get(&agent_id);
        candidates.push(Candidate {
            agent_id,
            online: agent.active && agent.status == AgentStatus::Online,
            open: loads.get(&agent_id).copied().unwrap_or(0),
            capacity: set.and_then(|s| s.capacity),
            skills: set
                .map(|s| rules::parse_skills(&s.skills))
                .unwrap_or_default(),
        });
    }
    let products: HashMap<i64, String> = if strategy == Strategy::Skills {
        tickets::categories(&mut tx.conn())
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect()
    } else {
        HashMap::new()
    };
    let mut last = settings.last_agent_id;
    let (mut assigned, mut left) = (0, 0);
    let retry_at = now + Duration::seconds(RETRY_SECONDS);
    for (position, id) in waiting.iter().enumerate() {
        // Nobody in the team can take work now (away, or at capacity):
        // the rest wait for the next try without being read one by one.
        if !candidates.iter().any(Candidate::available) {
            let rest = &waiting[position..];
            store::set_route_at_many(&mut tx.conn(), rest, Some(retry_at)).await?;
            left += rest.len();
            break;
        }
        let ticket = tickets::get(&mut tx.conn(), *id).await?;
        let needs = if strategy == Strategy::Skills {
            let language = match ticket.customer_id {
                Some(c) => Some(
                    kefu_store::customers::get(&mut tx.conn(), c)
                        .await?
                        .language,
                ),
                None => None,
            };
            let product = ticket
                .category_id
                .and_then(|c| products.get(&c))
                .map(String::as_str);
            rules::needs(language.as_deref(), ticket.channel.as_str(), product)
        } else {
            Vec::new()
        };
        match rules::choose(strategy, &candidates, &needs, last) {
            Some(agent) => {
                let changes = TicketChanges {
                    version: ticket.version,
                    assignee_id: Some(Some(agent)),
                    ..TicketChanges::default()
                };
                update_in(tx, caller, *id, &changes).await?;
                if let Some(c) = candidates.iter_mut().find(|c| c.agent_id == agent) {
                    c.open += 1;
                }
                last = Some(agent);
                assigned += 1;
            }
            None => {
                store::set_route_at(&mut tx.conn(), *id, Some(retry_at)).await?;
                left += 1;
            }
        }
    }
    if let Some(agent) = last
        && last != settings.last_agent_id
    {
        store::set_last_agent(&mut tx.conn(), team, agent).await?;
    }
    Ok((assigned, left))
}

/// Runs router passes every second until the app closes.
pub fn start(app: &App) -> tokio::task::JoinHandle<()> {
    crate::background::every_second(app, "routing", |app| async move {
        let report = sweep(&app, Utc::now()).await?;
        Ok(report.tickets >= usize::try_from(BATCH).unwrap_or(200))
    })
}

/// The demo floor's routing: strategies per team, a capacity of 30 open
/// tickets per agent, English for the international desk, and rules that
/// send VIP customers, complaints and faults to their teams.
pub(crate) async fn load_demo(tx: &mut Tx, caller: &Caller) -> Result<(), AppError> {
    let all_teams = teams::list(&mut tx.conn(), 0, 100).await?;
    let named = |prefix: &str| {
        all_teams
            .iter()
            .find(|t| t.name.starts_with(prefix))
            .map(|t| t.id)
    };
    for (prefix, strategy) in [
        ("一线客服组", Strategy::RoundRobin),
        ("技术支持组", Strategy::LeastLoaded),
        ("投诉处理组", Strategy::LeastLoaded),
        ("VIP专席", Strategy::LeastLoaded),
        ("国际客服组", Strategy::Skills),
    ] {
        if let Some(team) = named(prefix) {
            store::set_strategy(&mut tx.conn(), team, strategy.as_str()).await?;
        }
    }
    let international = match named("国际客服组") {
        Some(team) => teams::members(&mut tx.conn(), team).await?,
        None => Vec::new(),
    };
    for agent in agents::list(&mut tx.conn(), 0, 10_000).await? {
        let skills = if international.contains(&agent.id) {
            "language:en,channel:email"
        } else {
            "language:zh-cn"
        };
        store::set_agent(
            &mut tx.conn(),
            &AgentRouting {
                agent_id: agent.id,
                capacity: Some(30),
                skills: skills.to_owned(),
            },
        )
        .await?;
    }
    let rule = |name: &str, position, team_id| RuleFields {
        name: name.to_owned(),
        position,
        active: true,
        ticket_types: String::new(),
        priorities: String::new(),
        grades: String::new(),
        channels: String::new(),
        tags: String::new(),
        team_id,
    };
    let mut rules = Vec::new();
    if let Some(team) = named("VIP专席") {
        rules.push(RuleFields {
            grades: "vip".into(),
            ..rule("VIP 客户到 VIP 专席 VIP desk", 10, team)
        });
    }
    if let Some(team) = named("投诉处理组") {
        rules.push(RuleFields {
            ticket_types: "complaint".into(),
            ..rule("投诉到投诉处理组 Complaints", 20, team)
        });
    }
    if let Some(team) = named("技术支持组") {
        rules.push(RuleFields {
            ticket_types: "fault".into(),
            ..rule("故障到技术支持组 Faults", 30, team)
        });
    }
    for fields in &rules {
        let created = store::insert_rule(&mut tx.conn(), fields).await?;
        record_change(
            tx,
            caller,
            "routing_rule",
            created.id,
            Action::Create,
            &(),
            &created,
        )
        .await?;
    }
    Ok(())
}
