//! Business calendars (工作日历): weekly working hours in a time zone and
//! dated holidays and make-up working days, as the admin saved them.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Working hours per weekday, each written `09:00-12:00, 13:00-18:00`
/// (empty: a day off).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct WeekHours {
    /// Monday.
    pub mon: String,
    /// Tuesday.
    pub tue: String,
    /// Wednesday.
    pub wed: String,
    /// Thursday.
    pub thu: String,
    /// Friday.
    pub fri: String,
    /// Saturday.
    pub sat: String,
    /// Sunday.
    pub sun: String,
}

impl WeekHours {
    /// The seven days' hours, Monday first.
    pub fn days(&self) -> [&str; 7] {
        [
            &self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun,
        ]
    }

    /// Hours from seven texts, Monday first.
    pub fn from_days(days: [String; 7]) -> Self {
        let [mon, tue, wed, thu, fri, sat, sun] = days;
        WeekHours {
            mon,
            tue,
            wed,
            thu,
            fri,
            sat,
            sun,
        }
    }
}

/// A stored calendar, without its dated days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct BusinessCalendar {
    /// Id.
    pub id: i64,
    /// Name (unique).
    pub name: String,
    /// IANA time zone the hours are in.
    pub time_zone: String,
    /// Working hours per weekday.
    #[sqlx(flatten)]
    pub hours: WeekHours,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// One holiday or make-up working day of a calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct CalendarDay {
    /// The local date.
    #[sqlx(rename = "day")]
    pub date: NaiveDate,
    /// `holiday` or `workday`.
    pub kind: String,
    /// What the day is (国庆节).
    pub name: String,
}

/// A calendar's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFields {
    /// Name.
    pub name: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Hours per weekday, normalised.
    pub hours: WeekHours,
}

const COLUMNS: &str =
    "id, name, time_zone, mon, tue, wed, thu, fri, sat, sun, version, created_at, updated_at";

/// Adds a calendar; `Duplicate("name")` when the name is taken.
pub async fn insert(
    conn: &mut Conn<'_>,
    f: &CalendarFields,
) -> Result<BusinessCalendar, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO business_calendars (name, time_zone, mon, tue, wed, thu, fri, sat, sun, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) RETURNING {COLUMNS}"
    );
    let [mon, tue, wed, thu, fri, sat, sun] = f.hours.days();
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(&f.time_zone)
        .bind(mon)
        .bind(tue)
        .bind(wed)
        .bind(thu)
        .bind(fri)
        .bind(sat)
        .bind(sun)
        .bind(now)
        .fetch_one(c)
        .await?))
}

/// Saves a calendar if it is still at `expected_version`; its days are
/// written separately with [`replace_days`] in the same transaction.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &CalendarFields,
) -> Result<BusinessCalendar, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE business_calendars SET name = $1, time_zone = $2, mon = $3, tue = $4, wed = $5, thu = $6, \
         fri = $7, sat = $8, sun = $9, version = version + 1, updated_at = $10 \
         WHERE id = $11 AND version = $12 RETURNING {COLUMNS}"
    );
    let [mon, tue, wed, thu, fri, sat, sun] = f.hours.days();
    let row: Option<BusinessCalendar> = on_conn!(&mut *conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(&f.time_zone)
            .bind(mon)
            .bind(tue)
            .bind(wed)
            .bind(thu)
            .bind(fri)
            .bind(sat)
            .bind(sun)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await?
    });
    match row {
        Some(calendar) => Ok(calendar),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// One calendar.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<BusinessCalendar, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM business_calendars WHERE id = $1");
    let row: Option<BusinessCalendar> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)
}

/// Every calendar, by name.
pub async fn all(conn: &mut Conn<'_>) -> Result<Vec<BusinessCalendar>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM business_calendars ORDER BY name, id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}

/// A calendar's holidays and make-up days, by date.
pub async fn days(conn: &mut Conn<'_>, id: i64) -> Result<Vec<CalendarDay>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT day, kind, name FROM calendar_days WHERE calendar_id = $1 ORDER BY day"
    )
    .bind(id)
    .fetch_all(c)
    .await?))
}

/// Replaces a calendar's dated days with `days`.
pub async fn replace_days(
    conn: &mut Conn<'_>,
    id: i64,
    days: &[CalendarDay],
) -> Result<(), StoreError> {
    on_conn!(&mut *conn, |c| {
        sqlx::query("DELETE FROM calendar_days WHERE calendar_id = $1")
            .bind(id)
            .execute(c)
            .await?;
    });
    for chunk in days.chunks(200) {
        let values = crate::customers::value_rows(chunk.len(), 4);
        let sql =
            format!("INSERT INTO calendar_days (calendar_id, day, kind, name) VALUES {values}");
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for day in chunk {
                query = query
                    .bind(id)
                    .bind(day.date)
                    .bind(&day.kind)
                    .bind(&day.name);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// Deletes a calendar and its days.
pub async fn delete(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let deleted = on_conn!(conn, |c| {
        sqlx::query("DELETE FROM business_calendars WHERE id = $1")
            .bind(id)
            .execute(c)
            .await?
            .rows_affected()
    });
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
