//! Settings → business calendars: the list, a form to add or change one
//! (hours per weekday, time zone, holidays and make-up days as text lines),
//! a holiday file import, and a "when is it due?" check against the
//! calendar being edited.

use super::form::FormState;
use super::{
    Fields, PageContext, Shell, caller, failure, field, refused_form, render, then_redirect,
};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDateTime, TimeZone, Utc};
use kefu_app::AppError;
use kefu_app::calendars::{self, CalendarInput, CalendarView, WeekHoursInput};
use kefu_domain::calendar::{WEEKDAYS, weekday_code};

/// A weekday row of the form: its field name and label key.
pub struct WeekdayRow {
    /// `hours.mon`.
    pub field: String,
    /// `calendars.mon`.
    pub label_key: String,
}

/// The "when is it due?" answer shown under the form.
pub struct DueShown {
    /// The start, in the calendar's zone.
    pub from: String,
    /// The due time in the calendar's zone, or none.
    pub due: Option<String>,
    /// Whether the start is in working time.
    pub working: bool,
}

#[derive(Template)]
#[template(path = "settings_calendars.html")]
struct CalendarsPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    calendars: Vec<CalendarView>,
    editing: Option<i64>,
    form: FormState,
    weekdays: Vec<WeekdayRow>,
    import_error: Option<String>,
    due: Option<DueShown>,
}

fn weekday_rows() -> Vec<WeekdayRow> {
    WEEKDAYS
        .iter()
        .map(|d| WeekdayRow {
            field: format!("hours.{}", weekday_code(*d)),
            label_key: format!("calendars.{}", weekday_code(*d)),
        })
        .collect()
}

/// Everything a calendar page shows besides the form.
struct Extras {
    notice: Option<&'static str>,
    import_error: Option<String>,
    due: Option<DueShown>,
}

async fn calendars_page(
    state: &AppState,
    context: &PageContext,
    editing: Option<i64>,
    form: FormState,
    extras: Extras,
    status: StatusCode,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let calendars = match calendars::list_calendars(&state.app, &caller).await {
        Ok(c) => c,
        Err(e) => return failure(context, e),
    };
    let page = CalendarsPage {
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/calendars"),
        notice: extras.notice,
        calendars,
        editing,
        form,
        weekdays: weekday_rows(),
        import_error: extras.import_error,
        due: extras.due,
    };
    (status, render(&page)).into_response()
}

/// The days of a calendar as the form's text lines, `date,kind,name`.
fn days_text(view: &CalendarView) -> String {
    view.days
        .iter()
        .map(|d| format!("{},{},{}", d.date, d.kind, d.name))
        .collect::<Vec<_>>()
        .join("\n")
}

fn form_of(view: &CalendarView) -> FormState {
    let hours = view.calendar.hours.days();
    let mut form = FormState::with_values(&[
        ("version", &view.calendar.version.to_string()),
        ("name", &view.calendar.name),
        ("time_zone", &view.calendar.time_zone),
        ("days_text", &days_text(view)),
    ]);
    for (row, text) in weekday_rows().iter().zip(hours) {
        form.set_value(&row.field, text);
    }
    form
}

/// `GET /settings/calendars`: the calendars and a form to add one.
pub async fn list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = params
        .contains_key("saved")
        .then(|| context.locale.t("calendars.saved"));
    let mut form = FormState::with_values(&[("time_zone", "Asia/Shanghai")]);
    for row in weekday_rows().iter().take(5) {
        form.set_value(&row.field, "09:00-12:00, 13:00-18:00");
    }
    let extras = Extras {
        notice,
        import_error: None,
        due: None,
    };
    calendars_page(&state, &context, None, form, extras, StatusCode::OK).await
}

/// `GET /settings/calendars/{id}`: edit a calendar; with `from` and
/// `minutes`, also show when that much working time after `from` ends.
pub async fn edit(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let view = match calendars::get_calendar(&state.app, &caller, id).await {
        Ok(v) => v,
        Err(e) => return failure(&context, e),
    };
    let mut form = form_of(&view);
    let mut due = None;
    let mut status = StatusCode::OK;
    if params.contains_key("minutes") {
        form.set_value("from", field(&params, "from"));
        form.set_value("minutes", field(&params, "minutes"));
        match due_check(&state, &caller, &view, &params).await {
            Ok(shown) => due = Some(shown),
            Err(e) => match refused_form(&context, form, e) {
                Ok((with_error, refused_status)) => {
                    form = with_error;
                    status = refused_status;
                }
                Err(page) => return *page,
            },
        }
    }
    let notice = params
        .contains_key("saved")
        .then(|| context.locale.t("calendars.saved"));
    let extras = Extras {
        notice,
        import_error: None,
        due,
    };
    calendars_page(&state, &context, Some(id), form, extras, status).await
}

