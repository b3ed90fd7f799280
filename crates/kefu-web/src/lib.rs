//! Kefu's HTTP surface.
//!
//! The JSON API under `/api/v1`, health and readiness probes, Prometheus
//! metrics. Handlers are thin: parse the request, authenticate the caller,
//! call one `kefu_app` use case, render the result. Every error goes through
//! [`error::ApiError`], the one place that picks status codes and bodies.

pub mod access;
pub mod api;
pub mod assets;
pub mod error;
pub mod extract;
mod health;
pub mod i18n;
pub mod metrics;
pub mod openapi;
pub mod ui;
pub mod upload;

use access::{Access, Route, RouteSpec};
use axum::Router;
use axum::http::Method;
use axum::routing::get;
use kefu_app::App;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

/// Shared state of every request.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The use cases and their store.
    pub app: Arc<App>,
    /// The address people reach Kefu at (links in mail, cookie security).
    pub public_url: String,
}

impl AppState {
    /// Whether cookies carry the Secure flag: when Kefu is served over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// How the web surface is reached.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// The address people use, e.g. `https://kefu.example.com`.
    pub public_url: String,
}

/// The whole HTTP application.
pub fn router(app: App, options: WebOptions) -> Router {
    let state = AppState {
        app: Arc::new(app),
        public_url: options.public_url.trim_end_matches('/').to_owned(),
    };
    let router = mount(Router::new(), "", top_routes(), &state);
    let router = mount(router, "", ui::routes(), &state);
    let router = mount(router, api::PREFIX, api::routes(), &state);
    router
        .fallback(error::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .route_layer(axum::middleware::from_fn(metrics::track))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(error::panic_response))
        .layer(axum::middleware::from_fn(
            error::answer_in_requested_language,
        ))
        .with_state(state)
}

/// Adds `routes` under `prefix`, each behind its access rule.
fn mount(
    router: Router<AppState>,
    prefix: &str,
    routes: Vec<Route>,
    state: &AppState,
) -> Router<AppState> {
    routes.into_iter().fold(router, |router, route| {
        let guarded = route
            .endpoint
            .route_layer(axum::middleware::from_fn_with_state(
                (state.clone(), route.access, route.page),
                access::enforce,
            ));
        router.route(&format!("{prefix}{}", route.path), guarded)
    })
}

/// Routes outside the API: the landing page and the probes.
fn top_routes() -> Vec<Route> {
    let route = |method: Method, path, summary, endpoint| Route {
        method,
        path,
        access: Access::Public,
        summary,
        endpoint,
        page: false,
        doc: Default::default(),
    };
    vec![
        route(
            Method::GET,
            "/static/{file}",
            "embedded stylesheet (content-hashed name)",
            get(assets::serve),
        ),
        route(
            Method::GET,
            "/healthz",
            "liveness probe",
            get(health::healthz),
        ),
        route(
            Method::GET,
            "/readyz",
            "readiness probe (database reachable, schema current)",
            get(health::readyz),
        ),
        route(
            Method::GET,
            "/api/openapi.json",
            "the OpenAPI 3.1 document of the API under /api/v1",
            get(openapi::serve),
        ),
        Route {
            access: Access::Requires(kefu_domain::Permission::ViewMetrics),
            ..route(
                Method::GET,
                "/metrics",
                "Prometheus metrics (no personal data); a scraper sends an analyst-role API token",
                get(metrics::render),
            )
        },
    ]
}

/// The descriptions of the routes outside the API.
pub(crate) fn public_routes() -> impl Iterator<Item = RouteSpec> {
    top_routes().into_iter().map(|r| RouteSpec {
        method: r.method,
        path: r.path.to_owned(),
        access: r.access,
        summary: r.summary,
        page: false,
    })
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting and waits for requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
