//! The admin screens: agent accounts, teams, API tokens, the audit log.

use super::form::FormState;
use super::{Fields, caller, field, url_escape};
use super::{NavItem, PageContext, SETTINGS_SECTIONS, Shell, failure, message, render, role_key};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kefu_app::directory::{self, NewAgentInput, NewTeam, TeamView};
use kefu_app::page::{MAX_LIMIT, PageRequest};
use kefu_app::{AppError, Caller, audit, auth};
use kefu_domain::Role;
use std::collections::BTreeMap;

pub(super) fn settings_nav(context: &PageContext, active: &str) -> Vec<NavItem> {
    let Some(signed_in) = &context.signed_in else {
        return Vec::new();
    };
    SETTINGS_SECTIONS
        .iter()
        .filter(|(_, _, permission)| signed_in.agent.role.allows(*permission))
        .map(|(href, label_key, _)| NavItem {
            key: label_key,
            href,
            label_key,
            active: *href == active,
        })
        .collect()
}

/// Every agent's display name by id.
pub async fn agent_names(
    state: &AppState,
    caller: &Caller,
) -> Result<BTreeMap<i64, String>, AppError> {
    let mut names = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::parse(cursor.as_deref(), Some(MAX_LIMIT))?;
        let agents = directory::list_agents(&state.app, caller, page).await?;
        names.extend(agents.items.into_iter().map(|a| (a.id, a.display_name)));
        match agents.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(names),
        }
    }
}

/// Every team with its members.
pub async fn all_teams(state: &AppState, caller: &Caller) -> Result<Vec<TeamView>, AppError> {
    let mut teams = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::parse(cursor.as_deref(), Some(MAX_LIMIT))?;
        let result = directory::list_teams(&state.app, caller, page).await?;
        teams.extend(result.items);
        match result.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(teams),
        }
    }
}

/// `GET /settings`: the first section the role may open.
pub async fn index(context: PageContext) -> Response {
    match settings_nav(&context, "").first() {
        Some(item) => Redirect::to(item.href).into_response(),
        None => message(&context, StatusCode::FORBIDDEN, "forbidden"),
    }
}

const ROLE_OPTIONS: [(&str, &str); 7] = [
    ("agent", "roles.agent"),
    ("tech_support", "roles.tech_support"),
    ("manager", "roles.manager"),
    ("qa_inspector", "roles.qa_inspector"),
    ("trainer", "roles.trainer"),
    ("analyst", "roles.analyst"),
    ("admin", "roles.admin"),
];

#[derive(Template)]
#[template(path = "settings_agents.html")]
struct AgentsPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    notice: Option<&'static str>,
    agents: Vec<AgentRow>,
    form: FormState,
    role_options: [(&'static str, &'static str); 7],
}

struct AgentRow {
    id: i64,
    active: bool,
    display_name: String,
    email: String,
    role_key: &'static str,
    language: String,
    created: String,
}

async fn agents_page(
    state: &AppState,
    context: &PageContext,
    notice: Option<&'static str>,
    form: FormState,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match PageRequest::parse(cursor.as_deref(), Some(MAX_LIMIT)) {
            Ok(p) => p,
            Err(e) => return failure(context, e),
        };
        let agents = match directory::list_agents(&state.app, caller, page).await {
            Ok(a) => a,
            Err(e) => return failure(context, e),
        };
        rows.extend(agents.items.into_iter().map(|a| AgentRow {
            id: a.id,
            active: a.active,
            role_key: role_key(a.role),
            created: context.time(a.created_at),
            display_name: a.display_name,
            email: a.email,
            language: a.language,
        }));
        match agents.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    render(&AgentsPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(context, "/settings/agents"),
        notice,
        agents: rows,
        form,
        role_options: ROLE_OPTIONS,
    })
}

/// `GET /settings/agents`.
pub async fn agents(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<Fields>,
) -> Response {
    let notice = query
        .contains_key("created")
        .then(|| context.locale.t("agents.created_notice"));
    agents_page(
        &state,
        &context,
        notice,
        FormState::with_values(&[("role", "agent")]),
    )
    .await
}

