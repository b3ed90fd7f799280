//! Reading and writing the few cookies Kefu uses.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, HeaderValue};

/// The session cookie: an opaque random token; the database keeps its hash.
pub const SESSION: &str = "kefu_session";
/// A customer's portal session.
pub const PORTAL: &str = "kefu_portal";
/// The anti-forgery token of signed-out forms (double-submit cookie).
pub const ANONYMOUS_CSRF: &str = "kefu_csrf";
/// A half-finished two-step sign-in (password right, code still due).
pub const CHALLENGE: &str = "kefu_challenge";
/// The language chosen before signing in.
pub const LANGUAGE: &str = "kefu_lang";

/// The value of cookie `name` in the request, if present.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Lax always; Secure when Kefu
/// is served over HTTPS. `max_age` 0 deletes the cookie.
pub fn set(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let mut text =
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_seconds}");
    if secure {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("kefu_invalid=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookies_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; kefu_session=abc; b=2"),
        );
        assert_eq!(get(&headers, SESSION).as_deref(), Some("abc"));
        assert_eq!(get(&headers, LANGUAGE), None);
    }

    #[test]
    fn attributes_are_safe() {
        let text = set(SESSION, "t", 60, true);
        let text = text.to_str().unwrap_or_default();
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/", "Max-Age=60"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(
            !set(SESSION, "t", 60, false)
                .to_str()
                .unwrap_or_default()
                .contains("Secure")
        );
    }
}
