//! Custom fields on customers and tickets: the definitions an administrator
//! makes and each record's values (one row per value, so lists filter with
//! plain, indexed SQL on both backends).

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use kefu_domain::custom_field::{FieldDefinition, FieldKind, FieldTarget};
use serde::Serialize;

/// A custom field.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CustomField {
    /// Id.
    pub id: i64,
    /// Stable key used in the API and files.
    pub key: String,
    /// Label in Chinese.
    pub label_zh: String,
    /// Label in English.
    pub label_en: String,
    /// Kind of value.
    pub kind: FieldKind,
    /// The records it belongs on.
    pub applies_to: FieldTarget,
    /// Options of select kinds.
    pub options: Vec<String>,
    /// Whether every customer must have a value.
    pub required: bool,
    /// Whether the field is in use; inactive fields keep their values hidden.
    pub active: bool,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    key: String,
    label_zh: String,
    label_en: String,
    kind: String,
    applies_to: String,
    options: String,
    required: bool,
    active: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for CustomField {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Other(format!("custom field {}: bad {what}", row.id));
        Ok(CustomField {
            kind: row.kind.parse().map_err(|_| corrupt("kind"))?,
            applies_to: row.applies_to.parse().map_err(|_| corrupt("applies_to"))?,
            options: serde_json::from_str(&row.options).map_err(|_| corrupt("options"))?,
            id: row.id,
            key: row.key,
            label_zh: row.label_zh,
            label_en: row.label_en,
            required: row.required,
            active: row.active,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const COLUMNS: &str = "id, key, label_zh, label_en, kind, applies_to, options, required, active, version, created_at, updated_at";

impl CustomField {
    /// The definition, for checking values.
    pub fn definition(&self) -> FieldDefinition {
        FieldDefinition {
            key: self.key.clone(),
            label_zh: self.label_zh.clone(),
            label_en: self.label_en.clone(),
            kind: self.kind,
            options: self.options.clone(),
            required: self.required,
        }
    }
}

fn options_text(options: &[String]) -> String {
    serde_json::to_string(options).unwrap_or_else(|_| "[]".to_owned())
}

/// Creates a field on `applies_to` records.
pub async fn insert(
    conn: &mut Conn<'_>,
    d: &FieldDefinition,
    applies_to: FieldTarget,
) -> Result<CustomField, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO custom_fields (key, label_zh, label_en, kind, options, required, active, position, version, created_at, updated_at, applies_to) \
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, 0, 1, $7, $7, $8) RETURNING {COLUMNS}"
    );
    let row: Row = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&d.key)
            .bind(&d.label_zh)
            .bind(&d.label_en)
            .bind(d.kind.as_str())
            .bind(options_text(&d.options))
            .bind(d.required)
            .bind(now)
            .bind(applies_to.as_str())
            .fetch_one(c)
            .await?
    });
    row.try_into()
}

/// Every field, active or not, on any record, in creation order.
pub async fn every(conn: &mut Conn<'_>) -> Result<Vec<CustomField>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM custom_fields ORDER BY id");
    let rows: Vec<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(c)
            .await?
    });
    rows.into_iter().map(CustomField::try_from).collect()
}

/// The fields of one kind of record, active or not, in creation order.
pub async fn all(conn: &mut Conn<'_>, target: FieldTarget) -> Result<Vec<CustomField>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM custom_fields WHERE applies_to = $1 ORDER BY id");
    let rows: Vec<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(target.as_str())
            .fetch_all(c)
            .await?
    });
    rows.into_iter().map(CustomField::try_from).collect()
}

/// The table holding the values of `target` records, and its record column.
fn value_table(target: FieldTarget) -> (&'static str, &'static str) {
    match target {
        FieldTarget::Customer => ("customer_field_values", "customer_id"),
        FieldTarget::Ticket => ("ticket_field_values", "ticket_id"),
    }
}

/// One field.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<CustomField, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM custom_fields WHERE id = $1");
    let row: Option<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// Changes a field's labels, options, required flag and whether it is
/// active (the key and kind never change: values depend on them).
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    d: &FieldDefinition,
    active: bool,
) -> Result<CustomField, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE custom_fields SET label_zh = $1, label_en = $2, options = $3, required = $4, active = $5, \
         version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8 RETURNING {COLUMNS}"
    );
    let row: Option<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&d.label_zh)
            .bind(&d.label_en)
            .bind(options_text(&d.options))
            .bind(d.required)
            .bind(active)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(&mut *c)
            .await?
    });
    match row {
        Some(row) => row.try_into(),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// The values of several records, as (record id, field id, value).
pub async fn values_of(
    conn: &mut Conn<'_>,
    target: FieldTarget,
    record_ids: &[i64],
) -> Result<Vec<(i64, i64, String)>, StoreError> {
    if record_ids.is_empty() {
        return Ok(Vec::new());
    }
    let (table, column) = value_table(target);
    let sql = format!(
        "SELECT {column}, field_id, value FROM {table} WHERE {column} IN ({})",
        crate::customers::placeholders(1, record_ids.len())
    );
    let mut rows: Vec<(i64, i64, String)> = on_conn!(conn, |c| {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in record_ids {
            query = query.bind(*id);
        }
        query.fetch_all(c).await?
    });
    rows.sort();
    Ok(rows)
}

/// Replaces a record's values: (field id, value) pairs.
pub async fn set_values(
    conn: &mut Conn<'_>,
    target: FieldTarget,
    record_id: i64,
    values: &[(i64, String)],
) -> Result<(), StoreError> {
    let (table, column) = value_table(target);
    let delete = format!("DELETE FROM {table} WHERE {column} = $1");
    let insert = format!("INSERT INTO {table} ({column}, field_id, value) VALUES ($1, $2, $3)");
    on_conn!(conn, |c| {
        sqlx::query(sqlx::AssertSqlSafe(delete.clone()))
            .bind(record_id)
            .execute(&mut *c)
            .await?;
        for (field_id, value) in values {
            sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
                .bind(record_id)
                .bind(field_id)
                .bind(value)
                .execute(&mut *c)
                .await?;
        }
        Ok(())
    })
}

/// Adds values to several new records of `target`: (record id, field id,
/// value).
pub async fn add_values_many(
    conn: &mut Conn<'_>,
    target: FieldTarget,
    values: &[(i64, i64, String)],
) -> Result<(), StoreError> {
    let (table, column) = value_table(target);
    for chunk in values.chunks(1000) {
        let rows = crate::customers::value_rows(chunk.len(), 3);
        let sql = format!("INSERT INTO {table} ({column}, field_id, value) VALUES {rows}");
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (record_id, field_id, value) in chunk {
                query = query.bind(*record_id).bind(*field_id).bind(value);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}
