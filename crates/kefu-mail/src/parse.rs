//! Turning raw RFC 5322 bytes into what a work order needs: who wrote,
//! to whom, about what, the text (for search and display), the cleaned
//! HTML, the files, and the headers that thread it and mark it automatic.
//!
//! Decoding (nested multipart, quoted-printable, base64, RFC 2047 words,
//! RFC 2231 file names, GB2312/GBK/GB18030/Big5/ISO-2022-JP/ISO-8859-x)
//! is mail-parser's; what is added here is the recovery for headers sent
//! as raw 8-bit bytes in a legacy charset, which mail-parser reads as
//! UTF-8 and would leave as replacement characters.

use crate::noise::{self, Automatic, Bounce};
use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders, PartType};
use std::borrow::Cow;

/// The largest message accepted, in bytes (larger ones are quarantined).
pub const MAX_MESSAGE_BYTES: usize = 50 * 1024 * 1024;

/// The longest subject kept; longer ones are cut on a character boundary.
pub const SUBJECT_MAX_CHARS: usize = 200;

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing that looks like a message.
    #[error("the data is not an email message")]
    NotAMessage,
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("the message is larger than {} MB", MAX_MESSAGE_BYTES / 1024 / 1024)]
    TooLarge,
    /// No sender address to answer.
    #[error("the message has no sender address (From)")]
    NoSender,
}

/// One address with its display name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mailbox {
    /// Display name, possibly empty.
    pub name: String,
    /// The address, lower-cased.
    pub address: String,
}

/// A file carried by a message (attachments, inline images, attached
/// messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Decoded file name (a made-up one when the message gave none).
    pub file_name: String,
    /// The declared MIME type, lower-cased.
    pub content_type: String,
    /// `Content-ID` without angle brackets, for `cid:` references.
    pub content_id: Option<String>,
    /// Shown in place in the body rather than listed.
    pub inline: bool,
    /// The decoded bytes.
    pub bytes: Vec<u8>,
}

/// A message as Kefu keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// `Message-ID` without angle brackets; a stable digest of the raw
    /// bytes when the message has none, so that it is still received once.
    pub message_id: String,
    /// Whether [`Mail::message_id`] came from the message itself.
    pub has_message_id: bool,
    /// `In-Reply-To` ids.
    pub in_reply_to: Vec<String>,
    /// `References` ids, oldest first.
    pub references: Vec<String>,
    /// Decoded subject, trimmed.
    pub subject: String,
    /// The sender (`From`).
    pub from: Mailbox,
    /// Where replies go (`Reply-To`, else `From`).
    pub reply_to: Mailbox,
    /// `To` recipients.
    pub to: Vec<Mailbox>,
    /// `Cc` recipients.
    pub cc: Vec<Mailbox>,
    /// `Date`, when present and readable.
    pub date: Option<DateTime<Utc>>,
    /// The text: the plain-text bodies, or the HTML's text when there is
    /// only HTML.
    pub text: String,
    /// The HTML bodies, cleaned ([`crate::clean::html`]); `None` when the
    /// message has no HTML.
    pub html: Option<String>,
    /// The HTML refers to images on other servers (shown only on request).
    pub remote_images: bool,
    /// Files, inline images first in message order.
    pub attachments: Vec<Attachment>,
    /// Sent by a machine (auto-reply, list, bulk): never answered
    /// automatically.
    pub automatic: Option<Automatic>,
    /// A delivery status notification about a message Kefu sent.
    pub bounce: Option<Bounce>,
    /// Marked as spam by a filter upstream (`X-Spam-Flag: YES` and kin).
    pub spam: bool,
}

/// Reads `raw`; see the module documentation.
pub fn parse(raw: &[u8]) -> Result<Mail, ParseError> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(ParseError::TooLarge);
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::NotAMessage)?;
    if message.headers().is_empty() {
        return Err(ParseError::NotAMessage);
    }
    let header_end = (message.root_part().offset_body as usize).min(raw.len());
    if std::str::from_utf8(&raw[..header_end]).is_ok() {
        return read(message, raw);
    }
    // Headers sent as raw 8-bit bytes in a legacy charset: mail-parser
    // would read them as UTF-8 and keep replacement characters, so the
    // header block is transcoded from the message's charset (or GB18030,
    // the most common one of the mail Kefu receives) and read again.
    let encoding = legacy_charset(&message).unwrap_or(encoding_rs::GB18030);
    drop(message);
    let (headers, _, _) = encoding.decode(&raw[..header_end]);
    let mut fixed = Vec::with_capacity(raw.len() + headers.len());
    fixed.extend_from_slice(headers.as_bytes());
    fixed.extend_from_slice(&raw[header_end..]);
    let message = MessageParser::default()
        .parse(&fixed)
        .ok_or(ParseError::NotAMessage)?;
    read(message, raw)
}

