//! The people on the floor: agents and the teams they work in.

use crate::page::{Page, PageRequest};
use crate::{App, AppError, Caller};
use kefu_domain::audit::Action;
use kefu_domain::{Permission, validate};
use kefu_store::agents::{self, Agent};
use kefu_store::teams::{self, Team, TeamFields};
use kefu_store::{Conn, StoreError, Tx, audit as audit_log};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lists agents, a page at a time.
pub async fn list_agents(
    app: &App,
    caller: &Caller,
    page: PageRequest,
) -> Result<Page<Agent>, AppError> {
    caller.require(Permission::ViewDirectory)?;
    let mut reader = app.store.read().await?;
    let rows = agents::list(&mut reader.conn(), page.after, page.fetch_limit()).await?;
    Ok(Page::from_rows(rows, page, |a| a.id))
}

/// One agent.
pub async fn get_agent(app: &App, caller: &Caller, id: i64) -> Result<Agent, AppError> {
    caller.require(Permission::ViewDirectory)?;
    let mut reader = app.store.read().await?;
    Ok(agents::get(&mut reader.conn(), id).await?)
}

/// Input to create an agent account.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentInput {
    /// Sign-in email.
    pub email: String,
    /// Name shown to colleagues and customers.
    pub display_name: String,
    /// Role code name.
    pub role: String,
    /// UI language; default: the company's.
    #[serde(default)]
    pub language: Option<String>,
    /// Time zone; default: the company's.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Initial password (at least 8 characters); none leaves the account
    /// unable to sign in until a password is set.
    #[serde(default)]
    pub password: Option<String>,
}

/// Creates an agent account (admins only).
pub async fn create_agent(
    app: &App,
    caller: &Caller,
    input: NewAgentInput,
) -> Result<Agent, AppError> {
    caller.require(Permission::ManageAgents)?;
    let password_hash = match input.password.clone() {
        Some(password) => Some(
            tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))??,
        ),
        None => None,
    };
    let mut tx = app.store.write().await?;
    let agent = create_agent_in(&mut tx, caller, input, password_hash).await?;
    tx.commit().await?;
    Ok(agent)
}

/// Creates an agent inside a transaction the caller commits, with the
/// password already hashed.
pub(crate) async fn create_agent_in(
    tx: &mut Tx,
    caller: &Caller,
    input: NewAgentInput,
    password_hash: Option<String>,
) -> Result<Agent, AppError> {
    caller.require(Permission::ManageAgents)?;
    let defaults = kefu_store::company::get(&mut tx.conn()).await?;
    let language = match &input.language {
        Some(language) => validate::language("language", language)?,
        None => defaults
            .as_ref()
            .map_or_else(|| "zh-CN".to_owned(), |c| c.default_language.clone()),
    };
    let time_zone = match &input.time_zone {
        Some(zone) => validate::time_zone("time_zone", zone)?,
        None => defaults
            .as_ref()
            .map_or_else(|| "Asia/Shanghai".to_owned(), |c| c.time_zone.clone()),
    };
    let new = agents::NewAgent {
        email: validate::email("email", &input.email)?,
        display_name: validate::name("display_name", &input.display_name, 100)?,
        role: input
            .role
            .parse()
            .map_err(|e: kefu_domain::role::UnknownRole| {
                AppError::invalid("role", e.to_string())
            })?,
        language,
        time_zone,
        password_hash,
    };
    let agent = agents::insert(&mut tx.conn(), &new).await?;
    let snapshot = serde_json::to_value(&agent).map_err(|e| AppError::Internal(e.to_string()))?;
    record(
        tx,
        caller,
        "agent",
        agent.id,
        Action::Create,
        &serde_json::Value::Null,
        &snapshot,
    )
    .await?;
    Ok(agent)
}

/// Input to change an agent account: every field optional but the version.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentChanges {
    /// The version the editor read.
    pub version: i64,
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New role code name.
    #[serde(default)]
    pub role: Option<String>,
    /// New UI language.
    #[serde(default)]
    pub language: Option<String>,
    /// New time zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Whether the account may sign in.
    #[serde(default)]
    pub active: Option<bool>,
}

