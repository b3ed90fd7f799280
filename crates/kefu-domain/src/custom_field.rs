//! Custom fields an administrator adds to customer records and to work
//! orders: their definitions and the rules a value must meet.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

code_enum!(
    /// Which records a custom field belongs on.
    FieldTarget, "record kind", {
        /// The customer record (客户档案).
        Customer => "customer",
        /// The work order (工单).
        Ticket => "ticket",
    }
);

/// What kind of value a custom field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Free text, one line.
    Text,
    /// A decimal number.
    Number,
    /// A calendar date.
    Date,
    /// One of a list of options.
    Select,
    /// Any number of a list of options.
    Multiselect,
}

impl FieldKind {
    /// Every kind.
    pub const ALL: [FieldKind; 5] = [
        FieldKind::Text,
        FieldKind::Number,
        FieldKind::Date,
        FieldKind::Select,
        FieldKind::Multiselect,
    ];

    /// The code name.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::Select => "select",
            FieldKind::Multiselect => "multiselect",
        }
    }

    /// Whether values come from a list of options.
    pub fn has_options(self) -> bool {
        matches!(self, FieldKind::Select | FieldKind::Multiselect)
    }
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldKind {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, DomainError> {
        FieldKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| {
                DomainError::invalid(
                    "kind",
                    format!("unknown kind {s:?}; valid: text, number, date, select, multiselect"),
                )
            })
    }
}

/// A field's definition as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDefinition {
    /// Stable key used in the API and files: `contract_no`.
    pub key: String,
    /// Label in Chinese.
    pub label_zh: String,
    /// Label in English.
    pub label_en: String,
    /// Kind of value.
    pub kind: FieldKind,
    /// Options of select fields, in display order.
    pub options: Vec<String>,
    /// Whether every customer must have a value.
    pub required: bool,
}

/// Checks a field key: 2–40 of `a-z`, `0-9`, `_`, starting with a letter.
pub fn key(text: &str) -> Result<String, DomainError> {
    let key = text.trim();
    let shaped = (2..=40).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if shaped {
        Ok(key.to_owned())
    } else {
        Err(DomainError::invalid(
            "key",
            "must be 2 to 40 lower-case letters, digits or _, starting with a letter (contract_no)",
        ))
    }
}

/// Checks a whole definition: key, both labels, options for select kinds.
pub fn definition(
    key_text: &str,
    label_zh: &str,
    label_en: &str,
    kind: FieldKind,
    options: &[String],
    required: bool,
) -> Result<FieldDefinition, DomainError> {
    let key = key(key_text)?;
    let label_zh = crate::validate::name("label_zh", label_zh, 60)?;
    let label_en = crate::validate::name("label_en", label_en, 60)?;
    let mut clean: Vec<String> = Vec::new();
    if kind.has_options() {
        for (i, option) in options.iter().enumerate() {
            let option = crate::validate::name(&format!("options[{i}]"), option, 60)?;
            if option.contains(',') {
                return Err(DomainError::invalid(
                    format!("options[{i}]"),
                    "must not contain commas",
                ));
            }
            if clean.contains(&option) {
                return Err(DomainError::invalid(
                    format!("options[{i}]"),
                    format!("repeats the option {option:?}"),
                ));
            }
            clean.push(option);
        }
        if clean.is_empty() {
            return Err(DomainError::invalid(
                "options",
                "must list at least one option for a select field",
            ));
        }
    } else if !options.is_empty() {
        return Err(DomainError::invalid(
            "options",
            "only select and multiselect fields have options",
        ));
    }
    Ok(FieldDefinition {
        key,
        label_zh,
        label_en,
        kind,
        options: clean,
        required,
    })
}

