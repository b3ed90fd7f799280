//! The server-rendered web UI: the shell every page shares (navigation,
//! the signed-in agent, the language switch), sign-in, the workspace,
//! account settings and the admin screens.
//!
//! Pages are declared in [`routes`] with their access rule like API routes;
//! [`crate::access::enforce`] signs the visitor in from the session cookie,
//! picks the language, checks the anti-forgery token of every form, and
//! answers a signed-out visitor with the sign-in page and a visitor whose
//! role does not allow the page with a "not allowed" page.

mod automations;
mod calendars;
pub mod cookies;
pub(crate) mod custom_fields;
mod customers;
pub mod form;
mod mail;
mod pages;
pub mod portal;
mod routing;
mod settings;
mod sla;
pub(crate) mod tickets;
mod web_form;
mod webhooks;

use crate::access::{Access, Route};
use crate::i18n::Locale;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use kefu_app::Caller;
use kefu_domain::{Permission, Role};
use kefu_store::agents::Agent;

/// Who is looking at a page, in which language, with which form token.
#[derive(Debug, Clone)]
pub struct PageContext {
    /// The language the page is shown in.
    pub locale: Locale,
    /// The anti-forgery token forms must carry.
    pub csrf: String,
    /// The path and query of this page (for the language switch's return).
    pub path: String,
    /// The signed-in agent, if any.
    pub signed_in: Option<SignedIn>,
}

/// A visitor with a valid session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The caller for use cases.
    pub caller: Caller,
    /// The agent record.
    pub agent: Agent,
    /// The session's id.
    pub session_id: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<PageContext>()
            .cloned()
            .ok_or_else(|| {
                tracing::error!(
                    path = parts.uri.path(),
                    "page handler without a page context"
                );
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            })
    }
}

impl PageContext {
    /// The page shell with `active` highlighted in the navigation.
    pub fn shell(&self, active: &str) -> Shell {
        let user = self.signed_in.as_ref().map(|s| ShellUser {
            status: s.agent.status.as_str(),
            display_name: s.agent.display_name.clone(),
            role: s.agent.role.as_str(),
            role_key: role_key(s.agent.role),
        });
        let nav = match &self.signed_in {
            Some(s) => nav_items(s.agent.role, active),
            None => Vec::new(),
        };
        Shell {
            locale: self.locale,
            csrf: self.csrf.clone(),
            path: self.path.clone(),
            css_path: crate::assets::css_path(),
            can_search: self
                .signed_in
                .as_ref()
                .is_some_and(|s| s.agent.role.allows(Permission::ViewTickets)),
            user,
            nav,
        }
    }

    /// A time in the viewer's zone and the page's language.
    pub fn time(&self, at: DateTime<Utc>) -> String {
        let zone = self
            .signed_in
            .as_ref()
            .map_or("Asia/Shanghai", |s| s.agent.time_zone.as_str());
        format_time(self.locale, zone, at)
    }
}

/// A time shown to a person: in their zone, formatted for their language.
pub fn format_time(locale: Locale, zone: &str, at: DateTime<Utc>) -> String {
    let zone: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let local = at.with_timezone(&zone);
    match locale {
        Locale::ZhCn => local.format("%Y年%m月%d日 %H:%M").to_string(),
        Locale::En => local.format("%-d %b %Y, %H:%M").to_string(),
    }
}

/// The catalogue key of a role's name.
pub fn role_key(role: Role) -> &'static str {
    match role {
        Role::Admin => "roles.admin",
        Role::Manager => "roles.manager",
        Role::Agent => "roles.agent",
        Role::TechSupport => "roles.tech_support",
        Role::QaInspector => "roles.qa_inspector",
        Role::Trainer => "roles.trainer",
        Role::Analyst => "roles.analyst",
    }
}

/// The shared frame of every page.
#[derive(Debug, Clone)]
pub struct Shell {
    /// Page language.
    pub locale: Locale,
    /// Anti-forgery token.
    pub csrf: String,
    /// Current path, for the language switch.
    pub path: String,
    /// The stylesheet's content-hashed path.
    pub css_path: &'static str,
    /// The signed-in agent.
    pub user: Option<ShellUser>,
    /// Main navigation for the agent's role.
    pub nav: Vec<NavItem>,
    /// Whether the top bar offers the search box.
    pub can_search: bool,
}

impl Shell {
    /// Translates `key` into the page's language.
    pub fn t(&self, key: &str) -> &'static str {
        self.locale.t(key)
    }

    /// A validation reason from the domain, in the page's language.
    pub fn reason(&self, english: &str) -> String {
        self.locale.reason(english)
    }
}

