//! The HTTP API against a real server on 127.0.0.1, on whichever database
//! `KEFU_TEST_DATABASE_URL` names (a temporary SQLite file by default).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_domain::Role;
use kefu_testing::{TestApp, spawn_app, spawn_demo_app};
use kefu_web::access::{Access, permissions_markdown, route_specs};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";
const ANALYST: &str = "analyst@xinghe.example";

async fn body(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let value = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, value)
}

/// Sends `method path` as a demo account (HTTP Basic), with an optional JSON body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    input: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.as_user(method, path, user);
    if let Some(input) = input {
        request = request.json(&input);
    }
    body(request.send().await.unwrap()).await
}

fn assert_error_shape(value: &Value, code: &str) {
    let error = &value["error"];
    assert_eq!(error["code"], code, "{value}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{value}"
    );
    assert!(error.get("field").is_some(), "field key missing: {value}");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let (status, health) = body(app.client.get(app.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    let (status, ready) = body(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ready");
    let expected = if app.database.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(ready["database"], expected);
    assert!(ready["schema_version"].as_i64().is_some_and(|v| v >= 1));
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_the_pool() {
    let app = spawn_demo_app().await;
    for _ in 0..3 {
        app.client.get(app.url("/healthz")).send().await.unwrap();
    }
    app.client
        .get(app.url("/api/v1/agents"))
        .send()
        .await
        .unwrap();

    // Metrics are for monitoring: not for anyone who asks, nor for an agent.
    let (status, value) = body(app.client.get(app.url("/metrics")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&value, "unauthenticated");
    let (status, value) = call(&app, Method::GET, "/metrics", AGENT, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_shape(&value, "forbidden");

    // A scraper carries an analyst-role token, read-only everywhere else.
    let (status, issued) = call(
        &app,
        Method::POST,
        "/api/v1/api-tokens",
        ADMIN,
        Some(json!({"name": "Prometheus", "role": "analyst", "expires_in_days": 365})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains("route=\"/healthz\"")
            && l.contains("status=\"200\"")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total{")
            && l.contains("route=\"/api/v1/agents\"")
            && l.contains("status=\"401\"")),
        "{text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(
        text.contains("db_pool_connections{state=\"max\"}"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn demo_agents_are_listed_page_by_page() {
    let app = spawn_demo_app().await;
    let mut cursor: Option<String> = None;
    let mut emails = Vec::new();
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/agents?limit=10&cursor={c}"),
            None => "/api/v1/agents?limit=10".to_owned(),
        };
        let (status, page) = call(&app, Method::GET, &path, AGENT, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for agent in page["items"].as_array().unwrap() {
            emails.push(agent["email"].as_str().unwrap().to_owned());
            assert!(
                agent.get("password_hash").is_none(),
                "password hash leaked: {agent}"
            );
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(emails.len() >= 25, "{} agents", emails.len());
    assert_eq!(pages, emails.len().div_ceil(10));
    let mut unique = emails.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), emails.len(), "pages overlap");
    for email in [ADMIN, MANAGER, AGENT, ANALYST] {
        assert!(emails.iter().any(|e| e == email), "{email} missing");
    }

    let (status, teams) = call(&app, Method::GET, "/api/v1/teams", AGENT, None).await;
    assert_eq!(status, StatusCode::OK);
    let teams = teams["items"].as_array().unwrap().clone();
    assert_eq!(teams.len(), 6);
    for team in &teams {
        let members = team["member_ids"].as_array().unwrap();
        assert!(!members.is_empty(), "{team}");
        if let Some(lead) = team["lead_agent_id"].as_i64() {
            assert!(
                members.iter().any(|m| m.as_i64() == Some(lead)),
                "lead outside team: {team}"
            );
        }
    }
    let (status, company) = call(&app, Method::GET, "/api/v1/company", ANALYST, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(company["name"], "星河宽带");
    app.stop().await;
}

#[tokio::test]
async fn missing_or_wrong_credentials_get_401_in_the_error_shape() {
    let app = spawn_demo_app().await;
    let no_auth = app
        .client
        .get(app.url("/api/v1/agents"))
        .send()
        .await
        .unwrap();
    assert!(no_auth.headers().contains_key("www-authenticate"));
    let (status, value) = body(no_auth).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&value, "unauthenticated");

    let wrong_password = app
        .client
        .get(app.url("/api/v1/agents"))
        .basic_auth(ADMIN, Some("not the password"))
        .send()
        .await
        .unwrap();
    let no_such_user = app
        .client
        .get(app.url("/api/v1/agents"))
        .basic_auth("nobody@xinghe.example", Some("not the password"))
        .send()
        .await
        .unwrap();
    let (s1, v1) = body(wrong_password).await;
    let (s2, v2) = body(no_such_user).await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        v1, v2,
        "the answer must not reveal whether the account exists"
    );

    for header in [
        "Bearer kefu_0000",
        "Bearer not-a-token",
        "Basic !!!",
        "Digest abc",
        "",
    ] {
        let (status, value) = body(
            app.client
                .get(app.url("/api/v1/me"))
                .header("authorization", header)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        assert_error_shape(&value, "unauthenticated");
    }
    app.stop().await;
}

#[tokio::test]
async fn api_tokens_are_issued_once_and_act_with_their_role() {
    let app = spawn_demo_app().await;
    let (status, issued) = call(
        &app,
        Method::POST,
        "/api/v1/api-tokens",
        ADMIN,
        Some(json!({"name": "BI export", "role": "analyst", "expires_in_days": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("kefu_"));
    assert!(issued.get("token_hash").is_none());
    assert!(issued["expires_at"].is_string());

    let (status, me) = body(
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["role"], "analyst");
    assert_eq!(me["actor"]["kind"], "api_token");

    let (status, value) = body(
        app.client
            .post(app.url("/api/v1/teams"))
            .bearer_auth(&token)
            .json(&json!({"name": "不该创建"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error_shape(&value, "forbidden");

    // Only admins issue tokens.
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/api-tokens",
        MANAGER,
        Some(json!({"name": "mine"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn teams_are_created_edited_with_versions_and_audited() {
    let app = spawn_demo_app().await;
    let (status, team) = call(&app, Method::POST, "/api/v1/teams", MANAGER, Some(json!({"name": "夜班组", "description": "Night shift", "lead_agent_id": 3, "member_ids": [4, 5]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    assert_eq!(team["version"], 1);
    assert_eq!(team["member_ids"], json!([3, 4, 5]));
    let id = team["id"].as_i64().unwrap();
    let path = format!("/api/v1/teams/{id}");

    let (status, renamed) = call(
        &app,
        Method::PATCH,
        &path,
        MANAGER,
        Some(json!({"version": 1, "name": "夜班组 Night shift", "lead_agent_id": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["version"], 2);
    assert_eq!(renamed["lead_agent_id"], Value::Null);
    assert_eq!(renamed["member_ids"], json!([3, 4, 5]));

    // A second editor who read version 1 must not overwrite the rename.
    let (status, conflict) = call(
        &app,
        Method::PATCH,
        &path,
        ADMIN,
        Some(json!({"version": 1, "description": "stale edit"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_error_shape(&conflict, "conflict");
    assert_eq!(conflict["error"]["current_version"], 2);
    let (_, current) = call(&app, Method::GET, &path, AGENT, None).await;
    assert_eq!(current["description"], "Night shift");
    assert_eq!(current["name"], "夜班组 Night shift");

    let (status, history) =
        call(&app, Method::GET, &format!("{path}/history"), MANAGER, None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let entries = history.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{history}");
    assert_eq!(entries[0]["action"], "create");
    assert_eq!(entries[0]["actor_kind"], "agent");
    assert_eq!(entries[0]["actor_ref"], "2");
    assert_eq!(entries[0]["source"], "api");
    assert_eq!(entries[1]["action"], "update");
    let changed: Vec<&str> = entries[1]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["lead_agent_id", "name"]);
    assert_eq!(entries[1]["changes"][1]["old"], "夜班组");
    assert_eq!(entries[1]["changes"][1]["new"], "夜班组 Night shift");

    // Agents read the directory but neither change teams nor read the audit log.
    let (status, _) = call(
        &app,
        Method::PATCH,
        &path,
        AGENT,
        Some(json!({"version": 2, "name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, Method::GET, &format!("{path}/history"), AGENT, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_field_and_saves_nothing() {
    let app = spawn_demo_app().await;
    let teams_before = call(&app, Method::GET, "/api/v1/teams", ADMIN, None)
        .await
        .1["items"]
        .as_array()
        .unwrap()
        .len();
    let cases = [
        (
            json!({"name": "   "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "name",
        ),
        (
            json!({"name": "A", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "colour",
        ),
        (
            json!({"name": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "name",
        ),
        (
            json!({"description": "no name"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "name",
        ),
        (
            json!({"name": "幽灵组", "member_ids": [1, 999999]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "member_ids",
        ),
        (
            json!({"name": "幽灵组", "lead_agent_id": 999999}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "lead_agent_id",
        ),
        (
            json!({"name": "一线客服组"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate",
            "name",
        ),
    ];
    for (input, status, code, field) in cases {
        let (got, value) = call(
            &app,
            Method::POST,
            "/api/v1/teams",
            ADMIN,
            Some(input.clone()),
        )
        .await;
        assert_eq!(got, status, "{input} → {value}");
        assert_error_shape(&value, code);
        assert_eq!(value["error"]["field"], field, "{input} → {value}");
    }
    let teams_after = call(&app, Method::GET, "/api/v1/teams", ADMIN, None)
        .await
        .1["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        teams_before, teams_after,
        "a refused request saved something"
    );

    let (status, value) = body(
        app.as_user(Method::POST, "/api/v1/teams", ADMIN)
            .header("content-type", "application/json")
            .body("{\"name\": ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error_shape(&value, "invalid_json");

    let (status, value) = body(
        app.as_user(Method::POST, "/api/v1/teams", ADMIN)
            .body("name=x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error_shape(&value, "unsupported_media_type");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=xyz", "cursor"),
        ("sort=name", "sort"),
    ] {
        let (status, value) = call(
            &app,
            Method::GET,
            &format!("/api/v1/agents?{query}"),
            ADMIN,
            None,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query} → {value}"
        );
        assert_eq!(value["error"]["field"], field, "{query} → {value}");
    }

    let (status, value) = call(
        &app,
        Method::POST,
        "/api/v1/agents",
        ADMIN,
        Some(json!({"email": "not-an-email", "display_name": "新人", "role": "agent"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["error"]["field"], "email");
    let (status, value) = call(
        &app,
        Method::POST,
        "/api/v1/agents",
        ADMIN,
        Some(json!({"email": "new@xinghe.example", "display_name": "新人", "role": "boss"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["error"]["field"], "role");
    assert!(
        value["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tech_support"),
        "{value}"
    );
    app.stop().await;
}

#[tokio::test]
async fn admins_create_agents_who_can_then_sign_in() {
    let app = spawn_demo_app().await;
    let (status, agent) = call(&app, Method::POST, "/api/v1/agents", ADMIN, Some(json!({"email": " New.Hire@XingHe.example ", "display_name": "孙悦", "role": "agent", "password": "welcome-2026"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["email"], "new.hire@xinghe.example");
    assert_eq!(agent["time_zone"], "Asia/Shanghai");
    let (status, me) = body(
        app.client
            .get(app.url("/api/v1/me"))
            .basic_auth("new.hire@xinghe.example", Some("welcome-2026"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["agent_id"], agent["id"]);

    let (status, value) = call(
        &app,
        Method::POST,
        "/api/v1/agents",
        ADMIN,
        Some(json!({"email": "new.hire@xinghe.example", "display_name": "重复", "role": "agent"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(value["error"]["code"], "duplicate");
    assert_eq!(value["error"]["field"], "email");

    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/agents",
        MANAGER,
        Some(json!({"email": "x@xinghe.example", "display_name": "X", "role": "admin"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a manager must not create an admin"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_shape() {
    let app = spawn_demo_app().await;
    for path in [
        "/api/v1/nothing-here",
        "/api/v1/teams/abc",
        "/api/v1/teams/999999",
    ] {
        let (status, value) = call(&app, Method::GET, path, ADMIN, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_error_shape(&value, "not_found");
    }
    let page = app
        .client
        .get(app.url("/no/such/page"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("data-kind=\"not_found\"") && html.contains("Page not found"),
        "{html}"
    );
    let (status, value) = call(&app, Method::DELETE, "/api/v1/agents", ADMIN, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error_shape(&value, "method_not_allowed");
    app.stop().await;
}

/// The demo account of each role.
const ACCOUNTS: [(Role, &str); 7] = [
    (Role::Admin, ADMIN),
    (Role::Manager, MANAGER),
    (Role::Agent, AGENT),
    (Role::TechSupport, "support@xinghe.example"),
    (Role::QaInspector, "qa@xinghe.example"),
    (Role::Trainer, "trainer@xinghe.example"),
    (Role::Analyst, ANALYST),
];

#[tokio::test]
async fn every_route_admits_exactly_the_roles_its_rule_names() {
    assert_eq!(ACCOUNTS.len(), Role::ALL.len());
    for role in Role::ALL {
        assert!(
            ACCOUNTS.iter().any(|(r, _)| *r == role),
            "no demo account for {role}"
        );
    }
    let app = spawn_demo_app().await;
    let specs: Vec<_> = route_specs().into_iter().filter(|s| !s.page).collect();
    assert!(specs.len() >= 10);
    let css_file = kefu_web::assets::css_path().trim_start_matches("/static/");
    for spec in specs {
        let path = spec.path.replace("{id}", "1").replace("{file}", css_file);
        // An empty body: routes that change things refuse it after the
        // permission check, so nothing is created by this test.
        let anonymous = app
            .client
            .request(spec.method.clone(), app.url(&path))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status();
        if spec.access.is_public() {
            assert!(
                anonymous.is_success(),
                "{} {path}: public route answered {anonymous}",
                spec.method
            );
        } else {
            assert_eq!(
                anonymous,
                StatusCode::UNAUTHORIZED,
                "{} {path} without credentials",
                spec.method
            );
        }
        for (role, email) in ACCOUNTS {
            let status = app
                .as_user(spec.method.clone(), &path, email)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
                .status();
            if spec.access == Access::MailboxToken {
                // An account is not a mailbox's token.
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{} {path} as {role}",
                    spec.method
                );
            } else if spec.access.admits(role) {
                assert!(
                    status != StatusCode::FORBIDDEN
                        && status != StatusCode::UNAUTHORIZED
                        && !status.is_server_error(),
                    "{} {path} as {role}: allowed by the table but answered {status}",
                    spec.method
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {path} as {role}",
                    spec.method
                );
            }
        }
    }
    let (_, teams) = call(&app, Method::GET, "/api/v1/teams", ADMIN, None).await;
    assert_eq!(
        teams["items"].as_array().unwrap().len(),
        6,
        "the permission sweep created something"
    );
    app.stop().await;
}

#[test]
fn the_permissions_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/permissions.md");
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == permissions_markdown(),
        "docs/permissions.md is out of date; regenerate it with `cargo run -- permissions > docs/permissions.md`"
    );
}

#[tokio::test]
async fn admins_change_roles_and_deactivate_accounts_but_never_lock_themselves_out() {
    let app = spawn_demo_app().await;
    let (_, agent) = call(&app, Method::GET, "/api/v1/agents/3", ADMIN, None).await;
    assert_eq!(agent["email"], AGENT);
    let (status, changed) = call(
        &app,
        Method::PATCH,
        "/api/v1/agents/3",
        ADMIN,
        Some(json!({"version": agent["version"], "role": "tech_support"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["role"], "tech_support");
    let (status, stale) = call(
        &app,
        Method::PATCH,
        "/api/v1/agents/3",
        ADMIN,
        Some(json!({"version": agent["version"], "active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stale["error"]["current_version"], changed["version"]);

    let visitor = app.signed_in(AGENT, kefu_testing::DEMO_PASSWORD).await;
    assert_eq!(visitor.get("/").await.status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/api/v1/agents/3",
        ADMIN,
        Some(json!({"version": changed["version"], "active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        visitor.get("/").await.status,
        StatusCode::SEE_OTHER,
        "a deactivated agent's session went on"
    );
    let (status, _) = call(&app, Method::GET, "/api/v1/me", AGENT, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (_, me) = call(&app, Method::GET, "/api/v1/agents/1", ADMIN, None).await;
    let (status, refused) = call(
        &app,
        Method::PATCH,
        "/api/v1/agents/1",
        ADMIN,
        Some(json!({"version": me["version"], "role": "agent"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "role");
    let (status, refused) = call(
        &app,
        Method::PATCH,
        "/api/v1/agents/1",
        ADMIN,
        Some(json!({"version": me["version"], "active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "active");
    let (status, _) = call(
        &app,
        Method::PATCH,
        "/api/v1/agents/3",
        MANAGER,
        Some(json!({"version": 1, "role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    app.stop().await;
}

/// The schema the document gives the success answer of `method path`.
fn answer_schema(document: &Value, method: &str, path: &str) -> Value {
    let responses = &document["paths"][path][method]["responses"];
    let (_, answer) = responses
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is not in the document"))
        .iter()
        .find(|(status, _)| status.starts_with('2'))
        .unwrap_or_else(|| panic!("{method} {path} documents no success answer"));
    answer["content"]["application/json"]["schema"].clone()
}

/// Calls `GET concrete` and checks the answer against the schema of `path`.
async fn answer_matches(app: &TestApp, document: &Value, path: &str, concrete: &str) {
    let (status, answer) = call(app, Method::GET, concrete, ADMIN, None).await;
    assert_eq!(status, StatusCode::OK, "{concrete}: {answer}");
    let schema = answer_schema(document, "get", path);
    let wrong = kefu_testing::schema::violations(document, &schema, &answer);
    assert!(wrong.is_empty(), "{concrete} breaks its schema: {wrong:#?}");
}

fn every_reference(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => found.push(target.clone()),
                    _ => every_reference(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| every_reference(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_as_it_answers() {
    let app = spawn_demo_app().await;
    let response = app
        .client
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");

    // Every API route is there, with who may call it and a success answer.
    let mut ids = std::collections::HashSet::new();
    for route in route_specs()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
    {
        let method = route.method.as_str().to_ascii_lowercase();
        let operation = &document["paths"][&route.path][&method];
        assert_eq!(
            operation["summary"], route.summary,
            "{method} {}",
            route.path
        );
        assert!(ids.insert(operation["operationId"].as_str().unwrap().to_owned()));
        let statuses: Vec<&String> = operation["responses"].as_object().unwrap().keys().collect();
        assert!(
            statuses.iter().any(|s| s.starts_with('2')),
            "{method} {}: {statuses:?}",
            route.path
        );
        if !route.access.is_public() {
            assert!(statuses.iter().any(|s| *s == "401" || *s == "403"));
        }
        if route.path.contains("{id}") {
            assert_eq!(operation["parameters"][0]["in"], "path");
        }
    }
    assert_eq!(
        document["paths"]["/api/v1/tickets"]["post"]["x-kefu-permission"],
        "manage_tickets"
    );
    let query: Vec<&str> = document["paths"]["/api/v1/tickets"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for filter in ["status", "priority", "cursor", "limit"] {
        assert!(query.contains(&filter), "{query:?}");
    }

    // Every reference points at a schema that exists.
    let mut references = Vec::new();
    every_reference(&document, &mut references);
    assert!(references.len() > 100);
    for reference in references {
        assert!(
            document
                .pointer(reference.trim_start_matches('#'))
                .is_some(),
            "{reference} does not resolve"
        );
    }

    // Real answers fit the schemas the document gives them.
    let (_, tickets) = call(&app, Method::GET, "/api/v1/tickets?limit=3", ADMIN, None).await;
    let ticket = tickets["items"][0]["id"].as_i64().unwrap();
    let customer = tickets["items"][0]["customer"]["id"].as_i64().unwrap();
    let (_, teams) = call(&app, Method::GET, "/api/v1/teams", ADMIN, None).await;
    let team = teams["items"][0]["id"].as_i64().unwrap();
    for (path, concrete) in [
        ("/api/v1/me", "/api/v1/me".to_owned()),
        ("/api/v1/company", "/api/v1/company".to_owned()),
        ("/api/v1/agents", "/api/v1/agents".to_owned()),
        ("/api/v1/teams", "/api/v1/teams".to_owned()),
        (
            "/api/v1/teams/{id}/history",
            format!("/api/v1/teams/{team}/history"),
        ),
        ("/api/v1/api-tokens", "/api/v1/api-tokens".to_owned()),
        ("/api/v1/customers", "/api/v1/customers?limit=50".to_owned()),
        (
            "/api/v1/customers/{id}",
            format!("/api/v1/customers/{customer}"),
        ),
        (
            "/api/v1/customers/{id}/profile",
            format!("/api/v1/customers/{customer}/profile"),
        ),
        (
            "/api/v1/customers/duplicates",
            "/api/v1/customers/duplicates".to_owned(),
        ),
        ("/api/v1/organizations", "/api/v1/organizations".to_owned()),
        ("/api/v1/tickets", "/api/v1/tickets?limit=50".to_owned()),
        ("/api/v1/tickets/{id}", format!("/api/v1/tickets/{ticket}")),
        (
            "/api/v1/tickets/{id}/attachments",
            format!("/api/v1/tickets/{ticket}/attachments"),
        ),
        ("/api/v1/macros", "/api/v1/macros".to_owned()),
        ("/api/v1/notifications", "/api/v1/notifications".to_owned()),
        ("/api/v1/saved-views", "/api/v1/saved-views".to_owned()),
        (
            "/api/v1/search",
            "/api/v1/search?q=%E5%AE%BD%E5%B8%A6".to_owned(),
        ),
        (
            "/api/v1/ticket-categories",
            "/api/v1/ticket-categories".to_owned(),
        ),
        (
            "/api/v1/ticket-settings",
            "/api/v1/ticket-settings".to_owned(),
        ),
        ("/api/v1/custom-fields", "/api/v1/custom-fields".to_owned()),
        ("/api/v1/audit", "/api/v1/audit?limit=50".to_owned()),
    ] {
        answer_matches(&app, &document, path, &concrete).await;
    }

    // A created ticket and an error answer fit theirs too.
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/v1/tickets",
        ADMIN,
        Some(json!({ "subject": "宽带无法上网", "customer_id": customer, "channel": "phone" })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let schema = answer_schema(&document, "post", "/api/v1/tickets");
    let wrong = kefu_testing::schema::violations(&document, &schema, &created);
    assert!(wrong.is_empty(), "{wrong:#?}");
    let (status, refused) = call(
        &app,
        Method::POST,
        "/api/v1/tickets",
        ADMIN,
        Some(json!({ "subject": "x", "customer_id": customer, "channel": "pigeon" })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let schema = &document["paths"]["/api/v1/tickets"]["post"]["responses"]["422"]["content"]["application/json"]
        ["schema"];
    let wrong = kefu_testing::schema::violations(&document, schema, &refused);
    assert!(wrong.is_empty(), "{wrong:#?}");

    // A body that the document says is valid is accepted.
    let body_schema = &document["paths"]["/api/v1/tickets"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let sample = json!({ "subject": "发票", "customer_id": customer, "channel": "api" });
    let wrong = kefu_testing::schema::violations(&document, body_schema, &sample);
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn error_sentences_speak_the_language_the_request_asks_for() {
    let app = spawn_demo_app().await;
    let create = |language: Option<&str>| {
        let mut request = app
            .as_user(Method::POST, "/api/v1/teams", ADMIN)
            .json(&json!({"name": ""}));
        if let Some(language) = language {
            request = request.header("Accept-Language", language);
        }
        request.send()
    };

    // No preference: English, the API's default for programs.
    let (status, english) = body(create(None).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{english}");
    assert_error_shape(&english, "validation_failed");
    assert_eq!(english["error"]["message"], "name must not be empty");

    // Chinese asked for: the same code and field, the sentence in Chinese.
    let (status, chinese) = body(create(Some("zh-CN,zh;q=0.9,en;q=0.5")).await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{chinese}");
    assert_error_shape(&chinese, "validation_failed");
    assert_eq!(chinese["error"]["field"], "name");
    assert_eq!(chinese["error"]["message"], "name：不能为空");

    // Errors raised before any handler runs follow the request too.
    let (status, refused) = body(
        app.client
            .get(app.url("/api/v1/agents"))
            .header("Accept-Language", "zh-CN")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error_shape(&refused, "unauthenticated");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("需要登录")),
        "{refused}"
    );
    let (status, missing) = body(
        app.client
            .get(app.url("/api/v1/no-such-thing"))
            .header("Accept-Language", "en-GB,zh-CN;q=0.3")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["message"], "no such resource");
    app.stop().await;
}
