//! Store behaviour on a real database: migrations in lockstep, identical
//! schemas on both backends, transactions, optimistic locking, and the
//! append-only audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kefu_domain::audit::{Action, Actor, FieldChange, Source};
use kefu_store::teams::{self, TeamFields};
use kefu_store::{DatabaseLocation, Store, StoreError, StoreOptions, audit, migration_versions};
use kefu_testing::TestDatabase;
use std::collections::BTreeSet;

fn fields(name: &str) -> TeamFields {
    TeamFields {
        name: name.into(),
        description: String::new(),
        lead_agent_id: None,
    }
}

#[test]
fn both_backends_have_the_same_migration_ids() {
    let (sqlite, postgres) = migration_versions();
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres must hold the same version ids"
    );
}

/// Every table with its columns (name, nullability) and every named index
/// with its uniqueness and columns, read from the database itself. Tables
/// named `fts_*` are left out: they are each engine's own full-text index
/// (an FTS5 virtual table on SQLite, a tsvector table on PostgreSQL).
#[derive(Debug, PartialEq, Eq)]
struct Schema {
    columns: BTreeSet<(String, String, bool)>,
    indexes: BTreeSet<(String, String, bool, String)>,
}

async fn sqlite_schema(path: &std::path::Path) -> Schema {
    use sqlx::{Connection, SqliteConnection};
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' \
         AND name NOT LIKE 'fts\\_%' ESCAPE '\\'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut columns = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    for table in tables {
        let rows: Vec<(String, bool, bool)> =
            sqlx::query_as("SELECT name, \"notnull\", pk FROM pragma_table_info($1)")
                .bind(&table)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for (name, not_null, pk) in rows {
            columns.insert((table.clone(), name, !(not_null || pk)));
        }
        let index_rows: Vec<(String, bool)> =
            sqlx::query_as("SELECT name, \"unique\" FROM pragma_index_list($1) WHERE origin = 'c'")
                .bind(&table)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for (index, unique) in index_rows {
            let cols: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            indexes.insert((table.clone(), index, unique, cols.join(",")));
        }
    }
    Schema { columns, indexes }
}

async fn postgres_schema(url: &str) -> Schema {
    use sqlx::{Connection, PgConnection};
    let mut conn = PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' AND table_name NOT LIKE 'fts\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let columns = rows
        .into_iter()
        .map(|(t, c, nullable)| (t, c, nullable == "YES"))
        .collect();
    let index_rows: Vec<(String, String, bool, String)> = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text, ix.indisunique, \
                string_agg(a.attname::text, ',' ORDER BY k.ord) \
         FROM pg_index ix \
         JOIN pg_class i ON i.oid = ix.indexrelid \
         JOIN pg_class t ON t.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) \
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
         WHERE n.nspname = 'public' AND NOT ix.indisprimary AND t.relname <> '_sqlx_migrations' \
         AND t.relname NOT LIKE 'fts\\_%' \
         GROUP BY t.relname, i.relname, ix.indisunique",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    Schema {
        columns,
        indexes: index_rows.into_iter().collect(),
    }
}

/// Runs where `KEFU_TEST_DATABASE_URL` names PostgreSQL (CI's second pass):
/// migrates a SQLite file and the PostgreSQL database and compares them.
#[tokio::test]
async fn both_backends_build_the_same_schema() {
    let postgres = TestDatabase::new().await;
    let DatabaseLocation::Postgres(url) = postgres.location().clone() else {
        eprintln!(
            "KEFU_TEST_DATABASE_URL names no PostgreSQL server; the comparison runs in the PostgreSQL pass"
        );
        return;
    };
    postgres.open().await.close().await;
    let sqlite = TestDatabase::sqlite();
    sqlite.open().await.close().await;
    let DatabaseLocation::SqliteFile(path) = sqlite.location() else {
        unreachable!("TestDatabase::sqlite is SQLite");
    };
    let lite = sqlite_schema(path).await;
    let pg = postgres_schema(&url).await;
    assert!(lite.columns.len() > 20, "{lite:?}");
    let only_sqlite: Vec<_> = lite.columns.difference(&pg.columns).collect();
    let only_pg: Vec<_> = pg.columns.difference(&lite.columns).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "columns differ\nonly in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_pg:?}"
    );
    let only_sqlite: Vec<_> = lite.indexes.difference(&pg.indexes).collect();
    let only_pg: Vec<_> = pg.indexes.difference(&lite.indexes).collect();
    assert!(
        only_sqlite.is_empty() && only_pg.is_empty(),
        "indexes differ\nonly in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_pg:?}"
    );
}

