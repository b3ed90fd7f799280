//! The customer archive's rules (客户档案): contact points and how they are
//! normalised so one person is found from any channel, classification and
//! grade codes, masking of personal data, and the completeness score.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

code_enum!(
    /// A customer's gender as they gave it.
    Gender, "gender", {
        /// Not given.
        Unknown => "unknown",
        /// Female.
        Female => "female",
        /// Male.
        Male => "male",
        /// Another answer.
        Other => "other",
    }
);

code_enum!(
    /// 客户分级: the customer's grade by value, spending and satisfaction.
    Grade, "grade", {
        /// The most valuable customers, served on the fastest line.
        Vip => "vip",
        /// Grade A.
        A => "a",
        /// Grade B.
        B => "b",
        /// Grade C, where every new customer starts.
        C => "c",
    }
);

code_enum!(
    /// 规模: the size of a customer's company, by head count.
    CompanySize, "company size", {
        /// Not known.
        Unknown => "unknown",
        /// 1–9 people.
        Micro => "micro",
        /// 10–99 people.
        Small => "small",
        /// 100–999 people.
        Medium => "medium",
        /// 1,000 people or more.
        Large => "large",
    }
);

code_enum!(
    /// The kind of a contact point: how a customer can be reached or recognised.
    ContactKind, "contact kind", {
        /// A telephone number, stored in E.164.
        Phone => "phone",
        /// An email address, stored lower-cased.
        Email => "email",
        /// A WeChat id.
        Wechat => "wechat",
        /// An id in another system (billing account, CRM).
        External => "external",
    }
);

/// The country calling code used for numbers written without one.
pub const DEFAULT_COUNTRY_CODE: &str = "86";

/// A phone number in E.164 (`+8613812345678`). Accepts the ways people
/// write Chinese numbers — `138 1234 5678`, `010-6552 9988`,
/// `+86 138…`, `0086…`, `86138…` — and other countries' numbers with a
/// leading `+` or `00`.
pub fn normalize_phone(field: &str, text: &str) -> Result<String, DomainError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    let mut digits = String::new();
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '０'..='９' => digits.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '+' if i == 0 => {}
            ' ' | '-' | '(' | ')' | '.' | '\u{3000}' | '（' | '）' | '－' => {}
            _ => {
                return Err(DomainError::invalid(
                    field,
                    format!("is not a phone number: {c:?} is not a digit"),
                ));
            }
        }
    }
    let international = trimmed.starts_with('+') || digits.starts_with("00");
    if international {
        let rest = digits
            .strip_prefix("00")
            .filter(|_| !trimmed.starts_with('+'))
            .unwrap_or(&digits);
        return international_number(field, rest);
    }
    if digits.len() == 13 && digits.starts_with("861") {
        return chinese_national(field, &digits[2..]);
    }
    chinese_national(field, &digits)
}

fn international_number(field: &str, digits: &str) -> Result<String, DomainError> {
    if let Some(national) = digits.strip_prefix(DEFAULT_COUNTRY_CODE) {
        // Some people keep the trunk 0 after +86 (`+86 010 …`).
        let national = national.strip_prefix('0').unwrap_or(national);
        let national = if national.starts_with('1') && national.len() == 11 {
            national.to_owned()
        } else {
            format!("0{national}")
        };
        return chinese_national(field, &national);
    }
    if digits.starts_with('0') || !(8..=15).contains(&digits.len()) {
        return Err(DomainError::invalid(
            field,
            "is not a phone number: after + come a country code and 7 to 14 more digits",
        ));
    }
    Ok(format!("+{digits}"))
}

/// A Chinese number written nationally: an 11-digit mobile (1xx…) or a
/// landline with its area code and trunk 0 (010-…, 0571-…).
fn chinese_national(field: &str, digits: &str) -> Result<String, DomainError> {
    let bytes = digits.as_bytes();
    if digits.len() == 11 && bytes[0] == b'1' && (b'3'..=b'9').contains(&bytes[1]) {
        return Ok(format!("+86{digits}"));
    }
    if bytes.first() == Some(&b'0') && (10..=12).contains(&digits.len()) && bytes[1] != b'0' {
        return Ok(format!("+86{}", &digits[1..]));
    }
    Err(DomainError::invalid(
        field,
        "is not a phone number: expected an 11-digit mobile number, a landline with its area code (010-65529988), or + and a country code",
    ))
}

/// A contact point's value in the one form it is stored and matched in.
pub fn normalize_contact(
    field: &str,
    kind: ContactKind,
    value: &str,
) -> Result<String, DomainError> {
    match kind {
        ContactKind::Phone => normalize_phone(field, value),
        ContactKind::Email => crate::validate::email(field, value),
        ContactKind::Wechat | ContactKind::External => {
            let value = value.trim();
            if value.is_empty() {
                return Err(DomainError::invalid(field, "must not be empty"));
            }
            if value.chars().count() > 100 {
                return Err(DomainError::invalid(
                    field,
                    "must be at most 100 characters",
                ));
            }
            if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(DomainError::invalid(
                    field,
                    "must not contain spaces or control characters",
                ));
            }
            Ok(value.to_owned())
        }
    }
}

