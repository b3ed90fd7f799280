//! Crash safety: `kefu serve` is killed with SIGKILL at a random moment
//! while clients open tickets and reply at full speed; after a restart,
//! every request that got a success answer is there and whole, and
//! nothing half-written exists (a ticket without its search document or
//! audit record, a message without its audit record, a row nobody sent).
//!
//! Runs on SQLite, or on PostgreSQL with `KEFU_TEST_DATABASE_URL`.
//! `KEFU_CRASH_ROUNDS` sets how many kills one run makes (3 by default;
//! a long local run: `KEFU_CRASH_ROUNDS=50`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kefu_testing::{DEMO_PASSWORD, TestDatabase};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Server, client};

const ADMIN: &str = "admin@xinghe.example";
/// Clients writing at once.
const WRITERS: usize = 8;

fn rounds() -> usize {
    std::env::var("KEFU_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

/// A random number from the standard library's per-process seed.
fn random(salt: u64) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one((salt, Instant::now()))
}

/// A word of letters only, different for every `n`, so that a search for
/// it finds one ticket. Consonants other than s and y only: the stemmer
/// leaves such a word as it is, where `zqis` would become `zqi`.
fn marker(n: u64) -> String {
    const LETTERS: &[u8] = b"bcdfghjklmnpqrtvwxz";
    let mut word = String::from("zq");
    let mut rest = n;
    loop {
        word.push(char::from(LETTERS[(rest % LETTERS.len() as u64) as usize]));
        rest /= LETTERS.len() as u64;
        if rest == 0 {
            break;
        }
    }
    word
}

/// What the clients sent, and what the server confirmed.
#[derive(Default)]
struct Ledger {
    /// Every ticket asked for, by subject: its description.
    asked_tickets: HashMap<String, String>,
    /// Tickets the server answered 201 for: id → (subject, description, marker).
    tickets: BTreeMap<i64, (String, String, String)>,
    /// Every reply asked for, by body: the ticket it was for.
    asked_replies: HashMap<String, i64>,
    /// Replies the server answered 201 for: message id → (ticket, body).
    replies: BTreeMap<i64, (i64, String)>,
    /// Answers that were neither success nor a lost connection.
    unexpected: Vec<String>,
    next: u64,
}

impl Ledger {
    fn next_marker(&mut self) -> String {
        self.next += 1;
        marker(self.next)
    }
}

async fn issue_token(base: &str) -> String {
    let issued: Value = client()
        .post(format!("{base}/api/v1/api-tokens"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .json(&json!({"name": "crash test", "role": "admin", "expires_in_days": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    issued["token"].as_str().expect("a token").to_owned()
}

/// One client: opens tickets and replies on confirmed ones until the
/// server stops answering.
async fn write_until_gone(base: String, token: String, ledger: Arc<Mutex<Ledger>>, seed: u64) {
    let http = client();
    let mut step = seed;
    loop {
        step = step
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let reply_to = {
            let ledger = ledger.lock().unwrap();
            if step.is_multiple_of(3) && !ledger.tickets.is_empty() {
                let nth = (step >> 33) as usize % ledger.tickets.len();
                ledger.tickets.keys().nth(nth).copied()
            } else {
                None
            }
        };
        let sent = match reply_to {
            Some(ticket) => {
                let body = {
                    let mut ledger = ledger.lock().unwrap();
                    let body = format!("回复 {}：请重启光猫后再试。", ledger.next_marker());
                    ledger.asked_replies.insert(body.clone(), ticket);
                    body
                };
                let answer = http
                    .post(format!("{base}/api/v1/tickets/{ticket}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"kind": "reply", "body": body}))
                    .send()
                    .await;
                (answer, Some((ticket, body)), None)
            }
            None => {
                let (subject, description, word) = {
                    let mut ledger = ledger.lock().unwrap();
                    let word = ledger.next_marker();
                    let subject = format!("宽带断网 {word}");
                    let description = format!("光猫红灯，{word} 重启无效。");
                    ledger
                        .asked_tickets
                        .insert(subject.clone(), description.clone());
                    (subject, description, word)
                };
                let answer = http
                    .post(format!("{base}/api/v1/tickets"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "subject": subject,
                        "description": description,
                        "type": "fault",
                        "tags": ["崩溃测试"],
                    }))
                    .send()
                    .await;
                (answer, None, Some((subject, description, word)))
            }
        };
        let (answer, reply, ticket) = sent;
        let Ok(response) = answer else {
            // The server is gone: this request's fate is unknown, and
            // either outcome is allowed.
            return;
        };
        let status = response.status();
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let mut ledger = ledger.lock().unwrap();
        if status != StatusCode::CREATED {
            ledger.unexpected.push(format!("{status}: {body}"));
            return;
        }
        let id = body["id"].as_i64().expect("an id");
        match (reply, ticket) {
            (Some((ticket, text)), _) => {
                ledger.replies.insert(id, (ticket, text));
            }
            (_, Some(t)) => {
                ledger.tickets.insert(id, t);
            }
            _ => unreachable!(),
        }
    }
}

/// Checks through the API that every confirmed write is there and whole.
async fn check_confirmed(base: &str, token: &str, ledger: &Ledger) {
    let http = client();
    let mut replies_of: HashMap<i64, Vec<&str>> = HashMap::new();
    for (ticket, body) in ledger.replies.values() {
        replies_of.entry(*ticket).or_default().push(body);
    }
    for (id, (subject, description, _)) in &ledger.tickets {
        let response = http
            .get(format!("{base}/api/v1/tickets/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "ticket {id} was confirmed but is gone"
        );
        let detail: Value = response.json().await.unwrap();
        assert_eq!(detail["subject"], subject.as_str(), "ticket {id}");
        assert_eq!(detail["description"], description.as_str(), "ticket {id}");
        let bodies: Vec<&str> = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["entry"] == "message")
            .filter_map(|e| e["body"].as_str())
            .collect();
        for reply in replies_of.get(id).into_iter().flatten() {
            assert!(
                bodies.contains(reply),
                "the confirmed reply {reply:?} is missing from ticket {id}: {bodies:?}"
            );
        }
    }
    // The search index agrees with the data: a sample of confirmed
    // tickets found by their own word, and by nothing else's.
    let step = (ledger.tickets.len() / 40).max(1);
    for (id, (_, _, word)) in ledger.tickets.iter().step_by(step) {
        let found: Value = http
            .get(format!("{base}/api/v1/tickets?q={word}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<i64> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["id"].as_i64())
            .collect();
        assert_eq!(ids, [*id], "a search for {word}");
    }
}

/// Checks in the database that nothing half-written exists.
async fn check_nothing_half_written(db: &TestDatabase, ledger: &Ledger) {
    let url = db.url();
    let rows: Vec<(i64, String, String)>;
    let messages: Vec<(i64, i64, String)>;
    let mut orphans: Vec<String> = Vec::new();
    // Each check names what is missing; every query must return no rows.
    // (Replies are audited one by one; the messages a ticket is opened
    // with are covered by the ticket's own record.)
    let without_search = "SELECT t.id FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM fts_tickets f WHERE f.{} = t.id)";
    let without_audit = "SELECT t.id FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.entity = 'ticket' AND a.entity_id = t.id AND a.action = 'create')";
    let message_without_audit = "SELECT m.id FROM ticket_messages m WHERE m.body LIKE '回复 zq%' AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.entity = 'ticket_message' AND a.entity_id = m.id AND a.action = 'create')";
    let tickets_sql =
        "SELECT id, subject, description FROM tickets WHERE subject LIKE '宽带断网 zq%'";
    let messages_sql = "SELECT id, ticket_id, body FROM ticket_messages WHERE body LIKE '回复 zq%'";
    // The same checks on either driver's connection type.
    macro_rules! run_checks {
        ($conn:expr, $fts_key:expr) => {{
            for (what, sql) in [
                (
                    "a ticket without its search document",
                    without_search.replace("{}", $fts_key),
                ),
                (
                    "a ticket without its audit record",
                    without_audit.to_owned(),
                ),
                (
                    "a message without its audit record",
                    message_without_audit.to_owned(),
                ),
            ] {
                for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *$conn)
                    .await
                    .unwrap()
                {
                    orphans.push(format!("{what}: {}", row.get::<i64, _>(0)));
                }
            }
            rows = sqlx::query_as(tickets_sql)
                .fetch_all(&mut *$conn)
                .await
                .unwrap();
            messages = sqlx::query_as(messages_sql)
                .fetch_all(&mut *$conn)
                .await
                .unwrap();
        }};
    }
    if db.is_postgres() {
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        run_checks!(&mut conn, "ticket_id");
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(integrity, "ok", "SQLite's integrity check");
        let broken_keys = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(
            broken_keys.is_empty(),
            "{} rows break a foreign key",
            broken_keys.len()
        );
        run_checks!(&mut conn, "rowid");
    }
    orphans.truncate(20);
    assert!(orphans.is_empty(), "half-written records: {orphans:?}");
    // Every row is one a client sent, whole — confirmed or not.
    for (id, subject, description) in &rows {
        assert_eq!(
            ledger.asked_tickets.get(subject),
            Some(description),
            "ticket {id} ({subject}) is not one that was sent"
        );
    }
    for (id, ticket, body) in &messages {
        assert_eq!(
            ledger.asked_replies.get(body),
            Some(ticket),
            "message {id} ({body}) is not one that was sent to ticket {ticket}"
        );
    }
    assert!(rows.len() >= ledger.tickets.len());
    assert!(messages.len() >= ledger.replies.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_write_survives_sigkill_and_nothing_is_half_written() {
    let db = TestDatabase::new().await;
    let url = db.url();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let args = [
        "--database-url",
        url.as_str(),
        "--data-dir",
        data_dir.as_str(),
    ];
    let mut server = Server::start(&[&args[..], &["--demo"]].concat());
    let token = issue_token(&server.base).await;
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut killed_with_confirmed = Vec::new();
    for round in 0..rounds() {
        let confirmed_before = ledger.lock().unwrap().tickets.len();
        let writers: Vec<_> = (0..WRITERS)
            .map(|n| {
                tokio::spawn(write_until_gone(
                    server.base.clone(),
                    token.clone(),
                    ledger.clone(),
                    random(n as u64),
                ))
            })
            .collect();
        // Kill once the load is running, at a moment no one chose:
        // between 0.3 s and 1.5 s after the first write was confirmed.
        let started = Instant::now();
        while ledger.lock().unwrap().tickets.len() == confirmed_before {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no ticket was confirmed in a minute"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(300 + random(round as u64) % 1200)).await;
        let log = server.kill();
        for writer in writers {
            tokio::time::timeout(Duration::from_secs(60), writer)
                .await
                .expect("a client hung after the kill")
                .unwrap();
        }
        {
            let ledger = ledger.lock().unwrap();
            assert!(
                ledger.unexpected.is_empty(),
                "answers other than success: {:?}\n{log}",
                ledger.unexpected
            );
            killed_with_confirmed.push(ledger.tickets.len() - confirmed_before);
        }

        server = Server::start(&args);
        // The clients are done; the checks read the ledger without its lock.
        let sent = std::mem::take(&mut *ledger.lock().unwrap());
        check_nothing_half_written(&db, &sent).await;
        check_confirmed(&server.base, &token, &sent).await;
        *ledger.lock().unwrap() = sent;
    }
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    let ledger = ledger.lock().unwrap();
    eprintln!(
        "{} kills; tickets confirmed per round {killed_with_confirmed:?}; {} tickets and {} replies confirmed in all, {} and {} sent",
        rounds(),
        ledger.tickets.len(),
        ledger.replies.len(),
        ledger.asked_tickets.len(),
        ledger.asked_replies.len()
    );
}
