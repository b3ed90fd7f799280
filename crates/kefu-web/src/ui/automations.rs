//! Settings → Automation: the ordered rules with how often each fired, a
//! form with rows of conditions and actions, switching rules off, and a
//! try-out against a sample ticket that changes nothing.

use super::form::FormState;
use super::{
    Fields, PageContext, Shell, caller, failure, field, refused_form, render, then_redirect,
};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kefu_app::automations::{self, AutomationInput, TestResult};
use kefu_domain::automation::{ActionKind, Condition, Field, Operator, RuleAction, Trigger};
use kefu_store::automations::Automation;

/// Rows of conditions and of actions the form offers.
const ROWS: usize = 5;

#[derive(Template)]
#[template(path = "settings_automations.html")]
struct AutomationsPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    rules: Vec<Automation>,
    editing: Option<i64>,
    form: FormState,
    events: Vec<&'static str>,
    fields: Vec<&'static str>,
    operators: Vec<&'static str>,
    actions: Vec<&'static str>,
    rows: Vec<usize>,
    tried: Option<TestResult>,
}

#[allow(clippy::too_many_arguments)]
async fn automations_page(
    state: &AppState,
    context: &PageContext,
    editing: Option<i64>,
    form: FormState,
    notice: Option<&'static str>,
    tried: Option<TestResult>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let rules = match automations::list(&state.app, &caller).await {
        Ok(r) => r,
        Err(e) => return failure(context, e),
    };
    let page = AutomationsPage {
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/automations"),
        notice,
        rules,
        editing,
        form,
        events: Trigger::ALL.iter().map(|t| t.as_str()).collect(),
        fields: Field::ALL.iter().map(|f| f.as_str()).collect(),
        operators: Operator::ALL.iter().map(|o| o.as_str()).collect(),
        actions: ActionKind::ALL.iter().map(|a| a.as_str()).collect(),
        rows: (0..ROWS).collect(),
        tried,
    };
    (status, render(&page)).into_response()
}

fn form_of(rule: &Automation) -> FormState {
    let mut form = FormState::with_values(&[
        ("version", &rule.version.to_string()),
        ("name", &rule.name),
        ("position", &rule.position.to_string()),
        ("event", &rule.event),
    ]);
    if rule.active {
        form.set_value("active", "1");
    }
    for (i, c) in rule.condition_list().iter().enumerate() {
        form.set_value(&format!("c{i}_field"), &c.field);
        form.set_value(&format!("c{i}_op"), &c.op);
        form.set_value(&format!("c{i}_value"), &c.value);
    }
    for (i, a) in rule.action_list().iter().enumerate() {
        form.set_value(&format!("a{i}_action"), &a.action);
        form.set_value(&format!("a{i}_value"), &a.value);
        form.set_value(&format!("a{i}_subject"), &a.subject);
        form.set_value(&format!("a{i}_body"), &a.body);
    }
    form
}

/// `GET /settings/automations`.
pub async fn list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = params
        .contains_key("saved")
        .then(|| context.locale.t("automations.saved"));
    let form = FormState::with_values(&[("active", "1"), ("event", "ticket.created")]);
    automations_page(&state, &context, None, form, notice, None, StatusCode::OK).await
}

async fn rule_of(state: &AppState, context: &PageContext, id: i64) -> Result<Automation, Response> {
    let caller = caller(context).map_err(|e| failure(context, e))?.clone();
    let rules = automations::list(&state.app, &caller)
        .await
        .map_err(|e| failure(context, e))?;
    rules
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| failure(context, kefu_app::AppError::NotFound))
}

