//! The email channel over HTTP: admins set up mailboxes; raw messages
//! posted to the inbound endpoint become tickets and replies exactly
//! once, threaded by ids, own ids and subject tags; machines' mail,
//! bounces and spam are recorded the right way; unreadable mail and
//! floods go to the quarantine; agents see the mail on the ticket page
//! with its cleaned HTML behind a strict policy. Runs on whichever
//! database `KEFU_TEST_DATABASE_URL` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{DEMO_PASSWORD, TestApp, spawn_demo_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const AGENT: &str = "agent@xinghe.example";

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../kefu-mail/tests/corpus/made")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn post_mail(app: &TestApp, token: &str, raw: &[u8]) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/mail/inbound"))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn mailbox(app: &TestApp) -> (i64, String) {
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/mailboxes",
            ADMIN,
            Some(json!({"name": "客服邮箱", "address": "Support@Kefu.Example", "ticket_type": "inquiry"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["mailbox"]["address"], "support@kefu.example");
    (
        created["mailbox"]["id"].as_i64().unwrap(),
        created["token"].as_str().unwrap().to_owned(),
    )
}

fn message(from: &str, subject: &str, extra_headers: &str, body: &str, id: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@kefu.example\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn mail_becomes_tickets_and_replies_exactly_once() {
    let app = spawn_demo_app().await;

    // Only admins set up mailboxes; bad input names the field.
    let (status, _) = app
        .call(Method::GET, "/api/v1/mailboxes", AGENT, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (input, field) in [
        (json!({"name": "x", "address": "not-an-address"}), "address"),
        (
            json!({"name": "x", "address": "a@b.example", "imap_port": 0}),
            "imap_port",
        ),
        (
            json!({"name": "x", "address": "a@b.example", "imap_host": "imap.b.example"}),
            "imap_user",
        ),
        (
            json!({"name": "x", "address": "a@b.example", "ticket_type": "nonsense"}),
            "ticket_type",
        ),
        (
            json!({"name": "x", "address": "a@b.example", "team_id": 999999}),
            "team_id",
        ),
    ] {
        let (status, error) = app
            .call(Method::POST, "/api/v1/mailboxes", ADMIN, Some(input))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let (mailbox_id, token) = mailbox(&app).await;
    let (_, listed) = app
        .call(Method::GET, "/api/v1/mailboxes", ADMIN, None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("token_hash").is_none() && listed[0].get("imap_password").is_none());

    // No token, a wrong token: refused, nothing received.
    let raw = corpus("qq_gbk_attachments.eml");
    let response = app
        .client
        .post(app.url("/api/v1/mail/inbound"))
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = post_mail(&app, "mbx_wrong", &raw).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A GBK message with two encoded file names opens a ticket for a new
    // customer, with an acknowledgement in the customer's language.
    let (status, receipt) = post_mail(&app, &token, &raw).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["outcome"], "created", "{receipt}");
    let ticket_id = receipt["ticket_id"].as_i64().unwrap();
    let (_, ticket) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}"),
            AGENT,
            None,
        )
        .await;
    assert_eq!(ticket["subject"], "开具发票申请", "{ticket}");
    assert_eq!(ticket["channel"], "email");
    assert!(
        ticket["description"]
            .as_str()
            .unwrap()
            .contains("附件是发票和合同")
    );
    let customer_id = ticket["customer_id"].as_i64().unwrap();
    let (_, customer) = app
        .call(
            Method::GET,
            &format!("/api/v1/customers/{customer_id}"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(customer["name"], "王芳", "{customer}");
    let (_, files) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}/attachments"),
            AGENT,
            None,
        )
        .await;
    let names: Vec<&str> = files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["发票 2026.pdf", "合同.docx"]);
    let acknowledgements = {
        let mut reader = app.app.store.read().await.unwrap();
        kefu_store::outbox::to_address(&mut reader.conn(), "12345678@qq.com", 10)
            .await
            .unwrap()
    };
    assert_eq!(acknowledgements.len(), 1);
    assert!(
        acknowledgements[0]
            .subject
            .contains(&format!("#{ticket_id}"))
    );

    // The same message again (a retried pipe, a second mailbox): received once.
    let (_, again) = post_mail(&app, &token, &raw).await;
    assert_eq!(again["outcome"], "duplicate", "{again}");
    assert_eq!(again["ticket_id"], ticket_id);
    assert_eq!(again["mail_id"], receipt["mail_id"]);

    // The raw source is kept byte for byte.
    let mail_id = receipt["mail_id"].as_i64().unwrap();
    let source = app
        .as_user(
            Method::GET,
            &format!("/api/v1/mail/{mail_id}/source"),
            AGENT,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(source.status(), StatusCode::OK);
    assert_eq!(source.bytes().await.unwrap().to_vec(), raw);

    // A reply by In-Reply-To is added to the ticket as the customer's.
    let reply = message(
        "王芳 <12345678@qq.com>",
        "Re: 开具发票申请",
        "In-Reply-To: <tencent_ABCDEF0123456789@qq.com>\r\n",
        "抬头写错了，请改为星河网络。",
        "reply.1@qq.com",
    );
    let (_, r) = post_mail(&app, &token, &reply).await;
    assert_eq!(r["outcome"], "appended", "{r}");
    assert_eq!(r["ticket_id"], ticket_id);
    // A subject tag from a participant threads too; from a stranger it
    // opens a new ticket instead (nobody writes into others' tickets).
    let tagged = message(
        "12345678@qq.com",
        &format!("补充 [#{ticket_id}]"),
        "",
        "还有一张发票。",
        "tag.1@qq.com",
    );
    let (_, r) = post_mail(&app, &token, &tagged).await;
    assert_eq!(
        (r["outcome"].as_str(), r["ticket_id"].as_i64()),
        (Some("appended"), Some(ticket_id))
    );
    let stranger = message(
        "mallory@evil.example",
        &format!("hello [#{ticket_id}]"),
        "",
        "let me in",
        "stranger.1@evil.example",
    );
    let (_, r) = post_mail(&app, &token, &stranger).await;
    assert_eq!(r["outcome"], "created", "{r}");
    assert_ne!(r["ticket_id"], ticket_id);
    let (_, detail) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}"),
            AGENT,
            None,
        )
        .await;
    let text = detail.to_string();
    assert!(
        text.contains("抬头写错了") && text.contains("还有一张发票"),
        "{text}"
    );
    assert!(!text.contains("let me in"));

    // An out-of-office answer is noted on the ticket, never answered.
    let oof = message(
        "12345678@qq.com",
        "自动回复: 开具发票申请",
        "Auto-Submitted: auto-replied\r\nIn-Reply-To: <tencent_ABCDEF0123456789@qq.com>\r\n",
        "我正在休假。",
        "oof.1@qq.com",
    );
    let (_, r) = post_mail(&app, &token, &oof).await;
    assert_eq!(r["outcome"], "automatic", "{r}");
    // One of Kefu's own ids bounced: the failure is noted on its ticket.
    let bounce = String::from_utf8(corpus("dsn_bounce.eml"))
        .unwrap()
        .replace(
            "kefu.12.41.k3f9@kefu.example",
            &format!("kefu.{ticket_id}.1.abc@kefu.example"),
        );
    let (_, r) = post_mail(&app, &token, bounce.as_bytes()).await;
    assert_eq!(
        (r["outcome"].as_str(), r["ticket_id"].as_i64()),
        (Some("bounce"), Some(ticket_id)),
        "{r}"
    );
    let (_, detail) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}"),
            AGENT,
            None,
        )
        .await;
    let text = detail.to_string();
    assert!(
        text.contains("Delivery failed") && text.contains("nobody@example.cn"),
        "{text}"
    );
    assert!(text.contains("Automatic reply received"), "{text}");
    let acknowledgements = {
        let mut reader = app.app.store.read().await.unwrap();
        kefu_store::outbox::to_address(&mut reader.conn(), "12345678@qq.com", 10)
            .await
            .unwrap()
    };
    assert_eq!(
        acknowledgements.len(),
        1,
        "machines and replies get no acknowledgement"
    );

    // Spam flagged upstream lands in the spam folder, unanswered.
    let (_, r) = post_mail(&app, &token, &corpus("spam_flagged.eml")).await;
    assert_eq!(r["outcome"], "spam");
    let (_, spam) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{}", r["ticket_id"]),
            AGENT,
            None,
        )
        .await;
    assert_eq!(spam["status"], "spam");

    // A file over the limit is dropped, and the ticket says so.
    let big = vec![b'A'; 1_600_000];
    let encoded = {
        use base64::Engine;
        use std::fmt::Write;
        let mut out = String::new();
        for chunk in big.chunks(57) {
            let _ = writeln!(
                out,
                "{}",
                base64::engine::general_purpose::STANDARD.encode(chunk)
            );
        }
        out
    };
    let large = format!(
        "From: 12345678@qq.com\r\nTo: support@kefu.example\r\nSubject: 大附件\r\nMessage-ID: <big.1@qq.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n见附件\r\n--b\r\nContent-Type: application/octet-stream; name=\"scan.bin\"\r\n\
         Content-Disposition: attachment; filename=\"scan.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}--b--\r\n"
    );
    let (_, r) = post_mail(&app, &token, large.as_bytes()).await;
    assert_eq!(r["outcome"], "created", "{r}");
    let (_, big_ticket) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{}", r["ticket_id"]),
            AGENT,
            None,
        )
        .await;
    let text = big_ticket.to_string();
    assert!(
        text.contains("Attachments not kept") && text.contains("scan.bin"),
        "{text}"
    );

    // The ticket's mail, in order, with what became of each.
    let (_, mail) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}/mail"),
            AGENT,
            None,
        )
        .await;
    let outcomes: Vec<&str> = mail
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        vec!["created", "appended", "appended", "automatic", "bounce"]
    );
    assert!(
        mail[0]["cc_addresses"]
            .as_str()
            .unwrap()
            .contains("finance@example.cn")
    );

    // Unreadable mail is quarantined with the reason, never lost.
    let (_, r) = post_mail(&app, &token, b"this is not an email").await;
    assert_eq!(r["outcome"], "quarantined", "{r}");
    let (_, held) = app
        .call(Method::GET, "/api/v1/mail-quarantine", ADMIN, None)
        .await;
    assert_eq!(held.as_array().unwrap().len(), 1);
    let reason = held[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("not an email") || reason.contains("no sender"),
        "{reason}"
    );
    let held_id = held[0]["id"].as_i64().unwrap();
    let (status, _) = app
        .call(Method::GET, "/api/v1/mail-quarantine", AGENT, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, retried) = app
        .call(
            Method::POST,
            &format!("/api/v1/mail-quarantine/{held_id}/retry"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(retried["outcome"], "quarantined");
    let (_, held) = app
        .call(Method::GET, "/api/v1/mail-quarantine", ADMIN, None)
        .await;
    assert_eq!(
        held.as_array().unwrap().len(),
        1,
        "the retry replaced the entry"
    );

    // A switched-off mailbox refuses by name; a new token replaces the old.
    let (_, mb) = app
        .call(
            Method::GET,
            &format!("/api/v1/mailboxes/{mailbox_id}"),
            ADMIN,
            None,
        )
        .await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/mailboxes/{mailbox_id}"),
            ADMIN,
            Some(json!({"name": "客服邮箱", "address": "support@kefu.example", "active": false, "version": mb["version"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = post_mail(
        &app,
        &token,
        &message("a@b.example", "x", "", "x", "off.1@b.example"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["field"], "mailbox");
    let (_, renewed) = app
        .call(
            Method::POST,
            &format!("/api/v1/mailboxes/{mailbox_id}/token"),
            ADMIN,
            None,
        )
        .await;
    let (status, _) = post_mail(
        &app,
        &token,
        &message("a@b.example", "x", "", "x", "old.1@b.example"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_ne!(renewed["token"].as_str().unwrap(), token);

    // Every change is in the audit log.
    let (_, audit) = app
        .call(Method::GET, "/api/v1/audit?entity=mailbox", ADMIN, None)
        .await;
    assert!(audit.to_string().contains("mailbox"), "{audit}");
}

#[tokio::test]
async fn a_flooding_sender_is_held_back() {
    let app = spawn_demo_app().await;
    let (_, token) = mailbox(&app).await;
    let mut outcomes = Vec::new();
    for n in 0..31 {
        let raw = message(
            "loop@robot.example",
            &format!("Ticket {n}"),
            "",
            "again",
            &format!("flood.{n}@robot.example"),
        );
        let (_, r) = post_mail(&app, &token, &raw).await;
        outcomes.push(r["outcome"].as_str().unwrap().to_owned());
    }
    assert!(
        outcomes[..30].iter().all(|o| o == "created"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[30], "quarantined");
    let (_, held) = app
        .call(Method::GET, "/api/v1/mail-quarantine", ADMIN, None)
        .await;
    assert!(
        held[0]["reason"].as_str().unwrap().contains("too many"),
        "{held}"
    );
    assert_eq!(held[0]["from_address"], "loop@robot.example");
}

#[tokio::test]
async fn agents_read_mail_on_the_ticket_page_safely() {
    let app = spawn_demo_app().await;
    let (_, token) = mailbox(&app).await;
    let (_, r) = post_mail(&app, &token, &corpus("nested_related_inline.eml")).await;
    assert_eq!(r["outcome"], "created", "{r}");
    let ticket_id = r["ticket_id"].as_i64().unwrap();
    let mail_id = r["mail_id"].as_i64().unwrap();
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let page = agent.get(&format!("/tickets/{ticket_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("data-mail=\"{mail_id}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("/mail/{mail_id}/html")));
    assert!(page.body.contains("ana@example.com"));

    // The cleaned HTML: the inline picture points at its file; no script,
    // form or handler; remote pictures load only when asked.
    let html = agent.get(&format!("/mail/{mail_id}/html")).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(html.body.contains("src=\"/attachments/"), "{}", html.body);
    for bad in ["<script", "<form", "onclick"] {
        assert!(!html.body.contains(bad), "{bad}");
    }
    let policy = html.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("img-src 'self' data:;"), "{policy}");
    assert!(policy.contains("sandbox") && policy.contains("default-src 'none'"));
    let with_images = agent.get(&format!("/mail/{mail_id}/html?images=1")).await;
    let policy = with_images.headers["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("https:"), "{policy}");

    // A reply with history: the history is folded, not lost.
    let reply = String::from_utf8(corpus("outlook_gb2312_reply.eml"))
        .unwrap()
        .replace("[#12]", &format!("[#{ticket_id}]"))
        .replace("<kefu.12.", &format!("<kefu.{ticket_id}."));
    let (_, r) = post_mail(&app, &token, reply.as_bytes()).await;
    assert_eq!(
        (r["outcome"].as_str(), r["ticket_id"].as_i64()),
        (Some("appended"), Some(ticket_id)),
        "{r}"
    );
    let page = agent.get(&format!("/tickets/{ticket_id}")).await;
    assert!(
        page.body.contains("<details class=\"quoted\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("网络已经恢复正常"));

    // Settings → Email: admins add a mailbox and see its token once.
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let created = admin
        .post_from(
            "/settings/mail",
            "/settings/mail",
            &[
                ("name", "售后"),
                ("address", "after-sales@kefu.example"),
                ("ticket_type", "fault"),
                ("language", "zh-CN"),
                ("imap_port", "993"),
                ("imap_security", "tls"),
                ("imap_folder", "INBOX"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(
        created.body.contains("id=\"token-value\">mbx_"),
        "{}",
        created.body
    );
    let bad = admin
        .post_from(
            "/settings/mail",
            "/settings/mail",
            &[
                ("name", "x"),
                ("address", "nope"),
                ("imap_port", "993"),
                ("imap_security", "tls"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("data-field=\"address\""));
    let forbidden = agent.get("/settings/mail").await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
}

/// A server process a test started; stopped when dropped.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port on 127.0.0.1 nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `command` and waits until it listens on `port`.
async fn serve(mut command: std::process::Command, port: u16) -> Process {
    let process = Process(command.spawn().expect("the server starts"));
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return process;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{command:?} did not listen on {port}");
}

/// A real SMTP server (aiosmtpd, from PyPI) on 127.0.0.1 that keeps what
/// it receives in a Maildir; `None` when `KEFU_TEST_SMTP_PYTHON` (a
/// Python with aiosmtpd, which CI installs) is not set.
struct SmtpSink {
    _process: Process,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    async fn start() -> Option<SmtpSink> {
        let Ok(python) = std::env::var("KEFU_TEST_SMTP_PYTHON") else {
            eprintln!("KEFU_TEST_SMTP_PYTHON is not set: skipping the SMTP part");
            return None;
        };
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut command = std::process::Command::new(python);
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path());
        Some(SmtpSink {
            _process: serve(command, port).await,
            port,
            dir,
        })
    }

    /// The messages received so far, parsed back, oldest first.
    fn received(&self) -> Vec<(kefu_mail::Mail, String)> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path().join("new"))
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .into_iter()
            .map(|p| {
                let raw = std::fs::read(&p).unwrap();
                (
                    kefu_mail::parse(&raw).unwrap(),
                    String::from_utf8_lossy(&raw).into_owned(),
                )
            })
            .collect()
    }
}

/// Runs the job worker at `at` until nothing more is due.
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

#[tokio::test]
async fn replies_go_out_by_smtp_and_answers_come_back_to_the_ticket() {
    let Some(sink) = SmtpSink::start().await else {
        return;
    };
    let app = spawn_demo_app().await;
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/mailboxes",
            ADMIN,
            Some(json!({
                "name": "星河客服", "address": "support@kefu.example",
                "smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_security": "none"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_owned();

    // A request by mail: the acknowledgement goes out, threaded and
    // marked automatic so no auto-responder answers it.
    let (_, r) = post_mail(&app, &token, &corpus("qq_gbk_attachments.eml")).await;
    let ticket_id = r["ticket_id"].as_i64().unwrap();
    run_jobs(&app.app, chrono::Utc::now()).await;
    let got = sink.received();
    let queued = {
        let mut reader = app.app.store.read().await.unwrap();
        kefu_store::outbox::to_address(&mut reader.conn(), "12345678@qq.com", 10)
            .await
            .unwrap()
    };
    assert_eq!(got.len(), 1, "the outbox: {queued:?}");
    assert_eq!(queued[0].state, "sent");
    let (ack, raw) = &got[0];
    assert_eq!(ack.to[0].address, "12345678@qq.com");
    assert_eq!(ack.from.address, "support@kefu.example");
    assert!(
        ack.subject.contains(&format!("#{ticket_id}")),
        "{}",
        ack.subject
    );
    assert_eq!(ack.in_reply_to, vec!["tencent_ABCDEF0123456789@qq.com"]);
    assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
    assert!(ack.text.contains("已受理"), "{}", ack.text);

    // An agent's reply: to the sender, copying whom they copied, in the
    // thread, with the ticket's tag.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{ticket_id}/messages"),
            AGENT,
            Some(json!({"kind": "reply", "body": "王女士您好，发票已重新开具，请查收。"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // A note is never mailed.
    app.call(
        Method::POST,
        &format!("/api/v1/tickets/{ticket_id}/messages"),
        AGENT,
        Some(json!({"kind": "note", "body": "内部：已联系财务"})),
    )
    .await;
    run_jobs(&app.app, chrono::Utc::now()).await;
    let got = sink.received();
    assert_eq!(got.len(), 2, "{got:?}");
    let (reply, raw) = &got[1];
    assert_eq!(reply.subject, format!("Re: 开具发票申请 [#{ticket_id}]"));
    assert_eq!(reply.to[0].address, "12345678@qq.com");
    let cc: Vec<&str> = reply.cc.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(cc, vec!["finance@example.cn", "zhang.wei@example.cn"]);
    assert_eq!(reply.in_reply_to, vec!["tencent_ABCDEF0123456789@qq.com"]);
    assert!(
        reply
            .references
            .contains(&"tencent_ABCDEF0123456789@qq.com".to_owned())
    );
    assert!(reply.text.contains("发票已重新开具"));
    assert!(!raw.contains("已联系财务"));
    assert!(!raw.contains("Auto-Submitted"));
    let (_, mail) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}/mail"),
            AGENT,
            None,
        )
        .await;
    assert!(
        mail.as_array()
            .unwrap()
            .iter()
            .any(|m| m["direction"] == "out" && m["message_id"] == reply.message_id.as_str()),
        "{mail}"
    );

    assert!(
        reply.text.contains(&format!("工单号 #{ticket_id}")),
        "the footer: {}",
        reply.text
    );

    // The reply form offers those copies and the agent may change them.
    let agent = app.signed_in(AGENT, DEMO_PASSWORD).await;
    let page_path = format!("/tickets/{ticket_id}");
    let page = agent.get(&page_path).await;
    assert!(
        page.body
            .contains(r#"id="reply-cc" value="finance@example.cn, zhang.wei@example.cn""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("12345678@qq.com"));
    let (status, refused) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{ticket_id}/messages"),
            AGENT,
            Some(
                json!({"kind": "reply", "body": "请查收。", "cc": "finance@example.cn, 不是地址"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(kefu_testing::error_field(&refused), "cc");
    // With a file: it goes out with the reply.
    let file = reqwest::multipart::Part::bytes("发票号码 04403200".as_bytes().to_vec())
        .file_name("发票.txt")
        .mime_str("text/plain")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("kind", "reply")
        .text("body", "只抄送财务，发票见附件。")
        .text("cc", "Finance@Example.cn")
        .part("files", file);
    let sent = agent
        .post_multipart(&page_path, &format!("/tickets/{ticket_id}/messages"), form)
        .await;
    assert!(sent.status.is_redirection(), "{}", sent.body);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{ticket_id}/messages"),
            AGENT,
            Some(json!({"kind": "reply", "body": "不抄送任何人。", "cc": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    run_jobs(&app.app, chrono::Utc::now()).await;
    let got = sink.received();
    assert_eq!(got.len(), 4, "{got:?}");
    let with_file = got
        .iter()
        .map(|(mail, _)| mail)
        .find(|mail| mail.text.contains("发票见附件"))
        .unwrap_or_else(|| panic!("the reply with a file: {got:?}"));
    let chosen: Vec<&str> = with_file.cc.iter().map(|m| m.address.as_str()).collect();
    assert_eq!(chosen, vec!["finance@example.cn"], "{with_file:?}");
    let attached: Vec<(&str, &[u8])> = with_file
        .attachments
        .iter()
        .map(|a| (a.file_name.as_str(), a.bytes.as_slice()))
        .collect();
    assert_eq!(attached, vec![("发票.txt", "发票号码 04403200".as_bytes())]);
    let without = got
        .iter()
        .map(|(mail, _)| mail)
        .find(|mail| mail.text.contains("不抄送任何人"))
        .unwrap_or_else(|| panic!("the reply without copies: {got:?}"));
    assert!(without.cc.is_empty(), "{:?}", without.cc);

    // Resolving it tells the customer, with the resolution.
    let (_, t) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}"),
            AGENT,
            None,
        )
        .await;
    let (status, resolved) = app
        .call(
            Method::POST,
            &format!("/api/v1/tickets/{ticket_id}/status"),
            AGENT,
            Some(json!({"version": t["version"], "status": "resolved",
                "resolution_category": "solved", "resolution": "已重新开具发票并寄出。"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    run_jobs(&app.app, chrono::Utc::now()).await;
    let got = sink.received();
    assert_eq!(got.len(), 5, "{got:?}");
    let (notice, _) = &got[4];
    assert!(notice.subject.contains("处理完毕"), "{}", notice.subject);
    assert!(notice.text.contains("已重新开具发票并寄出"));

    // The customer answers our reply (without the tag): it threads by id.
    let answer = message(
        "王芳 <12345678@qq.com>",
        "Re: 开具发票申请",
        &format!(
            "In-Reply-To: <{}>\r\nReferences: <{}>\r\n",
            reply.message_id, reply.message_id
        ),
        "收到了，谢谢！",
        "answer.1@qq.com",
    );
    let (_, r) = post_mail(&app, &token, &answer).await;
    assert_eq!(
        (r["outcome"].as_str(), r["ticket_id"].as_i64()),
        (Some("appended"), Some(ticket_id)),
        "{r}"
    );

    // The server goes away: the reply is tried again with pauses, and
    // after the last try the failure shows on the ticket.
    drop(sink);
    app.call(
        Method::POST,
        &format!("/api/v1/tickets/{ticket_id}/messages"),
        AGENT,
        Some(json!({"kind": "reply", "body": "还有其他问题吗？"})),
    )
    .await;
    let mut at = chrono::Utc::now();
    for _ in 0..10 {
        run_jobs(&app.app, at).await;
        at += chrono::Duration::days(1);
    }
    let (_, detail) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{ticket_id}"),
            AGENT,
            None,
        )
        .await;
    assert!(
        detail
            .to_string()
            .contains("Sending failed to 12345678@qq.com"),
        "{detail}"
    );
}

/// A real IMAP server (Debian's Dovecot) on 127.0.0.1 with a throwaway
/// configuration and one user, `support@kefu.example` / `secret`; `None`
/// when `KEFU_TEST_DOVECOT` (the dovecot binary, which CI installs) is
/// not set.
struct Dovecot {
    _process: Process,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Dovecot {
    async fn start() -> Option<Dovecot> {
        let Ok(binary) = std::env::var("KEFU_TEST_DOVECOT") else {
            eprintln!("KEFU_TEST_DOVECOT is not set: skipping the IMAP part");
            return None;
        };
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        std::fs::write(
            dir.path().join("passwd"),
            "support@kefu.example:{PLAIN}secret\n",
        )
        .unwrap();
        let config = format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/state\n\
             instance_name = kefu-test-{port}\nlog_path = {d}/dovecot.log\nssl = no\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\nfirst_valid_uid = 100\n\
             default_internal_user = dovecot\ndefault_login_user = dovenull\n\
             mail_location = maildir:~/Maildir\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={d}/home/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n"
        );
        let conf = dir.path().join("dovecot.conf");
        std::fs::write(&conf, config).unwrap();
        let mut command = std::process::Command::new(binary);
        command.arg("-F").arg("-c").arg(&conf);
        Some(Dovecot {
            _process: serve(command, port).await,
            port,
            _dir: dir,
        })
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap();
        let mut session = client
            .login("support@kefu.example", "secret")
            .await
            .map_err(|(e, _)| e)
            .unwrap();
        session.select("INBOX").await.unwrap();
        session
    }

    /// Delivers messages into the inbox, unread.
    async fn deliver(&self, messages: &[Vec<u8>]) {
        let mut session = self.session().await;
        for raw in messages {
            session.append("INBOX", None, None, raw).await.unwrap();
        }
        session.logout().await.unwrap();
    }

    async fn unread(&self) -> Vec<u32> {
        let mut session = self.session().await;
        let mut uids: Vec<u32> = session
            .uid_search("UNSEEN")
            .await
            .unwrap()
            .into_iter()
            .collect();
        uids.sort_unstable();
        session.logout().await.unwrap();
        uids
    }

    async fn mark_unread(&self, uid: u32) {
        use futures_util::TryStreamExt;
        let mut session = self.session().await;
        let _: Vec<_> = session
            .uid_store(uid.to_string(), "-FLAGS (\\Seen)")
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        session.logout().await.unwrap();
    }
}

#[tokio::test]
async fn an_imap_mailbox_is_read_exactly_once() {
    let Some(imap) = Dovecot::start().await else {
        return;
    };
    let app = spawn_demo_app().await;
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/mailboxes",
            ADMIN,
            Some(json!({
                "name": "星河客服", "address": "support@kefu.example",
                "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_security": "none",
                "imap_user": "support@kefu.example", "imap_password": "secret"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["mailbox"]["id"].as_i64().unwrap();
    let (_, test) = app
        .call(
            Method::POST,
            &format!("/api/v1/mailboxes/{id}/test"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(test["imap"], "ok", "{test}");
    assert_eq!(test["smtp"], Value::Null);

    // Three messages and a second copy of the first arrive.
    let big5 = corpus("big5_qp.eml");
    imap.deliver(&[
        big5.clone(),
        corpus("iso2022jp.eml"),
        corpus("nested_related_inline.eml"),
        big5,
    ])
    .await;
    assert_eq!(imap.unread().await.len(), 4);
    let (status, report) = app
        .call(
            Method::POST,
            &format!("/api/v1/mailboxes/{id}/check"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["unread"], 4);
    let outcomes: Vec<&str> = report["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["created", "created", "created", "duplicate"]);
    assert!(
        imap.unread().await.is_empty(),
        "marked read after the commit"
    );
    let first = report["receipts"][0]["ticket_id"].as_i64().unwrap();
    let (_, ticket) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{first}"),
            AGENT,
            None,
        )
        .await;
    assert_eq!(ticket["subject"], "網路斷線", "{ticket}");

    // As if Kefu had died between its commit and the flag: the message
    // is unread again, known by its UID and only flagged, not fetched or
    // received twice.
    imap.mark_unread(1).await;
    let (_, report) = app
        .call(
            Method::POST,
            &format!("/api/v1/mailboxes/{id}/check"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(report["receipts"][0]["outcome"], "duplicate", "{report}");
    assert_eq!(report["receipts"][0]["reason"], "UID 1 was taken in before");
    assert!(imap.unread().await.is_empty());
    let (_, mail) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{first}/mail"),
            AGENT,
            None,
        )
        .await;
    let received = mail
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "in")
        .count();
    assert_eq!(received, 1, "{mail}");

    // IDLE: the server tells a waiting reader at once when mail arrives.
    let row = {
        let mut reader = app.app.store.read().await.unwrap();
        kefu_store::mail::mailbox(&mut reader.conn(), id)
            .await
            .unwrap()
    };
    let waiting = tokio::spawn(async move {
        kefu_app::imap::wait_for_mail(&row, std::time::Duration::from_secs(30)).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    imap.deliver(&[message(
        "idle@b.example",
        "IDLE 测试",
        "",
        "到了吗",
        "idle.1@b.example",
    )])
    .await;
    let woke = tokio::time::timeout(std::time::Duration::from_secs(20), waiting)
        .await
        .expect("IDLE answered before its limit")
        .unwrap();
    assert_eq!(woke, Ok(true));
    // The background reader takes it in by itself, and what comes next.
    let reader = kefu_app::imap::start(&app.app);
    imap.deliver(&[message(
        "idle@b.example",
        "第二封",
        "",
        "又一封",
        "idle.2@b.example",
    )])
    .await;
    let mut taken = false;
    for _ in 0..300 {
        if imap.unread().await.is_empty() {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    reader.abort();
    assert!(taken, "the background reader took the new mail in");
    let (_, found) = app
        .call(
            Method::GET,
            "/api/v1/tickets?view=all&q=%E7%AC%AC%E4%BA%8C%E5%B0%81",
            AGENT,
            None,
        )
        .await;
    assert!(found.to_string().contains("第二封"), "{found}");

    // A wrong password shows on the mailbox; nothing is lost.
    let (_, mb) = app
        .call(Method::GET, &format!("/api/v1/mailboxes/{id}"), ADMIN, None)
        .await;
    assert_eq!(mb["last_error"], "");
    assert!(mb["last_checked_at"].is_string());
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/mailboxes/{id}"),
            ADMIN,
            Some(json!({
                "name": "星河客服", "address": "support@kefu.example",
                "imap_host": "127.0.0.1", "imap_port": imap.port, "imap_security": "none",
                "imap_user": "support@kefu.example", "imap_password": "wrong", "version": mb["version"]
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    imap.deliver(&[message(
        "a@b.example",
        "later",
        "",
        "later",
        "later.1@b.example",
    )])
    .await;
    let (status, error) = app
        .call(
            Method::POST,
            &format!("/api/v1/mailboxes/{id}/check"),
            ADMIN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (_, mb) = app
        .call(Method::GET, &format!("/api/v1/mailboxes/{id}"), ADMIN, None)
        .await;
    assert!(
        mb["last_error"].as_str().unwrap().contains("refused"),
        "{mb}"
    );
    assert_eq!(imap.unread().await.len(), 1, "still waiting on the server");

    // The settings page shows the problem and tests the connection.
    let admin = app.signed_in(ADMIN, DEMO_PASSWORD).await;
    let page = admin.get("/settings/mail").await;
    assert!(page.body.contains("refused"), "{}", page.body);
    let tested = admin
        .post_from(
            &format!("/settings/mail/{id}"),
            &format!("/settings/mail/{id}/test"),
            &[],
        )
        .await;
    assert_eq!(tested.status, StatusCode::OK);
    assert!(
        tested.body.contains("data-result=\"failed\""),
        "{}",
        tested.body
    );
}
