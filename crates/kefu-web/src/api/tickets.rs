//! `/api/v1/tickets`, `/api/v1/ticket-categories`, `/api/v1/ticket-settings`:
//! work orders.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, ApiQuery, PathId};
use crate::upload;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use kefu_app::attachments;
use kefu_app::tickets::{
    self, CategoryInput, MessageInput, MessageView, NewTicket, PlanStepChanges, PlanStepInput,
    SettingsInput, StatusChange, TicketChanges, TicketDetail, TicketPage, TicketQuery, TicketView,
};
use kefu_store::attachments::Attachment;
use kefu_store::tickets::{Category, PlanStep};
use serde::Deserialize;

/// `?q=…&limit=…`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words (Chinese or English), or `#number`.
    pub q: String,
    /// Most results per kind (default 20).
    pub limit: Option<i64>,
}

/// Searches tickets and customers at once.
pub async fn search(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<tickets::SearchResults>, ApiError> {
    Ok(Json(
        tickets::search(&state.app, &caller, &params.q, params.limit.unwrap_or(20)).await?,
    ))
}

/// Lists tickets: queue, filters, sort, cursor.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(query): ApiQuery<TicketQuery>,
) -> Result<Json<TicketPage>, ApiError> {
    Ok(Json(
        tickets::list_tickets(&state.app, &caller, &query).await?,
    ))
}

/// Opens a ticket.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<NewTicket>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(tickets::create_ticket(&state.app, &caller, input).await?),
    ))
}

/// One ticket with its conversation and history.
pub async fn show(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<TicketDetail>, ApiError> {
    Ok(Json(tickets::ticket_detail(&state.app, &caller, id).await?))
}

/// Changes a ticket's properties; the body carries the `version` read.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(changes): ApiJson<TicketChanges>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        tickets::update_ticket(&state.app, &caller, id, changes).await?,
    ))
}

/// Moves a ticket along its lifecycle.
pub async fn change_status(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(change): ApiJson<StatusChange>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        tickets::change_status(&state.app, &caller, id, change).await?,
    ))
}

/// Adds a public reply or an internal note.
///
/// JSON, or a multipart form with `kind`, `body`, `cc` and files (any
/// part with a file name) attached to the message. On a ticket that came
/// by email a reply goes out by email too, copying `cc` (comma-separated;
/// omitted: those the customer's last message copied; empty: nobody).
pub async fn add_message(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    request: Request,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let view = if upload::is_multipart(request.headers()) {
        let form = upload::read(&state, request).await?;
        let text = |name: &str| form.fields.get(name).cloned().unwrap_or_default();
        let input = MessageInput {
            kind: Some(text("kind"))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "reply".to_owned()),
            body: text("body"),
            gives_result: matches!(text("gives_result").as_str(), "true" | "1" | "on"),
            cc: form.fields.get("cc").cloned(),
        };
        tickets::add_message_with_files(&state.app, &caller, id, input, form.files).await?
    } else {
        let ApiJson(input) = ApiJson::<MessageInput>::from_request(request, &state).await?;
        tickets::add_message(&state.app, &caller, id, input).await?
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Attaches files to the ticket itself (multipart; a part named
/// `recording` is a call recording and must be sound).
pub async fn attach(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    request: Request,
) -> Result<(StatusCode, Json<Vec<Attachment>>), ApiError> {
    if !upload::is_multipart(request.headers()) {
        return Err(
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
                .keyed("multipart_required"),
        );
    }
    let form = upload::read(&state, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(attachments::attach(&state.app, &caller, id, form.files).await?),
    ))
}

/// A ticket's files.
pub async fn attachment_list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Vec<Attachment>>, ApiError> {
    Ok(Json(attachments::list(&state.app, &caller, id).await?))
}

/// One file's bytes (pictures and sound inline, everything else as a download).
pub async fn download(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (attachment, content) = attachments::open(&state.app, &caller, id).await?;
    Ok(upload::send(&attachment, content, &headers).await)
}

/// The category tree, by path.
pub async fn categories(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(tickets::list_categories(&state.app, &caller).await?))
}

/// Adds a category.
pub async fn create_category(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<(StatusCode, Json<Category>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(tickets::create_category(&state.app, &caller, input).await?),
    ))
}

/// Changes a category.
pub async fn update_category(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<CategoryInput>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(
        tickets::update_category(&state.app, &caller, id, input).await?,
    ))
}

