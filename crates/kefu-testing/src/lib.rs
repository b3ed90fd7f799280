//! Test helpers: the real server on 127.0.0.1 over a real test database.
//!
//! `KEFU_TEST_DATABASE_URL` picks the backend. Unset, each test gets a
//! fresh SQLite file in a temporary directory. Set to a PostgreSQL URL,
//! each test gets its own fresh database created next to the one named
//! (and dropped afterwards), so tests run in parallel without seeing each
//! other's rows. If PostgreSQL was asked for and cannot be reached, the
//! test fails: it never silently falls back to SQLite.

pub mod schema;

use kefu_app::App;
use kefu_app::attachments::AttachmentSettings;
use kefu_store::{DatabaseLocation, Store, StoreOptions};
use sqlx::{Connection, Executor, PgConnection};
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// The environment variable naming the test database server.
pub const DATABASE_ENV: &str = "KEFU_TEST_DATABASE_URL";

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = kefu_app::demo::DEMO_PASSWORD;

/// The field an API error names (`error.field`), or empty.
pub fn error_field(body: &serde_json::Value) -> &str {
    body["error"]["field"].as_str().unwrap_or("")
}

/// A database for one test, removed when dropped.
pub struct TestDatabase {
    location: DatabaseLocation,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    /// A fresh, empty database on the backend the environment names.
    pub async fn new() -> TestDatabase {
        match std::env::var(DATABASE_ENV).ok().filter(|v| !v.is_empty()) {
            Some(url) => Self::postgres(&url).await,
            None => Self::sqlite(),
        }
    }

    /// A fresh SQLite database in a temporary directory, whatever the environment says.
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        TestDatabase {
            location: DatabaseLocation::SqliteFile(dir.path().join("kefu.db")),
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    async fn postgres(server_url: &str) -> TestDatabase {
        let suffix: u64 = rand::random();
        let base = server_url
            .rsplit('/')
            .next()
            .and_then(|db| db.split('?').next())
            .filter(|db| !db.is_empty())
            .unwrap_or("kefu_test");
        let name = format!("{base}_{:012x}", suffix & 0xffff_ffff_ffff);
        let mut admin = PgConnection::connect(server_url)
            .await
            .unwrap_or_else(|e| panic!("{DATABASE_ENV}={server_url} cannot be reached: {e}"));
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = admin.close().await;
        let url = replace_database(server_url, &name);
        TestDatabase {
            location: DatabaseLocation::Postgres(url),
            cleanup: Cleanup::Postgres {
                server_url: server_url.to_owned(),
                name,
            },
        }
    }

    /// Where the database is.
    pub fn location(&self) -> &DatabaseLocation {
        &self.location
    }

    /// The URL to give `kefu --database-url`.
    pub fn url(&self) -> String {
        match &self.location {
            DatabaseLocation::SqliteFile(path) => format!("sqlite://{}", path.display()),
            DatabaseLocation::Postgres(url) => url.clone(),
        }
    }

    /// Whether this is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        matches!(self.location, DatabaseLocation::Postgres(_))
    }

