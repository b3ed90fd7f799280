//! Liveness and readiness probes.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and its schema is this binary's.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let store = &state.app.store;
    if let Err(error) = store.ping().await {
        tracing::warn!(%error, "readiness: database unreachable");
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unreachable")
            .into_response();
    }
    match store.schema_status().await {
        Ok(status) if status.is_current() => Json(json!({
            "status": "ready",
            "database": store.backend().as_str(),
            "schema_version": status.applied,
        }))
        .into_response(),
        Ok(status) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "schema_not_current")
            .arg("applied", format!("{:?}", status.applied))
            .arg("latest", status.latest.to_string())
            .into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness: schema check failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unreachable").into_response()
        }
    }
}
