//! The email channel's rows: mailboxes, every message received or sent,
//! and the quarantine.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A support address and how its mail becomes work orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Mailbox {
    /// Id.
    pub id: i64,
    /// Name shown to agents.
    pub name: String,
    /// The support address (lower-case); replies are sent from it.
    pub address: String,
    /// SHA-256 of the token the raw-message endpoint takes.
    #[serde(skip)]
    #[schemars(skip)]
    pub token_hash: String,
    /// The team new work orders go to.
    pub team_id: Option<i64>,
    /// The type of new work orders.
    pub ticket_type: String,
    /// The language of new customers and of acknowledgements.
    pub language: String,
    /// IMAP server (empty: mail arrives only through the endpoint).
    pub imap_host: String,
    /// IMAP port.
    pub imap_port: i64,
    /// `tls`, `starttls` or `none`.
    pub imap_security: String,
    /// IMAP user name.
    pub imap_user: String,
    /// IMAP password; never shown.
    #[serde(skip)]
    #[schemars(skip)]
    pub imap_password: String,
    /// IMAP folder read.
    pub imap_folder: String,
    /// Whether mail is taken in.
    pub active: bool,
    /// SMTP server replies go out through (empty: this mailbox sends nothing).
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: i64,
    /// `tls`, `starttls` or `none`.
    pub smtp_security: String,
    /// SMTP user (empty: no authentication).
    pub smtp_user: String,
    /// SMTP password; never shown.
    #[serde(skip)]
    #[schemars(skip)]
    pub smtp_password: String,
    /// The last problem reaching the server, empty when none.
    pub last_error: String,
    /// When the server was last reached.
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Changed.
    pub updated_at: DateTime<Utc>,
}

/// A mailbox's fields, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxFields {
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Team.
    pub team_id: Option<i64>,
    /// Ticket type code.
    pub ticket_type: String,
    /// Language code.
    pub language: String,
    /// IMAP host.
    pub imap_host: String,
    /// IMAP port.
    pub imap_port: i64,
    /// IMAP security.
    pub imap_security: String,
    /// IMAP user.
    pub imap_user: String,
    /// IMAP folder.
    pub imap_folder: String,
    /// Active.
    pub active: bool,
    /// SMTP host.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: i64,
    /// SMTP security.
    pub smtp_security: String,
    /// SMTP user.
    pub smtp_user: String,
}

const MAILBOX_COLUMNS: &str = "id, name, address, token_hash, team_id, ticket_type, language, imap_host, \
     imap_port, imap_security, imap_user, imap_password, imap_folder, active, smtp_host, smtp_port, \
     smtp_security, smtp_user, smtp_password, last_error, last_checked_at, version, created_at, updated_at";

/// Adds a mailbox; `Duplicate` names `address` or `name` when taken.
pub async fn insert_mailbox(
    conn: &mut Conn<'_>,
    f: &MailboxFields,
    token_hash: &str,
    imap_password: &str,
    smtp_password: &str,
) -> Result<Mailbox, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO mailboxes (name, address, token_hash, team_id, ticket_type, language, imap_host, imap_port, \
         imap_security, imap_user, imap_password, imap_folder, active, smtp_host, smtp_port, smtp_security, \
         smtp_user, smtp_password, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $15, $16, $17, $18, $19, 1, $14, $14) \
         RETURNING {MAILBOX_COLUMNS}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(&f.address)
        .bind(token_hash)
        .bind(f.team_id)
        .bind(&f.ticket_type)
        .bind(&f.language)
        .bind(&f.imap_host)
        .bind(f.imap_port)
        .bind(&f.imap_security)
        .bind(&f.imap_user)
        .bind(imap_password)
        .bind(&f.imap_folder)
        .bind(f.active)
        .bind(now)
        .bind(&f.smtp_host)
        .bind(f.smtp_port)
        .bind(&f.smtp_security)
        .bind(&f.smtp_user)
        .bind(smtp_password)
        .fetch_one(c)
        .await?))
}

