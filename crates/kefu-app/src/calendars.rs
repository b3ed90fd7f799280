//! Business calendars (工作日历): the working hours, holidays and make-up
//! working days SLA targets are counted on, as admins and managers keep
//! them; and the question an admin asks of one — "when is N working hours
//! after this moment?"
//!
//! A save is all or nothing: hours, zone and the list of days are checked
//! first (the bad weekday or file line named), then written together with
//! their audit record, so a refused save leaves the old calendar in force.

use crate::audit::record_change;
use crate::{App, AppError, Caller};
use chrono::{DateTime, Duration, Utc};
use kefu_domain::Permission;
use kefu_domain::audit::Action;
use kefu_domain::calendar::{self as rules, Calendar, DayKind, SpecialDay, WEEKDAYS};
use kefu_domain::validate;
use kefu_store::Conn;
use kefu_store::calendars::{self, BusinessCalendar, CalendarDay, CalendarFields, WeekHours};
use serde::{Deserialize, Serialize};

/// A calendar with its holidays and make-up working days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CalendarView {
    /// The calendar.
    #[serde(flatten)]
    pub calendar: BusinessCalendar,
    /// Its dated days, by date.
    pub days: Vec<CalendarDay>,
}

/// Working hours per weekday as typed: `09:00-12:00, 13:00-18:00`, empty
/// for a day off.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeekHoursInput {
    /// Monday.
    #[serde(default)]
    pub mon: String,
    /// Tuesday.
    #[serde(default)]
    pub tue: String,
    /// Wednesday.
    #[serde(default)]
    pub wed: String,
    /// Thursday.
    #[serde(default)]
    pub thu: String,
    /// Friday.
    #[serde(default)]
    pub fri: String,
    /// Saturday.
    #[serde(default)]
    pub sat: String,
    /// Sunday.
    #[serde(default)]
    pub sun: String,
}

impl WeekHoursInput {
    fn days(&self) -> [&str; 7] {
        [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ]
    }
}

/// One holiday or make-up working day as typed.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DayInput {
    /// The date, `2026-10-01`.
    pub date: String,
    /// `holiday` (default) or `makeup_workday`.
    #[serde(default)]
    pub kind: Option<String>,
    /// What the day is.
    #[serde(default)]
    pub name: String,
}

/// Input to add or change a calendar.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarInput {
    /// The version read (changes only).
    #[serde(default)]
    pub version: Option<i64>,
    /// Name.
    pub name: String,
    /// IANA time zone (default: the company's).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Working hours per weekday.
    #[serde(default)]
    pub hours: WeekHoursInput,
    /// Holidays and make-up working days; on a change, absent keeps the
    /// stored ones and a list replaces them.
    #[serde(default)]
    pub days: Option<Vec<DayInput>>,
    /// The same as a text: CSV lines `date,kind,name` or an iCalendar file;
    /// used instead of `days` by forms and file imports.
    #[serde(default)]
    pub days_text: Option<String>,
}

/// The answer to "when is `minutes` of working time after `from`?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DueAnswer {
    /// The starting instant.
    pub from: DateTime<Utc>,
    /// Working minutes added.
    pub minutes: i64,
    /// When they have passed; absent when the calendar has no working
    /// time in the next five years.
    pub due: Option<DateTime<Utc>>,
    /// Whether `from` itself is in working time.
    pub working_at_from: bool,
}

/// The most working minutes one question may add: a year of round-the-clock time.
pub const MAX_DUE_MINUTES: i64 = 366 * 24 * 60;

fn checked_fields(input: &CalendarInput, company_zone: &str) -> Result<CalendarFields, AppError> {
    let name = validate::name("name", &input.name, 80)?;
    let time_zone = match input.time_zone.as_deref().map(str::trim) {
        Some(zone) if !zone.is_empty() => validate::time_zone("time_zone", zone)?,
        _ => company_zone.to_owned(),
    };
    let mut days: [String; 7] = Default::default();
    for ((slot, text), weekday) in days.iter_mut().zip(input.hours.days()).zip(WEEKDAYS) {
        let field = format!("hours.{}", rules::weekday_code(weekday));
        *slot = rules::format_hours(&rules::parse_hours(&field, text)?);
    }
    Ok(CalendarFields {
        name,
        time_zone,
        hours: WeekHours::from_days(days),
    })
}

