//! The append-only audit log, written in the same transaction as the change.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use kefu_domain::audit::{Action, Actor, FieldChange, Source};
use serde::Serialize;
use sqlx::types::Json;

/// One change to write.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Who.
    pub actor: &'a Actor,
    /// From where.
    pub source: Source,
    /// The record's kind, e.g. `team`.
    pub entity: &'a str,
    /// The record's id.
    pub entity_id: i64,
    /// What happened.
    pub action: Action,
    /// Each field's old and new value.
    pub changes: Vec<FieldChange>,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Record {
    /// Sequence id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `agent`, `api_token`, `customer` or `system`.
    pub actor_kind: String,
    /// The actor's id or system name.
    pub actor_ref: String,
    /// `web`, `api`, `email` or `system`.
    pub source: String,
    /// Record kind.
    pub entity: String,
    /// Record id.
    pub entity_id: i64,
    /// `create`, `update`, `delete` or `read`.
    pub action: String,
    /// The field changes.
    #[sqlx(json)]
    pub changes: Vec<FieldChange>,
}

/// Appends an entry; call it inside the transaction that makes the change.
pub async fn append(conn: &mut Conn<'_>, entry: &Entry<'_>) -> Result<(), StoreError> {
    let now = crate::now();
    let changes = Json(&entry.changes);
    on_conn!(conn, |c| {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_kind, actor_ref, source, entity, entity_id, action, changes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(now)
        .bind(entry.actor.kind())
        .bind(entry.actor.reference())
        .bind(entry.source.as_str())
        .bind(entry.entity)
        .bind(entry.entity_id)
        .bind(entry.action.as_str())
        .bind(changes)
        .execute(c)
        .await?;
        Ok(())
    })
}

/// Appends many entries with one statement per 500; for bulk changes
/// (imports) inside the transaction that makes them.
pub async fn append_many(conn: &mut Conn<'_>, entries: &[Entry<'_>]) -> Result<(), StoreError> {
    let now = crate::now();
    for chunk in entries.chunks(100) {
        // Every value bound per row, numbered in order (see `for_backend`).
        let values = crate::customers::value_rows(chunk.len(), 8);
        let sql = format!(
            "INSERT INTO audit_log (at, actor_kind, actor_ref, source, entity, entity_id, action, changes) VALUES {values}"
        );
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for entry in chunk {
                query = query
                    .bind(now)
                    .bind(entry.actor.kind())
                    .bind(entry.actor.reference())
                    .bind(entry.source.as_str())
                    .bind(entry.entity)
                    .bind(entry.entity_id)
                    .bind(entry.action.as_str())
                    .bind(Json(&entry.changes));
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// The history of one record, oldest first.
pub async fn for_record(
    conn: &mut Conn<'_>,
    entity: &str,
    entity_id: i64,
) -> Result<Vec<Record>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT id, at, actor_kind, actor_ref, source, entity, entity_id, action, changes \
         FROM audit_log WHERE entity = $1 AND entity_id = $2 ORDER BY id"
    )
    .bind(entity)
    .bind(entity_id)
    .fetch_all(c)
    .await?))
}

/// Filters for searching the whole audit log; every one optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Record kind.
    pub entity: Option<String>,
    /// Record id.
    pub entity_id: Option<i64>,
    /// Actor kind (`agent`, `api_token`, `customer`, `system`).
    pub actor_kind: Option<String>,
    /// Actor id or system name.
    pub actor_ref: Option<String>,
    /// Action.
    pub action: Option<String>,
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

enum Param {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
}

/// Records matching `filter`, newest first, with ids below `before` (0 for
/// the first page), at most `limit`.
pub async fn search(
    conn: &mut Conn<'_>,
    filter: &Filter,
    before: i64,
    limit: i64,
) -> Result<Vec<Record>, StoreError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let mut add = |clause: &str, param: Param| {
        params.push(param);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    };
    if before > 0 {
        add("id < ?", Param::Int(before));
    }
    if let Some(v) = &filter.entity {
        add("entity = ?", Param::Text(v.clone()));
    }
    if let Some(v) = filter.entity_id {
        add("entity_id = ?", Param::Int(v));
    }
    if let Some(v) = &filter.actor_kind {
        add("actor_kind = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &filter.actor_ref {
        add("actor_ref = ?", Param::Text(v.clone()));
    }
    if let Some(v) = &filter.action {
        add("action = ?", Param::Text(v.clone()));
    }
    if let Some(v) = filter.from {
        add("at >= ?", Param::Time(v));
    }
    if let Some(v) = filter.until {
        add("at < ?", Param::Time(v));
    }
    params.push(Param::Int(limit));
    let condition = if clauses.is_empty() {
        "TRUE".to_owned()
    } else {
        clauses.join(" AND ")
    };
    // Only placeholders and fixed column names go into the text; every value is bound.
    let sql = format!(
        "SELECT id, at, actor_kind, actor_ref, source, entity, entity_id, action, changes \
         FROM audit_log WHERE {condition} ORDER BY id DESC LIMIT ${}",
        params.len()
    );
    on_conn!(conn, |c| {
        let mut query = sqlx::query_as::<_, Record>(sqlx::AssertSqlSafe(sql));
        for param in params {
            query = match param {
                Param::Text(v) => query.bind(v),
                Param::Int(v) => query.bind(v),
                Param::Time(v) => query.bind(v),
            };
        }
        Ok(query.fetch_all(c).await?)
    })
}
