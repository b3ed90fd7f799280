//! Work order pages: the queues, a new ticket (also a logged call or
//! visit), the ticket page with its conversation, properties and
//! lifecycle, and the ticket settings.

use super::custom_fields::{
    CustomInput, custom_inputs, custom_values, filter_choices, form_fields, form_text,
};
use super::customers::{Choice, allows, choices};
use super::form::FormState;
use super::{
    Fields, PageContext, Shell, caller, error_status, failure, field, refused_form, render,
    url_escape,
};
use crate::AppState;
use crate::upload;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kefu_app::AppError;
use kefu_app::tickets::{
    self, CategoryInput, MessageInput, NewTicket, SettingsInput, StatusChange, TicketChanges,
    TicketDetail, TicketQuery, TicketSummary, TimelineItem,
};
use kefu_domain::Permission;
use kefu_domain::custom_field::FieldTarget;
use kefu_domain::ticket::{
    Channel, Direction, Level, Priority, ResolutionCategory, ServiceKind, Status, TicketType,
};
use kefu_store::attachments::Attachment;

/// One SLA target on the ticket page.
pub struct SlaRow {
    /// Catalogue key of the target's name.
    pub target_key: String,
    /// State code.
    pub state: &'static str,
    /// Due time in the viewer's zone.
    pub due: String,
}

/// One row of a ticket table.
pub struct QueueRow {
    /// Id.
    pub id: i64,
    /// `#id`.
    pub number: String,
    /// Subject.
    pub subject: String,
    /// Status code.
    pub status: &'static str,
    /// Catalogue key of the status.
    pub status_key: String,
    /// Priority code.
    pub priority: &'static str,
    /// Catalogue key of the type.
    pub type_key: String,
    /// Catalogue key of the channel.
    pub channel_key: String,
    /// Customer name.
    pub customer: String,
    /// Assignee name.
    pub assignee: String,
    /// Last change, in the viewer's zone.
    pub updated: String,
    /// Wanted by.
    pub wanted_by: String,
    /// SLA state code (`breached`, `at_risk`…), empty without a policy.
    pub sla_state: &'static str,
    /// When the next SLA target is due, in the viewer's zone.
    pub sla_due: String,
}

impl QueueRow {
    /// The row of a ticket summary.
    pub fn of(context: &PageContext, t: &TicketSummary) -> QueueRow {
        QueueRow {
            id: t.id,
            number: t.number.clone(),
            subject: t.subject.clone(),
            status: t.status.as_str(),
            status_key: format!("ticket_status.{}", t.status.as_str()),
            priority: t.priority.as_str(),
            type_key: format!("ticket_types.{}", t.ticket_type.as_str()),
            channel_key: format!("channels.{}", t.channel.as_str()),
            customer: t
                .customer
                .as_ref()
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            assignee: t
                .assignee
                .as_ref()
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            updated: context.time(t.updated_at),
            wanted_by: t.wanted_by.map(|d| d.to_string()).unwrap_or_default(),
            sla_state: t.sla_state.unwrap_or(""),
            sla_due: t.sla_due_at.map(|at| context.time(at)).unwrap_or_default(),
        }
    }
}

fn status_choices() -> Vec<Choice> {
    choices(Status::ALL, Status::as_str, "ticket_status")
}
pub(super) fn type_choices() -> Vec<Choice> {
    choices(TicketType::ALL, TicketType::as_str, "ticket_types")
}
fn channel_choices() -> Vec<Choice> {
    choices(Channel::ALL, Channel::as_str, "channels")
}
fn level_choices() -> Vec<Choice> {
    choices(Level::ALL, Level::as_str, "levels")
}
fn priority_choices() -> Vec<Choice> {
    choices(Priority::ALL, Priority::as_str, "priorities")
}
fn service_kind_choices() -> Vec<Choice> {
    choices(ServiceKind::ALL, ServiceKind::as_str, "service_kinds")
}
fn resolution_choices() -> Vec<Choice> {
    choices(
        ResolutionCategory::ALL,
        ResolutionCategory::as_str,
        "resolutions",
    )
}
fn direction_choices() -> Vec<Choice> {
    choices(Direction::ALL, Direction::as_str, "directions")
}

/// A queue tab.
struct Tab {
    view: &'static str,
    key: &'static str,
    count: i64,
    active: bool,
}

#[derive(Template)]
#[template(path = "tickets.html")]
struct QueuePage {
    shell: Shell,
    tabs: Vec<Tab>,
    view: String,
    filter: FormState,
    statuses: Vec<Choice>,
    types: Vec<Choice>,
    priorities: Vec<Choice>,
    channels: Vec<Choice>,
    categories: Vec<(i64, String)>,
    custom_filters: Vec<(String, String)>,
    tickets: Vec<QueueRow>,
    next_link: Option<String>,
    error: Option<String>,
    can_create: bool,
    selectable: bool,
    agents: Vec<(i64, String)>,
    macros: Vec<(i64, String)>,
    bulk_notice: Option<String>,
    bulk_refused: Option<String>,
    views: Vec<(i64, String, String, bool)>,
    current_query: String,
    view_error: Option<String>,
}

fn filled(params: &Fields, name: &str) -> Option<String> {
    Some(field(params, name).trim().to_owned()).filter(|v| !v.is_empty())
}

fn query_of(params: &Fields) -> TicketQuery {
    let number = |name: &str| filled(params, name).and_then(|v| v.parse::<i64>().ok());
    TicketQuery {
        view: filled(params, "view"),
        status: filled(params, "status"),
        ticket_type: filled(params, "type"),
        priority: filled(params, "priority"),
        channel: filled(params, "channel"),
        category_id: number("category_id"),
        tag: filled(params, "tag"),
        assignee_id: number("assignee_id"),
        team_id: number("team_id"),
        customer_id: number("customer_id"),
        organization_id: number("organization_id"),
        grade: filled(params, "grade"),
        q: filled(params, "q"),
        due_by: filled(params, "due_by"),
        field: filled(params, "field"),
        value: filled(params, "value"),
        sla: filled(params, "sla"),
        sort: filled(params, "sort"),
        cursor: filled(params, "cursor"),
        ..TicketQuery::default()
    }
}

