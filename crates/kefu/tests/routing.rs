//! Routing over HTTP: team strategies, agent capacity and skills, routing
//! rules, and the background router giving waiting tickets to agents —
//! audited, never twice, also with two instances routing at once. Runs on
//! whichever database `KEFU_TEST_DATABASE_URL` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, TestApp, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";

/// A new agent (no tickets yet) who has set themselves `status`.
async fn new_agent(app: &TestApp, handle: &str, status: &str) -> i64 {
    let email = format!("{handle}@xinghe.example");
    let (code, agent) = app
        .call(
            Method::POST,
            "/api/v1/agents",
            ADMIN,
            Some(json!({
            "email": email, "display_name": handle, "role": "agent", "password": DEMO_PASSWORD})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{agent}");
    let (code, me) = app
        .call(
            Method::PUT,
            "/api/v1/me/status",
            &email,
            Some(json!({"status": status})),
        )
        .await;
    assert!(code.is_success(), "{me}");
    agent["id"].as_i64().unwrap()
}

async fn route_until_quiet(app: &kefu_app::App) {
    loop {
        let report = kefu_app::routing::sweep(app, chrono::Utc::now())
            .await
            .unwrap();
        if report.tickets < usize::try_from(kefu_app::routing::BATCH).unwrap() {
            return;
        }
    }
}

async fn ticket(app: &TestApp, id: i64) -> Value {
    app.call(Method::GET, &format!("/api/v1/tickets/{id}"), ADMIN, None)
        .await
        .1
}

async fn create(app: &TestApp, body: Value) -> i64 {
    let (code, t) = app
        .call(Method::POST, "/api/v1/tickets", MANAGER, Some(body))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{t}");
    t["id"].as_i64().unwrap()
}

#[tokio::test]
async fn rules_pick_the_team_and_strategies_pick_the_agent() {
    let server = spawn_demo_app().await;
    let app = &server;
    let ann = new_agent(app, "route.ann", "online").await;
    let bo = new_agent(app, "route.bo", "online").await;
    let cy = new_agent(app, "route.cy", "away").await;
    let (_, team) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            ADMIN,
            Some(json!({"name": "派单测试组", "member_ids": [ann, bo, cy]})),
        )
        .await;
    let team_id = team["id"].as_i64().unwrap();

    // Agents read routing; only managers and admins change it; bad input names the field.
    let (code, overview) = app.call(Method::GET, "/api/v1/routing", AGENT, None).await;
    assert_eq!(code, StatusCode::OK, "{overview}");
    let (code, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/routing/teams/{team_id}"),
            AGENT,
            Some(json!({"strategy": "round_robin"})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    for (path, body, field) in [
        (
            format!("/api/v1/routing/teams/{team_id}"),
            json!({"strategy": "random"}),
            "strategy",
        ),
        (
            format!("/api/v1/routing/agents/{ann}"),
            json!({"capacity": 0}),
            "capacity",
        ),
        (
            "/api/v1/routing-rules".to_owned(),
            json!({"name": "x", "team_id": 999_999}),
            "team_id",
        ),
        (
            "/api/v1/routing-rules".to_owned(),
            json!({"name": "x", "team_id": team_id, "ticket_types": ["gripe"]}),
            "ticket_types[0]",
        ),
    ] {
        let method = if path.contains("rules") {
            Method::POST
        } else {
            Method::PUT
        };
        let (code, error) = app.call(method, &path, MANAGER, Some(body)).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }

    let (code, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/routing/teams/{team_id}"),
            MANAGER,
            Some(json!({"strategy": "round_robin"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, rule) = app
        .call(Method::POST, "/api/v1/routing-rules", MANAGER, Some(json!({
            "name": "测试标签进测试组", "position": -5, "tags": ["route-test"], "team_id": team_id})))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{rule}");

    // Four tickets without a team: the rule gives them the team, round
    // robin alternates between the two online agents (never the away one).
    // The rule's team is stored with each ticket and shown in the answer;
    // the timeline names the router as the one who chose it.
    let mut ids = Vec::new();
    for n in 0..4 {
        let (code, answer) = app
            .call(
                Method::POST,
                "/api/v1/tickets",
                MANAGER,
                Some(json!({"subject": format!("派单 {n}"), "tags": ["route-test"]})),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["team_id"], team_id, "{answer}");
        assert_eq!(answer["team"]["name"], "派单测试组", "{answer}");
        ids.push(answer["id"].as_i64().unwrap());
    }
    let first = ticket(app, ids[0]).await;
    assert_eq!(first["team_id"], team_id, "{first}");
    assert_eq!(
        first["assignee_id"],
        Value::Null,
        "agents are given in the background"
    );
    let chose_team = |t: &Value| {
        t["timeline"].as_array().unwrap().iter().any(|e| {
            e["actor"] == "system:routing"
                && e["changes"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["field"] == "team_id"))
        })
    };
    assert!(chose_team(&first), "{first}");
    route_until_quiet(&server.app).await;
    let mut assignees = Vec::new();
    for id in &ids {
        let t = ticket(app, *id).await;
        assert_eq!(t["team_id"], team_id, "{t}");
        assignees.push(t["assignee_id"].as_i64().unwrap());
    }
    assert!(!assignees.contains(&cy));
    assert_ne!(assignees[0], assignees[1]);
    assert_eq!(assignees[0], assignees[2]);
    assert_eq!(assignees[1], assignees[3]);
    let t = ticket(app, ids[0]).await;
    let by_router = t["timeline"].as_array().unwrap().iter().any(|e| {
        e["actor"] == "system:routing"
            && e["changes"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["field"] == "assignee_id"))
    });
    assert!(by_router, "{t}");

    // Capacity: Ann is full at 2, Bo at 2; the next ticket waits for room.
    for agent in [ann, bo] {
        let (code, set) = app
            .call(
                Method::PUT,
                &format!("/api/v1/routing/agents/{agent}"),
                MANAGER,
                Some(json!({"capacity": 2, "skills": ["Language:EN", "channel:email"]})),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{set}");
        assert_eq!(set["skills"], json!(["language:en", "channel:email"]));
        assert_eq!(set["open_tickets"], 2);
    }
    let waiting = create(app, json!({"subject": "排队", "tags": ["route-test"]})).await;
    route_until_quiet(&server.app).await;
    assert_eq!(ticket(app, waiting).await["assignee_id"], Value::Null);
    // Ann resolves one; the waiting ticket goes to her on a later pass.
    let first = ticket(app, ids[0]).await;
    let owner = first["assignee_id"].as_i64().unwrap();
    let (code, done) = app
        .call(Method::POST, &format!("/api/v1/tickets/{}/status", ids[0]), ADMIN, Some(json!({
            "version": first["version"], "status": "resolved", "resolution_category": "solved", "resolution": "已处理"})))
        .await;
    assert_eq!(code, StatusCode::OK, "{done}");
    let later =
        chrono::Utc::now() + chrono::Duration::seconds(kefu_app::routing::RETRY_SECONDS + 1);
    kefu_app::routing::sweep(&server.app, later).await.unwrap();
    assert_eq!(ticket(app, waiting).await["assignee_id"], owner);

    // Unassigning an open ticket puts it back in line; a manual team never routes.
    let (code, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/routing/teams/{team_id}"),
            MANAGER,
            Some(json!({"strategy": "manual"})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let t = ticket(app, ids[1]).await;
    let (code, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{}", ids[1]),
            MANAGER,
            Some(json!({"version": t["version"], "assignee_id": null})),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    route_until_quiet(&server.app).await;
    assert_eq!(ticket(app, ids[1]).await["assignee_id"], Value::Null);
    // A ticket whose team is taken away later waits again, and the router
    // applies the rules to it as it would to a new one.
    let t = ticket(app, ids[1]).await;
    let (code, cleared) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{}", ids[1]),
            MANAGER,
            Some(json!({"version": t["version"], "team_id": null})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["team_id"], Value::Null);
    route_until_quiet(&server.app).await;
    let t = ticket(app, ids[1]).await;
    assert_eq!(t["team_id"], team_id, "{t}");
    assert_eq!(t["assignee_id"], Value::Null, "the team routes by hand now");

    // The settings page shows strategies, loads and rules, and saves them.
    let manager = server.signed_in(MANAGER, DEMO_PASSWORD).await;
    let page = manager.get("/settings/routing").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("测试标签进测试组"));
    assert!(page.body.contains("route.ann"));
    let saved = manager
        .post_from(
            "/settings/routing",
            &format!("/settings/routing/teams/{team_id}"),
            &[("strategy", "least_loaded")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let refused = manager
        .post_from(
            "/settings/routing",
            &format!("/settings/routing/agents/{ann}"),
            &[("capacity", "lots"), ("skills", "")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("routing-error"));
    let agent = server.signed_in(AGENT, DEMO_PASSWORD).await;
    assert_eq!(
        agent.get("/settings/routing").await.status,
        StatusCode::FORBIDDEN
    );
    let (_, overview) = app.call(Method::GET, "/api/v1/routing", AGENT, None).await;
    let ours = overview["teams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["team_id"] == team_id)
        .unwrap()
        .clone();
    assert_eq!(ours["strategy"], "least_loaded");
}

#[tokio::test]
async fn two_instances_never_assign_a_ticket_twice_or_overfill_an_agent() {
    let server = spawn_demo_app().await;
    let app = &server;
    let mut members = Vec::new();
    for n in 0..3 {
        members.push(new_agent(app, &format!("twin.route{n}"), "online").await);
    }
    let (_, team) = app
        .call(
            Method::POST,
            "/api/v1/teams",
            ADMIN,
            Some(json!({"name": "双实例派单", "member_ids": members})),
        )
        .await;
    let team_id = team["id"].as_i64().unwrap();
    app.call(
        Method::PUT,
        &format!("/api/v1/routing/teams/{team_id}"),
        MANAGER,
        Some(json!({"strategy": "least_loaded"})),
    )
    .await;
    for agent in &members {
        app.call(
            Method::PUT,
            &format!("/api/v1/routing/agents/{agent}"),
            MANAGER,
            Some(json!({"capacity": 10})),
        )
        .await;
    }
    let mut ids = Vec::new();
    for n in 0..36 {
        ids.push(
            create(
                app,
                json!({"subject": format!("双实例派单 {n}"), "team_id": team_id}),
            )
            .await,
        );
    }
    let beside = server.spawn_beside().await;
    tokio::join!(
        route_until_quiet(&server.app),
        route_until_quiet(&beside.app)
    );
    let mut per_agent = std::collections::HashMap::new();
    let mut unassigned = 0;
    for id in &ids {
        let t = ticket(app, *id).await;
        match t["assignee_id"].as_i64() {
            Some(agent) => *per_agent.entry(agent).or_insert(0) += 1,
            None => unassigned += 1,
        }
        // Exactly one assignment on the timeline.
        let assignments = t["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["actor"] == "system:routing"
                    && e["changes"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["field"] == "assignee_id"))
            })
            .count();
        assert!(assignments <= 1, "ticket {id} assigned {assignments} times");
    }
    // 3 agents × 10 = 30 assigned, the rest wait; nobody over capacity.
    assert_eq!(per_agent.values().sum::<i32>(), 30, "{per_agent:?}");
    assert!(per_agent.values().all(|n| *n == 10), "{per_agent:?}");
    assert_eq!(unassigned, 6);
    beside.stop().await;
}
