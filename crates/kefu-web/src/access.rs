//! Who may call which route: one table, enforced in one place.
//!
//! Every API route is declared with its [`Access`] rule next to its handler
//! (see [`crate::api::routes`]); a route cannot be registered without one.
//! The rule is enforced by middleware before the handler's extractors run,
//! and the same table renders `docs/permissions.md` and drives the
//! exhaustive role × route test, so the three cannot drift apart. Use cases
//! check their permission again, so a handler reused elsewhere stays safe.

use crate::AppState;
use crate::error::ApiError;
use crate::i18n::Locale;
use crate::ui::{self, PageContext, SignedIn, cookies};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;
use base64::Engine;
use kefu_app::{AppError, Caller, auth, signin};
use kefu_domain::audit::Source;
use kefu_domain::{Permission, Role};
use std::fmt::Write;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Anyone, from any site: a form embedded in other sites' pages. No
    /// session or anti-forgery cookie is used (a third-party frame has
    /// none); the handler checks its own signed form token.
    PublicForm,
    /// Any signed-in caller, whatever the role.
    SignedIn,
    /// Callers whose role grants this permission.
    Requires(Permission),
    /// Callers whose role grants at least one of these (section indexes).
    AnyOf(&'static [Permission]),
    /// A customer signed in to the portal (no agent role is admitted).
    Customer,
    /// A mailbox's own token as the bearer token (mail servers and mail
    /// providers posting raw messages); no account is admitted.
    MailboxToken,
}

impl Access {
    /// Whether anyone may call it, signed in or not.
    pub fn is_public(self) -> bool {
        matches!(self, Access::Public | Access::PublicForm)
    }

    /// Whether a caller with `role` passes.
    pub fn admits(self, role: Role) -> bool {
        match self {
            Access::Public | Access::PublicForm | Access::SignedIn => true,
            Access::Requires(permission) => role.allows(permission),
            Access::AnyOf(permissions) => permissions.iter().any(|p| role.allows(*p)),
            Access::Customer | Access::MailboxToken => false,
        }
    }
}

/// One route: method, path, rule, a line of description, and its handler.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path as axum writes it (`/teams/{id}`), relative to the router's prefix.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What it does, for the permissions document.
    pub summary: &'static str,
    /// The handler.
    pub endpoint: MethodRouter<AppState>,
    /// A page of the web UI (session cookie, HTML answers) rather than an
    /// API route (tokens, JSON answers).
    pub page: bool,
    /// What an API route reads and answers, for the OpenAPI document.
    pub doc: crate::openapi::ApiDoc,
}

/// A route's description without its handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Full path (`/api/v1/teams/{id}`).
    pub path: String,
    /// Who may call it.
    pub access: Access,
    /// What it does.
    pub summary: &'static str,
    /// A web page rather than an API route.
    pub page: bool,
}

