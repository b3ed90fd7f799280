//! Agent accounts: the people who work the floor.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use kefu_domain::Role;
use kefu_domain::presence::AgentStatus;
use serde::Serialize;

/// An agent account as the rest of Kefu sees it (no password hash).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Agent {
    /// Internal id.
    pub id: i64,
    /// Sign-in email, lower-cased.
    pub email: String,
    /// Name shown to colleagues and customers.
    pub display_name: String,
    /// The role that decides what the agent may do.
    pub role: Role,
    /// UI language, `zh-CN` or `en`.
    pub language: String,
    /// IANA time zone times are shown in.
    pub time_zone: String,
    /// Whether the account may sign in.
    pub active: bool,
    /// Presence: online, away or offline.
    pub status: AgentStatus,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: i64,
    email: String,
    display_name: String,
    role: String,
    language: String,
    time_zone: String,
    active: bool,
    status: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<AgentRow> for Agent {
    type Error = StoreError;
    fn try_from(row: AgentRow) -> Result<Self, StoreError> {
        let role = row
            .role
            .parse()
            .map_err(|e| StoreError::Other(format!("agent {}: {e}", row.id)))?;
        let status = row
            .status
            .parse()
            .map_err(|e| StoreError::Other(format!("agent {}: {e}", row.id)))?;
        Ok(Agent {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            role,
            language: row.language,
            time_zone: row.time_zone,
            active: row.active,
            status,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// What it takes to create an agent.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Sign-in email, already validated and lower-cased.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// UI language.
    pub language: String,
    /// Time zone.
    pub time_zone: String,
    /// argon2id PHC string, or `None` for an account that cannot sign in yet.
    pub password_hash: Option<String>,
}

/// What sign-in needs to know about an account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credentials {
    /// Agent id.
    pub id: i64,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    /// Whether the account may sign in.
    pub active: bool,
    /// Whether sign-in needs an authenticator code too.
    pub two_step: bool,
}

/// Creates an agent.
pub async fn insert(conn: &mut Conn<'_>, new: &NewAgent) -> Result<Agent, StoreError> {
    let now = crate::now();
    let row: AgentRow = on_conn!(conn, |c| {
        sqlx::query_as(
        "INSERT INTO agents (email, display_name, role, language, time_zone, password_hash, active, status, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, TRUE, 'offline', 1, $7, $7) \
         RETURNING id, email, display_name, role, language, time_zone, active, status, version, created_at, updated_at"
    )
    .bind(&new.email)
    .bind(&new.display_name)
    .bind(new.role.as_str())
    .bind(&new.language)
    .bind(&new.time_zone)
    .bind(&new.password_hash)
    .bind(now)
    .fetch_one(c)
    .await?
    });
    row.try_into()
}

/// One agent by id.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Agent, StoreError> {
    let row: Option<AgentRow> = on_conn!(conn, |c| {
        sqlx::query_as(
        "SELECT id, email, display_name, role, language, time_zone, active, status, version, created_at, updated_at \
         FROM agents WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?
    });
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// Agents in id order after `after`, at most `limit`.
pub async fn list(conn: &mut Conn<'_>, after: i64, limit: i64) -> Result<Vec<Agent>, StoreError> {
    let rows: Vec<AgentRow> = on_conn!(conn, |c| {
        sqlx::query_as(
        "SELECT id, email, display_name, role, language, time_zone, active, status, version, created_at, updated_at \
         FROM agents WHERE id > $1 ORDER BY id LIMIT $2"
    )
    .bind(after)
    .bind(limit)
    .fetch_all(c)
    .await?
    });
    rows.into_iter().map(Agent::try_from).collect()
}

/// How many agent accounts exist.
pub async fn count(conn: &mut Conn<'_>) -> Result<i64, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT count(*) FROM agents"
    )
    .fetch_one(c)
    .await?))
}

/// The sign-in data for an email, if such an account exists.
pub async fn credentials(
    conn: &mut Conn<'_>,
    email: &str,
) -> Result<Option<Credentials>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT id, password_hash, active, totp_secret IS NOT NULL AS two_step FROM agents WHERE email = $1"
    )
    .bind(email)
    .fetch_optional(c)
    .await?)
    })
}

/// Replaces an agent's password hash.
pub async fn set_password(
    conn: &mut Conn<'_>,
    id: i64,
    password_hash: &str,
) -> Result<(), StoreError> {
    let now = crate::now();
    let changed = on_conn!(conn, |c| {
        sqlx::query(
        "UPDATE agents SET password_hash = $1, version = version + 1, updated_at = $2 WHERE id = $3"
    )
    .bind(password_hash)
    .bind(now)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
    });
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The stored password hash of an agent.
pub async fn password_hash(conn: &mut Conn<'_>, id: i64) -> Result<Option<String>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT password_hash FROM agents WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?
    .flatten()))
}

/// Saves an agent's own preferences if still at `expected_version`.
pub async fn update_preferences(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    display_name: &str,
    language: &str,
    time_zone: &str,
) -> Result<Agent, StoreError> {
    let now = crate::now();
    let row: Option<AgentRow> = on_conn!(conn, |c| {
        sqlx::query_as(
        "UPDATE agents SET display_name = $1, language = $2, time_zone = $3, version = version + 1, updated_at = $4 \
         WHERE id = $5 AND version = $6 \
         RETURNING id, email, display_name, role, language, time_zone, active, status, version, created_at, updated_at"
    )
    .bind(display_name)
    .bind(language)
    .bind(time_zone)
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

/// Sets an agent's interface language (their own preference, one field).
pub async fn set_language(conn: &mut Conn<'_>, id: i64, language: &str) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query(
            "UPDATE agents SET language = $1, version = version + 1, updated_at = $2 WHERE id = $3",
        )
        .bind(language)
        .bind(now)
        .bind(id)
        .execute(c)
        .await?;
        Ok(())
    })
}

/// The fields an administrator edits on an agent account.
#[derive(Debug, Clone)]
pub struct AgentFields {
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// UI language.
    pub language: String,
    /// Time zone.
    pub time_zone: String,
    /// Whether the account may sign in.
    pub active: bool,
}

/// Saves an agent's fields if still at `expected_version`.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    fields: &AgentFields,
) -> Result<Agent, StoreError> {
    let now = crate::now();
    let row: Option<AgentRow> = on_conn!(conn, |c| {
        sqlx::query_as(
        "UPDATE agents SET display_name = $1, role = $2, language = $3, time_zone = $4, active = $5, \
         version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8 \
         RETURNING id, email, display_name, role, language, time_zone, active, status, version, created_at, updated_at"
    )
    .bind(&fields.display_name)
    .bind(fields.role.as_str())
    .bind(&fields.language)
    .bind(&fields.time_zone)
    .bind(fields.active)
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

/// How many active administrators there are.
pub async fn count_active_admins(conn: &mut Conn<'_>) -> Result<i64, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT count(*) FROM agents WHERE role = 'admin' AND active = TRUE"
    )
    .fetch_one(c)
    .await?))
}

/// Sets an agent's presence. Not versioned: presence is the agent's own
/// switch, flipped many times a day, and never edited by two people.
pub async fn set_status(
    conn: &mut Conn<'_>,
    id: i64,
    status: AgentStatus,
) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE agents SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(c)
            .await?;
        Ok(())
    })
}
