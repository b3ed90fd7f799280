//! Automation rules, stored with their conditions and actions as JSON.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use kefu_domain::automation::{Condition, RuleAction};
use serde::Serialize;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Automation {
    /// Id.
    pub id: i64,
    /// Name (unique).
    pub name: String,
    /// Order of evaluation, lowest first.
    pub position: i64,
    /// Whether it runs.
    pub active: bool,
    /// The event that sets it off.
    pub event: String,
    /// Conditions, all of which must hold (JSON).
    #[serde(serialize_with = "as_json::<Condition, _>")]
    #[schemars(with = "Vec<Condition>")]
    pub conditions: String,
    /// Actions, in order (JSON).
    #[serde(serialize_with = "as_json::<RuleAction, _>")]
    #[schemars(with = "Vec<RuleAction>")]
    pub actions: String,
    /// How often it fired.
    pub fired_count: i64,
    /// When it last fired.
    pub last_fired_at: Option<DateTime<Utc>>,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

impl Automation {
    /// Its conditions, read back.
    pub fn condition_list(&self) -> Vec<Condition> {
        serde_json::from_str(&self.conditions).unwrap_or_default()
    }

    /// Its actions, read back.
    pub fn action_list(&self) -> Vec<RuleAction> {
        serde_json::from_str(&self.actions).unwrap_or_default()
    }
}

fn as_json<T, S>(text: &str, out: S) -> Result<S::Ok, S::Error>
where
    T: serde::de::DeserializeOwned + Serialize,
    S: serde::Serializer,
{
    let items: Vec<T> = serde_json::from_str(text).unwrap_or_default();
    Serialize::serialize(&items, out)
}

/// A rule's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutomationFields {
    /// Name.
    pub name: String,
    /// Position.
    pub position: i64,
    /// Active.
    pub active: bool,
    /// Event code.
    pub event: String,
    /// Conditions JSON.
    pub conditions: String,
    /// Actions JSON.
    pub actions: String,
}

const COLUMNS: &str = "id, name, position, active, event, conditions, actions, fired_count, last_fired_at, \
     version, created_at, updated_at";

/// Adds a rule; `Duplicate("name")` when the name is taken.
pub async fn insert(conn: &mut Conn<'_>, f: &AutomationFields) -> Result<Automation, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO automations (name, position, active, event, conditions, actions, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7) RETURNING {COLUMNS}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(f.position)
        .bind(f.active)
        .bind(&f.event)
        .bind(&f.conditions)
        .bind(&f.actions)
        .bind(now)
        .fetch_one(c)
        .await?))
}

/// Saves a rule if it is still at `expected_version`.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &AutomationFields,
) -> Result<Automation, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE automations SET name = $1, position = $2, active = $3, event = $4, conditions = $5, actions = $6, \
         version = version + 1, updated_at = $7 WHERE id = $8 AND version = $9 RETURNING {COLUMNS}"
    );
    let row: Option<Automation> =
        on_conn!(&mut *conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(f.position)
            .bind(f.active)
            .bind(&f.event)
            .bind(&f.conditions)
            .bind(&f.actions)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .fetch_optional(c)
            .await?);
    match row {
        Some(a) => Ok(a),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// One rule.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Automation, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM automations WHERE id = $1");
    let row: Option<Automation> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// Every rule in order.
pub async fn all(conn: &mut Conn<'_>) -> Result<Vec<Automation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM automations ORDER BY position, id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}

/// Counts a firing.
pub async fn fired(conn: &mut Conn<'_>, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    on_conn!(conn, |c| sqlx::query(
        "UPDATE automations SET fired_count = fired_count + 1, last_fired_at = $1 WHERE id = $2"
    )
    .bind(at)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())?);
    Ok(())
}

/// Deletes a rule.
pub async fn delete(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let deleted = on_conn!(conn, |c| sqlx::query(
        "DELETE FROM automations WHERE id = $1"
    )
    .bind(id)
    .execute(c)
    .await?
    .rows_affected());
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}