/// `GET /tickets`: the queues with filters.
pub async fn list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let view = filled(&params, "view").unwrap_or_else(|| "mine".to_owned());
    let mut query = query_of(&params);
    query.view = Some(view.clone());
    let mut tabs = Vec::new();
    for (code, key) in [
        ("mine", "tickets.view_mine"),
        ("team", "tickets.view_team"),
        ("unassigned", "tickets.view_unassigned"),
        ("all", "tickets.view_all"),
    ] {
        let count_query = TicketQuery {
            view: Some(code.to_owned()),
            ..TicketQuery::default()
        };
        let count = tickets::count_tickets(&state.app, &caller, &count_query)
            .await
            .unwrap_or(0);
        tabs.push(Tab {
            view: code,
            key,
            count,
            active: code == view,
        });
    }
    let (rows, next, error, status) = match tickets::list_tickets(&state.app, &caller, &query).await
    {
        Ok(page) => (page.items, page.next_cursor, None, StatusCode::OK),
        Err(AppError::Validation { field, reason }) => (
            Vec::new(),
            None,
            Some(format!("{field}: {}", context.locale.reason(&reason))),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return failure(&context, e),
    };
    let categories = tickets::list_categories(&state.app, &caller)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.id, c.path))
        .collect();
    let custom_filters = filter_choices(
        &context,
        &ticket_fields(&state, &caller).await.unwrap_or_default(),
    );
    let next_link = next.map(|cursor| {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k.as_str() != "cursor")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.sort();
        pairs.push(("cursor".into(), cursor));
        if !pairs.iter().any(|(k, _)| k == "view") {
            pairs.push(("view".into(), view.clone()));
        }
        format!(
            "/tickets?{}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={}", url_escape(v)))
                .collect::<Vec<_>>()
                .join("&")
        )
    });
    let mut filter = FormState::from_submitted(&params);
    filter.set_value("view", &view);
    let can_create = allows(&context, Permission::ManageTickets);
    let agents = if can_create {
        super::settings::agent_names(&state, &caller)
            .await
            .unwrap_or_default()
            .into_iter()
            .collect()
    } else {
        Vec::new()
    };
    let macros = if can_create {
        kefu_app::macros::list_macros(&state.app, &caller)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.active)
            .map(|m| (m.id, m.name))
            .collect()
    } else {
        Vec::new()
    };
    let bulk_notice =
        filled(&params, "bulk_done").map(|n| context.locale.tf("macros.bulk_done", &[("n", &n)]));
    let bulk_refused = filled(&params, "bulk_refused")
        .map(|list| context.locale.tf("macros.bulk_refused", &[("list", &list)]));
    let mut pairs: Vec<(&String, &String)> = params
        .iter()
        .filter(|(k, v)| {
            !v.trim().is_empty()
                && !k.starts_with("bulk_")
                && k.as_str() != "cursor"
                && !k.starts_with("view_")
        })
        .collect();
    pairs.sort();
    let current_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", url_escape(v)))
        .collect::<Vec<_>>()
        .join("&");
    let views = tickets::views(&state.app, &caller)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            let active = v.query == current_query;
            (v.id, v.name, v.query, active)
        })
        .collect();
    let view_error = filled(&params, "view_error");
    let page = QueuePage {
        custom_filters,
        views,
        current_query,
        view_error,
        selectable: can_create,
        agents,
        macros,
        bulk_notice,
        bulk_refused,
        shell: context.shell("tickets"),
        tabs,
        view,
        filter,
        statuses: status_choices(),
        types: type_choices(),
        priorities: priority_choices(),
        channels: channel_choices(),
        categories,
        tickets: rows.iter().map(|t| QueueRow::of(&context, t)).collect(),
        next_link,
        error,
        can_create,
    };
    (status, render(&page)).into_response()
}

#[derive(Template)]
#[template(path = "ticket_new.html")]
struct NewPage {
    shell: Shell,
    form: FormState,
    custom: Vec<CustomInput>,
    customer_name: Option<String>,
    types: Vec<Choice>,
    service_kinds: Vec<Choice>,
    levels: Vec<Choice>,
    priorities: Vec<Choice>,
    channels: Vec<Choice>,
    directions: Vec<Choice>,
    categories: Vec<(i64, String)>,
    teams: Vec<(i64, String)>,
    agents: Vec<(i64, String)>,
}

async fn people(
    state: &AppState,
    caller: &kefu_app::Caller,
) -> Result<(Vec<(i64, String)>, Vec<(i64, String)>), AppError> {
    let agents = super::settings::agent_names(state, caller)
        .await?
        .into_iter()
        .collect();
    let teams = super::settings::all_teams(state, caller)
        .await?
        .into_iter()
        .map(|t| (t.team.id, t.team.name))
        .collect();
    Ok((teams, agents))
}

/// The custom fields of tickets.
async fn ticket_fields(
    state: &AppState,
    caller: &kefu_app::Caller,
) -> Result<Vec<kefu_store::custom_fields::CustomField>, AppError> {
    kefu_app::custom_fields::list_fields(&state.app, caller, Some(FieldTarget::Ticket)).await
}

async fn active_categories(
    state: &AppState,
    caller: &kefu_app::Caller,
) -> Result<Vec<(i64, String)>, AppError> {
    Ok(tickets::list_categories(&state.app, caller)
        .await?
        .into_iter()
        .filter(|c| c.active)
        .map(|c| (c.id, c.path))
        .collect())
}

async fn new_page(
    state: &AppState,
    context: &PageContext,
    form: FormState,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let (teams, agents) = match people(state, &caller).await {
        Ok(p) => p,
        Err(e) => return failure(context, e),
    };
    let categories = match active_categories(state, &caller).await {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let custom = match ticket_fields(state, &caller).await {
        Ok(fields) => custom_inputs(context, &fields, &form),
        Err(e) => return failure(context, e),
    };
    let customer_name = match form.value("customer_id").parse::<i64>() {
        Ok(id) => kefu_app::customers::get_customer(&state.app, &caller, id)
            .await
            .ok()
            .map(|c| c.customer.name),
        Err(_) => None,
    };
    let page = NewPage {
        shell: context.shell("tickets"),
        custom,
        form,
        customer_name,
        types: type_choices(),
        service_kinds: service_kind_choices(),
        levels: level_choices(),
        priorities: priority_choices(),
        channels: channel_choices(),
        directions: direction_choices(),
        categories,
        teams,
        agents,
    };
    (status, render(&page)).into_response()
}

/// `GET /tickets/new`: a new ticket; `?customer_id=…&channel=phone` logs a call.
pub async fn new_form(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let mut form = FormState::with_values(&[
        ("type", "inquiry"),
        ("urgency", "medium"),
        ("impact", "medium"),
        ("channel", "phone"),
        ("call_direction", "inbound"),
    ]);
    for name in ["customer_id", "channel", "type"] {
        if let Some(v) = filled(&params, name) {
            form.set_value(name, &v);
        }
    }
    if let Some(agent) = context.signed_in.as_ref().map(|s| s.agent.id) {
        form.set_value("assignee_id", &agent.to_string());
    }
    new_page(&state, &context, form, StatusCode::OK).await
}

fn optional_id(fields: &Fields, name: &str) -> Result<Option<i64>, &'static str> {
    match filled(fields, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| "reasons.not_a_number"),
    }
}