/// Authenticates the request and applies the route's rule; on success the
/// [`Caller`] is left in the request extensions for the handler.
pub async fn enforce(
    State((state, access, page)): State<(AppState, Access, bool)>,
    mut request: Request,
    next: Next,
) -> Response {
    if page {
        return enforce_page(state, access, request, next).await;
    }
    if access.is_public() || access == Access::MailboxToken {
        // The handler checks the mailbox's token itself.
        return next.run(request).await;
    }
    let headers = request.headers().clone();
    let caller = match authenticate(&state, &headers).await {
        Ok(caller) => caller,
        Err(error) => return ApiError::from(error).into_response(),
    };
    if !access.admits(caller.role) {
        return ApiError::from(AppError::Forbidden).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The page side of [`enforce`]: session cookie, language, forms' token.
async fn enforce_page(state: AppState, access: Access, request: Request, next: Next) -> Response {
    if access == Access::PublicForm {
        // Served inside other sites' frames: no cookies, no same-origin rule.
        let mut response = next.run(request).await;
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static("frame-ancestors *"),
        );
        return response;
    }
    let mut response = if access == Access::Customer {
        enforce_portal(state, request, next).await
    } else {
        enforce_signed_page(state, access, request, next).await
    };
    // Kefu's own pages are never framed by another site (clickjacking).
    response
        .headers_mut()
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(header::HeaderValue::from_static("SAMEORIGIN"));
    response
}

async fn enforce_signed_page(
    state: AppState,
    access: Access,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers().clone();
    let signed_in =
        match cookies::get(&headers, cookies::SESSION) {
            Some(token) => signin::session_caller(&state.app, &token).await.ok().map(
                |(caller, session, agent)| {
                    let signed = SignedIn {
                        caller,
                        agent,
                        session_id: session.id,
                    };
                    (signed, session.csrf_token)
                },
            ),
            None => None,
        };
    let locale = signed_in
        .as_ref()
        .and_then(|(s, _)| Locale::from_code(&s.agent.language))
        .or_else(|| cookies::get(&headers, cookies::LANGUAGE).and_then(|c| Locale::from_code(&c)))
        .or_else(|| Locale::from_headers(&headers))
        .unwrap_or(Locale::ZhCn);
    let (csrf, fresh_anonymous_token) = match signed_in.as_ref().map(|(_, csrf)| csrf.clone()) {
        Some(token) => (token, false),
        None => match cookies::get(&headers, cookies::ANONYMOUS_CSRF) {
            Some(token) => (token, false),
            None => (
                (0..24).map(|_| format!("{:02x}", rand_byte())).collect(),
                true,
            ),
        },
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let context = PageContext {
        locale,
        csrf,
        path: path.clone(),
        signed_in: signed_in.map(|(s, _)| s),
    };

    if access != Access::Public {
        let Some(signed) = &context.signed_in else {
            let target = format!(
                "/login?next={}",
                url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
            );
            return Redirect::to(&target).into_response();
        };
        if !access.admits(signed.agent.role) {
            return ui::message(&context, StatusCode::FORBIDDEN, "forbidden");
        }
    }

    let mut request = match checked_form(&state, request, &context).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };

    let anonymous_token = fresh_anonymous_token.then(|| context.csrf.clone());
    if let Some(signed) = &context.signed_in {
        request.extensions_mut().insert(signed.caller.clone());
    }
    request.extensions_mut().insert(context);
    let mut response = next.run(request).await;
    if let Some(token) = anonymous_token {
        let cookie = cookies::set(
            cookies::ANONYMOUS_CSRF,
            &token,
            24 * 3600,
            state.secure_cookies(),
        );
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

fn rand_byte() -> u8 {
    rand::random()
}

/// Browsers name the page a form was sent from; a form from another site
/// is refused even before its token is checked.
/// A state-changing form must come from Kefu's own origin and carry the
/// session's anti-forgery token: in the action URL for multipart forms
/// (so a large upload streams to the handler unread), else in the body.
async fn checked_form(
    state: &AppState,
    request: Request,
    context: &PageContext,
) -> Result<Request, Response> {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(request);
    }
    if !same_origin(state, request.headers()) {
        return Err(ui::message(context, StatusCode::FORBIDDEN, "csrf"));
    }
    let expected = Some(context.csrf.as_str());
    if crate::upload::is_multipart(request.headers()) {
        let sent = request.uri().query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(key, _)| key == "csrf")
                .map(|(_, value)| value.into_owned())
        });
        if sent.as_deref() != expected {
            return Err(ui::message(context, StatusCode::FORBIDDEN, "csrf"));
        }
        return Ok(request);
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Err(ui::message(
            context,
            StatusCode::PAYLOAD_TOO_LARGE,
            "internal",
        ));
    };
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned());
    if sent.as_deref() != expected {
        return Err(ui::message(context, StatusCode::FORBIDDEN, "csrf"));
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// The portal side of [`enforce`]: the customer's own session cookie; an
/// agent's session does not open it.
async fn enforce_portal(state: AppState, request: Request, next: Next) -> Response {
    let headers = request.headers().clone();
    let me = match cookies::get(&headers, cookies::PORTAL) {
        Some(token) => kefu_app::portal::session(&state.app, &token).await.ok(),
        None => None,
    };
    let locale = me
        .as_ref()
        .and_then(|m| Locale::from_code(&m.language))
        .or_else(|| Locale::from_headers(&headers))
        .unwrap_or(Locale::ZhCn);
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let context = PageContext {
        locale,
        csrf: me
            .as_ref()
            .map(|m| m.csrf_token.clone())
            .unwrap_or_default(),
        path: path.clone(),
        signed_in: None,
    };
    let Some(me) = me else {
        let agent = match cookies::get(&headers, cookies::SESSION) {
            Some(token) => signin::session_caller(&state.app, &token).await.is_ok(),
            None => false,
        };
        if agent {
            return ui::message(&context, StatusCode::FORBIDDEN, "forbidden");
        }
        let target = format!(
            "/portal/login?next={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        );
        return Redirect::to(&target).into_response();
    };
    let mut request = match checked_form(&state, request, &context).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    request
        .extensions_mut()
        .insert(ui::portal::PortalContext { me, locale });
    next.run(request).await
}

fn same_origin(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if origin == state.public_url {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

/// The caller behind an API request: a Bearer API token, or an agent's
/// email and password as HTTP Basic.
async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Caller, AppError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AppError::Unauthenticated)?;
    let (scheme, credentials) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        auth::authenticate_token(&state.app, credentials.trim(), Source::Api).await
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(AppError::Unauthenticated)?;
        let (email, password) = decoded.split_once(':').ok_or(AppError::Unauthenticated)?;
        auth::authenticate_password(&state.app, email, password, Source::Api).await
    } else {
        Err(AppError::Unauthenticated)
    }
}

/// Every route of the application, with its rule.
pub fn route_specs() -> Vec<RouteSpec> {
    crate::api::routes()
        .into_iter()
        .map(|r| RouteSpec {
            method: r.method,
            path: format!("{}{}", crate::api::PREFIX, r.path),
            access: r.access,
            summary: r.summary,
            page: false,
        })
        .chain(crate::public_routes())
        .chain(crate::ui::routes().into_iter().map(|r| RouteSpec {
            method: r.method,
            path: r.path.to_owned(),
            access: r.access,
            summary: r.summary,
            page: true,
        }))
        .collect()
}

fn permission_name(permission: Permission) -> String {
    serde_json::to_value(permission)
        .ok()
        .and_then(|v| v.as_str().map(|s| format!("`{s}`")))
        .unwrap_or_default()
}

/// `docs/permissions.md`: the role × permission matrix and the role × route
/// table, rendered from the code that enforces them.
pub fn permissions_markdown() -> String {
    let mut out = String::new();
    let yes_no = |b: bool| if b { "✓" } else { "—" };
    let _ = writeln!(out, "# Permissions 权限\n");
    let _ = writeln!(
        out,
        "Generated from the code by `kefu permissions`; a test fails when this file is out of date.\n"
    );
    let _ = writeln!(out, "## Roles and permissions\n");
    let header: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    let _ = writeln!(out, "| permission | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(Role::ALL.len()));
    for permission in Permission::ALL {
        let cells: Vec<&str> = Role::ALL
            .iter()
            .map(|r| yes_no(r.allows(permission)))
            .collect();
        let name = serde_json::to_value(permission)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(out, "| `{name}` | {} |", cells.join(" | "));
    }
    let _ = writeln!(out, "\n## Routes\n");
    let _ = writeln!(
        out,
        "API routes answer 401 without credentials and 403 for a role not ticked; pages send a signed-out visitor to the sign-in page and show a \"not allowed\" page to a role not ticked.\n"
    );
    let _ = writeln!(
        out,
        "| method | path | rule | {} | what it does |",
        header.join(" | ")
    );
    let _ = writeln!(out, "|---|---|---|{}---|", "---|".repeat(Role::ALL.len()));
    for spec in route_specs() {
        let rule = match spec.access {
            Access::Public => "public".to_owned(),
            Access::PublicForm => "public (embeddable form)".to_owned(),
            Access::Customer => "customer (portal)".to_owned(),
            Access::MailboxToken => "mailbox token".to_owned(),
            Access::SignedIn => "signed in".to_owned(),
            Access::Requires(p) => permission_name(p),
            Access::AnyOf(ps) => ps
                .iter()
                .map(|p| permission_name(*p))
                .collect::<Vec<_>>()
                .join(" or "),
        };
        let cells: Vec<&str> = Role::ALL
            .iter()
            .map(|r| yes_no(spec.access.admits(*r)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            spec.method,
            spec.path,
            rule,
            cells.join(" | "),
            spec.summary
        );
    }
    out
}
