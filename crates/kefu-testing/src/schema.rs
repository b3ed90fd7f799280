//! Checks a JSON answer against the schema the OpenAPI document gives it,
//! so tests catch a document that no longer says what the API does.
//!
//! Covers what Kefu's schemas use: `$ref`, `type` (one or several),
//! `properties`, `required`, `additionalProperties`, `items`,
//! `prefixItems`, `enum`, `const`, `anyOf`, `oneOf`, `allOf`. Stricter than
//! JSON Schema on purpose: an object schema listing `properties` is closed
//! unless it says otherwise, so an answer field the document forgot is
//! reported.

use serde_json::Value;

/// Every way `value` breaks `schema`; references resolve in `document`.
pub fn violations(document: &Value, schema: &Value, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    check(document, schema, value, "$", &mut found);
    found
}

fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn check(document: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            found.push(format!("{at}: no value is allowed here"));
        }
        return;
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        match resolve(document, reference) {
            Some(target) => check(document, target, value, at, found),
            None => found.push(format!("{at}: unresolved reference {reference}")),
        }
    }
    match schema.get("type") {
        Some(Value::String(name)) if !type_matches(name, value) => {
            found.push(format!("{at}: expected {name}, got {value}"));
            return;
        }
        Some(Value::Array(names))
            if !names
                .iter()
                .filter_map(Value::as_str)
                .any(|n| type_matches(n, value)) =>
        {
            found.push(format!("{at}: expected one of {names:?}, got {value}"));
            return;
        }
        _ => {}
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        found.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        found.push(format!("{at}: {value} is not {constant}"));
    }
    for all in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        check(document, all, value, at, found);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let attempts: Vec<Vec<String>> = options
                .iter()
                .map(|option| {
                    let mut inner = Vec::new();
                    check(document, option, value, at, &mut inner);
                    inner
                })
                .collect();
            if !attempts.iter().any(Vec::is_empty) {
                found.push(format!(
                    "{at}: fits none of the {key} options: {}",
                    attempts.concat().join("; ")
                ));
            }
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                found.push(format!("{at}: required field {name:?} is missing"));
            }
        }
        for (name, field) in object {
            let path = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(field_schema) => check(document, field_schema, field, &path, found),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(true)) => {}
                    Some(extra @ Value::Object(_)) => check(document, extra, field, &path, found),
                    _ if properties.is_some() => {
                        found.push(format!("{path}: not in the schema"));
                    }
                    _ => {}
                },
            }
        }
    }
    if let Some(items) = value.as_array() {
        let fixed = schema
            .get("prefixItems")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        for (i, item) in items.iter().enumerate() {
            let item_schema = if i < fixed {
                schema.get("prefixItems").and_then(|p| p.get(i))
            } else {
                schema.get("items")
            };
            if let Some(item_schema) = item_schema {
                check(document, item_schema, item, &format!("{at}[{i}]"), found);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::violations;
    use serde_json::json;

    #[test]
    fn finds_wrong_types_missing_and_unknown_fields() {
        let document = json!({ "components": { "schemas": { "Id": { "type": "integer" } } } });
        let schema = json!({
            "type": "object",
            "properties": {
                "id": { "$ref": "#/components/schemas/Id" },
                "name": { "type": ["string", "null"] },
                "kind": { "enum": ["a", "b"] },
            },
            "required": ["id", "name"],
        });
        assert!(violations(&document, &schema, &json!({ "id": 1, "name": null })).is_empty());
        let wrong = violations(
            &document,
            &schema,
            &json!({ "id": "1", "kind": "c", "x": 1 }),
        );
        assert_eq!(wrong.len(), 4, "{wrong:?}");
        let options = json!({ "anyOf": [{ "type": "integer" }, { "type": "null" }] });
        assert!(violations(&document, &options, &json!(null)).is_empty());
        assert_eq!(violations(&document, &options, &json!("x")).len(), 1);
    }
}
