//! API tokens for integrations, stored only as hashes.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A token's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ApiToken {
    /// Internal id.
    pub id: i64,
    /// What the admin called it.
    pub name: String,
    /// The role its calls act with (code name).
    pub role: String,
    /// The agent the calls are made on behalf of.
    pub agent_id: i64,
    /// The admin who created it.
    pub created_by: i64,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last successful use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// What it takes to create a token.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Name.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Role code name.
    pub role: String,
    /// Agent acted for.
    pub agent_id: i64,
    /// Creator.
    pub created_by: i64,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Stores a new token.
pub async fn insert(conn: &mut Conn<'_>, new: &NewApiToken) -> Result<ApiToken, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "INSERT INTO api_tokens (name, token_hash, role, agent_id, created_by, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, name, role, agent_id, created_by, expires_at, last_used_at, revoked_at, created_at"
    )
    .bind(&new.name)
    .bind(&new.token_hash)
    .bind(&new.role)
    .bind(new.agent_id)
    .bind(new.created_by)
    .bind(new.expires_at)
    .bind(now)
    .fetch_one(c)
    .await?)
    })
}

/// A token found for signing in, with whether its agent is active.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenSignIn {
    /// The token.
    #[sqlx(flatten)]
    pub token: ApiToken,
    /// Whether the agent it acts for may still sign in.
    pub agent_active: bool,
}

/// The token with this hash and its agent's state, in one query (it
/// runs on every API request).
pub async fn find_for_sign_in(
    conn: &mut Conn<'_>,
    token_hash: &str,
) -> Result<Option<TokenSignIn>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
            "SELECT t.id, t.name, t.role, t.agent_id, t.created_by, t.expires_at, t.last_used_at, \
                t.revoked_at, t.created_at, a.active AS agent_active \
         FROM api_tokens t JOIN agents a ON a.id = t.agent_id WHERE t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(c)
        .await?)
    })
}

/// Records a use of the token.
pub async fn touch(conn: &mut Conn<'_>, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(c)
            .await?;
        Ok(())
    })
}

/// Every token, newest first.
pub async fn list(conn: &mut Conn<'_>) -> Result<Vec<ApiToken>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT id, name, role, agent_id, created_by, expires_at, last_used_at, revoked_at, created_at \
         FROM api_tokens ORDER BY id DESC"
    )
    .fetch_all(c)
    .await?)
    })
}

/// One token by id.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<ApiToken, StoreError> {
    let found: Option<ApiToken> = on_conn!(conn, |c| {
        sqlx::query_as(
        "SELECT id, name, role, agent_id, created_by, expires_at, last_used_at, revoked_at, created_at \
         FROM api_tokens WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?
    });
    found.ok_or(StoreError::NotFound)
}

/// Revokes a token now (a revoked token stays revoked).
pub async fn revoke(
    conn: &mut Conn<'_>,
    id: i64,
    at: DateTime<Utc>,
) -> Result<ApiToken, StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(id)
            .execute(&mut *c)
            .await?;
    });
    get(conn, id).await
}
