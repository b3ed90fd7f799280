//! The shape of an audit record: who changed what, from where, and each
//! field's old and new value.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    /// A signed-in agent, by agent id.
    Agent(i64),
    /// An integration using an API token, by token id.
    ApiToken(i64),
    /// A customer in the portal, by customer id.
    Customer(i64),
    /// Kefu itself: a rule, a job, the demo loader; named.
    System(String),
}

impl Actor {
    /// The kind column value (`agent`, `api_token`, `customer`, `system`).
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Agent(_) => "agent",
            Actor::ApiToken(_) => "api_token",
            Actor::Customer(_) => "customer",
            Actor::System(_) => "system",
        }
    }

    /// The reference column value: the numeric id, or the system name.
    pub fn reference(&self) -> String {
        match self {
            Actor::Agent(id) | Actor::ApiToken(id) | Actor::Customer(id) => id.to_string(),
            Actor::System(name) => name.clone(),
        }
    }
}

/// Where a change came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The web UI.
    Web,
    /// The JSON API.
    Api,
    /// An inbound email.
    Email,
    /// Kefu itself (jobs, rules, command line).
    System,
}

impl Source {
    /// The stored code name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Web => "web",
            Source::Api => "api",
            Source::Email => "email",
            Source::System => "system",
        }
    }
}

/// What happened to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The record was created.
    Create,
    /// Some fields changed.
    Update,
    /// The record was deleted.
    Delete,
    /// Personal data was read in bulk or revealed.
    Read,
}

impl Action {
    /// The stored code name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Read => "read",
        }
    }
}

/// One field's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FieldChange {
    /// The field as named in the API.
    pub field: String,
    /// The value before (null when created).
    pub old: Value,
    /// The value after (null when deleted).
    pub new: Value,
}

/// The fields that differ between two JSON objects of the same record, in
/// field-name order. Fields listed in `ignore` (bookkeeping such as
/// `version` or `updated_at`) are left out.
pub fn diff(old: &Value, new: &Value, ignore: &[&str]) -> Vec<FieldChange> {
    let empty = Map::new();
    let old_map = old.as_object().unwrap_or(&empty);
    let new_map = new.as_object().unwrap_or(&empty);
    let mut fields: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| !ignore.contains(&f.as_str()))
        .filter_map(|f| {
            let before = old_map.get(f).cloned().unwrap_or(Value::Null);
            let after = new_map.get(f).cloned().unwrap_or(Value::Null);
            (before != after).then(|| FieldChange {
                field: f.clone(),
                old: before,
                new: after,
            })
        })
        .collect()
}

/// The fields a newly created record was given: its diff against nothing,
/// without the fields left empty (`null`, `""`, `[]`, `{}`).
pub fn creation(new: &Value, ignore: &[&str]) -> Vec<FieldChange> {
    diff(&Value::Null, new, ignore)
        .into_iter()
        .filter(|c| match &c.new {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_changed_fields_only() {
        let old = json!({"name": "一线", "lead": 1, "version": 1});
        let new = json!({"name": "一线客服", "lead": 1, "version": 2});
        let changes = diff(&old, &new, &["version"]);
        assert_eq!(
            changes,
            vec![FieldChange {
                field: "name".into(),
                old: json!("一线"),
                new: json!("一线客服")
            }]
        );
    }

    #[test]
    fn creation_diffs_against_null() {
        let changes = diff(&Value::Null, &json!({"b": 2, "a": 1}), &[]);
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);
        assert!(changes.iter().all(|c| c.old.is_null()));
    }

    #[test]
    fn creation_leaves_out_empty_fields() {
        let changes = creation(
            &json!({"name": "王芳", "notes": "", "tags": [], "grade": "c", "birthday": null}),
            &[],
        );
        let fields: Vec<_> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["grade", "name"]);
    }

    #[test]
    fn actor_columns() {
        assert_eq!(Actor::Agent(7).kind(), "agent");
        assert_eq!(Actor::Agent(7).reference(), "7");
        assert_eq!(Actor::System("demo".into()).reference(), "demo");
    }
}
