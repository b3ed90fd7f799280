//! The email channel's rules: what a mailbox must hold to be saved, how
//! often one sender may open work by mail, and what an automatic
//! acknowledgement says.

use crate::signin::ThrottlePolicy;
use crate::ticket::TicketType;
use crate::{DomainError, validate};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

code_enum!(
    /// How a connection to a mail server (IMAP, SMTP) is protected.
    Security, "security", {
        /// TLS from the first byte (IMAP 993, SMTP 465).
        Tls => "tls",
        /// Plain connection upgraded with STARTTLS (IMAP 143, SMTP 587).
        Starttls => "starttls",
        /// No protection: only for a server on the same host.
        None => "none",
    }
);

/// Messages one sender may send in a window before the rest are held in
/// the quarantine: thirty in ten minutes, then half an hour. A person
/// never comes near it; a mail loop or a flood always does.
pub const SENDER_RATE: ThrottlePolicy = ThrottlePolicy {
    max_failures: 30,
    window: Duration::minutes(10),
    lockout: Duration::minutes(30),
};

/// A mailbox's settings as entered.
#[derive(Debug, Clone, Default)]
pub struct MailboxDraft<'a> {
    /// Name.
    pub name: &'a str,
    /// Support address.
    pub address: &'a str,
    /// Type of new tickets.
    pub ticket_type: &'a str,
    /// Language of new customers and acknowledgements.
    pub language: &'a str,
    /// IMAP host; empty when mail arrives only through the endpoint.
    pub imap_host: &'a str,
    /// IMAP port.
    pub imap_port: i64,
    /// IMAP security code.
    pub imap_security: &'a str,
    /// IMAP user.
    pub imap_user: &'a str,
    /// IMAP folder.
    pub imap_folder: &'a str,
    /// SMTP host; empty when this mailbox sends nothing.
    pub smtp_host: &'a str,
    /// SMTP port.
    pub smtp_port: i64,
    /// SMTP security code.
    pub smtp_security: &'a str,
    /// SMTP user (empty: no authentication).
    pub smtp_user: &'a str,
}

/// A mailbox's settings, checked and normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedMailbox {
    /// Name.
    pub name: String,
    /// Address, lower-case.
    pub address: String,
    /// Ticket type.
    pub ticket_type: TicketType,
    /// `zh-CN` or `en`.
    pub language: String,
    /// Host, trimmed.
    pub imap_host: String,
    /// Port.
    pub imap_port: i64,
    /// Security.
    pub imap_security: Security,
    /// User.
    pub imap_user: String,
    /// Folder (`INBOX` when empty).
    pub imap_folder: String,
    /// SMTP host, trimmed.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: i64,
    /// SMTP security.
    pub smtp_security: Security,
    /// SMTP user.
    pub smtp_user: String,
}

/// Checks a mailbox's settings; errors name the field.
pub fn check_mailbox(d: &MailboxDraft<'_>) -> Result<CheckedMailbox, DomainError> {
    let name = validate::name("name", d.name, 80)?;
    let address = validate::email("address", d.address)?;
    let ticket_type = if d.ticket_type.trim().is_empty() {
        TicketType::Inquiry
    } else {
        TicketType::parse_field("ticket_type", d.ticket_type.trim())?
    };
    let language = match d.language.trim() {
        "" | "zh-CN" => "zh-CN",
        "en" => "en",
        _ => {
            return Err(DomainError::invalid("language", "must be zh-CN or en"));
        }
    }
    .to_owned();
    let imap_host = d.imap_host.trim().to_owned();
    if imap_host.chars().any(|c| c.is_whitespace() || c == '/') || imap_host.len() > 253 {
        return Err(DomainError::invalid("imap_host", "is not a host name"));
    }
    if !(1..=65_535).contains(&d.imap_port) {
        return Err(DomainError::invalid(
            "imap_port",
            "must be between 1 and 65535",
        ));
    }
    let imap_security = Security::parse_field("imap_security", d.imap_security.trim())?;
    let imap_user = d.imap_user.trim().to_owned();
    if !imap_host.is_empty() && imap_user.is_empty() {
        return Err(DomainError::invalid(
            "imap_user",
            "must not be empty when an IMAP server is set",
        ));
    }
    let folder = d.imap_folder.trim();
    let imap_folder = if folder.is_empty() { "INBOX" } else { folder }.to_owned();
    if imap_folder.chars().count() > 200 {
        return Err(DomainError::invalid(
            "imap_folder",
            "must be at most 200 characters",
        ));
    }
    let smtp_host = d.smtp_host.trim().to_owned();
    if smtp_host.chars().any(|c| c.is_whitespace() || c == '/') || smtp_host.len() > 253 {
        return Err(DomainError::invalid("smtp_host", "is not a host name"));
    }
    if !(1..=65_535).contains(&d.smtp_port) {
        return Err(DomainError::invalid(
            "smtp_port",
            "must be between 1 and 65535",
        ));
    }
    let smtp_security = Security::parse_field("smtp_security", d.smtp_security.trim())?;
    Ok(CheckedMailbox {
        smtp_host,
        smtp_port: d.smtp_port,
        smtp_security,
        smtp_user: d.smtp_user.trim().to_owned(),
        name,
        address,
        ticket_type,
        language,
        imap_host,
        imap_port: d.imap_port,
        imap_security,
        imap_user,
        imap_folder,
    })
}