/// `POST /settings/agents`.
pub async fn create_agent(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let password = Some(field(&fields, "password").to_owned()).filter(|p| !p.is_empty());
    let input = NewAgentInput {
        email: field(&fields, "email").to_owned(),
        display_name: field(&fields, "display_name").to_owned(),
        role: field(&fields, "role").to_owned(),
        language: None,
        time_zone: None,
        password,
    };
    match directory::create_agent(&state.app, &caller, input).await {
        Ok(_) => Redirect::to("/settings/agents?created=1").into_response(),
        Err(error) => {
            let mut form = FormState::from_submitted(&fields);
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    let page = agents_page(&state, &context, None, form).await;
                    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

#[derive(Template)]
#[template(path = "settings_teams.html")]
struct TeamsPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    notice: Option<&'static str>,
    teams: Vec<TeamRow>,
    form: FormState,
    agent_options: Vec<(String, String)>,
}

struct TeamRow {
    id: i64,
    name: String,
    lead: String,
    members: String,
    description: String,
}

async fn teams_page(
    state: &AppState,
    context: &PageContext,
    notice: Option<&'static str>,
    form: FormState,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let (names, teams) = match (
        agent_names(state, caller).await,
        all_teams(state, caller).await,
    ) {
        (Ok(n), Ok(t)) => (n, t),
        (Err(e), _) | (_, Err(e)) => return failure(context, e),
    };
    let name_of = |id: &i64| names.get(id).cloned().unwrap_or_else(|| format!("#{id}"));
    let rows = teams
        .into_iter()
        .map(|t| TeamRow {
            id: t.team.id,
            lead: t
                .team
                .lead_agent_id
                .as_ref()
                .map(name_of)
                .unwrap_or_else(|| "—".into()),
            members: t.member_ids.len().to_string(),
            name: t.team.name,
            description: t.team.description,
        })
        .collect();
    render(&TeamsPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(context, "/settings/teams"),
        notice,
        teams: rows,
        form,
        agent_options: names
            .iter()
            .map(|(id, name)| (id.to_string(), name.clone()))
            .collect(),
    })
}

/// `GET /settings/teams`.
pub async fn teams(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<Fields>,
) -> Response {
    let notice = query
        .contains_key("created")
        .then(|| context.locale.t("teams.created"));
    teams_page(&state, &context, notice, FormState::default()).await
}

/// `POST /settings/teams`.
pub async fn create_team(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let mut form = FormState::from_submitted(&fields);
    let lead = field(&fields, "lead_agent_id");
    let lead_agent_id = if lead.is_empty() {
        None
    } else {
        match lead.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                form.set_error(
                    "lead_agent_id",
                    context.locale.t("reasons.not_a_number").to_owned(),
                );
                let page = teams_page(&state, &context, None, form).await;
                return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
            }
        }
    };
    let input = NewTeam {
        name: field(&fields, "name").to_owned(),
        description: field(&fields, "description").to_owned(),
        lead_agent_id,
        member_ids: Vec::new(),
    };
    match directory::create_team(&state.app, &caller, input).await {
        Ok(_) => Redirect::to("/settings/teams?created=1").into_response(),
        Err(error) => match form.absorb(context.locale, error) {
            Ok(()) => {
                let page = teams_page(&state, &context, None, form).await;
                (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
            }
            Err(other) => failure(&context, other),
        },
    }
}

#[derive(Template)]
#[template(path = "settings_tokens.html")]
struct TokensPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    notice: Option<&'static str>,
    new_token: Option<String>,
    tokens: Vec<TokenRow>,
    form: FormState,
    role_options: [(&'static str, &'static str); 7],
}

struct TokenRow {
    id: i64,
    name: String,
    role_key: &'static str,
    agent: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

async fn tokens_page(
    state: &AppState,
    context: &PageContext,
    notice: Option<&'static str>,
    new_token: Option<String>,
    form: FormState,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let (names, tokens) = match (
        agent_names(state, caller).await,
        auth::list_api_tokens(&state.app, caller).await,
    ) {
        (Ok(n), Ok(t)) => (n, t),
        (Err(e), _) | (_, Err(e)) => return failure(context, e),
    };
    let never = context.locale.t("common.never");
    let rows = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            role_key: t.role.parse::<Role>().map_or("roles.agent", role_key),
            agent: names
                .get(&t.agent_id)
                .cloned()
                .unwrap_or_else(|| format!("#{}", t.agent_id)),
            expires: t
                .expires_at
                .map_or_else(|| never.to_owned(), |at| context.time(at)),
            last_used: t
                .last_used_at
                .map_or_else(|| never.to_owned(), |at| context.time(at)),
            revoked: t.revoked_at.is_some(),
            name: t.name,
        })
        .collect();
    render(&TokensPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(context, "/settings/tokens"),
        notice,
        new_token,
        tokens: rows,
        form,
        role_options: ROLE_OPTIONS,
    })
}