/// Changes an agent account (admins only). An installation always keeps
/// one active administrator, and nobody demotes or deactivates themselves;
/// a deactivated agent's sessions end at once.
pub async fn update_agent(
    app: &App,
    caller: &Caller,
    id: i64,
    changes: AgentChanges,
) -> Result<Agent, AppError> {
    caller.require(Permission::ManageAgents)?;
    let mut tx = app.store.write().await?;
    let before = agents::get(&mut tx.conn(), id).await?;
    if before.version != changes.version {
        return Err(AppError::Conflict {
            current_version: before.version,
        });
    }
    let fields = agents::AgentFields {
        display_name: match &changes.display_name {
            Some(name) => validate::name("display_name", name, 100)?,
            None => before.display_name.clone(),
        },
        role: match &changes.role {
            Some(text) => text.parse().map_err(|e: kefu_domain::role::UnknownRole| {
                AppError::invalid("role", e.to_string())
            })?,
            None => before.role,
        },
        language: match &changes.language {
            Some(language) => validate::language("language", language)?,
            None => before.language.clone(),
        },
        time_zone: match &changes.time_zone {
            Some(zone) => validate::time_zone("time_zone", zone)?,
            None => before.time_zone.clone(),
        },
        active: changes.active.unwrap_or(before.active),
    };
    let was_admin = before.role == kefu_domain::Role::Admin && before.active;
    let stays_admin = fields.role == kefu_domain::Role::Admin && fields.active;
    if caller.agent_id == Some(id) && was_admin && !stays_admin {
        let field = if fields.active { "role" } else { "active" };
        return Err(AppError::invalid(
            field,
            "cannot be changed on your own account: another administrator must do it",
        ));
    }
    if was_admin && !stays_admin && agents::count_active_admins(&mut tx.conn()).await? <= 1 {
        let field = if fields.active { "role" } else { "active" };
        return Err(AppError::invalid(
            field,
            "cannot be changed: this is the last active administrator",
        ));
    }
    let after = agents::update(&mut tx.conn(), id, changes.version, &fields).await?;
    if before.active && !after.active {
        kefu_store::sessions::delete_for_agent(&mut tx.conn(), id, None).await?;
    }
    let old = serde_json::to_value(&before).map_err(|e| AppError::Internal(e.to_string()))?;
    let new = serde_json::to_value(&after).map_err(|e| AppError::Internal(e.to_string()))?;
    record(&mut tx, caller, "agent", id, Action::Update, &old, &new).await?;
    tx.commit().await?;
    Ok(after)
}

/// A team with its member agent ids.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TeamView {
    /// The team record.
    #[serde(flatten)]
    pub team: Team,
    /// Member agent ids, ascending; the lead is always a member.
    pub member_ids: Vec<i64>,
}

/// Input to create a team.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// Unique name.
    pub name: String,
    /// What the team handles.
    #[serde(default)]
    pub description: String,
    /// The lead agent.
    #[serde(default)]
    pub lead_agent_id: Option<i64>,
    /// Member agents.
    #[serde(default)]
    pub member_ids: Vec<i64>,
}

/// Input to change a team: every field optional but the version read.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamChanges {
    /// The version the editor read; a stale one gets a conflict.
    pub version: i64,
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New lead; `null` removes the lead.
    #[serde(default, deserialize_with = "double_option::deserialize")]
    #[schemars(with = "Option<i64>")]
    pub lead_agent_id: Option<Option<i64>>,
    /// New member list (replaces the old one).
    #[serde(default)]
    pub member_ids: Option<Vec<i64>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

