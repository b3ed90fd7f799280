//! Files on work orders: receiving an upload without holding it in
//! memory, keeping it durably by content, and reading it back for people
//! allowed to see the ticket.
//!
//! An upload is first spooled to a temporary file while its size is
//! checked against the limit and its SHA-256 computed ([`Stager`]). The
//! use case that attaches it then, inside its transaction, either moves
//! the file to `dir/ab/cd/<sha256>` (fsynced, before the commit) or copies
//! its bytes into the database. A crash between the two leaves at most an
//! unreferenced file on disk, never a record without its bytes.

use crate::audit::record_change;
use crate::{App, AppError, Caller};
use kefu_domain::Permission;
use kefu_domain::attachment::{self as rules, Purpose};
use kefu_domain::audit::Action;
use kefu_store::Tx;
use kefu_store::attachments::{self as store, Attachment, NewAttachment};
use kefu_store::tickets::Author;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// The most files one request may carry.
pub const MAX_FILES: usize = 20;

/// Where attachment bytes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStore {
    /// Files below this directory, named by content (the default for
    /// SQLite installations; on PostgreSQL, a directory every instance shares).
    Disk(PathBuf),
    /// In the database (`attachment_blobs.content`), for PostgreSQL
    /// installations without a shared directory.
    Database,
}

/// The installation's attachment settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentSettings {
    /// Where the bytes go.
    pub store: FileStore,
    /// The largest file accepted, in MB.
    pub max_mb: u64,
    /// Where uploads are spooled while they arrive; for [`FileStore::Disk`]
    /// it must be on the same file system (it is `dir/tmp` by default).
    pub staging: PathBuf,
}

impl AttachmentSettings {
    /// Files on disk below `dir`, spooled in `dir/tmp`.
    pub fn on_disk(dir: PathBuf, max_mb: u64) -> Self {
        AttachmentSettings {
            staging: dir.join("tmp"),
            store: FileStore::Disk(dir),
            max_mb,
        }
    }

    /// Files in the database, spooled in `staging`.
    pub fn in_database(staging: PathBuf, max_mb: u64) -> Self {
        AttachmentSettings {
            store: FileStore::Database,
            max_mb,
            staging,
        }
    }

    /// The limit in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_mb.saturating_mul(1024 * 1024)
    }

    /// Starts receiving one uploaded file for form field `field`.
    pub async fn stage(&self, field: &str, file_name: &str) -> Result<Stager, AppError> {
        let staging = self.staging.clone();
        let temp = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&staging)?;
            tempfile::NamedTempFile::new_in(&staging)
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|e| AppError::Internal(format!("cannot spool an upload: {e}")))?;
        let (file, path) = temp.into_parts();
        Ok(Stager {
            file: tokio::fs::File::from_std(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            head: Vec::new(),
            limit: self.max_bytes(),
            limit_mb: self.max_mb,
            field: field.to_owned(),
            file_name: rules::clean_file_name(file_name),
        })
    }
}

/// An upload being received: bytes go to a temporary file as they come.
#[derive(Debug)]
pub struct Stager {
    file: tokio::fs::File,
    path: tempfile::TempPath,
    hasher: Sha256,
    size: u64,
    head: Vec<u8>,
    limit: u64,
    limit_mb: u64,
    field: String,
    file_name: String,
}

impl Stager {
    /// Adds the next piece; refuses once the file passes the limit (the
    /// temporary file is removed when the stager is dropped).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), AppError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(AppError::TooLarge {
                field: self.field.clone(),
                limit_mb: self.limit_mb,
            });
        }
        if self.head.len() < rules::SNIFF_BYTES {
            let take = (rules::SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| AppError::Internal(format!("cannot spool an upload: {e}")))
    }

    /// The whole file has arrived: flushes it to disk and judges its type.
    pub async fn finish(mut self) -> Result<StagedFile, AppError> {
        if self.size == 0 {
            return Err(AppError::invalid(self.field, "is an empty file"));
        }
        let io = |e: std::io::Error| AppError::Internal(format!("cannot spool an upload: {e}"));
        self.file.flush().await.map_err(io)?;
        self.file.sync_all().await.map_err(io)?;
        Ok(StagedFile {
            content_type: rules::sniff(&self.head),
            sha256: kefu_domain::hex(&self.hasher.finalize()),
            path: self.path,
            field: self.field,
            file_name: self.file_name,
            size: self.size,
        })
    }
}

