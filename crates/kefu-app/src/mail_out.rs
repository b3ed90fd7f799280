//! Sending mail: agents' replies on tickets that came by email, the
//! acknowledgements of new requests, and every other notification Kefu
//! writes to the outbox.
//!
//! A message is queued in the transaction that causes it (an outbox row
//! with its own `Message-ID`, and a `mail.send` job when some mailbox
//! has an SMTP server). The job worker sends it through the mailbox's
//! server with `In-Reply-To` and `References`, so the customer's client
//! threads it and their answer comes back to the same ticket; then keeps
//! the sent message's source and records it. A temporary failure is
//! tried again with growing pauses; after the last try, or at once when
//! the server refuses for good, the failure shows on the ticket.

use crate::audit::record_change;
use crate::webhooks::Outcome;
use crate::{App, AppError, Caller, attachments};
use kefu_domain::audit::{Action, Source};
use kefu_domain::email as rules;
use kefu_domain::ticket::MessageKind;
use kefu_mail::thread;
use kefu_store::Tx;
use kefu_store::jobs::Job;
use kefu_store::mail::{self as store, Mailbox, NewMailMessage};
use kefu_store::outbox::{self, NewOutgoing, OutboxMessage};
use kefu_store::tickets::Author;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// The job kind that sends one outbox message.
pub const SEND: &str = "mail.send";

