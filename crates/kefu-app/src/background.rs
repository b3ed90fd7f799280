//! The loop every background worker of `kefu serve` runs: a pass every
//! second, at once again after a full pass, until the app closes; a failed
//! pass is logged and tried again on the next tick.

use crate::{App, AppError};
use std::future::Future;
use std::time::Duration;

/// A pass taking longer than this is logged as slow.
const SLOW_PASS: Duration = Duration::from_millis(250);

/// Spawns `pass` on a one-second tick. `pass` answers whether it was full
/// (more work waits, so the next pass runs without waiting).
pub(crate) fn every_second<F, Fut>(
    app: &App,
    what: &'static str,
    pass: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(App) -> Fut + Send + 'static,
    Fut: Future<Output = Result<bool, AppError>> + Send,
{
    let app = app.clone();
    let mut closing = app.events.closing();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closing.changed() => return,
            }
            loop {
                let started = std::time::Instant::now();
                let outcome = pass(app.clone()).await;
                // A pass holds the database's writer on SQLite; a long one
                // stalls every write of the floor, so say so.
                let took = started.elapsed();
                if took >= SLOW_PASS {
                    tracing::warn!(took_ms = took.as_millis() as u64, "{what}: a slow pass");
                }
                match outcome {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        tracing::warn!(%error, "{what}: a pass failed; retrying");
                        break;
                    }
                }
            }
        }
    })
}