/// A fully received upload, waiting to be attached.
#[derive(Debug)]
pub struct StagedFile {
    path: tempfile::TempPath,
    /// The form field it came in (`recording` marks a call recording).
    pub field: String,
    /// Cleaned file name.
    pub file_name: String,
    /// Sniffed type.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

impl StagedFile {
    /// A recording when it came in the `recording` field.
    pub fn purpose(&self) -> Purpose {
        if self.field == "recording" {
            Purpose::Recording
        } else {
            Purpose::File
        }
    }
}

/// Refuses files that cannot be attached as they are (before anything is written).
pub(crate) fn check_files(files: &[StagedFile]) -> Result<(), AppError> {
    if files.len() > MAX_FILES {
        return Err(AppError::invalid(
            "files",
            format!("at most {MAX_FILES} files at a time"),
        ));
    }
    for file in files {
        if file.purpose() == Purpose::Recording {
            rules::check_recording(&file.field, &file.content_type)?;
        }
    }
    Ok(())
}

/// Moves a spooled file to its content address below `dir`, durably.
fn place(dir: &Path, staged: tempfile::TempPath, digest: &str) -> std::io::Result<()> {
    let relative = rules::relative_path(digest)
        .ok_or_else(|| std::io::Error::other("not a SHA-256 digest"))?;
    let target = dir.join(relative);
    if target.exists() {
        return Ok(());
    }
    let parent = target
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(parent)?;
    staged.persist(&target).map_err(|e| e.error)?;
    // The rename is durable only once the directory entry is.
    std::fs::File::open(parent)?.sync_all()
}

/// Keeps `files` and records them on ticket `ticket_id` (and message
/// `message_id`), audited, inside `tx`. Call [`check_files`] first.
pub(crate) async fn store_files(
    app: &App,
    tx: &mut Tx,
    caller: &Caller,
    ticket_id: i64,
    message_id: Option<i64>,
    author: Author,
    files: Vec<StagedFile>,
) -> Result<Vec<Attachment>, AppError> {
    let mut placed = Vec::with_capacity(files.len());
    for file in files {
        placed.push(place_file(app, file).await?);
    }
    record_files(tx, caller, ticket_id, message_id, author, placed).await
}

/// A file whose bytes are kept by content, waiting for its record.
#[derive(Debug)]
pub(crate) struct PlacedFile {
    purpose: Purpose,
    file_name: String,
    content_type: String,
    size: i64,
    sha256: String,
    /// The bytes, when the installation keeps them in the database.
    bytes: Option<Vec<u8>>,
}

/// Makes a staged file's bytes durable where the installation keeps
/// them: moved to its content address on disk (fsynced), or read for the
/// database. Done before a transaction, it keeps the disk's waits out of
/// the writer's time; a crash after it leaves only an unreferenced file.
pub(crate) async fn place_file(app: &App, file: StagedFile) -> Result<PlacedFile, AppError> {
    let purpose = file.purpose();
    let size = i64::try_from(file.size).map_err(|e| AppError::Internal(e.to_string()))?;
    let bytes = match &app.attachments.store {
        FileStore::Disk(dir) => {
            let dir = dir.clone();
            let digest = file.sha256.clone();
            let path = file.path;
            tokio::task::spawn_blocking(move || place(&dir, path, &digest))
                .await
                .map_err(|e| AppError::Internal(e.to_string()))?
                .map_err(|e| AppError::Internal(format!("cannot store an attachment: {e}")))?;
            None
        }
        FileStore::Database => Some(
            tokio::fs::read(&file.path)
                .await
                .map_err(|e| AppError::Internal(format!("cannot read an upload: {e}")))?,
        ),
    };
    Ok(PlacedFile {
        purpose,
        file_name: file.file_name,
        content_type: file.content_type,
        size,
        sha256: file.sha256,
        bytes,
    })
}

/// Records a placed file's bytes (the blob row) inside `tx`.
async fn record_blob(tx: &mut Tx, file: &PlacedFile) -> Result<(), AppError> {
    store::insert_blob(
        &mut tx.conn(),
        &file.sha256,
        file.size,
        file.bytes.as_deref(),
    )
    .await?;
    Ok(())
}

/// Records placed files on ticket `ticket_id` (and message `message_id`),
/// audited, inside `tx`.
pub(crate) async fn record_files(
    tx: &mut Tx,
    caller: &Caller,
    ticket_id: i64,
    message_id: Option<i64>,
    author: Author,
    files: Vec<PlacedFile>,
) -> Result<Vec<Attachment>, AppError> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        record_blob(tx, &file).await?;
        let attachment = store::insert(
            &mut tx.conn(),
            &NewAttachment {
                ticket_id,
                message_id,
                purpose: file.purpose,
                file_name: file.file_name,
                content_type: file.content_type,
                size: file.size,
                sha256: file.sha256,
                author,
            },
        )
        .await?;
        record_change(
            tx,
            caller,
            "attachment",
            attachment.id,
            Action::Create,
            &(),
            &serde_json::json!({
                "ticket_id": ticket_id,
                "message_id": message_id,
                "purpose": file.purpose,
                "file_name": attachment.file_name,
                "content_type": attachment.content_type,
                "size": file.size,
                "sha256": attachment.sha256,
            }),
        )
        .await?;
        out.push(attachment);
    }
    Ok(out)
}

