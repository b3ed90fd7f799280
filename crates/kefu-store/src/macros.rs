//! Canned replies and macros (快捷回复): a text with placeholders and the
//! changes applying it makes to a ticket.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored macro.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Macro {
    /// Id.
    pub id: i64,
    /// Name agents pick it by.
    pub name: String,
    /// Text with placeholders; empty for a macro that only sets fields.
    pub body: String,
    /// `reply` or `note`.
    pub message_kind: String,
    /// Status to move the ticket to.
    pub set_status: Option<String>,
    /// Team to give the ticket to.
    pub set_team_id: Option<i64>,
    /// Agent to give the ticket to.
    pub set_assignee_id: Option<i64>,
    /// Tags to add, comma-separated.
    pub add_tags: String,
    /// Resolution category when the macro resolves or closes (the text is the body).
    pub resolution_category: Option<String>,
    /// Offered to agents.
    pub active: bool,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, body, message_kind, set_status, set_team_id, set_assignee_id, add_tags, \
     resolution_category, active, version, created_at, updated_at";

/// A macro's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroFields {
    /// Name.
    pub name: String,
    /// Body.
    pub body: String,
    /// `reply` or `note`.
    pub message_kind: String,
    /// Status.
    pub set_status: Option<String>,
    /// Team.
    pub set_team_id: Option<i64>,
    /// Assignee.
    pub set_assignee_id: Option<i64>,
    /// Tags, comma-separated.
    pub add_tags: String,
    /// Resolution category.
    pub resolution_category: Option<String>,
    /// Offered.
    pub active: bool,
}

/// Adds a macro; `Duplicate("name")` when the name is taken.
pub async fn insert(conn: &mut Conn<'_>, f: &MacroFields) -> Result<Macro, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO macros (name, body, message_kind, set_status, set_team_id, set_assignee_id, add_tags, \
         resolution_category, active, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) RETURNING {COLUMNS}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(&f.body)
        .bind(&f.message_kind)
        .bind(&f.set_status)
        .bind(f.set_team_id)
        .bind(f.set_assignee_id)
        .bind(&f.add_tags)
        .bind(&f.resolution_category)
        .bind(f.active)
        .bind(now)
        .fetch_one(c)
        .await?))
}

/// Saves a macro if it is still at `expected_version`.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &MacroFields,
) -> Result<Macro, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE macros SET name = $1, body = $2, message_kind = $3, set_status = $4, set_team_id = $5, \
         set_assignee_id = $6, add_tags = $7, resolution_category = $8, active = $9, version = version + 1, \
         updated_at = $10 WHERE id = $11 AND version = $12 RETURNING {COLUMNS}"
    );
    let row: Option<Macro> = on_conn!(&mut *conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(&f.body)
            .bind(&f.message_kind)
            .bind(&f.set_status)
            .bind(f.set_team_id)
            .bind(f.set_assignee_id)
            .bind(&f.add_tags)
            .bind(&f.resolution_category)
            .bind(f.active)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await?
    });
    match row {
        Some(m) => Ok(m),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// One macro.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Macro, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM macros WHERE id = $1");
    let row: Option<Macro> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)
}

/// Every macro, by name.
pub async fn all(conn: &mut Conn<'_>) -> Result<Vec<Macro>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM macros ORDER BY name, id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}
