//! The durable job table: background work queued inside the transaction
//! that causes it, claimed by any instance's worker with a lease, retried
//! with backoff, kept after it ends as a log.
//!
//! A job is `queued` until it ends `done` or `failed`. A worker claims due
//! jobs by setting `locked_by` and a lease (`locked_until`) and counting
//! the attempt, in its own short transaction; then runs them outside any
//! transaction; then records the outcome only if it still holds the lease.
//! A worker that dies leaves its lease to run out, and another instance
//! takes the job again: delivery is at least once, so handlers are
//! idempotent. On PostgreSQL claiming skips rows another instance is
//! claiming at the same moment (`FOR UPDATE SKIP LOCKED`); on SQLite the
//! single writer serialises claims.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// What to do (`webhook.deliver` …).
    pub kind: String,
    /// The handler's input, JSON.
    pub payload: String,
    /// `queued`, `done` or `failed`.
    pub state: String,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Attempts started.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// The worker holding it.
    pub locked_by: Option<String>,
    /// Until when that worker's claim holds.
    pub locked_until: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: String,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, kind, payload, state, run_at, attempts, max_attempts, locked_by, locked_until, \
     last_error, created_at, finished_at";

/// Queues a job to run at `run_at`; answers its id.
pub async fn enqueue(
    conn: &mut Conn<'_>,
    kind: &str,
    payload: &str,
    run_at: DateTime<Utc>,
    max_attempts: i64,
) -> Result<i64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, state, run_at, max_attempts, created_at) \
         VALUES ($1, $2, 'queued', $3, $4, $5) RETURNING id"
    )
    .bind(kind)
    .bind(payload)
    .bind(run_at)
    .bind(max_attempts)
    .bind(now)
    .fetch_one(c)
    .await?))
}

/// Claims up to `limit` jobs due at `now` for `worker` until `lease_until`,
/// counting an attempt on each; soonest first.
pub async fn claim(
    conn: &mut Conn<'_>,
    worker: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Job>, StoreError> {
    let lock = match conn {
        Conn::Sqlite(_) => "",
        Conn::Postgres(_) => " FOR UPDATE SKIP LOCKED",
    };
    let sql = format!(
        "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1 WHERE id IN (\
         SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $3 \
         AND (locked_until IS NULL OR locked_until <= $3) ORDER BY run_at, id LIMIT $4{lock}) \
         RETURNING {COLUMNS}"
    );
    let mut jobs: Vec<Job> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(worker)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(c)
        .await?);
    jobs.sort_by_key(|j| (j.run_at, j.id));
    Ok(jobs)
}

/// Ends a job well, if `worker` still holds it; answers whether it did.
pub async fn finish(conn: &mut Conn<'_>, id: i64, worker: &str) -> Result<bool, StoreError> {
    settle(conn, id, worker, "done", "", None).await
}

/// Puts a job back for another attempt at `run_at`, with the error.
pub async fn retry(
    conn: &mut Conn<'_>,
    id: i64,
    worker: &str,
    error: &str,
    run_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    settle(conn, id, worker, "queued", error, Some(run_at)).await
}

/// Ends a job that will not be tried again.
pub async fn fail(
    conn: &mut Conn<'_>,
    id: i64,
    worker: &str,
    error: &str,
) -> Result<bool, StoreError> {
    settle(conn, id, worker, "failed", error, None).await
}

async fn settle(
    conn: &mut Conn<'_>,
    id: i64,
    worker: &str,
    state: &str,
    error: &str,
    run_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    let now = crate::now();
    let finished = (state != "queued").then_some(now);
    let changed = on_conn!(conn, |c| {
        sqlx::query(
        "UPDATE jobs SET state = $1, last_error = $2, run_at = COALESCE($3, run_at), finished_at = $4, \
         locked_by = NULL, locked_until = NULL WHERE id = $5 AND locked_by = $6 AND state = 'queued'"
    )
    .bind(state)
    .bind(error)
    .bind(run_at)
    .bind(finished)
    .bind(id)
    .bind(worker)
    .execute(c)
    .await?
    .rows_affected()
    });
    Ok(changed == 1)
}

/// One job.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Job, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
    let row: Option<Job> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// How many jobs are queued, and the oldest due time among them (for
/// `/metrics` and the settings page).
pub async fn backlog(conn: &mut Conn<'_>) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT count(*), min(run_at) FROM jobs WHERE state = 'queued'"
    )
    .fetch_one(c)
    .await?))
}
