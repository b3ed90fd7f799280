//! Automation rules: `/api/v1/automations`.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::automations::{self, AutomationInput, TestResult};
use kefu_store::automations::Automation;
use serde::Deserialize;

/// Every rule in order.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<Automation>>, ApiError> {
    Ok(Json(automations::list(&state.app, &caller).await?))
}

/// Adds a rule.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<AutomationInput>,
) -> Result<(StatusCode, Json<Automation>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(automations::create(&state.app, &caller, &input).await?),
    ))
}

/// Changes a rule.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<AutomationInput>,
) -> Result<Json<Automation>, ApiError> {
    Ok(Json(
        automations::update(&state.app, &caller, id, &input).await?,
    ))
}

/// Deletes a rule.
pub async fn remove(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    automations::delete(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sample ticket to try a rule on.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestInput {
    /// Ticket id.
    pub ticket_id: i64,
}

/// Tries a rule against a ticket, changing nothing.
pub async fn test(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<TestInput>,
) -> Result<Json<TestResult>, ApiError> {
    Ok(Json(
        automations::test(&state.app, &caller, id, input.ticket_id).await?,
    ))
}
