//! `/api/v1/custom-fields`: the customer record's custom fields.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::custom_fields::{self, FieldInput};
use kefu_store::custom_fields::CustomField;

/// Every custom field.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<CustomField>>, ApiError> {
    Ok(Json(custom_fields::list_fields(&state.app, &caller).await?))
}

/// Creates a custom field.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<FieldInput>,
) -> Result<(StatusCode, Json<CustomField>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(custom_fields::create_field(&state.app, &caller, &input).await?),
    ))
}

/// Changes a custom field (labels, options, required, active).
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<FieldInput>,
) -> Result<Json<CustomField>, ApiError> {
    Ok(Json(
        custom_fields::update_field(&state.app, &caller, id, &input).await?,
    ))
}
