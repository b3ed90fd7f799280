//! Files on work orders over real HTTP, on SQLite (files on disk) or
//! PostgreSQL (files in the database): replies with files, call
//! recordings, the size limit, type sniffing and safe serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_testing::{TEST_ATTACHMENT_MB, TestApp, error_field, spawn_demo_app};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

const ADMIN: &str = "admin@xinghe.example";
const AGENT: &str = "agent@xinghe.example";
const ANALYST: &str = "analyst@xinghe.example";

/// The first bytes of a PNG picture.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
/// An MP3 with an ID3 header.
const MP3: &[u8] = b"ID3\x03\0\0\0\0\0\x0f\xff\xfb\x90\x64\0\0\0\0\0\0\0\0\0\0\0\0";

async fn open_ticket(app: &TestApp) -> i64 {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/tickets",
            AGENT,
            Some(json!({ "subject": "光猫红灯，附照片", "type": "fault" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

fn file(name: &str, bytes: &[u8], declared: &str) -> Part {
    Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str(declared)
        .unwrap()
}

async fn send_form(app: &TestApp, path: &str, user: &str, form: Form) -> (StatusCode, Value) {
    let response = app
        .as_user(Method::POST, path, user)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn fetch(app: &TestApp, id: i64, user: &str) -> reqwest::Response {
    app.as_user(Method::GET, &format!("/api/v1/attachments/{id}"), user)
        .send()
        .await
        .unwrap()
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn a_reply_carries_files_typed_by_content_and_served_safely() {
    let app = spawn_demo_app().await;
    let id = open_ticket(&app).await;
    let html = b"<html><body><script>alert(document.cookie)</script></body></html>";
    let form = Form::new()
        .text("kind", "reply")
        .text("body", "请看附件中的光猫照片。")
        .part("files", file("光猫.png", PNG, "application/octet-stream"))
        .part("files", file("../../发票.png", html, "image/png"));
    let (status, message) =
        send_form(&app, &format!("/api/v1/tickets/{id}/messages"), AGENT, form).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let files = message["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file_name"], "光猫.png");
    assert_eq!(
        files[0]["content_type"], "image/png",
        "sniffed, not declared"
    );
    assert_eq!(files[0]["size"], PNG.len());
    assert_eq!(files[1]["file_name"], "发票.png", "the path is dropped");
    assert_ne!(
        files[1]["content_type"], "image/png",
        "a page calling itself a picture is not one"
    );
    assert_eq!(files[0]["message_id"], message["id"]);

    // The picture is shown in place; the page is only ever a download.
    let picture = fetch(&app, files[0]["id"].as_i64().unwrap(), ANALYST).await;
    assert_eq!(picture.status(), StatusCode::OK);
    assert_eq!(header_of(&picture, header::CONTENT_TYPE), "image/png");
    assert!(header_of(&picture, header::CONTENT_DISPOSITION).starts_with("inline;"));
    assert_eq!(
        header_of(&picture, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
    let etag = header_of(&picture, header::ETAG).to_owned();
    assert_eq!(picture.bytes().await.unwrap().as_ref(), PNG);
    let page = fetch(&app, files[1]["id"].as_i64().unwrap(), AGENT).await;
    assert_eq!(
        header_of(&page, header::CONTENT_TYPE),
        "application/octet-stream"
    );
    let disposition = header_of(&page, header::CONTENT_DISPOSITION).to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E5%8F%91%E7%A5%A8.png"),
        "{disposition}"
    );
    assert!(header_of(&page, header::CONTENT_SECURITY_POLICY).contains("sandbox"));
    assert_eq!(page.bytes().await.unwrap().as_ref(), html);

    // An unchanged file is not sent again.
    let again = app
        .as_user(
            Method::GET,
            &format!("/api/v1/attachments/{}", files[0]["id"]),
            AGENT,
        )
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Players ask for parts (a recording is sought, not downloaded whole).
    let ranged = |range: &str, if_range: Option<&str>| {
        let mut request = app.as_user(
            Method::GET,
            &format!("/api/v1/attachments/{}", files[0]["id"]),
            AGENT,
        );
        request = request.header(header::RANGE, range);
        if let Some(tag) = if_range {
            request = request.header(header::IF_RANGE, tag);
        }
        request.send()
    };
    let total = PNG.len();
    let part = ranged("bytes=2-5", None).await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header_of(&part, header::CONTENT_RANGE),
        format!("bytes 2-5/{total}")
    );
    assert_eq!(header_of(&part, header::CONTENT_LENGTH), "4");
    assert_eq!(part.bytes().await.unwrap().as_ref(), &PNG[2..6]);
    let tail = ranged("bytes=-4", None).await.unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &PNG[total - 4..]);
    let beyond = ranged(&format!("bytes={total}-"), None).await.unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header_of(&beyond, header::CONTENT_RANGE),
        format!("bytes */{total}")
    );
    let changed = ranged("bytes=2-5", Some("\"another-version\""))
        .await
        .unwrap();
    assert_eq!(
        changed.status(),
        StatusCode::OK,
        "a stale If-Range gets it all"
    );
    assert_eq!(header_of(&changed, header::ACCEPT_RANGES), "bytes");
    assert_eq!(changed.bytes().await.unwrap().as_ref(), PNG);

    // The ticket lists them, on the message and all together.
    let (_, detail) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), AGENT, None)
        .await;
    assert_eq!(detail["attachments"].as_array().unwrap().len(), 2);
    let reply = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["entry"] == "message")
        .unwrap();
    assert_eq!(reply["attachments"].as_array().unwrap().len(), 2);
    let (_, listed) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{id}/attachments"),
            ANALYST,
            None,
        )
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Each file is in the audit log with its digest.
    let (_, audit) = app
        .call(
            Method::GET,
            &format!(
                "/api/v1/audit?entity=attachment&entity_id={}",
                files[0]["id"]
            ),
            ADMIN,
            None,
        )
        .await;
    let text = audit.to_string();
    assert!(
        text.contains(files[0]["sha256"].as_str().unwrap()),
        "{text}"
    );

    // Nobody signed out reads a file.
    let anonymous = app
        .client
        .get(app.url(&format!("/api/v1/attachments/{}", files[0]["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let missing = fetch(&app, 999_999, AGENT).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_file_over_the_limit_is_refused_with_413_and_nothing_is_saved() {
    let app = spawn_demo_app().await;
    let id = open_ticket(&app).await;
    let big = vec![b'x'; (TEST_ATTACHMENT_MB as usize) * 1024 * 1024 + 1];
    let form = Form::new()
        .text("body", "这条回复不应保存")
        .part("files", file("big.log", &big, "text/plain"));
    let (status, body) =
        send_form(&app, &format!("/api/v1/tickets/{id}/messages"), AGENT, form).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(error_field(&body), "files");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{TEST_ATTACHMENT_MB} MB")),
        "{body}"
    );
    let (_, detail) = app
        .call(Method::GET, &format!("/api/v1/tickets/{id}"), AGENT, None)
        .await;
    assert!(
        !detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["entry"] == "message"),
        "no message was half-saved: {detail}"
    );
    assert_eq!(detail["attachments"], json!([]));

    // A file exactly at the limit is fine.
    let exact = vec![b'y'; (TEST_ATTACHMENT_MB as usize) * 1024 * 1024];
    let form = Form::new().part("files", file("exact.log", &exact, "text/plain"));
    let (status, body) = send_form(
        &app,
        &format!("/api/v1/tickets/{id}/attachments"),
        AGENT,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body[0]["size"], exact.len());

    // An unused file input (what a browser sends: no name, no bytes) is no file.
    let form = Form::new()
        .text("body", "没有附件的回复")
        .part("files", Part::bytes(Vec::new()).file_name(""));
    let (status, body) =
        send_form(&app, &format!("/api/v1/tickets/{id}/messages"), AGENT, form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["attachments"], json!([]));

    // An empty file, or a reply with neither text nor files, is refused by name.
    let form = Form::new().part("files", file("empty.txt", b"", "text/plain"));
    let (status, body) = send_form(
        &app,
        &format!("/api/v1/tickets/{id}/attachments"),
        AGENT,
        form,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_field(&body), "files");
    let (status, body) = send_form(
        &app,
        &format!("/api/v1/tickets/{id}/messages"),
        AGENT,
        Form::new().text("body", " "),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_field(&body), "body");
}

#[tokio::test]
async fn a_call_recording_must_be_sound_and_is_kept_once_by_content() {
    let app = spawn_demo_app().await;
    let id = open_ticket(&app).await;
    let path = format!("/api/v1/tickets/{id}/attachments");
    let form = Form::new().part(
        "recording",
        file("合同.pdf", b"%PDF-1.7\n1 0 obj", "audio/mpeg"),
    );
    let (status, body) = send_form(&app, &path, AGENT, form).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(error_field(&body), "recording");

    let form = Form::new().part("recording", file("通话录音.mp3", MP3, "audio/mpeg"));
    let (status, first) = send_form(&app, &path, AGENT, form).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first[0]["purpose"], "recording");
    assert_eq!(first[0]["content_type"], "audio/mpeg");
    assert_eq!(first[0]["message_id"], Value::Null);
    let form = Form::new().part("files", file("copy.mp3", MP3, "audio/mpeg"));
    let (_, second) = send_form(&app, &path, AGENT, form).await;
    assert_eq!(second[0]["sha256"], first[0]["sha256"]);
    assert_ne!(second[0]["id"], first[0]["id"]);

    // Stored once: on disk by its digest (SQLite) or in the database (PostgreSQL).
    let caller = kefu_app::Caller::system("test");
    let (_, content) =
        kefu_app::attachments::open(&app.app, &caller, first[0]["id"].as_i64().unwrap())
            .await
            .unwrap();
    match content {
        kefu_app::attachments::Content::File(path) => {
            let digest = first[0]["sha256"].as_str().unwrap();
            assert!(path.ends_with(format!("{}/{}/{digest}", &digest[..2], &digest[2..4])));
            assert_eq!(std::fs::read(&path).unwrap(), MP3);
            assert!(!app.database.is_postgres());
        }
        kefu_app::attachments::Content::Bytes(bytes) => {
            assert_eq!(bytes, MP3);
            assert!(app.database.is_postgres());
        }
    }
    let sound = fetch(&app, first[0]["id"].as_i64().unwrap(), AGENT).await;
    assert_eq!(header_of(&sound, header::CONTENT_TYPE), "audio/mpeg");
    assert!(header_of(&sound, header::CONTENT_DISPOSITION).starts_with("inline;"));

    // Only roles that work tickets attach files.
    let form = Form::new().part("files", file("a.txt", b"hello", "text/plain"));
    let (status, _) = send_form(&app, &path, ANALYST, form).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn agents_attach_files_and_log_a_call_with_its_recording_in_the_pages() {
    let app = spawn_demo_app().await;
    let agent = app.signed_in(AGENT, kefu_testing::DEMO_PASSWORD).await;
    let (_, list) = app
        .call(Method::GET, "/api/v1/customers?limit=1", ADMIN, None)
        .await;
    let customer = list["items"][0]["id"].as_i64().unwrap();

    // Log a call with its recording from the new-ticket page.
    let new_page = format!("/tickets/new?customer_id={customer}&channel=phone");
    let form = Form::new()
        .text("subject", "来电：宽带断线投诉")
        .text("type", "complaint")
        .text("channel", "phone")
        .text("customer_id", customer.to_string())
        .text("call_direction", "inbound")
        .text("call_minutes", "3.5")
        .part("recording", file("来电录音.mp3", MP3, "audio/mpeg"));
    let created = agent.post_multipart(&new_page, "/tickets", form).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location.unwrap();
    let page = agent.get(&location).await;
    assert!(page.body.contains("来电录音.mp3"), "{}", page.body);
    assert!(
        page.body.contains("<audio controls"),
        "the recording plays in place"
    );
    let id: i64 = location
        .trim_start_matches("/tickets/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // Reply with a file from the ticket page.
    let ticket_page = format!("/tickets/{id}");
    let form = Form::new()
        .text("kind", "reply")
        .text("body", "已收到，请查看处理单。")
        .part(
            "files",
            file(
                "处理单.txt",
                "处理单：已派技术员上门".as_bytes(),
                "text/plain",
            ),
        );
    let sent = agent
        .post_multipart(&ticket_page, &format!("/tickets/{id}/messages"), form)
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let page = agent.get(&ticket_page).await;
    assert!(page.body.contains("📎 处理单.txt"), "{}", page.body);
    let (_, listed) = app
        .call(
            Method::GET,
            &format!("/api/v1/tickets/{id}/attachments"),
            AGENT,
            None,
        )
        .await;
    let note = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["file_name"] == "处理单.txt")
        .unwrap();
    let download = agent.get(&format!("/attachments/{}", note["id"])).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, "处理单：已派技术员上门");

    // Too large from the page: the form says so, in the agent's language.
    let big = vec![0u8; (TEST_ATTACHMENT_MB as usize) * 1024 * 1024 + 10];
    let form = Form::new().part("files", file("big.bin", &big, "application/octet-stream"));
    let refused = agent
        .post_multipart(&ticket_page, &format!("/tickets/{id}/attachments"), form)
        .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        refused.body.contains("data-field=\"files\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("超过大小上限"), "{}", refused.body);
}
