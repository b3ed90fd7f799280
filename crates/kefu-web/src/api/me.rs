//! `GET /api/v1/me`: who the caller is and what they may do.

use crate::extract::ApiCaller;
use axum::Json;
use serde_json::{Value, json};

/// The caller's identity, role and permissions.
pub async fn show(ApiCaller(caller): ApiCaller) -> Json<Value> {
    let permissions: Vec<_> = caller.role.permissions().collect();
    Json(json!({
        "actor": caller.actor,
        "agent_id": caller.agent_id,
        "role": caller.role,
        "permissions": permissions,
    }))
}

/// `PUT /api/v1/me/status` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// `online`, `away` or `offline`.
    pub status: String,
}

/// Sets the caller's presence.
pub async fn set_status(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    ApiCaller(caller): ApiCaller,
    crate::extract::ApiJson(input): crate::extract::ApiJson<StatusInput>,
) -> Result<Json<kefu_store::agents::Agent>, crate::error::ApiError> {
    Ok(Json(
        kefu_app::directory::set_own_status(&state.app, &caller, &input.status).await?,
    ))
}
