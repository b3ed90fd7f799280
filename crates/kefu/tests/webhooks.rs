//! Outgoing webhooks over HTTP: admins keep them through the API and the
//! settings page; ticket events become signed deliveries that a real
//! receiver on 127.0.0.1 gets, retried with backoff, logged, redelivered;
//! a dead receiver never holds up ticket work; two workers never send a
//! delivery twice. Runs on whichever database `KEFU_TEST_DATABASE_URL` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use kefu_testing::{DEMO_PASSWORD, TestApp, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

/// A webhook receiver on 127.0.0.1: records every request and answers
/// with the next planned status (200 once the plan runs out).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    plan: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state.got.lock().unwrap().push(Received {
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let mut plan = state.plan.lock().unwrap();
                    let code = if plan.is_empty() { 200 } else { plan.remove(0) };
                    (AxumStatus::from_u16(code).unwrap(), "ok")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, format!("http://{address}/hook"))
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn plan(&self, codes: &[u16]) {
        self.plan.lock().unwrap().extend_from_slice(codes);
    }
}

fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Runs the job worker's passes at `at` until nothing more is due.
async fn run_jobs(app: &kefu_app::App, at: chrono::DateTime<chrono::Utc>) {
    loop {
        let report = kefu_app::jobs::run_due(app, "test-worker", at)
            .await
            .unwrap();
        if report.claimed == 0 {
            return;
        }
    }
}

async fn deliveries(app: &TestApp, hook: i64) -> Vec<Value> {
    let (status, log) = app
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{hook}/deliveries"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    log.as_array().unwrap().clone()
}

async fn new_ticket(app: &TestApp, subject: &str) -> Value {
    let (status, ticket) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({"subject": subject})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    ticket
}

