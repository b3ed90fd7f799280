//! Failed sign-in counts per email address.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use kefu_domain::signin::ThrottleState;

#[derive(sqlx::FromRow)]
struct Row {
    failures: i64,
    window_started_at: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

/// The recorded failures for `key`, if any.
pub async fn get(conn: &mut Conn<'_>, key: &str) -> Result<Option<ThrottleState>, StoreError> {
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(
        "SELECT failures, window_started_at, locked_until FROM login_throttle WHERE key = $1"
    )
    .bind(key)
    .fetch_optional(c)
    .await?);
    Ok(row.map(|r| ThrottleState {
        failures: r.failures,
        window_started_at: r.window_started_at,
        locked_until: r.locked_until,
    }))
}

/// Saves the state for `key`.
pub async fn put(conn: &mut Conn<'_>, key: &str, state: &ThrottleState) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, window_started_at, locked_until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
             window_started_at = excluded.window_started_at, locked_until = excluded.locked_until",
        )
        .bind(key)
        .bind(state.failures)
        .bind(state.window_started_at)
        .bind(state.locked_until)
        .execute(c)
        .await?;
        Ok(())
    })
}

/// Forgets the failures for `key` (after a successful sign-in).
pub async fn clear(conn: &mut Conn<'_>, key: &str) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(c)
            .await?;
        Ok(())
    })
}
