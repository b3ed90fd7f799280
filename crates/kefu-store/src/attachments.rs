//! Files attached to work orders: one row per attached file, the bytes
//! once per content digest (on disk, or in `attachment_blobs.content`).

use crate::tickets::Author;
use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use kefu_domain::attachment::Purpose;
use serde::Serialize;

/// An attached file's description (its bytes are read separately).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Attachment {
    /// Id.
    pub id: i64,
    /// The ticket.
    pub ticket_id: i64,
    /// The message it came with; none for files attached to the ticket itself.
    pub message_id: Option<i64>,
    /// A file or a call recording.
    pub purpose: Purpose,
    /// The name it was uploaded under (cleaned).
    pub file_name: String,
    /// The type sniffed from its content.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// SHA-256 of the content, lower-case hex.
    pub sha256: String,
    /// Who attached it.
    pub author: Author,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    ticket_id: i64,
    message_id: Option<i64>,
    purpose: String,
    file_name: String,
    content_type: String,
    size: i64,
    sha256: String,
    author_kind: String,
    author_agent_id: Option<i64>,
    author_customer_id: Option<i64>,
    created_at: DateTime<Utc>,
}

impl TryFrom<Row> for Attachment {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        let name = format!("attachment {}", r.id);
        Ok(Attachment {
            author: Author::from_columns(
                &name,
                &r.author_kind,
                r.author_agent_id,
                r.author_customer_id,
            )?,
            purpose: r.purpose.parse().map_err(|_| {
                StoreError::Other(format!("{name}: unknown purpose {:?}", r.purpose))
            })?,
            id: r.id,
            ticket_id: r.ticket_id,
            message_id: r.message_id,
            file_name: r.file_name,
            content_type: r.content_type,
            size: r.size,
            sha256: r.sha256,
            created_at: r.created_at,
        })
    }
}

const COLUMNS: &str = "id, ticket_id, message_id, purpose, file_name, content_type, size, sha256, \
                       author_kind, author_agent_id, author_customer_id, created_at";

/// A file to record as attached.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    /// The ticket.
    pub ticket_id: i64,
    /// The message, if it came with one.
    pub message_id: Option<i64>,
    /// File or recording.
    pub purpose: Purpose,
    /// Cleaned name.
    pub file_name: String,
    /// Sniffed type.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Content digest; its blob row must exist (see [`insert_blob`]).
    pub sha256: String,
    /// Who attached it.
    pub author: Author,
}

/// Records that the content with this digest exists: on disk when
/// `content` is `None`, else in the database. A blob already known keeps
/// its row; database bytes are added to a row that had none.
pub async fn insert_blob(
    conn: &mut Conn<'_>,
    sha256: &str,
    size: i64,
    content: Option<&[u8]>,
) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query(
            "INSERT INTO attachment_blobs (sha256, size, content, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256) DO UPDATE SET content = COALESCE(attachment_blobs.content, excluded.content)",
        )
        .bind(sha256)
        .bind(size)
        .bind(content)
        .bind(now)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Records an attached file; returns it with its id.
pub async fn insert(conn: &mut Conn<'_>, new: &NewAttachment) -> Result<Attachment, StoreError> {
    let now = crate::now();
    let (kind, agent, customer) = new.author.columns();
    let id: i64 = on_conn!(conn, |c| {
        sqlx::query_scalar(
        "INSERT INTO attachments (ticket_id, message_id, purpose, file_name, content_type, size, sha256, \
         author_kind, author_agent_id, author_customer_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"
    )
    .bind(new.ticket_id)
    .bind(new.message_id)
    .bind(new.purpose.as_str())
    .bind(&new.file_name)
    .bind(&new.content_type)
    .bind(new.size)
    .bind(&new.sha256)
    .bind(kind)
    .bind(agent)
    .bind(customer)
    .bind(now)
    .fetch_one(c)
    .await
    .map_err(StoreError::from)?
    });
    Ok(Attachment {
        id,
        ticket_id: new.ticket_id,
        message_id: new.message_id,
        purpose: new.purpose,
        file_name: new.file_name.clone(),
        content_type: new.content_type.clone(),
        size: new.size,
        sha256: new.sha256.clone(),
        author: new.author,
        created_at: now,
    })
}

/// One attachment.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Attachment, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM attachments WHERE id = $1");
    let row: Option<Row> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// A ticket's attachments, oldest first.
pub async fn for_ticket(
    conn: &mut Conn<'_>,
    ticket_id: i64,
) -> Result<Vec<Attachment>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM attachments WHERE ticket_id = $1 ORDER BY id");
    let rows: Vec<Row> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .fetch_all(c)
        .await?);
    rows.into_iter().map(Attachment::try_from).collect()
}

/// The bytes kept in the database for a digest; `None` when they are on disk.
pub async fn blob_content(
    conn: &mut Conn<'_>,
    sha256: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let content: Option<Option<Vec<u8>>> = on_conn!(conn, |c| sqlx::query_scalar(
        "SELECT content FROM attachment_blobs WHERE sha256 = $1"
    )
    .bind(sha256)
    .fetch_optional(c)
    .await?);
    content.ok_or(StoreError::NotFound)
}
