//! SLA policies: `/api/v1/sla-policies`.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::sla::{self, PolicyInput};
use kefu_store::sla::Policy;

/// Every policy in the order they are tried.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<Policy>>, ApiError> {
    Ok(Json(sla::list_policies(&state.app, &caller).await?))
}

/// Adds a policy.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<PolicyInput>,
) -> Result<(StatusCode, Json<Policy>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(sla::create_policy(&state.app, &caller, input).await?),
    ))
}

/// Changes a policy.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<PolicyInput>,
) -> Result<Json<Policy>, ApiError> {
    Ok(Json(
        sla::update_policy(&state.app, &caller, id, input).await?,
    ))
}

/// Deletes a policy.
pub async fn remove(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    sla::delete_policy(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