/// Saves a mailbox if it is still at `expected_version`; a new token hash
/// or IMAP password replaces the old one when given.
pub async fn update_mailbox(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &MailboxFields,
    new_token_hash: Option<&str>,
    new_imap_password: Option<&str>,
    new_smtp_password: Option<&str>,
) -> Result<Mailbox, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE mailboxes SET name = $1, address = $2, team_id = $3, ticket_type = $4, language = $5, \
         imap_host = $6, imap_port = $7, imap_security = $8, imap_user = $9, imap_folder = $10, active = $11, \
         token_hash = COALESCE($12, token_hash), imap_password = COALESCE($13, imap_password), \
         smtp_host = $17, smtp_port = $18, smtp_security = $19, smtp_user = $20, \
         smtp_password = COALESCE($21, smtp_password), \
         version = version + 1, updated_at = $14 WHERE id = $15 AND version = $16 RETURNING {MAILBOX_COLUMNS}"
    );
    let row: Option<Mailbox> = on_conn!(&mut *conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&f.name)
        .bind(&f.address)
        .bind(f.team_id)
        .bind(&f.ticket_type)
        .bind(&f.language)
        .bind(&f.imap_host)
        .bind(f.imap_port)
        .bind(&f.imap_security)
        .bind(&f.imap_user)
        .bind(&f.imap_folder)
        .bind(f.active)
        .bind(new_token_hash)
        .bind(new_imap_password)
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .bind(&f.smtp_host)
        .bind(f.smtp_port)
        .bind(&f.smtp_security)
        .bind(&f.smtp_user)
        .bind(new_smtp_password)
        .fetch_optional(c)
        .await?);
    match row {
        Some(m) => Ok(m),
        None => Err(StoreError::Conflict {
            current_version: mailbox(conn, id).await?.version,
        }),
    }
}

/// Gives a mailbox a new token hash, changing nothing else.
pub async fn set_token_hash(
    conn: &mut Conn<'_>,
    id: i64,
    token_hash: &str,
) -> Result<Mailbox, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE mailboxes SET token_hash = $1, version = version + 1, updated_at = $2 \
         WHERE id = $3 RETURNING {MAILBOX_COLUMNS}"
    );
    let row: Option<Mailbox> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(now)
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// One mailbox.
pub async fn mailbox(conn: &mut Conn<'_>, id: i64) -> Result<Mailbox, StoreError> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1");
    let row: Option<Mailbox> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// The mailbox whose token hashes to `token_hash`.
pub async fn mailbox_by_token(
    conn: &mut Conn<'_>,
    token_hash: &str,
) -> Result<Option<Mailbox>, StoreError> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE token_hash = $1");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .fetch_optional(c)
        .await?))
}

/// The mailbox mail without one of its own goes out from: the first
/// active one with an SMTP server.
pub async fn sending_mailbox(conn: &mut Conn<'_>) -> Result<Option<Mailbox>, StoreError> {
    let sql = format!(
        "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE active AND smtp_host <> '' ORDER BY id LIMIT 1"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_optional(c)
        .await?))
}

/// Records a pass over a mailbox's server: when, and the error (empty
/// when it worked). Not a change of settings: the version stays.
pub async fn record_check(conn: &mut Conn<'_>, id: i64, error: &str) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query("UPDATE mailboxes SET last_error = $1, last_checked_at = $2 WHERE id = $3")
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Every mailbox, by name.
pub async fn mailboxes(conn: &mut Conn<'_>) -> Result<Vec<Mailbox>, StoreError> {
    let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes ORDER BY name, id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(c)
        .await?))
}

/// Deletes a mailbox (its messages stay, without it).
pub async fn delete_mailbox(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let deleted = on_conn!(conn, |c| sqlx::query("DELETE FROM mailboxes WHERE id = $1")
        .bind(id)
        .execute(c)
        .await?
        .rows_affected());
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// One message received or sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct MailMessage {
    /// Id.
    pub id: i64,
    /// `in` or `out`.
    pub direction: String,
    /// `Message-ID` without angle brackets.
    pub message_id: String,
    /// The mailbox it came to or went from.
    pub mailbox_id: Option<i64>,
    /// The work order it belongs to.
    pub ticket_id: Option<i64>,
    /// The conversation entry it became (none when it opened the ticket
    /// as its description, or was only recorded).
    pub ticket_message_id: Option<i64>,
    /// What became of it: `created`, `appended`, `automatic`, `bounce`,
    /// `spam`, `ignored`, `sent`.
    pub outcome: String,
    /// Sender.
    pub from_address: String,
    /// Sender's display name.
    pub from_name: String,
    /// Where answers go (`Reply-To`, else the sender).
    pub reply_to: String,
    /// `To`, a JSON array of `{name, address}`.
    pub to_addresses: String,
    /// `Cc`, a JSON array of `{name, address}`.
    pub cc_addresses: String,
    /// Subject.
    pub subject: String,
    /// The thread's ids (`References`, then this one), space-separated.
    pub thread_ids: String,
    /// Why it counts as sent by a machine, if it does.
    pub automatic: Option<String>,
    /// Cleaned HTML, when it had HTML.
    #[serde(skip)]
    #[schemars(skip)]
    pub html: Option<String>,
    /// The HTML shows images from other servers.
    pub remote_images: bool,
    /// Inline images: a JSON object from Content-ID to attachment id.
    #[serde(skip)]
    #[schemars(skip)]
    pub inline_files: String,
    /// SHA-256 of the raw source.
    pub raw_sha256: String,
    /// Size of the raw source.
    pub raw_size: i64,
    /// What Kefu noted while receiving it (dropped files, a bounce).
    pub note: String,
    /// Received or sent.
    pub created_at: DateTime<Utc>,
}

