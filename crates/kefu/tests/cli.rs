//! The `kefu` binary as an operator meets it: start, stop, restart,
//! backups, and a clear sentence for every way start-up can go wrong.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kefu_testing::{DEMO_PASSWORD, TestDatabase};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use support::{Server, client, kefu, run, text};

const ADMIN: &str = "admin@xinghe.example";

#[test]
fn version_and_config_check() {
    let out = run(&["version"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).starts_with("kefu "),
        "{}",
        text(&out.stdout)
    );

    let out = run(&[
        "config",
        "check",
        "--database-url",
        "postgres://kefu:hunter2@db.internal/kefu",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        shown.contains("postgres://kefu:***@db.internal/kefu"),
        "{shown}"
    );
    assert!(shown.contains("listen = \"127.0.0.1:8080\""), "{shown}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kefu.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\n[database]\nmax_conections = 4\n",
    )
    .unwrap();
    let out = run(&["config", "check", "--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("max_conections"),
        "{}",
        text(&out.stderr)
    );

    let out = kefu()
        .args(["config", "check"])
        .env("KEFU_LISTEN_ADDR", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("KEFU_LISTEN_ADDR"),
        "{}",
        text(&out.stderr)
    );

    // Precedence: file < environment < flag.
    let out = kefu()
        .args([
            "config",
            "check",
            "--config",
            dir.path().join("none.toml").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nlog_level = \"warn\"\n").unwrap();
    let out = kefu()
        .args([
            "config",
            "check",
            "--config",
            file.to_str().unwrap(),
            "--log-level",
            "debug",
        ])
        .env("KEFU_LISTEN", "127.0.0.1:9100")
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(shown.contains("listen = \"127.0.0.1:9100\""), "{shown}");
    assert!(shown.contains("log_level = \"debug\""), "{shown}");
}

#[tokio::test]
async fn serve_stops_on_sigterm_and_finds_its_data_after_restart() {
    let db = TestDatabase::new().await;
    let url = db.url();
    let server = Server::start(&["--database-url", &url, "--demo"]);
    let ready = client().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let created: serde_json::Value = client()
        .post(server.url("/api/v1/teams"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .json(&serde_json::json!({"name": "重启测试组 Restart check"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().expect("team created");
    let (clean, log) = server.terminate();
    assert!(clean, "kefu did not exit cleanly on SIGTERM: {log}");
    assert!(log.contains("kefu stopped cleanly"), "{log}");

    let server = Server::start(&["--database-url", &url, "--log-format", "json"]);
    let team: serde_json::Value = client()
        .get(server.url(&format!("/api/v1/teams/{id}")))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(team["name"], "重启测试组 Restart check");
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
}

#[test]
fn a_port_in_use_fails_before_touching_the_data_dir() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&[
        "serve",
        "--listen",
        &address,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let message = text(&out.stderr);
    assert!(
        message.contains(&format!("cannot listen on {address}")),
        "{message}"
    );
    assert!(message.contains("--listen"), "{message}");
    assert!(
        !data.join("kefu.db").exists(),
        "the database was created anyway"
    );
}

#[test]
fn a_corrupt_database_is_reported_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kefu.db");
    let bytes = b"SQLite format 2 -- but really a spreadsheet someone saved here\n".repeat(100);
    std::fs::write(&db, &bytes).unwrap();
    for args in [vec!["migrate"], vec!["serve", "--listen", "127.0.0.1:0"]] {
        let out = kefu()
            .args(&args)
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let message = text(&out.stderr);
        assert!(
            message.contains("is not a readable Kefu database"),
            "{args:?}: {message}"
        );
        assert!(message.contains("kefu restore"), "{message}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            bytes,
            "{args:?} changed the file"
        );
    }
}

#[test]
fn a_data_dir_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("occupied");
    std::fs::write(&file, "a file, not a directory").unwrap();
    let out = run(&["migrate", "--data-dir", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let message = text(&out.stderr);
    assert!(message.contains(file.to_str().unwrap()), "{message}");
}

#[tokio::test]
async fn a_database_newer_than_the_binary_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(run(&["migrate", "--data-dir", data]).status.success());
    {
        use sqlx::{Connection, SqliteConnection};
        let mut conn = SqliteConnection::connect(&format!("sqlite://{}/kefu.db", data))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
             VALUES (99990101000000, 'future', CURRENT_TIMESTAMP, 1, x'00', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let before = std::fs::read(dir.path().join("kefu.db")).unwrap();
    let out = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", data]);
    assert!(!out.status.success());
    let message = text(&out.stderr);
    assert!(message.contains("newer than this kefu binary"), "{message}");
    assert!(message.contains("99990101000000"), "{message}");
    let _ = before;
}

#[test]
fn wrong_database_urls_are_explained() {
    let out = run(&["migrate", "--database-url", "mysql://root@localhost/kefu"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("postgres://"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "migrate",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/nothing",
    ]);
    assert!(!out.status.success());
    let message = text(&out.stderr);
    assert!(
        message.contains("cannot connect to PostgreSQL at 127.0.0.1:1/nothing"),
        "{message}"
    );
}

#[tokio::test]
async fn backups_run_online_and_restores_refuse_a_live_database() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let live_arg = live.to_str().unwrap();
    let backup = dir.path().join("backup.db");
    let backup_arg = backup.to_str().unwrap();
    let server = Server::start(&["--data-dir", live_arg, "--demo"]);
    let response = client()
        .post(server.url("/api/v1/teams"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .json(&serde_json::json!({"name": "备份前创建"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    let out = run(&["backup", "--to", backup_arg, "--data-dir", live_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("schema version"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["backup", "--to", backup_arg, "--data-dir", live_arg]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&[
        "restore",
        "--from",
        backup_arg,
        "--force",
        "--data-dir",
        live_arg,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("kefu is running"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", live_arg]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already serving"),
        "{}",
        text(&out.stderr)
    );
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");

    let restored = dir.path().join("restored");
    let restored_arg = restored.to_str().unwrap();
    let out = run(&["restore", "--from", backup_arg, "--data-dir", restored_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["restore", "--from", backup_arg, "--data-dir", restored_arg]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--force"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "restore",
        "--from",
        backup_arg,
        "--force",
        "--data-dir",
        restored_arg,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("kept as"),
        "{}",
        text(&out.stdout)
    );

    let not_a_backup = dir.path().join("notes.txt");
    std::fs::write(&not_a_backup, "hello").unwrap();
    let out = run(&[
        "restore",
        "--from",
        not_a_backup.to_str().unwrap(),
        "--force",
        "--data-dir",
        restored_arg,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a usable Kefu backup"),
        "{}",
        text(&out.stderr)
    );

    let server = Server::start(&["--data-dir", restored_arg]);
    let teams: serde_json::Value = client()
        .get(server.url("/api/v1/teams"))
        .basic_auth(ADMIN, Some(DEMO_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = teams["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"备份前创建"), "{names:?}");
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
}

fn demo_fingerprint(data_dir: &Path) -> String {
    let out = run(&[
        "backup",
        "--to",
        data_dir.join("x.db").to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = std::fs::remove_file(data_dir.join("x.db"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::{Connection, SqliteConnection};
        let mut conn =
            SqliteConnection::connect(&format!("sqlite://{}/kefu.db", data_dir.display()))
                .await
                .unwrap();
        let agents: Vec<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, email, display_name, role FROM agents ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let members: Vec<(i64, i64)> =
            sqlx::query_as("SELECT team_id, agent_id FROM team_members ORDER BY 1, 2")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let leads: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT name, lead_agent_id FROM teams ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        format!("{agents:?}{members:?}{leads:?}")
    })
}

#[test]
fn the_demo_is_reproducible_from_its_seed_and_only_fills_empty_databases() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    for (path, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        let out = run(&["demo", "--seed", seed, "--data-dir", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let shown = text(&out.stdout);
        assert!(shown.contains("admin@xinghe.example"), "{shown}");
        assert!(shown.contains(DEMO_PASSWORD), "{shown}");
    }
    assert_eq!(demo_fingerprint(&a), demo_fingerprint(&b));
    assert_ne!(demo_fingerprint(&a), demo_fingerprint(&c));
    let out = run(&["demo", "--data-dir", a.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already holds data"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_first_admin_and_a_token_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let mut child = kefu()
        .args([
            "agent",
            "create",
            "--email",
            "Boss@Example.com",
            "--name",
            "周总",
            "--role",
            "admin",
            "--password-stdin",
            "--data-dir",
            data,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a-long-password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("boss@example.com"),
        "{}",
        text(&out.stdout)
    );

    let out = run(&[
        "token",
        "create",
        "--agent",
        "boss@example.com",
        "--name",
        "CRM sync",
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_owned();
    assert!(token.starts_with("kefu_"), "{token}");
    let out = run(&[
        "token",
        "create",
        "--agent",
        "nobody@example.com",
        "--name",
        "x",
        "--data-dir",
        data,
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no agent with the email nobody@example.com"),
        "{}",
        text(&out.stderr)
    );

    let server = Server::start(&["--data-dir", data]);
    let me: serde_json::Value = client()
        .get(server.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
    let password_ok = client()
        .get(server.url("/api/v1/me"))
        .basic_auth("boss@example.com", Some("a-long-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(password_ok.status(), 200);
    let (clean, log) = server.terminate();
    assert!(clean, "{log}");
}
