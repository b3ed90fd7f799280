//! The email channel (邮件渠道): mailboxes an admin sets up, and mail
//! received into them becoming work orders or replies on them, exactly
//! once.
//!
//! A message is received in one transaction, which on SQLite it shares
//! with the messages arriving beside it (a group commit, each under a
//! savepoint of its own, so one that fails fails alone): its raw source is kept by
//! content (evidence), it is threaded onto its ticket (by the ids it
//! answers, else the `[#n]` tag of a participant, else a new ticket),
//! its sender is found or created through the one identity lookup, its
//! files are attached, and it is recorded under its `Message-ID`, whose
//! unique index makes a second delivery of the same message a no-op. A
//! message that cannot be read, or a sender over the rate, goes to the
//! quarantine with the reason; nothing blocks the mailbox. Machines'
//! mail (auto-replies, lists, bounces) is recorded but never answered.

use crate::attachments::{self, StagedFile};
use crate::audit::record_change;
use crate::customers::{ContactInput, NewCustomer, create_customer_in, identify};
use crate::tickets::{NewTicket, StatusChange, append_message, change_status_in, create_in_tx};
use crate::{App, AppError, Caller};
use kefu_domain::Permission;
use kefu_domain::audit::{Action, Actor, Source};
use kefu_domain::customer::ContactKind;
use kefu_domain::email::{self as rules, MailboxDraft};
use kefu_domain::ticket::{self as ticket_rules, MessageKind, Status};
use kefu_mail::noise::Automatic;
use kefu_mail::{Mail, thread};
use kefu_store::mail::{
    self as store, ImapUid, Mailbox, MailboxFields, NewMailMessage, Quarantined,
};
use kefu_store::tickets::{self as ticket_store, Author};
use kefu_store::{Tx, throttle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

/// A mailbox as an admin enters it.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxInput {
    /// Name shown to agents.
    pub name: String,
    /// The support address.
    pub address: String,
    /// Team new work orders go to.
    #[serde(default)]
    pub team_id: Option<i64>,
    /// Type of new work orders (`inquiry` when empty).
    #[serde(default)]
    pub ticket_type: String,
    /// `zh-CN` (default) or `en`: new customers' language.
    #[serde(default)]
    pub language: String,
    /// IMAP server; empty when mail arrives only through the endpoint.
    #[serde(default)]
    pub imap_host: String,
    /// IMAP port (993).
    #[serde(default)]
    pub imap_port: Option<i64>,
    /// `tls` (default), `starttls` or `none`.
    #[serde(default)]
    pub imap_security: String,
    /// IMAP user name.
    #[serde(default)]
    pub imap_user: String,
    /// IMAP password; left as it is when omitted.
    #[serde(default)]
    pub imap_password: Option<String>,
    /// IMAP folder (`INBOX`).
    #[serde(default)]
    pub imap_folder: String,
    /// Whether mail is taken in (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// SMTP server replies go out through; empty when this mailbox sends nothing.
    #[serde(default)]
    pub smtp_host: String,
    /// SMTP port (587).
    #[serde(default)]
    pub smtp_port: Option<i64>,
    /// `starttls` (default), `tls` or `none`.
    #[serde(default)]
    pub smtp_security: String,
    /// SMTP user name (empty: no authentication).
    #[serde(default)]
    pub smtp_user: String,
    /// SMTP password; left as it is when omitted.
    #[serde(default)]
    pub smtp_password: Option<String>,
    /// The version read, for a change (optimistic locking).
    #[serde(default)]
    pub version: Option<i64>,
}

/// A mailbox with its token, shown once (on creation or a new token).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MailboxWithToken {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// The token the raw-message endpoint takes as `Authorization:
    /// Bearer …`; only its hash is kept.
    pub token: String,
}

/// What became of one received message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Receipt {
    /// `created` (a new ticket), `appended` (a reply on one), `automatic`
    /// (a machine's message noted on its ticket), `bounce`, `spam` (a new
    /// ticket in the spam folder), `ignored` (recorded only), `duplicate`
    /// (received before) or `quarantined`.
    pub outcome: String,
    /// The ticket, if any.
    pub ticket_id: Option<i64>,
    /// The recorded message.
    pub mail_id: Option<i64>,
    /// The quarantine entry, when held back.
    pub quarantine_id: Option<i64>,
    /// Why it was held back or recorded only.
    pub reason: Option<String>,
}

impl Receipt {
    fn of(outcome: &str, ticket_id: Option<i64>, mail_id: Option<i64>) -> Receipt {
        Receipt {
            outcome: outcome.to_owned(),
            ticket_id,
            mail_id,
            quarantine_id: None,
            reason: None,
        }
    }
}

fn token_hash(token: &str) -> String {
    kefu_domain::hex(&Sha256::digest(token.trim().as_bytes()))
}

fn new_token() -> String {
    let bytes: [u8; 24] = rand::random();
    format!("mbx_{}", kefu_domain::hex(&bytes))
}

