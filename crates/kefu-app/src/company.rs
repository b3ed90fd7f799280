//! The company settings.

use crate::{App, AppError, Caller};
use kefu_domain::Permission;
use kefu_store::company::{self, Company};

/// The company settings; `NotFound` until set up (by the demo or setup).
pub async fn get(app: &App, caller: &Caller) -> Result<Company, AppError> {
    caller.require(Permission::ViewSettings)?;
    let mut reader = app.store.read().await?;
    company::get(&mut reader.conn())
        .await?
        .ok_or(AppError::NotFound)
}
