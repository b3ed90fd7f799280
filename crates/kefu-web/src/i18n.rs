//! Translations: every string a person reads comes from a catalogue, in
//! zh-CN and English.
//!
//! The catalogues are `locales/zh-CN.toml` and `locales/en.toml`, embedded
//! in the binary. Keys are dotted (`nav.workspace`). A test fails when a key
//! exists in one catalogue and not the other, or when code or a template
//! uses a key that neither has.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the interface is offered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Locale {
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Locale {
    /// Every locale, the default first.
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// The BCP 47 code (`zh-CN`, `en`), as stored in settings.
    pub fn code(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    /// The locale for a stored code, if it is one we offer.
    pub fn from_code(code: &str) -> Option<Locale> {
        let code = code.trim();
        if code.eq_ignore_ascii_case("zh-CN")
            || code.eq_ignore_ascii_case("zh")
            || code.eq_ignore_ascii_case("zh-Hans")
        {
            Some(Locale::ZhCn)
        } else if code.eq_ignore_ascii_case("en") || code.to_ascii_lowercase().starts_with("en-") {
            Some(Locale::En)
        } else if code.to_ascii_lowercase().starts_with("zh-") {
            Some(Locale::ZhCn)
        } else {
            None
        }
    }

    /// The best locale the browser asks for in its `Accept-Language` header.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<Locale> {
        headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(Locale::from_accept_language)
    }

    /// The best locale for an `Accept-Language` header, by its q-values.
    pub fn from_accept_language(header: &str) -> Option<Locale> {
        let mut choices: Vec<(f32, usize, Locale)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, part)| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let quality = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let locale = Locale::from_code(tag)?;
                (quality > 0.0).then_some((quality, position, locale))
            })
            .collect();
        choices.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        choices.first().map(|c| c.2)
    }

    /// The text for `key`; the key itself if it is missing (which the
    /// catalogue test prevents).
    pub fn t(self, key: &str) -> &'static str {
        catalogue(self)
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| {
                tracing::warn!(key, locale = self.code(), "missing translation");
                leak_missing(key)
            })
    }

    /// The text for `key` if the catalogue has it.
    pub fn try_t(self, key: &str) -> Option<&'static str> {
        catalogue(self).get(key).map(String::as_str)
    }

    /// A validation reason from the domain (written in English) in this
    /// locale: as written in English; in Chinese, known phrasings map to
    /// catalogue entries, numbers carried over, and anything unknown is
    /// shown as it is.
    pub fn reason(self, english: &str) -> String {
        // The domain's own words carry the most detail (values, lists of
        // valid choices); the catalogue's English is only the pattern.
        if self == Locale::En {
            return english.to_owned();
        }
        let number = english
            .split(|c: char| !c.is_ascii_digit())
            .find(|part| !part.is_empty())
            .unwrap_or("");
        let key = if english.contains("must not be empty") {
            "reasons.empty"
        } else if english.contains("must be at most") && english.contains("characters") {
            "reasons.too_long"
        } else if english.contains("control characters") {
            "reasons.control_characters"
        } else if english.starts_with("is not an email address")
            || english.starts_with("is not an email")
        {
            "reasons.not_email"
        } else if english.contains("at least 8 characters") {
            "reasons.password_short"
        } else if english.starts_with("agent ") && english.ends_with("does not exist") {
            "reasons.no_such_agent"
        } else if english.contains("not your current password") {
            "reasons.wrong_password"
        } else if english.starts_with("unknown role") {
            "reasons.unknown_role"
        } else if english.contains("IANA time zone") {
            "reasons.bad_time_zone"
        } else if english.contains("zh-CN, en") {
            "reasons.bad_language"
        } else if english.contains("between 1 and 3650") {
            "reasons.bad_days"
        } else if english.contains("not the current code") {
            "reasons.wrong_code"
        } else if english.contains("too many wrong codes") {
            "reasons.too_many_codes"
        } else if english.contains("start the set-up first") {
            "reasons.start_first"
        } else if english.contains("on your own account") {
            "reasons.own_account"
        } else if english.contains("last active administrator") {
            "reasons.last_admin"
        } else if english.contains("whole number") {
            "reasons.not_a_number"
        } else if english.starts_with("is not a phone number") {
            "reasons.not_phone"
        } else if english.starts_with("unknown ") && english.contains("; valid: ") {
            "reasons.unknown_value"
        } else if english.contains("written YYYY-MM-DD") {
            "reasons.bad_date"
        } else if english.contains("between 1900-01-01 and today") {
            "reasons.date_range"
        } else if english.starts_with("must be an amount") {
            "reasons.bad_amount"
        } else if english.contains("ISO 4217") {
            "reasons.bad_currency"
        } else if english.starts_with("organization ") && english.ends_with("does not exist") {
            "reasons.no_such_organization"
        } else if english.contains("must not contain commas") {
            "reasons.no_commas"
        } else if english.contains("must not contain spaces") {
            "reasons.no_spaces"
        } else if english.contains("contact points") || english.contains("30 tags") {
            "reasons.too_many"
        } else if english.contains("was erased") || english.contains("already erased") {
            "reasons.erased"
        } else if english.starts_with("repeats the external id of row") {
            "reasons.repeats_external_id"
        } else if english.starts_with("no column is mapped to the name") {
            "reasons.no_name_column"
        } else if english.contains("neither UTF-8 nor GB18030") {
            "reasons.bad_encoding"
        } else if english.starts_with("has more than") && english.contains("rows") {
            "reasons.too_many_rows"
        } else if english.contains("not a readable XLSX") || english.contains("has no worksheet") {
            "reasons.bad_xlsx"
        } else if english.starts_with("a recording must be a sound file") {
            "reasons.not_recording"
        } else if english.starts_with("is an empty file") {
            "reasons.file_empty"
        } else if english.starts_with("at most") && english.contains("files") {
            "reasons.too_many_files"
        } else if english.starts_with("is empty: expected a header row") {
            "reasons.empty_file"
        } else if english.starts_with("this request is closed") {
            "reasons.request_closed"
        } else if english.starts_with("this request was resolved more than") {
            "reasons.request_reopen_passed"
        } else if english.starts_with("a resolution (category and text) is required") {
            "reasons.need_resolution"
        } else if english.starts_with("say why: a reason is required") {
            "reasons.need_reason"
        } else if english.starts_with("the reopen window of") {
            "reasons.reopen_passed"
        } else if english.starts_with("cannot go from") {
            "reasons.illegal_move"
        } else if english.starts_with("the ticket is already") {
            "reasons.already_in_status"
        } else if english.starts_with("child tickets are still open") {
            "reasons.children_open"
        } else if english.starts_with("this ticket was merged into another") {
            "reasons.ticket_merged"
        } else if english.starts_with("say why the priority differs") {
            "reasons.priority_reason"
        } else if english.starts_with("the form has expired") {
            "reasons.form_expired"
        } else if english.starts_with("customer ") && english.contains("was merged into") {
            "reasons.customer_merged"
        } else if english.starts_with("customer ") && english.ends_with("does not exist") {
            "reasons.no_such_customer"
        } else if english.starts_with("ticket ") && english.ends_with("does not exist") {
            "reasons.no_such_ticket"
        } else if english.starts_with("team ") && english.ends_with("does not exist") {
            "reasons.no_such_team"
        } else if english.starts_with("category ") && english.contains("switched off") {
            "reasons.category_off"
        } else if english.contains("between 0 and 86400") {
            "reasons.call_seconds"
        } else if english.starts_with("only service requests") {
            "reasons.service_kind_only"
        } else {
            return english.to_owned();
        };
        self.tf(key, &[("n", number)])
    }

    /// The text for `key` with `{name}` placeholders filled from `args`.
    pub fn tf(self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.t(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }
}