/// A message to record.
#[derive(Debug, Clone, Default)]
pub struct NewMailMessage {
    /// `in` or `out`.
    pub direction: &'static str,
    /// `Message-ID`.
    pub message_id: String,
    /// Mailbox.
    pub mailbox_id: Option<i64>,
    /// Ticket.
    pub ticket_id: Option<i64>,
    /// Conversation entry.
    pub ticket_message_id: Option<i64>,
    /// Outcome code.
    pub outcome: &'static str,
    /// Sender.
    pub from_address: String,
    /// Sender's name.
    pub from_name: String,
    /// Reply address.
    pub reply_to: String,
    /// JSON `To`.
    pub to_addresses: String,
    /// JSON `Cc`.
    pub cc_addresses: String,
    /// Subject.
    pub subject: String,
    /// Thread ids.
    pub thread_ids: String,
    /// Automatic kind.
    pub automatic: Option<String>,
    /// Cleaned HTML.
    pub html: Option<String>,
    /// Remote images.
    pub remote_images: bool,
    /// JSON Content-ID → attachment id.
    pub inline_files: String,
    /// Raw digest.
    pub raw_sha256: String,
    /// Raw size.
    pub raw_size: i64,
    /// Note.
    pub note: String,
}

const MESSAGE_COLUMNS: &str = "id, direction, message_id, mailbox_id, ticket_id, ticket_message_id, outcome, \
     from_address, from_name, reply_to, to_addresses, cc_addresses, subject, thread_ids, automatic, html, remote_images, \
     inline_files, raw_sha256, raw_size, note, created_at";

/// Records a message; a second incoming message with the same id is
/// refused as `Duplicate("message_id")`.
pub async fn insert_message(conn: &mut Conn<'_>, m: &NewMailMessage) -> Result<i64, StoreError> {
    let now = crate::now();
    let id = on_conn!(conn, |c| {
        sqlx::query_scalar(
        "INSERT INTO mail_messages (direction, message_id, mailbox_id, ticket_id, ticket_message_id, outcome, \
         from_address, from_name, to_addresses, cc_addresses, subject, thread_ids, automatic, html, remote_images, \
         inline_files, raw_sha256, raw_size, note, created_at, reply_to) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) RETURNING id"
    )
    .bind(m.direction)
    .bind(&m.message_id)
    .bind(m.mailbox_id)
    .bind(m.ticket_id)
    .bind(m.ticket_message_id)
    .bind(m.outcome)
    .bind(&m.from_address)
    .bind(&m.from_name)
    .bind(&m.to_addresses)
    .bind(&m.cc_addresses)
    .bind(&m.subject)
    .bind(&m.thread_ids)
    .bind(&m.automatic)
    .bind(&m.html)
    .bind(m.remote_images)
    .bind(&m.inline_files)
    .bind(&m.raw_sha256)
    .bind(m.raw_size)
    .bind(&m.note)
    .bind(now)
    .bind(&m.reply_to)
    .fetch_one(c)
    .await
    .map_err(|e| StoreError::from(e).on_unique("message_id"))?
    });
    Ok(id)
}

/// One recorded message.
pub async fn message(conn: &mut Conn<'_>, id: i64) -> Result<MailMessage, StoreError> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM mail_messages WHERE id = $1");
    let row: Option<MailMessage> = on_conn!(conn, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(c)
        .await?);
    row.ok_or(StoreError::NotFound)
}

/// The incoming message with this `Message-ID`, if it was received.
pub async fn received(
    conn: &mut Conn<'_>,
    message_id: &str,
) -> Result<Option<MailMessage>, StoreError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM mail_messages WHERE message_id = $1 AND direction = 'in'"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(message_id)
        .fetch_optional(c)
        .await?))
}

/// The tickets of recorded messages (either direction) with these ids,
/// as `(message_id, ticket_id)`.
pub async fn tickets_of(
    conn: &mut Conn<'_>,
    message_ids: &[String],
) -> Result<Vec<(String, i64)>, StoreError> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = (1..=message_ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT message_id, ticket_id FROM mail_messages WHERE ticket_id IS NOT NULL AND message_id IN ({marks})"
    );
    on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in message_ids {
            q = q.bind(id);
        }
        Ok(q.fetch_all(c).await?)
    })
}

/// The messages of a ticket, oldest first.
pub async fn for_ticket(
    conn: &mut Conn<'_>,
    ticket_id: i64,
) -> Result<Vec<MailMessage>, StoreError> {
    let sql =
        format!("SELECT {MESSAGE_COLUMNS} FROM mail_messages WHERE ticket_id = $1 ORDER BY id");
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(ticket_id)
        .fetch_all(c)
        .await?))
}

