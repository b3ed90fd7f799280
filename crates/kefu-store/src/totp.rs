//! Agents' authenticator-app secrets and pending second sign-in steps.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};

/// An agent's two-step state.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct TotpState {
    /// The confirmed secret; two-step sign-in is on when set.
    pub totp_secret: Option<Vec<u8>>,
    /// A secret being set up, not yet confirmed with a code.
    pub totp_pending_secret: Option<Vec<u8>>,
    /// The last code step used, so no code works twice.
    pub totp_last_step: Option<i64>,
}

/// The two-step state of an agent.
pub async fn state(conn: &mut Conn<'_>, agent_id: i64) -> Result<TotpState, StoreError> {
    let found: Option<TotpState> = on_conn!(conn, |c| sqlx::query_as(
        "SELECT totp_secret, totp_pending_secret, totp_last_step FROM agents WHERE id = $1"
    )
    .bind(agent_id)
    .fetch_optional(c)
    .await?);
    found.ok_or(StoreError::NotFound)
}

/// Replaces the whole two-step state of an agent.
pub async fn save(conn: &mut Conn<'_>, agent_id: i64, state: &TotpState) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE agents SET totp_secret = $1, totp_pending_secret = $2, totp_last_step = $3 WHERE id = $4")
            .bind(&state.totp_secret)
            .bind(&state.totp_pending_secret)
            .bind(state.totp_last_step)
            .bind(agent_id)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// Stores a challenge: the password was right, the code is still to come.
pub async fn insert_challenge(
    conn: &mut Conn<'_>,
    token_hash: &str,
    agent_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query("INSERT INTO signin_challenges (token_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(agent_id)
            .bind(now)
            .bind(expires_at)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// The agent and expiry of a challenge, if it exists.
pub async fn find_challenge(
    conn: &mut Conn<'_>,
    token_hash: &str,
) -> Result<Option<(i64, i64, DateTime<Utc>)>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT id, agent_id, expires_at FROM signin_challenges WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await?))
}

/// Removes a challenge (used, or abandoned).
pub async fn delete_challenge(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM signin_challenges WHERE id = $1")
            .bind(id)
            .execute(c)
            .await?;
        Ok(())
    })
}
