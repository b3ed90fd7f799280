//! The OpenAPI 3.1 document of the API, served at `/api/openapi.json`.
//!
//! It is built from the route table, not written by hand: paths, methods,
//! access rules and summaries come from [`crate::api::routes`]; the shapes of
//! bodies, query strings and answers come from the Rust types the handlers
//! read and write, described by their derived JSON Schemas. Answers are
//! described as Kefu writes them and bodies as Kefu reads them (an optional
//! field is always present in an answer, and may be left out of a body), so a
//! type used both ways can have two schemas; the body side then gets the
//! suffix `Input`.

use crate::access::{Access, Route};
use crate::error::ErrorBody;
use axum::http::{Method, StatusCode};
use kefu_domain::Role;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// Writes a type's schema (or a reference to it) into a generator.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// A reference to `T`'s schema, adding it to the components.
pub fn reference<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// `T`'s own schema (for query strings, whose properties become parameters).
fn inline<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    T::json_schema(generator)
}

/// What a route reads and answers, for the document.
#[derive(Clone, Copy, Default)]
pub struct ApiDoc {
    /// The query string's fields.
    pub query: Option<SchemaFn>,
    /// The request body.
    pub body: Option<Body>,
    /// The success answer.
    pub answer: Option<Answer>,
}

/// A request body.
#[derive(Clone, Copy)]
pub enum Body {
    /// No body is read.
    Empty,
    /// A JSON document.
    Json(SchemaFn),
    /// JSON, or a multipart form with these text fields (name, meaning)
    /// and any number of file parts.
    JsonOrMultipart(SchemaFn, &'static [(&'static str, &'static str)]),
    /// A multipart form with these text fields and file parts.
    Multipart(&'static [(&'static str, &'static str)]),
    /// The bytes of a file of one of these media types.
    File(&'static [&'static str]),
}

/// A success answer.
#[derive(Clone, Copy)]
pub enum Answer {
    /// A JSON document with this status.
    Json(StatusCode, SchemaFn),
    /// 204 and no body.
    NoContent,
    /// A file of one of these media types.
    File(&'static [&'static str]),
    /// A stream of server-sent events.
    Events,
}

impl Route {
    /// Documents the query string as the fields of `T`.
    pub fn query<T: JsonSchema>(mut self) -> Self {
        self.doc.query = Some(inline::<T>);
        self
    }

    /// Documents a JSON body of type `T`.
    pub fn takes<T: JsonSchema>(mut self) -> Self {
        self.doc.body = Some(Body::Json(reference::<T>));
        self
    }

    /// Documents another kind of body.
    pub fn body(mut self, body: Body) -> Self {
        self.doc.body = Some(body);
        self
    }

    /// Documents a 200 answer of type `T`.
    pub fn returns<T: JsonSchema>(mut self) -> Self {
        self.doc.answer = Some(Answer::Json(StatusCode::OK, reference::<T>));
        self
    }

    /// Documents a 201 answer of type `T`: the record made.
    pub fn creates<T: JsonSchema>(mut self) -> Self {
        self.doc.answer = Some(Answer::Json(StatusCode::CREATED, reference::<T>));
        self
    }

    /// Documents a 202 answer of type `T`: work queued to run in the background.
    pub fn queues<T: JsonSchema>(mut self) -> Self {
        self.doc.answer = Some(Answer::Json(StatusCode::ACCEPTED, reference::<T>));
        self
    }

    /// Documents another kind of answer.
    pub fn answers(mut self, answer: Answer) -> Self {
        self.doc.answer = Some(answer);
        self
    }
}

/// The document for Kefu's own API, built once.
pub fn document_json() -> &'static [u8] {
    static DOCUMENT: OnceLock<Vec<u8>> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_json::to_vec(&document(crate::api::PREFIX, &crate::api::routes())).unwrap_or_default()
    })
}

/// `GET /api/openapi.json`.
pub async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        document_json(),
    )
        .into_response()
}

/// Where body-side schemas are put while the document is built, before
/// they are merged with the answer-side ones.
const BODY_SCHEMAS: &str = "/components/bodySchemas";

