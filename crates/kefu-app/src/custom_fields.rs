//! Custom fields on the customer record: administrators define them;
//! agents fill them in; lists filter by them; exports carry them.

use crate::audit::record_change;
use crate::{App, AppError, Caller};
use kefu_domain::Permission;
use kefu_domain::audit::Action;
use kefu_domain::custom_field::{self as rules, FieldKind};
use kefu_store::custom_fields::{self, CustomField};
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

/// Every custom field (any signed-in role reads them to show customers).
pub async fn list_fields(app: &App, caller: &Caller) -> Result<Vec<CustomField>, AppError> {
    caller.require(Permission::ViewCustomers)?;
    let mut reader = app.store.read().await?;
    Ok(custom_fields::all(&mut reader.conn()).await?)
}

/// Creates a custom field (administrators).
pub async fn create_field(
    app: &App,
    caller: &Caller,
    input: &FieldInput,
) -> Result<CustomField, AppError> {
    caller.require(Permission::ManageSettings)?;
    let kind: FieldKind = input.kind.as_deref().unwrap_or("").parse()?;
    let definition = rules::definition(
        input.key.as_deref().unwrap_or(""),
        &input.label_zh,
        &input.label_en,
        kind,
        &input.options,
        input.required,
    )?;
    let mut tx = app.store.write().await?;
    let field = custom_fields::insert(&mut tx.conn(), &definition).await?;
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
    {
        return Err(AppError::invalid(
            "kind",
            "the key and kind of a field never change; add a new field instead",
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
                if field.active && field.required && kept.is_empty() {
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
pub(crate) fn values_json(fields: &[CustomField], values: &[(i64, String)]) -> Map<String, Value> {
    fields
        .iter()
        .filter(|f| f.active)
        .map(|f| {
            let mine: Vec<String> = values
                .iter()
                .filter(|(id, _)| *id == f.id)
                .map(|(_, v)| v.clone())
                .collect();
            (f.key.clone(), rules::to_json(f.kind, &mine))
        })
        .collect()
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
        let Err(AppError::Validation { field, reason }) =
            check_values(&fields, given.as_object().unwrap_or(&Map::new()), &[])
        else {
            panic!("unknown key accepted");
        };
        assert_eq!(field, "custom_fields.colour");
        assert!(reason.contains("contract_no, plans"), "{reason}");
        let Err(AppError::Validation { field, .. }) = check_values(&fields, &Map::new(), &[])
        else {
            panic!("missing required value accepted");
        };
        assert_eq!(field, "custom_fields.contract_no");
        let kept = check_values(&fields, &Map::new(), &[(1, "HT-1".into())]);
        assert_eq!(kept.ok(), Some(vec![(1, "HT-1".into())]));
        let given = json!({"plans": ["5G", "宽带"]});
        let both = check_values(
            &fields,
            given.as_object().unwrap_or(&Map::new()),
            &[(1, "HT-1".into()), (2, "5G".into())],
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
}
