//! Outgoing webhooks: which events exist, how a delivery is signed, and
//! how long to wait before trying a failed one again.
//!
//! A receiver checks a delivery by computing HMAC-SHA256 over
//! `"{timestamp}.{body}"` with the webhook's secret and comparing it with
//! the `X-Kefu-Signature` header (`sha256=<hex>`); the timestamp header
//! lets it refuse old replays.

use crate::DomainError;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::str::FromStr;

code_enum!(
    /// Something a webhook can be told about.
    WebhookEvent, "event", {
        /// A ticket was created.
        TicketCreated => "ticket.created",
        /// A ticket's properties or status changed.
        TicketUpdated => "ticket.updated",
        /// A message was added to a ticket (reply, note, customer message).
        TicketMessage => "ticket.message",
        /// A ticket's SLA target turned at risk.
        SlaWarning => "sla.warning",
        /// A ticket's SLA target breached.
        SlaBreach => "sla.breach",
        /// Sent by an automation rule's action.
        Automation => "automation",
        /// A test delivery sent from the settings page.
        Ping => "ping",
    }
);

/// Most attempts of one delivery before it is marked failed.
pub const MAX_ATTEMPTS: u32 = 8;

/// The signature header's value for `body` sent at `timestamp` (Unix
/// seconds): `sha256=` and the lower-case hex HMAC-SHA256 of
/// `"{timestamp}.{body}"` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch is never taken.
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", crate::hex(&mac.finalize().into_bytes()))
}

/// Seconds to wait after failed attempt number `attempt` (1-based) before
/// the next: 10 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h — `None` when the
/// delivery has had all its attempts.
pub fn retry_delay(attempt: u32) -> Option<i64> {
    const DELAYS: [i64; 7] = [10, 60, 300, 1_800, 7_200, 21_600, 43_200];
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(0);
    DELAYS.get(index).copied()
}

/// Checks a webhook's target address: an absolute `http` or `https` URL
/// with a host and no credentials in it.
pub fn check_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let rest = if let Some(rest) = text.strip_prefix("https://") {
        rest
    } else if let Some(rest) = text.strip_prefix("http://") {
        rest
    } else {
        return Err("must start with http:// or https://".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err("names no host".into());
    }
    if authority.contains('@') {
        return Err("must not carry a user name or password; the signature authenticates".into());
    }
    if text.len() > 2000 || text.chars().any(char::is_whitespace) {
        return Err("is not a valid address".into());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_over_timestamp_and_body() {
        // Computed independently (Python's hmac module).
        assert_eq!(
            signature("s3cret", 1_700_000_000, br#"{"a":1}"#),
            "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
        assert_ne!(
            signature("s3cret", 1_700_000_000, b"x"),
            signature("s3cret", 1_700_000_001, b"x")
        );
        assert_ne!(signature("s3cret", 1, b"x"), signature("other", 1, b"x"));
        assert_eq!(signature("k", 1, b"x").len(), 7 + 64);
    }

    #[test]
    fn retries_back_off_then_stop() {
        let delays: Vec<Option<i64>> = (1..=MAX_ATTEMPTS).map(retry_delay).collect();
        assert_eq!(delays[0], Some(10));
        assert!(delays.windows(2).all(|w| match (w[0], w[1]) {
            (Some(a), Some(b)) => b > a,
            (_, None) => true,
            (None, Some(_)) => false,
        }));
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/kefu?x=1").is_ok());
        assert!(check_url(" http://127.0.0.1:9000/in ").is_ok());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("https://user:pw@host/").is_err());
        assert!(check_url("https://host/a b").is_err());
        assert_eq!(
            WebhookEvent::parse_field("events[0]", "sla.breach").ok(),
            Some(WebhookEvent::SlaBreach)
        );
    }
}