/// A value checked against its field: the stored text values (one, or one
/// per selected option), or none when the value is empty.
pub fn value(
    field_name: &str,
    definition: &FieldDefinition,
    raw: &serde_json::Value,
) -> Result<Vec<String>, DomainError> {
    use serde_json::Value;
    let bad = |reason: String| DomainError::invalid(field_name, reason);
    let texts: Vec<String> = match raw {
        Value::Null => Vec::new(),
        Value::String(s) if definition.kind == FieldKind::Multiselect => s
            .split([',', '，', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::String(s) => Some(s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .into_iter()
            .collect(),
        Value::Number(n) => vec![n.to_string()],
        Value::Array(items) if definition.kind == FieldKind::Multiselect => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.trim().to_owned()),
                _ => Err(bad("must be a list of options".into())),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad(format!("must be a {} value", definition.kind))),
    };
    if texts.is_empty() {
        if definition.required {
            return Err(bad("must not be empty".into()));
        }
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for text in texts {
        let checked = match definition.kind {
            FieldKind::Text => {
                if text.chars().count() > 1000 {
                    return Err(bad("must be at most 1000 characters".into()));
                }
                if text.chars().any(char::is_control) {
                    return Err(bad("must not contain control characters".into()));
                }
                text
            }
            FieldKind::Number => {
                let number: f64 = text
                    .parse()
                    .map_err(|_| bad("must be a number such as 42 or 3.5".into()))?;
                if !number.is_finite() {
                    return Err(bad("must be a number such as 42 or 3.5".into()));
                }
                text
            }
            FieldKind::Date => chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| bad("must be a date written YYYY-MM-DD".into()))?
                .to_string(),
            FieldKind::Select | FieldKind::Multiselect => {
                if !definition.options.contains(&text) {
                    return Err(bad(format!(
                        "unknown option {text:?}; valid: {}",
                        definition.options.join(", ")
                    )));
                }
                text
            }
        };
        if !out.contains(&checked) {
            out.push(checked);
        }
    }
    if definition.kind != FieldKind::Multiselect && out.len() > 1 {
        return Err(bad("takes one value".into()));
    }
    Ok(out)
}

/// The stored values of a field as the API shows them: a string (number
/// and date fields as written), a list for multiselect, null when empty.
pub fn to_json(kind: FieldKind, values: &[String]) -> serde_json::Value {
    match (kind, values) {
        (FieldKind::Multiselect, values) => serde_json::json!(values),
        (_, []) => serde_json::Value::Null,
        (FieldKind::Number, [first, ..]) => first
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| serde_json::json!(first), serde_json::Value::Number),
        (_, [first, ..]) => serde_json::json!(first),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select(kind: FieldKind, required: bool) -> FieldDefinition {
        definition(
            "plan",
            "套餐",
            "Plan",
            kind,
            &["5G".into(), "宽带".into(), "IPTV".into()],
            required,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn keys_are_shaped_for_files_and_urls() {
        assert_eq!(key(" contract_no "), Ok("contract_no".into()));
        for bad in ["", "a", "Contract", "1st", "合同号", "contract-no"] {
            assert!(key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn definitions_need_options_exactly_when_selecting() {
        assert!(definition("plan", "套餐", "Plan", FieldKind::Select, &[], false).is_err());
        assert!(
            definition(
                "note",
                "说明",
                "Note",
                FieldKind::Text,
                &["x".into()],
                false
            )
            .is_err()
        );
        let Err(DomainError::Validation { field, .. }) = definition(
            "plan",
            "套餐",
            "Plan",
            FieldKind::Select,
            &["a".into(), "a".into()],
            false,
        ) else {
            panic!("repeated option accepted");
        };
        assert_eq!(field, "options[1]");
    }

    #[test]
    fn values_are_checked_by_kind() {
        let number = definition(
            "spend",
            "月消费",
            "Monthly spend",
            FieldKind::Number,
            &[],
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            value("f", &number, &json!("129.5")),
            Ok(vec!["129.5".into()])
        );
        assert_eq!(value("f", &number, &json!(88)), Ok(vec!["88".into()]));
        assert!(value("f", &number, &json!("lots")).is_err());
        assert_eq!(value("f", &number, &json!(null)), Ok(vec![]));
        let date = definition(
            "since",
            "入网日期",
            "Customer since",
            FieldKind::Date,
            &[],
            true,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(value("f", &date, &json!("2026-02-30")).is_err());
        assert!(value("f", &date, &json!("")).is_err(), "required");
        assert_eq!(
            value("f", &date, &json!("2026-02-28")),
            Ok(vec!["2026-02-28".into()])
        );
        let one = select(FieldKind::Select, false);
        assert!(value("f", &one, &json!("4G")).is_err());
        assert!(value("f", &one, &json!(["5G", "IPTV"])).is_err());
        let many = select(FieldKind::Multiselect, false);
        assert_eq!(
            value("f", &many, &json!("5G, IPTV, 5G")),
            Ok(vec!["5G".into(), "IPTV".into()])
        );
        assert_eq!(
            to_json(FieldKind::Multiselect, &["5G".into()]),
            json!(["5G"])
        );
        assert_eq!(to_json(FieldKind::Number, &["129.5".into()]), json!(129.5));
        assert_eq!(to_json(FieldKind::Text, &[]), json!(null));
    }
}
