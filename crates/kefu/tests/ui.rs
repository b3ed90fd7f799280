//! The web UI as a person uses it, over real HTTP with cookies and forms:
//! sign-in, the shell per role, languages, forms that keep input and show
//! errors beside fields, anti-forgery tokens, sessions, password reset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_domain::Role;
use kefu_testing::{DEMO_PASSWORD, TestApp, spawn_demo_app};
use kefu_web::access::route_specs;
use reqwest::StatusCode;

const ADMIN: &str = "admin@xinghe.example";
const MANAGER: &str = "manager@xinghe.example";
const AGENT: &str = "agent@xinghe.example";
const ANALYST: &str = "analyst@xinghe.example";

const ACCOUNTS: [(Role, &str); 7] = [
    (Role::Admin, ADMIN),
    (Role::Manager, MANAGER),
    (Role::Agent, AGENT),
    (Role::TechSupport, "support@xinghe.example"),
    (Role::QaInspector, "qa@xinghe.example"),
    (Role::Trainer, "trainer@xinghe.example"),
    (Role::Analyst, ANALYST),
];

/// Sends the sign-in form as a person would, whatever the answer.
async fn sign_in_form(
    visitor: &kefu_testing::Visitor,
    email: &str,
    password: &str,
) -> kefu_testing::PageResponse {
    visitor
        .post_from(
            "/login",
            "/login",
            &[("email", email), ("password", password), ("next", "/")],
        )
        .await
}