/// Whether `address` wrote to, or was copied on, mail of `ticket_id`.
pub async fn took_part(
    conn: &mut Conn<'_>,
    ticket_id: i64,
    address: &str,
) -> Result<bool, StoreError> {
    let quoted = format!(
        "%\"address\":\"{}\"%",
        address.replace(['%', '_', '"', '\\'], "")
    );
    let found: Option<i64> = on_conn!(conn, |c| {
        sqlx::query_scalar(
        "SELECT id FROM mail_messages WHERE ticket_id = $1 AND (from_address = $2 OR cc_addresses LIKE $3 \
         OR to_addresses LIKE $3) LIMIT 1"
    )
    .bind(ticket_id)
    .bind(address)
    .bind(quoted)
    .fetch_optional(c)
    .await?
    });
    Ok(found.is_some())
}

/// Points the inline images of message `id` at their attachments.
pub async fn set_inline_files(conn: &mut Conn<'_>, id: i64, json: &str) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("UPDATE mail_messages SET inline_files = $1 WHERE id = $2")
            .bind(json)
            .bind(id)
            .execute(c)
            .await?;
    });
    Ok(())
}

/// A message held back, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Quarantined {
    /// Id.
    pub id: i64,
    /// The mailbox it came to.
    pub mailbox_id: Option<i64>,
    /// Why it was held back.
    pub reason: String,
    /// The sender, when readable.
    pub from_address: String,
    /// The subject, when readable.
    pub subject: String,
    /// SHA-256 of the raw source.
    pub raw_sha256: String,
    /// Size of the raw source.
    pub raw_size: i64,
    /// Received.
    pub created_at: DateTime<Utc>,
}

/// Holds a message back.
pub async fn quarantine(
    conn: &mut Conn<'_>,
    mailbox_id: Option<i64>,
    reason: &str,
    from_address: &str,
    subject: &str,
    raw_sha256: &str,
    raw_size: i64,
) -> Result<i64, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_scalar(
        "INSERT INTO mail_quarantine (mailbox_id, reason, from_address, subject, raw_sha256, raw_size, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
    )
    .bind(mailbox_id)
    .bind(reason)
    .bind(from_address)
    .bind(subject)
    .bind(raw_sha256)
    .bind(raw_size)
    .bind(now)
    .fetch_one(c)
    .await?)
    })
}

/// The quarantine, newest first.
pub async fn quarantined(conn: &mut Conn<'_>, limit: i64) -> Result<Vec<Quarantined>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT id, mailbox_id, reason, from_address, subject, raw_sha256, raw_size, created_at \
         FROM mail_quarantine ORDER BY id DESC LIMIT $1"
    )
    .bind(limit)
    .fetch_all(c)
    .await?))
}

/// One held-back message.
pub async fn quarantined_one(conn: &mut Conn<'_>, id: i64) -> Result<Quarantined, StoreError> {
    let row: Option<Quarantined> = on_conn!(conn, |c| {
        sqlx::query_as(
        "SELECT id, mailbox_id, reason, from_address, subject, raw_sha256, raw_size, created_at \
         FROM mail_quarantine WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(c)
    .await?
    });
    row.ok_or(StoreError::NotFound)
}

/// Removes a message from the quarantine.
pub async fn release(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let deleted = on_conn!(conn, |c| sqlx::query(
        "DELETE FROM mail_quarantine WHERE id = $1"
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

/// Where a message sits on an IMAP server: mailbox, folder, the folder's
/// `UIDVALIDITY` and the message's UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUid {
    /// The mailbox read.
    pub mailbox_id: i64,
    /// The folder read.
    pub folder: String,
    /// The folder's `UIDVALIDITY` (UIDs are unique under it).
    pub uid_validity: i64,
    /// The message's UID.
    pub uid: i64,
}

/// Records that the message at `at` was taken in (inside the
/// transaction that keeps it); a second record is a no-op.
pub async fn record_uid(conn: &mut Conn<'_>, at: &ImapUid) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query(
            "INSERT INTO imap_uids (mailbox_id, folder, uid_validity, uid) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(at.mailbox_id)
        .bind(&at.folder)
        .bind(at.uid_validity)
        .bind(at.uid)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Of `uids` in one folder, those already taken in.
pub async fn known_uids(
    conn: &mut Conn<'_>,
    mailbox_id: i64,
    folder: &str,
    uid_validity: i64,
    uids: &[i64],
) -> Result<Vec<i64>, StoreError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let marks = (4..uids.len() + 4)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT uid FROM imap_uids WHERE mailbox_id = $1 AND folder = $2 AND uid_validity = $3 \
         AND uid IN ({marks})"
    );
    on_conn!(conn, |c| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(mailbox_id)
            .bind(folder)
            .bind(uid_validity);
        for uid in uids {
            q = q.bind(uid);
        }
        Ok(q.fetch_all(c).await?)
    })
}