/// `GET /settings/tokens`.
pub async fn tokens(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<Fields>,
) -> Response {
    let notice = query
        .contains_key("revoked")
        .then(|| context.locale.t("tokens.revoked_notice"));
    let role = context
        .signed_in
        .as_ref()
        .map_or("agent", |s| s.agent.role.as_str());
    tokens_page(
        &state,
        &context,
        notice,
        None,
        FormState::with_values(&[("role", role)]),
    )
    .await
}

/// `POST /settings/tokens`: the new token is shown on this page only.
pub async fn create_token(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let mut form = FormState::from_submitted(&fields);
    let days = field(&fields, "expires_in_days").trim();
    let expires_in_days = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) => Some(d),
            Err(_) => {
                form.set_error(
                    "expires_in_days",
                    context.locale.t("reasons.bad_days").to_owned(),
                );
                let page = tokens_page(&state, &context, None, None, form).await;
                return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
            }
        }
    };
    let input = auth::NewTokenInput {
        name: field(&fields, "name").to_owned(),
        agent_id: None,
        role: Some(field(&fields, "role").to_owned()).filter(|r| !r.is_empty()),
        expires_in_days,
    };
    match auth::create_api_token(&state.app, &caller, input).await {
        Ok(issued) => {
            tokens_page(
                &state,
                &context,
                None,
                Some(issued.token),
                FormState::default(),
            )
            .await
        }
        Err(error) => match form.absorb(context.locale, error) {
            Ok(()) => {
                let page = tokens_page(&state, &context, None, None, form).await;
                (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
            }
            Err(other) => failure(&context, other),
        },
    }
}

/// `POST /settings/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match auth::revoke_api_token(&state.app, &caller, id).await {
        Ok(_) => Redirect::to("/settings/tokens?revoked=1").into_response(),
        Err(error) => failure(&context, error),
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    filter: AuditFilterForm,
    error: Option<String>,
    rows: Vec<AuditRow>,
    next_cursor: Option<String>,
    next_link: String,
}

struct AuditFilterForm {
    entity: String,
    entity_id: String,
    actor: String,
}

struct AuditRow {
    at: String,
    actor: String,
    source: String,
    record: String,
    action: String,
    changes: String,
}

/// `GET /settings/audit`: the whole log, filtered, newest first.
pub async fn audit(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let filter = AuditFilterForm {
        entity: field(&query, "entity").to_owned(),
        entity_id: field(&query, "entity_id").to_owned(),
        actor: field(&query, "actor").to_owned(),
    };
    let mut error = None;
    let entity_id = match filter.entity_id.trim() {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                error = Some(context.locale.tf(
                    "audit.bad_filter",
                    &[("reason", context.locale.t("reasons.not_a_number"))],
                ));
                None
            }
        },
    };
    let search = audit::AuditQuery {
        entity: Some(filter.entity.clone()),
        entity_id,
        actor: Some(filter.actor.clone()),
        cursor: query.get("cursor").cloned(),
        limit: Some(50),
        ..Default::default()
    };
    let (rows, next_cursor) = match audit::search(&state.app, &caller, &search).await {
        Ok(page) => (page.items, page.next_cursor),
        Err(AppError::Validation { reason, .. }) => {
            error = Some(context.locale.tf(
                "audit.bad_filter",
                &[("reason", &context.locale.reason(&reason))],
            ));
            (Vec::new(), None)
        }
        Err(other) => return failure(&context, other),
    };
    let rows = rows
        .into_iter()
        .map(|r| AuditRow {
            at: context.time(r.at),
            actor: format!("{}:{}", r.actor_kind, r.actor_ref),
            source: r.source,
            record: format!("{} #{}", r.entity, r.entity_id),
            action: r.action,
            changes: r
                .changes
                .iter()
                .map(|c| format!("{}: {} → {}", c.field, c.old, c.new))
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect();
    let next_link = next_cursor.as_ref().map_or_else(String::new, |cursor| {
        format!(
            "/settings/audit?entity={}&entity_id={}&actor={}&cursor={cursor}",
            url_escape(&filter.entity),
            url_escape(&filter.entity_id),
            url_escape(&filter.actor)
        )
    });
    render(&AuditPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(&context, "/settings/audit"),
        filter,
        error,
        rows,
        next_cursor,
        next_link,
    })
}

