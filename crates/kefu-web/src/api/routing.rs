//! Routing: `/api/v1/routing` (team strategies, agent capacity and skills)
//! and `/api/v1/routing-rules`.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::routing::{
    self, AgentRoutingInput, AgentRoutingView, RoutingOverview, RuleInput, TeamRoutingView,
    TeamStrategyInput,
};
use kefu_store::routing::RoutingRule;

/// Team strategies, agents' capacity, skills and load, and the rules.
pub async fn overview(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<RoutingOverview>, ApiError> {
    Ok(Json(routing::overview(&state.app, &caller).await?))
}

/// Sets a team's strategy.
pub async fn set_team(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<TeamStrategyInput>,
) -> Result<Json<TeamRoutingView>, ApiError> {
    Ok(Json(
        routing::set_team_strategy(&state.app, &caller, id, &input).await?,
    ))
}

/// Sets an agent's capacity and skills.
pub async fn set_agent(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<AgentRoutingInput>,
) -> Result<Json<AgentRoutingView>, ApiError> {
    Ok(Json(
        routing::set_agent_routing(&state.app, &caller, id, &input).await?,
    ))
}

/// Every rule in order.
pub async fn rules(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<RoutingRule>>, ApiError> {
    Ok(Json(routing::overview(&state.app, &caller).await?.rules))
}

/// Adds a rule.
pub async fn create_rule(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<RuleInput>,
) -> Result<(StatusCode, Json<RoutingRule>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(routing::create_rule(&state.app, &caller, &input).await?),
    ))
}

/// Changes a rule.
pub async fn update_rule(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<RuleInput>,
) -> Result<Json<RoutingRule>, ApiError> {
    Ok(Json(
        routing::update_rule(&state.app, &caller, id, &input).await?,
    ))
}

/// Deletes a rule.
pub async fn delete_rule(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    routing::delete_rule(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