/// How a stored contact value is shown to someone without the right to
/// see personal data: `138****5678`, `z***@example.com`, `wx***12`.
pub fn mask(kind: ContactKind, stored: &str) -> String {
    match kind {
        ContactKind::Phone => mask_phone(stored),
        ContactKind::Email => mask_email(stored),
        ContactKind::Wechat | ContactKind::External => mask_middle(stored, 2, 2),
    }
}

fn mask_phone(stored: &str) -> String {
    let national = stored.strip_prefix("+86").map(|n| {
        if n.starts_with('1') && n.len() == 11 {
            n.to_owned()
        } else {
            format!("0{n}")
        }
    });
    match national {
        Some(n) => mask_middle(&n, 3, 4),
        None => mask_middle(stored, 4, 4),
    }
}

fn mask_email(stored: &str) -> String {
    match stored.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => mask_middle(stored, 1, 0),
    }
}

fn mask_middle(text: &str, keep_start: usize, keep_end: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= keep_start + keep_end {
        return "*".repeat(chars.len().max(3));
    }
    let start: String = chars[..keep_start].iter().collect();
    let end: String = chars[chars.len() - keep_end..].iter().collect();
    format!("{start}****{end}")
}

/// How a phone number is written back to people: national form for
/// Chinese numbers (`13812345678`, `01065529988`), E.164 otherwise.
pub fn display_phone(stored: &str) -> String {
    match stored.strip_prefix("+86") {
        Some(n) if n.starts_with('1') && n.len() == 11 => n.to_owned(),
        Some(n) => format!("0{n}"),
        None => stored.to_owned(),
    }
}

/// The digits of a partial phone number typed into a search box, for
/// matching anywhere in stored numbers; `None` when too short to search.
pub fn phone_search_digits(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let meaningful = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')'));
    (meaningful && digits.len() >= 4).then_some(digits)
}