fn fields_of(input: &MailboxInput) -> Result<MailboxFields, AppError> {
    let checked = rules::check_mailbox(&MailboxDraft {
        name: &input.name,
        address: &input.address,
        ticket_type: &input.ticket_type,
        language: &input.language,
        imap_host: &input.imap_host,
        imap_port: input.imap_port.unwrap_or(993),
        imap_security: if input.imap_security.trim().is_empty() {
            "tls"
        } else {
            &input.imap_security
        },
        imap_user: &input.imap_user,
        imap_folder: &input.imap_folder,
        smtp_host: &input.smtp_host,
        smtp_port: input.smtp_port.unwrap_or(587),
        smtp_security: if input.smtp_security.trim().is_empty() {
            "starttls"
        } else {
            &input.smtp_security
        },
        smtp_user: &input.smtp_user,
    })?;
    Ok(MailboxFields {
        name: checked.name,
        address: checked.address,
        team_id: input.team_id,
        ticket_type: checked.ticket_type.as_str().to_owned(),
        language: checked.language,
        imap_host: checked.imap_host,
        imap_port: checked.imap_port,
        imap_security: checked.imap_security.as_str().to_owned(),
        imap_user: checked.imap_user,
        imap_folder: checked.imap_folder,
        active: input.active.unwrap_or(true),
        smtp_host: checked.smtp_host,
        smtp_port: checked.smtp_port,
        smtp_security: checked.smtp_security.as_str().to_owned(),
        smtp_user: checked.smtp_user,
    })
}

async fn check_team(tx: &mut Tx, team_id: Option<i64>) -> Result<(), AppError> {
    if let Some(team) = team_id
        && kefu_store::teams::get(&mut tx.conn(), team).await.is_err()
    {
        return Err(AppError::invalid(
            "team_id",
            format!("team {team} does not exist"),
        ));
    }
    Ok(())
}

/// What the audit log keeps of a mailbox (never secrets).
fn audited(m: &Mailbox) -> serde_json::Value {
    serde_json::to_value(m).unwrap_or_default()
}

/// Every mailbox (admins).
pub async fn mailboxes(app: &App, caller: &Caller) -> Result<Vec<Mailbox>, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut reader = app.store.read().await?;
    Ok(store::mailboxes(&mut reader.conn()).await?)
}

/// One mailbox (admins).
pub async fn mailbox(app: &App, caller: &Caller, id: i64) -> Result<Mailbox, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut reader = app.store.read().await?;
    Ok(store::mailbox(&mut reader.conn(), id).await?)
}

/// Adds a mailbox and answers its token, shown this once.
pub async fn create_mailbox(
    app: &App,
    caller: &Caller,
    input: MailboxInput,
) -> Result<MailboxWithToken, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let fields = fields_of(&input)?;
    let token = new_token();
    let mut tx = app.store.write().await?;
    check_team(&mut tx, fields.team_id).await?;
    let password = input.imap_password.as_deref().unwrap_or_default();
    let mailbox = store::insert_mailbox(
        &mut tx.conn(),
        &fields,
        &token_hash(&token),
        password,
        input.smtp_password.as_deref().unwrap_or_default(),
    )
    .await?;
    record_change(
        &mut tx,
        caller,
        "mailbox",
        mailbox.id,
        Action::Create,
        &(),
        &audited(&mailbox),
    )
    .await?;
    tx.commit().await?;
    Ok(MailboxWithToken { mailbox, token })
}