/// Tries before a message counts as undeliverable (about a day with the
/// webhook backoff).
pub const MAX_ATTEMPTS: i64 = 8;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Kefu itself sending mail.
fn sender_caller() -> Caller {
    Caller {
        source: Source::Email,
        ..Caller::system("email")
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit('@').next().unwrap_or("kefu.invalid")
}

/// The mailbox a message goes out from: its own when that one sends,
/// else the installation's first sending mailbox.
async fn sending_mailbox(
    conn: &mut kefu_store::Conn<'_>,
    mailbox_id: Option<i64>,
) -> Result<Option<Mailbox>, AppError> {
    if let Some(id) = mailbox_id
        && let Ok(m) = store::mailbox(conn, id).await
        && m.active
        && !m.smtp_host.is_empty()
    {
        return Ok(Some(m));
    }
    Ok(store::sending_mailbox(conn).await?)
}

/// Queues a message inside `tx`: gives it its own `Message-ID` and, when
/// some mailbox can send, the job that sends it after the commit.
pub(crate) async fn queue(tx: &mut Tx, m: &NewOutgoing<'_>) -> Result<i64, AppError> {
    let id = outbox::push_mail(&mut tx.conn(), m).await?;
    let mailbox = sending_mailbox(&mut tx.conn(), m.mailbox_id).await?;
    let domain = mailbox
        .as_ref()
        .map(|mb| domain_of(&mb.address).to_owned())
        .unwrap_or_else(|| "kefu.invalid".into());
    let nonce: u32 = rand::random();
    let message_id = thread::message_id(
        m.ticket_id.unwrap_or(0),
        id,
        &format!("{nonce:08x}"),
        &domain,
    );
    outbox::set_message_id(&mut tx.conn(), id, &message_id).await?;
    if mailbox.is_some() {
        let payload = serde_json::json!({ "outbox_id": id }).to_string();
        kefu_store::jobs::enqueue(
            &mut tx.conn(),
            SEND,
            &payload,
            kefu_store::now(),
            MAX_ATTEMPTS,
        )
        .await?;
    }
    Ok(id)
}

/// Queues a notification (a sign-in link, a confirmation): sent by Kefu
/// itself, so marked automatic.
pub(crate) async fn notify(
    tx: &mut Tx,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<i64, AppError> {
    queue(
        tx,
        &NewOutgoing {
            to,
            subject,
            body,
            automatic: true,
            ..NewOutgoing::default()
        },
    )
    .await
}

/// Where Kefu's answer on a ticket that came by email goes: to whoever
/// wrote last (their `Reply-To`), copying those they copied, in their
/// thread. `None` for tickets without email.
struct Answer {
    to: String,
    cc: String,
    mailbox_id: Option<i64>,
    in_reply_to: String,
    references: String,
}

async fn answer_to(
    conn: &mut kefu_store::Conn<'_>,
    ticket_id: i64,
) -> Result<Option<Answer>, AppError> {
    let mail = store::for_ticket(conn, ticket_id).await?;
    answer_from(conn, &mail).await
}

/// [`answer_to`] from the ticket's mail, already read.
async fn answer_from(
    conn: &mut kefu_store::Conn<'_>,
    mail: &[kefu_store::mail::MailMessage],
) -> Result<Option<Answer>, AppError> {
    let Some(last) = mail
        .iter()
        .rev()
        .find(|m| m.direction == "in" && matches!(m.outcome.as_str(), "created" | "appended"))
    else {
        return Ok(None);
    };
    let to = if last.reply_to.is_empty() {
        last.from_address.clone()
    } else {
        last.reply_to.clone()
    };
    let own: Vec<String> = store::mailboxes(conn)
        .await?
        .into_iter()
        .map(|m| m.address)
        .collect();
    let copied: Vec<kefu_mail::Mailbox> =
        serde_json::from_str(&last.cc_addresses).unwrap_or_default();
    let cc: Vec<String> = copied
        .into_iter()
        .map(|m| m.address)
        .filter(|a| *a != to && !own.contains(a))
        .collect();
    let references: Vec<String> = last
        .thread_ids
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Ok(Some(Answer {
        to,
        cc: cc.join(", "),
        mailbox_id: last.mailbox_id,
        in_reply_to: last.message_id.clone(),
        references: thread::references(&references, Some(&last.message_id)).join(" "),
    }))
}

/// Where an agent's reply on a ticket goes by email: the address and the
/// copies the reply form offers, from the ticket's mail as
/// [`crate::mail::ticket_mail`] read it. `None` for tickets without email.
pub async fn reply_addresses(
    app: &App,
    caller: &Caller,
    mail: &[kefu_store::mail::MailMessage],
) -> Result<Option<(String, String)>, AppError> {
    caller.require(kefu_domain::Permission::ManageTickets)?;
    let mut reader = app.store.read().await?;
    Ok(answer_from(&mut reader.conn(), mail)
        .await?
        .map(|a| (a.to, a.cc)))
}

/// The language and name to address a ticket's customer with.
async fn addressee(
    tx: &mut Tx,
    customer_id: Option<i64>,
    fallback: &str,
) -> Result<(String, String), AppError> {
    match customer_id {
        Some(id) => {
            let c = kefu_store::customers::get(&mut tx.conn(), id).await?;
            Ok((c.language, c.name))
        }
        None => Ok(("zh-CN".into(), fallback.to_owned())),
    }
}

/// Queues an agent's public reply on a ticket that came by email, with
/// the footer in the customer's language; tickets without email get none.
pub(crate) async fn queue_reply(
    tx: &mut Tx,
    ticket: &kefu_store::tickets::Ticket,
    message_id: i64,
    body: &str,
    copies: Option<&[String]>,
) -> Result<Option<i64>, AppError> {
    let Some(answer) = answer_to(&mut tx.conn(), ticket.id).await? else {
        return Ok(None);
    };
    let (language, _) = addressee(tx, ticket.customer_id, &answer.to).await?;
    let number = kefu_domain::ticket::display_number(ticket.id);
    let text = format!("{body}{}", rules::reply_footer(&language, &number));
    let id = queue(
        tx,
        &NewOutgoing {
            to: &answer.to,
            subject: &thread::reply_subject(&ticket.subject, ticket.id),
            body: &text,
            ticket_id: Some(ticket.id),
            mailbox_id: answer.mailbox_id,
            cc: &copies.map_or_else(|| answer.cc.clone(), |list| list.join(", ")),
            in_reply_to: &answer.in_reply_to,
            references: &answer.references,
            automatic: false,
            // The files attached to the message go with it when it is
            // sent (they are stored after the message, in this transaction).
            ticket_message_id: Some(message_id),
            ..NewOutgoing::default()
        },
    )
    .await?;
    Ok(Some(id))
}

/// Tells the customer of a ticket that came by email that it was
/// resolved, with the resolution, in their language.
pub(crate) async fn queue_resolved(
    tx: &mut Tx,
    ticket: &kefu_store::tickets::Ticket,
) -> Result<Option<i64>, AppError> {
    let Some(answer) = answer_to(&mut tx.conn(), ticket.id).await? else {
        return Ok(None);
    };
    let (language, name) = addressee(tx, ticket.customer_id, &answer.to).await?;
    let number = kefu_domain::ticket::display_number(ticket.id);
    let (subject, text) = rules::resolved_notice(
        &language,
        &name,
        &ticket.subject,
        &number,
        &ticket.resolution,
    );
    let id = queue(
        tx,
        &NewOutgoing {
            to: &answer.to,
            subject: &subject,
            body: &text,
            ticket_id: Some(ticket.id),
            mailbox_id: answer.mailbox_id,
            in_reply_to: &answer.in_reply_to,
            references: &answer.references,
            automatic: true,
            ..NewOutgoing::default()
        },
    )
    .await?;
    Ok(Some(id))
}

/// `Auto-Submitted` (RFC 3834): keeps other systems from answering Kefu's
/// own notifications.
#[derive(Debug, Clone)]
struct AutoSubmitted(String);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// A file that goes with a message: name, content type, bytes.
type OutgoingFile = (String, String, Vec<u8>);

/// The files of the ticket message an outgoing reply carries.
async fn files_of(app: &App, row: &OutboxMessage) -> Result<Vec<OutgoingFile>, AppError> {
    let (Some(ticket), Some(message)) = (row.ticket_id, row.ticket_message_id) else {
        return Ok(Vec::new());
    };
    let listed = {
        let mut reader = app.store.read().await?;
        kefu_store::attachments::for_ticket(&mut reader.conn(), ticket).await?
    };
    let mut files = Vec::new();
    for file in listed.into_iter().filter(|a| a.message_id == Some(message)) {
        let bytes = attachments::bytes_of(app, &file.sha256).await?;
        files.push((file.file_name, file.content_type, bytes));
    }
    Ok(files)
}

/// Builds the message as it goes on the wire.
fn build(
    row: &OutboxMessage,
    mailbox: &Mailbox,
    files: Vec<OutgoingFile>,
) -> Result<Message, String> {
    let from = format!("{} <{}>", mailbox.name, mailbox.address)
        .parse()
        .or_else(|_| mailbox.address.parse())
        .map_err(|e| format!("the mailbox address {}: {e}", mailbox.address))?;
    let to = row
        .to_address
        .parse()
        .map_err(|e| format!("the recipient {}: {e}", row.to_address))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(row.subject.clone())
        .message_id(Some(format!("<{}>", row.message_id)));
    for cc in row
        .cc_addresses
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let mailbox = cc.parse().map_err(|e| format!("the copy {cc}: {e}"))?;
        builder = builder.cc(mailbox);
    }
    if !row.in_reply_to.is_empty() {
        builder = builder.in_reply_to(format!("<{}>", row.in_reply_to));
    }
    if !row.references_ids.is_empty() {
        let refs: Vec<String> = row
            .references_ids
            .split_whitespace()
            .map(|r| format!("<{r}>"))
            .collect();
        builder = builder.references(refs.join(" "));
    }
    if row.automatic {
        let kind = if row.in_reply_to.is_empty() {
            "auto-generated"
        } else {
            "auto-replied"
        };
        builder = builder.header(AutoSubmitted(kind.to_owned()));
    }
    if files.is_empty() {
        return builder
            .header(ContentType::TEXT_PLAIN)
            .body(row.body_text.clone())
            .map_err(|e| e.to_string());
    }
    let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(row.body_text.clone()));
    for (name, content_type, bytes) in files {
        let kind = ContentType::parse(&content_type)
            .or_else(|_| ContentType::parse("application/octet-stream"))
            .map_err(|e| e.to_string())?;
        parts = parts.singlepart(Attachment::new(name).body(bytes, kind));
    }
    builder.multipart(parts).map_err(|e| e.to_string())
}