/// The OpenAPI document describing `routes`, mounted under `prefix`.
pub fn document(prefix: &str, routes: &[Route]) -> Value {
    let mut answers = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .for_serialize()
        .into_generator();
    let mut bodies = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = BODY_SCHEMAS.into();
            s.meta_schema = None;
        })
        .for_deserialize()
        .into_generator();
    let error = answers.subschema_for::<ErrorBody>().to_value();

    let mut paths = Map::new();
    let mut tags = std::collections::BTreeSet::new();
    for route in routes {
        let path = format!("{prefix}{}", route.path);
        let tag = route
            .path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let operation = operation(route, &tag, &mut answers, &mut bodies, &error);
        tags.insert(tag);
        if let Some(item) = paths
            .entry(path)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
        {
            item.insert(route.method.as_str().to_ascii_lowercase(), operation);
        }
    }

    let mut schemas = answers.take_definitions(true);
    let body_schemas = bodies.take_definitions(true);
    let names = body_schema_names(&schemas, &body_schemas);
    for (name, schema) in &body_schemas {
        let target = &names[name];
        if !schemas.contains_key(target) {
            let mut schema = schema.clone();
            rename_body_refs(&mut schema, &names);
            schemas.insert(target.clone(), schema);
        }
    }
    let mut paths = Value::Object(paths);
    rename_body_refs(&mut paths, &names);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Kefu API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Kefu's JSON API. Authenticate with an API token (`Authorization: Bearer …`, issued by an admin and scoped to a role) or with an agent's email and password (HTTP Basic). Lists are paged by cursor: pass `next_cursor` back as `cursor` until it is null. Errors share one shape, `{\"error\": {\"code\", \"message\", \"field\"}}`. Changes carry the `version` read and get 409 with `current_version` when someone else saved first.",
        },
        "security": [{ "bearer": [] }, { "basic": [] }],
        "tags": tags.iter().map(|t| json!({ "name": t })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "an API token" },
                "basic": { "type": "http", "scheme": "basic", "description": "an agent's email and password" },
            },
            "schemas": schemas,
        },
    })
}

/// The final name of each body-side schema: the answer-side name when the
/// two describe the same JSON (and so do all the schemas it refers to),
/// otherwise a name of its own.
fn body_schema_names(
    answers: &Map<String, Value>,
    bodies: &Map<String, Value>,
) -> std::collections::HashMap<String, String> {
    use std::collections::{HashMap, HashSet};
    let same_prefix: HashMap<String, String> =
        bodies.keys().map(|n| (n.clone(), n.clone())).collect();
    let mut shared: HashSet<&String> = bodies
        .iter()
        .filter(|(name, schema)| {
            let mut schema = (*schema).clone();
            rename_body_refs(&mut schema, &same_prefix);
            answers.get(*name) == Some(&schema)
        })
        .map(|(name, _)| name)
        .collect();
    // A schema is only shared if everything it refers to is shared too.
    loop {
        let unshared: Vec<&String> = shared
            .iter()
            .filter(|name| {
                let mut referred = Vec::new();
                body_refs(&bodies[name.as_str()], &mut referred);
                referred.iter().any(|r| !shared.contains(r))
            })
            .copied()
            .collect();
        if unshared.is_empty() {
            break;
        }
        for name in unshared {
            shared.remove(name);
        }
    }
    bodies
        .keys()
        .map(|name| {
            let target = if shared.contains(name) || !answers.contains_key(name) {
                name.clone()
            } else if name.ends_with("Input") || answers.contains_key(&format!("{name}Input")) {
                format!("{name}Body")
            } else {
                format!("{name}Input")
            };
            (name.clone(), target)
        })
        .collect()
}

/// The body-side schema names `schema` refers to.
fn body_refs(schema: &Value, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix(&format!("#{BODY_SCHEMAS}/")) {
                            found.push(name.to_owned());
                        }
                    }
                    _ => body_refs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| body_refs(v, found)),
        _ => {}
    }
}

/// Points body-side references at their final names among the components.
fn rename_body_refs(schema: &mut Value, names: &std::collections::HashMap<String, String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "$ref" {
                    if let Value::String(target) = value
                        && let Some(name) = target.strip_prefix(&format!("#{BODY_SCHEMAS}/"))
                    {
                        let name = names.get(name).cloned().unwrap_or_else(|| name.to_owned());
                        *target = format!("#/components/schemas/{name}");
                    }
                } else {
                    rename_body_refs(value, names);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_body_refs(v, names)),
        _ => {}
    }
}

