//! Automation rules over HTTP: kept and checked through the API and the
//! settings page, fired by ticket events and SLA breaches, authored in the
//! audit log by the rule, loop-safe, tried on a sample ticket without
//! changes. Runs on whichever database `KEFU_TEST_DATABASE_URL` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, TestApp, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";

async fn ticket(app: &TestApp, id: i64) -> Value {
    app.call(Method::GET, &format!("/api/v1/tickets/{id}"), ADMIN, None)
        .await
        .1
}

async fn rule(app: &TestApp, body: Value) -> Value {
    let (code, rule) = app
        .call(Method::POST, "/api/v1/automations", MANAGER, Some(body))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{rule}");
    rule
}

async fn fired(app: &TestApp, id: &Value) -> i64 {
    let (_, all) = app
        .call(Method::GET, "/api/v1/automations", AGENT, None)
        .await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == *id)
        .unwrap()["fired_count"]
        .as_i64()
        .unwrap()
}

fn tags(t: &Value) -> Vec<String> {
    t["tags"]
        .as_array()
        .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn rules_fire_on_events_are_audited_and_cannot_loop() {
    let server = spawn_demo_app().await;
    let app = &server;

    // Agents may read rules but not write them; bad rules name the field.
    let (code, _) = app
        .call(Method::POST, "/api/v1/automations", AGENT,
            Some(json!({"name": "x", "event": "ticket.created", "actions": [{"action": "add_tags", "value": "x"}]})))
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    for (body, field) in [
        (
            json!({"name": "x", "event": "ticket.exploded", "actions": [{"action": "add_tags", "value": "x"}]}),
            "event",
        ),
        (
            json!({"name": "x", "event": "ticket.created", "conditions": [{"field": "mood", "op": "is", "value": "x"}], "actions": [{"action": "add_tags", "value": "x"}]}),
            "conditions[0].field",
        ),
        (
            json!({"name": "x", "event": "ticket.created", "conditions": [{"field": "hours_since_created", "op": "greater_than", "value": "soon"}], "actions": [{"action": "add_tags", "value": "x"}]}),
            "conditions[0].value",
        ),
        (
            json!({"name": "x", "event": "ticket.created", "conditions": [{"field": "type", "op": "is", "value": "grumble"}], "actions": [{"action": "add_tags", "value": "x"}]}),
            "conditions[0].value",
        ),
        (
            json!({"name": "x", "event": "ticket.created", "actions": []}),
            "actions",
        ),
        (
            json!({"name": "x", "event": "ticket.created", "actions": [{"action": "add_tags", "value": "x"}, {"action": "assign", "value": "999999"}]}),
            "actions[1].value",
        ),
        (
            json!({"name": "x", "event": "ticket.created", "actions": [{"action": "launch", "value": "x"}]}),
            "actions[0].action",
        ),
    ] {
        let (code, error) = app
            .call(Method::POST, "/api/v1/automations", MANAGER, Some(body))
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }

    // A complaint from a VIP: priority P1, a tag, the managers told, the
    // customer emailed with the placeholders filled.
    let (code, customer) = app
        .call(
            Method::POST,
            "/api/v1/customers",
            AGENT,
            Some(json!({
            "name": "周慧敏", "grade": "vip",
            "contact_points": [{"kind": "email", "value": "zhou.huimin@example.cn"}]})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{customer}");
    let vip = rule(app, json!({
        "name": "VIP 投诉加急", "position": 1, "event": "ticket.created",
        "conditions": [{"field": "type", "op": "is", "value": "complaint"}, {"field": "customer.grade", "op": "is", "value": "vip"}],
        "actions": [
            {"action": "set_priority", "value": "p1"},
            {"action": "add_tags", "value": "VIP投诉"},
            {"action": "notify", "value": "managers"},
            {"action": "email_customer", "subject": "已收到您的投诉 {ticket.number}", "body": "{customer.name}，您好：我们已收到您关于“{ticket.subject}”的投诉。"}
        ]})).await;
    let (code, created) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({
            "subject": "装维人员爽约两次", "type": "complaint", "customer_id": customer["id"]})),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let t = ticket(app, id).await;
    assert_eq!(t["priority"], "p1", "{t}");
    assert!(tags(&t).contains(&"VIP投诉".to_owned()));
    let author = format!("system:automation:{}", vip["id"]);
    assert!(
        t["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == author.as_str()
                && e["changes"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["field"] == "priority"))),
        "{t}"
    );
    let mut reader = server.app.store.read().await.unwrap();
    let mail = kefu_store::outbox::to_address(&mut reader.conn(), "zhou.huimin@example.cn", 5)
        .await
        .unwrap();
    drop(reader);
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, format!("已收到您的投诉 #{id}"));
    assert!(
        mail[0].body_text.starts_with("周慧敏，您好"),
        "{}",
        mail[0].body_text
    );
    let (_, notes) = app
        .call(Method::GET, "/api/v1/notifications", MANAGER, None)
        .await;
    assert!(
        notes["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "automation" && n["ticket_id"] == id),
        "{notes}"
    );
    assert_eq!(fired(app, &vip["id"]).await, 1);
    // An inquiry from someone else does not match.
    let (_, other) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({"subject": "咨询套餐"})),
        )
        .await;
    assert_ne!(
        ticket(app, other["id"].as_i64().unwrap()).await["priority"],
        "p1"
    );
    assert_eq!(fired(app, &vip["id"]).await, 1);

    // Two rules that would chase each other for ever elsewhere: each fires
    // once per change a person makes, and a rule's change sets off nothing.
    let up = rule(app, json!({"name": "p2 改 p1", "position": 20, "event": "ticket.updated",
        "conditions": [{"field": "priority", "op": "is", "value": "p2"}, {"field": "tags", "op": "is", "value": "ping-pong"}],
        "actions": [{"action": "set_priority", "value": "p1"}]})).await;
    let down = rule(app, json!({"name": "p1 改 p2", "position": 30, "event": "ticket.updated",
        "conditions": [{"field": "priority", "op": "is", "value": "p1"}, {"field": "tags", "op": "is", "value": "ping-pong"}],
        "actions": [{"action": "set_priority", "value": "p2"}]})).await;
    let other_id = other["id"].as_i64().unwrap();
    let o = ticket(app, other_id).await;
    let (code, changed) = app
        .call(Method::PATCH, &format!("/api/v1/tickets/{other_id}"), AGENT,
            Some(json!({"version": o["version"], "priority": "p2", "priority_reason": "客户催单", "tags": ["ping-pong"]})))
        .await;
    assert_eq!(code, StatusCode::OK, "{changed}");
    assert_eq!(fired(app, &up["id"]).await, 1);
    assert_eq!(fired(app, &down["id"]).await, 1);
    assert_eq!(
        ticket(app, other_id).await["priority"],
        "p2",
        "up, then down, then nothing"
    );

    // Trying a rule on a ticket says which conditions hold and changes nothing.
    let before = ticket(app, id).await;
    let (code, tried) = app
        .call(
            Method::POST,
            &format!("/api/v1/automations/{}/test", vip["id"]),
            AGENT,
            Some(json!({"ticket_id": id})),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{tried}");
    assert_eq!(tried["matches"], true);
    assert_eq!(tried["conditions"].as_array().unwrap().len(), 2);
    let (_, tried_other) = app
        .call(
            Method::POST,
            &format!("/api/v1/automations/{}/test", vip["id"]),
            AGENT,
            Some(json!({"ticket_id": other_id})),
        )
        .await;
    assert_eq!(tried_other["matches"], false);
    assert_eq!(tried_other["conditions"][0]["holds"], false);
    let (code, error) = app
        .call(
            Method::POST,
            &format!("/api/v1/automations/{}/test", vip["id"]),
            AGENT,
            Some(json!({"ticket_id": 99_999_999})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(ticket(app, id).await["version"], before["version"]);

    // Switched off, a rule does not fire.
    let mut off = vip.clone();
    for key in [
        "id",
        "fired_count",
        "last_fired_at",
        "created_at",
        "updated_at",
    ] {
        off.as_object_mut().unwrap().remove(key);
    }
    off["active"] = json!(false);
    let (code, saved) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/automations/{}", vip["id"]),
            MANAGER,
            Some(off),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{saved}");
    app.call(
        Method::POST,
        "/api/v1/tickets",
        AGENT,
        Some(json!({
        "subject": "又一次投诉", "type": "complaint", "customer_id": customer["id"]})),
    )
    .await;
    assert_eq!(fired(app, &vip["id"]).await, 1);

    // A customer's reply and an SLA breach set rules off too; a webhook
    // action queues a signed delivery.
    let (_, hook) = app
        .call(Method::POST, "/api/v1/webhooks", ADMIN, Some(json!({"name": "质检系统", "url": "http://127.0.0.1:9/q", "events": ["ticket.created"]})))
        .await;
    let breach = rule(app, json!({"name": "超时打标", "event": "sla.breach",
        "conditions": [{"field": "tags", "op": "is", "value": "auto-sla"}],
            "actions": [{"action": "add_tags", "value": "已超时"}, {"action": "call_webhook", "value": hook["id"].to_string()}]})).await;
    let day = "00:00-24:00";
    let (_, calendar) = app
        .call(Method::POST, "/api/v1/calendars", ADMIN, Some(json!({"name": "全天", "time_zone": "Asia/Shanghai",
            "hours": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day}})))
        .await;
    app.call(
        Method::POST,
        "/api/v1/sla-policies",
        MANAGER,
        Some(json!({"name": "自动化测试", "position": -50,
        "calendar_id": calendar["id"], "tags": ["auto-sla"], "first_response_minutes": 5})),
    )
    .await;
    let (_, late) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({"subject": "没人回复", "tags": ["auto-sla"]})),
        )
        .await;
    let late_id = late["id"].as_i64().unwrap();
    let later = chrono::Utc::now() + chrono::Duration::minutes(30);
    loop {
        if kefu_app::alarms::sweep(&server.app, later)
            .await
            .unwrap()
            .tickets
            < 500
        {
            break;
        }
    }
    assert!(tags(&ticket(app, late_id).await).contains(&"已超时".to_owned()));
    assert_eq!(fired(app, &breach["id"]).await, 1);
    let (_, log) = app
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{}/deliveries", hook["id"]),
            ADMIN,
            None,
        )
        .await;
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|d| d["event"] == "automation" && d["ticket_id"] == late_id),
        "{log}"
    );
}

