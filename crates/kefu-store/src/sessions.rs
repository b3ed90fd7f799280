//! Server-side sign-in sessions, shared by every instance through the database.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};

/// A stored session (the cookie value itself is kept only as a hash).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Session {
    /// Internal id.
    pub id: i64,
    /// The signed-in agent.
    pub agent_id: i64,
    /// The token forms must echo back (CSRF protection).
    pub csrf_token: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_seen_at: DateTime<Utc>,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
}

/// What a new session stores.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// SHA-256 of the cookie value, hex.
    pub token_hash: &'a str,
    /// The agent.
    pub agent_id: i64,
    /// CSRF token.
    pub csrf_token: &'a str,
    /// Absolute end.
    pub expires_at: DateTime<Utc>,
    /// Browser, for the agent's list of sessions.
    pub user_agent: &'a str,
    /// Address the sign-in came from.
    pub ip: &'a str,
}

/// Stores a new session.
pub async fn insert(conn: &mut Conn<'_>, new: &NewSession<'_>) -> Result<Session, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "INSERT INTO sessions (token_hash, agent_id, csrf_token, created_at, last_seen_at, expires_at, user_agent, ip) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7) \
         RETURNING id, agent_id, csrf_token, created_at, last_seen_at, expires_at"
    )
    .bind(new.token_hash)
    .bind(new.agent_id)
    .bind(new.csrf_token)
    .bind(now)
    .bind(new.expires_at)
    .bind(new.user_agent)
    .bind(new.ip)
    .fetch_one(c)
    .await?)
    })
}

/// The session with this token hash, if any.
pub async fn find(conn: &mut Conn<'_>, token_hash: &str) -> Result<Option<Session>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT id, agent_id, csrf_token, created_at, last_seen_at, expires_at FROM sessions WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await?)
    })
}

/// Records a use of the session.
pub async fn touch(conn: &mut Conn<'_>, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// Ends one session.
pub async fn delete(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// Ends every session of an agent except `keep` (sign out everywhere,
/// password change); returns how many ended.
pub async fn delete_for_agent(
    conn: &mut Conn<'_>,
    agent_id: i64,
    keep: Option<i64>,
) -> Result<u64, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query(
        "DELETE FROM sessions WHERE agent_id = $1 AND id <> $2"
    )
    .bind(agent_id)
    .bind(keep.unwrap_or(-1))
    .execute(c)
    .await?
    .rows_affected()))
}

/// How many sessions an agent has open.
pub async fn count_for_agent(conn: &mut Conn<'_>, agent_id: i64) -> Result<i64, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE agent_id = $1"
    )
    .bind(agent_id)
    .fetch_one(c)
    .await?))
}