/// One operation: summary, access, parameters, body, answers.
fn operation(
    route: &Route,
    tag: &str,
    answers: &mut SchemaGenerator,
    bodies: &mut SchemaGenerator,
    error: &Value,
) -> Value {
    let mut parameters = Vec::new();
    for segment in route.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            parameters.push(json!({
                "name": name,
                "in": "path",
                "required": true,
                "schema": { "type": "integer", "format": "int64" },
            }));
        }
    }
    if let Some(query) = route.doc.query {
        let schema = query(bodies).to_value();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property) in properties {
                let mut property = property.clone();
                // A query string has no null: a parameter is there or not.
                if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
                    types.retain(|t| t != "null");
                    if types.len() == 1 {
                        property["type"] = types[0].clone();
                    }
                }
                let description = property
                    .as_object_mut()
                    .and_then(|p| p.remove("description"))
                    .unwrap_or(Value::Null);
                let mut parameter = json!({
                    "name": name,
                    "in": "query",
                    "required": required.contains(&name.as_str()),
                    "schema": property,
                });
                if !description.is_null() {
                    parameter["description"] = description;
                }
                parameters.push(parameter);
            }
        }
    }

    let mut operation = json!({
        "operationId": operation_id(&route.method, route.path),
        "summary": route.summary,
        "description": access_text(route.access),
        "tags": [tag],
    });
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    if route.access.is_public() {
        operation["security"] = json!([]);
    }
    if route.access == Access::MailboxToken {
        operation["security"] = json!([{ "bearer": [] }]);
    }
    if let Access::Requires(permission) = route.access {
        operation["x-kefu-permission"] = json!(permission_code(permission));
    }

    let multipart = |fields: &[(&str, &str)]| {
        let mut properties = Map::new();
        for (name, meaning) in fields {
            properties.insert(
                (*name).to_owned(),
                json!({ "type": "string", "description": meaning }),
            );
        }
        properties.insert(
            "files".to_owned(),
            json!({
                "type": "array",
                "items": { "type": "string", "contentMediaType": "application/octet-stream" },
                "description": "any number of file parts, each with a file name",
            }),
        );
        json!({ "schema": { "type": "object", "properties": properties } })
    };
    let json_body = match route.doc.body {
        Some(Body::Json(schema) | Body::JsonOrMultipart(schema, _)) => {
            Some(schema(bodies).to_value())
        }
        _ => None,
    };
    let body = match (route.doc.body, json_body.clone()) {
        (None | Some(Body::Empty), _) => None,
        (Some(Body::Json(_)), Some(schema)) => Some(json!({
            "application/json": { "schema": schema },
        })),
        (Some(Body::JsonOrMultipart(_, fields)), Some(schema)) => Some(json!({
            "application/json": { "schema": schema },
            "multipart/form-data": multipart(fields),
        })),
        (Some(Body::Json(_) | Body::JsonOrMultipart(..)), None) => None,
        (Some(Body::Multipart(fields)), _) => {
            Some(json!({ "multipart/form-data": multipart(fields) }))
        }
        (Some(Body::File(types)), _) => Some(Value::Object(
            types
                .iter()
                .map(|t| {
                    (
                        (*t).to_owned(),
                        json!({ "schema": { "contentMediaType": t } }),
                    )
                })
                .collect(),
        )),
    };
    if let Some(content) = body {
        operation["requestBody"] = json!({ "required": true, "content": content });
    }

    let mut responses = Map::new();
    match route.doc.answer {
        Some(Answer::Json(status, schema)) => {
            responses.insert(
                status.as_u16().to_string(),
                json!({
                    "description": status.canonical_reason().unwrap_or("success"),
                    "content": { "application/json": { "schema": schema(answers).to_value() } },
                }),
            );
        }
        Some(Answer::NoContent) => {
            responses.insert("204".to_owned(), json!({ "description": "done" }));
        }
        Some(Answer::File(types)) => {
            responses.insert(
                "200".to_owned(),
                json!({
                    "description": "the file",
                    "content": types
                        .iter()
                        .map(|t| ((*t).to_owned(), json!({ "schema": { "contentMediaType": t } })))
                        .collect::<Map<_, _>>(),
                }),
            );
        }
        Some(Answer::Events) => {
            responses.insert(
                "200".to_owned(),
                json!({
                    "description": "server-sent events, one JSON document per `data:` line",
                    // Each event, as parsed from the stream (OpenAPI 3.2's
                    // reading of a text/event-stream schema).
                    "content": { "text/event-stream": { "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {
                            "event": { "type": "string" },
                            "data": { "type": "string", "contentMediaType": "application/json" },
                            "id": { "type": "string" },
                            "retry": { "type": "integer" },
                        },
                    } } },
                }),
            );
        }
        None => {}
    }
    let error_answer = |why: &str| {
        json!({
            "description": why,
            "content": { "application/json": { "schema": error.clone() } },
        })
    };
    if !route.access.is_public() {
        responses.insert(
            "401".to_owned(),
            error_answer("no valid token or password was sent"),
        );
        responses.insert(
            "403".to_owned(),
            error_answer("the caller's role does not allow this"),
        );
    }
    if route.path.contains('{') {
        responses.insert("404".to_owned(), error_answer("no such record"));
    }
    if route.doc.body.is_some_and(|b| !matches!(b, Body::Empty)) || route.doc.query.is_some() {
        responses.insert(
            "422".to_owned(),
            error_answer("a field is missing or wrong; `field` names it"),
        );
    }
    if route.method == Method::DELETE {
        responses.insert(
            "422".to_owned(),
            error_answer("the record is still in use; the message says by what"),
        );
    }
    let carries_version = json_body
        .as_ref()
        .is_some_and(|schema| carries_version(schema, bodies));
    if matches!(route.method, Method::PATCH | Method::PUT) || carries_version {
        responses.insert(
            "409".to_owned(),
            error_answer("someone else saved first; `current_version` is the version now stored"),
        );
    }
    if route.doc.body.is_some_and(|b| !matches!(b, Body::Empty)) {
        responses.insert(
            "400".to_owned(),
            error_answer("the body could not be read (broken JSON or multipart)"),
        );
        responses.insert("413".to_owned(), error_answer("over the size limit"));
        responses.insert(
            "415".to_owned(),
            error_answer("the body is missing or its Content-Type is not one this operation takes"),
        );
    }
    operation["responses"] = Value::Object(responses);
    operation
}

