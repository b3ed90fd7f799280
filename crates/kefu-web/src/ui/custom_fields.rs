//! Custom fields on page forms, shared by the customer and ticket forms:
//! inputs named `cf_<key>`, a multiselect's ticked boxes joined with
//! commas, and the values handed to the use cases as JSON.

use super::form::FormState;
use super::{Fields, PageContext, field};

/// One custom field on a form.
pub(crate) struct CustomInput {
    /// Form field name: `cf_<key>`.
    pub(crate) name: String,
    /// Label in the page's language.
    pub(crate) label: String,
    /// `text`, `number`, `date`, `select` or `multiselect`.
    pub(crate) kind: &'static str,
    /// Current value (comma-joined for multiselect).
    pub(crate) value: String,
    /// Options with whether each is chosen.
    pub(crate) options: Vec<(String, bool)>,
    /// Whether a value is required.
    pub(crate) required: bool,
    /// The error beside it.
    pub(crate) error: Option<String>,
}

/// A field's label in the page's language.
fn label(context: &PageContext, field: &kefu_store::custom_fields::CustomField) -> String {
    match context.locale {
        crate::i18n::Locale::ZhCn => field.label_zh.clone(),
        crate::i18n::Locale::En => field.label_en.clone(),
    }
}

/// The active fields as (key, label) for a list's "custom field" filter.
pub(crate) fn filter_choices(
    context: &PageContext,
    fields: &[kefu_store::custom_fields::CustomField],
) -> Vec<(String, String)> {
    fields
        .iter()
        .filter(|f| f.active)
        .map(|f| (f.key.clone(), label(context, f)))
        .collect()
}

/// The inputs of the active fields, filled and marked from `form`.
pub(crate) fn custom_inputs(
    context: &PageContext,
    fields: &[kefu_store::custom_fields::CustomField],
    form: &FormState,
) -> Vec<CustomInput> {
    fields
        .iter()
        .filter(|f| f.active)
        .map(|f| {
            let name = format!("cf_{}", f.key);
            let value = form.value(&name).to_owned();
            let chosen: Vec<&str> = value.split(',').map(str::trim).collect();
            CustomInput {
                label: label(context, f),
                kind: f.kind.as_str(),
                options: f
                    .options
                    .iter()
                    .map(|o| (o.clone(), chosen.contains(&o.as_str())))
                    .collect(),
                required: f.required,
                error: form
                    .error(&format!("custom_fields.{}", f.key))
                    .map(str::to_owned),
                value,
                name,
            }
        })
        .collect()
}

/// The custom values of a submitted form, for every active field.
pub(crate) fn custom_values(
    fields: &[kefu_store::custom_fields::CustomField],
    form: &Fields,
) -> serde_json::Map<String, serde_json::Value> {
    use kefu_domain::custom_field::FieldKind;
    fields
        .iter()
        .filter(|f| f.active)
        .map(|f| {
            let text = field(form, &format!("cf_{}", f.key)).trim().to_owned();
            let value = if f.kind == FieldKind::Multiselect {
                serde_json::json!(
                    text.split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .collect::<Vec<_>>()
                )
            } else if text.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::Value::String(text)
            };
            (f.key.clone(), value)
        })
        .collect()
}

/// A submitted form as name → value; repeated names (multiselect check
/// boxes) are joined with commas.
pub(crate) fn form_fields(pairs: Vec<(String, String)>) -> Fields {
    let mut out = Fields::new();
    for (name, value) in pairs {
        add_field(&mut out, name, value);
    }
    out
}

/// Adds one submitted field; a custom field's repeated name (ticked
/// boxes of a multiselect) adds to its comma-joined value.
pub(crate) fn add_field(fields: &mut Fields, name: String, value: String) {
    match fields.get_mut(&name) {
        Some(existing) if name.starts_with("cf_") => {
            existing.push(',');
            existing.push_str(&value);
        }
        _ => {
            fields.insert(name, value);
        }
    }
}

/// A stored custom value as the form shows it.
pub(crate) fn form_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}