#[derive(Template)]
#[template(path = "agent_edit.html")]
struct AgentEditPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    id: i64,
    email: String,
    two_step_on: bool,
    notice: Option<&'static str>,
    form: FormState,
    role_options: [(&'static str, &'static str); 7],
}

async fn agent_edit_page(
    state: &AppState,
    context: &PageContext,
    id: i64,
    form: Option<FormState>,
) -> Response {
    agent_edit_page_with(state, context, id, form, false).await
}

async fn agent_edit_page_with(
    state: &AppState,
    context: &PageContext,
    id: i64,
    form: Option<FormState>,
    notice: bool,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let agent = match directory::get_agent(&state.app, caller, id).await {
        Ok(a) => a,
        Err(e) => return failure(context, e),
    };
    let form = form.unwrap_or_else(|| {
        FormState::with_values(&[
            ("version", &agent.version.to_string()),
            ("display_name", &agent.display_name),
            ("role", agent.role.as_str()),
            ("language", &agent.language),
            ("time_zone", &agent.time_zone),
            ("active", if agent.active { "1" } else { "" }),
        ])
    });
    let two_step_on = match kefu_app::signin::agent_two_step_on(&state.app, caller, id).await {
        Ok(on) => on,
        Err(e) => return failure(context, e),
    };
    render(&AgentEditPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(context, "/settings/agents"),
        id,
        email: agent.email,
        two_step_on,
        notice: notice.then(|| context.locale.t("agents.two_step_reset_done")),
        form,
        role_options: ROLE_OPTIONS,
    })
}

/// `GET /settings/agents/{id}`.
pub async fn agent_form(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    agent_edit_page(&state, &context, id, None).await
}

/// `POST /settings/agents/{id}`: a stale version keeps the admin's input
/// and says someone else changed the account.
pub async fn save_agent(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let mut form = FormState::from_submitted(&fields);
    if !fields.contains_key("active") {
        form = FormState::from_submitted(
            &fields
                .clone()
                .into_iter()
                .chain([("active".to_owned(), String::new())])
                .collect(),
        );
    }
    let Ok(version) = field(&fields, "version").parse::<i64>() else {
        form.set_error("version", context.locale.t("errors.conflict").to_owned());
        let page = agent_edit_page(&state, &context, id, Some(form)).await;
        return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
    };
    let changes = directory::AgentChanges {
        version,
        display_name: Some(field(&fields, "display_name").to_owned()),
        role: Some(field(&fields, "role").to_owned()),
        language: Some(field(&fields, "language").to_owned()),
        time_zone: Some(field(&fields, "time_zone").to_owned()),
        active: Some(field(&fields, "active") == "1"),
    };
    match directory::update_agent(&state.app, &caller, id, changes).await {
        Ok(_) => Redirect::to("/settings/agents?saved=1").into_response(),
        Err(error) => match form.absorb(context.locale, error) {
            Ok(()) => {
                let page = agent_edit_page(&state, &context, id, Some(form)).await;
                (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
            }
            Err(other) => failure(&context, other),
        },
    }
}

#[derive(Template)]
#[template(path = "team_edit.html")]
struct TeamEditPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    id: i64,
    form: FormState,
    agents: Vec<MemberOption>,
}

struct MemberOption {
    id: i64,
    id_text: String,
    name: String,
    member: bool,
}

async fn team_edit_page(
    state: &AppState,
    context: &PageContext,
    id: i64,
    form: Option<(FormState, Vec<i64>)>,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let team = match directory::get_team(&state.app, caller, id).await {
        Ok(t) => t,
        Err(e) => return failure(context, e),
    };
    let names = match agent_names(state, caller).await {
        Ok(n) => n,
        Err(e) => return failure(context, e),
    };
    let (form, members) = form.unwrap_or_else(|| {
        let lead = team
            .team
            .lead_agent_id
            .map(|l| l.to_string())
            .unwrap_or_default();
        let form = FormState::with_values(&[
            ("version", &team.team.version.to_string()),
            ("name", &team.team.name),
            ("description", &team.team.description),
            ("lead_agent_id", &lead),
        ]);
        (form, team.member_ids.clone())
    });
    render(&TeamEditPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(context, "/settings/teams"),
        id,
        form,
        agents: names
            .into_iter()
            .map(|(agent_id, name)| MemberOption {
                id: agent_id,
                id_text: agent_id.to_string(),
                name,
                member: members.contains(&agent_id),
            })
            .collect(),
    })
}