/// Whether a body holds the version of a record it changes (`version`,
/// `survivor_version`…), and so can meet 409 when someone saved first.
fn carries_version(schema: &Value, bodies: &SchemaGenerator) -> bool {
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(target) => target
            .rsplit('/')
            .next()
            .and_then(|name| bodies.definitions().get(name)),
        None => Some(schema),
    };
    resolved
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .is_some_and(|p| p.keys().any(|k| k == "version" || k.ends_with("_version")))
}

/// A stable, unique operation id: `get_tickets_id_attachments`.
fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.push_str(&segment.trim_matches(['{', '}']).replace('-', "_"));
    }
    id
}

/// A permission's code as the API writes it (`view_tickets`).
fn permission_code(permission: kefu_domain::Permission) -> String {
    serde_json::to_value(permission)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Who may call, in words, with the roles that pass.
fn access_text(access: Access) -> String {
    let roles = || {
        Role::ALL
            .iter()
            .filter(|r| access.admits(**r))
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match access {
        Access::Public | Access::PublicForm => "Anyone may call this; no sign-in.".to_owned(),
        Access::SignedIn => "Any signed-in caller.".to_owned(),
        Access::Requires(permission) => format!(
            "Requires the permission `{}` (roles: {}).",
            permission_code(permission),
            roles()
        ),
        Access::AnyOf(_) => format!("Roles: {}.", roles()),
        Access::Customer => "A customer signed in to the portal.".to_owned(),
        Access::MailboxToken => {
            "A mailbox's token (Settings → Email) as the bearer token; no account.".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new route cannot slip into the API undocumented.
    #[test]
    fn every_api_route_documents_its_answer_and_body() {
        for route in crate::api::routes() {
            let name = format!("{} {}", route.method, route.path);
            assert!(route.doc.answer.is_some(), "{name} documents no answer");
            let writes = matches!(route.method, Method::POST | Method::PUT | Method::PATCH);
            assert_eq!(
                route.doc.body.is_some(),
                writes,
                "{name}: a body is documented exactly when the method sends one"
            );
        }
    }

    #[test]
    fn a_type_read_and_written_differently_gets_two_schemas() {
        let names = body_schema_names(
            &serde_json::from_value(json!({
                "Same": { "type": "object", "properties": { "a": { "type": "string" } } },
                "Differs": { "type": "object", "required": ["a"] },
                "Outer": { "properties": { "inner": { "$ref": "#/components/schemas/Differs" } } },
            }))
            .unwrap_or_default(),
            &serde_json::from_value(json!({
                "Same": { "type": "object", "properties": { "a": { "type": "string" } } },
                "Differs": { "type": "object" },
                "Outer": { "properties": { "inner": { "$ref": "#/components/bodySchemas/Differs" } } },
                "Only": { "type": "string" },
            }))
            .unwrap_or_default(),
        );
        assert_eq!(names["Same"], "Same");
        assert_eq!(names["Differs"], "DiffersInput");
        assert_eq!(
            names["Outer"], "OuterInput",
            "it refers to a schema that differs"
        );
        assert_eq!(names["Only"], "Only");
    }

    #[test]
    fn operation_ids_read_like_the_path() {
        assert_eq!(
            operation_id(&Method::GET, "/tickets/{id}/attachments"),
            "get_tickets_id_attachments"
        );
        assert_eq!(
            operation_id(&Method::DELETE, "/agents/{id}/two-step"),
            "delete_agents_id_two_step"
        );
    }
}
