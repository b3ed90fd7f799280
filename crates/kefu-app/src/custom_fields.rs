//! Custom fields on the customer record: administrators define them;
//! agents fill them in; lists filter by them; exports carry them.

use crate::audit::record_change;
use crate::{App, AppError, Caller};
use kefu_domain::Permission;
use kefu_domain::audit::Action;
use kefu_domain::custom_field::{self as rules, FieldKind, FieldTarget};
use kefu_store::custom_fields::{self, CustomField};
use kefu_store::{Tx, audit as audit_log};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Input to create or change a custom field.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    /// For changes: the version read.
    #[serde(default)]
    pub version: Option<i64>,
    /// Key (creation only; it never changes).
    #[serde(default)]
    pub key: Option<String>,
    /// Label in Chinese.
    pub label_zh: String,
    /// Label in English.
    pub label_en: String,
    /// `text`, `number`, `date`, `select` or `multiselect` (creation only).
    #[serde(default)]
    pub kind: Option<String>,
    /// `customer` (the default) or `ticket`; fixed once the field exists.
    #[serde(default)]
    pub applies_to: Option<String>,
    /// Options of select kinds.
    #[serde(default)]
    pub options: Vec<String>,
    /// Whether every customer must have a value.
    #[serde(default)]
    pub required: bool,
    /// Whether the field is in use (changes only; default true).
    #[serde(default)]
    pub active: Option<bool>,
}

/// The custom fields of one kind of record, or of every kind (any
/// signed-in role reads them to show customers and tickets).
pub async fn list_fields(
    app: &App,
    caller: &Caller,
    target: Option<FieldTarget>,
) -> Result<Vec<CustomField>, AppError> {
    caller.require(match target {
        Some(FieldTarget::Ticket) => Permission::ViewTickets,
        _ => Permission::ViewCustomers,
    })?;
    let mut reader = app.store.read().await?;
    Ok(match target {
        Some(target) => custom_fields::all(&mut reader.conn(), target).await?,
        None => custom_fields::every(&mut reader.conn()).await?,
    })
}

/// Parses `applies_to`; empty means the customer record.
pub fn parse_target(text: &str) -> Result<FieldTarget, AppError> {
    match text.trim() {
        "" => Ok(FieldTarget::Customer),
        other => Ok(FieldTarget::parse_field("applies_to", other)?),
    }
}

/// Creates a custom field (administrators).
pub async fn create_field(
    app: &App,
    caller: &Caller,
    input: &FieldInput,
) -> Result<CustomField, AppError> {
    caller.require(Permission::ManageSettings)?;
    let kind: FieldKind = input.kind.as_deref().unwrap_or("").parse()?;
    let applies_to = parse_target(input.applies_to.as_deref().unwrap_or(""))?;
    let definition = rules::definition(
        input.key.as_deref().unwrap_or(""),
        &input.label_zh,
        &input.label_en,
        kind,
        &input.options,
        input.required,
    )?;
    let mut tx = app.store.write().await?;
    let field = custom_fields::insert(&mut tx.conn(), &definition, applies_to).await?;
    record_change(
        &mut tx,
        caller,
        "custom_field",
        field.id,
        Action::Create,
        &(),
        &field,
    )
    .await?;
    tx.commit().await?;
    Ok(field)
}

