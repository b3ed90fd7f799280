//! The public web form over real HTTP, on SQLite or PostgreSQL: a visitor's
//! request becomes a web-form ticket for the customer with that email,
//! robots are turned away (signed time-bounded token, honeypot, rate), and
//! the form can be framed by other sites while agent pages cannot.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use kefu_testing::{TestApp, spawn_demo_app};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

const ADMIN: &str = "admin@xinghe.example";

/// A token as the form would have carried it, served `seconds` ago.
fn token(app: &TestApp, seconds: i64) -> String {
    kefu_domain::web_form::issue(
        &app.app.form_key,
        chrono::Utc::now() - Duration::seconds(seconds),
    )
}

async fn post(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url("/form?lang=zh-CN"))
        .form(fields)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The newest web-form tickets with this subject.
async fn web_form_tickets(app: &TestApp, subject: &str) -> Vec<Value> {
    let (_, list) = app
        .call(
            Method::GET,
            "/api/v1/tickets?channel=web_form&status=any&limit=100",
            ADMIN,
            None,
        )
        .await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["subject"] == subject)
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_visitor_sends_a_request_with_a_file_and_gets_a_ticket_number() {
    let app = spawn_demo_app().await;
    let page = app
        .client
        .get(app.url("/form?lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()[header::CONTENT_SECURITY_POLICY],
        "frame-ancestors *",
        "other sites may frame the form"
    );
    assert!(page.headers().get(header::X_FRAME_OPTIONS).is_none());
    let html = page.text().await.unwrap();
    assert!(html.contains("Contact customer service"), "{html}");
    assert!(html.contains("name=\"form_token\""));
    assert!(html.contains("name=\"website\""), "the honeypot is there");

    let form = Form::new()
        .text("form_token", token(&app, 30))
        .text("website", "")
        .text("name", "林晓")
        .text("email", "Lin.Xiao@Example.COM")
        .text("phone", "139 1234 5678")
        .text("subject", "宽带每晚断线")
        .text("description", "最近一周每晚十点左右断线，请安排检查。")
        .part(
            "files",
            Part::bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()).file_name("光猫.png"),
        );
    let response = app
        .client
        .post(app.url("/form?lang=zh-CN"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let thanks = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{thanks}");
    assert!(thanks.contains("id=\"ticket-number\""), "{thanks}");

    let tickets = web_form_tickets(&app, "宽带每晚断线").await;
    assert_eq!(tickets.len(), 1);
    let id = tickets[0]["id"].as_i64().unwrap();
    assert!(thanks.contains(&format!("#{id}")), "{thanks}");
    let (_, ticket) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), ADMIN, None)
        .await;
    assert_eq!(ticket["channel"], "web_form");
    assert_eq!(ticket["subject"], "宽带每晚断线");
    assert_eq!(ticket["attachments"][0]["file_name"], "光猫.png");
    assert_eq!(ticket["attachments"][0]["author"]["kind"], "customer");
    let customer = ticket["customer"]["id"].as_i64().unwrap();
    let (_, found) = app
        .call(
            Method::GET,
            "/api/v1/customers/lookup?kind=email&value=lin.xiao@example.com",
            ADMIN,
            None,
        )
        .await;
    assert_eq!(found["id"], customer, "a new customer, found by the email");

    // The confirmation is queued for the visitor, with the number.
    let mut reader = app.app.store.read().await.unwrap();
    let mail = kefu_store::outbox::to_address(&mut reader.conn(), "lin.xiao@example.com", 10)
        .await
        .unwrap();
    drop(reader);
    assert_eq!(mail.len(), 1);
    assert!(mail[0].subject.contains(&format!("#{id}")), "{:?}", mail[0]);

    // The same email again: the same customer, a second ticket.
    let (status, _) = post(
        &app,
        &[
            ("form_token", &token(&app, 10)),
            ("name", "林晓"),
            ("email", "lin.xiao@example.com"),
            ("subject", "再次断线"),
            ("description", "今晚又断了。"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let again = web_form_tickets(&app, "再次断线").await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["customer"]["id"], customer);
}

#[tokio::test]
async fn robots_and_bad_input_are_turned_away_and_nothing_is_saved() {
    let app = spawn_demo_app().await;
    let good = |token: String| {
        vec![
            ("form_token".to_owned(), token),
            ("name".to_owned(), "Robot".to_owned()),
            ("email".to_owned(), "bot@spam.example".to_owned()),
            ("subject".to_owned(), "Cheap watches".to_owned()),
            ("description".to_owned(), "Buy now".to_owned()),
        ]
    };
    let send = |fields: Vec<(String, String)>| {
        let app = &app;
        async move {
            let fields: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            post(app, &fields).await
        }
    };

    // The honeypot: thanked, dropped.
    let mut trap = good(token(&app, 30));
    trap.push(("website".into(), "http://spam.example".into()));
    let (status, body) = send(trap).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"received\""));
    assert!(!body.contains("ticket-number"));

    // Too quick, too old, forged or missing tokens.
    for bad in [
        token(&app, 0),
        token(&app, 25 * 3600),
        "1800000000.00".to_owned(),
        String::new(),
    ] {
        let (status, body) = send(good(bad.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(body.contains("data-field=\"form_token\""), "{bad}: {body}");
    }

    // A missing email is named, in the visitor's language, and the rest kept.
    let mut no_email = good(token(&app, 30));
    no_email.retain(|(k, _)| k != "email");
    let (status, body) = send(no_email).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("data-field=\"email\""), "{body}");
    assert!(body.contains("value=\"Cheap watches\""), "{body}");
    assert!(web_form_tickets(&app, "Cheap watches").await.is_empty());

    // Five requests from one address pass; the sixth waits.
    for n in 0..5 {
        let mut fields = good(token(&app, 30));
        fields[2].1 = format!("visitor{n}@example.com");
        let (status, body) = send(fields).await;
        assert_eq!(status, StatusCode::OK, "{n}: {body}");
    }
    let mut fields = good(token(&app, 30));
    fields[2].1 = "visitor6@example.com".into();
    let (status, body) = send(fields).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body.contains("data-field=\"form\""), "{body}");
    assert_eq!(web_form_tickets(&app, "Cheap watches").await.len(), 5);
}

#[tokio::test]
async fn agent_pages_cannot_be_framed_by_other_sites() {
    let app = spawn_demo_app().await;
    let login = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.headers()[header::X_FRAME_OPTIONS], "SAMEORIGIN");
    let agent = app
        .signed_in("agent@xinghe.example", kefu_testing::DEMO_PASSWORD)
        .await;
    let settings = agent.get("/settings/tickets").await;
    assert_eq!(
        settings.status,
        StatusCode::FORBIDDEN,
        "agents do not change settings"
    );
    let admin = app.signed_in(ADMIN, kefu_testing::DEMO_PASSWORD).await;
    let page = admin.get("/settings/tickets").await;
    assert!(
        page.body.contains("/form?lang=zh-CN"),
        "the embed code is offered"
    );
}