fn transport(mailbox: &Mailbox) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let port = u16::try_from(mailbox.smtp_port).map_err(|e| e.to_string())?;
    let tls = match mailbox.smtp_security.as_str() {
        "none" => Tls::None,
        security => {
            let parameters =
                TlsParameters::new(mailbox.smtp_host.clone()).map_err(|e| e.to_string())?;
            if security == "tls" {
                Tls::Wrapper(parameters)
            } else {
                Tls::Required(parameters)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&mailbox.smtp_host)
        .port(port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if !mailbox.smtp_user.is_empty() {
        builder = builder.credentials(Credentials::new(
            mailbox.smtp_user.clone(),
            mailbox.smtp_password.clone(),
        ));
    }
    Ok(builder.build())
}

/// Greets the mailbox's SMTP server and signs in, sending nothing.
pub(crate) async fn test(mailbox: &Mailbox) -> Result<(), String> {
    let ok = transport(mailbox)?
        .test_connection()
        .await
        .map_err(|e| e.to_string())?;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} did not accept the connection",
            mailbox.smtp_host
        ))
    }
}

/// Sends one outbox message (the `mail.send` job); see the module
/// documentation.
pub(crate) async fn send(app: &App, job: &Job) -> Result<Outcome, AppError> {
    let payload: serde_json::Value = serde_json::from_str(&job.payload).unwrap_or_default();
    let Some(id) = payload["outbox_id"].as_i64() else {
        return Ok(Outcome::Failed("the job names no outbox message".into()));
    };
    let (row, mailbox) = {
        let mut reader = app.store.read().await?;
        let row = outbox::get(&mut reader.conn(), id).await?;
        let mailbox = sending_mailbox(&mut reader.conn(), row.mailbox_id).await?;
        (row, mailbox)
    };
    if row.state == "sent" {
        return Ok(Outcome::Done);
    }
    let Some(mailbox) = mailbox else {
        return give_up(app, &row, "no active mailbox has an SMTP server").await;
    };
    let files = files_of(app, &row).await?;
    let message = match build(&row, &mailbox, files) {
        Ok(m) => m,
        Err(e) => return give_up(app, &row, &e).await,
    };
    let raw = message.formatted();
    let sent = match transport(&mailbox) {
        Ok(t) => t
            .send_raw(message.envelope(), &raw)
            .await
            .map_err(|e| (e.is_permanent(), e.to_string())),
        Err(e) => Err((true, e)),
    };
    match sent {
        Ok(_) => {
            let placed = attachments::place_bytes(app, &raw).await?;
            let (raw_sha256, raw_size) = (placed.sha256().to_owned(), placed.size());
            let mut tx = app.store.write().await?;
            outbox::mark_sent(&mut tx.conn(), id).await?;
            attachments::record_bytes(&mut tx, &placed).await?;
            let to: Vec<kefu_mail::Mailbox> = std::iter::once(row.to_address.as_str())
                .chain(row.cc_addresses.split(',').map(str::trim))
                .filter(|a| !a.is_empty())
                .map(|a| kefu_mail::Mailbox {
                    name: String::new(),
                    address: a.to_owned(),
                })
                .collect();
            let mail_id = store::insert_message(
                &mut tx.conn(),
                &NewMailMessage {
                    direction: "out",
                    message_id: row.message_id.clone(),
                    mailbox_id: Some(mailbox.id),
                    ticket_id: row.ticket_id,
                    outcome: "sent",
                    from_address: mailbox.address.clone(),
                    from_name: mailbox.name.clone(),
                    to_addresses: serde_json::to_string(&to).unwrap_or_else(|_| "[]".into()),
                    cc_addresses: "[]".into(),
                    subject: row.subject.clone(),
                    thread_ids: row.references_ids.clone(),
                    inline_files: "{}".into(),
                    raw_sha256,
                    raw_size,
                    ..NewMailMessage::default()
                },
            )
            .await?;
            record_change(
                &mut tx,
                &sender_caller(),
                "mail_message",
                mail_id,
                Action::Create,
                &(),
                &serde_json::json!({
                    "direction": "out", "outbox_id": id, "to": row.to_address,
                    "ticket_id": row.ticket_id, "message_id": row.message_id,
                }),
            )
            .await?;
            tx.commit().await?;
            Ok(Outcome::Done)
        }
        Err((permanent, error)) if permanent || job.attempts >= job.max_attempts => {
            give_up(app, &row, &error).await
        }
        Err((_, error)) => {
            let mut tx = app.store.write().await?;
            outbox::mark_failed(&mut tx.conn(), id, &error, false).await?;
            tx.commit().await?;
            let attempt = u32::try_from(job.attempts).unwrap_or(u32::MAX);
            let after = kefu_domain::webhook::retry_delay(attempt).unwrap_or(3_600);
            Ok(Outcome::Retry(error, after))
        }
    }
}

/// Records that a message will not be sent and says so on its ticket.
async fn give_up(app: &App, row: &OutboxMessage, error: &str) -> Result<Outcome, AppError> {
    let mut tx = app.store.write().await?;
    outbox::mark_failed(&mut tx.conn(), row.id, error, true).await?;
    if let Some(ticket) = row.ticket_id {
        let note = format!(
            "邮件发送失败 / Sending failed to {}: {error}",
            row.to_address
        );
        crate::tickets::append_message(
            &mut tx,
            &sender_caller(),
            ticket,
            MessageKind::Note,
            Author::System,
            note,
        )
        .await?;
    }
    tx.commit().await?;
    tracing::warn!(outbox = row.id, error, "mail not sent");
    Ok(Outcome::Failed(error.to_owned()))
}
