//! One-time password-reset tokens, stored as hashes.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};

/// A reset token's record.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PasswordReset {
    /// Internal id.
    pub id: i64,
    /// Whose password it resets.
    pub agent_id: i64,
    /// Stops working then.
    pub expires_at: DateTime<Utc>,
    /// Set once used.
    pub used_at: Option<DateTime<Utc>>,
}

/// Stores a token hash.
pub async fn insert(
    conn: &mut Conn<'_>,
    token_hash: &str,
    agent_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query("INSERT INTO password_resets (token_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash)
            .bind(agent_id)
            .bind(now)
            .bind(expires_at)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// The token with this hash, if any.
pub async fn find(
    conn: &mut Conn<'_>,
    token_hash: &str,
) -> Result<Option<PasswordReset>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT id, agent_id, expires_at, used_at FROM password_resets WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await?))
}

/// Marks a token used, if it still was unused; false if someone used it first.
pub async fn mark_used(
    conn: &mut Conn<'_>,
    id: i64,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE id = $2 AND used_at IS NULL"
    )
    .bind(at)
    .bind(id)
    .execute(c)
    .await?
    .rows_affected()
        == 1))
}
