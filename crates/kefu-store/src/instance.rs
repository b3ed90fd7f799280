//! The installation itself: its secret, made once at first start.

use crate::{Conn, StoreError, on_conn};

/// The installation secret (keys public ids), created on first call.
pub async fn ensure_secret(conn: &mut Conn<'_>) -> Result<Vec<u8>, StoreError> {
    let fresh: [u8; 32] = rand::random();
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query("INSERT INTO instance (id, secret, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(fresh.as_slice())
            .bind(now)
            .execute(&mut *c)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT secret FROM instance WHERE id = 1")
                .fetch_one(c)
                .await?,
        )
    })
}
