//! Configuration read on every write (SLA policies with their calendars,
//! automation rules, webhooks), kept in memory between transactions.
//!
//! A transaction reads only the store's configuration stamp, which
//! triggers change with every change to those tables, and takes the kept
//! value when it was read under the same stamp. A ticket created or
//! changed thus costs one small read instead of one per table, and the
//! calendars keep the working intervals they worked out for each date.

use crate::AppError;
use kefu_store::{Conn, Tx};
use std::future::Future;
use std::sync::Arc;

/// Configuration that can be kept between transactions.
pub(crate) trait Cached: Sized + Send + Sync + 'static {
    /// Reads it from the database.
    fn load(conn: &mut Conn<'_>) -> impl Future<Output = Result<Self, AppError>> + Send;
}

/// `T` as `tx` sees it: the kept value when the configuration has not
/// changed since it was read, else read now (and kept).
pub(crate) async fn cached<T: Cached>(tx: &mut Tx) -> Result<Arc<T>, AppError> {
    // The stamp first: a value is never kept under a stamp newer than
    // what it was read from.
    let stamp = tx.config_stamp().await?;
    if let Some(kept) = tx.cached::<T>(stamp) {
        return Ok(kept);
    }
    let value = Arc::new(T::load(&mut tx.conn()).await?);
    tx.keep(stamp, value.clone());
    Ok(value)
}