#[tokio::test]
async fn rules_are_kept_and_tried_on_the_settings_page() {
    let server = spawn_demo_app().await;
    let manager = server.signed_in(MANAGER, DEMO_PASSWORD).await;
    let page = manager.get("/settings/automations").await;
    assert_eq!(page.status, StatusCode::OK);
    let refused = manager
        .post_from(
            "/settings/automations",
            "/settings/automations",
            &[
                ("name", "坏规则"),
                ("event", "ticket.created"),
                ("active", "1"),
                ("c0_field", "priority"),
                ("c0_op", "greater_than"),
                ("c0_value", "3"),
                ("a0_action", "add_tags"),
                ("a0_value", "x"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"conditions\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("坏规则"), "input is kept");
    let saved = manager
        .post_from(
            "/settings/automations",
            "/settings/automations",
            &[
                ("name", "故障单打标"),
                ("event", "ticket.created"),
                ("active", "1"),
                ("c0_field", "type"),
                ("c0_op", "is"),
                ("c0_value", "fault"),
                ("a0_action", "add_tags"),
                ("a0_value", "故障"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (_, rules) = server
        .call(Method::GET, "/api/v1/automations", ADMIN, None)
        .await;
    let id = rules[0]["id"].as_i64().unwrap();
    let (_, fault) = server
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({"subject": "光猫红灯", "type": "fault"})),
        )
        .await;
    let fault_id = fault["id"].as_i64().unwrap();
    assert!(tags(&ticket(&server, fault_id).await).contains(&"故障".to_owned()));
    let tried = manager
        .post_from(
            &format!("/settings/automations/{id}"),
            &format!("/settings/automations/{id}/test"),
            &[("ticket_id", &format!("#{fault_id}"))],
        )
        .await;
    assert_eq!(tried.status, StatusCode::OK, "{}", tried.body);
    assert!(
        tried.body.contains("data-matches=\"true\""),
        "{}",
        tried.body
    );
    assert!(tried.body.contains("该规则会在此工单上触发"));
    // The timeline names the rule's work in words.
    let page = manager.get(&format!("/tickets/{fault_id}")).await;
    assert!(
        page.body.contains("客服系统（自动化规则）"),
        "{}",
        page.body
    );
    let agent = server.signed_in(AGENT, DEMO_PASSWORD).await;
    assert_eq!(
        agent.get("/settings/automations").await.status,
        StatusCode::FORBIDDEN
    );
}