/// Lists teams with their members, a page at a time.
pub async fn list_teams(
    app: &App,
    caller: &Caller,
    page: PageRequest,
) -> Result<Page<TeamView>, AppError> {
    caller.require(Permission::ViewDirectory)?;
    let mut reader = app.store.read().await?;
    let rows = teams::list(&mut reader.conn(), page.after, page.fetch_limit()).await?;
    let page = Page::from_rows(rows, page, |t| t.id);
    let mut members: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    if let (Some(first), Some(last)) = (page.items.first(), page.items.last()) {
        for (team_id, agent_id) in teams::memberships(&mut reader.conn(), first.id, last.id).await?
        {
            members.entry(team_id).or_default().push(agent_id);
        }
    }
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|team| TeamView {
                member_ids: members.remove(&team.id).unwrap_or_default(),
                team,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
}

/// One team with its members.
pub async fn get_team(app: &App, caller: &Caller, id: i64) -> Result<TeamView, AppError> {
    caller.require(Permission::ViewDirectory)?;
    let mut reader = app.store.read().await?;
    load_team(&mut reader.conn(), id).await
}

async fn load_team(conn: &mut Conn<'_>, id: i64) -> Result<TeamView, AppError> {
    let team = teams::get(conn, id).await?;
    let member_ids = teams::members(conn, id).await?;
    Ok(TeamView { team, member_ids })
}

/// Creates a team (managers and admins).
pub async fn create_team(app: &App, caller: &Caller, input: NewTeam) -> Result<TeamView, AppError> {
    caller.require(Permission::ManageTeams)?;
    let mut tx = app.store.write().await?;
    let view = create_team_in(&mut tx, caller, input).await?;
    tx.commit().await?;
    Ok(view)
}

/// Creates a team inside a transaction the caller commits.
pub(crate) async fn create_team_in(
    tx: &mut Tx,
    caller: &Caller,
    input: NewTeam,
) -> Result<TeamView, AppError> {
    caller.require(Permission::ManageTeams)?;
    let fields = TeamFields {
        name: validate::name("name", &input.name, 100)?,
        description: input.description.trim().to_owned(),
        lead_agent_id: input.lead_agent_id,
    };
    let members = kefu_domain::team::members_with_lead(&input.member_ids, fields.lead_agent_id);
    check_agents_exist(tx, fields.lead_agent_id.iter().copied(), "lead_agent_id").await?;
    check_agents_exist(tx, input.member_ids.iter().copied(), "member_ids").await?;
    let team = teams::insert(&mut tx.conn(), &fields).await?;
    teams::set_members(&mut tx.conn(), team.id, &members).await?;
    let view = TeamView {
        team,
        member_ids: members,
    };
    let new = serde_json::to_value(&view).map_err(|e| AppError::Internal(e.to_string()))?;
    record(
        tx,
        caller,
        "team",
        view.team.id,
        Action::Create,
        &serde_json::Value::Null,
        &new,
    )
    .await?;
    Ok(view)
}

/// Changes a team if nobody else changed it since `changes.version`.
pub async fn update_team(
    app: &App,
    caller: &Caller,
    id: i64,
    changes: TeamChanges,
) -> Result<TeamView, AppError> {
    caller.require(Permission::ManageTeams)?;
    let mut tx = app.store.write().await?;
    let before = load_team(&mut tx.conn(), id).await?;
    if before.team.version != changes.version {
        return Err(AppError::Conflict {
            current_version: before.team.version,
        });
    }
    let fields = TeamFields {
        name: match &changes.name {
            Some(name) => validate::name("name", name, 100)?,
            None => before.team.name.clone(),
        },
        description: changes
            .description
            .as_deref()
            .map(str::trim)
            .map(str::to_owned)
            .unwrap_or_else(|| before.team.description.clone()),
        lead_agent_id: changes.lead_agent_id.unwrap_or(before.team.lead_agent_id),
    };
    check_agents_exist(
        &mut tx,
        fields.lead_agent_id.iter().copied(),
        "lead_agent_id",
    )
    .await?;
    let requested = changes
        .member_ids
        .clone()
        .unwrap_or_else(|| before.member_ids.clone());
    check_agents_exist(&mut tx, requested.iter().copied(), "member_ids").await?;
    let members = kefu_domain::team::members_with_lead(&requested, fields.lead_agent_id);
    let team = teams::update(&mut tx.conn(), id, changes.version, &fields).await?;
    if members != before.member_ids {
        teams::set_members(&mut tx.conn(), id, &members).await?;
    }
    let after = TeamView {
        team,
        member_ids: members,
    };
    let old = serde_json::to_value(&before).map_err(|e| AppError::Internal(e.to_string()))?;
    let new = serde_json::to_value(&after).map_err(|e| AppError::Internal(e.to_string()))?;
    record(&mut tx, caller, "team", id, Action::Update, &old, &new).await?;
    tx.commit().await?;
    Ok(after)
}

async fn check_agents_exist(
    tx: &mut Tx,
    ids: impl Iterator<Item = i64>,
    field: &str,
) -> Result<(), AppError> {
    for id in ids {
        match agents::get(&mut tx.conn(), id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(AppError::invalid(
                    field,
                    format!("agent {id} does not exist"),
                ));
            }
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

async fn record(
    tx: &mut Tx,
    caller: &Caller,
    entity: &str,
    entity_id: i64,
    action: Action,
    old: &serde_json::Value,
    new: &serde_json::Value,
) -> Result<(), AppError> {
    crate::audit::record_change(tx, caller, entity, entity_id, action, old, new).await
}

/// The audit history of a team (managers and admins).
pub async fn team_history(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<Vec<audit_log::Record>, AppError> {
    caller.require(Permission::ViewAuditLog)?;
    let mut reader = app.store.read().await?;
    teams::get(&mut reader.conn(), id).await?;
    Ok(audit_log::for_record(&mut reader.conn(), "team", id).await?)
}

/// An agent's own preferences, as edited on their settings page.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnPreferences {
    /// The version the form was read at.
    pub version: i64,
    /// Display name.
    pub display_name: String,
    /// `zh-CN` or `en`.
    pub language: String,
    /// IANA time zone.
    pub time_zone: String,
}

/// Saves the caller's own preferences (any signed-in agent).
pub async fn update_own_preferences(
    app: &App,
    caller: &Caller,
    input: OwnPreferences,
) -> Result<Agent, AppError> {
    let id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let display_name = validate::name("display_name", &input.display_name, 100)?;
    let language = validate::language("language", &input.language)?;
    let time_zone = validate::time_zone("time_zone", &input.time_zone)?;
    let mut tx = app.store.write().await?;
    let before = agents::get(&mut tx.conn(), id).await?;
    if before.version != input.version {
        return Err(AppError::Conflict {
            current_version: before.version,
        });
    }
    let after = agents::update_preferences(
        &mut tx.conn(),
        id,
        input.version,
        &display_name,
        &language,
        &time_zone,
    )
    .await?;
    let old = serde_json::to_value(&before).map_err(|e| AppError::Internal(e.to_string()))?;
    let new = serde_json::to_value(&after).map_err(|e| AppError::Internal(e.to_string()))?;
    record(&mut tx, caller, "agent", id, Action::Update, &old, &new).await?;
    tx.commit().await?;
    Ok(after)
}

/// Sets the caller's interface language (the language switch).
pub async fn set_own_language(app: &App, caller: &Caller, language: &str) -> Result<(), AppError> {
    let id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let language = validate::language("language", language)?;
    let mut tx = app.store.write().await?;
    let before = agents::get(&mut tx.conn(), id).await?;
    if before.language != language {
        agents::set_language(&mut tx.conn(), id, &language).await?;
        let old = serde_json::json!({ "language": before.language });
        let new = serde_json::json!({ "language": language });
        record(&mut tx, caller, "agent", id, Action::Update, &old, &new).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Sets the caller's presence (online, away, offline).
pub async fn set_own_status(app: &App, caller: &Caller, status: &str) -> Result<Agent, AppError> {
    let id = caller.agent_id.ok_or(AppError::Forbidden)?;
    let status: kefu_domain::presence::AgentStatus =
        status
            .parse()
            .map_err(|e: kefu_domain::presence::UnknownStatus| {
                AppError::invalid("status", e.to_string())
            })?;
    let mut tx = app.store.write().await?;
    let before = agents::get(&mut tx.conn(), id).await?;
    if before.status != status {
        agents::set_status(&mut tx.conn(), id, status).await?;
        let old = serde_json::json!({ "status": before.status });
        let new = serde_json::json!({ "status": status });
        record(&mut tx, caller, "agent", id, Action::Update, &old, &new).await?;
    }
    let after = agents::get(&mut tx.conn(), id).await?;
    tx.commit().await?;
    Ok(after)
}
