//! Reading support mailboxes over IMAP.
//!
//! Each pass signs in, selects the mailbox's folder and takes in every
//! unread message, oldest first: the message is fetched without marking
//! it read, received in one transaction ([`crate::mail::receive`]), and
//! only after that commit is it flagged `\Seen` on the server. A crash
//! between the two leaves the message unread; the next pass knows it by
//! its UID (recorded with the message, under the folder's
//! `UIDVALIDITY`) and only flags it, without fetching it again; a
//! message moved to another folder is still known by its `Message-ID`
//! (or the digest of its bytes). Nothing is lost and nothing doubled. A
//! server that cannot be reached is shown on the mailbox with the error
//! and tried again with growing pauses. Between passes the reader waits in
//! IDLE where the server offers it, so new mail arrives within a second.

use crate::mail::{Receipt, receive_from};
use crate::{App, AppError};
use async_imap::Client;
use futures_util::TryStreamExt;
use kefu_store::mail::{self as store, ImapUid, Mailbox};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How long one pass over one mailbox may take.
const PASS_LIMIT: Duration = Duration::from_secs(300);

/// How long connecting may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(20);

/// The pause between passes over a mailbox that works.
pub const POLL_EVERY: Duration = Duration::from_secs(30);

/// The longest pause after failures.
const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);

/// A connection to an IMAP server, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Plain(_) => "Stream::Plain",
            Stream::Tls(_) => "Stream::Tls",
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

async fn tls(host: &str, tcp: TcpStream) -> Result<Stream, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}: {e}"))?;
    Ok(Stream::Tls(Box::new(stream)))
}

type Session = async_imap::Session<Stream>;

/// Connects and signs in as the mailbox says.
async fn sign_in(mailbox: &Mailbox) -> Result<Session, String> {
    let host = mailbox.imap_host.as_str();
    let port = u16::try_from(mailbox.imap_port).map_err(|e| e.to_string())?;
    let tcp = tokio::time::timeout(CONNECT_LIMIT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| format!("{host}:{port} did not answer in time"))?
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    let stream = match mailbox.imap_security.as_str() {
        "tls" => tls(host, tcp).await?,
        _ => Stream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    client
        .read_response()
        .await
        .map_err(|e| format!("no greeting from {host}: {e}"))?
        .ok_or_else(|| format!("{host} closed the connection before greeting"))?;
    if mailbox.imap_security == "starttls" {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(|e| format!("STARTTLS refused by {host}: {e}"))?;
        let Stream::Plain(tcp) = client.into_inner() else {
            return Err("STARTTLS on a TLS connection".into());
        };
        client = Client::new(tls(host, tcp).await?);
    }
    client
        .login(&mailbox.imap_user, &mailbox.imap_password)
        .await
        .map_err(|(e, _)| format!("sign-in as {} refused: {e}", mailbox.imap_user))
}

/// What one pass over a mailbox did.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct PassReport {
    /// Unread messages found.
    pub unread: usize,
    /// What became of each message taken in.
    pub receipts: Vec<Receipt>,
}

/// One pass over one mailbox; errors are the server's (the database's
/// errors stop the pass too, leaving the rest unread for the next one).
pub async fn pass(app: &App, mailbox: &Mailbox) -> Result<PassReport, String> {
    tokio::time::timeout(PASS_LIMIT, pass_inner(app, mailbox))
        .await
        .map_err(|_| format!("the pass took longer than {} s", PASS_LIMIT.as_secs()))?
}

