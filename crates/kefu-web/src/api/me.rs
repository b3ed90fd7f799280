//! `GET /api/v1/me`: who the caller is and what they may do.

use crate::extract::ApiCaller;
use axum::Json;
use kefu_domain::audit::Actor;
use kefu_domain::{Permission, Role};

/// Who the caller is and what they may do.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Me {
    /// How the caller appears in the audit log.
    pub actor: Actor,
    /// The agent acted for (the token's agent for API tokens).
    pub agent_id: Option<i64>,
    /// The role whose permissions apply.
    pub role: Role,
    /// Everything that role may do.
    pub permissions: Vec<Permission>,
}

/// The caller's identity, role and permissions.
pub async fn show(ApiCaller(caller): ApiCaller) -> Json<Me> {
    Json(Me {
        actor: caller.actor,
        agent_id: caller.agent_id,
        role: caller.role,
        permissions: caller.role.permissions().collect(),
    })
}

/// `PUT /api/v1/me/status` body.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
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
