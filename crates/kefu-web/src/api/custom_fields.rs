//! `/api/v1/custom-fields`: custom fields on customer records and tickets.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, ApiQuery, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::custom_fields::{self, FieldInput};
use kefu_store::custom_fields::CustomField;

/// `?applies_to=customer|ticket`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldParams {
    /// Only the fields of `customer` records or of `ticket`s (default: both).
    pub applies_to: Option<String>,
}

/// The custom fields of one kind of record, or of both.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<FieldParams>,
) -> Result<Json<Vec<CustomField>>, ApiError> {
    let target = match params.applies_to.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(custom_fields::parse_target(text)?),
    };
    Ok(Json(
        custom_fields::list_fields(&state.app, &caller, target).await?,
    ))
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
