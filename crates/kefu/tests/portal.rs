//! The customer portal over real HTTP, on SQLite or PostgreSQL: sign-in by
//! a one-time mailed link, the customer's own requests and nothing else,
//! new requests with files, replies and closing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, PageResponse, TestApp, Visitor, spawn_demo_app};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const AGENT: &str = "agent@xinghe.example";

/// Creates a customer from `fields` through the API; returns its id.
async fn new_customer(app: &TestApp, fields: Value) -> i64 {
    let (status, body) = app
        .call(Method::POST, "/api/v1/customers", AGENT, Some(fields))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn customer_with_email(app: &TestApp, name: &str, email: &str) -> i64 {
    new_customer(
        app,
        json!({
            "name": name,
            "language": "zh-CN",
            "contact_points": [{ "kind": "email", "value": email }]
        }),
    )
    .await
}

async fn ticket_for(app: &TestApp, customer: i64, subject: &str) -> i64 {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({ "subject": subject, "customer_id": customer, "channel": "phone" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

/// The ticket as agents see it in the API.
async fn ticket_as_agent(app: &TestApp, id: i64) -> Value {
    let (status, ticket) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), AGENT, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{ticket}");
    ticket
}

async fn outbox(app: &TestApp, email: &str) -> Vec<kefu_store::outbox::OutboxMessage> {
    let mut reader = app.app.store.read().await.unwrap();
    kefu_store::outbox::to_address(&mut reader.conn(), email, 20)
        .await
        .unwrap()
}

/// Signs a customer in the way they do: ask for a link, open it, use it.
async fn signed_in_customer(app: &TestApp, email: &str) -> Visitor {
    let visitor = app.visitor();
    let asked = visitor
        .post_from("/portal/login", "/portal/login", &[("email", email)])
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
    assert!(asked.body.contains("id=\"link-sent\""));
    let mail = outbox(app, &email.to_lowercase()).await;
    let body = &mail.first().expect("a sign-in mail").body_text;
    let start = body.find("/portal/login/").unwrap();
    let path: String = body[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let confirm = visitor.get(&path).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    let used = visitor.post_from(&path, &path, &[]).await;
    assert_eq!(used.status, StatusCode::SEE_OTHER, "{}", used.body);
    assert_eq!(used.location.as_deref(), Some("/portal"));
    // A link works once.
    let again = app.visitor().get(&path).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(again.body.contains("id=\"link-expired\""));
    visitor
}

#[tokio::test]
async fn a_customer_signs_in_by_link_and_sees_only_their_own_public_conversation() {
    let app = spawn_demo_app().await;
    let me = customer_with_email(&app, "赵敏", "zhao.min@example.cn").await;
    let other = customer_with_email(&app, "钱多多", "qian@example.cn").await;
    let mine = ticket_for(&app, me, "光纤入户线断了").await;
    let theirs = ticket_for(&app, other, "别人的工单").await;

    // An agent answers publicly, and writes an internal note with a file.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{mine}/messages"),
            AGENT,
            Some(json!({ "kind": "reply", "body": "师傅明天上午上门。" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let note = Form::new()
        .text("kind", "note")
        .text("body", "内部：线路供应商工单 X-889")
        .part(
            "files",
            Part::bytes(b"internal".to_vec()).file_name("supplier.txt"),
        );
    let response = app
        .as_user(
            Method::POST,
            &format!("/api/v1/tickets/{mine}/messages"),
            AGENT,
        )
        .multipart(note)
        .send()
        .await
        .unwrap();
    let note: Value = response.json().await.unwrap();
    let note_file = note["attachments"][0]["id"].as_i64().unwrap();

    // Signed out, the portal asks to sign in; an unknown address gets the same answer and no mail.
    let anonymous = app.visitor();
    let page = anonymous.get("/portal").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location.unwrap().starts_with("/portal/login?next="));
    let unknown = anonymous
        .post_from(
            "/portal/login",
            "/portal/login",
            &[("email", "nobody@example.cn")],
        )
        .await;
    assert!(unknown.body.contains("id=\"link-sent\""));
    assert!(outbox(&app, "nobody@example.cn").await.is_empty());

    let customer = signed_in_customer(&app, "Zhao.Min@Example.cn").await;
    let home = customer.get("/portal").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("光纤入户线断了"));
    assert!(!home.body.contains("别人的工单"));
    assert!(home.body.contains("赵敏"));

    let ticket = customer.get(&format!("/portal/tickets/{mine}")).await;
    assert_eq!(ticket.status, StatusCode::OK);
    assert!(ticket.body.contains("师傅明天上午上门。"));
    assert!(
        !ticket.body.contains("X-889"),
        "internal notes stay internal"
    );
    assert!(!ticket.body.contains("supplier.txt"));

    // Someone else's ticket, a guessed number, a note's file: not found.
    for path in [
        format!("/portal/tickets/{theirs}"),
        "/portal/tickets/999999".to_owned(),
        format!("/portal/attachments/{note_file}"),
    ] {
        let response = customer.get(&path).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
    }
    let closing = customer
        .post_from("/portal", &format!("/portal/tickets/{theirs}/close"), &[])
        .await;
    assert_eq!(closing.status, StatusCode::NOT_FOUND);
    let (_, untouched) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{theirs}"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(untouched["status"], "new");

    // An agent's session does not open the portal.
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let refused = agent.get("/portal").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Signing out ends the session.
    let out = customer.post_from("/portal", "/portal/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(customer.get("/portal").await.status, StatusCode::SEE_OTHER);

    // Erasing a customer's personal data also ends their portal sessions.
    let again = signed_in_customer(&app, "zhao.min@example.cn").await;
    assert_eq!(again.get("/portal").await.status, StatusCode::OK);
    let (_, record) = app
        .call(Method::GET, &format!("/api/v1/customers/{me}"), ADMIN, None)
        .await;
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/customers/{me}/erase"),
            ADMIN,
            Some(json!({ "version": record["version"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(again.get("/portal").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_customer_sends_a_request_with_a_file_replies_and_closes_it() {
    let app = spawn_demo_app().await;
    let me = customer_with_email(&app, "孙立", "sun.li@example.cn").await;
    let customer = signed_in_customer(&app, "sun.li@example.cn").await;

    let form = Form::new()
        .text("subject", "申请提速到 1000M")
        .text("description", "想把套餐升级到千兆，请问需要什么手续？")
        .part(
            "files",
            Part::bytes("身份证复印件".as_bytes().to_vec()).file_name("证件.txt"),
        );
    let sent = customer
        .post_multipart("/portal/new", "/portal/tickets", form)
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let location = sent.location.unwrap();
    let id: i64 = location
        .trim_start_matches("/portal/tickets/")
        .parse()
        .unwrap();
    let ticket = ticket_as_agent(&app, id).await;
    assert_eq!(ticket["channel"], "portal");
    assert_eq!(ticket["customer"]["id"], me);
    assert_eq!(ticket["attachments"][0]["file_name"], "证件.txt");
    assert_eq!(ticket["attachments"][0]["author"]["kind"], "customer");
    let opened = ticket["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "change" && e["action"] == "create")
        .unwrap();
    assert_eq!(opened["actor"], "孙立", "the customer, by name, opened it");
    let page = customer.get(&location).await;
    assert!(page.body.contains("证件.txt"));
    let file = ticket["attachments"][0]["id"].as_i64().unwrap();
    let download = customer.get(&format!("/portal/attachments/{file}")).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, "身份证复印件");

    // The agents wait for the customer; the customer's reply brings it back.
    let (_, status) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/status"),
            AGENT,
            Some(json!({ "version": ticket["version"], "status": "pending" })),
        )
        .await;
    assert_eq!(status["status"], "pending", "{status}");
    let reply = Form::new().text("body", "身份证号已补充，请继续办理。");
    let replied = customer
        .post_multipart(&location, &format!("/portal/tickets/{id}/messages"), reply)
        .await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.body);
    let ticket = ticket_as_agent(&app, id).await;
    assert_eq!(ticket["status"], "open");
    let customer_message = ticket["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "message")
        .unwrap();
    assert_eq!(customer_message["author"]["kind"], "customer");

    // Long overdue by now: agents would owe an explanation to close it;
    // the customer closing their own request is not asked for one.
    app.backdate_ticket(id, 10 * 24 * 60).await;
    let ticket = ticket_as_agent(&app, id).await;
    let (_, tagged) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{id}"),
            AGENT,
            Some(json!({ "version": ticket["version"], "tags": ["证件"] })),
        )
        .await;
    assert_eq!(tagged["sla"]["state"], "breached", "{tagged}");

    // An empty reply is refused by name; the customer closes the request.
    let empty = reply_in_portal(&customer, id, "  ").await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("data-field=\"body\""));
    let closed = customer
        .post_from(&location, &format!("/portal/tickets/{id}/close"), &[])
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.body);
    let ticket = ticket_as_agent(&app, id).await;
    assert_eq!(ticket["status"], "closed");
    assert_eq!(ticket["resolution_category"], "withdrawn");
    let page = customer.get(&location).await;
    assert!(page.body.contains("id=\"closed-note\""));
    let late = reply_in_portal(&customer, id, "还有一个问题").await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_reply_to_a_resolved_request_reopens_it_within_the_window_only() {
    let app = spawn_demo_app().await;
    let me = customer_with_email(&app, "钱多多", "qian.duo@example.cn").await;
    let id = ticket_for(&app, me, "宽带晚上掉线").await;
    let customer = signed_in_customer(&app, "qian.duo@example.cn").await;
    let location = format!("/portal/tickets/{id}");
    // An agent resolves the request at the version they read.
    let resolve = async |ticket: &Value| {
        let (status, resolved) = app
            .call(
                Method::POST,
                &format!("/api/v1/tickets/{id}/status"),
                AGENT,
                Some(json!({
                    "version": ticket["version"],
                    "status": "resolved",
                    "resolution_category": "solved",
                    "resolution": "已更换光猫",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{resolved}");
        assert_eq!(resolved["status"], "resolved");
    };
    resolve(&ticket_as_agent(&app, id).await).await;

    // Within the window the page offers the reply and says it reopens.
    let page = customer.get(&location).await;
    assert!(page.body.contains("id=\"reopen-note\""), "{}", page.body);
    let replied = reply_in_portal(&customer, id, "换了光猫后还是掉线。").await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.body);
    let ticket = ticket_as_agent(&app, id).await;
    assert_eq!(ticket["status"], "open");
    assert!(ticket["resolved_at"].is_null());
    let reopened = ticket["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["entry"] == "change" && e["action"] == "update")
        .unwrap();
    assert_eq!(reopened["actor"], "钱多多");
    assert!(
        reopened.to_string().contains("the customer replied"),
        "the reason is on the timeline: {reopened}"
    );

    // Resolved again, and the window passes: the reply is refused by name
    // and the page no longer offers it.
    resolve(&ticket).await;
    let long_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let mut tx = app.app.store.write().await.unwrap();
    kefu_store::on_conn!(&mut tx.conn(), |c| {
        sqlx::query("UPDATE tickets SET resolved_at = $1 WHERE id = $2")
            .bind(long_ago)
            .bind(id)
            .execute(c)
            .await
            .unwrap();
    });
    tx.commit().await.unwrap();
    let page = customer.get(&location).await;
    assert!(!page.body.contains("id=\"portal-reply\""));
    assert!(page.body.contains("id=\"closed-note\""));
    let late = reply_in_portal(&customer, id, "又掉线了").await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(late.body.contains("data-field=\"body\""), "{}", late.body);
    let ticket = ticket_as_agent(&app, id).await;
    assert_eq!(ticket["status"], "resolved", "nothing was saved");
}

/// The customer's reply (text only) sent from the request's page.
async fn reply_in_portal(customer: &Visitor, id: i64, body: &str) -> PageResponse {
    let page = format!("/portal/tickets/{id}");
    customer
        .post_multipart(
            &page,
            &format!("{page}/messages"),
            Form::new().text("body", body.to_owned()),
        )
        .await
}

async fn member_of(app: &TestApp, organization: i64, name: &str, email: &str) -> i64 {
    new_customer(
        app,
        json!({
            "name": name,
            "organization_id": organization,
            "contact_points": [{ "kind": "email", "value": email }]
        }),
    )
    .await
}

#[tokio::test]
async fn a_sharing_organization_lets_colleagues_follow_each_others_requests() {
    let app = spawn_demo_app().await;
    let (status, org) = app
        .call(
            Method::POST,
            "/api/v1/organizations",
            ADMIN,
            Some(json!({ "name": "星河物流有限公司", "portal_shared": true })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    assert_eq!(org["portal_shared"], true);
    let org_id = org["id"].as_i64().unwrap();
    let (_, private) = app
        .call(
            Method::POST,
            "/api/v1/organizations",
            ADMIN,
            Some(json!({ "name": "独立工作室" })),
        )
        .await;
    assert_eq!(private["portal_shared"], false);
    let zhou = member_of(&app, org_id, "周物流", "zhou@wuliu.example").await;
    member_of(&app, org_id, "吴物流", "wu@wuliu.example").await;
    let outsider = member_of(
        &app,
        private["id"].as_i64().unwrap(),
        "郑独立",
        "zheng@studio.example",
    )
    .await;
    let theirs = ticket_for(&app, zhou, "仓库专线中断").await;
    let outsiders = ticket_for(&app, outsider, "工作室网速慢").await;

    // A colleague sees the request, who made it, and may add to it.
    let wu = signed_in_customer(&app, "wu@wuliu.example").await;
    let home = wu.get("/portal").await;
    assert!(home.body.contains("id=\"shared-note\""));
    assert!(home.body.contains(&format!("data-ticket=\"{theirs}\"")));
    assert!(home.body.contains("周物流"));
    assert!(!home.body.contains(&format!("data-ticket=\"{outsiders}\"")));
    let location = format!("/portal/tickets/{theirs}");
    let page = wu.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("id=\"portal-reply\""));
    assert!(
        !page.body.contains("id=\"portal-close\""),
        "only the requester closes"
    );
    let replied = reply_in_portal(&wu, theirs, "二号仓库也断了。").await;
    assert_eq!(replied.status, StatusCode::SEE_OTHER, "{}", replied.body);
    let page = wu.get(&location).await;
    assert!(
        page.body.contains("吴物流"),
        "the colleague's reply carries their name"
    );
    let refused = wu
        .post_from(&location, &format!("/portal/tickets/{theirs}/close"), &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Another organization's request stays unknown.
    let hidden = wu.get(&format!("/portal/tickets/{outsiders}")).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    // A customer of a non-sharing organization sees only their own.
    let zheng = signed_in_customer(&app, "zheng@studio.example").await;
    let home = zheng.get("/portal").await;
    assert!(!home.body.contains("id=\"shared-note\""));
    assert!(home.body.contains(&format!("data-ticket=\"{outsiders}\"")));
    assert_eq!(zheng.get(&location).await.status, StatusCode::NOT_FOUND);

    // Sharing switched off: the colleague's view shrinks to their own.
    let (status, changed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/organizations/{org_id}"),
            ADMIN,
            Some(json!({ "version": org["version"], "name": "星河物流有限公司", "portal_shared": false })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["portal_shared"], false);
    assert_eq!(wu.get(&location).await.status, StatusCode::NOT_FOUND);
    assert!(
        !wu.get("/portal")
            .await
            .body
            .contains(&format!("data-ticket=\"{theirs}\""))
    );

    // An agent switches it back on in the organization's page.
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let org_page = format!("/organizations/{org_id}");
    let page = admin.get(&org_page).await;
    assert!(page.body.contains("id=\"portal-shared\""));
    let saved = admin
        .post_from(
            &org_page,
            &org_page,
            &[
                ("version", &changed["version"].to_string()),
                ("name", "星河物流有限公司"),
                ("company_size", "unknown"),
                ("portal_shared", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = admin.get(&org_page).await;
    assert!(page.body.contains("id=\"portal-shared\" checked"));
    assert_eq!(wu.get(&location).await.status, StatusCode::OK);
}