fn tag_list(text: &str) -> Vec<String> {
    text.split([',', '，', '、'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /tickets`: opens a ticket and shows it.
pub async fn create(
    State(state): State<AppState>,
    context: PageContext,
    request: Request,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let (fields, files) = match upload::fields_and_files(&state, request).await {
        Ok(submission) => submission,
        Err(error) => {
            let status = error_status(&error);
            let mut form = FormState::default();
            return match form.absorb(context.locale, error) {
                Ok(()) => new_page(&state, &context, form, status).await,
                Err(other) => failure(&context, other),
            };
        }
    };
    let mut form = FormState::from_submitted(&fields);
    let mut ids = [None; 4];
    for (slot, name) in ["customer_id", "category_id", "team_id", "assignee_id"]
        .iter()
        .enumerate()
    {
        match optional_id(&fields, name) {
            Ok(v) => ids[slot] = v,
            Err(key) => form.set_error(name, context.locale.t(key).to_owned()),
        }
    }
    let call_seconds = match filled(&fields, "call_minutes").map(|m| m.parse::<f64>()) {
        None => None,
        Some(Ok(m)) if m.is_finite() && m >= 0.0 => Some((m * 60.0).round() as i64),
        Some(_) => {
            form.set_error(
                "call_minutes",
                context.locale.t("reasons.not_a_number").to_owned(),
            );
            None
        }
    };
    if form.has_errors() {
        return new_page(&state, &context, form, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let defined = match ticket_fields(&state, &caller).await {
        Ok(f) => f,
        Err(e) => return failure(&context, e),
    };
    let logged_call = matches!(field(&fields, "channel"), "phone" | "counter");
    let input = NewTicket {
        subject: field(&fields, "subject").to_owned(),
        description: filled(&fields, "description"),
        ticket_type: filled(&fields, "type"),
        service_kind: filled(&fields, "service_kind"),
        category_id: ids[1],
        urgency: filled(&fields, "urgency"),
        impact: filled(&fields, "impact"),
        priority: filled(&fields, "priority"),
        priority_reason: filled(&fields, "priority_reason"),
        channel: filled(&fields, "channel"),
        customer_id: ids[0],
        expectation: filled(&fields, "expectation"),
        wanted_by: filled(&fields, "wanted_by"),
        call_direction: if logged_call {
            filled(&fields, "call_direction")
        } else {
            None
        },
        call_seconds: if logged_call { call_seconds } else { None },
        tags: tag_list(field(&fields, "tags")),
        team_id: ids[2],
        assignee_id: ids[3],
        watchers: Vec::new(),
        parent_id: None,
        custom_fields: custom_values(&defined, &fields),
    };
    match tickets::create_ticket_with_files(&state.app, &caller, input, files).await {
        Ok(view) => Redirect::to(&format!("/tickets/{}?created=1", view.ticket.id)).into_response(),
        Err(error) => {
            let status = error_status(&error);
            match form.absorb(context.locale, error) {
                Ok(()) => new_page(&state, &context, form, status).await,
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// One entry of the ticket page's timeline.
struct TimelineRow {
    at: String,
    kind: &'static str,
    author: String,
    body: String,
    /// Quoted history below what the writer wrote now, folded.
    quoted: String,
    changes: Vec<String>,
    files: Vec<FileRow>,
    /// The email this entry arrived as.
    mail: Option<MailBadge>,
}

/// What the ticket page shows of an entry that arrived by email.
struct MailBadge {
    id: i64,
    from: String,
    to: String,
    cc: String,
    html: bool,
    remote_images: bool,
}

impl MailBadge {
    fn of(m: &kefu_store::mail::MailMessage) -> MailBadge {
        let list = |json: &str| {
            serde_json::from_str::<Vec<kefu_mail::Mailbox>>(json)
                .unwrap_or_default()
                .iter()
                .map(|a| {
                    if a.name.is_empty() {
                        a.address.clone()
                    } else {
                        format!("{} <{}>", a.name, a.address)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        MailBadge {
            id: m.id,
            from: if m.from_name.is_empty() {
                m.from_address.clone()
            } else {
                format!("{} <{}>", m.from_name, m.from_address)
            },
            to: list(&m.to_addresses),
            cc: list(&m.cc_addresses),
            html: m.html.is_some(),
            remote_images: m.remote_images,
        }
    }
}

/// Splits an email's text at its quoted history.
fn fold(body: &str) -> (String, String) {
    let (fresh, quoted) = kefu_mail::quote::split(body);
    (fresh.to_owned(), quoted.to_owned())
}

#[derive(Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    shell: Shell,
    notice: Option<&'static str>,
    detail: TicketDetail,
    sla: Vec<SlaRow>,
    /// The overdue reasons to choose from, when the ticket ran over its SLA.
    overdue_reasons: Vec<String>,
    status_key: String,
    type_key: String,
    channel_key: String,
    created: String,
    updated: String,
    timeline: Vec<TimelineRow>,
    /// The email that opened the ticket, and its text split at the quote.
    description_mail: Option<MailBadge>,
    /// Where a public reply goes by email, when the ticket came by email.
    mail_to: Option<String>,
    description: (String, String),
    form: FormState,
    custom: Vec<CustomInput>,
    reply: FormState,
    status_form: FormState,
    next_statuses: Vec<Choice>,
    types: Vec<Choice>,
    service_kinds: Vec<Choice>,
    levels: Vec<Choice>,
    priorities: Vec<Choice>,
    channels: Vec<Choice>,
    resolutions: Vec<Choice>,
    categories: Vec<(i64, String)>,
    teams: Vec<(i64, String)>,
    agents: Vec<(i64, String)>,
    customer: Option<CustomerPanel>,
    can_edit: bool,
    plan: Vec<PlanRow>,
    children: Vec<QueueRow>,
    related: Vec<QueueRow>,
    extra: FormState,
    files: Vec<FileRow>,
    files_form: FormState,
    macros: Vec<MacroChoice>,
    me: i64,
}

/// A macro offered on the ticket page, its text already filled in for
/// this ticket so "insert" puts the finished words in the reply box.
struct MacroChoice {
    id: i64,
    name: String,
    filled: String,
    changes: bool,
}

/// One step of the service plan as shown.
struct PlanRow {
    id: i64,
    version: i64,
    title: String,
    owner: String,
    due_on: String,
    done: bool,
    done_at: String,
}

/// The customer's 360° panel beside the conversation.
struct CustomerPanel {
    id: i64,
    name: String,
    grade: &'static str,
    grade_key: String,
    organization: String,
    contacts: Vec<(String, String)>,
    open_tickets: i64,
    recent: Vec<QueueRow>,
    orders: Vec<String>,
}

/// An actor as shown: Kefu's own background work by its translated name.
fn actor_name(context: &PageContext, actor: &str) -> String {
    let Some(name) = actor.strip_prefix("system:") else {
        return actor.to_owned();
    };
    // `automation:12`: the kind of work, then which rule.
    let (kind, which) = name.split_once(':').unwrap_or((name, ""));
    match context.locale.try_t(&format!("actors.system_{kind}")) {
        Some(label) if which.is_empty() => label.to_owned(),
        Some(label) => format!("{label} #{which}"),
        None => actor.to_owned(),
    }
}

/// The line of an SLA alarm on the timeline (a warning, a breach, an
/// escalation step): what happened, to which target, when it was due.
fn sla_event_line(
    context: &PageContext,
    changes: &[kefu_domain::audit::FieldChange],
) -> Option<String> {
    let value = |name: &str| {
        changes
            .iter()
            .find(|c| c.field == name)
            .and_then(|c| c.new.as_str())
    };
    let event = value("sla_event")?;
    let locale = context.locale;
    let what = locale
        .try_t(&format!("sla_events.{event}"))
        .unwrap_or(event);
    let target = value("sla_target").unwrap_or_default();
    let target = locale
        .try_t(&format!("sla.target_{target}"))
        .unwrap_or(target);
    let due = value("sla_due_at")
        .and_then(|d| d.parse::<chrono::DateTime<chrono::Utc>>().ok())
        .map(|d| context.time(d))
        .unwrap_or_default();
    Some(format!("{what} · {target} · {} {due}", locale.t("sla.due")))
}

fn change_line(
    context: &PageContext,
    field: &str,
    old: &serde_json::Value,
    new: &serde_json::Value,
) -> String {
    let locale = context.locale;
    let label = locale
        .try_t(&format!("tickets.field_{field}"))
        .map_or_else(|| field.to_owned(), str::to_owned);
    let shown = |v: &serde_json::Value| -> String {
        let text = match v {
            serde_json::Value::Null => return locale.t("common.none").to_owned(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let section = match field {
            "status" => Some("ticket_status"),
            "ticket_type" => Some("ticket_types"),
            "channel" => Some("channels"),
            "priority" => Some("priorities"),
            "urgency" | "impact" => Some("levels"),
            "resolution_category" => Some("resolutions"),
            _ => None,
        };
        section
            .and_then(|s| locale.try_t(&format!("{s}.{text}")))
            .map_or(text, str::to_owned)
    };
    format!("{label}: {} → {}", shown(old), shown(new))
}

/// The ticket page's forms that may come back with input and errors:
/// properties, reply, status, and the plan/escalation/link forms.
#[derive(Default)]
struct Forms {
    props: Option<FormState>,
    reply: Option<FormState>,
    status: Option<FormState>,
    extra: Option<FormState>,
    files: Option<FormState>,
}

async fn ticket_page(
    state: &AppState,
    context: &PageContext,
    id: i64,
    forms: Forms,
    notice: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let detail = match tickets::ticket_detail(&state.app, &caller, id).await {
        Ok(d) => d,
        Err(e) => return failure(context, e),
    };
    let (teams, agents) = match people(state, &caller).await {
        Ok(p) => p,
        Err(e) => return failure(context, e),
    };
    let categories = match active_categories(state, &caller).await {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let t = &detail.view.ticket;
    let id_text = |v: Option<i64>| v.map(|i| i.to_string()).unwrap_or_default();
    let props = forms.props.unwrap_or_else(|| {
        let mut form = FormState::with_values(&[
            ("version", &t.version.to_string()),
            ("subject", &t.subject),
            ("type", t.ticket_type.as_str()),
            ("service_kind", t.service_kind.map_or("", |k| k.as_str())),
            ("category_id", &id_text(t.category_id)),
            ("urgency", t.urgency.as_str()),
            ("impact", t.impact.as_str()),
            (
                "priority",
                if t.priority_reason.is_empty() {
                    ""
                } else {
                    t.priority.as_str()
                },
            ),
            ("priority_reason", &t.priority_reason),
            ("channel", t.channel.as_str()),
            ("customer_id", &id_text(t.customer_id)),
            ("expectation", &t.expectation),
            (
                "wanted_by",
                &t.wanted_by.map(|d| d.to_string()).unwrap_or_default(),
            ),
            ("tags", &detail.view.tags.join(", ")),
            ("team_id", &id_text(t.team_id)),
            ("assignee_id", &id_text(t.assignee_id)),
        ]);
        for (key, value) in &detail.view.custom_fields {
            form.set_value(&format!("cf_{key}"), &form_text(value));
        }
        form
    });
    let custom = match ticket_fields(state, &caller).await {
        Ok(fields) => custom_inputs(context, &fields, &props),
        Err(e) => return failure(context, e),
    };
    let status_form = forms.status.unwrap_or_else(|| {
        FormState::with_values(&[
            ("version", &t.version.to_string()),
            (
                "resolution_category",
                t.resolution_category.map_or("", |c| c.as_str()),
            ),
            ("resolution", &t.resolution),
        ])
    });
    let mail = match kefu_app::mail::ticket_mail(&state.app, &caller, t.id).await {
        Ok(m) => m,
        Err(e) => return failure(context, e),
    };
    let can_edit = allows(context, Permission::ManageTickets) && t.status != Status::Merged;
    let addresses = if can_edit {
        match kefu_app::mail_out::reply_addresses(&state.app, &caller, &mail).await {
            Ok(a) => a,
            Err(e) => return failure(context, e),
        }
    } else {
        None
    };
    let reply = forms.reply.unwrap_or_else(|| {
        let cc = addresses.as_ref().map_or("", |(_, cc)| cc.as_str());
        FormState::with_values(&[("kind", "reply"), ("cc", cc)])
    });
    let mail_to = addresses.map(|(to, _)| to);
    let description_mail = mail
        .iter()
        .find(|m| m.direction == "in" && m.ticket_message_id.is_none())
        .map(MailBadge::of);
    let timeline = detail
        .timeline
        .iter()
        .filter_map(|item| match item {
            TimelineItem::Message(m) => {
                let badge = mail
                    .iter()
                    .find(|row| row.ticket_message_id == Some(m.message.id))
                    .map(MailBadge::of);
                let (body, quoted) = if badge.is_some() {
                    fold(&m.message.body)
                } else {
                    (m.message.body.clone(), String::new())
                };
                Some(TimelineRow {
                    at: context.time(m.message.created_at),
                    kind: m.message.kind.as_str(),
                    author: m.author_name.clone(),
                    body,
                    quoted,
                    changes: Vec::new(),
                    files: m.attachments.iter().map(FileRow::of).collect(),
                    mail: badge,
                })
            }
            TimelineItem::Change {
                at,
                actor,
                action,
                changes,
            } => {
                let author = actor_name(context, actor);
                if let Some(line) = sla_event_line(context, changes) {
                    return Some(TimelineRow {
                        at: context.time(*at),
                        kind: "sla",
                        author,
                        body: String::new(),
                        quoted: String::new(),
                        changes: vec![line],
                        files: Vec::new(),
                        mail: None,
                    });
                }
                let lines: Vec<String> = changes
                    .iter()
                    .filter(|c| {
                        !matches!(
                            c.field.as_str(),
                            "id" | "first_response_at"
                                | "resolved_at"
                                | "closed_at"
                                | "description"
                        )
                    })
                    .map(|c| change_line(context, &c.field, &c.old, &c.new))
                    .collect();
                if action == "create" {
                    return Some(TimelineRow {
                        at: context.time(*at),
                        kind: "created",
                        author,
                        body: String::new(),
                        quoted: String::new(),
                        changes: Vec::new(),
                        files: Vec::new(),
                        mail: None,
                    });
                }
                (!lines.is_empty()).then(|| TimelineRow {
                    at: context.time(*at),
                    kind: "change",
                    author,
                    body: String::new(),
                    quoted: String::new(),
                    changes: lines,
                    files: Vec::new(),
                    mail: None,
                })
            }
        })
        .collect();
    let customer = match t.customer_id {
        Some(cid) => match kefu_app::customers::profile(&state.app, &caller, cid).await {
            Ok(p) => Some(CustomerPanel {
                id: cid,
                name: p.customer.customer.name.clone(),
                grade: p.customer.customer.grade.as_str(),
                grade_key: format!("grades.{}", p.customer.customer.grade.as_str()),
                organization: p
                    .customer
                    .organization
                    .as_ref()
                    .map(|o| o.name.clone())
                    .unwrap_or_default(),
                contacts: p
                    .customer
                    .contact_points
                    .iter()
                    .map(|c| {
                        (
                            format!("contact_kinds.{}", c.kind.as_str()),
                            c.value.clone(),
                        )
                    })
                    .collect(),
                open_tickets: p.open_tickets,
                recent: p
                    .recent_tickets
                    .iter()
                    .filter(|r| r.id != id)
                    .take(5)
                    .map(|r| QueueRow::of(context, r))
                    .collect(),
                orders: p
                    .totals
                    .iter()
                    .map(|o| format!("{} × {}", o.orders, o.currency))
                    .collect(),
            }),
            Err(_) => None,
        },
        None => None,
    };
    let next_statuses = detail
        .view
        .next_statuses
        .iter()
        .map(|s| Choice {
            code: s.as_str(),
            key: format!("ticket_status.{}", s.as_str()),
        })
        .collect();
    let plan = detail
        .view
        .plan
        .iter()
        .map(|p| PlanRow {
            id: p.step.id,
            version: p.step.version,
            title: p.step.title.clone(),
            owner: p.owner_name.clone().unwrap_or_default(),
            due_on: p.step.due_on.map(|d| d.to_string()).unwrap_or_default(),
            done: p.step.done_at.is_some(),
            done_at: p
                .step
                .done_at
                .map(|at| context.time(at))
                .unwrap_or_default(),
        })
        .collect();
    let children = detail
        .view
        .children
        .iter()
        .map(|c| QueueRow::of(context, c))
        .collect();
    let related = detail
        .view
        .related
        .iter()
        .map(|c| QueueRow::of(context, c))
        .collect();
    let agent_name = context
        .signed_in
        .as_ref()
        .map(|s| s.agent.display_name.clone())
        .unwrap_or_default();
    let customer_name = detail
        .view
        .customer
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let macros = kefu_app::macros::list_macros(&state.app, &caller)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.active)
        .map(|m| MacroChoice {
            filled: kefu_domain::ticket::fill_placeholders(
                &m.body,
                &[
                    ("customer.name", &customer_name),
                    ("ticket.number", &detail.view.number),
                    ("ticket.subject", &detail.view.ticket.subject),
                    ("agent.name", &agent_name),
                ],
            ),
            changes: m.set_status.is_some()
                || m.set_team_id.is_some()
                || m.set_assignee_id.is_some()
                || !m.add_tags.is_empty(),
            id: m.id,
            name: m.name,
        })
        .collect();
    let sla = detail
        .view
        .sla
        .as_ref()
        .map(|v| {
            v.targets
                .iter()
                .map(|t| SlaRow {
                    target_key: format!("sla.target_{}", t.target),
                    state: t.state,
                    due: context.time(t.due_at),
                })
                .collect()
        })
        .unwrap_or_default();
    let ran_over = detail.view.sla.as_ref().is_some_and(|v| {
        v.targets
            .iter()
            .any(|t| matches!(t.state, "breached" | "missed"))
    }) && !matches!(detail.view.ticket.status, Status::Resolved | Status::Closed);
    let overdue_reasons = if ran_over {
        match tickets::get_settings(&state.app, &caller).await {
            Ok(s) => s.overdue_reasons.unwrap_or_default(),
            Err(e) => return failure(context, e),
        }
    } else {
        Vec::new()
    };
    let page = TicketPage {
        overdue_reasons,
        sla,
        me: context.signed_in.as_ref().map_or(0, |s| s.agent.id),
        macros,
        plan,
        children,
        related,
        extra: forms.extra.unwrap_or_default(),
        files: detail.attachments.iter().map(FileRow::of).collect(),
        files_form: forms.files.unwrap_or_default(),
        shell: context.shell("tickets"),
        notice,
        status_key: format!("ticket_status.{}", t.status.as_str()),
        type_key: format!("ticket_types.{}", t.ticket_type.as_str()),
        channel_key: format!("channels.{}", t.channel.as_str()),
        created: context.time(t.created_at),
        updated: context.time(t.updated_at),
        timeline,
        description: if description_mail.is_some() {
            fold(&t.description)
        } else {
            (t.description.clone(), String::new())
        },
        description_mail,
        mail_to,
        form: props,
        custom,
        reply,
        status_form,
        next_statuses,
        types: type_choices(),
        service_kinds: service_kind_choices(),
        levels: level_choices(),
        priorities: priority_choices(),
        channels: channel_choices(),
        resolutions: resolution_choices(),
        categories,
        teams,
        agents,
        customer,
        can_edit,
        detail,
    };
    (status, render(&page)).into_response()
}

/// `GET /tickets/{id}`: the ticket page.
pub async fn show(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Query(params): Query<Fields>,
) -> Response {
    let notice = if params.contains_key("created") {
        Some(context.locale.t("tickets.created"))
    } else if params.contains_key("saved") {
        Some(context.locale.t("tickets.saved"))
    } else {
        None
    };
    ticket_page(
        &state,
        &context,
        id,
        Forms::default(),
        notice,
        StatusCode::OK,
    )
    .await
}

/// `POST /tickets/{id}/attachments`: files (or a call recording) put on
/// the ticket itself.
pub async fn attach(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    request: Request,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let result = match upload::fields_and_files(&state, request).await {
        Ok((_, files)) => kefu_app::attachments::attach(&state.app, &caller, id, files).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/tickets/{id}?saved=1#files")).into_response(),
        Err(error) => {
            let status = error_status(&error);
            let mut form = FormState::default();
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    let forms = Forms {
                        files: Some(form),
                        ..Forms::default()
                    };
                    ticket_page(&state, &context, id, forms, None, status).await
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// `GET /attachments/{id}`: a file's bytes for someone who may see its ticket.
pub async fn download(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match kefu_app::attachments::open(&state.app, &caller, id).await {
        Ok((attachment, content)) => upload::send(&attachment, content, &headers).await,
        Err(e) => failure(&context, e),
    }
}

/// A file as listed on the ticket page.
pub struct FileRow {
    /// Id (its address is `/attachments/{id}`).
    pub id: i64,
    /// File name.
    pub name: String,
    /// Size for people (`12.3 KB`).
    pub size: String,
    /// Sniffed type.
    pub content_type: String,
    /// A call recording.
    pub recording: bool,
    /// Sound the page can play in place.
    pub playable: bool,
    /// A picture the page can show in place.
    pub picture: bool,
}

impl FileRow {
    fn of(a: &Attachment) -> FileRow {
        let inline = kefu_domain::attachment::shown_inline(&a.content_type);
        FileRow {
            id: a.id,
            name: a.file_name.clone(),
            size: human_size(a.size),
            content_type: a.content_type.clone(),
            recording: a.purpose == kefu_domain::attachment::Purpose::Recording,
            playable: inline && kefu_domain::attachment::is_audio(&a.content_type),
            picture: inline && a.content_type.starts_with("image/"),
        }
    }
}

/// `1.5 MB`, `320 KB`, `12 B`.
fn human_size(bytes: i64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.0} KB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// `POST /tickets/{id}`: saves the properties (optimistic locking; a
/// refused save keeps what the agent typed).
pub async fn save(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let fields = form_fields(pairs);
    let defined = match ticket_fields(&state, &caller).await {
        Ok(f) => f,
        Err(e) => return failure(&context, e),
    };
    let mut form = FormState::from_submitted(&fields);
    let version = field(&fields, "version").parse::<i64>().unwrap_or(-1);
    let mut ids = [None; 4];
    for (slot, name) in ["customer_id", "category_id", "team_id", "assignee_id"]
        .iter()
        .enumerate()
    {
        match optional_id(&fields, name) {
            Ok(v) => ids[slot] = v,
            Err(key) => form.set_error(name, context.locale.t(key).to_owned()),
        }
    }
    if form.has_errors() {
        return ticket_page(
            &state,
            &context,
            id,
            Forms {
                props: Some(form),
                ..Forms::default()
            },
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let text = |name: &str| Some(field(&fields, name).to_owned());
    let changes = TicketChanges {
        version,
        subject: text("subject"),
        description: None,
        ticket_type: filled(&fields, "type"),
        service_kind: Some(filled(&fields, "service_kind")),
        category_id: Some(ids[1]),
        urgency: filled(&fields, "urgency"),
        impact: filled(&fields, "impact"),
        priority: Some(filled(&fields, "priority")),
        priority_reason: text("priority_reason"),
        channel: filled(&fields, "channel"),
        customer_id: Some(ids[0]),
        expectation: text("expectation"),
        wanted_by: Some(filled(&fields, "wanted_by")),
        tags: Some(tag_list(field(&fields, "tags"))),
        team_id: Some(ids[2]),
        assignee_id: Some(ids[3]),
        watchers: None,
        custom_fields: Some(custom_values(&defined, &fields)),
    };
    match tickets::update_ticket(&state.app, &caller, id, changes).await {
        Ok(_) => Redirect::to(&format!("/tickets/{id}?saved=1")).into_response(),
        Err(error) => {
            let status = error_status(&error);
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    ticket_page(
                        &state,
                        &context,
                        id,
                        Forms {
                            props: Some(form),
                            ..Forms::default()
                        },
                        None,
                        status,
                    )
                    .await
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// `POST /tickets/{id}/status`: moves the ticket along its lifecycle.
pub async fn change_status(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let change = StatusChange {
        version: field(&fields, "version").parse::<i64>().unwrap_or(-1),
        status: field(&fields, "status").to_owned(),
        reason: filled(&fields, "reason"),
        resolution_category: filled(&fields, "resolution_category"),
        resolution: Some(field(&fields, "resolution").to_owned()),
        overdue_category: filled(&fields, "overdue_category"),
        overdue_reason: filled(&fields, "overdue_reason"),
    };
    match tickets::change_status(&state.app, &caller, id, change).await {
        Ok(_) => Redirect::to(&format!("/tickets/{id}?saved=1")).into_response(),
        Err(error) => {
            let status = error_status(&error);
            let mut form = FormState::from_submitted(&fields);
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    ticket_page(
                        &state,
                        &context,
                        id,
                        Forms {
                            status: Some(form),
                            ..Forms::default()
                        },
                        None,
                        status,
                    )
                    .await
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// `POST /tickets/{id}/messages`: adds a reply or note, then optionally
/// moves the ticket (reply and set pending, say) in the same step.
pub async fn add_message(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    request: Request,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let (fields, files) = match upload::fields_and_files(&state, request).await {
        Ok(form) => form,
        Err(error) => {
            let status = error_status(&error);
            let mut form = FormState::default();
            return match form.absorb(context.locale, error) {
                Ok(()) => {
                    let forms = Forms {
                        reply: Some(form),
                        ..Forms::default()
                    };
                    ticket_page(&state, &context, id, forms, None, status).await
                }
                Err(other) => failure(&context, other),
            };
        }
    };
    let kind = field(&fields, "kind").to_owned();
    let input = MessageInput {
        // The copies go with a reply only; a note keeps the field as typed.
        cc: fields.get("cc").filter(|_| kind != "note").cloned(),
        kind,
        body: field(&fields, "body").to_owned(),
        gives_result: fields.contains_key("gives_result"),
    };
    let mut form = FormState::from_submitted(&fields);
    if let Err(error) = tickets::add_message_with_files(&state.app, &caller, id, input, files).await
    {
        let status = error_status(&error);
        return match form.absorb(context.locale, error) {
            Ok(()) => {
                ticket_page(
                    &state,
                    &context,
                    id,
                    Forms {
                        reply: Some(form),
                        ..Forms::default()
                    },
                    None,
                    status,
                )
                .await
            }
            Err(other) => failure(&context, other),
        };
    }
    if let Some(next) = filled(&fields, "then_status") {
        let version = match tickets::get_ticket(&state.app, &caller, id).await {
            Ok(v) => v.ticket.version,
            Err(e) => return failure(&context, e),
        };
        let change = StatusChange {
            version,
            status: next,
            ..StatusChange::default()
        };
        if let Err(error) = tickets::change_status(&state.app, &caller, id, change).await {
            let status = error_status(&error);
            let mut status_form = FormState::default();
            return match status_form.absorb(context.locale, error) {
                Ok(()) => {
                    ticket_page(
                        &state,
                        &context,
                        id,
                        Forms {
                            status: Some(status_form),
                            ..Forms::default()
                        },
                        None,
                        status,
                    )
                    .await
                }
                Err(other) => failure(&context, other),
            };
        }
    }
    Redirect::to(&format!("/tickets/{id}?saved=1#conversation")).into_response()
}

#[derive(Template)]
#[template(path = "settings_tickets.html")]
struct SettingsPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    categories: Vec<kefu_store::tickets::Category>,
    category_form: FormState,
    matrix: Vec<(&'static str, Vec<(String, String)>)>,
    matrix_form: FormState,
    priorities: Vec<Choice>,
    form_url: String,
}

async fn settings_page(
    state: &AppState,
    context: &PageContext,
    category_form: FormState,
    matrix_form: Option<FormState>,
    notice: Option<&'static str>,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let categories = match tickets::list_categories(&state.app, &caller).await {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let current = match tickets::get_settings(&state.app, &caller).await {
        Ok(s) => s,
        Err(e) => return failure(context, e),
    };
    let matrix_form = matrix_form.unwrap_or_else(|| {
        let mut form = FormState::with_values(&[
            ("version", &current.version.to_string()),
            ("reopen_days", &current.reopen_days.to_string()),
            (
                "overdue_reasons",
                &current
                    .overdue_reasons
                    .clone()
                    .unwrap_or_default()
                    .join("\n"),
            ),
        ]);
        for (r, row) in current.priority_matrix.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                form.set_value(&format!("m{r}{c}"), cell);
            }
        }
        form
    });
    let matrix = ["high", "medium", "low"]
        .iter()
        .enumerate()
        .map(|(r, level)| {
            (
                *level,
                (0..3)
                    .map(|c| {
                        let name = format!("m{r}{c}");
                        let value = matrix_form.value(&name).to_owned();
                        (name, value)
                    })
                    .collect(),
            )
        })
        .collect();
    let page = SettingsPage {
        form_url: format!("{}/form", state.public_url.trim_end_matches('/')),
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/tickets"),
        notice,
        categories,
        category_form,
        matrix,
        matrix_form,
        priorities: priority_choices(),
    };
    (status, render(&page)).into_response()
}

/// `GET /settings/tickets`: categories, priority matrix, reopen window.
pub async fn settings(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = params
        .contains_key("saved")
        .then(|| context.locale.t("tickets.settings_saved"));
    settings_page(
        &state,
        &context,
        FormState::default(),
        None,
        notice,
        StatusCode::OK,
    )
    .await
}

/// `POST /settings/tickets`: saves the matrix and the reopen window.
pub async fn save_settings(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let mut form = FormState::from_submitted(&fields);
    let input = SettingsInput {
        version: field(&fields, "version").parse().unwrap_or(-1),
        priority_matrix: (0..3)
            .map(|r| {
                (0..3)
                    .map(|c| field(&fields, &format!("m{r}{c}")).to_owned())
                    .collect()
            })
            .collect(),
        reopen_days: match field(&fields, "reopen_days").trim().parse() {
            Ok(n) => n,
            Err(_) => {
                form.set_error(
                    "reopen_days",
                    context.locale.t("reasons.not_a_number").to_owned(),
                );
                return settings_page(
                    &state,
                    &context,
                    FormState::default(),
                    Some(form),
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
        overdue_reasons: Some(
            field(&fields, "overdue_reasons")
                .lines()
                .map(str::to_owned)
                .collect(),
        ),
    };
    match tickets::save_settings(&state.app, &caller, input).await {
        Ok(_) => Redirect::to("/settings/tickets?saved=1").into_response(),
        Err(error) => {
            let status = error_status(&error);
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    settings_page(
                        &state,
                        &context,
                        FormState::default(),
                        Some(form),
                        None,
                        status,
                    )
                    .await
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

fn category_input(fields: &Fields) -> Result<CategoryInput, &'static str> {
    Ok(CategoryInput {
        version: field(fields, "version").parse().ok(),
        parent_id: optional_id(fields, "parent_id")?,
        name: field(fields, "name").to_owned(),
        name_en: filled(fields, "name_en"),
        active: Some(fields.get("active").is_some() || fields.get("version").is_none()),
    })
}

/// `POST /settings/tickets/categories`: adds a category.
pub async fn create_category(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    category_step(&state, &context, None, &fields).await
}

/// `POST /settings/tickets/categories/{id}`: renames, moves or switches off a category.
pub async fn save_category(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    category_step(&state, &context, Some(id), &fields).await
}

async fn category_step(
    state: &AppState,
    context: &PageContext,
    id: Option<i64>,
    fields: &Fields,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let mut form = FormState::from_submitted(fields);
    let input = match category_input(fields) {
        Ok(i) => i,
        Err(key) => {
            form.set_error("parent_id", context.locale.t(key).to_owned());
            return settings_page(
                state,
                context,
                form,
                None,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let result = match id {
        None => tickets::create_category(&state.app, &caller, input).await,
        Some(id) => tickets::update_category(&state.app, &caller, id, input).await,
    };
    match result {
        Ok(_) => Redirect::to("/settings/tickets?saved=1").into_response(),
        Err(error) => {
            let status = error_status(&error);
            match form.absorb(context.locale, error) {
                Ok(()) => settings_page(state, context, form, None, None, status).await,
                Err(other) => failure(context, other),
            }
        }
    }
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    shell: Shell,
    selectable: bool,
    q: String,
    terms: String,
    tickets: Vec<QueueRow>,
    customers: Vec<(i64, String, String)>,
    error: Option<String>,
}

/// `GET /search?q=…`: tickets and customers matching the words.
pub async fn search(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let q = field(&params, "q").trim().to_owned();
    let mut page = SearchPage {
        selectable: false,
        shell: context.shell(""),
        q: q.clone(),
        terms: String::new(),
        tickets: Vec::new(),
        customers: Vec::new(),
        error: None,
    };
    if q.is_empty() {
        return render(&page);
    }
    match tickets::search(&state.app, &caller, &q, 50).await {
        Ok(found) => {
            page.terms = found.terms.join(" · ");
            page.tickets = found
                .tickets
                .iter()
                .map(|t| QueueRow::of(&context, t))
                .collect();
            page.customers = found
                .customers
                .into_iter()
                .map(|c| {
                    (
                        c.id,
                        c.name,
                        c.organization.map(|o| o.name).unwrap_or_default(),
                    )
                })
                .collect();
            render(&page)
        }
        Err(AppError::Validation { field, reason }) => {
            page.error = Some(format!("{field}: {}", context.locale.reason(&reason)));
            (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
        }
        Err(e) => failure(&context, e),
    }
}

/// Shows the ticket page again with the extra forms' input and error, or
/// the failure page when the error is not about a field.
async fn extra_refused(
    state: &AppState,
    context: &PageContext,
    id: i64,
    fields: &Fields,
    error: AppError,
) -> Response {
    let status = error_status(&error);
    let mut form = FormState::from_submitted(fields);
    match form.absorb(context.locale, error) {
        Ok(()) => {
            ticket_page(
                state,
                context,
                id,
                Forms {
                    extra: Some(form),
                    ..Forms::default()
                },
                None,
                status,
            )
            .await
        }
        Err(other) => failure(context, other),
    }
}

/// `POST /tickets/{id}/plan`: adds a step to the service plan.
pub async fn add_plan_step(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let owner_id = optional_id(&fields, "owner_id").unwrap_or_default();
    let input = tickets::PlanStepInput {
        title: field(&fields, "title").to_owned(),
        owner_id,
        due_on: filled(&fields, "due_on"),
    };
    match tickets::add_plan_step(&state.app, &caller, id, input).await {
        Ok(_) => Redirect::to(&format!("/tickets/{id}?saved=1#plan")).into_response(),
        Err(error) => extra_refused(&state, &context, id, &fields, error).await,
    }
}

/// `POST /ticket-plan-steps/{id}`: checks a step off, or back on.
pub async fn toggle_plan_step(
    State(state): State<AppState>,
    context: PageContext,
    Path(step_id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let ticket_id = field(&fields, "ticket_id").parse::<i64>().unwrap_or(0);
    let changes = tickets::PlanStepChanges {
        version: field(&fields, "version").parse().unwrap_or(-1),
        done: Some(field(&fields, "done") == "1"),
        ..tickets::PlanStepChanges::default()
    };
    match tickets::update_plan_step(&state.app, &caller, step_id, changes).await {
        Ok(step) => {
            Redirect::to(&format!("/tickets/{}?saved=1#plan", step.ticket_id)).into_response()
        }
        Err(error) => extra_refused(&state, &context, ticket_id, &fields, error).await,
    }
}

/// `POST /tickets/{id}/links`: records a related ticket by its number.
pub async fn link(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let Some(other) = kefu_domain::ticket::parse_number(field(&fields, "ticket_id")) else {
        return extra_refused(
            &state,
            &context,
            id,
            &fields,
            AppError::invalid("ticket_id", "must be a whole number"),
        )
        .await;
    };
    match tickets::link_tickets(&state.app, &caller, id, other).await {
        Ok(_) => Redirect::to(&format!("/tickets/{id}?saved=1")).into_response(),
        Err(error) => extra_refused(&state, &context, id, &fields, error).await,
    }
}

/// `POST /tickets/{id}/escalate`: opens a child ticket for another team
/// (technical support, say) and shows it.
pub async fn escalate(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let parent = match tickets::get_ticket(&state.app, &caller, id).await {
        Ok(p) => p,
        Err(e) => return failure(&context, e),
    };
    let input = NewTicket {
        subject: field(&fields, "child_subject").to_owned(),
        description: filled(&fields, "child_description"),
        ticket_type: Some(parent.ticket.ticket_type.as_str().to_owned()),
        urgency: Some(parent.ticket.urgency.as_str().to_owned()),
        impact: Some(parent.ticket.impact.as_str().to_owned()),
        channel: Some(parent.ticket.channel.as_str().to_owned()),
        category_id: parent.ticket.category_id,
        team_id: optional_id(&fields, "child_team_id").ok().flatten(),
        assignee_id: optional_id(&fields, "child_assignee_id").ok().flatten(),
        parent_id: Some(id),
        ..NewTicket::default()
    };
    match tickets::create_ticket(&state.app, &caller, input).await {
        Ok(child) => {
            Redirect::to(&format!("/tickets/{}?created=1", child.ticket.id)).into_response()
        }
        Err(AppError::Validation { field: f, reason }) => {
            let renamed = match f.as_str() {
                "subject" | "description" | "team_id" | "assignee_id" => format!("child_{f}"),
                _ => f,
            };
            extra_refused(
                &state,
                &context,
                id,
                &fields,
                AppError::Validation {
                    field: renamed,
                    reason,
                },
            )
            .await
        }
        Err(error) => extra_refused(&state, &context, id, &fields, error).await,
    }
}

/// `POST /tickets/{id}/macro`: applies a macro to the ticket.
pub async fn apply_macro(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let input = kefu_app::macros::ApplyMacro {
        macro_id: field(&fields, "macro_id").parse().unwrap_or(0),
        version: field(&fields, "version").parse().unwrap_or(-1),
    };
    match kefu_app::macros::apply_macro(&state.app, &caller, id, input).await {
        Ok(_) => Redirect::to(&format!("/tickets/{id}?saved=1")).into_response(),
        Err(error) => extra_refused(&state, &context, id, &fields, error).await,
    }
}

/// `POST /tickets/bulk`: one action on the tickets ticked in a queue.
pub async fn bulk(
    State(state): State<AppState>,
    context: PageContext,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let value = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let ids: Vec<i64> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .filter_map(|(_, v)| v.parse().ok())
        .collect();
    let back = value("back")
        .filter(|b| b.starts_with("/tickets"))
        .unwrap_or_else(|| "/tickets".to_owned());
    let mut action = kefu_app::macros::BulkAction {
        ids,
        ..kefu_app::macros::BulkAction::default()
    };
    match value("action").as_deref() {
        Some("assign") => {
            action.assignee_id = value("assignee_id")
                .and_then(|v| v.parse().ok())
                .or(Some(0))
        }
        Some("status") => action.status = value("status"),
        Some("tag") => action.add_tag = value("tag"),
        Some("macro") => action.macro_id = value("macro_id").and_then(|v| v.parse().ok()),
        _ => {}
    }
    let (done, refused) = match kefu_app::macros::bulk(&state.app, &caller, action).await {
        Ok(results) => {
            let done = results.iter().filter(|r| r.ok).count();
            let refused: Vec<String> = results
                .iter()
                .filter(|r| !r.ok)
                .map(|r| format!("#{} {}", r.id, r.error.clone().unwrap_or_default()))
                .collect();
            (done, refused)
        }
        Err(AppError::Validation { field, reason }) => (0, vec![format!("{field}: {reason}")]),
        Err(e) => return failure(&context, e),
    };
    // The queue the agent came from, without the previous action's report.
    let (path, query) = back.split_once('?').unwrap_or((back.as_str(), ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("bulk_"))
        .collect();
    let mut target = if kept.is_empty() {
        format!("{path}?bulk_done={done}")
    } else {
        format!("{path}?{}&bulk_done={done}", kept.join("&"))
    };
    if !refused.is_empty() {
        target.push_str(&format!(
            "&bulk_refused={}",
            url_escape(&refused.join("; "))
        ));
    }
    Redirect::to(&target).into_response()
}

#[derive(Template)]
#[template(path = "settings_macros.html")]
struct MacrosPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    macros: Vec<kefu_store::macros::Macro>,
    editing: Option<i64>,
    form: FormState,
    statuses: Vec<Choice>,
    resolutions: Vec<Choice>,
    teams: Vec<(i64, String)>,
    agents: Vec<(i64, String)>,
    placeholders: String,
}

async fn macros_page(
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
    let macros = match kefu_app::macros::list_macros(&state.app, &caller).await {
        Ok(m) => m,
        Err(e) => return failure(context, e),
    };
    let (teams, agents) = match people(state, &caller).await {
        Ok(p) => p,
        Err(e) => return failure(context, e),
    };
    let page = MacrosPage {
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/macros"),
        notice,
        macros,
        editing,
        form,
        statuses: status_choices()
            .into_iter()
            .filter(|c| c.code != "merged" && c.code != "new")
            .collect(),
        resolutions: resolution_choices(),
        teams,
        agents,
        placeholders: kefu_app::macros::PLACEHOLDERS
            .iter()
            .map(|p| format!("{{{p}}}"))
            .collect::<Vec<_>>()
            .join(" "),
    };
    (status, render(&page)).into_response()
}

/// `GET /settings/macros`: the macros and a form to add one.
pub async fn macros(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = params
        .contains_key("saved")
        .then(|| context.locale.t("macros.saved"));
    let form = FormState::with_values(&[("message_kind", "reply")]);
    macros_page(&state, &context, None, form, notice, StatusCode::OK).await
}

/// `GET /settings/macros/{id}`: edit a macro.
pub async fn macro_form(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let all = match kefu_app::macros::list_macros(&state.app, &caller).await {
        Ok(m) => m,
        Err(e) => return failure(&context, e),
    };
    let Some(m) = all.into_iter().find(|m| m.id == id) else {
        return failure(&context, AppError::NotFound);
    };
    let id_text = |v: Option<i64>| v.map(|i| i.to_string()).unwrap_or_default();
    let mut form = FormState::with_values(&[
        ("version", &m.version.to_string()),
        ("name", &m.name),
        ("body", &m.body),
        ("message_kind", &m.message_kind),
        ("set_status", m.set_status.as_deref().unwrap_or("")),
        ("set_team_id", &id_text(m.set_team_id)),
        ("set_assignee_id", &id_text(m.set_assignee_id)),
        ("add_tags", &m.add_tags),
        (
            "resolution_category",
            m.resolution_category.as_deref().unwrap_or(""),
        ),
    ]);
    if m.active {
        form.set_value("active", "1");
    }
    macros_page(&state, &context, Some(id), form, None, StatusCode::OK).await
}

fn macro_input(fields: &Fields) -> kefu_app::macros::MacroInput {
    kefu_app::macros::MacroInput {
        version: field(fields, "version").parse().ok(),
        name: field(fields, "name").to_owned(),
        body: field(fields, "body").to_owned(),
        message_kind: filled(fields, "message_kind"),
        set_status: filled(fields, "set_status"),
        set_team_id: filled(fields, "set_team_id").and_then(|v| v.parse().ok()),
        set_assignee_id: filled(fields, "set_assignee_id").and_then(|v| v.parse().ok()),
        add_tags: tag_list(field(fields, "add_tags")),
        resolution_category: filled(fields, "resolution_category"),
        active: Some(fields.contains_key("active") || !fields.contains_key("version")),
    }
}

/// `POST /settings/macros`: adds a macro.
pub async fn create_macro(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    macro_step(&state, &context, None, &fields).await
}

/// `POST /settings/macros/{id}`: saves a macro.
pub async fn save_macro(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    macro_step(&state, &context, Some(id), &fields).await
}

async fn macro_step(
    state: &AppState,
    context: &PageContext,
    id: Option<i64>,
    fields: &Fields,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let input = macro_input(fields);
    let result = match id {
        None => kefu_app::macros::create_macro(&state.app, &caller, input).await,
        Some(id) => kefu_app::macros::update_macro(&state.app, &caller, id, input).await,
    };
    match result {
        Ok(_) => Redirect::to("/settings/macros?saved=1").into_response(),
        Err(error) => match refused_form(context, FormState::from_submitted(fields), error) {
            Ok((form, status)) => macros_page(state, context, id, form, None, status).await,
            Err(page) => *page,
        },
    }
}

/// A stream of live ticket events, optionally for one ticket, that ends
/// when the server shuts down.
pub fn event_stream(
    events: &kefu_app::events::Events,
    ticket: Option<i64>,
) -> axum::response::sse::Sse<
    impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
    + use<>,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let state = (events.subscribe(), events.closing());
    let stream = futures_util::stream::unfold(state, move |(mut rx, mut closing)| async move {
        loop {
            if *closing.borrow() {
                return None;
            }
            let event = tokio::select! {
                received = rx.recv() => received,
                _ = closing.changed() => return None,
            };
            let (name, data) = match event {
                Ok(e) if ticket.is_some_and(|t| t != e.ticket_id) => continue,
                Ok(e) => {
                    let name = match e.kind {
                        kefu_app::events::EventKind::Created => "created",
                        kefu_app::events::EventKind::Changed => "changed",
                        kefu_app::events::EventKind::Replying => "replying",
                    };
                    (name, serde_json::to_string(&e).unwrap_or_default())
                }
                // Too slow a reader missed events: tell it to reload.
                Err(RecvError::Lagged(_)) => ("lagged", String::from("{}")),
                Err(RecvError::Closed) => return None,
            };
            let sse = Event::default().event(name).data(data);
            return Some((Ok(sse), (rx, closing)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /events?ticket_id=…`: live ticket events for the queue and ticket pages.
pub async fn events(State(state): State<AppState>, Query(params): Query<Fields>) -> Response {
    let ticket = field(&params, "ticket_id").parse::<i64>().ok();
    event_stream(&state.app.events, ticket).into_response()
}

/// `POST /tickets/{id}/replying`: tells others on the ticket that this
/// agent is writing (the page sends it while the agent types).
pub async fn replying(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let Some(signed) = &context.signed_in else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    state
        .app
        .events
        .publish(kefu_app::events::TicketEvent {
            ticket_id: id,
            kind: kefu_app::events::EventKind::Replying,
            agent_id: Some(signed.agent.id),
            agent_name: signed.agent.display_name.clone(),
        })
        .await;
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /notifications/read`: marks own notifications read.
pub async fn read_notifications(State(state): State<AppState>, context: PageContext) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match tickets::mark_notifications_read(&state.app, &caller).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => failure(&context, e),
    }
}

/// `POST /tickets/views`: saves the queue's filters under a name.
pub async fn save_view(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let query = field(&fields, "query").to_owned();
    match tickets::save_view(&state.app, &caller, field(&fields, "name"), &query).await {
        Ok(view) => Redirect::to(&format!("/tickets?{}", view.query)).into_response(),
        Err(AppError::Validation { reason, .. }) => {
            let message = context.locale.reason(&reason);
            Redirect::to(&format!(
                "/tickets?{query}&view_error={}",
                url_escape(&message)
            ))
            .into_response()
        }
        Err(AppError::Duplicate { .. }) => {
            let message = context.locale.t("reasons.in_use");
            Redirect::to(&format!(
                "/tickets?{query}&view_error={}",
                url_escape(message)
            ))
            .into_response()
        }
        Err(e) => failure(&context, e),
    }
}

/// `POST /tickets/views/{id}/delete`: deletes a saved view.
pub async fn delete_view(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match tickets::delete_view(&state.app, &caller, id).await {
        Ok(()) => Redirect::to("/tickets").into_response(),
        Err(e) => failure(&context, e),
    }
}