#[tokio::test]
async fn migrating_twice_changes_nothing_and_reports_current() {
    let db = TestDatabase::new().await;
    let store = db.open().await;
    let first = store.schema_status().await.unwrap();
    assert!(first.is_current());
    let again = store.migrate().await.unwrap();
    assert_eq!(first, again);
    store.close().await;
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused_untouched() {
    let db = TestDatabase::new().await;
    let store = db.open().await;
    let mut tx = store.write().await.unwrap();
    kefu_store::on_conn!(&mut tx.conn(), |c| {
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
             VALUES (99990101000000, 'from the future', CURRENT_TIMESTAMP, TRUE, $1, 0)",
        )
        .bind(vec![0u8; 48])
        .execute(c)
        .await
        .unwrap();
    });
    tx.commit().await.unwrap();
    match store.migrate().await {
        Err(StoreError::SchemaTooNew { database, binary }) => {
            assert_eq!(database, 99990101000000);
            assert!(binary < database);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let status = store.schema_status().await.unwrap();
    assert_eq!(status.applied, Some(99990101000000));
    store.close().await;
}

#[tokio::test]
async fn a_dropped_transaction_leaves_nothing_behind() {
    let db = TestDatabase::new().await;
    let store = db.open().await;
    {
        let mut tx = store.write().await.unwrap();
        let team = teams::insert(&mut tx.conn(), &fields("半途而废"))
            .await
            .unwrap();
        audit::append(
            &mut tx.conn(),
            &audit::Entry {
                actor: &Actor::System("test".into()),
                source: Source::System,
                entity: "team",
                entity_id: team.id,
                action: Action::Create,
                changes: vec![],
            },
        )
        .await
        .unwrap();
        // dropped without commit
    }
    let mut reader = store.read().await.unwrap();
    assert!(
        teams::list(&mut reader.conn(), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        audit::for_record(&mut reader.conn(), "team", 1)
            .await
            .unwrap()
            .is_empty()
    );
    drop(reader);
    store.close().await;
}

#[tokio::test]
async fn a_savepoint_undoes_one_piece_and_keeps_the_rest() {
    let db = TestDatabase::new().await;
    let store = db.open().await;
    let mut tx = store.write().await.unwrap();
    tx.savepoint().await.unwrap();
    teams::insert(&mut tx.conn(), &fields("第一组"))
        .await
        .unwrap();
    tx.keep_savepoint().await.unwrap();
    tx.savepoint().await.unwrap();
    teams::insert(&mut tx.conn(), &fields("撤销的组"))
        .await
        .unwrap();
    // A failing statement inside the piece (on PostgreSQL it would poison
    // the whole transaction without the savepoint).
    assert!(
        teams::insert(&mut tx.conn(), &fields("撤销的组"))
            .await
            .is_err()
    );
    tx.undo_to_savepoint().await.unwrap();
    tx.savepoint().await.unwrap();
    teams::insert(&mut tx.conn(), &fields("第三组"))
        .await
        .unwrap();
    tx.keep_savepoint().await.unwrap();
    tx.commit().await.unwrap();
    let mut reader = store.read().await.unwrap();
    let mut names: Vec<String> = teams::list(&mut reader.conn(), 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    assert_eq!(names, ["第一组", "第三组"]);
    drop(reader);
    store.close().await;
}

async fn stamp(store: &Store) -> i64 {
    let mut tx = store.write().await.unwrap();
    tx.config_stamp().await.unwrap()
}

#[tokio::test]
async fn the_configuration_stamp_follows_every_change_and_never_repeats() {
    use kefu_store::automations::{self, AutomationFields};
    use kefu_store::webhooks::{self, WebhookFields};
    let db = TestDatabase::new().await;
    let store = db.open().await;
    let start = stamp(&store).await;
    let mut tx = store.write().await.unwrap();
    let hook = WebhookFields {
        name: "crm".into(),
        url: "http://127.0.0.1:9/hook".into(),
        events: "ticket.created".into(),
        active: true,
    };
    webhooks::insert(&mut tx.conn(), &hook, "secret")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let after_webhook = stamp(&store).await;
    assert_ne!(start, after_webhook);

    // A change rolled back leaves the stamp as it was, and its stamp is
    // never handed out again.
    let rule = AutomationFields {
        name: "VIP".into(),
        position: 1,
        active: true,
        event: "ticket_created".into(),
        conditions: "[]".into(),
        actions: "[]".into(),
    };
    let rolled_back = {
        let mut tx = store.write().await.unwrap();
        automations::insert(&mut tx.conn(), &rule).await.unwrap();
        let inside = tx.config_stamp().await.unwrap();
        assert_ne!(
            inside, after_webhook,
            "the change is seen inside its transaction"
        );
        inside
    };
    assert_eq!(stamp(&store).await, after_webhook);
    let mut tx = store.write().await.unwrap();
    let stored = automations::insert(&mut tx.conn(), &rule).await.unwrap();
    tx.commit().await.unwrap();
    let after_rule = stamp(&store).await;
    assert_ne!(after_rule, after_webhook);
    assert_ne!(after_rule, rolled_back);

    // Counting a rule's firings is not a change of configuration.
    let mut tx = store.write().await.unwrap();
    automations::fired(&mut tx.conn(), stored.id, kefu_store::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stamp(&store).await, after_rule);

    // A value kept under a stamp is found under that stamp only.
    let tx = store.write().await.unwrap();
    tx.keep(after_rule, std::sync::Arc::new(String::from("kept")));
    assert_eq!(
        tx.cached::<String>(after_rule)
            .as_deref()
            .map(String::as_str),
        Some("kept")
    );
    assert!(tx.cached::<String>(after_webhook).is_none());
    assert!(tx.cached::<i64>(after_rule).is_none(), "kept by type");
    drop(tx);
    store.close().await;
}

#[tokio::test]
async fn stale_versions_conflict_and_duplicates_name_the_field() {
    let db = TestDatabase::new().await;
    let store = db.open().await;
    let mut tx = store.write().await.unwrap();
    let team = teams::insert(&mut tx.conn(), &fields("一线"))
        .await
        .unwrap();
    let updated = teams::update(&mut tx.conn(), team.id, 1, &fields("一线客服"))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    match teams::update(&mut tx.conn(), team.id, 1, &fields("旧名")).await {
        Err(StoreError::Conflict { current_version }) => assert_eq!(current_version, 2),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        teams::update(&mut tx.conn(), 999, 1, &fields("无")).await,
        Err(StoreError::NotFound)
    ));
    tx.commit().await.unwrap();

    let mut tx = store.write().await.unwrap();
    match teams::insert(&mut tx.conn(), &fields("一线客服")).await {
        Err(StoreError::Duplicate { field }) => assert_eq!(field, "name"),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    drop(tx);
    store.close().await;
}

#[tokio::test]
async fn the_audit_log_is_append_only() {
    let db = TestDatabase::new().await;
    let store = db.open().await;
    let mut tx = store.write().await.unwrap();
    audit::append(
        &mut tx.conn(),
        &audit::Entry {
            actor: &Actor::Agent(7),
            source: Source::Api,
            entity: "team",
            entity_id: 1,
            action: Action::Update,
            changes: vec![FieldChange {
                field: "name".into(),
                old: "旧".into(),
                new: "新".into(),
            }],
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    for statement in [
        "UPDATE audit_log SET actor_ref = '8'",
        "DELETE FROM audit_log",
    ] {
        let mut tx = store.write().await.unwrap();
        let result = kefu_store::on_conn!(&mut tx.conn(), |c| sqlx::query(statement)
            .execute(c)
            .await
            .map(|_| ()));
        let message = result.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("append-only"),
            "{statement} was allowed: {message}"
        );
    }
    let mut reader = store.read().await.unwrap();
    let records = audit::for_record(&mut reader.conn(), "team", 1)
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].actor_ref, "7");
    assert_eq!(records[0].changes[0].new, "新");
    drop(reader);
    store.close().await;
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys() {
    let db = TestDatabase::sqlite();
    let store = db.open().await;
    let mut reader = store.read().await.unwrap();
    let (journal, synchronous, foreign_keys): (String, i64, i64) =
        kefu_store::on_conn!(&mut reader.conn(), |c| {
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            (journal, sync, fk)
        });
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "synchronous must be FULL (2)");
    assert_eq!(foreign_keys, 1);
    drop(reader);
    store.close().await;
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kefu.db");
    let garbage = b"this is not a database, but somebody's precious notes\n".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    let result = Store::open(
        &DatabaseLocation::SqliteFile(path.clone()),
        &StoreOptions::default(),
    )
    .await;
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("not a readable Kefu database"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file was changed"
    );
}

fn customer(name: &str) -> kefu_store::customers::CustomerFields {
    use kefu_domain::customer::{CompanySize, Gender, Grade};
    kefu_store::customers::CustomerFields {
        name: name.into(),
        gender: Gender::Unknown,
        birthday: None,
        language: "zh-CN".into(),
        time_zone: "Asia/Shanghai".into(),
        organization_id: None,
        province: String::new(),
        city: String::new(),
        district: String::new(),
        street: String::new(),
        region: String::new(),
        industry: String::new(),
        company_size: CompanySize::Unknown,
        grade: Grade::C,
        notes: String::new(),
        external_id: None,
    }
}

async fn name_keys(store: &Store) -> Vec<(String, String)> {
    let mut reader = store.read().await.unwrap();
    kefu_store::on_conn!(&mut reader.conn(), |c| {
        sqlx::query_as("SELECT sort_key, name_sound FROM customers ORDER BY id")
            .fetch_all(c)
            .await
            .unwrap()
    })
}

#[tokio::test]
async fn customers_stored_before_the_pinyin_keys_get_them_when_migrating() {
    let db = TestDatabase::new().await;
    let store = db.open().await;
    let mut tx = store.write().await.unwrap();
    kefu_store::customers::insert(&mut tx.conn(), &customer("曾小贤"))
        .await
        .unwrap();
    kefu_store::customers::insert_many(&mut tx.conn(), &[customer("Alice"), customer("汪芳")])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let written = name_keys(&store).await;
    assert_eq!(written[0].1, "zengxiaoxian");
    assert_eq!(written[2].1, "wangfang");

    // As a binary from before the keys would have left them.
    let mut tx = store.write().await.unwrap();
    kefu_store::on_conn!(&mut tx.conn(), |c| {
        sqlx::query("UPDATE customers SET sort_key = '', name_sound = ''")
            .execute(c)
            .await
            .unwrap();
    });
    tx.commit().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(name_keys(&store).await, written);
    store.close().await;
}
