//! Helpers for the crate's own tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_store::{DatabaseLocation, Store, StoreOptions};

/// A new, migrated SQLite database in the temporary directory, its file
/// named after `what`.
pub(crate) async fn fresh_store(what: &str) -> (Store, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "kefu-{what}-{}-{}.db",
        std::process::id(),
        kefu_store::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let store = Store::open(
        &DatabaseLocation::SqliteFile(path.clone()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    (store, path)
}
