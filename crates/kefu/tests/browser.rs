//! The web UI in a real browser: Debian's Chromium driven over WebDriver.
//!
//! Runs when `KEFU_TEST_BROWSER=1` (`.ci/run` installs chromium and
//! chromium-driver and sets it); elsewhere it says it was skipped. Saves
//! screenshots of the main screens under `target/screenshots/` for review.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, TestApp, spawn_demo_app};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use thirtyfour::prelude::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    process: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Driver {
                    process,
                    url: format!("http://127.0.0.1:{port}"),
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = process.kill();
        let _ = process.wait();
        panic!("chromedriver did not start listening");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn enabled() -> bool {
    if std::env::var("KEFU_TEST_BROWSER").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!(
        "browser tests skipped: set KEFU_TEST_BROWSER=1 with chromium and chromium-driver installed (.ci/run does)"
    );
    false
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn browser(driver: &Driver, profile: &tempfile::TempDir) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--lang=zh-CN",
        "--accept-lang=zh-CN,zh",
        "--window-size=1280,800",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.path().display()))
        .unwrap();
    kefu_app::install_tls();
    WebDriver::new(driver.url.clone(), caps).await.unwrap()
}

/// Submits the sign-in form and waits for the next page: the signed-in
/// top bar, or the form's error.
async fn sign_in(web: &WebDriver, app: &TestApp, email: &str, password: &str) {
    web.goto(app.url("/login")).await.unwrap();
    web.find(By::Css("#email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    web.find(By::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    web.find(By::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    web.query(By::Css("#who, #login-error"))
        .first()
        .await
        .unwrap();
}

/// Clicks `css` and waits until `ready` matches on the page it leads to.
async fn click_and_wait(web: &WebDriver, css: &str, ready: &str) {
    let old = web.find(By::Tag("html")).await.unwrap();
    web.find(By::Css(css)).await.unwrap().click().await.unwrap();
    old.wait_until().stale().await.unwrap();
    web.query(By::Css(ready)).first().await.unwrap();
}

async fn nav(web: &WebDriver) -> Vec<String> {
    let mut keys = Vec::new();
    for item in web.find_all(By::Css("[data-nav]")).await.unwrap() {
        keys.push(item.attr("data-nav").await.unwrap().unwrap_or_default());
    }
    keys
}

async fn body_text(web: &WebDriver) -> String {
    web.find(By::Tag("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn sign_out(web: &WebDriver) {
    click_and_wait(web, "#logout", "#email").await;
}

#[tokio::test]
async fn a_person_signs_in_switches_language_and_meets_the_role_limits() {
    if !enabled() {
        return;
    }
    let app = spawn_demo_app().await;
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let web = browser(&driver, &profile).await;
    let shots = screenshot_dir();

    // A wrong password: one clear message, the email kept.
    web.goto(app.url("/login")).await.unwrap();
    web.screenshot(&shots.join("01-login-zh.png"))
        .await
        .unwrap();
    sign_in(&web, &app, "agent@xinghe.example", "wrong password").await;
    let error = web
        .find(By::Css("#login-error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(error.contains("邮箱或密码不正确"), "{error}");
    let kept = web
        .find(By::Css("#email"))
        .await
        .unwrap()
        .value()
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(kept, "agent@xinghe.example");

    // Each role sees its own navigation.
    for (email, settings) in [
        ("admin@xinghe.example", true),
        ("manager@xinghe.example", true),
        ("agent@xinghe.example", false),
        ("support@xinghe.example", false),
        ("qa@xinghe.example", false),
        ("trainer@xinghe.example", false),
        ("analyst@xinghe.example", false),
    ] {
        sign_in(&web, &app, email, DEMO_PASSWORD).await;
        let keys = nav(&web).await;
        assert_eq!(
            keys.first().map(String::as_str),
            Some("workspace"),
            "{email}: {keys:?}"
        );
        assert_eq!(
            keys.iter().any(|k| k == "settings"),
            settings,
            "{email}: {keys:?}"
        );
        sign_out(&web).await;
    }

    // An agent: the workspace, then an admin page, then the language switch.
    sign_in(&web, &app, "agent@xinghe.example", DEMO_PASSWORD).await;
    assert!(body_text(&web).await.contains("王芳"));
    web.screenshot(&shots.join("02-workspace-agent-zh.png"))
        .await
        .unwrap();
    web.goto(app.url("/settings/agents")).await.unwrap();
    let text = body_text(&web).await;
    assert!(text.contains("无权访问"), "{text}");
    web.screenshot(&shots.join("03-not-allowed-zh.png"))
        .await
        .unwrap();
    click_and_wait(&web, "#lang-switch", "html[lang=en]").await;
    let text = body_text(&web).await;
    assert!(
        text.contains("Not allowed") && text.contains("Workspace"),
        "{text}"
    );
    web.screenshot(&shots.join("04-not-allowed-en.png"))
        .await
        .unwrap();
    click_and_wait(&web, "#lang-switch", "html[lang=zh-CN]").await;
    assert!(body_text(&web).await.contains("工作台"));
    sign_out(&web).await;

    // An admin creates a team through the form and sees it listed.
    sign_in(&web, &app, "admin@xinghe.example", DEMO_PASSWORD).await;
    web.goto(app.url("/settings/teams")).await.unwrap();
    let form = web.find(By::Css("#create-team")).await.unwrap();
    form.find(By::Css("input[name=name]"))
        .await
        .unwrap()
        .send_keys("宽带装维组")
        .await
        .unwrap();
    form.find(By::Css("input[name=description]"))
        .await
        .unwrap()
        .send_keys("Installation visits")
        .await
        .unwrap();
    form.find(By::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    form.wait_until().stale().await.unwrap();
    let table = web
        .find(By::Css("#teams"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(table.contains("宽带装维组"), "{table}");
    web.screenshot(&shots.join("05-settings-teams-admin.png"))
        .await
        .unwrap();
    web.goto(app.url("/settings/agents")).await.unwrap();
    web.screenshot(&shots.join("06-settings-agents-admin.png"))
        .await
        .unwrap();
    web.goto(app.url("/settings/audit")).await.unwrap();
    assert!(body_text(&web).await.contains("宽带装维组"));
    web.screenshot(&shots.join("07-audit-admin.png"))
        .await
        .unwrap();

    // The customer archive: search, open the 360° view, reveal is recorded.
    web.goto(app.url("/customers")).await.unwrap();
    web.screenshot(&shots.join("09-customers-admin.png"))
        .await
        .unwrap();
    let search = web
        .find(By::Css("#customer-search input[name=q]"))
        .await
        .unwrap();
    search.send_keys("BSS-1000007").await.unwrap();
    click_and_wait(&web, "#customer-search button[type=submit]", "#customers").await;
    let rows = web.find_all(By::Css("#customers tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1, "searching an external id finds one customer");
    click_and_wait(&web, "#customers tbody tr a", "#customer-name").await;
    let profile = body_text(&web).await;
    assert!(
        profile.contains("客户档案") && profile.contains("消费信息"),
        "{profile}"
    );
    web.screenshot(&shots.join("10-customer-360-admin.png"))
        .await
        .unwrap();
    web.goto(app.url("/customers/import")).await.unwrap();
    web.screenshot(&shots.join("11-customer-import.png"))
        .await
        .unwrap();
    sign_out(&web).await;

    // A manager on a phone-sized screen.
    web.set_window_rect(0, 0, 390, 844).await.unwrap();
    sign_in(&web, &app, "manager@xinghe.example", DEMO_PASSWORD).await;
    web.screenshot(&shots.join("08-workspace-manager-phone.png"))
        .await
        .unwrap();
    let width: i64 = web
        .execute("return document.documentElement.scrollWidth;", Vec::new())
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert!(
        width <= 400,
        "the page scrolls sideways on a phone: {width}px"
    );
    web.goto(app.url("/customers")).await.unwrap();
    let width: i64 = web
        .execute("return document.documentElement.scrollWidth;", Vec::new())
        .await
        .unwrap()
        .convert()
        .unwrap();
    assert!(
        width <= 400,
        "the customer list scrolls sideways: {width}px"
    );
    web.screenshot(&shots.join("12-customers-manager-phone.png"))
        .await
        .unwrap();

    web.quit().await.unwrap();
    app.stop().await;
}

/// Polls until `css` is shown or 15 s pass.
async fn wait_shown(web: &WebDriver, css: &str) -> bool {
    for _ in 0..150 {
        if let Ok(element) = web.find(By::Css(css)).await
            && element.is_displayed().await.unwrap_or(false)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn an_agent_works_a_ticket_with_live_updates_and_canned_replies() {
    if !enabled() {
        return;
    }
    let app = spawn_demo_app().await;
    let json = |method: reqwest::Method, path: &str, user: &str, body: serde_json::Value| {
        app.as_user(method, path, user).json(&body).send()
    };
    let canned = json(
        reqwest::Method::POST,
        "/api/v1/macros",
        "manager@xinghe.example",
        serde_json::json!({"name": "问候", "body": "{customer.name}您好，工单{ticket.number}已受理。"}),
    )
    .await
    .unwrap();
    assert_eq!(canned.status(), 201);
    let ticket: serde_json::Value = json(
        reqwest::Method::POST,
        "/api/v1/tickets",
        "agent@xinghe.example",
        serde_json::json!({"subject": "浏览器里的工单", "customer_id": 1}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let id = ticket["id"].as_i64().unwrap();
    let customer = ticket["customer"]["name"].as_str().unwrap().to_owned();

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let web = browser(&driver, &profile).await;
    let shots = screenshot_dir();
    sign_in(&web, &app, "agent@xinghe.example", DEMO_PASSWORD).await;
    web.goto(app.url(&format!("/tickets/{id}"))).await.unwrap();
    web.find(By::Css("#insert-macro"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = web
        .find(By::Css("#reply-body"))
        .await
        .unwrap()
        .value()
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(text, format!("{customer}您好，工单#{id}已受理。"));

    // A colleague starts writing on the same ticket: the page says so.
    let colleague = app.signed_in("support@xinghe.example", DEMO_PASSWORD).await;
    assert!(!wait_shown_now(&web, "#collision").await);
    let typing = colleague
        .post_from(
            &format!("/tickets/{id}"),
            &format!("/tickets/{id}/replying"),
            &[],
        )
        .await;
    assert_eq!(typing.status, 204);
    assert!(wait_shown(&web, "#collision").await, "no replying warning");
    let warning = body_text(&web).await;
    assert!(warning.contains("张伟"), "{warning}");
    web.screenshot(&shots.join("20-ticket-collision.png"))
        .await
        .unwrap();

    // Ctrl+Enter sends the reply.
    let body = web.find(By::Css("#reply-body")).await.unwrap();
    body.send_keys(Key::Control + Key::Enter).await.unwrap();
    if web.query(By::Css("li.entry-reply")).first().await.is_err() {
        panic!("no reply after Ctrl+Enter: {}", body_text(&web).await);
    }
    assert!(body_text(&web).await.contains("已受理"));

    // The queue refreshes itself when a ticket arrives.
    web.goto(app.url("/tickets?view=all")).await.unwrap();
    web.find(By::Css("table.tickets")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let created = json(
        reqwest::Method::POST,
        "/api/v1/tickets",
        "manager@xinghe.example",
        serde_json::json!({"subject": "实时出现的新工单"}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    let mut seen = false;
    for _ in 0..150 {
        if body_text(&web).await.contains("实时出现的新工单") {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "the queue did not refresh");
    web.screenshot(&shots.join("21-queue.png")).await.unwrap();
    web.quit().await.unwrap();
}

/// Whether `css` is shown right now.
async fn wait_shown_now(web: &WebDriver, css: &str) -> bool {
    match web.find(By::Css(css)).await {
        Ok(element) => element.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}