/// Changes a mailbox at the version read.
pub async fn update_mailbox(
    app: &App,
    caller: &Caller,
    id: i64,
    input: MailboxInput,
) -> Result<Mailbox, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let fields = fields_of(&input)?;
    let Some(version) = input.version else {
        return Err(AppError::invalid(
            "version",
            "must be given when changing a mailbox",
        ));
    };
    let mut tx = app.store.write().await?;
    check_team(&mut tx, fields.team_id).await?;
    let before = store::mailbox(&mut tx.conn(), id).await?;
    let password = input.imap_password.as_deref().filter(|p| !p.is_empty());
    let smtp_password = input.smtp_password.as_deref().filter(|p| !p.is_empty());
    let after = store::update_mailbox(
        &mut tx.conn(),
        id,
        version,
        &fields,
        None,
        password,
        smtp_password,
    )
    .await?;
    let mut new = audited(&after);
    if password.is_some() {
        new["imap_password"] = "changed".into();
    }
    if smtp_password.is_some() {
        new["smtp_password"] = "changed".into();
    }
    record_change(
        &mut tx,
        caller,
        "mailbox",
        id,
        Action::Update,
        &audited(&before),
        &new,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Gives a mailbox a new token; the old one stops working at once.
pub async fn renew_token(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<MailboxWithToken, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let token = new_token();
    let mut tx = app.store.write().await?;
    let mailbox = store::set_token_hash(&mut tx.conn(), id, &token_hash(&token)).await?;
    record_change(
        &mut tx,
        caller,
        "mailbox",
        id,
        Action::Update,
        &serde_json::json!({"token": "old"}),
        &serde_json::json!({"token": "renewed"}),
    )
    .await?;
    tx.commit().await?;
    Ok(MailboxWithToken { mailbox, token })
}

/// Deletes a mailbox; its mail stays on its tickets.
pub async fn delete_mailbox(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut tx = app.store.write().await?;
    let before = store::mailbox(&mut tx.conn(), id).await?;
    store::delete_mailbox(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "mailbox",
        id,
        Action::Delete,
        &audited(&before),
        &(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Receives a raw message for the mailbox holding `token` (the endpoint
/// MTA pipes and mail providers post to).
pub async fn receive_with_token(app: &App, token: &str, raw: &[u8]) -> Result<Receipt, AppError> {
    let mailbox = {
        let mut reader = app.store.read().await?;
        store::mailbox_by_token(&mut reader.conn(), &token_hash(token)).await?
    };
    let Some(mailbox) = mailbox else {
        return Err(AppError::Unauthenticated);
    };
    if !mailbox.active {
        return Err(AppError::invalid(
            "mailbox",
            "this mailbox is switched off; switch it on under Settings → Email",
        ));
    }
    receive(app, &mailbox, raw).await
}

/// Kefu itself receiving mail, recorded as the email channel.
fn channel_caller() -> Caller {
    Caller {
        source: Source::Email,
        ..Caller::system("email")
    }
}

/// Receives one raw message into `mailbox`; see the module documentation.
pub async fn receive(app: &App, mailbox: &Mailbox, raw: &[u8]) -> Result<Receipt, AppError> {
    receive_from(app, mailbox, raw, None).await
}

/// [`receive`] for a message read from an IMAP folder at `imap`: the
/// UID is recorded in the transaction that keeps the message.
pub(crate) async fn receive_from(
    app: &App,
    mailbox: &Mailbox,
    raw: &[u8],
    imap: Option<&ImapUid>,
) -> Result<Receipt, AppError> {
    let mail = match kefu_mail::parse(raw) {
        Ok(mail) => mail,
        Err(e) => {
            let reason = e.to_string();
            return hold_back(app, Some(mailbox.id), &reason, "", "", raw, imap).await;
        }
    };
    {
        let mut reader = app.store.read().await?;
        if let Some(seen) = store::received(&mut reader.conn(), &mail.message_id).await? {
            return Ok(Receipt::of("duplicate", seen.ticket_id, Some(seen.id)));
        }
    }
    let message_id = mail.message_id.clone();
    let (from, subject) = (mail.from.address.clone(), mail.subject.clone());
    let mut mail = Some(mail);
    // A unique key taken by a concurrent transaction (the same new
    // sender in two messages at once, on PostgreSQL) fails the write
    // before anything is kept: written again, the message finds the row.
    for _ in 0..3 {
        let parsed = match mail.take() {
            Some(parsed) => parsed,
            None => kefu_mail::parse(raw).map_err(|e| AppError::Internal(e.to_string()))?,
        };
        let mut delivery = deliver(app, mailbox, parsed, raw).await?;
        delivery.imap = imap.cloned();
        match app.mail_writer.write(delivery).await {
            Ok(written) => {
                if let Some((caller, ticket, kind)) = written.event {
                    app.events.ticket(&caller, ticket, kind).await;
                }
                return Ok(written.receipt);
            }
            Err(AppError::Duplicate { field }) => {
                let mut reader = app.store.read().await?;
                if let Some(seen) = store::received(&mut reader.conn(), &message_id).await? {
                    // Another delivery of the same message committed first.
                    return Ok(Receipt::of("duplicate", seen.ticket_id, Some(seen.id)));
                }
                tracing::info!(
                    field,
                    "a received message met a concurrent write; writing it again"
                );
            }
            Err(AppError::RateLimited) => {
                return hold_back(
                    app,
                    Some(mailbox.id),
                    "the sender sent too many messages in a short time",
                    &from,
                    &subject,
                    raw,
                    imap,
                )
                .await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(AppError::Unavailable(
        "the message met concurrent writes three times; deliver it again".into(),
    ))
}

/// Keeps a message in the quarantine with the reason.
async fn hold_back(
    app: &App,
    mailbox_id: Option<i64>,
    reason: &str,
    from: &str,
    subject: &str,
    raw: &[u8],
    imap: Option<&ImapUid>,
) -> Result<Receipt, AppError> {
    let placed = attachments::place_bytes(app, raw).await?;
    let (sha, size) = (placed.sha256().to_owned(), placed.size());
    let mut tx = app.store.write().await?;
    attachments::record_bytes(&mut tx, &placed).await?;
    if let Some(at) = imap {
        store::record_uid(&mut tx.conn(), at).await?;
    }
    let id = store::quarantine(
        &mut tx.conn(),
        mailbox_id,
        reason,
        from,
        subject,
        &sha,
        size,
    )
    .await?;
    record_change(
        &mut tx,
        &channel_caller(),
        "mail_quarantine",
        id,
        Action::Create,
        &(),
        &serde_json::json!({"reason": reason, "from": from, "subject": subject, "size": size}),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(reason, from, "mail held in the quarantine");
    Ok(Receipt {
        outcome: "quarantined".into(),
        ticket_id: None,
        mail_id: None,
        quarantine_id: Some(id),
        reason: Some(reason.to_owned()),
    })
}

/// Counts one message against its sender's rate.
async fn take_turn(tx: &mut Tx, sender: &str) -> Result<(), AppError> {
    let key = format!("mail:sender:{sender}");
    let now = kefu_store::now();
    let state = throttle::get(&mut tx.conn(), &key).await?;
    if rules::SENDER_RATE.is_locked(state.as_ref(), now) {
        return Err(AppError::RateLimited);
    }
    let next = rules::SENDER_RATE.record_failure(state, now);
    throttle::put(&mut tx.conn(), &key, &next).await?;
    Ok(())
}

/// The ticket a message continues, if any: a message it answers (newest
/// reference first), one of Kefu's own ids, or the subject's `[#n]` tag
/// when the sender took part in that ticket.
async fn thread_of(
    tx: &mut Tx,
    mailbox: &Mailbox,
    mail: &Mail,
    sender_customer: Option<i64>,
) -> Result<Option<i64>, AppError> {
    let mut ids: Vec<String> = mail.in_reply_to.clone();
    ids.extend(mail.references.iter().rev().cloned());
    let known = store::tickets_of(&mut tx.conn(), &ids).await?;
    let domain = mailbox.address.rsplit('@').next().unwrap_or_default();
    for id in &ids {
        if let Some((_, ticket)) = known.iter().find(|(m, _)| m == id) {
            return Ok(Some(*ticket));
        }
        if let Some(ticket) = thread::ticket_of_message_id(id, domain)
            && ticket_store::get(&mut tx.conn(), ticket).await.is_ok()
        {
            return Ok(Some(ticket));
        }
    }
    if let Some(number) = thread::ticket_tag(&mail.subject)
        && let Ok(ticket) = ticket_store::get(&mut tx.conn(), number).await
    {
        let own = sender_customer.is_some() && ticket.customer_id == sender_customer;
        if own || store::took_part(&mut tx.conn(), ticket.id, &mail.from.address).await? {
            return Ok(Some(ticket.id));
        }
    }
    Ok(None)
}

/// The customer behind an address, created when new.
async fn customer_for(
    tx: &mut Tx,
    caller: &Caller,
    address: &kefu_mail::Mailbox,
    language: &str,
) -> Result<i64, AppError> {
    if let Some(id) = identify(&mut tx.conn(), ContactKind::Email, &address.address).await? {
        return Ok(id);
    }
    let name = if address.name.trim().is_empty() {
        address
            .address
            .split('@')
            .next()
            .unwrap_or("customer")
            .to_owned()
    } else {
        address.name.chars().take(100).collect()
    };
    let input = NewCustomer {
        name,
        language: Some(language.to_owned()),
        contact_points: vec![ContactInput {
            kind: "email".into(),
            value: address.address.clone(),
            label: String::new(),
        }],
        ..NewCustomer::default()
    };
    create_customer_in(tx, caller, &input).await
}

/// The message's files within the size limit, staged; notes on the ones
/// dropped.
async fn stage_files(
    app: &App,
    mail: &Mail,
) -> Result<(Vec<(Option<String>, StagedFile)>, Vec<String>), AppError> {
    let limit = app.attachments.max_mb.saturating_mul(1024 * 1024);
    let mut staged = Vec::new();
    let mut dropped = Vec::new();
    for file in &mail.attachments {
        if file.bytes.len() as u64 > limit {
            dropped.push(format!(
                "{} ({} KB, over the {} MB limit)",
                file.file_name,
                file.bytes.len() / 1024,
                app.attachments.max_mb
            ));
            continue;
        }
        if file.bytes.is_empty() || staged.len() >= attachments::MAX_FILES {
            if !file.bytes.is_empty() {
                dropped.push(format!(
                    "{} (more than {} files)",
                    file.file_name,
                    attachments::MAX_FILES
                ));
            }
            continue;
        }
        let s = attachments::stage_bytes(app, "file", &file.file_name, &file.bytes).await?;
        staged.push((file.content_id.clone(), s));
    }
    Ok((staged, dropped))
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn addresses_json(list: &[kefu_mail::Mailbox]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// A parsed message ready to be written, its raw source and files
/// already placed by content: the disk's waits happen before the writer
/// is taken (an orphaned file is all a crash in between can leave).
pub(crate) struct Delivery {
    mailbox: Mailbox,
    mail: Mail,
    raw: attachments::PlacedBytes,
    /// The files within the limits, with their `Content-ID`s.
    files: Vec<(Option<String>, attachments::PlacedFile)>,
    /// Notes on the files left out.
    dropped: Vec<String>,
    /// Where it was read on an IMAP server, if it was.
    imap: Option<ImapUid>,
}

/// A message written, and the ticket event to send once it is durable.
pub(crate) struct Written {
    receipt: Receipt,
    event: Option<(Caller, i64, crate::events::EventKind)>,
}

async fn deliver(
    app: &App,
    mailbox: &Mailbox,
    mail: Mail,
    raw: &[u8],
) -> Result<Delivery, AppError> {
    let (staged, dropped) = stage_files(app, &mail).await?;
    let raw = attachments::place_bytes(app, raw).await?;
    let mut files = Vec::with_capacity(staged.len());
    for (cid, file) in staged {
        files.push((cid, attachments::place_file(app, file).await?));
    }
    Ok(Delivery {
        mailbox: mailbox.clone(),
        mail,
        raw,
        files,
        dropped,
        imap: None,
    })
}

/// Writes one message inside `tx` (which the writer commits): threads
/// it, finds or creates its sender, opens or continues its ticket.
async fn ingest(tx: &mut Tx, delivery: Delivery) -> Result<Written, AppError> {
    let Delivery {
        mailbox,
        mail,
        raw: raw_placed,
        files,
        dropped,
        imap,
    } = delivery;
    let (mailbox, mail) = (&mailbox, &mail);
    let kefu = channel_caller();
    if store::received(&mut tx.conn(), &mail.message_id)
        .await?
        .is_some()
    {
        return Err(AppError::Duplicate {
            field: "message_id".into(),
        });
    }
    take_turn(tx, &mail.from.address).await?;
    if let Some(at) = &imap {
        store::record_uid(&mut tx.conn(), at).await?;
    }
    attachments::record_bytes(tx, &raw_placed).await?;
    let (raw_sha256, raw_size) = (raw_placed.sha256().to_owned(), raw_placed.size());
    let mut thread_ids: Vec<String> = mail.references.clone();
    for id in &mail.in_reply_to {
        if !thread_ids.contains(id) {
            thread_ids.push(id.clone());
        }
    }
    let mut record = NewMailMessage {
        direction: "in",
        message_id: mail.message_id.clone(),
        mailbox_id: Some(mailbox.id),
        outcome: "ignored",
        from_address: mail.from.address.clone(),
        from_name: mail.from.name.clone(),
        reply_to: mail.reply_to.address.clone(),
        to_addresses: addresses_json(&mail.to),
        cc_addresses: addresses_json(&mail.cc),
        subject: mail.subject.clone(),
        thread_ids: thread::references(&thread_ids, Some(&mail.message_id)).join(" "),
        automatic: mail.automatic.map(|a| a.as_str().to_owned()),
        html: mail.html.clone(),
        remote_images: mail.remote_images,
        inline_files: "{}".into(),
        raw_sha256,
        raw_size,
        note: dropped
            .iter()
            .map(|d| format!("dropped: {d}"))
            .collect::<Vec<_>>()
            .join("\n"),
        ..NewMailMessage::default()
    };

    if let Some(bounce) = &mail.bounce {
        let ids: Vec<String> = bounce.original_message_id.iter().cloned().collect();
        let mut ticket = store::tickets_of(&mut tx.conn(), &ids)
            .await?
            .first()
            .map(|(_, t)| *t);
        let domain = mailbox.address.rsplit('@').next().unwrap_or_default();
        if ticket.is_none() {
            ticket = ids
                .first()
                .and_then(|id| thread::ticket_of_message_id(id, domain));
            if let Some(t) = ticket
                && ticket_store::get(&mut tx.conn(), t).await.is_err()
            {
                ticket = None;
            }
        }
        let note = format!(
            "邮件投递失败 / Delivery failed: {} — {} {}",
            bounce.recipients.join(", "),
            bounce.status,
            bounce.diagnostic
        );
        record.note = note.clone();
        if let Some(ticket) = ticket {
            let message =
                append_message(tx, &kefu, ticket, MessageKind::Note, Author::System, note).await?;
            record.ticket_id = Some(ticket);
            record.ticket_message_id = Some(message.id);
            record.outcome = "bounce";
        } else {
            ignore(&mut record, "no ticket sent the message that bounced");
        }
        return finish(tx, record, serde_json::Map::new(), &kefu).await;
    }

    let sender = customer_for(tx, &kefu, &mail.from, &mailbox.language).await?;
    let customer = Caller {
        actor: Actor::Customer(sender),
        ..kefu.clone()
    };
    let mut ticket = thread_of(tx, mailbox, mail, Some(sender)).await?;
    // A merged ticket's mail belongs to the ticket it was merged into.
    for _ in 0..10 {
        let Some(id) = ticket else { break };
        let row = ticket_store::get(&mut tx.conn(), id).await?;
        match (row.status, row.merged_into_id) {
            (Status::Merged, Some(into)) => ticket = Some(into),
            _ => break,
        }
    }
    let machine = matches!(
        mail.automatic,
        Some(Automatic::AutoReply | Automatic::AutoGenerated | Automatic::MailSystem)
    );
    if machine {
        if let Some(id) = ticket {
            let note = format!(
                "收到自动回复 / Automatic reply received from {}: {}\n\n{}",
                mail.from.address,
                mail.subject,
                cut(&mail.text, 2000)
            );
            let message =
                append_message(tx, &kefu, id, MessageKind::Note, Author::System, note).await?;
            record.ticket_id = Some(id);
            record.ticket_message_id = Some(message.id);
            record.outcome = "automatic";
        } else {
            ignore(&mut record, "an automatic message that answers no ticket");
        }
        return finish(tx, record, serde_json::Map::new(), &kefu).await;
    }

    let body = cut(&mail.text, ticket_rules::BODY_MAX);
    let body = if body.trim().is_empty() && files.is_empty() {
        "（空邮件 / empty message）".to_owned()
    } else {
        body
    };
    // A reply to a ticket that can take no more (closed, or resolved
    // beyond the reopen window) opens a new one, related to the old.
    let mut follow_up_of = None;
    if let Some(id) = ticket {
        let row = ticket_store::get(&mut tx.conn(), id).await?;
        let reopen_days = ticket_store::settings(&mut tx.conn()).await?.reopen_days;
        if ticket_rules::status_after_customer_reply(
            row.status,
            row.resolved_at,
            reopen_days,
            kefu_store::now(),
        )
        .is_err()
        {
            follow_up_of = Some(id);
            ticket = None;
        }
    }
    let (cids, files): (Vec<Option<String>>, Vec<attachments::PlacedFile>) =
        files.into_iter().unzip();
    let stored = match ticket {
        Some(id) => {
            let message = append_message(
                tx,
                &customer,
                id,
                MessageKind::Reply,
                Author::Customer(sender),
                body,
            )
            .await?;
            let stored = attachments::record_files(
                tx,
                &customer,
                id,
                Some(message.id),
                Author::Customer(sender),
                files,
            )
            .await?;
            record.ticket_id = Some(id);
            record.ticket_message_id = Some(message.id);
            record.outcome = "appended";
            stored
        }
        None => {
            let subject = if mail.subject.is_empty() {
                "（无主题）(no subject)".to_owned()
            } else {
                cut(&mail.subject, ticket_rules::SUBJECT_MAX)
            };
            let input = NewTicket {
                subject,
                description: Some(body),
                ticket_type: Some(mailbox.ticket_type.clone()),
                channel: Some("email".into()),
                customer_id: Some(sender),
                team_id: mailbox.team_id,
                ..NewTicket::default()
            };
            let view = create_in_tx(tx, &customer, &input).await?;
            let id = view.ticket.id;
            if let Some(old) = follow_up_of
                && ticket_store::link(&mut tx.conn(), id, old).await?
            {
                record_change(
                    tx,
                    &kefu,
                    "ticket",
                    id,
                    Action::Update,
                    &serde_json::json!({"related": null}),
                    &serde_json::json!({"related": old}),
                )
                .await?;
            }
            record.ticket_id = Some(id);
            if mail.spam {
                change_status_in(
                    tx,
                    &kefu,
                    id,
                    &StatusChange {
                        version: view.ticket.version,
                        status: Status::Spam.as_str().to_owned(),
                        reason: Some("marked as spam by the mail filter (X-Spam-Flag)".into()),
                        ..StatusChange::default()
                    },
                )
                .await?;
                record.outcome = "spam";
            } else {
                record.outcome = "created";
                if mail.automatic.is_none() {
                    let language = kefu_store::customers::get(&mut tx.conn(), sender)
                        .await?
                        .language;
                    let name = if mail.from.name.is_empty() {
                        mail.from.address.clone()
                    } else {
                        mail.from.name.clone()
                    };
                    let (subject, text) = rules::acknowledgement(
                        &language,
                        &name,
                        &view.ticket.subject,
                        &view.number,
                    );
                    crate::mail_out::queue(
                        tx,
                        &kefu_store::outbox::NewOutgoing {
                            to: &mail.reply_to.address,
                            subject: &subject,
                            body: &text,
                            ticket_id: Some(id),
                            mailbox_id: Some(mailbox.id),
                            in_reply_to: &mail.message_id,
                            references: &record.thread_ids,
                            automatic: true,
                            ..Default::default()
                        },
                    )
                    .await?;
                }
            }
            attachments::record_files(tx, &customer, id, None, Author::Customer(sender), files)
                .await?
        }
    };
    if !dropped.is_empty()
        && let Some(ticket) = record.ticket_id
    {
        let note = format!(
            "未保存的附件 / Attachments not kept:\n{}",
            dropped.join("\n")
        );
        append_message(tx, &kefu, ticket, MessageKind::Note, Author::System, note).await?;
    }
    // Files are stored in the order they were given.
    let inline: serde_json::Map<String, serde_json::Value> = cids
        .into_iter()
        .zip(stored.iter())
        .filter_map(|(cid, a)| cid.map(|c| (c, serde_json::Value::from(a.id))))
        .collect();
    finish(tx, record, inline, &customer).await
}

fn ignore(record: &mut NewMailMessage, reason: &str) {
    record.outcome = "ignored";
    if !record.note.is_empty() {
        record.note.push('\n');
    }
    record.note.push_str(reason);
}

/// Records the message and audits it; the writer commits.
async fn finish(
    tx: &mut Tx,
    mut record: NewMailMessage,
    inline: serde_json::Map<String, serde_json::Value>,
    caller: &Caller,
) -> Result<Written, AppError> {
    record.inline_files = serde_json::Value::Object(inline).to_string();
    let mail_id = store::insert_message(&mut tx.conn(), &record).await?;
    record_change(
        tx,
        caller,
        "mail_message",
        mail_id,
        Action::Create,
        &(),
        &serde_json::json!({
            "direction": "in",
            "message_id": record.message_id,
            "ticket_id": record.ticket_id,
            "outcome": record.outcome,
            "from": record.from_address,
            "subject": record.subject,
            "raw_sha256": record.raw_sha256,
        }),
    )
    .await?;
    let event = record.ticket_id.map(|ticket| {
        let kind = if record.outcome == "created" || record.outcome == "spam" {
            crate::events::EventKind::Created
        } else {
            crate::events::EventKind::Changed
        };
        (caller.clone(), ticket, kind)
    });
    let mut receipt = Receipt::of(record.outcome, record.ticket_id, Some(mail_id));
    if record.outcome == "ignored" {
        receipt.reason = Some(record.note);
    }
    Ok(Written { receipt, event })
}

/// Messages written in one transaction at most (the rest wait for the next).
const MAX_BATCH: usize = 32;

/// One message waiting for the writer.
struct Job {
    delivery: Delivery,
    reply: oneshot::Sender<Result<Written, AppError>>,
}

/// The queue to the task that writes received mail in group commits on
/// SQLite (one writer at a time there): the messages waiting are written in one transaction, each under a
/// savepoint of its own (a message that fails leaves no trace and fails
/// alone), and share one durable commit; each is answered only after
/// that commit, so a success still means durable.
#[derive(Clone, Debug)]
pub(crate) struct MailWriter {
    sender: mpsc::Sender<Job>,
    /// On PostgreSQL, which takes many writers at once, each message is
    /// written in its own transaction by the task that received it:
    /// one writer there would queue work the server can do side by side.
    direct: Option<kefu_store::Store>,
}

impl MailWriter {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(store: kefu_store::Store) -> MailWriter {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        let direct = (store.backend() == kefu_store::Backend::Postgres).then(|| store.clone());
        tokio::spawn(write_mail(store, receiver));
        MailWriter { sender, direct }
    }

    /// Writes `delivery` in the next group commit; answers once it is
    /// durable (or failed).
    async fn write(&self, delivery: Delivery) -> Result<Written, AppError> {
        if let Some(store) = &self.direct {
            return write_batch(store, vec![delivery])
                .await?
                .pop()
                .unwrap_or_else(|| Err(AppError::Internal("a message was not written".into())));
        }
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { delivery, reply })
            .await
            .map_err(|_| AppError::Internal("the mail writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| AppError::Internal("the mail writer dropped a message".into()))?
    }
}

/// The writer: takes the first waiting message and every one queued
/// behind it and writes them in one transaction.
async fn write_mail(store: kefu_store::Store, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let batch = crate::creation::with_waiting(first, &mut receiver, MAX_BATCH);
        let (deliveries, replies): (Vec<Delivery>, Vec<_>) =
            batch.into_iter().map(|j| (j.delivery, j.reply)).unzip();
        let count = deliveries.len();
        match write_batch(&store, deliveries).await {
            Ok(outcomes) => {
                for (outcome, reply) in outcomes.into_iter().zip(replies) {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, count, "a group commit of received mail failed");
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Writes every delivery, each under its own savepoint, and commits.
/// Err means nothing of the batch was kept.
async fn write_batch(
    store: &kefu_store::Store,
    deliveries: Vec<Delivery>,
) -> Result<Vec<Result<Written, AppError>>, AppError> {
    let mut tx = store.write().await?;
    // Receiving mail changes no configuration.
    tx.pin_config_stamp().await?;
    let shared = deliveries.len() > 1;
    let mut outcomes: Vec<Result<Written, AppError>> = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        if shared {
            // The piece before was kept (else its savepoint is gone).
            match outcomes.last() {
                Some(Ok(_)) => tx.next_savepoint().await?,
                _ => tx.savepoint().await?,
            }
        }
        let outcome = ingest(&mut tx, delivery).await;
        if shared && outcome.is_err() {
            tx.undo_to_savepoint().await?;
        }
        outcomes.push(outcome);
    }
    if shared && matches!(outcomes.last(), Some(Ok(_))) {
        tx.keep_savepoint().await?;
    }
    if outcomes.iter().any(Result::is_ok) {
        tx.commit().await?;
    }
    Ok(outcomes)
}

/// The quarantine, newest first (admins).
pub async fn quarantine(app: &App, caller: &Caller) -> Result<Vec<Quarantined>, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mut reader = app.store.read().await?;
    Ok(store::quarantined(&mut reader.conn(), 500).await?)
}

/// A held-back message's raw source (admins), to look at or download.
pub async fn quarantined_source(app: &App, caller: &Caller, id: i64) -> Result<Vec<u8>, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let entry = {
        let mut reader = app.store.read().await?;
        store::quarantined_one(&mut reader.conn(), id).await?
    };
    attachments::bytes_of(app, &entry.raw_sha256).await
}

/// Takes a held-back message in again (after the rate passed, or once a
/// reader can read it); it leaves the quarantine when it is received.
pub async fn retry_quarantined(app: &App, caller: &Caller, id: i64) -> Result<Receipt, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let entry = {
        let mut reader = app.store.read().await?;
        store::quarantined_one(&mut reader.conn(), id).await?
    };
    let raw = attachments::bytes_of(app, &entry.raw_sha256).await?;
    let mailbox = match entry.mailbox_id {
        Some(m) => {
            let mut reader = app.store.read().await?;
            store::mailbox(&mut reader.conn(), m).await.ok()
        }
        None => None,
    };
    let Some(mailbox) = mailbox else {
        return Err(AppError::invalid(
            "mailbox",
            "the mailbox this message came to no longer exists",
        ));
    };
    let receipt = receive(app, &mailbox, &raw).await?;
    if receipt.outcome == "quarantined" {
        // Still held: keep only the newer entry, with its current reason.
        discard_entry(app, caller, id, "retried").await?;
    } else {
        discard_entry(app, caller, id, &receipt.outcome).await?;
    }
    Ok(receipt)
}

/// Deletes a held-back message (admins); its raw source stays as
/// evidence in the file store.
pub async fn discard_quarantined(app: &App, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageIntegrations)?;
    discard_entry(app, caller, id, "discarded").await
}

async fn discard_entry(app: &App, caller: &Caller, id: i64, why: &str) -> Result<(), AppError> {
    let mut tx = app.store.write().await?;
    let before = store::quarantined_one(&mut tx.conn(), id).await?;
    store::release(&mut tx.conn(), id).await?;
    record_change(
        &mut tx,
        caller,
        "mail_quarantine",
        id,
        Action::Delete,
        &before,
        &serde_json::json!({"released": why}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The mail of a ticket, oldest first (anyone who may see tickets).
pub async fn ticket_mail(
    app: &App,
    caller: &Caller,
    ticket_id: i64,
) -> Result<Vec<store::MailMessage>, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    ticket_store::get(&mut reader.conn(), ticket_id).await?;
    Ok(store::for_ticket(&mut reader.conn(), ticket_id).await?)
}

/// One message's cleaned HTML, its inline images pointed at
/// `attachment_url(id)`; `None` when the message had no HTML.
pub async fn message_html(
    app: &App,
    caller: &Caller,
    mail_id: i64,
    attachment_url: impl Fn(i64) -> String,
) -> Result<(store::MailMessage, Option<String>), AppError> {
    caller.require(Permission::ViewTickets)?;
    let message = {
        let mut reader = app.store.read().await?;
        store::message(&mut reader.conn(), mail_id).await?
    };
    let inline: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&message.inline_files).unwrap_or_default();
    let html = message.html.as_deref().map(|h| {
        kefu_mail::clean::resolve_cid(h, |cid| {
            inline
                .get(cid)
                .and_then(|v| v.as_i64())
                .map(&attachment_url)
        })
    });
    Ok((message, html))
}

/// One message's raw source as received (evidence), for anyone who may
/// see tickets.
pub async fn message_source(
    app: &App,
    caller: &Caller,
    mail_id: i64,
) -> Result<(store::MailMessage, Vec<u8>), AppError> {
    caller.require(Permission::ViewTickets)?;
    let message = {
        let mut reader = app.store.read().await?;
        store::message(&mut reader.conn(), mail_id).await?
    };
    let raw = attachments::bytes_of(app, &message.raw_sha256).await?;
    Ok((message, raw))
}

/// How reaching a mailbox's servers went.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConnectionTest {
    /// `ok` or `failed` for IMAP; absent when the mailbox has no IMAP server.
    pub imap: Option<String>,
    /// What the IMAP server said, or the error.
    pub imap_detail: String,
    /// `ok` or `failed` for SMTP; absent when the mailbox has no SMTP server.
    pub smtp: Option<String>,
    /// What went wrong with SMTP, if anything.
    pub smtp_detail: String,
}

/// Signs in to the mailbox's IMAP server and greets its SMTP server,
/// taking and sending nothing (admins' "test connection").
pub async fn test_connection(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<ConnectionTest, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mailbox = {
        let mut reader = app.store.read().await?;
        store::mailbox(&mut reader.conn(), id).await?
    };
    let mut test = ConnectionTest {
        imap: None,
        imap_detail: String::new(),
        smtp: None,
        smtp_detail: String::new(),
    };
    if !mailbox.imap_host.is_empty() {
        match crate::imap::test(&mailbox).await {
            Ok(detail) => {
                test.imap = Some("ok".into());
                test.imap_detail = detail;
            }
            Err(e) => {
                test.imap = Some("failed".into());
                test.imap_detail = e;
            }
        }
    }
    if !mailbox.smtp_host.is_empty() {
        match crate::mail_out::test(&mailbox).await {
            Ok(()) => test.smtp = Some("ok".into()),
            Err(e) => {
                test.smtp = Some("failed".into());
                test.smtp_detail = e;
            }
        }
    }
    Ok(test)
}

/// Reads a mailbox's IMAP server now (admins' "check now").
pub async fn check_now(
    app: &App,
    caller: &Caller,
    id: i64,
) -> Result<crate::imap::PassReport, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let mailbox = {
        let mut reader = app.store.read().await?;
        store::mailbox(&mut reader.conn(), id).await?
    };
    if mailbox.imap_host.is_empty() {
        return Err(AppError::invalid(
            "imap_host",
            "this mailbox has no IMAP server",
        ));
    }
    crate::imap::check_now(app, &mailbox).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod group_commit {
    use super::*;
    fn message(id: &str, from: &str, subject: &str) -> Vec<u8> {
        format!(
            "From: {from}\r\nTo: help@example.com\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
             Date: Thu, 03 Dec 2026 08:00:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             宽带无法上网，请尽快处理。\r\n"
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn a_message_that_fails_in_a_group_commit_fails_alone() {
        let (store, path) = crate::test_support::fresh_store("mail-batch").await;
        let files = path.with_extension("files");
        let app = App::start(
            store.clone(),
            attachments::AttachmentSettings::on_disk(files.clone(), 5),
        )
        .await
        .unwrap();
        let admin = Caller::system("test");
        let mailbox = create_mailbox(
            &app,
            &admin,
            MailboxInput {
                name: "客服".into(),
                address: "help@example.com".into(),
                ..MailboxInput::default()
            },
        )
        .await
        .unwrap()
        .mailbox;
        let raws = [
            message("one@example.com", "王芳 <wang@example.com>", "宽带故障"),
            // The same message again: refused as a duplicate inside the
            // transaction the first one is written in.
            message("one@example.com", "王芳 <wang@example.com>", "宽带故障"),
            // Fails half-way: its sender is created, then its ticket
            // breaks a foreign key (a team removed since).
            message("bad@example.com", "赵强 <zhao@example.com>", "坏的"),
            message(
                "two@example.com",
                "Li Lei <li@example.com>",
                "Router broken",
            ),
        ];
        let mut deliveries = Vec::new();
        for raw in &raws {
            let mail = kefu_mail::parse(raw).unwrap();
            deliveries.push(deliver(&app, &mailbox, mail, raw).await.unwrap());
        }
        deliveries[2].mailbox.team_id = Some(999_999);
        let outcomes = write_batch(&store, deliveries).await.unwrap();
        assert_eq!(outcomes.len(), 4);
        let first = outcomes[0].as_ref().unwrap();
        assert_eq!(first.receipt.outcome, "created");
        assert!(matches!(outcomes[1], Err(AppError::Duplicate { .. })));
        assert!(outcomes[2].is_err());
        let third = outcomes[3].as_ref().unwrap();
        assert_eq!(third.receipt.outcome, "created");

        let mut reader = store.read().await.unwrap();
        let all = ticket_store::search(
            &mut reader.conn(),
            &ticket_store::Filter::default(),
            ticket_store::Sort::Oldest,
            &ticket_store::After::Start,
            10,
        )
        .await
        .unwrap();
        let subjects: Vec<&str> = all.iter().map(|t| t.subject.as_str()).collect();
        assert_eq!(
            subjects,
            ["宽带故障", "Router broken"],
            "nothing of the duplicate"
        );
        assert_eq!(
            identify(&mut reader.conn(), ContactKind::Email, "zhao@example.com")
                .await
                .unwrap(),
            None,
            "the failed message's sender was undone with it"
        );
        assert!(
            store::received(&mut reader.conn(), "bad@example.com")
                .await
                .unwrap()
                .is_none()
        );
        for (outcome, id) in [(first, "one@example.com"), (third, "two@example.com")] {
            let seen = store::received(&mut reader.conn(), id)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(Some(seen.id), outcome.receipt.mail_id);
            assert_eq!(seen.ticket_id, outcome.receipt.ticket_id);
        }
        drop(reader);
        store.close().await;
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir_all(files);
    }
}