/// `GET /settings/teams/{id}`.
pub async fn team_form(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    team_edit_page(&state, &context, id, None).await
}

/// `POST /settings/teams/{id}`: name, lead and members in one save.
pub async fn save_team(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let fields: Fields = pairs
        .iter()
        .filter(|(k, _)| k != "member_ids")
        .cloned()
        .collect();
    let members: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "member_ids")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let mut form = FormState::from_submitted(&fields);
    let lead = field(&fields, "lead_agent_id");
    let lead_agent_id = if lead.is_empty() {
        Ok(None)
    } else {
        lead.parse::<i64>().map(Some)
    };
    let (Ok(version), Ok(lead_agent_id)) =
        (field(&fields, "version").parse::<i64>(), lead_agent_id)
    else {
        form.set_error("version", context.locale.t("errors.conflict").to_owned());
        let page = team_edit_page(&state, &context, id, Some((form, members))).await;
        return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
    };
    let changes = directory::TeamChanges {
        version,
        name: Some(field(&fields, "name").to_owned()),
        description: Some(field(&fields, "description").to_owned()),
        lead_agent_id: Some(lead_agent_id),
        member_ids: Some(members.clone()),
    };
    match directory::update_team(&state.app, &caller, id, changes).await {
        Ok(_) => Redirect::to("/settings/teams?saved=1").into_response(),
        Err(error) => match form.absorb(context.locale, error) {
            Ok(()) => {
                let page = team_edit_page(&state, &context, id, Some((form, members))).await;
                (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
            }
            Err(other) => failure(&context, other),
        },
    }
}

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    roles: Vec<(&'static str, &'static str)>,
    rows: Vec<PermissionRow>,
}

struct PermissionRow {
    label_key: String,
    cells: Vec<bool>,
}

/// `GET /settings/roles`: what each role may do, from the one matrix.
pub async fn roles(context: PageContext) -> Response {
    let rows = kefu_domain::Permission::ALL
        .into_iter()
        .map(|permission| PermissionRow {
            label_key: format!(
                "permissions.{}",
                serde_json::to_value(permission)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            cells: Role::ALL
                .iter()
                .map(|role| role.allows(permission))
                .collect(),
        })
        .collect();
    render(&RolesPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(&context, "/settings/roles"),
        roles: Role::ALL
            .iter()
            .map(|r| (r.as_str(), role_key(*r)))
            .collect(),
        rows,
    })
}

