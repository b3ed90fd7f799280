//! Checks on user input that every use case shares.

use crate::DomainError;

/// A display name: trimmed, not empty, at most `max_chars`, no control characters.
pub fn name(field: &str, value: &str, max_chars: usize) -> Result<String, DomainError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// An email address, lower-cased, with one `@`, a local part and a dotted domain.
pub fn email(field: &str, value: &str) -> Result<String, DomainError> {
    let lowered = value.trim().to_lowercase();
    let bad = |reason: &str| Err(DomainError::invalid(field, reason));
    if lowered.is_empty() {
        return bad("must not be empty");
    }
    if lowered.len() > 254 {
        return bad("must be at most 254 characters");
    }
    let Some((local, domain)) = lowered.split_once('@') else {
        return bad("is not an email address: it has no @");
    };
    if local.is_empty() || domain.contains('@') {
        return bad("is not an email address");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return bad("is not an email address: the domain must look like example.com");
    }
    if lowered
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
    {
        return bad("is not an email address: it contains spaces or separators");
    }
    Ok(lowered)
}

/// A language the UI is offered in.
pub fn language(field: &str, value: &str) -> Result<String, DomainError> {
    match value {
        "zh-CN" | "en" => Ok(value.to_owned()),
        _ => Err(DomainError::invalid(field, "must be one of: zh-CN, en")),
    }
}

/// An IANA time zone name such as `Asia/Shanghai` or `UTC`, one the time
/// zone database knows (so calendars and displays can resolve it).
pub fn time_zone(field: &str, value: &str) -> Result<String, DomainError> {
    zone(field, value).map(|z| z.name().to_owned())
}

/// The zone an IANA time zone name names.
pub fn zone(field: &str, value: &str) -> Result<chrono_tz::Tz, DomainError> {
    value.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        DomainError::invalid(
            field,
            "must be an IANA time zone such as Asia/Shanghai or UTC",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("name", "  一线客服 ", 10), Ok("一线客服".into()));
        assert!(name("name", "   ", 10).is_err());
        assert!(name("name", "一二三四五六七八九十一", 10).is_err());
        assert!(name("name", "a\u{7}b", 10).is_err());
        let Err(DomainError::Validation { field, .. }) = name("team.name", "", 5) else {
            panic!("empty name accepted");
        };
        assert_eq!(field, "team.name");
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            email("email", " Wang.Fang@Example.COM "),
            Ok("wang.fang@example.com".into())
        );
        for bad in [
            "",
            "no-at",
            "a@b",
            "@example.com",
            "a@@example.com",
            "a b@example.com",
            "a@example..com",
        ] {
            assert!(email("email", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn time_zones_are_ones_the_database_knows() {
        for good in [
            "Asia/Shanghai",
            "UTC",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+8",
        ] {
            assert!(time_zone("tz", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "asia/shanghai",
            "Asia//Shanghai",
            "Asia/Shang hai",
            "/UTC",
            "Mars/Olympus_Mons",
        ] {
            assert!(time_zone("tz", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn languages_are_the_two_we_ship() {
        assert!(language("language", "zh-CN").is_ok());
        assert!(language("language", "en").is_ok());
        assert!(language("language", "fr").is_err());
    }
}
