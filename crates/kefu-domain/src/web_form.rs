//! The public web form's defences against robots, as pure rules: a form
//! token signed with the installation's key that must be at least a few
//! seconds and at most a day old (robots post at once or replay old
//! forms), a honeypot field people never see, and a submission rate per
//! address (see [`RATE`]).

use crate::DomainError;
use crate::signin::ThrottlePolicy;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// A person needs at least this long to fill in the form.
pub const MIN_FILL: Duration = Duration::seconds(3);

/// A form older than this must be reloaded.
pub const MAX_AGE: Duration = Duration::hours(24);

/// Submissions allowed per address and per email: five in ten minutes,
/// then ten minutes' pause.
pub const RATE: ThrottlePolicy = ThrottlePolicy {
    max_failures: 5,
    window: Duration::minutes(10),
    lockout: Duration::minutes(10),
};

/// The name of the honeypot field: hidden from people, filled by robots.
pub const HONEYPOT: &str = "website";

fn signature(key: &[u8], issued: i64) -> Option<String> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(b"kefu-web-form:");
    mac.update(issued.to_string().as_bytes());
    Some(crate::hex(&mac.finalize().into_bytes()))
}

/// A form token issued at `now`: `<unix seconds>.<HMAC-SHA1 hex>`.
pub fn issue(key: &[u8], now: DateTime<Utc>) -> String {
    let issued = now.timestamp();
    format!("{issued}.{}", signature(key, issued).unwrap_or_default())
}

/// Accepts a token this installation issued between [`MAX_AGE`] and
/// [`MIN_FILL`] before `now`.
pub fn check(key: &[u8], token: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
    let refused = || {
        DomainError::invalid(
            "form_token",
            "the form has expired or was sent too quickly; reload the page and send it again",
        )
    };
    let (issued, sent) = token.trim().split_once('.').ok_or_else(refused)?;
    let issued: i64 = issued.parse().map_err(|_| refused())?;
    let expected = signature(key, issued).ok_or_else(refused)?;
    // Compared through the MAC so timing reveals nothing.
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).map_err(|_| refused())?;
    mac.update(b"kefu-web-form:");
    mac.update(issued.to_string().as_bytes());
    let sent_bytes: Vec<u8> = (0..sent.len() / 2)
        .filter_map(|i| u8::from_str_radix(sent.get(i * 2..i * 2 + 2)?, 16).ok())
        .collect();
    if sent.len() != expected.len() || mac.verify_slice(&sent_bytes).is_err() {
        return Err(refused());
    }
    let age = now.timestamp() - issued;
    if age < MIN_FILL.num_seconds() || age > MAX_AGE.num_seconds() {
        return Err(refused());
    }
    Ok(())
}

/// Whether the honeypot was filled (a robot): the submission is thanked
/// for and dropped, so the robot learns nothing.
pub fn is_robot(honeypot: &str) -> bool {
    !honeypot.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: &[u8] = b"installation key for the tests";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn a_token_is_good_from_three_seconds_to_a_day() {
        let token = issue(KEY, at(0));
        assert!(check(KEY, &token, at(1)).is_err(), "too quick");
        assert!(check(KEY, &token, at(3)).is_ok());
        assert!(check(KEY, &token, at(24 * 3600)).is_ok());
        assert!(check(KEY, &token, at(24 * 3600 + 1)).is_err(), "too old");
    }

    #[test]
    fn forged_and_foreign_tokens_are_refused() {
        let token = issue(KEY, at(0));
        assert!(check(b"another installation", &token, at(10)).is_err());
        let (issued, sig) = token.split_once('.').unwrap_or_default();
        let moved = format!("{}.{sig}", issued.parse::<i64>().unwrap_or(0) - 100);
        assert!(check(KEY, &moved, at(10)).is_err(), "the time is signed");
        for junk in ["", ".", "abc", "1800000000.", "1800000000.zz"] {
            let refused = check(KEY, junk, at(10));
            assert!(
                matches!(&refused, Err(e) if e.to_string().starts_with("form_token:")),
                "{junk:?}: {refused:?}"
            );
        }
    }

    #[test]
    fn the_honeypot() {
        assert!(!is_robot(""));
        assert!(!is_robot("  "));
        assert!(is_robot("http://spam.example"));
    }

    #[test]
    fn the_rate_pauses_after_five() {
        let mut state = None;
        for second in 0..5 {
            assert!(!RATE.is_locked(state.as_ref(), at(second)));
            state = Some(RATE.record_failure(state, at(second)));
        }
        assert!(RATE.is_locked(state.as_ref(), at(5)));
        assert!(!RATE.is_locked(state.as_ref(), at(5 + 600)));
    }

    proptest! {
        #[test]
        fn any_issued_token_checks_within_its_window(issued in 0i64..4_000_000_000, wait in 3i64..86_400) {
            let now = DateTime::<Utc>::from_timestamp(issued, 0).unwrap_or_default();
            let token = issue(KEY, now);
            prop_assert!(check(KEY, &token, now + Duration::seconds(wait)).is_ok());
        }

        #[test]
        fn garbage_never_checks(token in ".{0,80}") {
            prop_assert!(check(KEY, &token, at(100)).is_err());
        }
    }
}