/// The dated days of an input, checked; `None` when it leaves them as they are.
fn checked_days(input: &CalendarInput) -> Result<Option<Vec<CalendarDay>>, AppError> {
    let special = if let Some(text) = &input.days_text {
        rules::parse_special_days(text)?
    } else if let Some(days) = &input.days {
        let mut special = Vec::with_capacity(days.len());
        for (index, day) in days.iter().enumerate() {
            let date = rules::parse_date(&day.date).ok_or_else(|| {
                AppError::invalid(
                    format!("days[{index}].date"),
                    format!("“{}” is not a date (2026-10-01)", day.date),
                )
            })?;
            let kind = match day.kind.as_deref() {
                Some(kind) => DayKind::parse_field(&format!("days[{index}].kind"), kind)?,
                None => DayKind::Holiday,
            };
            special.push(SpecialDay {
                date,
                kind,
                name: day_name(&format!("days[{index}].name"), &day.name)?,
            });
        }
        let mut dates: Vec<_> = special.iter().map(|d| d.date).collect();
        dates.sort();
        if let Some(twice) = dates.windows(2).find(|w| w[0] == w[1]) {
            return Err(AppError::invalid(
                "days",
                format!("{} is listed twice", twice[0]),
            ));
        }
        special
    } else {
        return Ok(None);
    };
    let mut days: Vec<CalendarDay> = special
        .into_iter()
        .map(|d| CalendarDay {
            date: d.date,
            kind: d.kind.as_str().to_owned(),
            name: d.name.chars().take(80).collect(),
        })
        .collect();
    days.sort_by_key(|d| d.date);
    Ok(Some(days))
}

/// A day's name: optional, at most 80 characters.
fn day_name(field: &str, text: &str) -> Result<String, AppError> {
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    Ok(validate::name(field, text, 80)?)
}

async fn view(conn: &mut Conn<'_>, id: i64) -> Result<CalendarView, AppError> {
    let calendar = calendars::get(conn, id).await?;
    let days = calendars::days(conn, id).await?;
    Ok(CalendarView { calendar, days })
}

/// Every calendar with its days (anyone who may read the settings).
pub async fn list_calendars(app: &App, caller: &Caller) -> Result<Vec<CalendarView>, AppError> {
    caller.require(Permission::ViewSettings)?;
    let mut reader = app.store.read().await?;
    let mut conn = reader.conn();
    let mut out = Vec::new();
    for calendar in calendars::all(&mut conn).await? {
        let days = calendars::days(&mut conn, calendar.id).await?;
        out.push(CalendarView { calendar, days });
    }
    Ok(out)
}

/// One calendar with its days.
pub async fn get_calendar(app: &App, caller: &Caller, id: i64) -> Result<CalendarView, AppError> {
    caller.require(Permission::ViewSettings)?;
    let mut reader = app.store.read().await?;
    view(&mut reader.conn(), id).await
}

async fn company_zone(conn: &mut Conn<'_>) -> Result<String, AppError> {
    Ok(kefu_store::company::get(conn)
        .await?
        .map(|c| c.time_zone)
        .unwrap_or_else(|| "Asia/Shanghai".to_owned()))
}