fn nav_keys(body: &str) -> Vec<String> {
    body.match_indices("data-nav=\"")
        .filter_map(|(i, m)| body[i + m.len()..].split('"').next().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn each_role_signs_in_and_sees_its_navigation() {
    let app = spawn_demo_app().await;
    for (role, email) in ACCOUNTS {
        let visitor = app.signed_in(email, DEMO_PASSWORD).await;
        let page = visitor.get("/").await;
        assert_eq!(page.status, StatusCode::OK, "{role}");
        let nav = nav_keys(&page.body);
        let expect_settings = matches!(role, Role::Admin | Role::Manager);
        assert_eq!(
            nav.first().map(String::as_str),
            Some("workspace"),
            "{role}: {nav:?}"
        );
        assert_eq!(
            nav.iter().any(|n| n == "settings"),
            expect_settings,
            "{role}: {nav:?}"
        );
        assert!(
            page.body
                .contains(&format!("data-role=\"{}\"", role.as_str())),
            "{role}"
        );
    }
    // The analyst's account is in English; everyone else's in Chinese.
    let analyst = app.signed_in(ANALYST, DEMO_PASSWORD).await.get("/").await;
    assert!(
        analyst.body.contains("Workspace") && analyst.body.contains("Analyst"),
        "{}",
        analyst.body
    );
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await.get("/").await;
    assert!(
        agent.body.contains("工作台")
            && agent.body.contains("客服代表")
            && agent.body.contains("王芳")
    );
    app.stop().await;
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in_and_come_back() {
    let app = spawn_demo_app().await;
    let visitor = app.visitor();
    let page = visitor.get("/settings/teams").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        page.location.as_deref(),
        Some("/login?next=%2Fsettings%2Fteams")
    );
    let signed = visitor
        .post_from(
            "/login",
            "/login",
            &[
                ("email", MANAGER),
                ("password", DEMO_PASSWORD),
                ("next", "/settings/teams"),
            ],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.location.as_deref(), Some("/settings/teams"));
    // A crafted next link cannot send people to another site.
    let other = app.visitor();
    let response = other
        .post_from(
            "/login",
            "/login",
            &[
                ("email", MANAGER),
                ("password", DEMO_PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(response.location.as_deref(), Some("/"));
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_shows_one_message_and_keeps_the_email() {
    let app = spawn_demo_app().await;
    let visitor = app
        .visitor()
        .with_header("accept-language", "en-US,en;q=0.9");
    let wrong = visitor
        .post_from(
            "/login",
            "/login",
            &[("email", AGENT), ("password", "not it"), ("next", "/")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("id=\"login-error\""), "{}", wrong.body);
    assert!(
        wrong.body.contains("Wrong email or password"),
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains(&format!("value=\"{AGENT}\"")),
        "the email was not kept"
    );
    let unknown = visitor
        .post_from(
            "/login",
            "/login",
            &[
                ("email", "nobody@xinghe.example"),
                ("password", "not it"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let message = |body: &str| {
        body.split("id=\"login-error\"")
            .nth(1)
            .map(|s| s.split("</div>").next().unwrap_or("").to_owned())
    };
    assert_eq!(
        message(&wrong.body),
        message(&unknown.body),
        "the message must not reveal whether the account exists"
    );
    assert!(!visitor.has_session());
    app.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_the_address_for_a_while() {
    let app = spawn_demo_app().await;
    let visitor = app.visitor();
    for _ in 0..5 {
        let response = sign_in_form(&visitor, "trainer@xinghe.example", "guess").await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let locked = sign_in_form(&visitor, "trainer@xinghe.example", DEMO_PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::UNAUTHORIZED,
        "the right password got in during the lockout"
    );
    assert!(!visitor.has_session());
    // The API's password sign-in honours the same lockout.
    let api = app
        .client
        .get(app.url("/api/v1/me"))
        .basic_auth("trainer@xinghe.example", Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
    // Other accounts are not affected.
    app.signed_in("qa@xinghe.example", DEMO_PASSWORD).await;
    app.stop().await;
}

#[tokio::test]
async fn forms_without_a_valid_token_or_from_another_site_are_refused() {
    let app = spawn_demo_app().await;
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let forged = admin
        .post_raw(
            "/settings/teams",
            &[("name", "伪造团队"), ("csrf", "wrong")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        forged.body.contains("data-kind=\"csrf\""),
        "{}",
        forged.body
    );
    let missing = admin
        .post_raw("/settings/teams", &[("name", "伪造团队")])
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let anonymous = app
        .visitor()
        .post_raw("/login", &[("email", ADMIN), ("password", DEMO_PASSWORD)])
        .await;
    assert_eq!(
        anonymous.status,
        StatusCode::FORBIDDEN,
        "sign-in without the form's token"
    );
    let cross_site = admin
        .with_header("origin", "https://evil.example")
        .post_from(
            "/settings/teams",
            "/settings/teams",
            &[("name", "跨站团队")],
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    let (_, teams) = {
        let response = app
            .client
            .get(app.url("/api/v1/teams?limit=200"))
            .basic_auth(ADMIN, Some(DEMO_PASSWORD))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert!(!teams.contains("伪造团队") && !teams.contains("跨站团队"));
    app.stop().await;
}

#[tokio::test]
async fn every_page_admits_exactly_the_roles_its_rule_names() {
    let app = spawn_demo_app().await;
    let pages: Vec<_> = route_specs().into_iter().filter(|s| s.page).collect();
    assert!(pages.len() >= 15);
    let fill = |path: &str| {
        path.replace("{id}", "999")
            .replace("{token}", &"0".repeat(64))
    };
    // Signed out: protected pages send the visitor to sign in.
    let anonymous = app.visitor();
    for spec in pages.iter().filter(|s| !s.access.is_public()) {
        let path = fill(&spec.path);
        let response = if spec.method == reqwest::Method::GET {
            anonymous.get(&path).await
        } else {
            anonymous.post_from("/login", &path, &[]).await
        };
        assert_eq!(
            response.status,
            StatusCode::SEE_OTHER,
            "{} {path}",
            spec.method
        );
        // Portal pages send customers to the portal's own sign-in.
        let sign_in = if spec.access == kefu_web::access::Access::Customer {
            "/portal/login?next="
        } else {
            "/login?next="
        };
        assert!(
            response
                .location
                .as_deref()
                .is_some_and(|l| l.starts_with(sign_in)),
            "{} {path}",
            spec.method
        );
    }
    // Signing out comes last, so the sweep keeps its session to the end.
    let mut ordered = pages.clone();
    ordered.sort_by_key(|s| (s.path.starts_with("/logout"), s.path == "/logout"));
    for (role, email) in ACCOUNTS {
        let visitor = app.signed_in(email, DEMO_PASSWORD).await;
        for spec in &ordered {
            let path = fill(&spec.path);
            let response = if spec.method == reqwest::Method::GET {
                visitor.get(&path).await
            } else {
                visitor.post_from("/account", &path, &[]).await
            };
            let forbidden = response.status == StatusCode::FORBIDDEN;
            if spec.access.admits(role) {
                assert!(
                    !forbidden && !response.status.is_server_error(),
                    "{} {path} as {role}: {}",
                    spec.method,
                    response.status
                );
                assert!(
                    response
                        .location
                        .as_deref()
                        .is_none_or(|l| !l.starts_with("/login?next=")),
                    "{} {path} as {role} was sent to sign in",
                    spec.method
                );
            } else {
                assert!(
                    forbidden,
                    "{} {path} as {role}: {}",
                    spec.method, response.status
                );
                assert!(
                    response.body.contains("data-kind=\"forbidden\""),
                    "{} {path} as {role}",
                    spec.method
                );
            }
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn an_agent_opening_an_admin_page_gets_a_proper_not_allowed_page() {
    let app = spawn_demo_app().await;
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let page = agent.get("/settings/agents").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("无权访问"), "{}", page.body);
    assert!(
        page.body.contains("data-nav=\"workspace\""),
        "the not-allowed page keeps the shell"
    );
    let settings = agent.get("/settings").await;
    assert_eq!(settings.status, StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn switching_language_changes_the_page_and_the_agents_setting() {
    let app = spawn_demo_app().await;
    let visitor = app.signed_in(AGENT, DEMO_PASSWORD).await;
    assert!(visitor.get("/").await.body.contains("工作台"));
    let switched = visitor
        .post_from("/", "/lang", &[("lang", "en"), ("next", "/account")])
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location.as_deref(), Some("/account"));
    let page = visitor.get("/account").await;
    assert!(
        page.body.contains("My settings") && page.body.contains("<html lang=\"en\">"),
        "{}",
        page.body
    );
    // The choice is the agent's: a new session on another device is English too.
    let elsewhere = app.signed_in(AGENT, DEMO_PASSWORD).await;
    assert!(elsewhere.get("/").await.body.contains("Workspace"));
    // Signed out, the switch works through a cookie.
    let anonymous = app.visitor();
    assert!(anonymous.get("/login").await.body.contains("登录"));
    anonymous
        .post_from("/login", "/lang", &[("lang", "en"), ("next", "/login")])
        .await;
    assert!(anonymous.get("/login").await.body.contains("Sign in"));
    app.stop().await;
}

async fn agent_emails(app: &TestApp) -> String {
    app.client
        .get(app.url("/api/v1/agents?limit=200"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refused_form_comes_back_filled_in_with_errors_beside_fields() {
    let app = spawn_demo_app().await;
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let refused = admin
        .post_from(
            "/settings/agents",
            "/settings/agents",
            &[
                ("email", "not-an-email"),
                ("display_name", "新同事"),
                ("role", "agent"),
                ("password", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("data-field=\"email\""),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("不是有效的邮箱地址"),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("value=\"新同事\""),
        "the name typed was lost"
    );
    assert!(!agent_emails(&app).await.contains("not-an-email"));

    let created = admin
        .post_from(
            "/settings/agents",
            "/settings/agents",
            &[
                ("email", "new.colleague@xinghe.example"),
                ("display_name", "新同事"),
                ("role", "agent"),
                ("password", "first-day-2026"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER);
    assert!(
        agent_emails(&app)
            .await
            .contains("new.colleague@xinghe.example")
    );
    app.signed_in("new.colleague@xinghe.example", "first-day-2026")
        .await;

    let duplicate = admin
        .post_from(
            "/settings/teams",
            "/settings/teams",
            &[
                ("name", "一线客服组"),
                ("description", "again"),
                ("lead_agent_id", ""),
            ],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(duplicate.body.contains("data-field=\"name\"") && duplicate.body.contains("已被使用"));
    assert!(duplicate.body.contains("value=\"again\""));
    app.stop().await;
}

#[tokio::test]
async fn sessions_end_on_sign_out_password_change_and_sign_out_everywhere() {
    let app = spawn_demo_app().await;
    let phone = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let laptop = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let wrong = laptop
        .post_from(
            "/account",
            "/account/password",
            &[
                ("current_password", "nope"),
                ("new_password", "a-new-secret"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("data-field=\"current_password\""));
    let short = laptop
        .post_from(
            "/account",
            "/account/password",
            &[
                ("current_password", DEMO_PASSWORD),
                ("new_password", "short"),
            ],
        )
        .await;
    assert!(
        short.body.contains("data-field=\"new_password\""),
        "{}",
        short.body
    );
    let changed = laptop
        .post_from(
            "/account",
            "/account/password",
            &[
                ("current_password", DEMO_PASSWORD),
                ("new_password", "a-new-secret"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(
        phone.get("/").await.status,
        StatusCode::SEE_OTHER,
        "the other session survived a password change"
    );
    assert_eq!(
        laptop.get("/").await.status,
        StatusCode::OK,
        "the session that changed it must go on"
    );

    let tablet = app.signed_in(MANAGER, "a-new-secret").await;
    let everywhere = laptop
        .post_from("/account", "/logout/everywhere", &[])
        .await;
    assert_eq!(everywhere.status, StatusCode::OK);
    assert_eq!(tablet.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(laptop.get("/").await.status, StatusCode::OK);
    let out = laptop.post_from("/", "/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/login?signed_out=1"));
    assert!(!laptop.has_session());
    assert_eq!(laptop.get("/").await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test]
async fn a_password_is_reset_through_a_one_time_emailed_link() {
    let app = spawn_demo_app().await;
    let visitor = app.visitor();
    for email in ["support@xinghe.example", "nobody@xinghe.example"] {
        let response = visitor
            .post_from("/password-reset", "/password-reset", &[("email", email)])
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert!(response.body.contains("id=\"reset-sent\""), "{email}");
    }
    let mut reader = app.app.store.read().await.unwrap();
    let mail = kefu_store::outbox::to_address(&mut reader.conn(), "support@xinghe.example", 5)
        .await
        .unwrap();
    let nothing = kefu_store::outbox::to_address(&mut reader.conn(), "nobody@xinghe.example", 5)
        .await
        .unwrap();
    drop(reader);
    assert_eq!(mail.len(), 1);
    assert!(nothing.is_empty());
    assert!(mail[0].subject.contains("重置"), "{}", mail[0].subject);
    let link = mail[0]
        .body_text
        .split_whitespace()
        .find(|w| w.contains("/password-reset/"))
        .unwrap()
        .to_owned();
    let path = &link[link.find("/password-reset/").unwrap()..];
    let form = visitor.get(path).await;
    assert!(form.body.contains("name=\"new_password\""), "{}", form.body);
    let done = visitor
        .post_from(path, path, &[("new_password", "reset-works-1")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.location.as_deref(), Some("/login?reset=1"));
    app.signed_in("support@xinghe.example", "reset-works-1")
        .await;
    let again = visitor
        .post_from(path, path, &[("new_password", "second-try-2")])
        .await;
    assert_eq!(
        again.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a used link worked twice"
    );
    app.stop().await;
}

#[tokio::test]
async fn tokens_are_shown_once_in_the_admin_screen_and_revoked_there() {
    let app = spawn_demo_app().await;
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let created = admin
        .post_from(
            "/settings/tokens",
            "/settings/tokens",
            &[
                ("name", "工单同步"),
                ("role", "agent"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    let secret = created
        .body
        .split("class=\"secret\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("kefu_"));
    let page = admin.get("/settings/tokens").await;
    assert!(!page.body.contains(&secret), "the secret was shown twice");
    assert!(
        page.body.contains("href=\"/api/openapi.json\""),
        "the page points integrators at the API document"
    );
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let list: serde_json::Value = app
        .client
        .get(app.url("/api/v1/api-tokens"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["error"]["code"], "forbidden",
        "an agent-role token must not list tokens"
    );
    let tokens: serde_json::Value = app
        .client
        .get(app.url("/api/v1/api-tokens"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = tokens[0]["id"].as_i64().unwrap();
    let revoked = admin
        .post_from(
            "/settings/tokens",
            &format!("/settings/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    let audit = admin.get("/settings/audit?entity=api_token").await;
    assert!(audit.body.contains("revoked_at"), "{}", audit.body);
    app.stop().await;
}

#[tokio::test]
async fn the_audit_log_is_searchable_by_admins() {
    let app = spawn_demo_app().await;
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    manager
        .post_from(
            "/settings/teams",
            "/settings/teams",
            &[
                ("name", "审计测试组"),
                ("description", ""),
                ("lead_agent_id", ""),
            ],
        )
        .await;
    let page = manager
        .get("/settings/audit?entity=team&actor=agent%3A2")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("审计测试组"), "{}", page.body);
    assert!(
        !page.body.contains("system:demo"),
        "the actor filter did not apply"
    );
    let bad = manager.get("/settings/audit?actor=robot%3A1").await;
    assert!(bad.body.contains("筛选条件无效"), "{}", bad.body);
    let api: serde_json::Value = app
        .client
        .get(app.url("/api/v1/audit?entity=team&limit=5"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        api["items"][0]["changes"].as_array().map(|c| c.is_empty()),
        Some(false)
    );
    assert!(api["next_cursor"].is_string());
    let bad: serde_json::Value = app
        .client
        .get(app.url("/api/v1/audit?action=explode"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["error"]["field"], "action");
    app.stop().await;
}

#[tokio::test]
async fn teams_are_staffed_in_the_edit_form_and_a_stale_save_keeps_the_input() {
    let app = spawn_demo_app().await;
    let first = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let second = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let form = first.get("/settings/teams/6").await;
    assert_eq!(form.status, StatusCode::OK);
    let version = form
        .body
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let saved = first
        .post_from(
            "/settings/teams/6",
            "/settings/teams/6",
            &[
                ("version", &version),
                ("name", "质检与培训组"),
                ("description", "QA"),
                ("lead_agent_id", "5"),
                ("member_ids", "5"),
                ("member_ids", "6"),
                ("member_ids", "3"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let team: serde_json::Value = app
        .client
        .get(app.url("/api/v1/teams/6"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(team["member_ids"], serde_json::json!([3, 5, 6]));
    assert_eq!(team["lead_agent_id"], 5);

    let stale = second
        .post_from(
            "/settings/teams/6",
            "/settings/teams/6",
            &[
                ("version", &version),
                ("name", "质检组 (stale)"),
                ("description", "mine"),
                ("lead_agent_id", ""),
                ("member_ids", "5"),
            ],
        )
        .await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        stale.body.contains("data-field=\"version\""),
        "{}",
        stale.body
    );
    assert!(
        stale.body.contains("value=\"质检组 (stale)\""),
        "the second editor's text was lost"
    );
    app.stop().await;
}

async fn totp_secret(app: &TestApp, email: &str) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut reader = app.app.store.read().await.unwrap();
    let id = kefu_store::agents::credentials(&mut reader.conn(), email)
        .await
        .unwrap()
        .unwrap()
        .id;
    let state = kefu_store::totp::state(&mut reader.conn(), id)
        .await
        .unwrap();
    (state.totp_secret, state.totp_pending_secret)
}

fn current_code(secret: &[u8], offset_seconds: i64) -> String {
    format!(
        "{:06}",
        kefu_domain::totp::code_at(secret, chrono::Utc::now().timestamp() + offset_seconds)
    )
}

#[tokio::test]
async fn two_step_sign_in_with_an_authenticator_code() {
    let app = spawn_demo_app().await;
    let analyst = app.signed_in(ANALYST, DEMO_PASSWORD).await;
    let started = analyst
        .post_from("/account", "/account/two-step/start", &[])
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    let page = analyst.get("/account").await;
    assert!(
        page.body.contains("data-state=\"pending\"") && page.body.contains("otpauth://totp/"),
        "{}",
        page.body
    );
    let (_, pending) = totp_secret(&app, ANALYST).await;
    let pending = pending.unwrap();
    let wrong = analyst
        .post_from(
            "/account",
            "/account/two-step/confirm",
            &[("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("data-field=\"code\""));
    let confirmed = analyst
        .post_from(
            "/account",
            "/account/two-step/confirm",
            &[("code", &current_code(&pending, 0))],
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert!(confirmed.body.contains("data-state=\"on\""));
    let (secret, _) = totp_secret(&app, ANALYST).await;
    let secret = secret.unwrap();

    // Signing in now takes the password, then a code.
    let visitor = app.visitor();
    let first = visitor
        .post_from(
            "/login",
            "/login",
            &[
                ("email", ANALYST),
                ("password", DEMO_PASSWORD),
                ("next", "/account"),
            ],
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains("name=\"code\""), "{}", first.body);
    assert!(!visitor.has_session(), "a session before the second step");
    let token = first.csrf().unwrap();
    let bad = visitor
        .post_raw(
            "/login/code",
            &[("code", "123456"), ("next", "/account"), ("csrf", &token)],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(bad.body.contains("id=\"code-error\""));
    // The code used to switch it on was spent; the next step's code works.
    let next_code = current_code(&secret, 30);
    let good = visitor
        .post_raw(
            "/login/code",
            &[("code", &next_code), ("next", "/account"), ("csrf", &token)],
        )
        .await;
    assert_eq!(good.status, StatusCode::SEE_OTHER, "{}", good.body);
    assert_eq!(good.location.as_deref(), Some("/account"));
    assert!(visitor.has_session());
    // The same code cannot be used twice.
    let again = app.visitor();
    again
        .post_from(
            "/login",
            "/login",
            &[
                ("email", ANALYST),
                ("password", DEMO_PASSWORD),
                ("next", "/"),
            ],
        )
        .await;
    let replay = again
        .post_from(
            "/login",
            "/login/code",
            // The very code just used, even if a new time step began since.
            &[("code", &next_code), ("next", "/")],
        )
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    // Password-only API access is closed for this agent; tokens still work.
    let basic = app
        .client
        .get(app.url("/api/v1/me"))
        .basic_auth(ANALYST, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    // The analyst lost the phone: an administrator switches it off, and the
    // password alone signs in again. Others may not.
    let analyst_id = app
        .client
        .get(app.url("/api/v1/agents?limit=200"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == ANALYST)
        .map(|a| a["id"].as_i64().unwrap())
        .unwrap();
    let manager = app.signed_in(MANAGER, DEMO_PASSWORD).await;
    let refused = manager
        .post_from(
            "/",
            &format!("/settings/agents/{analyst_id}/two-step/reset"),
            &[],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let edit = admin.get(&format!("/settings/agents/{analyst_id}")).await;
    assert!(edit.body.contains("id=\"reset-two-step\""), "{}", edit.body);
    let reset = admin
        .post_from(
            &format!("/settings/agents/{analyst_id}"),
            &format!("/settings/agents/{analyst_id}/two-step/reset"),
            &[],
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert!(reset.body.contains("id=\"two-step-reset-done\""));
    assert!(!reset.body.contains("id=\"reset-two-step\""));
    app.signed_in(ANALYST, DEMO_PASSWORD).await;
    let api = app
        .client
        .delete(app.url(&format!("/api/v1/agents/{analyst_id}/two-step")))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::NO_CONTENT);
    app.stop().await;
}

#[tokio::test]
async fn presence_follows_sign_in_and_the_switch() {
    let app = spawn_demo_app().await;
    let status_of = |body: &str| {
        body.split("data-status=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_owned)
    };
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    assert_eq!(
        status_of(&agent.get("/").await.body).as_deref(),
        Some("online")
    );
    let away = agent
        .post_from("/", "/account/status", &[("status", "away"), ("next", "/")])
        .await;
    assert_eq!(away.status, StatusCode::SEE_OTHER);
    assert_eq!(
        status_of(&agent.get("/").await.body).as_deref(),
        Some("away")
    );
    let api: serde_json::Value = app
        .client
        .get(app.url("/api/v1/agents/3"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["status"], "away");
    let bad = app
        .client
        .put(app.url("/api/v1/me/status"))
        .basic_auth(MANAGER, Some(DEMO_PASSWORD))
        .json(&serde_json::json!({"status": "busy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    agent.post_from("/", "/logout", &[]).await;
    let api: serde_json::Value = app
        .client
        .get(app.url("/api/v1/agents/3"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["status"], "offline");
    app.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_database_share_sessions_settings_and_lockouts() {
    let app = spawn_demo_app().await;
    let beside = app.spawn_beside().await;

    // A session begun on one instance is honoured by the other, forms too:
    // a load balancer may send each request anywhere.
    let laptop = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let laptop_beside = laptop.at(beside.address);
    let page = laptop_beside.get("/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("工作台"), "{}", page.body);
    let switched = laptop_beside
        .post_from("/", "/lang", &[("lang", "en"), ("next", "/")])
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER, "{}", switched.body);
    assert!(laptop.get("/").await.body.contains("Workspace"));

    // Signing out everywhere on one instance ends sessions the other began.
    let phone = app.visitor().at(beside.address);
    let signed = sign_in_form(&phone, AGENT, DEMO_PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(phone.get("/").await.status, StatusCode::OK);
    let everywhere = laptop
        .post_from("/account", "/logout/everywhere", &[])
        .await;
    assert_eq!(everywhere.status, StatusCode::OK);
    assert_eq!(phone.get("/").await.status, StatusCode::SEE_OTHER);
    assert_eq!(laptop_beside.get("/").await.status, StatusCode::OK);

    // Failed sign-ins count across instances: guessing on one and then on
    // the other does not double the attempts.
    let guesser = app.visitor();
    for attempt in 0..5 {
        let visitor = if attempt % 2 == 0 {
            guesser.at(app.address)
        } else {
            guesser.at(beside.address)
        };
        let refused = sign_in_form(&visitor, "trainer@xinghe.example", "guess").await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    }
    for address in [app.address, beside.address] {
        let locked = sign_in_form(
            &guesser.at(address),
            "trainer@xinghe.example",
            DEMO_PASSWORD,
        )
        .await;
        assert_eq!(
            locked.status,
            StatusCode::UNAUTHORIZED,
            "the right password got in during the lockout on {address}"
        );
    }
    beside.stop().await;
    app.stop().await;
}