#[tokio::test]
async fn ticket_events_reach_a_signed_webhook_with_retries_and_a_log() {
    let server = spawn_demo_app().await;
    let app = &server;
    let (receiver, url) = Receiver::start().await;

    // Only admins connect other systems.
    for who in [AGENT, MANAGER] {
        let (status, _) = app.call(Method::GET, "/api/v1/webhooks", who, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}");
    }
    // Bad input names the field; nothing is saved.
    for (input, field) in [
        (
            json!({"name": "x", "url": "ftp://example.com", "events": ["ticket.created"]}),
            "url",
        ),
        (
            json!({"name": "x", "url": url, "events": ["ticket.created", "ticket.exploded"]}),
            "events[1]",
        ),
        (json!({"name": "x", "url": url, "events": []}), "events"),
        (
            json!({"name": "", "url": url, "events": ["ticket.created"]}),
            "name",
        ),
    ] {
        let (status, error) = app
            .call(Method::POST, "/api/v1/webhooks", ADMIN, Some(input))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (_, none) = app.call(Method::GET, "/api/v1/webhooks", ADMIN, None).await;
    assert_eq!(none, json!([]));

    let (status, hook) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            ADMIN,
            Some(json!({
            "name": "工单同步 CRM", "url": url,
            "events": ["ticket.created", "ticket.updated", "ticket.message"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook_id = hook["id"].as_i64().unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > 30, "{hook}");

    // A new ticket: one signed delivery once the worker runs, none before.
    let ticket = new_ticket(app, "宽带无法上网 webhook").await;
    let id = ticket["id"].as_i64().unwrap();
    assert!(
        receiver.got().is_empty(),
        "sent only by the worker, after the commit"
    );
    run_jobs(&server.app, chrono::Utc::now()).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let first = &got[0];
    assert_eq!(header(first, "x-kefu-event"), "ticket.created");
    assert_eq!(header(first, "content-type"), "application/json");
    let timestamp: i64 = header(first, "x-kefu-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert_eq!(
        header(first, "x-kefu-signature"),
        kefu_domain::webhook::signature(&secret, timestamp, first.body.as_bytes())
    );
    assert_ne!(
        header(first, "x-kefu-signature"),
        kefu_domain::webhook::signature("another secret", timestamp, first.body.as_bytes())
    );
    let body: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["event"], "ticket.created");
    assert_eq!(body["data"]["ticket"]["id"], id);
    assert_eq!(body["data"]["ticket"]["subject"], "宽带无法上网 webhook");
    let log = deliveries(app, hook_id).await;
    assert_eq!(log[0]["state"], "delivered", "{log:?}");
    assert_eq!(log[0]["response_status"], 200);
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(header(first, "x-kefu-delivery"), log[0]["id"].to_string());

    // The receiver fails once: the delivery waits and is tried again after
    // the backoff, not before.
    receiver.plan(&[503]);
    let (status, changed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tickets/{id}"),
            AGENT,
            Some(json!({"version": ticket["version"], "urgency": "high"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let now = chrono::Utc::now();
    run_jobs(&server.app, now).await;
    let log = deliveries(app, hook_id).await;
    assert_eq!(log[0]["event"], "ticket.updated");
    assert_eq!(log[0]["state"], "pending", "{log:?}");
    assert_eq!(log[0]["response_status"], 503);
    assert!(log[0]["error"].as_str().unwrap().contains("503"));
    run_jobs(&server.app, now + chrono::Duration::seconds(5)).await;
    assert_eq!(receiver.got().len(), 2, "not before the backoff");
    run_jobs(&server.app, now + chrono::Duration::seconds(11)).await;
    let log = deliveries(app, hook_id).await;
    assert_eq!(log[0]["state"], "delivered", "{log:?}");
    assert_eq!(log[0]["attempts"], 2);
    let got = receiver.got();
    assert_eq!(got.len(), 3);
    assert_eq!(
        header(&got[1], "x-kefu-delivery"),
        header(&got[2], "x-kefu-delivery")
    );

    // Redelivery from the log, and the test button.
    let delivery = log[0]["id"].as_i64().unwrap();
    let (status, again) = app
        .call(
            Method::POST,
            &format!("/api/v1/webhook-deliveries/{delivery}/redeliver"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{hook_id}/ping"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    run_jobs(&server.app, chrono::Utc::now()).await;
    let got = receiver.got();
    assert_eq!(got.len(), 5);
    assert!(got.iter().any(|r| header(r, "x-kefu-event") == "ping"));
    assert_eq!(
        got.iter()
            .filter(|r| header(r, "x-kefu-delivery") == delivery.to_string())
            .count(),
        3
    );

    // A dead receiver: ticket work goes on; the delivery is retried with
    // growing pauses, then given up, and the log says why.
    let (_, dead) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            ADMIN,
            Some(json!({
            "name": "已下线", "url": "http://127.0.0.1:9/gone", "events": ["ticket.message"]})),
        )
        .await;
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{id}/messages"),
            AGENT,
            Some(json!({"kind": "note", "body": "已联系装维"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let dead_id = dead["id"].as_i64().unwrap();
    let mut at = chrono::Utc::now();
    for _ in 0..kefu_domain::webhook::MAX_ATTEMPTS {
        run_jobs(&server.app, at).await;
        at += chrono::Duration::hours(13);
    }
    let log = deliveries(app, dead_id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "failed", "{log:?}");
    assert_eq!(
        log[0]["attempts"],
        i64::from(kefu_domain::webhook::MAX_ATTEMPTS)
    );
    assert_eq!(log[0]["error"], "could not connect");
    // The live webhook got the note too.
    assert!(
        receiver
            .got()
            .iter()
            .any(|r| header(r, "x-kefu-event") == "ticket.message")
    );

    // The settings page shows the secret, the log and its states.
    let admin = server.signed_in(ADMIN, DEMO_PASSWORD).await;
    let page = admin.get(&format!("/settings/webhooks/{hook_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&secret));
    assert!(page.body.contains("已送达"), "{}", page.body);
    let page = admin.get(&format!("/settings/webhooks/{dead_id}")).await;
    assert!(page.body.contains("could not connect"));
    assert!(page.body.contains("失败"));
    let agent = server.signed_in(AGENT, DEMO_PASSWORD).await;
    assert_eq!(
        agent.get("/settings/webhooks").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn webhooks_are_kept_on_the_settings_page() {
    let server = spawn_demo_app().await;
    let (receiver, url) = Receiver::start().await;
    let admin = server.signed_in(ADMIN, DEMO_PASSWORD).await;
    let page = admin.get("/settings/webhooks").await;
    assert_eq!(page.status, StatusCode::OK);
    let refused = admin
        .post_from(
            "/settings/webhooks",
            "/settings/webhooks",
            &[
                ("name", "坏地址"),
                ("url", "mailto:x"),
                ("event.ticket.created", "1"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("data-field=\"url\""));
    let saved = admin
        .post_from(
            "/settings/webhooks",
            "/settings/webhooks",
            &[
                ("name", "值班群机器人"),
                ("url", &url),
                ("event.sla.breach", "1"),
                ("event.ticket.created", "1"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let location = saved.location.clone().unwrap();
    let edit = admin.get(&location).await;
    assert!(edit.body.contains("值班群机器人"));
    let secret = edit
        .body
        .split("id=\"webhook-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    // Rotating the secret changes it; the old one no longer signs.
    let id: i64 = location
        .trim_start_matches("/settings/webhooks/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let rotated = admin
        .post_from(
            "/settings/webhooks",
            &format!("/settings/webhooks/{id}"),
            &[
                ("name", "值班群机器人"),
                ("url", &url),
                ("event.ticket.created", "1"),
                ("active", "1"),
                ("rotate_secret", "1"),
                ("version", "1"),
            ],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::SEE_OTHER, "{}", rotated.body);
    let (_, view) = server
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), ADMIN, None)
        .await;
    assert_ne!(view["secret"], secret.as_str());
    assert_eq!(view["events"], "ticket.created");
    // The test button sends a ping signed with the new secret.
    admin.get(&format!("/settings/webhooks/{id}")).await;
    let pinged = admin
        .post_from(
            "/settings/webhooks",
            &format!("/settings/webhooks/{id}/ping"),
            &[],
        )
        .await;
    assert_eq!(pinged.status, StatusCode::SEE_OTHER);
    run_jobs(&server.app, chrono::Utc::now()).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let ts: i64 = header(&got[0], "x-kefu-timestamp").parse().unwrap();
    assert_eq!(
        header(&got[0], "x-kefu-signature"),
        kefu_domain::webhook::signature(
            view["secret"].as_str().unwrap(),
            ts,
            got[0].body.as_bytes()
        )
    );
    // Changes are audited, the secret never is.
    let (_, audit) = server
        .call(
            Method::GET,
            &format!("/api/v1/audit?entity=webhook&entity_id={id}"),
            ADMIN,
            None,
        )
        .await;
    let text = audit.to_string();
    assert!(text.contains("secret_rotated"), "{text}");
    assert!(!text.contains(view["secret"].as_str().unwrap()));
}

#[tokio::test]
async fn two_workers_send_each_delivery_once() {
    let server = spawn_demo_app().await;
    let (receiver, url) = Receiver::start().await;
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/webhooks",
            ADMIN,
            Some(json!({
            "name": "双实例", "url": url, "events": ["ticket.created"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for n in 0..40 {
        new_ticket(&server, &format!("双实例 webhook {n}")).await;
    }
    let beside = server.spawn_beside().await;
    let now = chrono::Utc::now();
    let one = async {
        loop {
            let r = kefu_app::jobs::run_due(&server.app, "worker-a", now)
                .await
                .unwrap();
            if r.claimed == 0 {
                break;
            }
        }
    };
    let two = async {
        loop {
            let r = kefu_app::jobs::run_due(&beside.app, "worker-b", now)
                .await
                .unwrap();
            if r.claimed == 0 {
                break;
            }
        }
    };
    tokio::join!(one, two);
    let got = receiver.got();
    let mut ids: Vec<&str> = got.iter().map(|r| header(r, "x-kefu-delivery")).collect();
    assert_eq!(ids.len(), 40, "every delivery sent");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40, "none twice");
    beside.stop().await;
}
