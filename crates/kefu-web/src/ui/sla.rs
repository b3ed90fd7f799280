//! Settings → SLA policies: the ordered list and a form to add or change
//! one (conditions as ticked choices, targets in working minutes, the
//! calendar they count on).

use super::customers::{Choice, choices};
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
use kefu_app::sla::{self, PolicyInput};
use kefu_domain::alarm::{EscalationAction, EscalationStep};
use kefu_domain::customer::Grade;
use kefu_domain::ticket::{Channel, Priority, TicketType};
use kefu_store::sla::Policy;

/// A group of ticked choices in the form: `types`, `priorities`…
pub struct ChoiceGroup {
    /// The prefix of its fields (`type` → `type.complaint`).
    pub prefix: &'static str,
    /// Catalogue key of its label.
    pub label_key: &'static str,
    /// The choices.
    pub choices: Vec<Choice>,
}

/// One policy row of the list, with names resolved.
pub struct PolicyRow {
    /// The policy.
    pub policy: Policy,
    /// Its calendar's name.
    pub calendar: String,
}

#[derive(Template)]
#[template(path = "settings_sla.html")]
struct PoliciesPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    policies: Vec<PolicyRow>,
    calendars: Vec<(i64, String)>,
    editing: Option<i64>,
    form: FormState,
    groups: Vec<ChoiceGroup>,
    /// Teams a step may move a ticket to.
    teams: Vec<(i64, String)>,
    /// The escalation actions' codes.
    actions: Vec<&'static str>,
    /// Row numbers of the escalation steps form.
    step_rows: Vec<usize>,
}

/// How many escalation steps the form offers.
const STEP_ROWS: usize = 5;

/// The condition groups, with the form prefix and the policy field each fills.
pub(super) const GROUPS: [(&str, &str); 4] = [
    ("type", "ticket_types"),
    ("priority", "priorities"),
    ("channel", "channels"),
    ("grade", "grades"),
];

pub(super) fn groups() -> Vec<ChoiceGroup> {
    vec![
        ChoiceGroup {
            prefix: "type",
            label_key: "tickets.type",
            choices: choices(TicketType::ALL, TicketType::as_str, "ticket_types"),
        },
        ChoiceGroup {
            prefix: "priority",
            label_key: "tickets.priority",
            choices: choices(Priority::ALL, Priority::as_str, "priorities"),
        },
        ChoiceGroup {
            prefix: "channel",
            label_key: "tickets.channel",
            choices: choices(Channel::ALL, Channel::as_str, "channels"),
        },
        ChoiceGroup {
            prefix: "grade",
            label_key: "customers.grade",
            choices: choices(Grade::ALL, Grade::as_str, "grades"),
        },
    ]
}