/// The agent shown in the top bar.
#[derive(Debug, Clone)]
pub struct ShellUser {
    /// Presence code name.
    pub status: &'static str,
    /// Name.
    pub display_name: String,
    /// Role code name.
    pub role: &'static str,
    /// Catalogue key of the role's name.
    pub role_key: &'static str,
}

/// One navigation entry.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// Stable name, for tests and styling.
    pub key: &'static str,
    /// Target.
    pub href: &'static str,
    /// Catalogue key of the label.
    pub label_key: &'static str,
    /// Whether it is the current section.
    pub active: bool,
}

/// The settings sections and the permission each needs.
pub const SETTINGS_SECTIONS: [(&str, &str, Permission); 13] = [
    (
        "/settings/agents",
        "settings.agents",
        Permission::ManageAgents,
    ),
    ("/settings/teams", "settings.teams", Permission::ManageTeams),
    (
        "/settings/tokens",
        "settings.tokens",
        Permission::ManageApiTokens,
    ),
    (
        "/settings/custom-fields",
        "settings.custom_fields",
        Permission::ManageSettings,
    ),
    (
        "/settings/tickets",
        "settings.tickets",
        Permission::ManageSettings,
    ),
    (
        "/settings/macros",
        "settings.macros",
        Permission::ManageMacros,
    ),
    (
        "/settings/calendars",
        "settings.calendars",
        Permission::ManageServiceStandards,
    ),
    (
        "/settings/sla",
        "settings.sla",
        Permission::ManageServiceStandards,
    ),
    (
        "/settings/routing",
        "settings.routing",
        Permission::ManageServiceStandards,
    ),
    (
        "/settings/automations",
        "settings.automations",
        Permission::ManageServiceStandards,
    ),
    (
        "/settings/webhooks",
        "settings.webhooks",
        Permission::ManageIntegrations,
    ),
    (
        "/settings/mail",
        "settings.mail",
        Permission::ManageIntegrations,
    ),
    (
        "/settings/audit",
        "settings.audit",
        Permission::ViewAuditLog,
    ),
];

/// The permissions that open some settings section.
pub const SETTINGS_PERMISSIONS: [Permission; 6] = [
    Permission::ManageAgents,
    Permission::ManageMacros,
    Permission::ManageSettings,
    Permission::ManageTeams,
    Permission::ManageApiTokens,
    Permission::ViewAuditLog,
];

/// The main navigation a role sees. Sections appear as their capabilities
/// exist; each later capability adds its entry here.
pub fn nav_items(role: Role, active: &str) -> Vec<NavItem> {
    let mut items = vec![NavItem {
        key: "workspace",
        href: "/",
        label_key: "nav.workspace",
        active: active == "workspace",
    }];
    if role.allows(Permission::ViewTickets) {
        items.push(NavItem {
            key: "tickets",
            href: "/tickets",
            label_key: "nav.tickets",
            active: active == "tickets",
        });
    }
    if role.allows(Permission::ViewCustomers) {
        items.push(NavItem {
            key: "customers",
            href: "/customers",
            label_key: "nav.customers",
            active: active == "customers",
        });
    }
    if Access::AnyOf(&SETTINGS_PERMISSIONS).admits(role) {
        items.push(NavItem {
            key: "settings",
            href: "/settings",
            label_key: "nav.settings",
            active: active == "settings",
        });
    }
    items
}

/// A submitted form or query string as name → value.
pub type Fields = std::collections::HashMap<String, String>;

/// The value of a form field, or empty.
pub fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields.get(name).map_or("", String::as_str)
}

/// The signed-in caller of a page.
pub fn caller(context: &PageContext) -> Result<&Caller, kefu_app::AppError> {
    context
        .signed_in
        .as_ref()
        .map(|s| &s.caller)
        .ok_or(kefu_app::AppError::Unauthenticated)
}

/// Text escaped for a query string.
pub fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Renders a template, or a logged 500 if rendering fails.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// A page with a title and one paragraph: not allowed, not found, expired form.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// Frame.
    pub shell: Shell,
    /// Heading.
    pub title: &'static str,
    /// Explanation.
    pub text: &'static str,
    /// `forbidden`, `not_found`, `csrf` or `internal`.
    pub kind: &'static str,
}

/// A message page with `status`.
pub fn message(context: &PageContext, status: StatusCode, kind: &'static str) -> Response {
    let locale = context.locale;
    let page = MessagePage {
        shell: context.shell(""),
        title: locale.t(&format!("errors.{kind}_title")),
        text: locale.t(&format!("errors.{kind}_text")),
        kind,
    };
    (status, render(&page)).into_response()
}

