//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps,
//! six digits), the second sign-in step agents may switch on, as phone
//! authenticator apps produce them.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per code.
pub const STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;
/// Codes one step early or late still count (clock drift, slow typing).
pub const ALLOWED_DRIFT_STEPS: i64 = 1;

/// The code for the step containing `unix_seconds`.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> u32 {
    code_for_step(secret, unix_seconds.div_euclid(STEP_SECONDS))
}

fn code_for_step(secret: &[u8], step: i64) -> u32 {
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(secret) else {
        return u32::MAX;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    binary % 10u32.pow(DIGITS)
}

/// Checks a typed code at `unix_seconds`. Returns the step it matched, to be
/// stored so the same code cannot be used twice; `None` if it does not match
/// or its step is not after `last_used_step`.
pub fn verify(
    secret: &[u8],
    typed: &str,
    unix_seconds: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = digits.parse().ok()?;
    let now = unix_seconds.div_euclid(STEP_SECONDS);
    (now - ALLOWED_DRIFT_STEPS..=now + ALLOWED_DRIFT_STEPS)
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        .find(|step| code_for_step(secret, *step) == wanted)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, as authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` address an authenticator app reads (as a QR code or
/// typed in).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let escape = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        escape(issuer),
        escape(account),
        base32(secret),
        escape(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn matches_the_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, last six of the eight digits.
        for (time, code) in [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_111_111_111, 50_471),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
        ] {
            assert_eq!(code_at(RFC_SECRET, time), code, "t = {time}");
        }
    }

    #[test]
    fn base32_matches_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn a_code_works_once_and_only_near_its_time() {
        let now = 1_800_000_000;
        let code = format!("{:06}", code_at(RFC_SECRET, now));
        let step = verify(RFC_SECRET, &code, now, None);
        assert_eq!(step, Some(now / STEP_SECONDS));
        assert_eq!(verify(RFC_SECRET, &code, now, step), None, "replayed");
        assert!(
            verify(RFC_SECRET, &code, now + 31, None).is_some(),
            "one step late is allowed"
        );
        assert_eq!(verify(RFC_SECRET, &code, now + 120, None), None);
        assert_eq!(verify(RFC_SECRET, "12345", now, None), None);
        assert_eq!(verify(RFC_SECRET, "abcdef", now, None), None);
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let uri = otpauth_uri("Kefu 客服", "wang@xinghe.example", b"foobar");
        assert!(
            uri.starts_with(
                "otpauth://totp/Kefu%20%E5%AE%A2%E6%9C%8D:wang@xinghe.example?secret=MZXW6YTBOI"
            ),
            "{uri}"
        );
    }

    proptest! {
        #[test]
        fn codes_have_six_digits_and_verify_at_their_time(secret in proptest::collection::vec(any::<u8>(), 10..40), time in 0i64..4_000_000_000) {
            let code = code_at(&secret, time);
            prop_assert!(code < 1_000_000);
            let typed = format!("{:06}", code);
            prop_assert!(verify(&secret, &typed, time, None).is_some());
        }
    }
}