fn leak_missing(key: &str) -> &'static str {
    static MISSING: OnceLock<std::sync::Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut missing = MISSING
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    missing
        .entry(key.to_owned())
        .or_insert_with(|| Box::leak(key.to_owned().into_boxed_str()))
}

/// The parsed catalogue of a locale, flattened to dotted keys.
pub fn catalogue(locale: Locale) -> &'static HashMap<String, String> {
    static ZH: OnceLock<HashMap<String, String>> = OnceLock::new();
    static EN: OnceLock<HashMap<String, String>> = OnceLock::new();
    match locale {
        Locale::ZhCn => ZH.get_or_init(|| parse(include_str!("../locales/zh-CN.toml"))),
        Locale::En => EN.get_or_init(|| parse(include_str!("../locales/en.toml"))),
    }
}

fn parse(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    match text.parse::<toml::Table>() {
        Ok(table) => flatten("", &table, &mut out),
        Err(error) => tracing::error!(%error, "a translation catalogue does not parse"),
    }
    out
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&full, inner, out),
            toml::Value::String(text) => {
                out.insert(full, text.clone());
            }
            other => {
                out.insert(full, other.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn both_catalogues_parse_and_hold_the_same_keys() {
        let zh: BTreeSet<&String> = catalogue(Locale::ZhCn).keys().collect();
        let en: BTreeSet<&String> = catalogue(Locale::En).keys().collect();
        assert!(zh.len() > 10, "the zh-CN catalogue did not parse");
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(only_zh.is_empty(), "missing in en.toml: {only_zh:?}");
        assert!(only_en.is_empty(), "missing in zh-CN.toml: {only_en:?}");
        for locale in Locale::ALL {
            for (key, text) in catalogue(locale) {
                assert!(
                    !text.trim().is_empty(),
                    "{key} is empty in {}",
                    locale.code()
                );
            }
        }
    }

    /// Every key the code or a template asks for exists: `t("…")`,
    /// `tf("…"`, and in templates `i18n.t("…")`.
    #[test]
    fn every_key_used_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        for dir in ["src", "templates"] {
            collect(&root.join(dir), &mut files);
        }
        assert!(!files.is_empty());
        let mut used = BTreeSet::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for marker in ["t(\"", "tf(\""] {
                for (index, _) in text.match_indices(marker) {
                    let rest = &text[index + marker.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let key = &rest[..end];
                    let preceded_by_word = text[..index]
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_');
                    if !preceded_by_word && key.contains('.') && !key.contains(' ') {
                        used.insert((key.to_owned(), file.display().to_string()));
                    }
                }
            }
        }
        assert!(!used.is_empty());
        let missing: Vec<_> = used
            .iter()
            .filter(|(key, _)| Locale::ALL.iter().any(|l| !catalogue(*l).contains_key(key)))
            .collect();
        assert!(
            missing.is_empty(),
            "keys used but not translated: {missing:?}"
        );
    }

    fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "html") {
                out.push(path);
            }
        }
    }

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(
            Locale::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"),
            Some(Locale::En)
        );
        assert_eq!(
            Locale::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Some(Locale::ZhCn)
        );
        assert_eq!(
            Locale::from_accept_language("fr-FR, en;q=0.5, zh-TW;q=0.7"),
            Some(Locale::ZhCn)
        );
        assert_eq!(Locale::from_accept_language("fr, de"), None);
        assert_eq!(
            Locale::from_accept_language("en;q=0, zh"),
            Some(Locale::ZhCn)
        );
    }

    #[test]
    fn domain_reasons_are_translated() {
        let cases = [
            ("must not be empty", "不能为空"),
            ("must be at most 100 characters", "最多 100 个字符"),
            ("is not an email address: it has no @", "不是有效的邮箱地址"),
            ("agent 42 does not exist", "坐席 42 不存在"),
            ("must be at least 8 characters", "至少需要 8 个字符"),
        ];
        for (english, chinese) in cases {
            assert_eq!(Locale::ZhCn.reason(english), chinese);
            assert!(!Locale::En.reason(english).is_empty());
        }
        let unknown = "is shaped oddly";
        assert_eq!(Locale::ZhCn.reason(unknown), unknown);
    }

    #[test]
    fn the_lifecycle_refusals_people_meet_are_translated() {
        use kefu_domain::DomainError;
        use kefu_domain::ticket::{Status, TransitionFacts, check_transition};
        let now = chrono::Utc::now();
        let facts = |from, resolved_days_ago: i64, has_resolution, has_reason| TransitionFacts {
            from,
            resolved_at: Some(now - chrono::TimeDelta::days(resolved_days_ago)),
            reopen_days: 7,
            has_resolution,
            has_reason,
            now,
        };
        let refusals = [
            check_transition(&facts(Status::Open, 0, false, false), Status::Resolved),
            check_transition(&facts(Status::Resolved, 0, true, false), Status::Open),
            check_transition(&facts(Status::Resolved, 30, true, true), Status::Open),
            check_transition(&facts(Status::Closed, 0, true, true), Status::Pending),
            check_transition(&facts(Status::Open, 0, true, true), Status::Open),
            kefu_domain::ticket::status_after_customer_reply(Status::Closed, None, 7, now)
                .map(|_| ()),
            kefu_domain::ticket::status_after_customer_reply(
                Status::Resolved,
                Some(now - chrono::TimeDelta::days(30)),
                7,
                now,
            )
            .map(|_| ()),
        ];
        for refusal in refusals {
            let Err(DomainError::Validation { reason, .. }) = refusal else {
                panic!("expected a refusal: {refusal:?}");
            };
            let chinese = Locale::ZhCn.reason(&reason);
            assert_ne!(chinese, reason, "no translation for {reason:?}");
            assert!(!chinese.contains("the "), "{chinese}");
        }
    }

    #[test]
    fn every_permission_has_a_label() {
        for locale in Locale::ALL {
            for permission in kefu_domain::Permission::ALL {
                let code = serde_json::to_value(permission)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let key = format!("permissions.{code}");
                assert!(
                    locale.try_t(&key).is_some(),
                    "{key} missing in {}",
                    locale.code()
                );
            }
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let text = Locale::En.tf("account.sessions_open", &[("count", "3")]);
        assert!(text.contains("3 open"), "{text}");
    }
}
