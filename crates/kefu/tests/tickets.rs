//! Work orders over real HTTP, on SQLite or (with `KEFU_TEST_DATABASE_URL`)
//! PostgreSQL: opening tickets from any channel, the priority matrix, the
//! lifecycle and its refusals, the conversation, optimistic locking, the
//! queues and their filters, categories — through the API and the pages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, TestApp, error_field, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";
const SUPPORT: &str = "support@xinghe.example";
const QA: &str = "qa@xinghe.example";
const ANALYST: &str = "analyst@xinghe.example";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    user: &str,
    input: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, user, input).await
}

async fn open(app: &TestApp, user: &str, input: Value) -> Value {
    let (status, body) = call(app, Method::POST, "/api/v1/tickets", user, Some(input)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

fn error_message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or("").to_owned()
}

async fn me(app: &TestApp, user: &str) -> i64 {
    let (_, body) = call(app, Method::GET, "/api/v1/me", user, None).await;
    body["agent_id"].as_i64().unwrap()
}

async fn a_customer(app: &TestApp) -> i64 {
    let (_, list) = call(app, Method::GET, "/api/v1/customers?limit=1", ADMIN, None).await;
    list["items"][0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_ticket_is_opened_with_priority_from_the_matrix_and_its_customer() {
    let app = spawn_demo_app().await;
    let customer = a_customer(&app).await;
    let (_, profile) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{customer}"),
        ADMIN,
        None,
    )
    .await;
    let ticket = open(
        &app,
        AGENT,
        json!({
            "subject": "宽带无法上网，光猫红灯",
            "description": "昨晚开始断网，重启无效。",
            "type": "fault",
            "urgency": "high",
            "impact": "high",
            "customer_id": customer,
            "expectation": "今天恢复",
            "wanted_by": "2026-12-31",
            "tags": ["宽带", "夜间", "宽带"]
        }),
    )
    .await;
    assert_eq!(ticket["status"], "new");
    assert_eq!(ticket["priority"], "p1", "high × high is P1");
    assert_eq!(ticket["channel"], "api", "an API caller's default channel");
    assert_eq!(ticket["customer"]["id"], customer);
    assert_eq!(
        ticket["organization_id"], profile["organization_id"],
        "the customer's organization is recorded"
    );
    assert_eq!(
        ticket["tags"],
        json!(["夜间", "宽带"]),
        "no repeats, by code point"
    );
    let id = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["number"], format!("#{id}"));

    // An override needs a reason; with one it sticks and is shown.
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/tickets",
        AGENT,
        Some(json!({"subject": "套餐咨询", "priority": "p1"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_field(&body), "priority_reason");
    let vip = open(
        &app,
        AGENT,
        json!({"subject": "VIP 套餐咨询", "priority": "p2", "priority_reason": "VIP 客户", "channel": "phone"}),
    )
    .await;
    assert_eq!(vip["priority"], "p2");
    assert_eq!(vip["matrix_priority"], "p3");
    assert_eq!(vip["priority_reason"], "VIP 客户");

    // The customer's 360° view lists the ticket and counts it as open.
    let (_, profile) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{customer}/profile"),
        AGENT,
        None,
    )
    .await;
    assert!(
        profile["recent_tickets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id),
        "{profile}"
    );
    assert!(profile["open_tickets"].as_i64().unwrap() >= 1);
}

#[tokio::test]
async fn bad_input_names_the_field_and_lists_the_valid_values() {
    let app = spawn_demo_app().await;
    let cases = [
        (json!({"subject": "  "}), "subject", ""),
        (
            json!({"subject": "x", "type": "question"}),
            "type",
            "inquiry, complaint, fault, service_request, suggestion, other",
        ),
        (
            json!({"subject": "x", "channel": "fax"}),
            "channel",
            "web_form, portal, email, phone",
        ),
        (
            json!({"subject": "x", "urgency": "extreme"}),
            "urgency",
            "high, medium, low",
        ),
        (
            json!({"subject": "x", "category_id": 99999}),
            "category_id",
            "valid: ",
        ),
        (
            json!({"subject": "x", "customer_id": 99999}),
            "customer_id",
            "does not exist",
        ),
        (
            json!({"subject": "x", "assignee_id": 99999}),
            "assignee_id",
            "does not exist",
        ),
        (
            json!({"subject": "x", "team_id": 99999}),
            "team_id",
            "does not exist",
        ),
        (
            json!({"subject": "x", "wanted_by": "31/12/2026"}),
            "wanted_by",
            "YYYY-MM-DD",
        ),
        (
            json!({"subject": "x", "service_kind": "cancel"}),
            "service_kind",
            "only service requests",
        ),
        (
            json!({"subject": "x", "call_seconds": -5}),
            "call_seconds",
            "between",
        ),
        (json!({"subject": "x", "colour": "red"}), "", ""),
    ];
    let (_, before) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?status=any&limit=1",
        ADMIN,
        None,
    )
    .await;
    for (input, field, hint) in cases {
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(input.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{input}: {body}");
        if !field.is_empty() {
            assert_eq!(error_field(&body), field, "{input}: {body}");
            assert!(error_message(&body).contains(hint), "{input}: {body}");
        }
    }
    let (_, after) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?status=any&limit=1",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(
        before["items"][0]["id"], after["items"][0]["id"],
        "nothing was saved"
    );

    // Unknown filters in a queue are refused with the valid values too.
    let (status, body) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?status=done",
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "status");
    assert!(error_message(&body).contains("pending"), "{body}");
}

#[tokio::test]
async fn the_lifecycle_refuses_illegal_moves_and_needs_a_resolution_to_close() {
    let app = spawn_demo_app().await;
    let ticket = open(&app, AGENT, json!({"subject": "IPTV 卡顿"})).await;
    let id = ticket["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}/status");
    let mut version = ticket["version"].as_i64().unwrap();

    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"version": version, "status": "merged"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "status");
    assert!(
        error_message(&body).contains("allowed from new: open, pending"),
        "{body}"
    );

    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"version": version, "status": "finished"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error_message(&body).contains("on_hold"),
        "lists valid: {body}"
    );

    for next in ["open", "pending", "on_hold", "open"] {
        let (status, body) = call(
            &app,
            Method::POST,
            &path,
            AGENT,
            Some(json!({"version": version, "status": next, "reason": "跟进"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{next}: {body}");
        assert_eq!(body["status"], next);
        version = body["version"].as_i64().unwrap();
    }

    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"version": version, "status": "closed"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "resolution");

    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"version": version, "status": "resolved", "resolution_category": "workaround", "resolution": "更换机顶盒"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["resolved_at"].is_string());
    version = body["version"].as_i64().unwrap();

    // Reopening needs a reason, then works inside the window.
    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"version": version, "status": "open"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "reason");
    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"version": version, "status": "open", "reason": "客户反馈又卡了"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["resolved_at"].is_null());
    version = body["version"].as_i64().unwrap();
    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"version": version, "status": "closed"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the stored resolution is enough: {body}"
    );

    // With a reopen window of 0 days an administrator can shut reopening off.
    let (_, settings) = call(&app, Method::GET, "/api/v1/ticket-settings", AGENT, None).await;
    let mut changed = settings.clone();
    changed["reopen_days"] = json!(0);
    let (status, body) = call(
        &app,
        Method::PUT,
        "/api/v1/ticket-settings",
        AGENT,
        Some(changed.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(
        &app,
        Method::PUT,
        "/api/v1/ticket-settings",
        ADMIN,
        Some(changed),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Every move is in the ticket's history, with who and why.
    let (_, detail) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        None,
    )
    .await;
    let reasons: Vec<String> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["changes"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["field"] == "reason")
        .map(|c| c["new"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(reasons.contains(&"客户反馈又卡了".to_owned()), "{detail}");
    let actors: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "change")
        .map(|e| e["actor"].as_str().unwrap_or(""))
        .collect();
    assert!(actors.iter().all(|a| *a == "王芳"), "{actors:?}");
}

#[tokio::test]
async fn replies_and_notes_make_the_conversation_and_the_first_reply_opens_the_ticket() {
    let app = spawn_demo_app().await;
    let ticket = open(&app, AGENT, json!({"subject": "发票怎么开"})).await;
    let id = ticket["id"].as_i64().unwrap();
    let path = format!("/api/v1/tickets/{id}/messages");
    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"kind": "note", "body": "先查一下开票资料"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, after_note) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        None,
    )
    .await;
    assert_eq!(after_note["status"], "new", "a note is not a response");
    assert!(after_note["first_response_at"].is_null());

    let (status, body) = call(
        &app,
        Method::POST,
        &path,
        AGENT,
        Some(json!({"kind": "reply", "body": "您好，电子发票可在App“账单”中下载。"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["author_name"], "王芳");
    let (_, detail) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        None,
    )
    .await;
    assert_eq!(detail["status"], "open");
    assert!(detail["first_response_at"].is_string());
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"] == "message")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["note", "reply"]);

    for (input, field) in [
        (json!({"kind": "reply", "body": "   "}), "body"),
        (json!({"kind": "shout", "body": "hi"}), "kind"),
    ] {
        let (status, body) = call(&app, Method::POST, &path, AGENT, Some(input)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_field(&body), field);
    }
    // Quality inspectors read conversations but do not write in them.
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        QA,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::POST,
        &path,
        QA,
        Some(json!({"kind": "note", "body": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, Method::GET, "/api/v1/tickets/999999", AGENT, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn two_agents_saving_one_ticket_never_overwrite_each_other() {
    let app = spawn_demo_app().await;
    let ticket = open(
        &app,
        AGENT,
        json!({"subject": "网速慢", "urgency": "low", "impact": "low"}),
    )
    .await;
    let id = ticket["id"].as_i64().unwrap();
    let version = ticket["version"].as_i64().unwrap();
    assert_eq!(ticket["priority"], "p4");
    let path = format!("/api/v1/tickets/{id}");
    let support = me(&app, SUPPORT).await;
    let (status, first) = call(
        &app,
        Method::PATCH,
        &path,
        AGENT,
        Some(json!({"version": version, "urgency": "high", "assignee_id": support})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["priority"], "p3", "priority follows the matrix");
    assert_eq!(first["assignee"]["id"], support);
    let (status, second) = call(
        &app,
        Method::PATCH,
        &path,
        MANAGER,
        Some(json!({"version": version, "subject": "网速慢（旧）"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{second}");
    assert_eq!(second["error"]["current_version"], version + 1);
    let (_, now) = call(&app, Method::GET, &path, AGENT, None).await;
    assert_eq!(now["subject"], "网速慢");
    assert_eq!(now["urgency"], "high");

    // The support engineer now finds it in their own queue.
    let (_, mine) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?view=mine",
        SUPPORT,
        None,
    )
    .await;
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id),
        "{mine}"
    );
}

#[tokio::test]
async fn queues_filter_sort_and_page_through_the_demo_floor() {
    let app = spawn_demo_app().await;
    // The demo floor has about a thousand tickets in every state.
    let (_, any) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?status=any&limit=200",
        ADMIN,
        None,
    )
    .await;
    let mut seen = any["items"].as_array().unwrap().len();
    let mut cursor = any["next_cursor"].as_str().map(str::to_owned);
    let mut ids: Vec<i64> = any["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    while let Some(c) = cursor {
        let (_, page) = call(
            &app,
            Method::GET,
            &format!("/api/v1/tickets?status=any&limit=200&cursor={c}"),
            ADMIN,
            None,
        )
        .await;
        seen += page["items"].as_array().unwrap().len();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 1000);
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!(ids, sorted, "newest first, no repeats across pages");

    // The default queue holds open work only.
    let (_, active) = call(&app, Method::GET, "/api/v1/tickets?limit=200", ADMIN, None).await;
    for t in active["items"].as_array().unwrap() {
        assert!(
            ["new", "open", "pending", "on_hold"].contains(&t["status"].as_str().unwrap()),
            "{t}"
        );
    }
    // Filters combine.
    let (_, complaints) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?status=any&type=complaint&priority=p3,p4&channel=phone,email&limit=200",
        ADMIN,
        None,
    )
    .await;
    let items = complaints["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for t in items {
        assert_eq!(t["type"], "complaint");
        assert!(["p3", "p4"].contains(&t["priority"].as_str().unwrap()));
        assert!(["phone", "email"].contains(&t["channel"].as_str().unwrap()));
    }
    // Priority sort pages by (priority, id) without gaps.
    let (_, first) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?sort=priority&limit=5",
        ADMIN,
        None,
    )
    .await;
    let (_, second) = call(
        &app,
        Method::GET,
        &format!(
            "/api/v1/tickets?sort=priority&limit=5&cursor={}",
            first["next_cursor"].as_str().unwrap()
        ),
        ADMIN,
        None,
    )
    .await;
    let order: Vec<String> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["items"].as_array().unwrap())
        .map(|t| t["priority"].as_str().unwrap().to_owned())
        .collect();
    let mut expected = order.clone();
    expected.sort();
    assert_eq!(order, expected);

    // Unassigned, a category with its children, a number, words.
    let (_, unassigned) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?view=unassigned&limit=50",
        ADMIN,
        None,
    )
    .await;
    for t in unassigned["items"].as_array().unwrap() {
        assert!(t["assignee"].is_null());
    }
    let (_, categories) = call(&app, Method::GET, "/api/v1/ticket-categories", AGENT, None).await;
    let broadband = categories
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "宽带")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, in_broadband) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets?status=any&category_id={broadband}&limit=20"),
        ADMIN,
        None,
    )
    .await;
    assert!(
        !in_broadband["items"].as_array().unwrap().is_empty(),
        "children count"
    );
    let (_, by_number) = call(&app, Method::GET, "/api/v1/tickets?q=%23500", ADMIN, None).await;
    assert_eq!(by_number["items"][0]["id"], 500);
    assert_eq!(by_number["items"].as_array().unwrap().len(), 1);
    let (_, by_word) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets?status=any&q={}", "%E5%AE%BD%E5%B8%A6"),
        ADMIN,
        None,
    )
    .await;
    for t in by_word["items"].as_array().unwrap() {
        assert!(t["subject"].as_str().unwrap().contains("宽带"));
    }
    let (_, english) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?status=any&q=MODEM",
        ADMIN,
        None,
    )
    .await;
    assert!(
        !english["items"].as_array().unwrap().is_empty(),
        "case-insensitive for English"
    );
}

