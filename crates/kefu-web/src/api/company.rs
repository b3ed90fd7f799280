//! `GET /api/v1/company`: the company settings.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiCaller;
use axum::Json;
use axum::extract::State;
use kefu_store::company::Company;

/// The company settings.
pub async fn show(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Company>, ApiError> {
    Ok(Json(kefu_app::company::get(&state.app, &caller).await?))
}
