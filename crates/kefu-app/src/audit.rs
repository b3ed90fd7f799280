//! Reading the audit log: one record's history, or a search of everything.

use crate::page::{Page, PageRequest};
use crate::{App, AppError, Caller};
use chrono::{DateTime, Utc};
use kefu_domain::Permission;
use kefu_store::audit::{self, Filter, Record};
use serde::Deserialize;

/// Search parameters as the API and the page receive them.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Record kind (`team`, `agent`, `api_token`, `session`…).
    pub entity: Option<String>,
    /// Record id.
    pub entity_id: Option<i64>,
    /// Actor as `kind:ref`, e.g. `agent:2` or `system:demo`.
    pub actor: Option<String>,
    /// `create`, `update`, `delete` or `read`.
    pub action: Option<String>,
    /// RFC 3339 instant: at or after.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339 instant: before.
    pub until: Option<DateTime<Utc>>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

const ACTOR_KINDS: [&str; 4] = ["agent", "api_token", "customer", "system"];
const ACTIONS: [&str; 4] = ["create", "update", "delete", "read"];

/// Searches the whole audit log, newest first (admins and managers).
pub async fn search(
    app: &App,
    caller: &Caller,
    query: &AuditQuery,
) -> Result<Page<Record>, AppError> {
    caller.require(Permission::ViewAuditLog)?;
    let page = PageRequest::parse(query.cursor.as_deref(), query.limit)?;
    let blank = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (actor_kind, actor_ref) = match blank(&query.actor) {
        None => (None, None),
        Some(text) => {
            let (kind, reference) = text.split_once(':').unwrap_or((text.as_str(), ""));
            if !ACTOR_KINDS.contains(&kind) {
                return Err(AppError::invalid(
                    "actor",
                    "must look like agent:2, api_token:1, customer:7 or system:demo",
                ));
            }
            (
                Some(kind.to_owned()),
                Some(reference.to_owned()).filter(|r| !r.is_empty()),
            )
        }
    };
    let action = blank(&query.action);
    if let Some(a) = &action
        && !ACTIONS.contains(&a.as_str())
    {
        return Err(AppError::invalid(
            "action",
            "must be one of: create, update, delete, read",
        ));
    }
    let filter = Filter {
        entity: blank(&query.entity),
        entity_id: query.entity_id,
        actor_kind,
        actor_ref,
        action,
        from: query.from,
        until: query.until,
    };
    let mut reader = app.store.read().await?;
    let before = if page.after == 0 { 0 } else { page.after };
    let rows = audit::search(&mut reader.conn(), &filter, before, page.fetch_limit()).await?;
    Ok(Page::from_rows(rows, page, |r| r.id))
}

/// Bookkeeping fields left out of every change record.
pub(crate) const BOOKKEEPING: [&str; 3] = ["version", "created_at", "updated_at"];

/// Writes the audit record of a change to `entity` `entity_id` by `caller`
/// inside `tx`: each field of `old` and `new` (snapshots of the record,
/// `()` for none) that differs.
pub(crate) async fn record_change(
    tx: &mut kefu_store::Tx,
    caller: &Caller,
    entity: &str,
    entity_id: i64,
    action: kefu_domain::audit::Action,
    old: &impl serde::Serialize,
    new: &impl serde::Serialize,
) -> Result<(), AppError> {
    let old = serde_json::to_value(old).map_err(|e| AppError::Internal(e.to_string()))?;
    let new = serde_json::to_value(new).map_err(|e| AppError::Internal(e.to_string()))?;
    let changes = if old.is_null() {
        kefu_domain::audit::creation(&new, &BOOKKEEPING)
    } else {
        kefu_domain::audit::diff(&old, &new, &BOOKKEEPING)
    };
    audit::append(
        &mut tx.conn(),
        &audit::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity,
            entity_id,
            action,
            changes,
        },
    )
    .await?;
    Ok(())
}