async fn policies_page(
    state: &AppState,
    context: &PageContext,
    editing: Option<i64>,
    form: FormState,
    notice: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let (policies, calendars, teams) = match tokio::try_join!(
        sla::list_policies(&state.app, &caller),
        kefu_app::calendars::list_calendars(&state.app, &caller),
        super::settings::all_teams(state, &caller)
    ) {
        Ok(both) => both,
        Err(e) => return failure(context, e),
    };
    let calendars: Vec<(i64, String)> = calendars
        .into_iter()
        .map(|c| (c.calendar.id, c.calendar.name))
        .collect();
    let policies = policies
        .into_iter()
        .map(|policy| PolicyRow {
            calendar: calendars
                .iter()
                .find(|(id, _)| *id == policy.calendar_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
            policy,
        })
        .collect();
    let page = PoliciesPage {
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/sla"),
        notice,
        policies,
        calendars,
        editing,
        form,
        groups: groups(),
        teams: teams
            .into_iter()
            .map(|t| (t.team.id, t.team.name))
            .collect(),
        actions: EscalationAction::ALL.iter().map(|a| a.as_str()).collect(),
        step_rows: (0..STEP_ROWS).collect(),
    };
    (status, render(&page)).into_response()
}

fn number(v: Option<i64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

fn form_of(p: &Policy) -> FormState {
    let mut form = FormState::with_values(&[
        ("version", &p.version.to_string()),
        ("name", &p.name),
        ("position", &p.position.to_string()),
        ("calendar_id", &p.calendar_id.to_string()),
        ("tags", &p.tags.replace(',', ", ")),
        ("organization_ids", &p.organization_ids.replace(',', ", ")),
        ("first_response_minutes", &number(p.first_response_minutes)),
        ("next_response_minutes", &number(p.next_response_minutes)),
        ("resolution_minutes", &number(p.resolution_minutes)),
        ("result_minutes", &number(p.result_minutes)),
        ("warn_percent", &p.warn_percent.to_string()),
        ("warn_before_minutes", &number(p.warn_before_minutes)),
    ]);
    for (row, step) in kefu_store::sla::chain_of(p).iter().enumerate() {
        form.set_value(&format!("step{row}_after"), &step.after_minutes.to_string());
        form.set_value(&format!("step{row}_action"), step.action.as_str());
        if let Some(team) = step.team_id {
            form.set_value(&format!("step{row}_team"), &team.to_string());
        }
    }
    for ((prefix, _), codes) in
        GROUPS
            .iter()
            .zip([&p.ticket_types, &p.priorities, &p.channels, &p.grades])
    {
        for code in codes.split(',').filter(|c| !c.is_empty()) {
            form.set_value(&format!("{prefix}.{code}"), "1");
        }
    }
    if p.active {
        form.set_value("active", "1");
    }
    if p.pause_when_pending {
        form.set_value("pause_when_pending", "1");
    }
    form
}

/// `GET /settings/sla`: the policies and a form to add one.
pub async fn list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = params
        .contains_key("saved")
        .then(|| context.locale.t("sla.saved"));
    let form = FormState::with_values(&[
        ("active", "1"),
        ("pause_when_pending", "1"),
        ("warn_percent", "75"),
    ]);
    policies_page(&state, &context, None, form, notice, StatusCode::OK).await
}

/// `GET /settings/sla/{id}`: edit a policy.
pub async fn edit(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let policies = match sla::list_policies(&state.app, &caller).await {
        Ok(p) => p,
        Err(e) => return failure(&context, e),
    };
    let Some(policy) = policies.iter().find(|p| p.id == id) else {
        return failure(&context, kefu_app::AppError::NotFound);
    };
    let form = form_of(policy);
    policies_page(&state, &context, Some(id), form, None, StatusCode::OK).await
}

fn list_of(text: &str) -> Vec<String> {
    text.split([',', '，', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn input_of(fields: &Fields) -> PolicyInput {
    let ticked = |prefix: &str| -> Vec<String> {
        let mut codes: Vec<String> = fields
            .keys()
            .filter_map(|k| k.strip_prefix(prefix)?.strip_prefix('.'))
            .map(str::to_owned)
            .collect();
        codes.sort();
        codes
    };
    let minutes = |name: &str| field(fields, name).trim().parse::<i64>().ok();
    PolicyInput {
        version: field(fields, "version").parse().ok(),
        name: field(fields, "name").to_owned(),
        position: field(fields, "position").trim().parse().ok(),
        active: Some(fields.contains_key("active")),
        calendar_id: field(fields, "calendar_id").parse().unwrap_or(0),
        ticket_types: ticked("type"),
        priorities: ticked("priority"),
        grades: ticked("grade"),
        channels: ticked("channel"),
        organization_ids: list_of(field(fields, "organization_ids"))
            .iter()
            .map(|id| id.parse().unwrap_or(0))
            .collect(),
        tags: list_of(field(fields, "tags")),
        first_response_minutes: minutes("first_response_minutes"),
        next_response_minutes: minutes("next_response_minutes"),
        resolution_minutes: minutes("resolution_minutes"),
        result_minutes: minutes("result_minutes"),
        pause_when_pending: Some(fields.contains_key("pause_when_pending")),
        warn_percent: minutes("warn_percent"),
        warn_before_minutes: minutes("warn_before_minutes"),
        escalation: steps_of(fields).into_iter().map(|(_, step)| step).collect(),
    }
}

/// The filled rows of the escalation form, with their row numbers; a row
/// with an action but no delay runs at the breach.
fn steps_of(fields: &Fields) -> Vec<(usize, EscalationStep)> {
    (0..STEP_ROWS)
        .filter_map(|row| {
            let action = EscalationAction::parse(field(fields, &format!("step{row}_action")))?;
            let after = field(fields, &format!("step{row}_after")).trim();
            Some((
                row,
                EscalationStep {
                    // A number the form could not read is refused by name.
                    after_minutes: if after.is_empty() {
                        0
                    } else {
                        after.parse().unwrap_or(-1)
                    },
                    action,
                    team_id: field(fields, &format!("step{row}_team")).parse().ok(),
                },
            ))
        })
        .collect()
}

/// `POST /settings/sla`: adds a policy.
pub async fn create(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    save_step(&state, &context, None, &fields).await
}

/// `POST /settings/sla/{id}`: saves a policy.
pub async fn save(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    save_step(&state, &context, Some(id), &fields).await
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
        None => sla::create_policy(&state.app, &caller, input).await,
        Some(id) => sla::update_policy(&state.app, &caller, id, input).await,
    };
    match result {
        Ok(_) => Redirect::to("/settings/sla?saved=1").into_response(),
        Err(error) => {
            // `ticket_types[1]` is shown beside the ticket type choices;
            // `escalation[1].team_id` above the steps, naming the row.
            let error = match error {
                kefu_app::AppError::Validation { field, reason } => {
                    let (base, index) = field.split_once('[').unwrap_or((field.as_str(), ""));
                    let reason = match index
                        .split(']')
                        .next()
                        .and_then(|i| i.parse::<usize>().ok())
                    {
                        Some(index) if base == "escalation" => {
                            let row = steps_of(fields).get(index).map_or(index, |(row, _)| *row);
                            format!("{} {}: {reason}", context.locale.t("sla.step"), row + 1)
                        }
                        _ => reason,
                    };
                    kefu_app::AppError::Validation {
                        field: base.to_owned(),
                        reason,
                    }
                }
                other => other,
            };
            match refused_form(context, FormState::from_submitted(fields), error) {
                Ok((form, status)) => policies_page(state, context, id, form, None, status).await,
                Err(page) => *page,
            }
        }
    }
}

/// `POST /settings/sla/{id}/delete`: deletes a policy.
pub async fn delete(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(&context, "/settings/sla?saved=1", |caller| async move {
        sla::delete_policy(&state.app, &caller, id).await
    })
    .await
}
