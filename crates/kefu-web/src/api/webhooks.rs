//! Outgoing webhooks: `/api/v1/webhooks`, their delivery log and redelivery.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, ApiQuery, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::webhooks::{self, WebhookInput, WebhookView};
use kefu_store::webhooks::Delivery;
use serde::Deserialize;

/// Every webhook, with its secret.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    Ok(Json(webhooks::list(&state.app, &caller).await?))
}

/// One webhook.
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(webhooks::get(&state.app, &caller, id).await?))
}

/// Adds a webhook; the answer carries its new signing secret.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<WebhookInput>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(webhooks::create(&state.app, &caller, &input).await?),
    ))
}

/// Changes a webhook.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<WebhookInput>,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(
        webhooks::update(&state.app, &caller, id, &input).await?,
    ))
}

/// Deletes a webhook and its log.
pub async fn remove(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?before=123&limit=50` for the delivery log.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// Only deliveries with a smaller id (the next page).
    #[serde(default)]
    pub before: Option<i64>,
    /// How many (1–200, default 50).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// A webhook's deliveries, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<LogParams>,
) -> Result<Json<Vec<Delivery>>, ApiError> {
    let before = params.before.unwrap_or(0);
    let limit = params.limit.unwrap_or(50);
    Ok(Json(
        webhooks::deliveries(&state.app, &caller, id, before, limit).await?,
    ))
}

/// Sends a test `ping` to a webhook.
pub async fn ping(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(webhooks::ping(&state.app, &caller, id).await?),
    ))
}

/// Sends a delivery again.
pub async fn redeliver(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<(StatusCode, Json<Delivery>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(webhooks::redeliver(&state.app, &caller, id).await?),
    ))
}
