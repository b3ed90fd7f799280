//! `GET /api/v1/audit`: searching the audit log.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiQuery};
use axum::Json;
use axum::extract::State;
use kefu_app::audit::{self, AuditQuery};
use kefu_app::page::Page;
use kefu_store::audit::Record;

/// Audit records matching the query, newest first.
pub async fn search(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<Record>>, ApiError> {
    Ok(Json(audit::search(&state.app, &caller, &query).await?))
}
