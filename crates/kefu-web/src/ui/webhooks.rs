//! Settings → Webhooks: the list, a form to add or change one, its
//! signing secret, the delivery log with redelivery, and a test button.

use super::form::FormState;
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
use kefu_app::webhooks::{self, WebhookInput, WebhookView};
use kefu_domain::webhook::WebhookEvent;
use kefu_store::webhooks::Delivery;

/// One row of the delivery log as shown.
pub struct DeliveryRow {
    /// The delivery.
    pub delivery: Delivery,
    /// When it was queued, in the viewer's zone.
    pub at: String,
}

#[derive(Template)]
#[template(path = "settings_webhooks.html")]
struct WebhooksPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    webhooks: Vec<WebhookView>,
    editing: Option<WebhookView>,
    form: FormState,
    events: Vec<&'static str>,
    deliveries: Vec<DeliveryRow>,
}

/// The events an admin may subscribe to (ping is the test button's).
fn subscribable() -> Vec<&'static str> {
    WebhookEvent::ALL
        .iter()
        .filter(|e| !matches!(e, WebhookEvent::Ping | WebhookEvent::Automation))
        .map(|e| e.as_str())
        .collect()
}

async fn webhooks_page(
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
    let all = match webhooks::list(&state.app, &caller).await {
        Ok(w) => w,
        Err(e) => return failure(context, e),
    };
    let (editing, deliveries) = match editing {
        Some(id) => {
            let Some(hook) = all.iter().find(|w| w.webhook.id == id).cloned() else {
                return failure(context, kefu_app::AppError::NotFound);
            };
            match webhooks::deliveries(&state.app, &caller, id, 0, 50).await {
                Ok(log) => (
                    Some(hook),
                    log.into_iter()
                        .map(|delivery| DeliveryRow {
                            at: context.time(delivery.created_at),
                            delivery,
                        })
                        .collect(),
                ),
                Err(e) => return failure(context, e),
            }
        }
        None => (None, Vec::new()),
    };
    let page = WebhooksPage {
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/webhooks"),
        notice,
        webhooks: all,
        editing,
        form,
        events: subscribable(),
        deliveries,
    };
    (status, render(&page)).into_response()
}

fn form_of(w: &WebhookView) -> FormState {
    let mut form = FormState::with_values(&[
        ("version", &w.webhook.version.to_string()),
        ("name", &w.webhook.name),
        ("url", &w.webhook.url),
    ]);
    for event in w.webhook.events.split(',').filter(|e| !e.is_empty()) {
        form.set_value(&format!("event.{event}"), "1");
    }
    if w.webhook.active {
        form.set_value("active", "1");
    }
    form
}

fn notice_of(context: &PageContext, params: &Fields) -> Option<&'static str> {
    if params.contains_key("saved") {
        Some(context.locale.t("webhooks.saved"))
    } else if params.contains_key("queued") {
        Some(context.locale.t("webhooks.queued"))
    } else {
        None
    }
}

/// `GET /settings/webhooks`.
pub async fn list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = notice_of(&context, &params);
    let mut form = FormState::with_values(&[("active", "1")]);
    for event in subscribable() {
        form.set_value(&format!("event.{event}"), "1");
    }
    webhooks_page(&state, &context, None, form, notice, StatusCode::OK).await
}

/// `GET /settings/webhooks/{id}`: edit one and read its delivery log.
pub async fn edit(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let form = match webhooks::get(&state.app, &caller, id).await {
        Ok(w) => form_of(&w),
        Err(e) => return failure(&context, e),
    };
    let notice = notice_of(&context, &params);
    webhooks_page(&state, &context, Some(id), form, notice, StatusCode::OK).await
}

fn input_of(fields: &Fields) -> WebhookInput {
    let mut events: Vec<String> = fields
        .keys()
        .filter_map(|k| k.strip_prefix("event."))
        .map(str::to_owned)
        .collect();
    events.sort();
    WebhookInput {
        version: field(fields, "version").parse().ok(),
        name: field(fields, "name").to_owned(),
        url: field(fields, "url").to_owned(),
        events,
        active: Some(fields.contains_key("active")),
        rotate_secret: fields.contains_key("rotate_secret"),
    }
}

/// `POST /settings/webhooks`: adds one.
pub async fn create(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    save_step(&state, &context, None, &fields).await
}

/// `POST /settings/webhooks/{id}`: saves one.
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
        None => webhooks::create(&state.app, &caller, &input).await,
        Some(id) => webhooks::update(&state.app, &caller, id, &input).await,
    };
    match result {
        Ok(saved) => Redirect::to(&format!("/settings/webhooks/{}?saved=1", saved.webhook.id))
            .into_response(),
        Err(error) => {
            // `events[1]` is shown beside the event choices.
            let error = by_list(error);
            match refused_form(context, FormState::from_submitted(fields), error) {
                Ok((form, status)) => webhooks_page(state, context, id, form, None, status).await,
                Err(page) => *page,
            }
        }
    }
}

/// `POST /settings/webhooks/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(
        &context,
        "/settings/webhooks?saved=1",
        |caller| async move { webhooks::delete(&state.app, &caller, id).await },
    )
    .await
}

/// `POST /settings/webhooks/{id}/ping`: sends a test event.
pub async fn ping(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(
        &context,
        &format!("/settings/webhooks/{id}?queued=1"),
        |caller| async move { webhooks::ping(&state.app, &caller, id).await },
    )
    .await
}

/// `POST /settings/webhooks/{id}/deliveries/{delivery}/redeliver`.
pub async fn redeliver(
    State(state): State<AppState>,
    context: PageContext,
    Path((id, delivery)): Path<(i64, i64)>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match webhooks::redeliver(&state.app, &caller, delivery).await {
        Ok(d) if d.webhook_id == id => {
            Redirect::to(&format!("/settings/webhooks/{id}?queued=1")).into_response()
        }
        Ok(d) => {
            Redirect::to(&format!("/settings/webhooks/{}?queued=1", d.webhook_id)).into_response()
        }
        Err(e) => failure(&context, e),
    }
}