#[tokio::test]
async fn admins_grow_the_category_tree_and_renames_move_the_subtree() {
    let app = spawn_demo_app().await;
    let (status, root) = call(
        &app,
        Method::POST,
        "/api/v1/ticket-categories",
        ADMIN,
        Some(json!({"name": "企业专线", "name_en": "Business lines"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{root}");
    let root_id = root["id"].as_i64().unwrap();
    let (_, child) = call(
        &app,
        Method::POST,
        "/api/v1/ticket-categories",
        ADMIN,
        Some(json!({"name": "专线中断", "parent_id": root_id})),
    )
    .await;
    assert_eq!(child["path"], "企业专线 / 专线中断");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/ticket-categories",
        ADMIN,
        Some(json!({"name": "专线中断", "parent_id": root_id})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_field(&body), "name");
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/ticket-categories",
        AGENT,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/ticket-categories/{root_id}"),
        ADMIN,
        Some(json!({"version": root["version"], "name": "政企专线", "parent_id": child["id"]})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not under its own child: {body}"
    );
    let (status, renamed) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/ticket-categories/{root_id}"),
        ADMIN,
        Some(json!({"version": root["version"], "name": "政企专线", "name_en": "Business lines"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    let (_, all) = call(&app, Method::GET, "/api/v1/ticket-categories", AGENT, None).await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "政企专线 / 专线中断"),
        "{all}"
    );
    // A switched-off category is refused for new tickets.
    let (_, off) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/ticket-categories/{}", child["id"]),
        ADMIN,
        Some(json!({"version": child["version"].as_i64().unwrap() + 1, "name": "专线中断", "parent_id": root_id, "active": false})),
    )
    .await;
    assert_eq!(off["active"], false, "{off}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/tickets",
        AGENT,
        Some(json!({"subject": "专线断了", "category_id": child["id"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "category_id");
}

#[tokio::test]
async fn roles_work_tickets_as_their_permissions_allow() {
    let app = spawn_demo_app().await;
    for (user, may_open) in [
        (ADMIN, true),
        (MANAGER, true),
        (AGENT, true),
        (SUPPORT, true),
        (QA, false),
        (ANALYST, false),
    ] {
        let (status, _) = call(
            &app,
            Method::POST,
            "/api/v1/tickets",
            user,
            Some(json!({"subject": "角色测试"})),
        )
        .await;
        assert_eq!(
            status,
            if may_open {
                StatusCode::CREATED
            } else {
                StatusCode::FORBIDDEN
            },
            "{user}"
        );
        let (status, _) = call(&app, Method::GET, "/api/v1/tickets", user, None).await;
        assert_eq!(status, StatusCode::OK, "{user} reads the queues");
    }
}

#[tokio::test]
async fn agents_log_a_call_reply_and_resolve_in_the_pages() {
    let app = spawn_demo_app().await;
    let customer = a_customer(&app).await;
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let profile = agent.get(&format!("/customers/{customer}")).await;
    assert!(profile.body.contains("id=\"log-call\""), "{}", profile.body);
    let new_path = format!("/tickets/new?customer_id={customer}&channel=phone");
    let form = agent.get(&new_path).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("id=\"for-customer\""));
    let fields = [
        ("subject", "来电：宽带断网"),
        ("type", "fault"),
        ("urgency", "high"),
        ("impact", "medium"),
        ("channel", "phone"),
        ("customer_id", &customer.to_string()),
        ("call_direction", "inbound"),
        ("call_minutes", "abc"),
        ("description", "客户来电称光猫红灯。"),
    ];
    let refused = agent.post_from(&new_path, "/tickets", &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("data-field=\"call_minutes\""));
    assert!(refused.body.contains("来电：宽带断网"), "input kept");
    let mut fixed = fields.to_vec();
    fixed[7] = ("call_minutes", "4.5");
    let created = agent.post_from(&new_path, "/tickets", &fixed).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location.unwrap();
    let path = location.split('?').next().unwrap().to_owned();
    let page = agent.get(&location).await;
    assert!(page.body.contains("工单已创建"), "{}", page.body);
    assert!(page.body.contains("P2"), "high × medium is P2");
    assert!(
        page.body.contains("id=\"customer-panel\""),
        "the 360° panel"
    );
    assert!(
        page.body.contains("呼入") && page.body.contains("4:30"),
        "call logged"
    );

    // Reply and set pending in one step.
    let sent = agent
        .post_from(
            &path,
            &format!("{path}/messages"),
            &[
                ("kind", "reply"),
                ("body", "已安排师傅上门"),
                ("then_status", "pending"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let page = agent.get(&path).await;
    assert!(page.body.contains("已安排师傅上门"));
    assert!(
        page.body.contains("data-status=\"pending\""),
        "{}",
        page.body
    );

    // Resolving without a resolution keeps the form with the error.
    let version = page
        .body
        .split("id=\"status-form\"")
        .nth(1)
        .and_then(|rest| rest.split("name=\"version\" value=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let refused = agent
        .post_from(
            &path,
            &format!("{path}/status"),
            &[
                ("version", &version),
                ("status", "resolved"),
                ("resolution", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"resolution\""),
        "{}",
        refused.body
    );
    let done = agent
        .post_from(
            &path,
            &format!("{path}/status"),
            &[
                ("version", &version),
                ("status", "resolved"),
                ("resolution_category", "solved"),
                ("resolution", "更换光猫后恢复"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = agent.get(&path).await;
    assert!(page.body.contains("更换光猫后恢复"));
    assert!(page.body.contains("data-status=\"resolved\""));

    // The queue pages: tabs, filters, the English interface.
    let queue = agent.get("/tickets?view=all&status=any&type=fault").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains(&format!("href=\"{path}\"")),
        "{}",
        queue.body
    );
    assert!(queue.body.contains("我的工单"));
    let bad = agent.get("/tickets?status=done").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn two_agents_saving_the_ticket_page_keep_the_second_agents_input() {
    let app = spawn_demo_app().await;
    let ticket = open(&app, AGENT, json!({"subject": "账单疑问"})).await;
    let path = format!("/tickets/{}", ticket["id"]);
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let version = ticket["version"].to_string();
    let base = [
        ("version", version.as_str()),
        ("type", "inquiry"),
        ("urgency", "medium"),
        ("impact", "medium"),
        ("channel", "api"),
    ];
    let mut first = base.to_vec();
    first.push(("subject", "账单疑问（已核实）"));
    let saved = agent.post_from(&path, &path, &first).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let mut second = base.to_vec();
    second.push(("subject", "账单疑问-经理版"));
    let conflict = manager.post_from(&path, &path, &second).await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert!(conflict.body.contains("账单疑问-经理版"), "kept");
    assert!(conflict.body.contains("data-field=\"version\""));
    let now = manager.get(&path).await;
    assert!(now.body.contains("账单疑问（已核实）"));
}

#[tokio::test]
async fn admins_set_the_priority_matrix_and_categories_in_settings() {
    let app = spawn_demo_app().await;
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let page = admin.get("/settings/tickets").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("宽带 / 无法上网"));
    let added = admin
        .post_from(
            "/settings/tickets",
            "/settings/tickets/categories",
            &[("name", "5G 专区"), ("name_en", "5G")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let mut cells: Vec<(String, String)> = Vec::new();
    for r in 0..3 {
        for c in 0..3 {
            cells.push((format!("m{r}{c}"), "p1".into()));
        }
    }
    // An inverted table is refused: low urgency above high.
    cells[8].1 = "p1".into();
    cells[0].1 = "p4".into();
    let mut form: Vec<(&str, &str)> = cells
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.push(("version", "0"));
    form.push(("reopen_days", "14"));
    let refused = admin
        .post_from("/settings/tickets", "/settings/tickets", &form)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("data-field=\"priority_matrix\""));
    form[0].1 = "p1";
    let saved = admin
        .post_from("/settings/tickets", "/settings/tickets", &form)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (_, ticket) = call(
        &app,
        Method::POST,
        "/api/v1/tickets",
        AGENT,
        Some(json!({"subject": "都是P1", "urgency": "low", "impact": "low"})),
    )
    .await;
    assert_eq!(ticket["priority"], "p1", "{ticket}");
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let denied = agent.get("/settings/tickets").await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
}

fn urlencode(text: &str) -> String {
    url_escape(text)
}

fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn search_ids(app: &TestApp, q: &str) -> Vec<i64> {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/api/v1/search?q={}&limit=200", urlencode(q)),
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn search_finds_chinese_words_not_characters_and_english_word_forms() {
    let app = spawn_demo_app().await;
    let broadband = open(
        &app,
        AGENT,
        json!({"subject": "宽带无法上网", "description": "光猫红灯"}),
    )
    .await;
    let width = open(&app, AGENT, json!({"subject": "屏幕宽度显示不全"})).await;
    let english = open(
        &app,
        AGENT,
        json!({"subject": "Modem keeps disconnecting at night"}),
    )
    .await;
    let (b, w, e) = (
        broadband["id"].as_i64().unwrap(),
        width["id"].as_i64().unwrap(),
        english["id"].as_i64().unwrap(),
    );
    let found = search_ids(&app, "宽带").await;
    assert!(found.contains(&b), "{found:?}");
    assert!(!found.contains(&w), "宽带 must not find 宽度");
    assert!(search_ids(&app, "宽度").await.contains(&w));
    assert!(search_ids(&app, "宽带 上网").await.contains(&b));
    assert!(
        !search_ids(&app, "宽带 发票").await.contains(&b),
        "every word must match"
    );
    assert!(
        search_ids(&app, "disconnected").await.contains(&e),
        "stemmed"
    );
    assert!(search_ids(&app, "MODEM").await.contains(&e));

    // The conversation is searchable as soon as it is written.
    assert!(!search_ids(&app, "工程师").await.contains(&b));
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{b}/messages"),
        AGENT,
        Some(json!({"kind": "note", "body": "已派工程师上门"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(search_ids(&app, "工程师").await.contains(&b));

    // A changed subject leaves the old words behind.
    let (_, changed) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/tickets/{w}"),
        AGENT,
        Some(json!({"version": width["version"], "subject": "发票抬头错误"})),
    )
    .await;
    assert_eq!(changed["subject"], "发票抬头错误");
    assert!(!search_ids(&app, "宽度").await.contains(&w));
    assert!(search_ids(&app, "发票抬头").await.contains(&w));

    // Every hit of a demo word holds the word; the queue filter agrees.
    let (_, queue) = call(
        &app,
        Method::GET,
        &format!(
            "/api/v1/tickets?status=any&limit=200&q={}",
            urlencode("光猫")
        ),
        AGENT,
        None,
    )
    .await;
    let queue_ids: Vec<i64> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(queue_ids.contains(&b), "{queue}");
    for id in queue_ids.iter().take(20) {
        let (_, detail) = call(
            &app,
            Method::GET,
            &format!("/api/v1/tickets/{id}"),
            AGENT,
            None,
        )
        .await;
        assert!(detail.to_string().contains("光猫"), "{id}");
    }
    // Numbers find their ticket; customers are searched too.
    assert_eq!(search_ids(&app, &format!("#{b}")).await, vec![b]);
    let (_, results) = call(&app, Method::GET, "/api/v1/search?q=%20", AGENT, None).await;
    assert_eq!(error_field(&results), "q");
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let page = agent
        .get(&format!("/search?q={}", urlencode("宽带 光猫红灯")))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("href=\"/tickets/{b}\"")),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_service_plan_escalation_and_related_tickets_follow_the_work() {
    let app = spawn_demo_app().await;
    let customer = a_customer(&app).await;
    let parent = open(
        &app,
        AGENT,
        json!({"subject": "企业专线频繁中断", "type": "fault", "customer_id": customer}),
    )
    .await;
    let pid = parent["id"].as_i64().unwrap();
    let support = me(&app, SUPPORT).await;

    // The plan: steps with owner and due date, checked off by whoever does them.
    let (status, step) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{pid}/plan"),
        AGENT,
        Some(json!({"title": "远程检测线路", "owner_id": support, "due_on": "2026-12-31"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{step}");
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{pid}/plan"),
        AGENT,
        Some(json!({"title": "上门", "owner_id": 99999})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "owner_id");
    let step_path = format!("/api/v1/ticket-plan-steps/{}", step["id"]);
    let (status, done) = call(
        &app,
        Method::PATCH,
        &step_path,
        SUPPORT,
        Some(json!({"version": step["version"], "done": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["done_by"], support);
    assert!(done["done_at"].is_string());
    let (status, _) = call(
        &app,
        Method::PATCH,
        &step_path,
        AGENT,
        Some(json!({"version": step["version"], "done": false})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "stale version");

    // Escalation: a child ticket for technical support takes the customer.
    let child = open(
        &app,
        AGENT,
        json!({"subject": "专线光路检测", "parent_id": pid, "assignee_id": support}),
    )
    .await;
    assert_eq!(child["customer"]["id"], customer);
    assert_eq!(child["parent"]["id"], pid);
    let (_, detail) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{pid}"),
        AGENT,
        None,
    )
    .await;
    assert_eq!(detail["children"][0]["id"], child["id"]);
    assert_eq!(detail["children"][0]["status"], "new");
    assert_eq!(detail["plan"][0]["owner_name"], "张伟");

    // The parent cannot be resolved while a child is open.
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{pid}/status"),
        AGENT,
        Some(json!({"version": detail["version"], "status": "resolved", "resolution_category": "solved", "resolution": "线路已修复"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error_message(&body).contains(&format!("#{}", child["id"])),
        "{body}"
    );
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{}/status", child["id"]),
        SUPPORT,
        Some(json!({"version": child["version"], "status": "resolved", "resolution_category": "solved", "resolution": "更换光模块"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{pid}/status"),
        AGENT,
        Some(json!({"version": detail["version"], "status": "resolved", "resolution_category": "solved", "resolution": "线路已修复"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Related tickets show on both sides.
    let other = open(&app, AGENT, json!({"subject": "同小区专线中断"})).await;
    let (status, linked) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{pid}/links"),
        AGENT,
        Some(json!({"ticket_id": other["id"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{linked}");
    assert_eq!(linked["related"][0]["id"], other["id"]);
    let (_, back) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{}", other["id"]),
        AGENT,
        None,
    )
    .await;
    assert_eq!(back["related"][0]["id"], pid);
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{pid}/links"),
        AGENT,
        Some(json!({"ticket_id": pid})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn agents_plan_escalate_and_relate_on_the_ticket_page() {
    let app = spawn_demo_app().await;
    let ticket = open(&app, AGENT, json!({"subject": "IPTV 无信号"})).await;
    let path = format!("/tickets/{}", ticket["id"]);
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let refused = agent
        .post_from(
            &path,
            &format!("{path}/plan"),
            &[("title", " "), ("due_on", "2026-12-20")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("data-field=\"title\""));
    let added = agent
        .post_from(
            &path,
            &format!("{path}/plan"),
            &[("title", "更换机顶盒"), ("due_on", "2026-12-20")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let page = agent.get(&path).await;
    assert!(page.body.contains("更换机顶盒") && page.body.contains("data-done=\"false\""));
    let step_id = page
        .body
        .split("data-step=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let toggled = agent
        .post_from(
            &path,
            &format!("/ticket-plan-steps/{step_id}"),
            &[
                ("version", "1"),
                ("done", "1"),
                ("ticket_id", &ticket["id"].to_string()),
            ],
        )
        .await;
    assert_eq!(toggled.status, StatusCode::SEE_OTHER, "{}", toggled.body);
    assert!(agent.get(&path).await.body.contains("data-done=\"true\""));

    let escalated = agent
        .post_from(
            &path,
            &format!("{path}/escalate"),
            &[("child_subject", "机顶盒返修")],
        )
        .await;
    assert_eq!(
        escalated.status,
        StatusCode::SEE_OTHER,
        "{}",
        escalated.body
    );
    let child = agent.get(&escalated.location.unwrap()).await;
    assert!(child.body.contains("id=\"parent\""), "{}", child.body);
    let parent = agent.get(&path).await;
    assert!(parent.body.contains("机顶盒返修") && parent.body.contains("id=\"children\""));
    let bad = agent
        .post_from(&path, &format!("{path}/links"), &[("ticket_id", "#999999")])
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("data-field=\"ticket_id\""));
}

#[tokio::test]
async fn macros_fill_placeholders_and_change_the_ticket_in_one_step() {
    let app = spawn_demo_app().await;
    let customer = a_customer(&app).await;
    let (_, c) = call(
        &app,
        Method::GET,
        &format!("/api/v1/customers/{customer}"),
        ADMIN,
        None,
    )
    .await;
    let name = c["name"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/macros",
        AGENT,
        Some(json!({"name": "x", "body": "y"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/macros",
        MANAGER,
        Some(json!({"name": "已解决-致歉", "body": "x", "set_status": "resolved"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_field(&body), "resolution_category");
    let (status, waiting) = call(
        &app,
        Method::POST,
        "/api/v1/macros",
        MANAGER,
        Some(json!({
            "name": "请客户提供光猫照片",
            "body": "{customer.name}您好，关于工单{ticket.number}，请回复光猫指示灯照片。——{agent.name}",
            "set_status": "pending",
            "add_tags": ["待照片"]
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{waiting}");
    let (_, solved) = call(
        &app,
        Method::POST,
        "/api/v1/macros",
        MANAGER,
        Some(json!({
            "name": "远程修复完成",
            "body": "已远程修复端口，{customer.name}请重启光猫。",
            "set_status": "resolved",
            "resolution_category": "solved"
        })),
    )
    .await;
    let ticket = open(
        &app,
        AGENT,
        json!({"subject": "光猫红灯", "customer_id": customer}),
    )
    .await;
    let id = ticket["id"].as_i64().unwrap();
    let (status, applied) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/macro"),
        AGENT,
        Some(json!({"macro_id": waiting["id"], "version": ticket["version"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["status"], "pending");
    assert_eq!(applied["tags"], json!(["待照片"]));
    let (_, detail) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        None,
    )
    .await;
    let reply = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "message")
        .unwrap();
    assert_eq!(
        reply["body"],
        format!("{name}您好，关于工单#{id}，请回复光猫指示灯照片。——王芳")
    );
    assert!(detail["first_response_at"].is_string());
    // A stale version refuses the macro and changes nothing.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/macro"),
        AGENT,
        Some(json!({"macro_id": solved["id"], "version": ticket["version"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, done) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/macro"),
        AGENT,
        Some(json!({"macro_id": solved["id"], "version": detail["version"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "resolved");
    assert_eq!(done["resolution_category"], "solved");
    assert_eq!(
        done["resolution"],
        format!("已远程修复端口，{name}请重启光猫。")
    );
}

#[tokio::test]
async fn bulk_actions_report_each_ticket_and_refuse_only_what_must_be() {
    let app = spawn_demo_app().await;
    let a = open(&app, AGENT, json!({"subject": "批量一"})).await["id"]
        .as_i64()
        .unwrap();
    let b = open(&app, AGENT, json!({"subject": "批量二"})).await["id"]
        .as_i64()
        .unwrap();
    let support = me(&app, SUPPORT).await;
    let (status, results) = call(
        &app,
        Method::POST,
        "/api/v1/tickets/bulk",
        AGENT,
        Some(json!({"ids": [a, b], "assignee_id": support})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert!(results.as_array().unwrap().iter().all(|r| r["ok"] == true));
    let (_, mine) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?view=mine",
        SUPPORT,
        None,
    )
    .await;
    let ids: Vec<i64> = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&a) && ids.contains(&b));
    // Close b first: moving both to pending then works for a, is refused for b.
    let (_, bt) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{b}"),
        AGENT,
        None,
    )
    .await;
    call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{b}/status"),
        AGENT,
        Some(json!({"version": bt["version"], "status": "closed", "resolution_category": "withdrawn", "resolution": "客户撤回"})),
    )
    .await;
    let (_, results) = call(
        &app,
        Method::POST,
        "/api/v1/tickets/bulk",
        AGENT,
        Some(json!({"ids": [a, b, 999999], "status": "pending"})),
    )
    .await;
    let results = results.as_array().unwrap().clone();
    assert_eq!(results[0]["ok"], true);
    assert_eq!(results[1]["ok"], false);
    assert!(
        results[1]["error"].as_str().unwrap().starts_with("status:"),
        "{results:?}"
    );
    assert_eq!(results[2]["error"], "not found");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/tickets/bulk",
        AGENT,
        Some(json!({"ids": [a], "status": "pending", "add_tag": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "action");

    // The queue page ticks and tags.
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let queue = agent.get("/tickets?view=all").await;
    assert!(queue.body.contains("form=\"bulk\""));
    let done = agent
        .post_from(
            "/tickets?view=all",
            "/tickets/bulk",
            &[
                ("ids", &a.to_string()),
                ("action", "tag"),
                ("tag", "批量标签"),
                ("back", "/tickets?view=all"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let after = agent.get(&done.location.unwrap()).await;
    assert!(after.body.contains("id=\"bulk-done\""), "{}", after.body);
    let (_, at) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{a}"),
        AGENT,
        None,
    )
    .await;
    assert!(at["tags"].as_array().unwrap().contains(&json!("批量标签")));
}

/// Reads a server-sent event stream until an event named `name` arrives.
async fn next_event(response: &mut reqwest::Response, name: &str) -> Value {
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {name} event within 10 s; got {buffer}"))
            .unwrap()
            .unwrap_or_else(|| panic!("stream ended; got {buffer}"));
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event:"))
                .map(str::trim);
            let data = block
                .lines()
                .find_map(|l| l.strip_prefix("data:"))
                .map(str::trim);
            if event == Some(name) {
                return serde_json::from_str(data.unwrap_or("null")).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn open_screens_hear_changes_and_who_is_replying() {
    let app = spawn_demo_app().await;
    let ticket = open(&app, AGENT, json!({"subject": "实时更新"})).await;
    let id = ticket["id"].as_i64().unwrap();
    let mut stream = app
        .as_user(
            Method::GET,
            &format!("/api/v1/events?ticket_id={id}"),
            MANAGER,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    // Give the stream a moment to subscribe before the change.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        AGENT,
        Some(json!({"kind": "reply", "body": "处理中"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let changed = next_event(&mut stream, "changed").await;
    assert_eq!(changed["ticket_id"], id);
    assert_eq!(changed["agent_id"], me(&app, AGENT).await);

    // An agent typing on the page tells the others.
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let typing = agent
        .post_from(
            &format!("/tickets/{id}"),
            &format!("/tickets/{id}/replying"),
            &[],
        )
        .await;
    assert_eq!(typing.status, StatusCode::NO_CONTENT);
    let replying = next_event(&mut stream, "replying").await;
    assert_eq!(replying["agent_name"], "王芳");
    let page = agent.get(&format!("/tickets/{id}")).await;
    assert!(page.body.contains("id=\"collision\""));
    // Another ticket's events are not sent to this stream.
    let other = open(&app, AGENT, json!({"subject": "别的工单"})).await;
    call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{}/messages", other["id"]),
        AGENT,
        Some(json!({"kind": "note", "body": "x"})),
    )
    .await;
    call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        AGENT,
        Some(json!({"kind": "note", "body": "y"})),
    )
    .await;
    assert_eq!(next_event(&mut stream, "changed").await["ticket_id"], id);
    drop(stream);
    app.stop().await;
}

#[tokio::test]
async fn mentions_notify_agents_and_views_save_queue_filters() {
    let app = spawn_demo_app().await;
    let ticket = open(&app, AGENT, json!({"subject": "需要技术支持看一下"})).await;
    let id = ticket["id"].as_i64().unwrap();
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        AGENT,
        Some(json!({"kind": "note", "body": "@张伟 请帮忙看光路，@王芳 自己不算"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, notes) = call(&app, Method::GET, "/api/v1/notifications", SUPPORT, None).await;
    assert_eq!(notes["unread"], 1, "{notes}");
    assert_eq!(notes["items"][0]["ticket_id"], id);
    assert_eq!(notes["items"][0]["by_name"], "王芳");
    let (_, own) = call(&app, Method::GET, "/api/v1/notifications", AGENT, None).await;
    assert_eq!(own["unread"], 0, "the writer is not notified");
    let support = app.signed_in(SUPPORT, DEMO_PASSWORD).await;
    let home = support.get("/").await;
    assert!(home.body.contains("id=\"unread\""), "{}", home.body);
    assert!(home.body.contains(&format!("href=\"/tickets/{id}\"")));
    let read = support.post_from("/", "/notifications/read", &[]).await;
    assert_eq!(read.status, StatusCode::SEE_OTHER);
    let (_, after) = call(&app, Method::GET, "/api/v1/notifications", SUPPORT, None).await;
    assert_eq!(after["unread"], 0);

    // Saved views keep a queue's filters per agent.
    let (status, view) = call(
        &app,
        Method::POST,
        "/api/v1/saved-views",
        AGENT,
        Some(json!({"name": "待客户的投诉", "query": "view=all&status=pending&type=complaint"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/saved-views",
        AGENT,
        Some(json!({"name": "坏的", "query": "colour=red"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "query");
    let (_, theirs) = call(&app, Method::GET, "/api/v1/saved-views", SUPPORT, None).await;
    assert_eq!(theirs, json!([]), "views are personal");
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let queue = agent.get("/tickets").await;
    assert!(queue.body.contains("待客户的投诉"));
    let saved = agent
        .post_from(
            "/tickets",
            "/tickets/views",
            &[("name", "我的P1"), ("query", "priority=p1&view=mine")],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let shown = agent.get(&saved.location.unwrap()).await;
    assert!(
        shown.body.contains("aria-current=\"page\">我的P1"),
        "{}",
        shown.body
    );
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/saved-views/{}", view["id"]),
        SUPPORT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not someone else's");
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/saved-views/{}", view["id"]),
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn tickets_carry_custom_fields_an_admin_defines() {
    let app = spawn_demo_app().await;
    let customer = a_customer(&app).await;
    let define = |body: Value| {
        call(
            &app,
            Method::POST,
            "/api/v1/custom-fields",
            ADMIN,
            Some(body),
        )
    };
    let (status, contract) = define(json!({
        "key": "contract_no", "label_zh": "合同号", "label_en": "Contract no.",
        "kind": "text", "required": true, "applies_to": "ticket",
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{contract}");
    assert_eq!(contract["applies_to"], "ticket");
    let (status, _) = define(json!({
        "key": "symptoms", "label_zh": "故障现象", "label_en": "Symptoms",
        "kind": "multiselect", "options": ["断网", "网速慢", "掉线"], "applies_to": "ticket",
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, refused) = define(json!({
        "key": "plan_code", "label_zh": "套餐", "label_en": "Plan", "kind": "text", "applies_to": "order",
    }))
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&refused), "applies_to");

    let (_, ticket_fields) = call(
        &app,
        Method::GET,
        "/api/v1/custom-fields?applies_to=ticket",
        AGENT,
        None,
    )
    .await;
    let keys: Vec<&str> = ticket_fields
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["contract_no", "symptoms"]);
    let (_, customer_fields) = call(
        &app,
        Method::GET,
        "/api/v1/custom-fields?applies_to=customer",
        AGENT,
        None,
    )
    .await;
    assert!(
        customer_fields
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["applies_to"] == "customer")
    );

    // A ticket field does not leak onto customers: their form does not ask for it.
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/customers",
        AGENT,
        Some(json!({ "name": "钱七", "contact_points": [{ "kind": "phone", "value": "13911112222" }] })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["custom_fields"].get("contract_no").is_none());

    // Required, checked, and unknown keys are refused with the valid ones.
    let base = json!({ "subject": "宽带断网", "customer_id": customer, "type": "fault" });
    let (status, missing) = call(
        &app,
        Method::POST,
        "/api/v1/tickets",
        AGENT,
        Some(base.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&missing), "custom_fields.contract_no");
    let mut wrong = base.clone();
    wrong["custom_fields"] = json!({ "contract_no": "HT-1", "colour": "red" });
    let (status, unknown) = call(&app, Method::POST, "/api/v1/tickets", AGENT, Some(wrong)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&unknown), "custom_fields.colour");
    assert!(
        error_message(&unknown).contains("contract_no, symptoms"),
        "{unknown}"
    );
    let mut bad_option = base.clone();
    bad_option["custom_fields"] = json!({ "contract_no": "HT-1", "symptoms": ["停电"] });
    let (status, body) = call(
        &app,
        Method::POST,
        "/api/v1/tickets",
        AGENT,
        Some(bad_option),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "custom_fields.symptoms");

    let mut good = base.clone();
    good["custom_fields"] = json!({ "contract_no": "HT-2026-0042", "symptoms": ["断网"] });
    let ticket = open(&app, AGENT, good).await;
    let id = ticket["id"].as_i64().unwrap();
    assert_eq!(ticket["custom_fields"]["contract_no"], "HT-2026-0042");
    assert_eq!(ticket["custom_fields"]["symptoms"], json!(["断网"]));

    // A change names only what changes; the rest is kept, and audited.
    let (status, changed) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        Some(json!({ "version": ticket["version"], "custom_fields": { "symptoms": ["网速慢", "掉线"] } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["custom_fields"]["contract_no"], "HT-2026-0042");
    assert_eq!(
        changed["custom_fields"]["symptoms"],
        json!(["网速慢", "掉线"]),
        "in the order the field lists its options"
    );
    let (_, detail) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        None,
    )
    .await;
    let timeline = detail["timeline"].to_string();
    assert!(timeline.contains("custom_fields.symptoms"), "{timeline}");
    let (status, _) = call(
        &app,
        Method::PATCH,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        Some(json!({ "version": ticket["version"], "custom_fields": { "contract_no": "HT-x" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale version is refused");

    // Queues filter by a value.
    let (_, hits) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?view=all&status=any&field=symptoms&value=掉线",
        AGENT,
        None,
    )
    .await;
    let ids: Vec<i64> = hits["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [id]);
    let (_, none) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?view=all&status=any&field=symptoms&value=断网",
        AGENT,
        None,
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let (status, body) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?field=colour&value=red",
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_field(&body), "field");

    // The pages: the ticket form shows and saves them; the queue filters.
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let path = format!("/tickets/{id}");
    let page = agent.get(&path).await;
    assert!(
        page.body
            .contains("name=\"cf_contract_no\" value=\"HT-2026-0042\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("合同号"));
    let version = changed["version"].as_i64().unwrap().to_string();
    let customer_text = customer.to_string();
    let saved = agent
        .post_from(
            &path,
            &path,
            &[
                ("version", &version),
                ("subject", "宽带断网"),
                ("type", "fault"),
                ("urgency", "medium"),
                ("impact", "medium"),
                ("channel", "phone"),
                ("customer_id", &customer_text),
                ("cf_contract_no", "HT-2026-0043"),
                ("cf_symptoms", "断网"),
                ("cf_symptoms", "掉线"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let (_, after) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        AGENT,
        None,
    )
    .await;
    assert_eq!(after["custom_fields"]["contract_no"], "HT-2026-0043");
    assert_eq!(after["custom_fields"]["symptoms"], json!(["断网", "掉线"]));
    let version = after["version"].as_i64().unwrap().to_string();
    let refused = agent
        .post_from(
            &path,
            &path,
            &[
                ("version", &version),
                ("subject", "宽带断网"),
                ("type", "fault"),
                ("urgency", "medium"),
                ("impact", "medium"),
                ("channel", "phone"),
                ("cf_contract_no", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"cf_contract_no\""),
        "{}",
        refused.body
    );
    let queue = agent
        .get("/tickets?view=all&status=any&field=contract_no&value=HT-2026-0043")
        .await;
    assert!(queue.body.contains("name=\"field\""));
    assert!(
        queue.body.contains(&format!("/tickets/{id}\"")),
        "{}",
        queue.body
    );
    let new_form = agent.get("/tickets/new").await;
    assert!(new_form.body.contains("name=\"cf_symptoms\""));
}

#[tokio::test]
async fn search_answers_the_newest_matches_for_common_and_rare_words() {
    let app = spawn_demo_app().await;
    let customer = a_customer(&app).await;
    let mut common = Vec::new();
    let mut rare = Vec::new();
    // Enough tickets for "zebra" to count as a common word on PostgreSQL,
    // which searches common and rare words by different plans.
    for i in 0..210 {
        let subject = if i % 70 == 0 {
            format!("zebra crossing unicorn {i}")
        } else {
            format!("zebra crossing {i}")
        };
        let ticket = open(
            &app,
            AGENT,
            json!({ "subject": subject, "customer_id": customer }),
        )
        .await;
        let id = ticket["id"].as_i64().unwrap();
        common.push(id);
        if i % 70 == 0 {
            rare.push(id);
        }
    }
    common.reverse();
    rare.reverse();
    let ids = |body: &Value| -> Vec<i64> {
        body["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect()
    };
    let (status, found) = call(
        &app,
        Method::GET,
        "/api/v1/search?q=zebra&limit=5",
        AGENT,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(ids(&found), common[..5]);
    let (_, found) = call(
        &app,
        Method::GET,
        "/api/v1/search?q=unicorn&limit=5",
        AGENT,
        None,
    )
    .await;
    assert_eq!(ids(&found), rare);
}

#[tokio::test]
async fn concurrent_creations_share_commits_and_each_answer_is_what_was_stored() {
    let app = spawn_demo_app().await;
    let customer = a_customer(&app).await;
    let agent = me(&app, AGENT).await;
    let manager = me(&app, MANAGER).await;
    let (_, issued) = call(
        &app,
        Method::POST,
        "/api/v1/api-tokens",
        ADMIN,
        Some(json!({"name": "load", "role": "admin", "expires_in_days": 1})),
    )
    .await;
    let token = issued["token"].as_str().unwrap().to_owned();
    let mut running = tokio::task::JoinSet::new();
    for i in 0..48usize {
        let kind = ["fault", "inquiry", "complaint"][i % 3];
        let request = app
            .client
            .post(app.url("/api/v1/tickets"))
            .bearer_auth(&token)
            .json(&json!({
                "subject": format!("并发工单 {i} concurrent"),
                "description": "宽带无法上网",
                "type": kind,
                "customer_id": (i % 2 == 0).then_some(customer),
                "assignee_id": (i % 3 == 0).then_some(agent),
                "watchers": if i % 4 == 0 { vec![manager] } else { vec![] },
                "tags": if i % 5 == 0 { vec!["宽带", "load"] } else { vec![] },
                // One in twelve is refused; the rest of its batch is stored.
                "urgency": if i % 12 == 7 { "someday" } else { "high" },
            }));
        running.spawn(async move {
            let response = request.send().await.unwrap();
            (
                i,
                response.status(),
                response.json::<Value>().await.unwrap(),
            )
        });
    }
    let mut created = Vec::new();
    while let Some(done) = running.join_next().await {
        let (i, status, body) = done.unwrap();
        if i % 12 == 7 {
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(error_field(&body), "urgency");
        } else {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            created.push(body);
        }
    }
    assert_eq!(created.len(), 44);
    let mut ids: Vec<i64> = created.iter().map(|t| t["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 44, "every creation got its own ticket");
    for answer in &created {
        let id = answer["id"].as_i64().unwrap();
        let (status, stored) = call(
            &app,
            Method::GET,
            &format!("/api/v1/tickets/{id}"),
            ADMIN,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        // The answer is built from what was checked; it must equal what a
        // later read shows.
        for key in [
            "subject",
            "number",
            "status",
            "priority",
            "matrix_priority",
            "next_statuses",
            "customer",
            "organization",
            "assignee",
            "watchers",
            "tags",
            "custom_fields",
            "created_at",
            "version",
        ] {
            assert_eq!(answer[key], stored[key], "{key} of ticket {id}");
        }
        let history = stored["timeline"].as_array().unwrap();
        assert!(
            history
                .iter()
                .any(|item| item["entry"] == "change" && item["action"] == "create"),
            "ticket {id} has its creation record: {history:?}"
        );
    }
    let found = search_ids(&app, "concurrent").await;
    assert!(ids.iter().all(|id| found.contains(id)), "{found:?}");
}
