//! `/api/v1/api-tokens`: issuing tokens for integrations.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::auth::{self, IssuedToken, NewTokenInput};

/// Issues a token; the response is the only time the secret is shown.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<NewTokenInput>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(auth::create_api_token(&state.app, &caller, input).await?),
    ))
}

/// Lists tokens.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<kefu_store::tokens::ApiToken>>, ApiError> {
    Ok(Json(auth::list_api_tokens(&state.app, &caller).await?))
}

/// Revokes a token.
pub async fn revoke(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    crate::extract::PathId(id): crate::extract::PathId,
) -> Result<Json<kefu_store::tokens::ApiToken>, ApiError> {
    Ok(Json(auth::revoke_api_token(&state.app, &caller, id).await?))
}
