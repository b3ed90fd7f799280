//! The email channel's benchmark: raw messages posted to the inbound
//! endpoint by concurrent clients, as an MTA pipe or a mail provider's
//! webhook would, each answer checked.

use crate::{CheckAnswer, Latency, MakeRequest, measure};
use anyhow::Result;
use base64::Engine;
use kefu_app::{App, Caller};
use std::sync::Arc;

/// The raw message number `i`: every third one answers the message three
/// before it (a reply threading onto its ticket); every fourth carries a
/// small file; half are GBK, as Chinese clients send, half UTF-8 HTML.
pub fn message(i: usize) -> Vec<u8> {
    let sender = i % 1_000;
    let reply = i >= 3 && i.is_multiple_of(3);
    let mut headers = format!(
        "From: =?UTF-8?B?{}?= <customer{sender}@example.cn>\r\nTo: support@kefu.example\r\n\
         Message-ID: <bench.{i}@example.cn>\r\nDate: Wed, 2 Dec 2026 10:00:00 +0800\r\nMIME-Version: 1.0\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("客户{sender}"))
    );
    if reply {
        headers.push_str(&format!("In-Reply-To: <bench.{}@example.cn>\r\n", i - 3));
    }
    let subject = format!("宽带无法上网 broadband down {i}");
    let text = format!(
        "您好，我家的宽带从昨晚开始无法上网，光猫 LOS 灯红色闪烁，已经重启过两次。请尽快安排师傅上门。\n\
         Hello, my broadband has been down since last night; the LOS light is blinking red. Message {i}.\n"
    );
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let body = if i.is_multiple_of(2) {
        format!(
            "Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            base64::engine::general_purpose::STANDARD.encode(&gbk)
        )
    } else {
        format!(
            "Content-Type: text/html; charset=utf-8\r\n\r\n<div><p>{}</p><img src=\"https://tracker.example/{i}.gif\"></div>\r\n",
            text.replace('\n', "<br>")
        )
    };
    let mut raw = headers;
    raw.push_str(&format!(
        "Subject: =?UTF-8?B?{}?=\r\n",
        base64::engine::general_purpose::STANDARD.encode(&subject)
    ));
    if i % 4 == 1 {
        let file = vec![b'x'; 4_096];
        raw.push_str("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n");
        raw.push_str(&body);
        raw.push_str(&format!(
            "--b\r\nContent-Type: application/pdf; name=\"invoice-{i}.pdf\"\r\nContent-Disposition: attachment; \
             filename=\"invoice-{i}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            base64::engine::general_purpose::STANDARD.encode(&file)
        ));
    } else {
        raw.push_str(&body);
    }
    raw.into_bytes()
}

/// Posts `count` messages from `concurrency` clients; every answer must
/// be a new ticket, or for a reply an addition to its ticket.
pub async fn receive(
    app: &App,
    admin: &Caller,
    client: &reqwest::Client,
    base: &str,
    count: usize,
    concurrency: usize,
) -> Result<Latency> {
    let mailbox = kefu_app::mail::create_mailbox(
        app,
        admin,
        kefu_app::mail::MailboxInput {
            name: "bench".into(),
            address: "support@kefu.example".into(),
            ..Default::default()
        },
    )
    .await?;
    let token = mailbox.token;
    let url = format!("{base}/mail/inbound");
    let client = client.clone();
    let make = Arc::new(move |i: usize| {
        client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "message/rfc822")
            .body(message(i))
    }) as MakeRequest;
    // A reply's original may still be in flight from another client: it
    // then opens its own ticket, which is right for mail that arrives first.
    let check = Arc::new(|_: usize, body: &serde_json::Value| {
        matches!(body["outcome"].as_str(), Some("created" | "appended"))
    }) as CheckAnswer;
    measure(
        "email received (raw endpoint)",
        count,
        concurrency,
        make,
        check,
    )
    .await
}