/// Spools bytes already in memory (a file carried by an email) as an
/// upload named `file_name`, sniffing its type like any upload.
pub(crate) async fn stage_bytes(
    app: &App,
    field: &str,
    file_name: &str,
    bytes: &[u8],
) -> Result<StagedFile, AppError> {
    let io = |e: std::io::Error| AppError::Internal(format!("cannot spool a file: {e}"));
    let staging = app.attachments.staging.clone();
    let owned = bytes.to_vec();
    let path = tokio::task::spawn_blocking(move || -> std::io::Result<tempfile::TempPath> {
        use std::io::Write;
        std::fs::create_dir_all(&staging)?;
        let mut file = tempfile::NamedTempFile::new_in(&staging)?;
        file.write_all(&owned)?;
        file.as_file().sync_all()?;
        Ok(file.into_temp_path())
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
    .map_err(io)?;
    Ok(StagedFile {
        content_type: rules::sniff(bytes),
        sha256: kefu_domain::hex(&Sha256::digest(bytes)),
        path,
        field: field.to_owned(),
        file_name: file_name.to_owned(),
        size: bytes.len() as u64,
    })
}

/// Bytes kept by content without being attached to anything (the raw
/// source of an email), placed before the transaction that records them.
#[derive(Debug)]
pub(crate) struct PlacedBytes(PlacedFile);

impl PlacedBytes {
    /// SHA-256, hex.
    pub(crate) fn sha256(&self) -> &str {
        &self.0.sha256
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> i64 {
        self.0.size
    }
}

/// Makes bytes durable by content, outside any transaction.
pub(crate) async fn place_bytes(app: &App, bytes: &[u8]) -> Result<PlacedBytes, AppError> {
    let staged = stage_bytes(app, "raw", "message.eml", bytes).await?;
    Ok(PlacedBytes(place_file(app, staged).await?))
}

/// Records placed bytes inside `tx`.
pub(crate) async fn record_bytes(tx: &mut Tx, bytes: &PlacedBytes) -> Result<(), AppError> {
    record_blob(tx, &bytes.0).await
}

/// The bytes kept under `sha256` by [`place_bytes`] or an attachment.
pub(crate) async fn bytes_of(app: &App, sha256: &str) -> Result<Vec<u8>, AppError> {
    match content_of(app, sha256).await? {
        Content::Bytes(b) => Ok(b),
        Content::File(path) => tokio::fs::read(&path)
            .await
            .map_err(|e| AppError::Internal(format!("cannot read {}: {e}", path.display()))),
    }
}

/// The author of what `caller` writes.
pub(crate) fn author_of(caller: &Caller) -> Author {
    match (&caller.actor, caller.agent_id) {
        (_, Some(agent)) => Author::Agent(agent),
        (kefu_domain::audit::Actor::Customer(c), None) => Author::Customer(*c),
        _ => Author::System,
    }
}

/// Attaches files to a ticket itself (documents, a call recording made
/// after the ticket was logged).
pub async fn attach(
    app: &App,
    caller: &Caller,
    ticket_id: i64,
    files: Vec<StagedFile>,
) -> Result<Vec<Attachment>, AppError> {
    caller.require(Permission::ManageTickets)?;
    if files.is_empty() {
        return Err(AppError::invalid("file", "must not be empty"));
    }
    check_files(&files)?;
    let mut tx = app.store.write().await?;
    let ticket = kefu_store::tickets::get(&mut tx.conn(), ticket_id).await?;
    let attached = store_files(
        app,
        &mut tx,
        caller,
        ticket.id,
        None,
        author_of(caller),
        files,
    )
    .await?;
    tx.commit().await?;
    app.events
        .ticket(caller, ticket_id, crate::events::EventKind::Changed)
        .await;
    Ok(attached)
}

/// A ticket's files, oldest first.
pub async fn list(app: &App, caller: &Caller, ticket_id: i64) -> Result<Vec<Attachment>, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    kefu_store::tickets::get(&mut reader.conn(), ticket_id).await?;
    Ok(store::for_ticket(&mut reader.conn(), ticket_id).await?)
}

/// Where an attachment's bytes are to be read from.
#[derive(Debug)]
pub enum Content {
    /// Kept in the database.
    Bytes(Vec<u8>),
    /// A file on disk.
    File(PathBuf),
}

/// An attachment and its bytes, for a caller allowed to see its ticket.
pub async fn open(app: &App, caller: &Caller, id: i64) -> Result<(Attachment, Content), AppError> {
    caller.require(Permission::ViewTickets)?;
    let attachment = {
        let mut reader = app.store.read().await?;
        store::get(&mut reader.conn(), id).await?
    };
    let content = content(app, &attachment).await?;
    Ok((attachment, content))
}

/// Where an attachment's bytes are: in the database when they were kept
/// there, else on disk.
pub(crate) async fn content(app: &App, attachment: &Attachment) -> Result<Content, AppError> {
    content_of(app, &attachment.sha256).await
}

/// Where the bytes with this digest are.
async fn content_of(app: &App, sha256: &str) -> Result<Content, AppError> {
    let mut reader = app.store.read().await?;
    if let Some(bytes) = store::blob_content(&mut reader.conn(), sha256).await? {
        return Ok(Content::Bytes(bytes));
    }
    let FileStore::Disk(dir) = &app.attachments.store else {
        return Err(AppError::Internal(format!(
            "file {sha256} is kept on disk but no attachment directory is configured"
        )));
    };
    let relative = rules::relative_path(sha256)
        .ok_or_else(|| AppError::Internal(format!("file {sha256}: bad digest")))?;
    Ok(Content::File(dir.join(relative)))
}