    /// Opens and migrates the database.
    pub async fn open(&self) -> Store {
        let store = Store::open(&self.location, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("cannot open the test database: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("cannot migrate the test database: {e}"));
        store
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let stem = match before_query.rsplit_once('/') {
        Some((stem, _))
            if stem.contains("://") && stem.len() > stem.find("://").map_or(0, |i| i + 2) =>
        {
            stem
        }
        _ => before_query,
    };
    match query {
        Some(q) => format!("{stem}/{name}?{q}"),
        None => format!("{stem}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { server_url, name } = &self.cleanup {
            let server_url = server_url.clone();
            let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            // Drop may run inside a runtime; a thread with its own runtime
            // can block on the cleanup either way.
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&server_url).await {
                        let _ = admin.execute(sqlx::AssertSqlSafe(statement)).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running Kefu server for one test.
pub struct TestApp {
    /// Where it listens.
    pub address: SocketAddr,
    /// An HTTP client.
    pub client: reqwest::Client,
    /// The application the server runs, for looking behind the API.
    pub app: App,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// Attached files (on SQLite) and upload spooling.
    pub files: tempfile::TempDir,
    /// Kept last so the database outlives the server.
    pub database: TestDatabase,
}

impl TestApp {
    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// A request builder signed in as a demo account (HTTP Basic).
    pub fn as_user(
        &self,
        method: reqwest::Method,
        path: &str,
        email: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth(email, Some(DEMO_PASSWORD))
    }

    /// Sends `method path` as a demo account (HTTP Basic) with an optional
    /// JSON body; returns the status and the JSON answer (`null` if none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        email: &str,
        input: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.as_user(method, path, email);
        if let Some(input) = input {
            request = request.json(&input);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        let status = response.status();
        let body = response
            .json::<serde_json::Value>()
            .await
            .unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// Moves a ticket's creation `minutes` into the past, as if it had
    /// waited that long (for SLA tests); its due times follow at its next change.
    pub async fn backdate_ticket(&self, id: i64, minutes: i64) {
        let at = kefu_store::now() - chrono::Duration::minutes(minutes);
        let sql = "UPDATE tickets SET created_at = $1 WHERE id = $2";
        if self.database.is_postgres() {
            let mut conn = PgConnection::connect(&self.database.url())
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            let done = sqlx::query(sql).bind(at).bind(id).execute(&mut conn).await;
            done.unwrap_or_else(|e| panic!("backdate: {e}"));
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.database.url())
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            let done = sqlx::query(sql).bind(at).bind(id).execute(&mut conn).await;
            done.unwrap_or_else(|e| panic!("backdate: {e}"));
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        stop_serving(&mut self.shutdown, &mut self.server, &self.app).await;
    }
}

/// A browser-like visitor: keeps cookies, does not follow redirects, and
/// adds the page's anti-forgery token to every form it posts.
pub struct Visitor {
    client: reqwest::Client,
    base: String,
    cookies: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
    headers: Vec<(String, String)>,
}

/// A page as a visitor received it.
#[derive(Debug)]
pub struct PageResponse {
    /// HTTP status.
    pub status: reqwest::StatusCode,
    /// Where a redirect points, if it is one.
    pub location: Option<String>,
    /// The body.
    pub body: String,
    /// The response's headers.
    pub headers: reqwest::header::HeaderMap,
}

impl PageResponse {
    /// The value of `<meta name="csrf-token">` in the page.
    pub fn csrf(&self) -> Option<String> {
        let marker = "name=\"csrf-token\" content=\"";
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }
}

impl Visitor {
    fn cookie_header(&self) -> String {
        let jar = self
            .cookies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        jar.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&self, response: &reqwest::Response) {
        let mut jar = self
            .cookies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let Some((name, rest)) = text
                .split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
            else {
                continue;
            };
            if text.contains("Max-Age=0") || rest.is_empty() {
                jar.remove(&name);
            } else {
                jar.insert(name, rest);
            }
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> PageResponse {
        let mut request = request.header(reqwest::header::COOKIE, self.cookie_header());
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        self.remember(&response);
        // An event stream never ends; its headers are the answer.
        let streaming = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        PageResponse {
            headers: response.headers().clone(),
            status: response.status(),
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: if streaming {
                String::new()
            } else {
                response.text().await.unwrap_or_default()
            },
        }
    }

    /// Sends every later request with this header too (e.g. Accept-Language).
    pub fn with_header(mut self, name: &str, value: &str) -> Visitor {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> PageResponse {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// Posts a form as-is (no token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> PageResponse {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .form(fields),
        )
        .await
    }

    /// Posts a form with the token of the page at `token_from` added.
    pub async fn post_from(
        &self,
        token_from: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> PageResponse {
        let page = self.get(token_from).await;
        let token = page.csrf().unwrap_or_default();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &token));
        self.send(self.client.post(format!("{}{path}", self.base)).form(&all))
            .await
    }

    /// Uploads a file as a browser's file form does, with the token of the
    /// page at `token_from` in the action URL.
    pub async fn post_file(
        &self,
        token_from: &str,
        path: &str,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> PageResponse {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        self.post_multipart(token_from, path, form).await
    }

    /// Posts a multipart form (fields and files) as a browser does, with
    /// the token of the page at `token_from` in the action URL.
    pub async fn post_multipart(
        &self,
        token_from: &str,
        path: &str,
        form: reqwest::multipart::Form,
    ) -> PageResponse {
        let page = self.get(token_from).await;
        let token = page.csrf().unwrap_or_default();
        self.send(
            self.client
                .post(format!("{}{path}?csrf={token}", self.base))
                .multipart(form),
        )
        .await
    }

    /// The same visitor (cookies and headers) talking to another server,
    /// e.g. a second instance behind a load balancer.
    pub fn at(&self, address: SocketAddr) -> Visitor {
        Visitor {
            client: self.client.clone(),
            base: format!("http://{address}"),
            cookies: std::sync::Mutex::new(
                self.cookies
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone(),
            ),
            headers: self.headers.clone(),
        }
    }

    /// Whether the visitor holds a session cookie.
    pub fn has_session(&self) -> bool {
        self.cookies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key("kefu_session")
    }
}

impl TestApp {
    /// A visitor with no cookies.
    pub fn visitor(&self) -> Visitor {
        Visitor {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|e| panic!("cannot build a client: {e}")),
            base: format!("http://{}", self.address),
            cookies: Default::default(),
            headers: Vec::new(),
        }
    }

    /// A visitor signed in through the sign-in form.
    pub async fn signed_in(&self, email: &str, password: &str) -> Visitor {
        let visitor = self.visitor();
        let response = visitor
            .post_from(
                "/login",
                "/login",
                &[("email", email), ("password", password), ("next", "/")],
            )
            .await;
        assert_eq!(
            response.status,
            reqwest::StatusCode::SEE_OTHER,
            "sign-in as {email} failed: {}",
            response.body
        );
        assert!(
            visitor.has_session(),
            "no session cookie after signing in as {email}"
        );
        visitor
    }
}

/// The attachment size limit of test servers, in MB.
pub const TEST_ATTACHMENT_MB: u64 = 1;

/// Starts the real server on 127.0.0.1 with an empty, migrated database.
pub async fn spawn_app() -> TestApp {
    spawn(false).await
}

/// Starts the real server with the demo data set loaded.
pub async fn spawn_demo_app() -> TestApp {
    spawn(true).await
}

async fn spawn(demo: bool) -> TestApp {
    let database = TestDatabase::new().await;
    let store = database.open().await;
    let files = tempfile::tempdir().unwrap_or_else(|e| panic!("no temporary directory: {e}"));
    // Each backend stores files the way its installations do by default.
    let attachments = if database.is_postgres() {
        AttachmentSettings::in_database(files.path().join("tmp"), TEST_ATTACHMENT_MB)
    } else {
        AttachmentSettings::on_disk(files.path().join("attachments"), TEST_ATTACHMENT_MB)
    };
    let app = App::start(store, attachments)
        .await
        .unwrap_or_else(|e| panic!("cannot start the app: {e}"));
    if demo {
        kefu_app::demo::load(&app, kefu_app::demo::DEFAULT_SEED)
            .await
            .unwrap_or_else(|e| panic!("cannot load the demo: {e}"));
    }
    let (address, shutdown, server) = serve_on_loopback(&app).await;
    TestApp {
        address,
        client: reqwest::Client::new(),
        app,
        shutdown: Some(shutdown),
        server: Some(server),
        files,
        database,
    }
}

/// Serves `app` on a fresh port of 127.0.0.1 until the sender is used.
async fn serve_on_loopback(
    app: &App,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"));
    let (shutdown, stopped) = oneshot::channel::<()>();
    let options = kefu_web::WebOptions {
        public_url: format!("http://{address}"),
    };
    let router = kefu_web::router(app.clone(), options);
    let events = app.events.clone();
    let server = tokio::spawn(async move {
        let _ = kefu_web::serve(listener, router, async move {
            let _ = stopped.await;
            events.close();
        })
        .await;
    });
    (address, shutdown, server)
}

/// A second Kefu server on the same database and files as a [`TestApp`]:
/// one more instance of an installation that runs several.
pub struct TestInstance {
    /// Where it listens.
    pub address: SocketAddr,
    /// The application this instance runs (its own pools and caches).
    pub app: App,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestInstance {
    /// Stops this instance gracefully and waits for it.
    pub async fn stop(mut self) {
        stop_serving(&mut self.shutdown, &mut self.server, &self.app).await;
    }
}

/// Tells a server started by [`serve_on_loopback`] to stop, waits for it,
/// and closes its app's connections.
async fn stop_serving(
    shutdown: &mut Option<oneshot::Sender<()>>,
    server: &mut Option<tokio::task::JoinHandle<()>>,
    app: &App,
) {
    if let Some(tx) = shutdown.take() {
        let _ = tx.send(());
    }
    if let Some(server) = server.take() {
        let _ = server.await;
    }
    app.store.close().await;
}

impl TestApp {
    /// Starts another instance on this one's database and files, with its
    /// own connection pools, as a second `kefu serve` would.
    pub async fn spawn_beside(&self) -> TestInstance {
        let store = Store::open(self.database.location(), &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("cannot open the database again: {e}"));
        let app = App::start(store, self.app.attachments.clone())
            .await
            .unwrap_or_else(|e| panic!("cannot start a second instance: {e}"));
        let (address, shutdown, server) = serve_on_loopback(&app).await;
        TestInstance {
            address,
            app,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/kefu_ci", "kefu_ci_1"),
            "postgres://postgres@127.0.0.1:5432/kefu_ci_1"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