#[derive(Template)]
#[template(path = "settings_custom_fields.html")]
struct CustomFieldsPage {
    shell: Shell,
    settings_nav: Vec<NavItem>,
    notice: Option<&'static str>,
    rows: Vec<CustomFieldRow>,
    form: FormState,
    /// The field being edited, if any.
    editing: Option<i64>,
    kinds: Vec<(&'static str, String, bool)>,
}

struct CustomFieldRow {
    id: i64,
    key: String,
    label_zh: String,
    label_en: String,
    kind_key: String,
    target_key: String,
    options: String,
    required: bool,
    active: bool,
}

async fn custom_fields_page(
    state: &AppState,
    context: &PageContext,
    notice: Option<&'static str>,
    form: FormState,
    editing: Option<i64>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let fields = match kefu_app::custom_fields::list_fields(&state.app, caller, None).await {
        Ok(f) => f,
        Err(e) => return failure(context, e),
    };
    let rows = fields
        .into_iter()
        .map(|f| CustomFieldRow {
            id: f.id,
            key: f.key,
            label_zh: f.label_zh,
            label_en: f.label_en,
            kind_key: format!("custom_fields.kind_{}", f.kind.as_str()),
            target_key: format!("custom_fields.on_{}", f.applies_to.as_str()),
            options: f.options.join(", "),
            required: f.required,
            active: f.active,
        })
        .collect();
    let kinds = kefu_domain::custom_field::FieldKind::ALL
        .iter()
        .map(|k| {
            (
                k.as_str(),
                format!("custom_fields.kind_{}", k.as_str()),
                form.value("kind") == k.as_str(),
            )
        })
        .collect();
    let page = render(&CustomFieldsPage {
        shell: context.shell("settings"),
        settings_nav: settings_nav(context, "/settings/custom-fields"),
        notice,
        rows,
        form,
        editing,
        kinds,
    });
    (status, page).into_response()
}

/// `GET /settings/custom-fields`: the fields and a form to add one.
pub async fn custom_fields(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<Fields>,
) -> Response {
    let notice = query
        .contains_key("saved")
        .then(|| context.locale.t("custom_fields.saved"));
    let form = FormState::with_values(&[("kind", "text"), ("applies_to", "customer")]);
    custom_fields_page(&state, &context, notice, form, None, StatusCode::OK).await
}

fn field_input(fields: &Fields, version: Option<i64>) -> kefu_app::custom_fields::FieldInput {
    kefu_app::custom_fields::FieldInput {
        version,
        key: Some(field(fields, "key").to_owned()).filter(|k| !k.is_empty()),
        label_zh: field(fields, "label_zh").to_owned(),
        label_en: field(fields, "label_en").to_owned(),
        kind: Some(field(fields, "kind").to_owned()).filter(|k| !k.is_empty()),
        applies_to: Some(field(fields, "applies_to").to_owned()).filter(|k| !k.is_empty()),
        options: field(fields, "options")
            .split([',', '，', '\n'])
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect(),
        required: field(fields, "required") == "1",
        active: version.map(|_| field(fields, "active") == "1"),
    }
}

/// `POST /settings/custom-fields`: add a field.
pub async fn create_custom_field(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let input = field_input(&fields, None);
    match kefu_app::custom_fields::create_field(&state.app, &caller, &input).await {
        Ok(_) => Redirect::to("/settings/custom-fields?saved=1").into_response(),
        Err(error) => {
            let mut form = FormState::from_submitted(&fields);
            match absorb_option_error(&mut form, context.locale, error) {
                Ok(()) => {
                    custom_fields_page(
                        &state,
                        &context,
                        None,
                        form,
                        None,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// Errors on `options[i]` show beside the options box.
fn absorb_option_error(
    form: &mut FormState,
    locale: crate::i18n::Locale,
    error: AppError,
) -> Result<(), AppError> {
    match error {
        AppError::Validation { field, reason } if field.starts_with("options") => {
            form.set_error("options", locale.reason(&reason));
            Ok(())
        }
        other => form.absorb(locale, other),
    }
}

/// `GET /settings/custom-fields/{id}`: edit a field.
pub async fn custom_field_form(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c,
        Err(e) => return failure(&context, e),
    };
    let fields = match kefu_app::custom_fields::list_fields(&state.app, caller, None).await {
        Ok(f) => f,
        Err(e) => return failure(&context, e),
    };
    let Some(f) = fields.into_iter().find(|f| f.id == id) else {
        return message(&context, StatusCode::NOT_FOUND, "not_found");
    };
    let form = FormState::with_values(&[
        ("version", &f.version.to_string()),
        ("key", &f.key),
        ("label_zh", &f.label_zh),
        ("label_en", &f.label_en),
        ("kind", f.kind.as_str()),
        ("applies_to", f.applies_to.as_str()),
        ("options", &f.options.join(", ")),
        ("required", if f.required { "1" } else { "" }),
        ("active", if f.active { "1" } else { "" }),
    ]);
    custom_fields_page(&state, &context, None, form, Some(id), StatusCode::OK).await
}

/// `POST /settings/custom-fields/{id}`: save a field (optimistic locking).
pub async fn save_custom_field(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let version = field(&fields, "version").parse::<i64>().ok();
    let input = field_input(&fields, version);
    match kefu_app::custom_fields::update_field(&state.app, &caller, id, &input).await {
        Ok(_) => Redirect::to("/settings/custom-fields?saved=1").into_response(),
        Err(error) => {
            let status = if matches!(error, AppError::Conflict { .. }) {
                StatusCode::CONFLICT
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            let mut form = FormState::from_submitted(&fields);
            match absorb_option_error(&mut form, context.locale, error) {
                Ok(()) => custom_fields_page(&state, &context, None, form, Some(id), status).await,
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// `POST /settings/agents/{id}/two-step/reset`: switch the agent's
/// two-step sign-in off, then show the account again.
pub async fn reset_two_step(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match kefu_app::signin::reset_two_step(&state.app, &caller, id).await {
        Ok(_) => agent_edit_page_with(&state, &context, id, None, true).await,
        Err(e) => failure(&context, e),
    }
}
