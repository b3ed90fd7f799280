//! `/api/v1/agents`: agent accounts.

use super::ListParams;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, ApiQuery, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::directory::{self, NewAgentInput};
use kefu_app::page::Page;
use kefu_store::agents::Agent;

/// Lists agents.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<Agent>>, ApiError> {
    Ok(Json(
        directory::list_agents(&state.app, &caller, params.page()?).await?,
    ))
}

/// One agent.
pub async fn show(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(directory::get_agent(&state.app, &caller, id).await?))
}

/// Creates an agent account.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<NewAgentInput>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(directory::create_agent(&state.app, &caller, input).await?),
    ))
}

/// Changes an agent account; the body carries the `version` read.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(changes): ApiJson<directory::AgentChanges>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(
        directory::update_agent(&state.app, &caller, id, changes).await?,
    ))
}

/// Switches an agent's two-step sign-in off (lost phone); 204 either way.
pub async fn reset_two_step(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    kefu_app::signin::reset_two_step(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
