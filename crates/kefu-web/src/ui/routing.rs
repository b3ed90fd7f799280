//! Settings → Routing: each team's strategy, each agent's capacity and
//! skills (with their status and open tickets), and the rules that send
//! work to a team.

use super::form::FormState;
use super::sla::{ChoiceGroup, GROUPS, groups};
use super::{
    Fields, PageContext, Shell, by_list, caller, failure, field, refused_form, render,
    then_redirect,
};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kefu_app::routing::{self, AgentRoutingInput, RoutingOverview, RuleInput, TeamStrategyInput};
use kefu_domain::routing::Strategy;
use kefu_store::routing::RoutingRule;

#[derive(Template)]
#[template(path = "settings_routing.html")]
struct RoutingPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    /// A refusal of a team or agent row, already in words.
    row_error: Option<String>,
    overview: RoutingOverview,
    strategies: Vec<&'static str>,
    editing: Option<i64>,
    form: FormState,
    groups: Vec<ChoiceGroup>,
}

impl RoutingPage {
    fn team_name(&self, rule: &RoutingRule) -> String {
        self.overview
            .teams
            .iter()
            .find(|t| t.team_id == rule.team_id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }
}

#[allow(clippy::too_many_arguments)]
async fn routing_page(
    state: &AppState,
    context: &PageContext,
    editing: Option<i64>,
    form: FormState,
    notice: Option<&'static str>,
    row_error: Option<String>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let overview = match routing::overview(&state.app, &caller).await {
        Ok(o) => o,
        Err(e) => return failure(context, e),
    };
    let page = RoutingPage {
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/routing"),
        notice,
        row_error,
        overview,
        strategies: Strategy::ALL.iter().map(|s| s.as_str()).collect(),
        editing,
        form,
        groups: groups(),
    };
    (status, render(&page)).into_response()
}

/// `GET /settings/routing`.
pub async fn show(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = params
        .contains_key("saved")
        .then(|| context.locale.t("routing.saved"));
    let form = FormState::with_values(&[("active", "1")]);
    routing_page(&state, &context, None, form, notice, None, StatusCode::OK).await
}

fn form_of(rule: &RoutingRule) -> FormState {
    let mut form = FormState::with_values(&[
        ("version", &rule.version.to_string()),
        ("name", &rule.name),
        ("position", &rule.position.to_string()),
        ("team_id", &rule.team_id.to_string()),
        ("tags", &rule.tags.replace(',', ", ")),
    ]);
    for ((prefix, _), codes) in GROUPS.iter().zip([
        &rule.ticket_types,
        &rule.priorities,
        &rule.channels,
        &rule.grades,
    ]) {
        for code in codes.split(',').filter(|c| !c.is_empty()) {
            form.set_value(&format!("{prefix}.{code}"), "1");
        }
    }
    if rule.active {
        form.set_value("active", "1");
    }
    form
}

/// `GET /settings/routing/rules/{id}`: edit a rule.
pub async fn edit_rule(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let overview = match routing::overview(&state.app, &caller).await {
        Ok(o) => o,
        Err(e) => return failure(&context, e),
    };
    let Some(rule) = overview.rules.iter().find(|r| r.id == id) else {
        return failure(&context, kefu_app::AppError::NotFound);
    };
    let form = form_of(rule);
    routing_page(&state, &context, Some(id), form, None, None, StatusCode::OK).await
}

fn rule_input(fields: &Fields) -> RuleInput {
    let ticked = |prefix: &str| -> Vec<String> {
        let mut codes: Vec<String> = fields
            .keys()
            .filter_map(|k| k.strip_prefix(prefix)?.strip_prefix('.'))
            .map(str::to_owned)
            .collect();
        codes.sort();
        codes
    };
    RuleInput {
        version: field(fields, "version").parse().ok(),
        name: field(fields, "name").to_owned(),
        position: field(fields, "position").trim().parse().ok(),
        active: Some(fields.contains_key("active")),
        ticket_types: ticked("type"),
        priorities: ticked("priority"),
        grades: ticked("grade"),
        channels: ticked("channel"),
        tags: kefu_domain::routing::parse_skills(field(fields, "tags")),
        team_id: field(fields, "team_id").parse().unwrap_or(0),
    }
}

/// `POST /settings/routing/rules` and `POST /settings/routing/rules/{id}`.
async fn save_rule_step(
    state: &AppState,
    context: &PageContext,
    id: Option<i64>,
    fields: &Fields,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let input = rule_input(fields);
    let result = match id {
        None => routing::create_rule(&state.app, &caller, &input).await,
        Some(id) => routing::update_rule(&state.app, &caller, id, &input).await,
    };
    match result {
        Ok(_) => Redirect::to("/settings/routing?saved=1").into_response(),
        Err(error) => {
            let error = by_list(error);
            match refused_form(context, FormState::from_submitted(fields), error) {
                Ok((form, status)) => {
                    routing_page(state, context, id, form, None, None, status).await
                }
                Err(page) => *page,
            }
        }
    }
}

/// `POST /settings/routing/rules`: adds a rule.
pub async fn create_rule(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    save_rule_step(&state, &context, None, &fields).await
}

/// `POST /settings/routing/rules/{id}`: saves a rule.
pub async fn save_rule(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    save_rule_step(&state, &context, Some(id), &fields).await
}

/// `POST /settings/routing/rules/{id}/delete`.
pub async fn delete_rule(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(&context, "/settings/routing?saved=1", |caller| async move {
        routing::delete_rule(&state.app, &caller, id).await
    })
    .await
}

/// A team or agent row refused: the page again, the reason on top.
async fn row_refused(
    state: &AppState,
    context: &PageContext,
    error: kefu_app::AppError,
) -> Response {
    let (status, text) = match &error {
        kefu_app::AppError::Validation { field, reason } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{field}: {reason}"),
        ),
        _ => return failure(context, error),
    };
    let form = FormState::with_values(&[("active", "1")]);
    routing_page(state, context, None, form, None, Some(text), status).await
}

/// `POST /settings/routing/teams/{id}`: sets a team's strategy.
pub async fn save_team(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let input = TeamStrategyInput {
        strategy: field(&fields, "strategy").to_owned(),
    };
    match routing::set_team_strategy(&state.app, &caller, id, &input).await {
        Ok(_) => Redirect::to("/settings/routing?saved=1").into_response(),
        Err(e) => row_refused(&state, &context, e).await,
    }
}

/// `POST /settings/routing/agents/{id}`: sets an agent's capacity and skills.
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
    let capacity = field(&fields, "capacity").trim();
    let input = AgentRoutingInput {
        capacity: if capacity.is_empty() {
            None
        } else {
            // Unreadable numbers are refused by name rather than dropped.
            Some(capacity.parse().unwrap_or(-1))
        },
        skills: kefu_domain::routing::parse_skills(field(&fields, "skills")),
    };
    match routing::set_agent_routing(&state.app, &caller, id, &input).await {
        Ok(_) => Redirect::to("/settings/routing?saved=1").into_response(),
        Err(e) => row_refused(&state, &context, e).await,
    }
}