async fn pass_inner(app: &App, mailbox: &Mailbox) -> Result<PassReport, String> {
    let mut session = sign_in(mailbox).await?;
    let selected = session
        .select(&mailbox.imap_folder)
        .await
        .map_err(|e| format!("folder {}: {e}", mailbox.imap_folder))?;
    let mut unread: Vec<u32> = session
        .uid_search("UNSEEN")
        .await
        .map_err(|e| format!("search: {e}"))?
        .into_iter()
        .collect();
    unread.sort_unstable();
    let mut report = PassReport {
        unread: unread.len(),
        receipts: Vec::new(),
    };
    // A server without UIDVALIDITY cannot promise stable UIDs: then only
    // the Message-ID keeps a message from being taken in twice.
    let validity = selected.uid_validity.map(i64::from);
    let known = match validity {
        Some(v) => taken_in(app, mailbox, v, &unread)
            .await
            .map_err(|e| format!("the database: {e}"))?,
        None => Vec::new(),
    };
    for uid in unread {
        let at = validity.map(|uid_validity| ImapUid {
            mailbox_id: mailbox.id,
            folder: mailbox.imap_folder.clone(),
            uid_validity,
            uid: i64::from(uid),
        });
        if known.contains(&i64::from(uid)) {
            // Taken in before; only its flag was lost (a crash between
            // the commit and the flag).
            flag_seen(&mut session, uid).await?;
            report.receipts.push(Receipt {
                outcome: "duplicate".into(),
                ticket_id: None,
                mail_id: None,
                quarantine_id: None,
                reason: Some(format!("UID {uid} was taken in before")),
            });
            continue;
        }
        let fetched: Vec<async_imap::types::Fetch> = session
            .uid_fetch(uid.to_string(), "BODY.PEEK[]")
            .await
            .map_err(|e| format!("fetch {uid}: {e}"))?
            .try_collect()
            .await
            .map_err(|e| format!("fetch {uid}: {e}"))?;
        let Some(raw) = fetched.iter().find_map(|f| f.body()) else {
            continue;
        };
        let receipt = receive_from(app, mailbox, raw, at.as_ref())
            .await
            .map_err(|e| format!("message {uid} could not be kept: {e}"))?;
        // Only now, after the commit, is it marked read on the server.
        flag_seen(&mut session, uid).await?;
        report.receipts.push(receipt);
    }
    let _ = session.logout().await;
    Ok(report)
}

/// Of `uids`, those taken in before (a few hundred per query).
async fn taken_in(
    app: &App,
    mailbox: &Mailbox,
    uid_validity: i64,
    uids: &[u32],
) -> Result<Vec<i64>, AppError> {
    let mut reader = app.store.read().await?;
    let mut known = Vec::new();
    for chunk in uids.chunks(500) {
        let chunk: Vec<i64> = chunk.iter().map(|u| i64::from(*u)).collect();
        known.extend(
            store::known_uids(
                &mut reader.conn(),
                mailbox.id,
                &mailbox.imap_folder,
                uid_validity,
                &chunk,
            )
            .await?,
        );
    }
    Ok(known)
}

/// Marks one message read on the server.
async fn flag_seen(session: &mut Session, uid: u32) -> Result<(), String> {
    let _: Vec<_> = session
        .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
        .await
        .map_err(|e| format!("flag {uid}: {e}"))?
        .try_collect()
        .await
        .map_err(|e| format!("flag {uid}: {e}"))?;
    Ok(())
}

/// Runs a pass now and records how it went on the mailbox (the admin
/// screen shows the error).
pub async fn check_now(app: &App, mailbox: &Mailbox) -> Result<PassReport, AppError> {
    let result = pass(app, mailbox).await;
    let error = result.as_ref().err().cloned().unwrap_or_default();
    let mut tx = app.store.write().await?;
    store::record_check(&mut tx.conn(), mailbox.id, &error).await?;
    tx.commit().await?;
    match result {
        Ok(report) => Ok(report),
        Err(e) => {
            tracing::warn!(mailbox = mailbox.id, error = %e, "IMAP pass failed");
            Err(AppError::invalid("imap_host", e))
        }
    }
}

/// Signs in and selects the folder, taking nothing (the admin's "test
/// connection").
pub async fn test(mailbox: &Mailbox) -> Result<String, String> {
    let mut session = sign_in(mailbox).await?;
    let selected = session
        .select(&mailbox.imap_folder)
        .await
        .map_err(|e| format!("folder {}: {e}", mailbox.imap_folder))?;
    let _ = session.logout().await;
    Ok(format!(
        "{} messages in {}",
        selected.exists, mailbox.imap_folder
    ))
}

