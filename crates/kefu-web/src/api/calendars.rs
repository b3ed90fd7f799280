//! Business calendars: `/api/v1/calendars`.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiCaller, ApiJson, ApiQuery, PathId};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use kefu_app::calendars::{self, CalendarInput, CalendarView, DueAnswer};
use serde::Deserialize;

/// Every calendar with its days.
pub async fn list(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<CalendarView>>, ApiError> {
    Ok(Json(calendars::list_calendars(&state.app, &caller).await?))
}

/// One calendar.
pub async fn get_one(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<Json<CalendarView>, ApiError> {
    Ok(Json(
        calendars::get_calendar(&state.app, &caller, id).await?,
    ))
}

/// Adds a calendar.
pub async fn create(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<CalendarInput>,
) -> Result<(StatusCode, Json<CalendarView>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(calendars::create_calendar(&state.app, &caller, input).await?),
    ))
}

/// Changes a calendar.
pub async fn update(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiJson(input): ApiJson<CalendarInput>,
) -> Result<Json<CalendarView>, ApiError> {
    Ok(Json(
        calendars::update_calendar(&state.app, &caller, id, input).await?,
    ))
}

/// Deletes a calendar.
pub async fn remove(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
) -> Result<StatusCode, ApiError> {
    calendars::delete_calendar(&state.app, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `?version=3&replace=false` for a holiday file import.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportDaysParams {
    /// The calendar version read.
    pub version: i64,
    /// Make the file's days the only ones (default: add to them).
    #[serde(default)]
    pub replace: bool,
}

/// Adds the holidays and make-up days of an iCalendar or CSV body.
pub async fn import_days(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<ImportDaysParams>,
    body: axum::body::Bytes,
) -> Result<Json<CalendarView>, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::from(kefu_app::AppError::invalid(
            "file",
            "must be UTF-8 text (an iCalendar or CSV file)",
        ))
    })?;
    Ok(Json(
        calendars::import_days(
            &state.app,
            &caller,
            id,
            params.version,
            text,
            params.replace,
        )
        .await?,
    ))
}

/// `?from=2026-09-30T09:30:00Z&minutes=480`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DueParams {
    /// The starting instant (RFC 3339; default: now).
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Working minutes to add.
    pub minutes: i64,
}

/// When a number of working minutes after an instant have passed.
pub async fn due(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    PathId(id): PathId,
    ApiQuery(params): ApiQuery<DueParams>,
) -> Result<Json<DueAnswer>, ApiError> {
    let from = params.from.unwrap_or_else(Utc::now);
    Ok(Json(
        calendars::due(&state.app, &caller, id, from, params.minutes).await?,
    ))
}