/// Adds a calendar (admins and managers).
pub async fn create_calendar(
    app: &App,
    caller: &Caller,
    input: CalendarInput,
) -> Result<CalendarView, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let days = checked_days(&input)?.unwrap_or_default();
    let mut tx = app.store.write().await?;
    let zone = company_zone(&mut tx.conn()).await?;
    let fields = checked_fields(&input, &zone)?;
    let created = calendars::insert(&mut tx.conn(), &fields).await?;
    calendars::replace_days(&mut tx.conn(), created.id, &days).await?;
    let after = view(&mut tx.conn(), created.id).await?;
    record_change(
        &mut tx,
        caller,
        "calendar",
        created.id,
        Action::Create,
        &(),
        &after,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Changes a calendar (optimistic locking): its fields, and its days when
/// the input carries them.
pub async fn update_calendar(
    app: &App,
    caller: &Caller,
    id: i64,
    input: CalendarInput,
) -> Result<CalendarView, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must be the version you read"))?;
    let days = checked_days(&input)?;
    let mut tx = app.store.write().await?;
    let before = view(&mut tx.conn(), id).await?;
    let zone = company_zone(&mut tx.conn()).await?;
    let fields = checked_fields(&input, &zone)?;
    calendars::update(&mut tx.conn(), id, version, &fields).await?;
    if let Some(days) = &days {
        calendars::replace_days(&mut tx.conn(), id, days).await?;
    }
    let after = view(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "calendar",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    // Open tickets on this calendar's policies get their due times anew.
    crate::sla::refresh_open(&mut tx, Utc::now()).await?;
    tx.commit().await?;
    Ok(after)
}

/// Adds the holidays and make-up days of a file (iCalendar or CSV) to a
/// calendar; a date already listed takes the file's kind and name. With
/// `replace`, the file's days are the calendar's only days. The calendar
/// must still be at `version`.
pub async fn import_days(
    app: &App,
    caller: &Caller,
    id: i64,
    version: i64,
    text: &str,
    replace: bool,
) -> Result<CalendarView, AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let imported = checked_days(&CalendarInput {
        days_text: Some(text.to_owned()),
        ..CalendarInput::default()
    })?
    .unwrap_or_default();
    if imported.is_empty() {
        return Err(AppError::invalid(
            "days",
            "the file lists no dates (CSV lines date,kind,name or an iCalendar file of all-day events)",
        ));
    }
    let mut tx = app.store.write().await?;
    let before = view(&mut tx.conn(), id).await?;
    let mut days = if replace {
        Vec::new()
    } else {
        before.days.clone()
    };
    days.retain(|d| !imported.iter().any(|i| i.date == d.date));
    days.extend(imported);
    days.sort_by_key(|d| d.date);
    let fields = CalendarFields {
        name: before.calendar.name.clone(),
        time_zone: before.calendar.time_zone.clone(),
        hours: before.calendar.hours.clone(),
    };
    // The version bump makes a concurrent editor's save a conflict.
    calendars::update(&mut tx.conn(), id, version, &fields).await?;
    calendars::replace_days(&mut tx.conn(), id, &days).await?;
    let after = view(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "calendar",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    // Open tickets on this calendar's policies get their due times anew.
    crate::sla::refresh_open(&mut tx, Utc::now()).await?;
    tx.commit().await?;
    Ok(after)
}

/// Deletes a calendar (audited).
pub async fn delete_calendar(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageServiceStandards)?;
    let mut tx = app.store.write().await?;
    let before = view(&mut tx.conn(), id).await?;
    let users = kefu_store::sla::using_calendar(&mut tx.conn(), id).await?;
    if !users.is_empty() {
        return Err(AppError::invalid(
            "id",
            format!("the calendar is used by SLA policies: {}", users.join(", ")),
        ));
    }
    calendars::delete(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "calendar",
        id,
        Action::Delete,
        &before,
        &(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The stored calendar as one the rules can count on.
pub fn to_rules(view: &CalendarView) -> Result<Calendar, AppError> {
    let zone = validate::zone("time_zone", &view.calendar.time_zone)?;
    let mut week: [Vec<rules::Span>; 7] = Default::default();
    for (slot, text) in week.iter_mut().zip(view.calendar.hours.days()) {
        *slot = rules::parse_hours("hours", text)?;
    }
    let mut special = Vec::with_capacity(view.days.len());
    for day in &view.days {
        special.push(SpecialDay {
            date: day.date,
            kind: DayKind::parse_field("kind", &day.kind)?,
            name: day.name.clone(),
        });
    }
    Ok(Calendar::new(zone, week, &special))
}

/// When `minutes` of working time after `from` have passed on a calendar.
pub async fn due(
    app: &App,
    caller: &Caller,
    id: i64,
    from: DateTime<Utc>,
    minutes: i64,
) -> Result<DueAnswer, AppError> {
    if !(0..=MAX_DUE_MINUTES).contains(&minutes) {
        return Err(AppError::invalid(
            "minutes",
            format!("must be between 0 and {MAX_DUE_MINUTES}"),
        ));
    }
    let calendar = to_rules(&get_calendar(app, caller, id).await?)?;
    Ok(DueAnswer {
        from,
        minutes,
        due: calendar.add(from, Duration::minutes(minutes)),
        working_at_from: calendar.is_working(from),
    })
}
