//! The JSON API, `/api/v1`. One module per resource; every route is listed
//! in [`routes`] with its access rule.

mod agents;
mod audit;
mod company;
mod custom_fields;
pub(crate) mod customers;
mod me;
mod teams;
mod tickets;
mod tokens;

use crate::access::{Access, Route};
use axum::http::Method;
use axum::routing::{delete, get, patch, post, put};
use kefu_domain::Permission::*;
use serde::Deserialize;

/// The largest import file accepted (200,000 rows of a wide sheet).
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Where the API is mounted.
pub const PREFIX: &str = "/api/v1";

/// Every API route with who may call it.
pub fn routes() -> Vec<Route> {
    let route = |method: Method, path, access, summary, endpoint| Route {
        method,
        path,
        access,
        summary,
        endpoint,
        page: false,
    };
    vec![
        route(
            Method::GET,
            "/me",
            Access::SignedIn,
            "the caller's identity, role and permissions",
            get(me::show),
        ),
        route(
            Method::PUT,
            "/me/status",
            Access::SignedIn,
            "set the caller's presence: online, away, offline",
            put(me::set_status),
        ),
        route(
            Method::GET,
            "/company",
            Access::Requires(ViewSettings),
            "company settings",
            get(company::show),
        ),
        route(
            Method::GET,
            "/agents",
            Access::Requires(ViewDirectory),
            "list agents",
            get(agents::list),
        ),
        route(
            Method::POST,
            "/agents",
            Access::Requires(ManageAgents),
            "create an agent account",
            post(agents::create),
        ),
        route(
            Method::GET,
            "/agents/{id}",
            Access::Requires(ViewDirectory),
            "one agent",
            get(agents::show),
        ),
        route(
            Method::PATCH,
            "/agents/{id}",
            Access::Requires(ManageAgents),
            "change an agent account: role, active, names (optimistic locking)",
            patch(agents::update),
        ),
        route(
            Method::DELETE,
            "/agents/{id}/two-step",
            Access::Requires(ManageAgents),
            "switch an agent's two-step sign-in off (lost phone; audited)",
            delete(agents::reset_two_step),
        ),
        route(
            Method::GET,
            "/teams",
            Access::Requires(ViewDirectory),
            "list teams with members",
            get(teams::list),
        ),
        route(
            Method::POST,
            "/teams",
            Access::Requires(ManageTeams),
            "create a team",
            post(teams::create),
        ),
        route(
            Method::GET,
            "/teams/{id}",
            Access::Requires(ViewDirectory),
            "one team",
            get(teams::show),
        ),
        route(
            Method::PATCH,
            "/teams/{id}",
            Access::Requires(ManageTeams),
            "change a team (optimistic locking)",
            patch(teams::update),
        ),
        route(
            Method::GET,
            "/teams/{id}/history",
            Access::Requires(ViewAuditLog),
            "a team's audit history",
            get(teams::history),
        ),
        route(
            Method::GET,
            "/api-tokens",
            Access::Requires(ManageApiTokens),
            "list API tokens (never their secrets)",
            get(tokens::list),
        ),
        route(
            Method::POST,
            "/api-tokens",
            Access::Requires(ManageApiTokens),
            "issue an API token (shown once)",
            post(tokens::create),
        ),
        route(
            Method::DELETE,
            "/api-tokens/{id}",
            Access::Requires(ManageApiTokens),
            "revoke an API token",
            delete(tokens::revoke),
        ),
        route(
            Method::GET,
            "/customers",
            Access::Requires(ViewCustomers),
            "list and search customers (name, partial phone, email, organization, tag, classification)",
            get(customers::list),
        ),
        route(
            Method::POST,
            "/customers",
            Access::Requires(ManageCustomers),
            "create a customer with contact points and tags",
            post(customers::create),
        ),
        route(
            Method::GET,
            "/customers/lookup",
            Access::Requires(ViewCustomers),
            "the one customer holding a phone, email, WeChat id or external id",
            get(customers::lookup),
        ),
        route(
            Method::POST,
            "/customers/import",
            Access::Requires(ImportCustomers),
            "import customers from a CSV or XLSX body: dry run, or all rows in one transaction (updates by external_id)",
            post(customers::import).layer(axum::extract::DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        ),
        route(
            Method::GET,
            "/customers/export",
            Access::Requires(ExportCustomers),
            "the filtered customer list as CSV or XLSX (audited)",
            get(customers::export_list),
        ),
        route(
            Method::GET,
            "/customers/duplicates",
            Access::Requires(MergeCustomers),
            "possible duplicates: customers sharing a phone or email, or a name in one organization",
            get(customers::duplicates),
        ),
        route(
            Method::POST,
            "/customers/merge",
            Access::Requires(MergeCustomers),
            "merge a duplicate into a survivor (contact points, tags, orders move; audited)",
            post(customers::merge),
        ),
        route(
            Method::GET,
            "/customers/{id}",
            Access::Requires(ViewCustomers),
            "one customer (contact points masked without the personal-data permission)",
            get(customers::show),
        ),
        route(
            Method::PATCH,
            "/customers/{id}",
            Access::Requires(ManageCustomers),
            "change a customer (optimistic locking)",
            patch(customers::update),
        ),
        route(
            Method::GET,
            "/customers/{id}/profile",
            Access::Requires(ViewCustomers),
            "the 360° view: profile, orders and totals, timeline, possible duplicates",
            get(customers::profile),
        ),
        route(
            Method::POST,
            "/customers/{id}/reveal",
            Access::Requires(RevealPersonalData),
            "show a customer's contact points unmasked (audited)",
            post(customers::reveal),
        ),
        route(
            Method::GET,
            "/customers/{id}/export",
            Access::Requires(ExportCustomers),
            "everything stored about one customer, as JSON (audited)",
            get(customers::export),
        ),
        route(
            Method::POST,
            "/customers/{id}/erase",
            Access::Requires(ErasePersonalData),
            "erase (anonymise) a customer's personal data on request",
            post(customers::erase),
        ),
        route(
            Method::POST,
            "/customers/{id}/orders",
            Access::Requires(ManageCustomers),
            "record an order for a customer",
            post(customers::add_order),
        ),
        route(
            Method::GET,
            "/tickets",
            Access::Requires(ViewTickets),
            "list tickets: queues (mine, team, unassigned), filters, sort, cursor",
            get(tickets::list),
        ),
        route(
            Method::POST,
            "/tickets",
            Access::Requires(ManageTickets),
            "open a ticket (any channel; priority from the matrix unless overridden with a reason; parent_id escalates out of another)",
            post(tickets::create),
        ),
        route(
            Method::POST,
            "/tickets/bulk",
            Access::Requires(ManageTickets),
            "one action on many tickets (assign, status, add tag, macro), each in its own transaction",
            post(tickets::bulk),
        ),
        route(
            Method::GET,
            "/tickets/{id}",
            Access::Requires(ViewTickets),
            "one ticket with its conversation and the timeline of changes",
            get(tickets::show),
        ),
        route(
            Method::PATCH,
            "/tickets/{id}",
            Access::Requires(ManageTickets),
            "change a ticket's properties (optimistic locking)",
            patch(tickets::update),
        ),
        route(
            Method::POST,
            "/tickets/{id}/status",
            Access::Requires(ManageTickets),
            "move a ticket along its lifecycle (reason; resolution to resolve or close)",
            post(tickets::change_status),
        ),
        route(
            Method::POST,
            "/tickets/{id}/messages",
            Access::Requires(ManageTickets),
            "add a public reply or an internal note (JSON, or multipart with files)",
            post(tickets::add_message).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        route(
            Method::GET,
            "/tickets/{id}/attachments",
            Access::Requires(ViewTickets),
            "the ticket's files (on messages and on the ticket), with sniffed type, size and SHA-256",
            get(tickets::attachment_list),
        ),
        route(
            Method::POST,
            "/tickets/{id}/attachments",
            Access::Requires(ManageTickets),
            "attach files to the ticket (multipart; a part named recording is a call recording); 413 over the size limit",
            post(tickets::attach).layer(axum::extract::DefaultBodyLimit::disable()),
        ),
        route(
            Method::GET,
            "/attachments/{id}",
            Access::Requires(ViewTickets),
            "a file's bytes: pictures and sound inline, everything else as a download, never run",
            get(tickets::download),
        ),
        route(
            Method::POST,
            "/tickets/{id}/plan",
            Access::Requires(ManageTickets),
            "add a step to the ticket's service plan (owner, due date)",
            post(tickets::add_plan_step),
        ),
        route(
            Method::PATCH,
            "/ticket-plan-steps/{id}",
            Access::Requires(ManageTickets),
            "change or check off a service plan step (optimistic locking)",
            patch(tickets::update_plan_step),
        ),
        route(
            Method::POST,
            "/tickets/{id}/links",
            Access::Requires(ManageTickets),
            "record another ticket as related",
            post(tickets::link),
        ),
        route(
            Method::POST,
            "/tickets/{id}/macro",
            Access::Requires(ManageTickets),
            "apply a macro: its message, field changes and status move in one transaction",
            post(tickets::apply_macro),
        ),
        route(
            Method::GET,
            "/macros",
            Access::Requires(ViewTickets),
            "canned replies and macros",
            get(tickets::macros),
        ),
        route(
            Method::POST,
            "/macros",
            Access::Requires(ManageMacros),
            "add a macro",
            post(tickets::create_macro),
        ),
        route(
            Method::PATCH,
            "/macros/{id}",
            Access::Requires(ManageMacros),
            "change a macro (optimistic locking)",
            patch(tickets::update_macro),
        ),
        route(
            Method::GET,
            "/notifications",
            Access::SignedIn,
            "the caller's newest notifications (mentions) and the unread count",
            get(tickets::notifications),
        ),
        route(
            Method::POST,
            "/notifications/read",
            Access::SignedIn,
            "mark the caller's notifications read",
            post(tickets::read_notifications),
        ),
        route(
            Method::GET,
            "/saved-views",
            Access::Requires(ViewTickets),
            "the caller's saved queue views",
            get(tickets::views),
        ),
        route(
            Method::POST,
            "/saved-views",
            Access::Requires(ViewTickets),
            "save the caller's queue filters under a name",
            post(tickets::save_view),
        ),
        route(
            Method::DELETE,
            "/saved-views/{id}",
            Access::Requires(ViewTickets),
            "delete one of the caller's saved views",
            delete(tickets::delete_view),
        ),
        route(
            Method::GET,
            "/events",
            Access::Requires(ViewTickets),
            "live ticket events (server-sent events: created, changed, replying)",
            get(tickets::events),
        ),
        route(
            Method::GET,
            "/search",
            Access::Requires(ViewTickets),
            "search tickets (subject, description, conversation; Chinese segmented, English stemmed; newest first) and customers",
            get(tickets::search),
        ),
        route(
            Method::GET,
            "/ticket-categories",
            Access::Requires(ViewTickets),
            "the ticket category tree",
            get(tickets::categories),
        ),
        route(
            Method::POST,
            "/ticket-categories",
            Access::Requires(ManageSettings),
            "add a ticket category",
            post(tickets::create_category),
        ),
        route(
            Method::PATCH,
            "/ticket-categories/{id}",
            Access::Requires(ManageSettings),
            "change a ticket category (optimistic locking; a rename moves its subtree)",
            patch(tickets::update_category),
        ),
        route(
            Method::GET,
            "/ticket-settings",
            Access::Requires(ViewTickets),
            "the priority matrix and the reopen window",
            get(tickets::settings),
        ),
        route(
            Method::PUT,
            "/ticket-settings",
            Access::Requires(ManageSettings),
            "save the priority matrix and the reopen window (optimistic locking)",
            put(tickets::save_settings),
        ),
        route(
            Method::GET,
            "/custom-fields",
            Access::Requires(ViewCustomers),
            "the customer record's custom fields",
            get(custom_fields::list),
        ),
        route(
            Method::POST,
            "/custom-fields",
            Access::Requires(ManageSettings),
            "add a custom field: text, number, date, select, multiselect",
            post(custom_fields::create),
        ),
        route(
            Method::PATCH,
            "/custom-fields/{id}",
            Access::Requires(ManageSettings),
            "change a custom field's labels, options, required flag or use (optimistic locking)",
            patch(custom_fields::update),
        ),
        route(
            Method::GET,
            "/organizations",
            Access::Requires(ViewCustomers),
            "list organizations",
            get(customers::list_organizations),
        ),
        route(
            Method::POST,
            "/organizations",
            Access::Requires(ManageCustomers),
            "create an organization",
            post(customers::create_organization),
        ),
        route(
            Method::GET,
            "/organizations/{id}",
            Access::Requires(ViewCustomers),
            "one organization",
            get(customers::show_organization),
        ),
        route(
            Method::PATCH,
            "/organizations/{id}",
            Access::Requires(ManageCustomers),
            "change an organization (optimistic locking)",
            patch(customers::update_organization),
        ),
        route(
            Method::GET,
            "/audit",
            Access::Requires(ViewAuditLog),
            "search the audit log",
            get(audit::search),
        ),
    ]
}

/// `?cursor=…&limit=…` on every list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200.
    pub limit: Option<i64>,
}

impl ListParams {
    fn page(&self) -> Result<kefu_app::page::PageRequest, kefu_app::AppError> {
        kefu_app::page::PageRequest::parse(self.cursor.as_deref(), self.limit)
    }
}