/// The status a refused form is answered with: 409 for a conflict, 413
/// for a file over the limit, 422 otherwise.
pub fn error_status(error: &kefu_app::AppError) -> StatusCode {
    match error {
        kefu_app::AppError::Conflict { .. } => StatusCode::CONFLICT,
        kefu_app::AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A refused form: the error put beside its field in `form` (what was
/// typed stays) with the status to answer; or, for an error that is not
/// about a field, the failure page itself.
pub fn refused_form(
    context: &PageContext,
    mut form: form::FormState,
    error: kefu_app::AppError,
) -> Result<(form::FormState, StatusCode), Box<Response>> {
    let status = error_status(&error);
    match form.absorb(context.locale, error) {
        Ok(()) => Ok((form, status)),
        Err(other) => Err(Box::new(failure(context, other))),
    }
}

/// Runs a use case as the signed-in caller and sends the browser to `to`
/// when it succeeds; a failure gets the failure page. The shape of every
/// settings action without a form to show again (delete, send a test).
pub async fn then_redirect<T, Fut>(
    context: &PageContext,
    to: &str,
    run: impl FnOnce(Caller) -> Fut,
) -> Response
where
    Fut: std::future::Future<Output = Result<T, kefu_app::AppError>>,
{
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    match run(caller).await {
        Ok(_) => axum::response::Redirect::to(to).into_response(),
        Err(e) => failure(context, e),
    }
}

/// A refusal of a list entry (`events[1]`, `ticket_types[0]`) named by
/// its list, where forms show the list's errors.
pub fn by_list(error: kefu_app::AppError) -> kefu_app::AppError {
    match error {
        kefu_app::AppError::Validation { field, reason } => kefu_app::AppError::Validation {
            field: field.split('[').next().unwrap_or_default().to_owned(),
            reason,
        },
        other => other,
    }
}

/// The page for a failure that is not about a form field.
pub fn failure(context: &PageContext, error: kefu_app::AppError) -> Response {
    use kefu_app::AppError;
    match error {
        AppError::Forbidden => message(context, StatusCode::FORBIDDEN, "forbidden"),
        AppError::NotFound => message(context, StatusCode::NOT_FOUND, "not_found"),
        AppError::Unauthenticated => axum::response::Redirect::to("/login").into_response(),
        other => {
            tracing::error!(error = %other, "page failed");
            message(context, StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

/// Every page with its access rule.
pub fn routes() -> Vec<Route> {
    let page = |method: Method, path, access, summary, endpoint| Route {
        method,
        path,
        access,
        summary,
        endpoint,
        page: true,
        doc: Default::default(),
    };
    use Access::{AnyOf, Customer, Public, PublicForm, Requires, SignedIn};
    use Permission::*;
    vec![
        page(
            Method::GET,
            "/",
            SignedIn,
            "workspace (工作台)",
            get(pages::workspace),
        ),
        page(
            Method::GET,
            "/portal/login",
            Public,
            "customer portal: ask for a sign-in link by email",
            get(portal::login_form),
        ),
        page(
            Method::POST,
            "/portal/login",
            Public,
            "mail a one-time sign-in link to a customer's address (same answer for unknown addresses; rate-limited)",
            post(portal::request_link),
        ),
        page(
            Method::GET,
            "/portal/login/{token}",
            Public,
            "confirm a sign-in link (opening it does not use it)",
            get(portal::link_form),
        ),
        page(
            Method::POST,
            "/portal/login/{token}",
            Public,
            "use a sign-in link once: a portal session for the customer",
            post(portal::use_link),
        ),
        page(
            Method::POST,
            "/portal/logout",
            Customer,
            "end the customer's portal session",
            post(portal::logout),
        ),
        page(
            Method::GET,
            "/portal",
            Customer,
            "the customer's own requests",
            get(portal::home),
        ),
        page(
            Method::GET,
            "/portal/new",
            Customer,
            "new request form",
            get(portal::new_form),
        ),
        page(
            Method::POST,
            "/portal/tickets",
            Customer,
            "send a new request with files (portal channel)",
            post(portal::create).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        page(
            Method::GET,
            "/portal/tickets/{id}",
            Customer,
            "one of the customer's requests: public replies only (404 for anyone else's)",
            get(portal::show),
        ),
        page(
            Method::POST,
            "/portal/tickets/{id}/messages",
            Customer,
            "the customer's reply with files (a ticket waiting for the customer reopens)",
            post(portal::reply).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        page(
            Method::POST,
            "/portal/tickets/{id}/close",
            Customer,
            "the customer closes their request",
            post(portal::close),
        ),
        page(
            Method::GET,
            "/portal/attachments/{id}",
            Customer,
            "a file on the customer's request (never from internal notes, never call recordings)",
            get(portal::file),
        ),
        page(
            Method::GET,
            "/form",
            PublicForm,
            "the public web form to embed on a company's own site (?lang=zh-CN|en)",
            get(web_form::show),
        ),
        page(
            Method::POST,
            "/form",
            PublicForm,
            "send a request: opens a web-form ticket for the customer with that email (spam-checked, rate-limited)",
            post(web_form::submit).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        page(
            Method::GET,
            "/login",
            Public,
            "sign-in form",
            get(pages::login_form),
        ),
        page(
            Method::POST,
            "/login",
            Public,
            "sign in",
            post(pages::login),
        ),
        page(
            Method::POST,
            "/login/code",
            Public,
            "second step of a two-step sign-in",
            post(pages::login_code),
        ),
        page(
            Method::POST,
            "/logout",
            SignedIn,
            "sign out",
            post(pages::logout),
        ),
        page(
            Method::POST,
            "/logout/everywhere",
            SignedIn,
            "sign out on all other devices",
            post(pages::logout_everywhere),
        ),
        page(
            Method::POST,
            "/lang",
            Public,
            "switch the interface language",
            post(pages::switch_language),
        ),
        page(
            Method::GET,
            "/account",
            SignedIn,
            "own preferences, password, sessions",
            get(pages::account),
        ),
        page(
            Method::POST,
            "/account/status",
            SignedIn,
            "set own presence: online, away, offline",
            post(pages::set_status),
        ),
        page(
            Method::POST,
            "/account/preferences",
            SignedIn,
            "save own preferences",
            post(pages::save_preferences),
        ),
        page(
            Method::POST,
            "/account/password",
            SignedIn,
            "change own password",
            post(pages::change_password),
        ),
        page(
            Method::POST,
            "/account/two-step/start",
            SignedIn,
            "start setting up two-step sign-in",
            post(pages::two_step_start),
        ),
        page(
            Method::POST,
            "/account/two-step/confirm",
            SignedIn,
            "switch two-step sign-in on with a code",
            post(pages::two_step_confirm),
        ),
        page(
            Method::POST,
            "/account/two-step/disable",
            SignedIn,
            "switch two-step sign-in off with a code",
            post(pages::two_step_disable),
        ),
        page(
            Method::GET,
            "/password-reset",
            Public,
            "ask for a password-reset link",
            get(pages::reset_request_form),
        ),
        page(
            Method::POST,
            "/password-reset",
            Public,
            "send a password-reset link",
            post(pages::reset_request),
        ),
        page(
            Method::GET,
            "/password-reset/{token}",
            Public,
            "choose a new password",
            get(pages::reset_form),
        ),
        page(
            Method::POST,
            "/password-reset/{token}",
            Public,
            "set the new password",
            post(pages::reset),
        ),
        page(
            Method::GET,
            "/customers",
            Requires(ViewCustomers),
            "customer list: search, filters, records to refresh",
            get(customers::list),
        ),
        page(
            Method::POST,
            "/customers",
            Requires(ManageCustomers),
            "create a customer",
            post(customers::create),
        ),
        page(
            Method::GET,
            "/customers/new",
            Requires(ManageCustomers),
            "new customer form",
            get(customers::new_form),
        ),
        page(
            Method::GET,
            "/customers/export",
            Requires(ExportCustomers),
            "download the filtered customer list as CSV or XLSX (audited)",
            get(customers::export_list),
        ),
        page(
            Method::GET,
            "/customers/import",
            Requires(ImportCustomers),
            "choose a CSV or XLSX file to import",
            get(customers::import_form),
        ),
        page(
            Method::POST,
            "/customers/import",
            Requires(ImportCustomers),
            "upload a file to import",
            post(customers::import_upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::api::IMPORT_BODY_LIMIT,
            )),
        ),
        page(
            Method::GET,
            "/customers/import/{id}",
            Requires(ImportCustomers),
            "map the file's columns and see every row's problems (dry run)",
            get(customers::import_review),
        ),
        page(
            Method::POST,
            "/customers/import/{id}",
            Requires(ImportCustomers),
            "check again or import every row in one transaction",
            post(customers::import_run),
        ),
        page(
            Method::GET,
            "/customers/import/{id}/progress",
            Requires(ImportCustomers),
            "an import's progress while its rows are written, then its result",
            get(customers::import_progress),
        ),
        page(
            Method::GET,
            "/customers/duplicates",
            Requires(MergeCustomers),
            "possible duplicates to review and merge",
            get(customers::duplicates),
        ),
        page(
            Method::POST,
            "/customers/merge",
            Requires(MergeCustomers),
            "merge a duplicate into the chosen survivor",
            post(customers::merge),
        ),
        page(
            Method::GET,
            "/customers/{id}",
            Requires(ViewCustomers),
            "the customer's 360° view",
            get(customers::show),
        ),
        page(
            Method::GET,
            "/customers/{id}/edit",
            Requires(ManageCustomers),
            "edit a customer",
            get(customers::edit_form),
        ),
        page(
            Method::POST,
            "/customers/{id}/edit",
            Requires(ManageCustomers),
            "save a customer (optimistic locking)",
            post(customers::save),
        ),
        page(
            Method::POST,
            "/customers/{id}/reveal",
            Requires(RevealPersonalData),
            "show masked contact details (audited)",
            post(customers::reveal),
        ),
        page(
            Method::POST,
            "/customers/{id}/export",
            Requires(ExportCustomers),
            "download everything about a customer as JSON (audited)",
            post(customers::export),
        ),
        page(
            Method::POST,
            "/customers/{id}/erase",
            Requires(ErasePersonalData),
            "erase a customer's personal data",
            post(customers::erase),
        ),
        page(
            Method::POST,
            "/customers/{id}/orders",
            Requires(ManageCustomers),
            "record an order",
            post(customers::add_order),
        ),
        page(
            Method::GET,
            "/tickets",
            Requires(ViewTickets),
            "ticket queues: mine, my teams', unassigned, all; filters and sort",
            get(tickets::list),
        ),
        page(
            Method::POST,
            "/tickets",
            Requires(ManageTickets),
            "open a ticket (with a call recording and files)",
            post(tickets::create).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        page(
            Method::POST,
            "/tickets/{id}/plan",
            Requires(ManageTickets),
            "add a service plan step",
            post(tickets::add_plan_step),
        ),
        page(
            Method::POST,
            "/ticket-plan-steps/{id}",
            Requires(ManageTickets),
            "check off or reopen a service plan step",
            post(tickets::toggle_plan_step),
        ),
        page(
            Method::POST,
            "/tickets/{id}/links",
            Requires(ManageTickets),
            "record a related ticket",
            post(tickets::link),
        ),
        page(
            Method::POST,
            "/tickets/{id}/escalate",
            Requires(ManageTickets),
            "escalate: open a child ticket for another team",
            post(tickets::escalate),
        ),
        page(
            Method::POST,
            "/tickets/bulk",
            Requires(ManageTickets),
            "one action on the tickets ticked in a queue",
            post(tickets::bulk),
        ),
        page(
            Method::POST,
            "/tickets/{id}/macro",
            Requires(ManageTickets),
            "apply a macro to the ticket",
            post(tickets::apply_macro),
        ),
        page(
            Method::GET,
            "/settings/calendars",
            Requires(ManageServiceStandards),
            "business calendars and a form to add one",
            get(calendars::list),
        ),
        page(
            Method::POST,
            "/settings/calendars",
            Requires(ManageServiceStandards),
            "add a business calendar",
            post(calendars::create),
        ),
        page(
            Method::GET,
            "/settings/calendars/{id}",
            Requires(ManageServiceStandards),
            "edit a business calendar; check a due time on it",
            get(calendars::edit),
        ),
        page(
            Method::POST,
            "/settings/calendars/{id}",
            Requires(ManageServiceStandards),
            "save a business calendar (optimistic locking)",
            post(calendars::save),
        ),
        page(
            Method::POST,
            "/settings/calendars/{id}/import",
            Requires(ManageServiceStandards),
            "import holidays from an iCalendar or CSV file",
            post(calendars::import),
        ),
        page(
            Method::POST,
            "/settings/calendars/{id}/delete",
            Requires(ManageServiceStandards),
            "delete a business calendar",
            post(calendars::delete),
        ),
        page(
            Method::GET,
            "/settings/sla",
            Requires(ManageServiceStandards),
            "SLA policies and a form to add one",
            get(sla::list),
        ),
        page(
            Method::POST,
            "/settings/sla",
            Requires(ManageServiceStandards),
            "add an SLA policy",
            post(sla::create),
        ),
        page(
            Method::GET,
            "/settings/sla/{id}",
            Requires(ManageServiceStandards),
            "edit an SLA policy",
            get(sla::edit),
        ),
        page(
            Method::POST,
            "/settings/sla/{id}",
            Requires(ManageServiceStandards),
            "save an SLA policy (optimistic locking)",
            post(sla::save),
        ),
        page(
            Method::POST,
            "/settings/sla/{id}/delete",
            Requires(ManageServiceStandards),
            "delete an SLA policy",
            post(sla::delete),
        ),
        page(
            Method::GET,
            "/settings/routing",
            Requires(ManageServiceStandards),
            "routing: team strategies, agent capacity and skills, routing rules",
            get(routing::show),
        ),
        page(
            Method::POST,
            "/settings/routing/teams/{id}",
            Requires(ManageServiceStandards),
            "set a team's routing strategy",
            post(routing::save_team),
        ),
        page(
            Method::POST,
            "/settings/routing/agents/{id}",
            Requires(ManageServiceStandards),
            "set an agent's capacity and skills",
            post(routing::save_agent),
        ),
        page(
            Method::POST,
            "/settings/routing/rules",
            Requires(ManageServiceStandards),
            "add a routing rule",
            post(routing::create_rule),
        ),
        page(
            Method::GET,
            "/settings/routing/rules/{id}",
            Requires(ManageServiceStandards),
            "edit a routing rule",
            get(routing::edit_rule),
        ),
        page(
            Method::POST,
            "/settings/routing/rules/{id}",
            Requires(ManageServiceStandards),
            "save a routing rule (optimistic locking)",
            post(routing::save_rule),
        ),
        page(
            Method::POST,
            "/settings/routing/rules/{id}/delete",
            Requires(ManageServiceStandards),
            "delete a routing rule",
            post(routing::delete_rule),
        ),
        page(
            Method::GET,
            "/settings/automations",
            Requires(ManageServiceStandards),
            "automation rules and a form to add one",
            get(automations::list),
        ),
        page(
            Method::POST,
            "/settings/automations",
            Requires(ManageServiceStandards),
            "add an automation rule",
            post(automations::create),
        ),
        page(
            Method::GET,
            "/settings/automations/{id}",
            Requires(ManageServiceStandards),
            "edit an automation rule and try it on a ticket",
            get(automations::edit),
        ),
        page(
            Method::POST,
            "/settings/automations/{id}",
            Requires(ManageServiceStandards),
            "save an automation rule (optimistic locking)",
            post(automations::save),
        ),
        page(
            Method::POST,
            "/settings/automations/{id}/delete",
            Requires(ManageServiceStandards),
            "delete an automation rule",
            post(automations::delete),
        ),
        page(
            Method::POST,
            "/settings/automations/{id}/test",
            Requires(ManageServiceStandards),
            "try an automation rule on a sample ticket, changing nothing",
            post(automations::test),
        ),
        page(
            Method::GET,
            "/settings/webhooks",
            Requires(ManageIntegrations),
            "outgoing webhooks and a form to add one",
            get(webhooks::list),
        ),
        page(
            Method::POST,
            "/settings/webhooks",
            Requires(ManageIntegrations),
            "add a webhook",
            post(webhooks::create),
        ),
        page(
            Method::GET,
            "/settings/webhooks/{id}",
            Requires(ManageIntegrations),
            "edit a webhook, see its secret and delivery log",
            get(webhooks::edit),
        ),
        page(
            Method::POST,
            "/settings/webhooks/{id}",
            Requires(ManageIntegrations),
            "save a webhook (optimistic locking), optionally with a new secret",
            post(webhooks::save),
        ),
        page(
            Method::POST,
            "/settings/webhooks/{id}/delete",
            Requires(ManageIntegrations),
            "delete a webhook and its log",
            post(webhooks::delete),
        ),
        page(
            Method::POST,
            "/settings/webhooks/{id}/ping",
            Requires(ManageIntegrations),
            "send a test event to a webhook",
            post(webhooks::ping),
        ),
        page(
            Method::POST,
            "/settings/webhooks/{id}/deliveries/{delivery}/redeliver",
            Requires(ManageIntegrations),
            "send a delivery again",
            post(webhooks::redeliver),
        ),
        page(
            Method::GET,
            "/settings/mail",
            Requires(ManageIntegrations),
            "support mailboxes, a form to add one, and the quarantine",
            get(mail::list),
        ),
        page(
            Method::POST,
            "/settings/mail",
            Requires(ManageIntegrations),
            "add a mailbox; its token is shown once",
            post(mail::create),
        ),
        page(
            Method::GET,
            "/settings/mail/{id}",
            Requires(ManageIntegrations),
            "edit a mailbox",
            get(mail::edit),
        ),
        page(
            Method::POST,
            "/settings/mail/{id}",
            Requires(ManageIntegrations),
            "save a mailbox (optimistic locking)",
            post(mail::save),
        ),
        page(
            Method::POST,
            "/settings/mail/{id}/test",
            Requires(ManageIntegrations),
            "try a mailbox's IMAP and SMTP servers",
            post(mail::test),
        ),
        page(
            Method::POST,
            "/settings/mail/{id}/check",
            Requires(ManageIntegrations),
            "read a mailbox's IMAP server now",
            post(mail::check),
        ),
        page(
            Method::POST,
            "/settings/mail/{id}/token",
            Requires(ManageIntegrations),
            "give a mailbox a new token, shown once",
            post(mail::renew_token),
        ),
        page(
            Method::POST,
            "/settings/mail/{id}/delete",
            Requires(ManageIntegrations),
            "delete a mailbox",
            post(mail::delete),
        ),
        page(
            Method::GET,
            "/settings/mail/quarantine/{id}/source",
            Requires(ManageIntegrations),
            "download a held-back message's raw source",
            get(mail::quarantined_source),
        ),
        page(
            Method::POST,
            "/settings/mail/quarantine/{id}/retry",
            Requires(ManageIntegrations),
            "take a held-back message in again",
            post(mail::retry),
        ),
        page(
            Method::POST,
            "/settings/mail/quarantine/{id}/discard",
            Requires(ManageIntegrations),
            "delete a held-back message",
            post(mail::discard),
        ),
        page(
            Method::GET,
            "/mail/{id}/html",
            Requires(ViewTickets),
            "an email's cleaned HTML for the ticket page's sandboxed frame; remote images only with ?images=1",
            get(mail::html),
        ),
        page(
            Method::GET,
            "/mail/{id}/source",
            Requires(ViewTickets),
            "download an email's raw source as received",
            get(mail::source),
        ),
        page(
            Method::GET,
            "/settings/macros",
            Requires(ManageMacros),
            "canned replies and macros",
            get(tickets::macros),
        ),
        page(
            Method::POST,
            "/settings/macros",
            Requires(ManageMacros),
            "add a macro",
            post(tickets::create_macro),
        ),
        page(
            Method::GET,
            "/settings/macros/{id}",
            Requires(ManageMacros),
            "edit a macro",
            get(tickets::macro_form),
        ),
        page(
            Method::POST,
            "/settings/macros/{id}",
            Requires(ManageMacros),
            "save a macro (optimistic locking)",
            post(tickets::save_macro),
        ),
        page(
            Method::POST,
            "/notifications/read",
            SignedIn,
            "mark own notifications read",
            post(tickets::read_notifications),
        ),
        page(
            Method::POST,
            "/tickets/views",
            Requires(ViewTickets),
            "save the queue's filters as a view",
            post(tickets::save_view),
        ),
        page(
            Method::POST,
            "/tickets/views/{id}/delete",
            Requires(ViewTickets),
            "delete a saved view",
            post(tickets::delete_view),
        ),
        page(
            Method::GET,
            "/events",
            Requires(ViewTickets),
            "live ticket events (server-sent) for queues and ticket pages",
            get(tickets::events),
        ),
        page(
            Method::POST,
            "/tickets/{id}/replying",
            Requires(ManageTickets),
            "tell others on the ticket that this agent is writing",
            post(tickets::replying),
        ),
        page(
            Method::GET,
            "/search",
            Requires(ViewTickets),
            "search tickets and customers",
            get(tickets::search),
        ),
        page(
            Method::GET,
            "/tickets/new",
            Requires(ManageTickets),
            "new ticket form (also logs a call or a walk-in from the customer page)",
            get(tickets::new_form),
        ),
        page(
            Method::GET,
            "/tickets/{id}",
            Requires(ViewTickets),
            "the ticket: conversation, timeline, properties, the customer's 360° panel",
            get(tickets::show),
        ),
        page(
            Method::POST,
            "/tickets/{id}",
            Requires(ManageTickets),
            "save a ticket's properties (optimistic locking)",
            post(tickets::save),
        ),
        page(
            Method::POST,
            "/tickets/{id}/status",
            Requires(ManageTickets),
            "move a ticket along its lifecycle",
            post(tickets::change_status),
        ),
        page(
            Method::POST,
            "/tickets/{id}/messages",
            Requires(ManageTickets),
            "reply to the customer or add an internal note, with files",
            post(tickets::add_message).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        page(
            Method::POST,
            "/tickets/{id}/attachments",
            Requires(ManageTickets),
            "attach files or a call recording to a ticket",
            post(tickets::attach).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        page(
            Method::GET,
            "/attachments/{id}",
            Requires(ViewTickets),
            "a file on a ticket (pictures and sound inline, everything else downloaded)",
            get(tickets::download),
        ),
        page(
            Method::GET,
            "/organizations",
            Requires(ViewCustomers),
            "organizations",
            get(customers::organizations),
        ),
        page(
            Method::POST,
            "/organizations",
            Requires(ManageCustomers),
            "create an organization",
            post(customers::create_organization),
        ),
        page(
            Method::GET,
            "/organizations/{id}",
            Requires(ViewCustomers),
            "one organization",
            get(customers::organization),
        ),
        page(
            Method::POST,
            "/organizations/{id}",
            Requires(ManageCustomers),
            "save an organization (optimistic locking)",
            post(customers::save_organization),
        ),
        page(
            Method::GET,
            "/settings",
            AnyOf(&SETTINGS_PERMISSIONS),
            "first settings section the role may open",
            get(settings::index),
        ),
        page(
            Method::GET,
            "/settings/agents",
            Requires(ManageAgents),
            "agent accounts",
            get(settings::agents),
        ),
        page(
            Method::GET,
            "/settings/agents/{id}",
            Requires(ManageAgents),
            "edit an agent account: role, active, names",
            get(settings::agent_form),
        ),
        page(
            Method::POST,
            "/settings/agents/{id}",
            Requires(ManageAgents),
            "save an agent account (optimistic locking)",
            post(settings::save_agent),
        ),
        page(
            Method::POST,
            "/settings/agents/{id}/two-step/reset",
            Requires(ManageAgents),
            "switch an agent's two-step sign-in off (lost phone)",
            post(settings::reset_two_step),
        ),
        page(
            Method::GET,
            "/settings/roles",
            Requires(ManageAgents),
            "what each role may do",
            get(settings::roles),
        ),
        page(
            Method::POST,
            "/settings/agents",
            Requires(ManageAgents),
            "create an agent account",
            post(settings::create_agent),
        ),
        page(
            Method::GET,
            "/settings/teams",
            Requires(ManageTeams),
            "teams",
            get(settings::teams),
        ),
        page(
            Method::GET,
            "/settings/teams/{id}",
            Requires(ManageTeams),
            "edit a team: name, lead, members",
            get(settings::team_form),
        ),
        page(
            Method::POST,
            "/settings/teams/{id}",
            Requires(ManageTeams),
            "save a team (optimistic locking)",
            post(settings::save_team),
        ),
        page(
            Method::POST,
            "/settings/teams",
            Requires(ManageTeams),
            "create a team",
            post(settings::create_team),
        ),
        page(
            Method::GET,
            "/settings/tokens",
            Requires(ManageApiTokens),
            "API tokens",
            get(settings::tokens),
        ),
        page(
            Method::POST,
            "/settings/tokens",
            Requires(ManageApiTokens),
            "issue an API token",
            post(settings::create_token),
        ),
        page(
            Method::POST,
            "/settings/tokens/{id}/revoke",
            Requires(ManageApiTokens),
            "revoke an API token",
            post(settings::revoke_token),
        ),
        page(
            Method::GET,
            "/settings/custom-fields",
            Requires(ManageSettings),
            "custom fields of the customer record",
            get(settings::custom_fields),
        ),
        page(
            Method::POST,
            "/settings/custom-fields",
            Requires(ManageSettings),
            "add a custom field",
            post(settings::create_custom_field),
        ),
        page(
            Method::GET,
            "/settings/custom-fields/{id}",
            Requires(ManageSettings),
            "edit a custom field",
            get(settings::custom_field_form),
        ),
        page(
            Method::POST,
            "/settings/custom-fields/{id}",
            Requires(ManageSettings),
            "save a custom field (optimistic locking)",
            post(settings::save_custom_field),
        ),
        page(
            Method::GET,
            "/settings/tickets",
            Requires(ManageSettings),
            "ticket categories, priority matrix, reopen window",
            get(tickets::settings),
        ),
        page(
            Method::POST,
            "/settings/tickets",
            Requires(ManageSettings),
            "save the priority matrix and reopen window (optimistic locking)",
            post(tickets::save_settings),
        ),
        page(
            Method::POST,
            "/settings/tickets/categories",
            Requires(ManageSettings),
            "add a ticket category",
            post(tickets::create_category),
        ),
        page(
            Method::POST,
            "/settings/tickets/categories/{id}",
            Requires(ManageSettings),
            "rename, move or switch off a ticket category",
            post(tickets::save_category),
        ),
        page(
            Method::GET,
            "/settings/audit",
            Requires(ViewAuditLog),
            "search the audit log",
            get(settings::audit),
        ),
    ]
}
