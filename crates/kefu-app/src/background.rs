//! The loop every background worker of `kefu serve` runs: a pass every
//! second, at once again after a full pass, until the app closes (checked
//! between passes too, so a backlog never delays a shutdown); a failed
//! pass is logged and tried again on the next tick, a slow one is logged.

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
                    // More waits, unless the app is closing: a backlog
                    // (alarms after a policy change touched every open
                    // ticket) must not hold up a shutdown.
                    Ok(true) if *closing.borrow() => return,
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_worker_with_endless_work_still_stops_when_the_app_closes() {
        let (store, path) = crate::test_support::fresh_store("background").await;
        let files = std::env::temp_dir().join(format!("kefu-background-{}", std::process::id()));
        let app = App::start(
            store,
            crate::attachments::AttachmentSettings::on_disk(files, 1),
        )
        .await
        .unwrap();
        let passes = Arc::new(AtomicUsize::new(0));
        let counted = passes.clone();
        // Every pass says more work waits, as a worker behind a backlog would.
        let worker = every_second(&app, "test", move |_| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                Ok(true)
            }
        });
        while passes.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        app.events.close();
        tokio::time::timeout(Duration::from_secs(5), worker)
            .await
            .expect("the worker did not stop after the close")
            .unwrap();
        app.store.close().await;
        let _ = std::fs::remove_file(path);
    }
}