/// The subject and text of the acknowledgement for a new request by
/// mail, in the customer's language; `number` is the ticket's number.
pub fn acknowledgement(
    language: &str,
    name: &str,
    subject: &str,
    number: &str,
) -> (String, String) {
    if language == "en" {
        (
            format!("[{number}] We have received your request"),
            format!(
                "Dear {name},\n\nThank you for writing to us. Your request \"{subject}\" has been received as {number}; we will reply as soon as possible. To add to it, reply to this message and keep {number} in the subject.\n"
            ),
        )
    } else {
        (
            format!("[{number}] 我们已收到您的请求"),
            format!(
                "{name}，您好：\n\n感谢您的来信。您的请求“{subject}”已受理，工单号 {number}，我们会尽快答复您。如需补充，请直接回复本邮件并保留主题中的 {number}。\n"
            ),
        )
    }
}

/// What closes an agent's reply by email: the ticket's number and how to
/// add to it, in the customer's language.
pub fn reply_footer(language: &str, number: &str) -> String {
    if language == "en" {
        format!("\n\n--\nTicket {number}. Reply to this email to add to it.\n")
    } else {
        format!("\n\n--\n工单号 {number}。如需补充，请直接回复本邮件。\n")
    }
}

/// The subject and text telling a customer their request was resolved,
/// in their language; `resolution` is the agent's words.
pub fn resolved_notice(
    language: &str,
    name: &str,
    subject: &str,
    number: &str,
    resolution: &str,
) -> (String, String) {
    if language == "en" {
        (
            format!("[{number}] Your request has been resolved"),
            format!(
                "Dear {name},\n\nYour request \"{subject}\" ({number}) has been resolved:\n\n{resolution}\n\nIf the problem is not solved, reply to this email and we will reopen it.\n"
            ),
        )
    } else {
        (
            format!("[{number}] 您的请求已处理完毕"),
            format!(
                "{name}，您好：\n\n您的请求“{subject}”（工单号 {number}）已处理完毕：\n\n{resolution}\n\n如问题仍未解决，请直接回复本邮件，我们会重新处理。\n"
            ),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn draft() -> MailboxDraft<'static> {
        MailboxDraft {
            name: "售后支持",
            address: "Support@Example.CN",
            imap_port: 993,
            imap_security: "tls",
            smtp_port: 587,
            smtp_security: "starttls",
            ..MailboxDraft::default()
        }
    }

    #[test]
    fn a_mailbox_is_normalized() {
        let m = check_mailbox(&draft()).unwrap();
        assert_eq!(m.address, "support@example.cn");
        assert_eq!(m.ticket_type, TicketType::Inquiry);
        assert_eq!(m.language, "zh-CN");
        assert_eq!(m.imap_folder, "INBOX");
    }

    #[test]
    fn bad_settings_name_their_field() {
        let field = |d: MailboxDraft<'static>| match check_mailbox(&d) {
            Err(DomainError::Validation { field, .. }) => field,
            Ok(_) => "none".into(),
        };
        assert_eq!(
            field(MailboxDraft {
                address: "nope",
                ..draft()
            }),
            "address"
        );
        assert_eq!(
            field(MailboxDraft {
                imap_port: 0,
                ..draft()
            }),
            "imap_port"
        );
        assert_eq!(
            field(MailboxDraft {
                imap_security: "ssl3",
                ..draft()
            }),
            "imap_security"
        );
        assert_eq!(
            field(MailboxDraft {
                imap_host: "imap.example.cn",
                ..draft()
            }),
            "imap_user"
        );
        assert_eq!(
            field(MailboxDraft {
                language: "fr",
                ..draft()
            }),
            "language"
        );
        assert_eq!(
            field(MailboxDraft {
                ticket_type: "x",
                ..draft()
            }),
            "ticket_type"
        );
    }

    #[test]
    fn acknowledgements_speak_the_customers_language() {
        let (s, b) = acknowledgement("en", "Ana", "Router", "#7");
        assert!(s.contains("#7") && b.contains("Dear Ana"));
        let (s, b) = acknowledgement("zh-CN", "李雷", "断网", "#7");
        assert!(s.contains("已收到") && b.contains("李雷，您好"));
        let (s, b) = resolved_notice("en", "Ana", "Router", "#7", "Replaced the modem.");
        assert!(s.contains("resolved") && b.contains("Replaced the modem."));
        let (s, b) = resolved_notice("zh-CN", "李雷", "断网", "#7", "已更换光猫。");
        assert!(s.contains("处理完毕") && b.contains("已更换光猫。"));
        assert!(reply_footer("en", "#7").contains("Ticket #7"));
        assert!(reply_footer("zh-CN", "#7").contains("工单号 #7"));
    }
}
