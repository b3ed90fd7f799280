//! The job worker: runs what the durable job table holds (webhook
//! deliveries, outgoing mail; surveys later) on every instance.
//!
//! Each pass claims the jobs that are due with a lease, runs them side by
//! side outside any transaction, and records each outcome — done, again
//! after a backoff, or failed — only while it still holds the lease. A
//! worker that dies mid-job loses nothing: its lease runs out and any
//! instance runs the job again (at least once; handlers are idempotent).

use crate::webhooks::{self, Outcome};
use crate::{App, AppError};
use chrono::{DateTime, Utc};
use kefu_store::jobs::{self, Job};
use std::time::Duration;

/// Jobs one pass claims at most.
pub const BATCH: i64 = 16;

/// How long a claim holds: well beyond the slowest handler (a webhook's
/// time limit), so a live worker never loses a job it is running.
pub const LEASE: Duration = Duration::from_secs(120);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Jobs claimed.
    pub claimed: usize,
    /// Of those, done.
    pub done: usize,
    /// Put back for another try.
    pub retried: usize,
    /// Given up.
    pub failed: usize,
}

/// Claims the jobs due at `now` as `worker` and runs them; answers once
/// all have ended.
pub async fn run_due(app: &App, worker: &str, now: DateTime<Utc>) -> Result<PassReport, AppError> {
    let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let claimed = {
        let mut tx = app.store.write().await?;
        let claimed = jobs::claim(&mut tx.conn(), worker, now, lease_until, BATCH).await?;
        tx.commit().await?;
        claimed
    };
    let mut report = PassReport {
        claimed: claimed.len(),
        ..PassReport::default()
    };
    let mut running = tokio::task::JoinSet::new();
    for job in claimed {
        let app = app.clone();
        running.spawn(async move {
            let outcome = run_one(&app, &job).await;
            (job, outcome)
        });
    }
    while let Some(joined) = running.join_next().await {
        let Ok((job, outcome)) = joined else {
            // A handler that panicked keeps its lease; the job runs again after it.
            continue;
        };
        let outcome = outcome.unwrap_or_else(|error| {
            // The database failed under the handler: try again soon.
            Outcome::Retry(error.to_string(), 30)
        });
        let mut tx = app.store.write().await?;
        match &outcome {
            Outcome::Done => {
                jobs::finish(&mut tx.conn(), job.id, worker).await?;
                report.done += 1;
            }
            Outcome::Retry(error, after) if job.attempts < job.max_attempts => {
                let at = Utc::now() + chrono::Duration::seconds(*after);
                jobs::retry(&mut tx.conn(), job.id, worker, error, at).await?;
                report.retried += 1;
            }
            Outcome::Retry(error, _) | Outcome::Failed(error) => {
                jobs::fail(&mut tx.conn(), job.id, worker, error).await?;
                report.failed += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(report)
}

async fn run_one(app: &App, job: &Job) -> Result<Outcome, AppError> {
    match job.kind.as_str() {
        webhooks::DELIVER => webhooks::deliver(app, job).await,
        crate::mail_out::SEND => crate::mail_out::send(app, job).await,
        other => Ok(Outcome::Failed(format!(
            "no handler for jobs of kind {other}"
        ))),
    }
}

/// A name for this process's worker, unique among instances.
pub fn worker_name() -> String {
    let tag: u32 = rand::random();
    format!("{}-{:08x}", std::process::id(), tag)
}

/// Runs passes every second until the app closes (at once again after a
/// full batch).
pub fn start(app: &App) -> tokio::task::JoinHandle<()> {
    let worker = worker_name();
    crate::background::every_second(app, "background jobs", move |app| {
        let worker = worker.clone();
        async move {
            let report = run_due(&app, &worker, Utc::now()).await?;
            Ok(report.claimed >= usize::try_from(BATCH).unwrap_or(16))
        }
    })
}