/// Builds the [`Mail`] from a parsed message; `raw` is the message as
/// received (for the fallback id).
fn read(message: mail_parser::Message<'_>, raw: &[u8]) -> Result<Mail, ParseError> {
    let from = first_mailbox(message.from())
        .or_else(|| first_mailbox(message.sender()))
        .ok_or(ParseError::NoSender)?;
    let reply_to = first_mailbox(message.reply_to()).unwrap_or_else(|| from.clone());
    let (message_id, has_message_id) = match message.message_id().map(clean_id) {
        Some(id) if !id.is_empty() => (id, true),
        _ => (digest_id(raw), false),
    };
    let subject = cut(
        collapse_space(message.subject().unwrap_or_default()).trim(),
        SUBJECT_MAX_CHARS,
    );

    let mut text = String::new();
    for i in 0..message.text_body_count() {
        if let Some(part) = message.body_text(i) {
            push_paragraph(&mut text, &part);
        }
    }
    let mut html_source = String::new();
    for part in message.html_bodies() {
        if let PartType::Html(h) = &part.body {
            html_source.push_str(h);
        }
    }
    let (html, remote_images) = if html_source.trim().is_empty() {
        (None, false)
    } else {
        let cleaned = crate::clean::html(&html_source);
        (Some(cleaned.html), cleaned.remote_images)
    };

    let mut attachments = Vec::new();
    let mut bounce_parts = noise::ReportParts::default();
    for (n, part) in message.attachments().enumerate() {
        let content_type = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(sub) => format!("{}/{}", c.ctype(), sub),
                None => c.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".into())
            .to_ascii_lowercase();
        let bytes: Cow<'_, [u8]> = match &part.body {
            PartType::Message(inner) => Cow::Borrowed(inner.raw_message()),
            PartType::Text(t) | PartType::Html(t) => Cow::Borrowed(t.as_bytes()),
            PartType::Binary(b) | PartType::InlineBinary(b) => Cow::Borrowed(b.as_ref()),
            PartType::Multipart(_) => continue,
        };
        bounce_parts.look_at(&content_type, &bytes);
        let content_id = part.content_id().map(clean_id).filter(|c| !c.is_empty());
        let inline = matches!(part.body, PartType::InlineBinary(_))
            || (content_id.is_some()
                && part
                    .content_disposition()
                    .is_none_or(|d| !d.is_attachment()));
        let file_name = part
            .attachment_name()
            .map(safe_file_name)
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| made_up_name(n + 1, &content_type));
        attachments.push(Attachment {
            file_name,
            content_type,
            content_id,
            inline,
            bytes: bytes.into_owned(),
        });
    }
    let header = |name: &'static str| message.header_raw(name).map(str::trim);
    let headers = noise::Headers {
        auto_submitted: header("Auto-Submitted"),
        precedence: header("Precedence"),
        x_autoreply: header("X-Autoreply").or(header("X-Autorespond")),
        x_auto_response_suppress: header("X-Auto-Response-Suppress"),
        list_id: header("List-Id").or(header("List-Unsubscribe")),
        return_path: header("Return-Path"),
        from: &from.address,
        report_type: message
            .root_part()
            .content_type()
            .filter(|c| {
                c.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
            })
            .and_then(|c| c.attribute("report-type")),
        spam_flag: header("X-Spam-Flag").or(header("X-Spam-Status")),
    };
    let automatic = noise::automatic(&headers);
    let bounce = noise::bounce(&headers, &bounce_parts);
    let spam = noise::is_spam(&headers);
    Ok(Mail {
        message_id,
        has_message_id,
        in_reply_to: id_list(message.in_reply_to()),
        references: id_list(message.references()),
        subject,
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        from,
        reply_to,
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        text: text.trim_end().to_owned(),
        html,
        remote_images,
        attachments,
        automatic,
        bounce,
        spam,
    })
}

/// `<id@host>` → `id@host`.
pub fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<String> = match value {
        HeaderValue::Text(t) => vec![clean_id(t)],
        HeaderValue::TextList(list) => list.iter().map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().filter(|i| !i.is_empty()).collect()
}

/// An id for a message that has none: the digest of its bytes, so the
/// same message delivered twice is still recognised.
fn digest_id(raw: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(raw);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@no-message-id.kefu")
}

/// The charset a message's raw 8-bit headers are probably in: the first
/// declared charset that is not UTF-8.
fn legacy_charset(message: &mail_parser::Message<'_>) -> Option<&'static encoding_rs::Encoding> {
    message
        .parts
        .iter()
        .filter_map(|p| p.content_type())
        .filter_map(|c| c.attribute("charset"))
        .filter_map(|cs| encoding_rs::Encoding::for_label(cs.trim().as_bytes()))
        .find(|e| *e != encoding_rs::UTF_8)
}

fn mailbox_of(addr: &mail_parser::Addr<'_>) -> Option<Mailbox> {
    let address = addr.address()?.trim().to_lowercase();
    if address.is_empty() || !address.contains('@') {
        return None;
    }
    let name = addr.name().unwrap_or_default();
    Some(Mailbox {
        name: collapse_space(name.trim().trim_matches('"').trim()),
        address,
    })
}

fn first_mailbox(address: Option<&Address<'_>>) -> Option<Mailbox> {
    address?.iter().find_map(mailbox_of)
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    address
        .map(|a| a.iter().filter_map(mailbox_of).collect())
        .unwrap_or_default()
}

fn collapse_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn push_paragraph(text: &mut String, part: &str) {
    if !text.is_empty() && !part.trim().is_empty() {
        text.push_str("\n\n");
    }
    // Line endings as people's editors keep them.
    text.push_str(&part.replace("\r\n", "\n"));
}

/// A file name safe to offer for download: no directories, no control
/// characters, at most 200 characters.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    cut(&cleaned, 200)
}

fn made_up_name(n: usize, content_type: &str) -> String {
    let ext = match content_type {
        "message/rfc822" | "message/global" => "eml",
        "message/delivery-status" | "text/plain" => "txt",
        "text/rfc822-headers" => "txt",
        "text/html" => "html",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    format!("attachment-{n}.{ext}")
}