/// A tag: trimmed, 1–40 characters, no commas (the list separator in
/// forms and files) and no control characters.
pub fn tag(field: &str, text: &str) -> Result<String, DomainError> {
    let value = text.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > 40 {
        return Err(DomainError::invalid(field, "must be at most 40 characters"));
    }
    if value
        .chars()
        .any(|c| c.is_control() || c == ',' || c == '，')
    {
        return Err(DomainError::invalid(
            field,
            "must not contain commas or control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Tags from a list: each checked, duplicates dropped, order kept.
pub fn tags(field: &str, values: &[String]) -> Result<Vec<String>, DomainError> {
    let mut out: Vec<String> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let t = tag(&format!("{field}[{i}]"), value)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > 30 {
        return Err(DomainError::invalid(field, "must be at most 30 tags"));
    }
    Ok(out)
}

/// A birthday as `YYYY-MM-DD`, not in the future and not before 1900.
pub fn birthday(
    field: &str,
    text: &str,
    today: chrono::NaiveDate,
) -> Result<chrono::NaiveDate, DomainError> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| DomainError::invalid(field, "must be a date written YYYY-MM-DD"))?;
    let earliest = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(chrono::NaiveDate::MIN);
    if date > today || date < earliest {
        return Err(DomainError::invalid(
            field,
            "must be a date between 1900-01-01 and today",
        ));
    }
    Ok(date)
}

/// What is filled in on a profile, for the completeness score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfileFacts {
    /// Gender given.
    pub gender: bool,
    /// Birthday given.
    pub birthday: bool,
    /// At least one phone.
    pub phone: bool,
    /// At least one email.
    pub email: bool,
    /// Province and city given.
    pub address: bool,
    /// Region given.
    pub region: bool,
    /// Industry given.
    pub industry: bool,
    /// Needs and preferences written down.
    pub notes: bool,
    /// At least one tag.
    pub tags: bool,
}

/// The completeness score, 0–100: the weighted share of the profile that is
/// filled. A name is always there; ways to reach the customer weigh most.
pub fn completeness(facts: &ProfileFacts) -> u8 {
    let parts = [
        (facts.phone, 20),
        (facts.email, 15),
        (facts.address, 15),
        (facts.gender, 10),
        (facts.birthday, 5),
        (facts.region, 10),
        (facts.industry, 10),
        (facts.notes, 10),
        (facts.tags, 5),
    ];
    let total: u32 = parts.iter().map(|(_, w)| w).sum();
    let filled: u32 = parts.iter().filter(|(f, _)| *f).map(|(_, w)| w).sum();
    u8::try_from(filled * 100 / total).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn chinese_numbers_in_the_ways_people_write_them() {
        for (written, stored) in [
            ("13812345678", "+8613812345678"),
            ("138 1234 5678", "+8613812345678"),
            ("138-1234-5678", "+8613812345678"),
            ("+86 138 1234 5678", "+8613812345678"),
            ("+86-13812345678", "+8613812345678"),
            ("008613812345678", "+8613812345678"),
            ("8613812345678", "+8613812345678"),
            ("１３８１２３４５６７８", "+8613812345678"),
            ("010-65529988", "+861065529988"),
            ("(0571) 8765 4321", "+8657187654321"),
            ("+86 10 6552 9988", "+861065529988"),
            ("+86 010 6552 9988", "+861065529988"),
            ("+1 415 555 0100", "+14155550100"),
            ("0044 20 7946 0958", "+442079460958"),
        ] {
            assert_eq!(
                normalize_phone("phone", written).as_deref(),
                Ok(stored),
                "{written}"
            );
        }
    }

    #[test]
    fn what_is_not_a_phone_number_says_why() {
        for bad in [
            "",
            "12345",
            "1381234567",
            "23812345678",
            "phone",
            "138-1234-567x",
            "+0123456789",
            "+12",
            "10086",
        ] {
            let result = normalize_phone("contact_points[0].value", bad);
            let Err(DomainError::Validation { field, reason }) = result else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(field, "contact_points[0].value");
            assert!(!reason.is_empty());
        }
    }

    #[test]
    fn masks_keep_just_enough_to_recognise() {
        assert_eq!(mask(ContactKind::Phone, "+8613812345678"), "138****5678");
        assert_eq!(mask(ContactKind::Phone, "+861065529988"), "010****9988");
        assert_eq!(mask(ContactKind::Phone, "+14155550100"), "+141****0100");
        assert_eq!(
            mask(ContactKind::Email, "zhang.wei@example.com"),
            "z***@example.com"
        );
        assert_eq!(mask(ContactKind::Wechat, "wxid_abc12"), "wx****12");
        assert_eq!(mask(ContactKind::External, "ab"), "***");
    }

    #[test]
    fn codes_round_trip_and_errors_list_the_valid_ones() {
        for grade in Grade::ALL {
            assert_eq!(grade.as_str().parse::<Grade>(), Ok(*grade));
        }
        let Err(DomainError::Validation { reason, .. }) = Grade::parse_field("grade", "gold")
        else {
            panic!("gold accepted");
        };
        assert!(reason.contains("vip, a, b, c"), "{reason}");
        assert_eq!(
            ContactKind::parse_field("kind", " email "),
            Ok(ContactKind::Email)
        );
    }

    #[test]
    fn partial_phone_searches_need_four_digits() {
        assert_eq!(phone_search_digits("5678"), Some("5678".into()));
        assert_eq!(phone_search_digits("138-1234"), Some("1381234".into()));
        assert_eq!(phone_search_digits("567"), None);
        assert_eq!(phone_search_digits("王5678"), None);
    }

    #[test]
    fn tags_are_checked_and_deduplicated() {
        let got = tags(
            "tags",
            &[" 宽带 ".into(), "宽带".into(), "family plan".into()],
        );
        assert_eq!(got, Ok(vec!["宽带".to_owned(), "family plan".to_owned()]));
        assert!(tags("tags", &["a,b".into()]).is_err());
        assert!(tags("tags", &["".into()]).is_err());
    }

    #[test]
    fn birthdays_are_past_dates() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default();
        assert!(birthday("birthday", "1987-02-29", today).is_err());
        assert!(birthday("birthday", "1988-02-28", today).is_ok());
        assert!(birthday("birthday", "2027-01-01", today).is_err());
        assert!(birthday("birthday", "28/02/1988", today).is_err());
    }

    #[test]
    fn completeness_runs_from_empty_to_full() {
        assert_eq!(completeness(&ProfileFacts::default()), 0);
        let full = ProfileFacts {
            gender: true,
            birthday: true,
            phone: true,
            email: true,
            address: true,
            region: true,
            industry: true,
            notes: true,
            tags: true,
        };
        assert_eq!(completeness(&full), 100);
        let reachable = ProfileFacts {
            phone: true,
            email: true,
            ..ProfileFacts::default()
        };
        assert_eq!(completeness(&reachable), 35);
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(mobile in "1[3-9][0-9]{9}", spaced in any::<bool>()) {
            let written = if spaced {
                format!("{} {} {}", &mobile[..3], &mobile[3..7], &mobile[7..])
            } else {
                mobile.clone()
            };
            let once = normalize_phone("p", &written);
            let expected = format!("+86{mobile}");
            prop_assert_eq!(once.as_deref(), Ok(expected.as_str()));
            let stored = once.unwrap_or_default();
            prop_assert_eq!(normalize_phone("p", &stored), Ok(stored.clone()));
            prop_assert_eq!(normalize_phone("p", &display_phone(&stored)), Ok(stored.clone()));
            let masked = mask(ContactKind::Phone, &stored);
            prop_assert!(!masked.contains(&mobile[3..7]) || mobile[3..7] == mobile[7..]);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,30}") {
            let _ = normalize_phone("p", &text);
            let _ = normalize_contact("p", ContactKind::Email, &text);
            let _ = mask(ContactKind::Phone, &text);
            let _ = mask(ContactKind::Email, &text);
        }
    }
}