/// The priority matrix and reopen window.
pub async fn settings(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<SettingsInput>, ApiError> {
    Ok(Json(tickets::get_settings(&state.app, &caller).await?))
}

/// Saves the priority matrix and reopen window.
pub async fn save_settings(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<SettingsInput>,
) -> Result<Json<SettingsInput>, ApiError> {
    Ok(Json(
        tickets::save_settings(&state.app, &caller, input).await?,
    ))
}

/// Adds a step to the ticket's service plan.
pub async fn add_plan_step(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<PlanStepInput>,
) -> Result<(StatusCode, Json<PlanStep>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(tickets::add_plan_step(&state.app, &caller, id, input).await?),
    ))
}

/// Changes or checks off a plan step.
pub async fn update_plan_step(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(changes): ApiJson<PlanStepChanges>,
) -> Result<Json<PlanStep>, ApiError> {
    Ok(Json(
        tickets::update_plan_step(&state.app, &caller, id, changes).await?,
    ))
}

/// `{"ticket_id": n}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The related ticket.
    pub ticket_id: i64,
}

/// Records two tickets as related.
pub async fn link(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        tickets::link_tickets(&state.app, &caller, id, body.ticket_id).await?,
    ))
}

/// Every macro.
pub async fn macros(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<kefu_store::macros::Macro>>, ApiError> {
    Ok(Json(
        kefu_app::macros::list_macros(&state.app, &caller).await?,
    ))
}

/// Adds a macro.
pub async fn create_macro(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<kefu_app::macros::MacroInput>,
) -> Result<(StatusCode, Json<kefu_store::macros::Macro>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(kefu_app::macros::create_macro(&state.app, &caller, input).await?),
    ))
}

/// Changes a macro.
pub async fn update_macro(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<kefu_app::macros::MacroInput>,
) -> Result<Json<kefu_store::macros::Macro>, ApiError> {
    Ok(Json(
        kefu_app::macros::update_macro(&state.app, &caller, id, input).await?,
    ))
}

/// Applies a macro to a ticket.
pub async fn apply_macro(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<kefu_app::macros::ApplyMacro>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(
        kefu_app::macros::apply_macro(&state.app, &caller, id, input).await?,
    ))
}

/// One action on many tickets; says how each fared.
pub async fn bulk(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(action): ApiJson<kefu_app::macros::BulkAction>,
) -> Result<Json<Vec<kefu_app::macros::BulkResult>>, ApiError> {
    Ok(Json(
        kefu_app::macros::bulk(&state.app, &caller, action).await?,
    ))
}

/// `?ticket_id=…`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    /// Only this ticket's events.
    pub ticket_id: Option<i64>,
}

/// Live ticket events as server-sent events.
pub async fn events(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<EventParams>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller
        .require(kefu_domain::Permission::ViewTickets)
        .map_err(ApiError::from)?;
    Ok(crate::ui::tickets::event_stream(&state.app.events, params.ticket_id).into_response())
}

/// The caller's newest notifications (mentions) and the unread count.
pub async fn notifications(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Notifications>, ApiError> {
    let (items, unread) = tickets::notifications(&state.app, &caller).await?;
    Ok(Json(Notifications { items, unread }))
}

/// The caller's newest notifications.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Notifications {
    /// Newest first.
    pub items: Vec<tickets::NotificationView>,
    /// How many are unread.
    pub unread: i64,
}

/// Marks the caller's notifications read.
pub async fn read_notifications(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<StatusCode, ApiError> {
    tickets::mark_notifications_read(&state.app, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"name": "…", "query": "view=team&status=pending"}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewBody {
    /// Name.
    pub name: String,
    /// The queue filters as a query string.
    pub query: String,
}

/// The caller's saved queue views.
pub async fn views(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<kefu_store::tickets::SavedView>>, ApiError> {
    Ok(Json(tickets::views(&state.app, &caller).await?))
}

/// Saves a queue view for the caller.
pub async fn save_view(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(body): ApiJson<ViewBody>,
) -> Result<(StatusCode, Json<kefu_store::tickets::SavedView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(tickets::save_view(&state.app, &caller, &body.name, &body.query).await?),
    ))
}

/// Deletes one of the caller's views.
pub async fn delete_view(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    tickets::delete_view(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