/// Waits on the server's IDLE until it reports a change or `limit`
/// passes; answers whether something changed. An error when the server
/// does not offer IDLE or the connection fails.
pub async fn wait_for_mail(mailbox: &Mailbox, limit: Duration) -> Result<bool, String> {
    let mut session = sign_in(mailbox).await?;
    let offers_idle = session
        .capabilities()
        .await
        .map_err(|e| format!("capabilities: {e}"))?
        .has_str("IDLE");
    if !offers_idle {
        let _ = session.logout().await;
        return Err(format!("{} does not offer IDLE", mailbox.imap_host));
    }
    session
        .select(&mailbox.imap_folder)
        .await
        .map_err(|e| format!("folder {}: {e}", mailbox.imap_folder))?;
    // Mail that arrived since the last pass would not wake the IDLE.
    let waiting = session
        .uid_search("UNSEEN")
        .await
        .map_err(|e| format!("search: {e}"))?;
    if !waiting.is_empty() {
        let _ = session.logout().await;
        return Ok(true);
    }
    let mut idle = session.idle();
    idle.init().await.map_err(|e| format!("IDLE: {e}"))?;
    let response = {
        let (wait, _interrupt) = idle.wait_with_timeout(limit);
        wait.await.map_err(|e| format!("IDLE: {e}"))?
    };
    let changed = matches!(
        response,
        async_imap::extensions::idle::IdleResponse::NewData(_)
    );
    let mut session = idle.done().await.map_err(|e| format!("IDLE: {e}"))?;
    let _ = session.logout().await;
    Ok(changed)
}

/// The longest one IDLE is held before a pass runs anyway.
const IDLE_LIMIT: Duration = Duration::from_secs(2 * 60);

/// Reads one mailbox until it is switched off or changed, or the app
/// closes: a pass, then IDLE until the server reports new mail (or
/// [`IDLE_LIMIT`]); without IDLE a pass every [`POLL_EVERY`]; after
/// failures a pause that doubles up to half an hour.
async fn watch(app: App, id: i64) {
    let mut failures: u32 = 0;
    loop {
        let mailbox = match app.store.read().await {
            Ok(mut reader) => store::mailbox(&mut reader.conn(), id).await.ok(),
            Err(_) => None,
        };
        let Some(mailbox) = mailbox.filter(|m| m.active && !m.imap_host.is_empty()) else {
            return;
        };
        if check_now(&app, &mailbox).await.is_ok() {
            failures = 0;
            if wait_for_mail(&mailbox, IDLE_LIMIT).await.is_err() {
                tokio::time::sleep(POLL_EVERY).await;
            }
        } else {
            failures = failures.saturating_add(1);
            let pause = POLL_EVERY
                .saturating_mul(2u32.saturating_pow(failures.min(10)))
                .min(BACKOFF_MAX);
            tokio::time::sleep(pause).await;
        }
    }
}

/// Reads every active IMAP mailbox in the background until the app
/// closes, one watcher per mailbox; a mailbox whose settings
/// change gets a new watcher at once.
pub fn start(app: &App) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    let mut closing = app.events.closing();
    tokio::spawn(async move {
        let mut watchers: HashMap<i64, (i64, tokio::task::JoinHandle<()>)> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = closing.changed() => {
                    // A pass stopped mid-transaction rolls back; its
                    // messages stay unread on the server.
                    for (_, (_, handle)) in watchers.drain() {
                        handle.abort();
                    }
                    return;
                }
            }
            let mailboxes = match app.store.read().await {
                Ok(mut reader) => match store::mailboxes(&mut reader.conn()).await {
                    Ok(m) => m,
                    Err(_) => continue,
                },
                Err(_) => continue,
            };
            let wanted: HashMap<i64, i64> = mailboxes
                .iter()
                .filter(|m| m.active && !m.imap_host.is_empty())
                .map(|m| (m.id, m.version))
                .collect();
            watchers.retain(|id, (version, handle)| {
                let keep = wanted.get(id) == Some(version) && !handle.is_finished();
                if !keep {
                    handle.abort();
                }
                keep
            });
            for (id, version) in wanted {
                watchers
                    .entry(id)
                    .or_insert_with(|| (version, tokio::spawn(watch(app.clone(), id))));
            }
        }
    })
}