/// `GET /settings/automations/{id}`: edit a rule.
pub async fn edit(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    match rule_of(&state, &context, id).await {
        Ok(rule) => {
            automations_page(
                &state,
                &context,
                Some(id),
                form_of(&rule),
                None,
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(page) => page,
    }
}

fn input_of(fields: &Fields) -> AutomationInput {
    let conditions = (0..ROWS)
        .filter(|i| !field(fields, &format!("c{i}_field")).is_empty())
        .map(|i| Condition {
            field: field(fields, &format!("c{i}_field")).to_owned(),
            op: field(fields, &format!("c{i}_op")).to_owned(),
            value: field(fields, &format!("c{i}_value")).to_owned(),
        })
        .collect();
    let actions = (0..ROWS)
        .filter(|i| !field(fields, &format!("a{i}_action")).is_empty())
        .map(|i| RuleAction {
            action: field(fields, &format!("a{i}_action")).to_owned(),
            value: field(fields, &format!("a{i}_value")).to_owned(),
            subject: field(fields, &format!("a{i}_subject")).to_owned(),
            body: field(fields, &format!("a{i}_body")).to_owned(),
        })
        .collect();
    AutomationInput {
        version: field(fields, "version").parse().ok(),
        name: field(fields, "name").to_owned(),
        position: field(fields, "position").trim().parse().ok(),
        active: Some(fields.contains_key("active")),
        event: field(fields, "event").to_owned(),
        conditions,
        actions,
    }
}

async fn save_step(
    state: &AppState,
    context: &PageContext,
    id: Option<i64>,
    fields: &Fields,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let input = input_of(fields);
    let result = match id {
        None => automations::create(&state.app, &caller, &input).await,
        Some(id) => automations::update(&state.app, &caller, id, &input).await,
    };
    match result {
        Ok(_) => Redirect::to("/settings/automations?saved=1").into_response(),
        Err(error) => {
            // `conditions[1].value` is shown above the rows, naming the row.
            let error = match error {
                kefu_app::AppError::Validation { field, reason }
                    if field.starts_with("conditions") || field.starts_with("actions") =>
                {
                    let (base, rest) = field.split_once('[').unwrap_or((field.as_str(), ""));
                    let row = rest
                        .split(']')
                        .next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .map_or(String::new(), |n| format!(" {}", n + 1));
                    kefu_app::AppError::Validation {
                        field: base.to_owned(),
                        reason: format!(
                            "{}{row}: {reason}",
                            context.locale.t(&format!("automations.{base}"))
                        ),
                    }
                }
                other => other,
            };
            match refused_form(context, FormState::from_submitted(fields), error) {
                Ok((form, status)) => {
                    automations_page(state, context, id, form, None, None, status).await
                }
                Err(page) => *page,
            }
        }
    }
}

/// `POST /settings/automations`: adds a rule.
pub async fn create(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    save_step(&state, &context, None, &fields).await
}

/// `POST /settings/automations/{id}`: saves a rule.
pub async fn save(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    save_step(&state, &context, Some(id), &fields).await
}

/// `POST /settings/automations/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(
        &context,
        "/settings/automations?saved=1",
        |caller| async move { automations::delete(&state.app, &caller, id).await },
    )
    .await
}

/// `POST /settings/automations/{id}/test`: tries the rule on a ticket.
pub async fn test(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let rule = match rule_of(&state, &context, id).await {
        Ok(rule) => rule,
        Err(page) => return page,
    };
    let mut form = form_of(&rule);
    let ticket = field(&fields, "ticket_id").trim().trim_start_matches('#');
    form.set_value("ticket_id", ticket);
    let Ok(ticket_id) = ticket.parse::<i64>() else {
        form.set_error(
            "ticket_id",
            context.locale.t("automations.ticket_id_needed").to_owned(),
        );
        return automations_page(
            &state,
            &context,
            Some(id),
            form,
            None,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    match automations::test(&state.app, &caller, id, ticket_id).await {
        Ok(result) => {
            automations_page(
                &state,
                &context,
                Some(id),
                form,
                None,
                Some(result),
                StatusCode::OK,
            )
            .await
        }
        Err(error) => match refused_form(&context, form, error) {
            Ok((form, status)) => {
                automations_page(&state, &context, Some(id), form, None, None, status).await
            }
            Err(page) => *page,
        },
    }
}
