//! The customer portal's one-time sign-in links and customer sessions
//! (tokens are kept only as SHA-256 hashes).

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};

/// A customer's portal session.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PortalSession {
    /// Id.
    pub id: i64,
    /// The signed-in customer.
    pub customer_id: i64,
    /// The token the portal's forms must echo back.
    pub csrf_token: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_seen_at: DateTime<Utc>,
}

/// Stores a sign-in link for `customer_id`, sent to `email`, good until `expires_at`.
pub async fn insert_link(
    conn: &mut Conn<'_>,
    token_hash: &str,
    customer_id: i64,
    email: &str,
    expires_at: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "INSERT INTO portal_links (token_hash, customer_id, email, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id"
    )
    .bind(token_hash)
    .bind(customer_id)
    .bind(email)
    .bind(now)
    .bind(expires_at)
    .fetch_one(c)
    .await?))
}

/// Uses a link: the customer it signs in, if it exists, is unused and
/// has not expired at `now`. A link works once.
pub async fn take_link(
    conn: &mut Conn<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "UPDATE portal_links SET used_at = $2 \
         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING customer_id"
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(c)
    .await?))
}

/// Whether a link exists and is still usable at `now` (for the
/// confirmation page, without using it).
pub async fn link_is_usable(
    conn: &mut Conn<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let found: Option<i64> = on_conn!(conn, |c| {
        sqlx::query_scalar(
        "SELECT id FROM portal_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2"
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(c)
    .await?
    });
    Ok(found.is_some())
}

/// Starts a session.
pub async fn insert_session(
    conn: &mut Conn<'_>,
    token_hash: &str,
    customer_id: i64,
    csrf_token: &str,
) -> Result<PortalSession, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "INSERT INTO portal_sessions (token_hash, customer_id, csrf_token, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id, customer_id, csrf_token, created_at, last_seen_at"
    )
    .bind(token_hash)
    .bind(customer_id)
    .bind(csrf_token)
    .bind(now)
    .fetch_one(c)
    .await?)
    })
}

/// The session holding this token hash.
pub async fn find_session(
    conn: &mut Conn<'_>,
    token_hash: &str,
) -> Result<Option<PortalSession>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT id, customer_id, csrf_token, created_at, last_seen_at FROM portal_sessions WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(c)
    .await?)
    })
}

/// Records a session's use.
pub async fn touch_session(
    conn: &mut Conn<'_>,
    id: i64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE portal_sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Ends a session.
pub async fn delete_session(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM portal_sessions WHERE id = $1")
            .bind(id)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Ends every portal session of a customer and drops their sign-in links
/// (with the addresses they were sent to): on erasure and on merge.
pub async fn forget_customer(conn: &mut Conn<'_>, customer_id: i64) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM portal_sessions WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *c)
            .await?;
        sqlx::query("DELETE FROM portal_links WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *c)
            .await?;
    });
    Ok(())
}