/// Changes a field's labels, options, required flag or whether it is in use.
pub async fn update_field(
    app: &App,
    caller: &Caller,
    id: i64,
    input: &FieldInput,
) -> Result<CustomField, AppError> {
    caller.require(Permission::ManageSettings)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must not be empty"))?;
    let mut tx = app.store.write().await?;
    let before = custom_fields::get(&mut tx.conn(), id).await?;
    if input
        .kind
        .as_deref()
        .is_some_and(|k| k != before.kind.as_str())
        || input.key.as_deref().is_some_and(|k| k != before.key)
        || input
            .applies_to
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t != before.applies_to.as_str())
    {
        return Err(AppError::invalid(
            "kind",
            "the key, kind and record kind of a field never change; add a new field instead",
        ));
    }
    let definition = rules::definition(
        &before.key,
        &input.label_zh,
        &input.label_en,
        before.kind,
        &input.options,
        input.required,
    )?;
    let after = custom_fields::update(
        &mut tx.conn(),
        id,
        version,
        &definition,
        input.active.unwrap_or(true),
    )
    .await?;
    record_change(
        &mut tx,
        caller,
        "custom_field",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// Checks the custom values given for a customer. `given` holds only the
/// keys sent; `current` the values stored now (empty for a new customer).
/// Unknown keys are refused by name; required fields must end up filled.
pub(crate) fn check_values(
    fields: &[CustomField],
    given: &Map<String, Value>,
    current: &[(i64, String)],
    require: Requirement,
) -> Result<Vec<(i64, String)>, AppError> {
    for key in given.keys() {
        if !fields.iter().any(|f| f.active && &f.key == key) {
            let valid: Vec<&str> = fields
                .iter()
                .filter(|f| f.active)
                .map(|f| f.key.as_str())
                .collect();
            return Err(AppError::invalid(
                format!("custom_fields.{key}"),
                format!(
                    "is not a custom field; valid: {}",
                    if valid.is_empty() {
                        "(none defined)".to_owned()
                    } else {
                        valid.join(", ")
                    }
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for field in fields {
        let name = format!("custom_fields.{}", field.key);
        let values = match given.get(&field.key) {
            Some(raw) if field.active => rules::value(&name, &field.definition(), raw)?,
            _ => {
                let kept: Vec<String> = current
                    .iter()
                    .filter(|(id, _)| *id == field.id)
                    .map(|(_, v)| v.clone())
                    .collect();
                if field.active
                    && field.required
                    && require == Requirement::Enforced
                    && kept.is_empty()
                {
                    return Err(AppError::invalid(name, "must not be empty"));
                }
                kept
            }
        };
        out.extend(values.into_iter().map(|v| (field.id, v)));
    }
    Ok(out)
}

/// A customer's values as the API shows them: active fields by key.
/// The `(field id, value)` a list filter `field=key&value=…` asks for;
/// an unknown key is refused with the valid ones.
pub(crate) fn filter_of(
    fields: &[CustomField],
    key: &str,
    value: Option<&str>,
) -> Result<(i64, String), AppError> {
    let Some(field) = fields.iter().find(|f| f.active && f.key == key) else {
        let valid: Vec<&str> = fields
            .iter()
            .filter(|f| f.active)
            .map(|f| f.key.as_str())
            .collect();
        return Err(AppError::invalid(
            "field",
            format!("unknown custom field {key:?}; valid: {}", valid.join(", ")),
        ));
    };
    let value = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::invalid("value", "must not be empty"))?;
    Ok((field.id, value.to_owned()))
}

/// Whether required fields must have a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requirement {
    /// An agent's or an import's record: required fields must be filled.
    Enforced,
    /// A record a customer made (portal, web form), who cannot see the
    /// internal fields; agents fill them in later.
    Relaxed,
}

pub(crate) fn values_json(fields: &[CustomField], values: &[(i64, String)]) -> Map<String, Value> {
    fields
        .iter()
        .filter(|f| f.active)
        .map(|f| {
            let mut mine: Vec<String> = values
                .iter()
                .filter(|(id, _)| *id == f.id)
                .map(|(_, v)| v.clone())
                .collect();
            // Chosen options read in the order the field lists them.
            mine.sort_by_key(|v| f.options.iter().position(|o| o == v));
            (f.key.clone(), rules::to_json(f.kind, &mine))
        })
        .collect()
}

/// The audit changes of custom field values, by field key.
pub(crate) fn value_changes(
    fields: &[CustomField],
    old: &[(i64, String)],
    new: &[(i64, String)],
) -> Vec<kefu_domain::audit::FieldChange> {
    let by_key = |values: &[(i64, String)]| {
        let mut map = Map::new();
        for field in fields {
            let mine: Vec<&String> = values
                .iter()
                .filter(|(id, _)| *id == field.id)
                .map(|(_, v)| v)
                .collect();
            if !mine.is_empty() {
                map.insert(
                    format!("custom_fields.{}", field.key),
                    serde_json::json!(mine),
                );
            }
        }
        Value::Object(map)
    };
    kefu_domain::audit::diff(&by_key(old), &by_key(new), &[])
}

/// Replaces a customer's or a ticket's custom field values with `new` and
/// records the change, by field key, in the audit log of that record.
pub(crate) async fn replace_values(
    tx: &mut Tx,
    caller: &Caller,
    target: FieldTarget,
    record_id: i64,
    action: Action,
    old: &[(i64, String)],
    new: &[(i64, String)],
) -> Result<(), AppError> {
    custom_fields::set_values(&mut tx.conn(), target, record_id, new).await?;
    let fields = custom_fields::all(&mut tx.conn(), target).await?;
    let changes = value_changes(&fields, old, new);
    if changes.is_empty() {
        return Ok(());
    }
    audit_log::append(
        &mut tx.conn(),
        &audit_log::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: target.as_str(),
            entity_id: record_id,
            action,
            changes,
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(id: i64, key: &str, kind: FieldKind, required: bool) -> CustomField {
        CustomField {
            id,
            key: key.into(),
            label_zh: key.into(),
            label_en: key.into(),
            kind,
            applies_to: FieldTarget::Customer,
            options: if kind.has_options() {
                vec!["5G".into(), "宽带".into()]
            } else {
                Vec::new()
            },
            required,
            active: true,
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn unknown_keys_and_missing_required_values_name_the_field() {
        let fields = [
            field(1, "contract_no", FieldKind::Text, true),
            field(2, "plans", FieldKind::Multiselect, false),
        ];
        let given = json!({"contract_no": "HT-1", "colour": "red"});
        let Err(AppError::Validation { field, reason }) = check_values(
            &fields,
            given.as_object().unwrap_or(&Map::new()),
            &[],
            Requirement::Enforced,
        ) else {
            panic!("unknown key accepted");
        };
        assert_eq!(field, "custom_fields.colour");
        assert!(reason.contains("contract_no, plans"), "{reason}");
        let Err(AppError::Validation { field, .. }) =
            check_values(&fields, &Map::new(), &[], Requirement::Enforced)
        else {
            panic!("missing required value accepted");
        };
        assert_eq!(field, "custom_fields.contract_no");
        let kept = check_values(
            &fields,
            &Map::new(),
            &[(1, "HT-1".into())],
            Requirement::Enforced,
        );
        assert_eq!(kept.ok(), Some(vec![(1, "HT-1".into())]));
        let given = json!({"plans": ["5G", "宽带"]});
        let both = check_values(
            &fields,
            given.as_object().unwrap_or(&Map::new()),
            &[(1, "HT-1".into()), (2, "5G".into())],
            Requirement::Enforced,
        );
        assert_eq!(
            both.ok(),
            Some(vec![
                (1, "HT-1".into()),
                (2, "5G".into()),
                (2, "宽带".into())
            ])
        );
        let shown = values_json(&fields, &[(2, "5G".into())]);
        assert_eq!(
            Value::Object(shown),
            json!({"contract_no": null, "plans": ["5G"]})
        );
    }

    #[test]
    fn customers_may_leave_required_fields_to_the_agents() {
        let fields = [field(1, "contract_no", FieldKind::Text, true)];
        let relaxed = check_values(&fields, &Map::new(), &[], Requirement::Relaxed);
        assert_eq!(relaxed.ok(), Some(Vec::new()));
        let given = json!({"contract_no": ""});
        let cleared = check_values(
            &fields,
            given.as_object().unwrap_or(&Map::new()),
            &[(1, "HT-1".into())],
            Requirement::Enforced,
        );
        assert!(cleared.is_err(), "an agent cannot empty a required field");
    }
}
