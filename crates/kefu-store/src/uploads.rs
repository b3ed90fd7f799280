//! Files uploaded for import, kept between the agent's mapping and
//! checking steps and the final import.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};

/// An uploaded file.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Upload {
    /// Id.
    pub id: i64,
    /// The agent who uploaded it; nobody else may use it.
    pub agent_id: i64,
    /// The file's name as uploaded.
    pub file_name: String,
    /// `csv` or `xlsx`.
    pub format: String,
    /// The bytes.
    pub content: Vec<u8>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Keeps an uploaded file; returns its id.
pub async fn insert(
    conn: &mut Conn<'_>,
    agent_id: i64,
    file_name: &str,
    format: &str,
    content: &[u8],
) -> Result<i64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "INSERT INTO import_uploads (agent_id, file_name, format, content, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id"
    )
    .bind(agent_id)
    .bind(file_name)
    .bind(format)
    .bind(content)
    .bind(now)
    .fetch_one(c)
    .await?))
}

/// One upload of one agent; another agent's is `NotFound`.
pub async fn get(conn: &mut Conn<'_>, id: i64, agent_id: i64) -> Result<Upload, StoreError> {
    let upload: Option<Upload> = on_conn!(conn, |c| {
        sqlx::query_as(
            "SELECT id, agent_id, file_name, format, content, created_at FROM import_uploads \
             WHERE id = $1 AND agent_id = $2",
        )
        .bind(id)
        .bind(agent_id)
        .fetch_optional(c)
        .await?
    });
    upload.ok_or(StoreError::NotFound)
}

/// Whether an agent has an upload of this id, without reading its content.
pub async fn exists(conn: &mut Conn<'_>, id: i64, agent_id: i64) -> Result<bool, StoreError> {
    let found: Option<i64> = on_conn!(conn, |c| {
        sqlx::query_scalar("SELECT id FROM import_uploads WHERE id = $1 AND agent_id = $2")
            .bind(id)
            .bind(agent_id)
            .fetch_optional(c)
            .await?
    });
    Ok(found.is_some())
}

/// Deletes an agent's uploads older than `before` and the one just used.
pub async fn delete_used(
    conn: &mut Conn<'_>,
    id: i64,
    before: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM import_uploads WHERE id = $1 OR created_at < $2")
            .bind(id)
            .bind(before)
            .execute(c)
            .await?;
    });
    Ok(())
}