/// Answers the due-time check of the edit page; times are read and shown
/// in the calendar's own zone.
async fn due_check(
    state: &AppState,
    caller: &kefu_app::Caller,
    view: &CalendarView,
    params: &Fields,
) -> Result<DueShown, AppError> {
    let zone = kefu_domain::validate::zone("time_zone", &view.calendar.time_zone)?;
    let from_text = field(params, "from");
    let from = if from_text.is_empty() {
        Utc::now()
    } else {
        NaiveDateTime::parse_from_str(from_text, "%Y-%m-%dT%H:%M")
            .ok()
            .and_then(|naive| zone.from_local_datetime(&naive).earliest())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| {
                AppError::invalid("from", "must be a date and time (2026-09-30T17:30)")
            })?
    };
    let minutes: i64 = field(params, "minutes")
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("minutes", "must be a whole number of minutes"))?;
    let answer = calendars::due(&state.app, caller, view.calendar.id, from, minutes).await?;
    let shown = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %a")
            .to_string()
    };
    Ok(DueShown {
        from: shown(answer.from),
        due: answer.due.map(shown),
        working: answer.working_at_from,
    })
}

fn input_of(fields: &Fields) -> CalendarInput {
    let hour = |day: &str| field(fields, &format!("hours.{day}")).to_owned();
    CalendarInput {
        version: field(fields, "version").parse().ok(),
        name: field(fields, "name").to_owned(),
        time_zone: Some(field(fields, "time_zone").to_owned()),
        hours: WeekHoursInput {
            mon: hour("mon"),
            tue: hour("tue"),
            wed: hour("wed"),
            thu: hour("thu"),
            fri: hour("fri"),
            sat: hour("sat"),
            sun: hour("sun"),
        },
        days: None,
        days_text: Some(field(fields, "days_text").to_owned()),
    }
}

/// `POST /settings/calendars`: adds a calendar.
pub async fn create(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    save_step(&state, &context, None, &fields).await
}

/// `POST /settings/calendars/{id}`: saves a calendar.
pub async fn save(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    save_step(&state, &context, Some(id), &fields).await
}

async fn save_step(
    state: &AppState,
    context: &PageContext,
    id: Option<i64>,
    fields: &Fields,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let input = input_of(fields);
    let result = match id {
        None => calendars::create_calendar(&state.app, &caller, input).await,
        Some(id) => calendars::update_calendar(&state.app, &caller, id, input).await,
    };
    match result {
        Ok(saved) => Redirect::to(&format!(
            "/settings/calendars/{}?saved=1",
            saved.calendar.id
        ))
        .into_response(),
        Err(error) => match refused_form(context, FormState::from_submitted(fields), error) {
            Ok((form, status)) => {
                let extras = Extras {
                    notice: None,
                    import_error: None,
                    due: None,
                };
                calendars_page(state, context, id, form, extras, status).await
            }
            Err(page) => *page,
        },
    }
}

/// `POST /settings/calendars/{id}/import` (multipart: `file`, `version`,
/// `replace`): adds the days of an iCalendar or CSV file.
pub async fn import(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let mut text = None;
    let mut version = None;
    let mut replace = false;
    loop {
        match multipart.next_field().await {
            Ok(Some(part)) => match part.name() {
                Some("file") => {
                    text = part
                        .bytes()
                        .await
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                }
                Some("version") => version = part.text().await.ok().and_then(|v| v.parse().ok()),
                Some("replace") => replace = true,
                _ => {}
            },
            Ok(None) => break,
            Err(e) => {
                let reason = context
                    .locale
                    .tf("import.unreadable", &[("reason", &e.body_text())]);
                return import_refused(&state, &context, &caller, id, reason).await;
            }
        }
    }
    let (Some(text), Some(version)) = (text.filter(|t| !t.trim().is_empty()), version) else {
        let reason = context.locale.t("import.choose_file").to_owned();
        return import_refused(&state, &context, &caller, id, reason).await;
    };
    match calendars::import_days(&state.app, &caller, id, version, &text, replace).await {
        Ok(_) => Redirect::to(&format!("/settings/calendars/{id}?saved=1")).into_response(),
        Err(AppError::Validation { reason, .. }) => {
            let reason = context.locale.reason(&reason);
            import_refused(&state, &context, &caller, id, reason).await
        }
        Err(AppError::Conflict { .. }) => {
            let reason = context.locale.t("errors.conflict").to_owned();
            import_refused(&state, &context, &caller, id, reason).await
        }
        Err(e) => failure(&context, e),
    }
}

async fn import_refused(
    state: &AppState,
    context: &PageContext,
    caller: &kefu_app::Caller,
    id: i64,
    reason: String,
) -> Response {
    let view = match calendars::get_calendar(&state.app, caller, id).await {
        Ok(v) => v,
        Err(e) => return failure(context, e),
    };
    let extras = Extras {
        notice: None,
        import_error: Some(reason),
        due: None,
    };
    calendars_page(
        state,
        context,
        Some(id),
        form_of(&view),
        extras,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// `POST /settings/calendars/{id}/delete`: deletes a calendar.
pub async fn delete(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(
        &context,
        "/settings/calendars?saved=1",
        |caller| async move { calendars::delete_calendar(&state.app, &caller, id).await },
    )
    .await
}
