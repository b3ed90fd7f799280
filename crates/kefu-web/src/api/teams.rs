//! `/api/v1/teams`: teams, their members and history.

use super::ListParams;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, ApiQuery, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kefu_app::directory::{self, NewTeam, TeamChanges, TeamView};
use kefu_app::page::Page;
use kefu_store::audit::Record;

/// Lists teams.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<TeamView>>, ApiError> {
    Ok(Json(
        directory::list_teams(&state.app, &caller, params.page()?).await?,
    ))
}

/// One team.
pub async fn show(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(directory::get_team(&state.app, &caller, id).await?))
}

/// Creates a team.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<NewTeam>,
) -> Result<(StatusCode, Json<TeamView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(directory::create_team(&state.app, &caller, input).await?),
    ))
}

/// Changes a team; the body must carry the `version` the editor read.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(changes): ApiJson<TeamChanges>,
) -> Result<Json<TeamView>, ApiError> {
    Ok(Json(
        directory::update_team(&state.app, &caller, id, changes).await?,
    ))
}

/// The team's audit history.
pub async fn history(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<Vec<Record>>, ApiError> {
    Ok(Json(
        directory::team_history(&state.app, &caller, id).await?,
    ))
}
