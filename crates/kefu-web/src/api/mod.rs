//! The JSON API, `/api/v1`. One module per resource; every route is listed
//! in [`routes`] with its access rule.

mod agents;
mod audit;
mod automations;
mod calendars;
mod company;
mod custom_fields;
pub(crate) mod customers;
mod mail;
mod me;
mod routing;
mod sla;
mod teams;
mod tickets;
mod tokens;
pub(crate) use mail::eml;
mod webhooks;

use crate::access::{Access, Route};
use crate::openapi::{Answer, Body, reference};
use axum::http::Method;
use axum::routing::{delete, get, patch, post, put};
use kefu_app::page::Page;
use kefu_domain::Permission::*;
use serde::Deserialize;

/// The largest import file accepted (200,000 rows of a wide sheet).
pub const IMPORT_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Media types of the customer files import and export read and write.
const CSV: &str = "text/csv";
/// Media type of holiday calendars.
const ICALENDAR: &str = "text/calendar";
const EML: &str = "message/rfc822";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The text parts of a multipart message (files are any parts with a file name).
const MESSAGE_PARTS: &[(&str, &str)] = &[
    ("kind", "`reply` (public, the default) or `note` (internal)"),
    ("body", "the text; may be empty when files come"),
];

/// The named part of a multipart attachment upload.
const ATTACHMENT_PARTS: &[(&str, &str)] = &[(
    "recording",
    "a call recording (must really be sound); other parts with a file name are plain files",
)];

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
        doc: Default::default(),
    };
    vec![
        route(
            Method::GET,
            "/me",
            Access::SignedIn,
            "the caller's identity, role and permissions",
            get(me::show),
        )
        .returns::<me::Me>(),
        route(
            Method::PUT,
            "/me/status",
            Access::SignedIn,
            "set the caller's presence: online, away, offline",
            put(me::set_status),
        )
        .takes::<me::StatusInput>().returns::<kefu_store::agents::Agent>(),
        route(
            Method::GET,
            "/company",
            Access::Requires(ViewSettings),
            "company settings",
            get(company::show),
        )
        .returns::<kefu_store::company::Company>(),
        route(
            Method::GET,
            "/agents",
            Access::Requires(ViewDirectory),
            "list agents",
            get(agents::list),
        )
        .query::<ListParams>().returns::<Page<kefu_store::agents::Agent>>(),
        route(
            Method::POST,
            "/agents",
            Access::Requires(ManageAgents),
            "create an agent account",
            post(agents::create),
        )
        .takes::<kefu_app::directory::NewAgentInput>().creates::<kefu_store::agents::Agent>(),
        route(
            Method::GET,
            "/agents/{id}",
            Access::Requires(ViewDirectory),
            "one agent",
            get(agents::show),
        )
        .returns::<kefu_store::agents::Agent>(),
        route(
            Method::PATCH,
            "/agents/{id}",
            Access::Requires(ManageAgents),
            "change an agent account: role, active, names (optimistic locking)",
            patch(agents::update),
        )
        .takes::<kefu_app::directory::AgentChanges>().returns::<kefu_store::agents::Agent>(),
        route(
            Method::DELETE,
            "/agents/{id}/two-step",
            Access::Requires(ManageAgents),
            "switch an agent's two-step sign-in off (lost phone; audited)",
            delete(agents::reset_two_step),
        )
        .answers(Answer::NoContent),
        route(
            Method::GET,
            "/teams",
            Access::Requires(ViewDirectory),
            "list teams with members",
            get(teams::list),
        )
        .query::<ListParams>().returns::<Page<kefu_app::directory::TeamView>>(),
        route(
            Method::POST,
            "/teams",
            Access::Requires(ManageTeams),
            "create a team",
            post(teams::create),
        )
        .takes::<kefu_app::directory::NewTeam>().creates::<kefu_app::directory::TeamView>(),
        route(
            Method::GET,
            "/teams/{id}",
            Access::Requires(ViewDirectory),
            "one team",
            get(teams::show),
        )
        .returns::<kefu_app::directory::TeamView>(),
        route(
            Method::PATCH,
            "/teams/{id}",
            Access::Requires(ManageTeams),
            "change a team (optimistic locking)",
            patch(teams::update),
        )
        .takes::<kefu_app::directory::TeamChanges>().returns::<kefu_app::directory::TeamView>(),
        route(
            Method::GET,
            "/teams/{id}/history",
            Access::Requires(ViewAuditLog),
            "a team's audit history",
            get(teams::history),
        )
        .returns::<Vec<kefu_store::audit::Record>>(),
        route(
            Method::GET,
            "/api-tokens",
            Access::Requires(ManageApiTokens),
            "list API tokens (never their secrets)",
            get(tokens::list),
        )
        .returns::<Vec<kefu_store::tokens::ApiToken>>(),
        route(
            Method::POST,
            "/api-tokens",
            Access::Requires(ManageApiTokens),
            "issue an API token (shown once)",
            post(tokens::create),
        )
        .takes::<kefu_app::auth::NewTokenInput>().creates::<kefu_app::auth::IssuedToken>(),
        route(
            Method::DELETE,
            "/api-tokens/{id}",
            Access::Requires(ManageApiTokens),
            "revoke an API token",
            delete(tokens::revoke),
        )
        .returns::<kefu_store::tokens::ApiToken>(),
        route(
            Method::GET,
            "/customers",
            Access::Requires(ViewCustomers),
            "list and search customers (name, partial phone, email, organization, tag, classification)",
            get(customers::list),
        )
        .query::<kefu_app::customers::CustomerQuery>().returns::<Page<kefu_app::customers::CustomerSummary>>(),
        route(
            Method::POST,
            "/customers",
            Access::Requires(ManageCustomers),
            "create a customer with contact points and tags",
            post(customers::create),
        )
        .takes::<kefu_app::customers::NewCustomer>().creates::<kefu_app::customers::CustomerView>(),
        route(
            Method::GET,
            "/customers/lookup",
            Access::Requires(ViewCustomers),
            "the one customer holding a phone, email, WeChat id or external id",
            get(customers::lookup),
        )
        .query::<customers::LookupParams>().returns::<kefu_app::customers::CustomerView>(),
        route(
            Method::POST,
            "/customers/import",
            Access::Requires(ImportCustomers),
            "import customers from a CSV or XLSX body: dry run, or all rows in one transaction (updates by external_id)",
            post(customers::import).layer(axum::extract::DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
        .query::<customers::ImportParams>().body(Body::File(&[CSV, XLSX])).returns::<kefu_app::import::ImportReport>(),
        route(
            Method::GET,
            "/customers/export",
            Access::Requires(ExportCustomers),
            "the filtered customer list as CSV or XLSX (audited)",
            get(customers::export_list),
        )
        .query::<kefu_app::customers::CustomerQuery>().answers(Answer::File(&[CSV, XLSX])),
        route(
            Method::GET,
            "/customers/duplicates",
            Access::Requires(MergeCustomers),
            "possible duplicates: customers sharing a phone or email, or a name in one organization",
            get(customers::duplicates),
        )
        .returns::<Vec<kefu_app::customers::DuplicateGroupView>>(),
        route(
            Method::POST,
            "/customers/merge",
            Access::Requires(MergeCustomers),
            "merge a duplicate into a survivor (contact points, tags, orders move; audited)",
            post(customers::merge),
        )
        .takes::<kefu_app::customers::MergeInput>().returns::<kefu_app::customers::CustomerView>(),
        route(
            Method::GET,
            "/customers/{id}",
            Access::Requires(ViewCustomers),
            "one customer (contact points masked without the personal-data permission)",
            get(customers::show),
        )
        .returns::<kefu_app::customers::CustomerView>(),
        route(
            Method::PATCH,
            "/customers/{id}",
            Access::Requires(ManageCustomers),
            "change a customer (optimistic locking)",
            patch(customers::update),
        )
        .takes::<kefu_app::customers::CustomerChanges>().returns::<kefu_app::customers::CustomerView>(),
        route(
            Method::GET,
            "/customers/{id}/profile",
            Access::Requires(ViewCustomers),
            "the 360° view: profile, orders and totals, timeline, possible duplicates",
            get(customers::profile),
        )
        .returns::<kefu_app::customers::CustomerProfile>(),
        route(
            Method::POST,
            "/customers/{id}/reveal",
            Access::Requires(RevealPersonalData),
            "show a customer's contact points unmasked (audited)",
            post(customers::reveal),
        )
        .body(Body::Empty).returns::<Vec<kefu_app::customers::ContactView>>(),
        route(
            Method::GET,
            "/customers/{id}/export",
            Access::Requires(ExportCustomers),
            "everything stored about one customer, as JSON (audited)",
            get(customers::export),
        )
        .returns::<serde_json::Value>(),
        route(
            Method::POST,
            "/customers/{id}/erase",
            Access::Requires(ErasePersonalData),
            "erase (anonymise) a customer's personal data on request",
            post(customers::erase),
        )
        .takes::<customers::VersionBody>().returns::<kefu_app::customers::CustomerView>(),
        route(
            Method::POST,
            "/customers/{id}/orders",
            Access::Requires(ManageCustomers),
            "record an order for a customer",
            post(customers::add_order),
        )
        .takes::<kefu_app::customers::OrderInput>().creates::<kefu_store::orders::Order>(),
        route(
            Method::GET,
            "/tickets",
            Access::Requires(ViewTickets),
            "list tickets: queues (mine, team, unassigned), filters, sort, cursor",
            get(tickets::list),
        )
        .query::<kefu_app::tickets::TicketQuery>().returns::<kefu_app::tickets::TicketPage>(),
        route(
            Method::POST,
            "/tickets",
            Access::Requires(ManageTickets),
            "open a ticket (any channel; priority from the matrix unless overridden with a reason; parent_id escalates out of another)",
            post(tickets::create),
        )
        .takes::<kefu_app::tickets::NewTicket>().creates::<kefu_app::tickets::TicketView>(),
        route(
            Method::POST,
            "/tickets/bulk",
            Access::Requires(ManageTickets),
            "one action on many tickets (assign, status, add tag, macro), each in its own transaction",
            post(tickets::bulk),
        )
        .takes::<kefu_app::macros::BulkAction>().returns::<Vec<kefu_app::macros::BulkResult>>(),
        route(
            Method::GET,
            "/tickets/{id}",
            Access::Requires(ViewTickets),
            "one ticket with its conversation and the timeline of changes",
            get(tickets::show),
        )
        .returns::<kefu_app::tickets::TicketDetail>(),
        route(
            Method::PATCH,
            "/tickets/{id}",
            Access::Requires(ManageTickets),
            "change a ticket's properties (optimistic locking)",
            patch(tickets::update),
        )
        .takes::<kefu_app::tickets::TicketChanges>().returns::<kefu_app::tickets::TicketView>(),
        route(
            Method::POST,
            "/tickets/{id}/status",
            Access::Requires(ManageTickets),
            "move a ticket along its lifecycle (reason; resolution to resolve or close)",
            post(tickets::change_status),
        )
        .takes::<kefu_app::tickets::StatusChange>().returns::<kefu_app::tickets::TicketView>(),
        route(
            Method::POST,
            "/tickets/{id}/messages",
            Access::Requires(ManageTickets),
            "add a public reply or an internal note (JSON, or multipart with files)",
            post(tickets::add_message).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .body(Body::JsonOrMultipart(reference::<kefu_app::tickets::MessageInput>, MESSAGE_PARTS)).creates::<kefu_app::tickets::MessageView>(),
        route(
            Method::GET,
            "/tickets/{id}/attachments",
            Access::Requires(ViewTickets),
            "the ticket's files (on messages and on the ticket), with sniffed type, size and SHA-256",
            get(tickets::attachment_list),
        )
        .returns::<Vec<kefu_store::attachments::Attachment>>(),
        route(
            Method::POST,
            "/tickets/{id}/attachments",
            Access::Requires(ManageTickets),
            "attach files to the ticket (multipart; a part named recording is a call recording); 413 over the size limit",
            post(tickets::attach).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .body(Body::Multipart(ATTACHMENT_PARTS)).creates::<Vec<kefu_store::attachments::Attachment>>(),
        route(
            Method::GET,
            "/attachments/{id}",
            Access::Requires(ViewTickets),
            "a file's bytes: pictures and sound inline, everything else as a download, never run",
            get(tickets::download),
        )
        .answers(Answer::File(&["application/octet-stream"])),
        route(
            Method::POST,
            "/tickets/{id}/plan",
            Access::Requires(ManageTickets),
            "add a step to the ticket's service plan (owner, due date)",
            post(tickets::add_plan_step),
        )
        .takes::<kefu_app::tickets::PlanStepInput>().creates::<kefu_store::tickets::PlanStep>(),
        route(
            Method::PATCH,
            "/ticket-plan-steps/{id}",
            Access::Requires(ManageTickets),
            "change or check off a service plan step (optimistic locking)",
            patch(tickets::update_plan_step),
        )
        .takes::<kefu_app::tickets::PlanStepChanges>().returns::<kefu_store::tickets::PlanStep>(),
        route(
            Method::POST,
            "/tickets/{id}/links",
            Access::Requires(ManageTickets),
            "record another ticket as related",
            post(tickets::link),
        )
        .takes::<tickets::LinkBody>().returns::<kefu_app::tickets::TicketView>(),
        route(
            Method::POST,
            "/tickets/{id}/macro",
            Access::Requires(ManageTickets),
            "apply a macro: its message, field changes and status move in one transaction",
            post(tickets::apply_macro),
        )
        .takes::<kefu_app::macros::ApplyMacro>().returns::<kefu_app::tickets::TicketView>(),
        route(
            Method::GET,
            "/macros",
            Access::Requires(ViewTickets),
            "canned replies and macros",
            get(tickets::macros),
        )
        .returns::<Vec<kefu_store::macros::Macro>>(),
        route(
            Method::POST,
            "/macros",
            Access::Requires(ManageMacros),
            "add a macro",
            post(tickets::create_macro),
        )
        .takes::<kefu_app::macros::MacroInput>().creates::<kefu_store::macros::Macro>(),
        route(
            Method::PATCH,
            "/macros/{id}",
            Access::Requires(ManageMacros),
            "change a macro (optimistic locking)",
            patch(tickets::update_macro),
        )
        .takes::<kefu_app::macros::MacroInput>().returns::<kefu_store::macros::Macro>(),
        route(
            Method::GET,
            "/calendars",
            Access::Requires(ViewSettings),
            "business calendars with their holidays and make-up working days",
            get(calendars::list),
        )
        .returns::<Vec<kefu_app::calendars::CalendarView>>(),
        route(
            Method::POST,
            "/calendars",
            Access::Requires(ManageServiceStandards),
            "add a business calendar: hours per weekday, time zone, dated days",
            post(calendars::create),
        )
        .takes::<kefu_app::calendars::CalendarInput>().creates::<kefu_app::calendars::CalendarView>(),
        route(
            Method::GET,
            "/calendars/{id}",
            Access::Requires(ViewSettings),
            "one business calendar",
            get(calendars::get_one),
        )
        .returns::<kefu_app::calendars::CalendarView>(),
        route(
            Method::PATCH,
            "/calendars/{id}",
            Access::Requires(ManageServiceStandards),
            "change a business calendar (optimistic locking); `days` replaces its dated days when given",
            patch(calendars::update),
        )
        .takes::<kefu_app::calendars::CalendarInput>().returns::<kefu_app::calendars::CalendarView>(),
        route(
            Method::DELETE,
            "/calendars/{id}",
            Access::Requires(ManageServiceStandards),
            "delete a business calendar",
            delete(calendars::remove),
        )
        .answers(Answer::NoContent),
        route(
            Method::POST,
            "/calendars/{id}/days/import",
            Access::Requires(ManageServiceStandards),
            "add holidays and make-up working days from an iCalendar or CSV (date,kind,name) body; every error names its line",
            post(calendars::import_days),
        )
        .query::<calendars::ImportDaysParams>().body(Body::File(&[ICALENDAR, CSV])).returns::<kefu_app::calendars::CalendarView>(),
        route(
            Method::GET,
            "/calendars/{id}/due",
            Access::Requires(ViewSettings),
            "when a number of working minutes after an instant have passed on this calendar",
            get(calendars::due),
        )
        .query::<calendars::DueParams>().returns::<kefu_app::calendars::DueAnswer>(),
        route(
            Method::GET,
            "/sla-policies",
            Access::Requires(ViewSettings),
            "SLA policies in the order they are tried; the first whose conditions hold applies",
            get(sla::list),
        )
        .returns::<Vec<kefu_store::sla::Policy>>(),
        route(
            Method::POST,
            "/sla-policies",
            Access::Requires(ManageServiceStandards),
            "add an SLA policy: conditions, targets in working minutes, calendar; open tickets are re-evaluated",
            post(sla::create),
        )
        .takes::<kefu_app::sla::PolicyInput>().creates::<kefu_store::sla::Policy>(),
        route(
            Method::PATCH,
            "/sla-policies/{id}",
            Access::Requires(ManageServiceStandards),
            "change an SLA policy (optimistic locking); open tickets are re-evaluated",
            patch(sla::update),
        )
        .takes::<kefu_app::sla::PolicyInput>().returns::<kefu_store::sla::Policy>(),
        route(
            Method::DELETE,
            "/sla-policies/{id}",
            Access::Requires(ManageServiceStandards),
            "delete an SLA policy; open tickets fall under the next that matches",
            delete(sla::remove),
        )
        .answers(Answer::NoContent),
        route(
            Method::GET,
            "/routing",
            Access::Requires(ViewSettings),
            "routing: each team's strategy, each agent's capacity, skills and open tickets, and the routing rules",
            get(routing::overview),
        )
        .returns::<kefu_app::routing::RoutingOverview>(),
        route(
            Method::PUT,
            "/routing/teams/{id}",
            Access::Requires(ManageServiceStandards),
            "set how a team hands out tickets: manual, round_robin, least_loaded or skills",
            put(routing::set_team),
        )
        .takes::<kefu_app::routing::TeamStrategyInput>().returns::<kefu_app::routing::TeamRoutingView>(),
        route(
            Method::PUT,
            "/routing/agents/{id}",
            Access::Requires(ManageServiceStandards),
            "set an agent's capacity (most open tickets) and skills",
            put(routing::set_agent),
        )
        .takes::<kefu_app::routing::AgentRoutingInput>().returns::<kefu_app::routing::AgentRoutingView>(),
        route(
            Method::GET,
            "/routing-rules",
            Access::Requires(ViewSettings),
            "rules that send tickets without a team to a team (VIP, complaints), in the order they are tried",
            get(routing::rules),
        )
        .returns::<Vec<kefu_store::routing::RoutingRule>>(),
        route(
            Method::POST,
            "/routing-rules",
            Access::Requires(ManageServiceStandards),
            "add a routing rule: conditions and the team",
            post(routing::create_rule),
        )
        .takes::<kefu_app::routing::RuleInput>().creates::<kefu_store::routing::RoutingRule>(),
        route(
            Method::PATCH,
            "/routing-rules/{id}",
            Access::Requires(ManageServiceStandards),
            "change a routing rule (optimistic locking)",
            patch(routing::update_rule),
        )
        .takes::<kefu_app::routing::RuleInput>().returns::<kefu_store::routing::RoutingRule>(),
        route(
            Method::DELETE,
            "/routing-rules/{id}",
            Access::Requires(ManageServiceStandards),
            "delete a routing rule",
            delete(routing::delete_rule),
        )
        .answers(Answer::NoContent),
        route(
            Method::GET,
            "/automations",
            Access::Requires(ViewSettings),
            "automation rules in order: event, conditions, actions, how often each fired",
            get(automations::list),
        )
        .returns::<Vec<kefu_store::automations::Automation>>(),
        route(
            Method::POST,
            "/automations",
            Access::Requires(ManageServiceStandards),
            "add an automation rule; unknown fields, operators, actions or values of the wrong type are refused by name",
            post(automations::create),
        )
        .takes::<kefu_app::automations::AutomationInput>().creates::<kefu_store::automations::Automation>(),
        route(
            Method::PATCH,
            "/automations/{id}",
            Access::Requires(ManageServiceStandards),
            "change an automation rule (optimistic locking); `active: false` switches it off",
            patch(automations::update),
        )
        .takes::<kefu_app::automations::AutomationInput>().returns::<kefu_store::automations::Automation>(),
        route(
            Method::DELETE,
            "/automations/{id}",
            Access::Requires(ManageServiceStandards),
            "delete an automation rule",
            delete(automations::remove),
        )
        .answers(Answer::NoContent),
        route(
            Method::POST,
            "/automations/{id}/test",
            Access::Requires(ViewSettings),
            "try a rule against a sample ticket: each condition's verdict and the actions that would run; nothing changes",
            post(automations::test),
        )
        .takes::<automations::TestInput>().returns::<kefu_app::automations::TestResult>(),
        route(
            Method::POST,
            "/mail/inbound",
            Access::MailboxToken,
            "receive one raw email (RFC 5322) for the mailbox whose token is the bearer token: a new ticket, a reply on one, or a record; the same Message-ID twice is received once",
            post(mail::inbound).layer(axum::extract::DefaultBodyLimit::max(mail::INBOUND_LIMIT)),
        )
        .body(Body::File(&[EML])).returns::<kefu_app::mail::Receipt>(),
        route(
            Method::GET,
            "/mailboxes",
            Access::Requires(ManageIntegrations),
            "support mailboxes: address, defaults for new tickets, IMAP settings (never the password), last error",
            get(mail::list),
        )
        .returns::<Vec<kefu_store::mail::Mailbox>>(),
        route(
            Method::POST,
            "/mailboxes",
            Access::Requires(ManageIntegrations),
            "add a mailbox; the answer carries the token for /mail/inbound, shown once",
            post(mail::create),
        )
        .takes::<kefu_app::mail::MailboxInput>().creates::<kefu_app::mail::MailboxWithToken>(),
        route(
            Method::GET,
            "/mailboxes/{id}",
            Access::Requires(ManageIntegrations),
            "one mailbox",
            get(mail::get_one),
        )
        .returns::<kefu_store::mail::Mailbox>(),
        route(
            Method::PUT,
            "/mailboxes/{id}",
            Access::Requires(ManageIntegrations),
            "change a mailbox (optimistic locking); an omitted IMAP password is kept",
            put(mail::update),
        )
        .takes::<kefu_app::mail::MailboxInput>().returns::<kefu_store::mail::Mailbox>(),
        route(
            Method::DELETE,
            "/mailboxes/{id}",
            Access::Requires(ManageIntegrations),
            "delete a mailbox; its mail stays on the tickets",
            delete(mail::remove),
        )
        .answers(Answer::NoContent),
        route(
            Method::POST,
            "/mailboxes/{id}/token",
            Access::Requires(ManageIntegrations),
            "give a mailbox a new token for /mail/inbound; the old one stops working",
            post(mail::renew_token),
        )
        .body(Body::Empty).returns::<kefu_app::mail::MailboxWithToken>(),
        route(
            Method::POST,
            "/mailboxes/{id}/test",
            Access::Requires(ManageIntegrations),
            "sign in to the mailbox's IMAP server and greet its SMTP server, taking and sending nothing",
            post(mail::test),
        )
        .body(Body::Empty).returns::<kefu_app::mail::ConnectionTest>(),
        route(
            Method::POST,
            "/mailboxes/{id}/check",
            Access::Requires(ManageIntegrations),
            "read the mailbox's IMAP server now: every unread message is taken in, then marked read",
            post(mail::check),
        )
        .body(Body::Empty).returns::<kefu_app::imap::PassReport>(),
        route(
            Method::GET,
            "/mail-quarantine",
            Access::Requires(ManageIntegrations),
            "messages held back, newest first, with the reason (unreadable, sender over the rate)",
            get(mail::quarantine),
        )
        .returns::<Vec<kefu_store::mail::Quarantined>>(),
        route(
            Method::GET,
            "/mail-quarantine/{id}/source",
            Access::Requires(ManageIntegrations),
            "a held-back message's raw source, as a download",
            get(mail::quarantined_source),
        )
        .answers(Answer::File(&["application/octet-stream"])),
        route(
            Method::POST,
            "/mail-quarantine/{id}/retry",
            Access::Requires(ManageIntegrations),
            "take a held-back message in again",
            post(mail::retry),
        )
        .body(Body::Empty).returns::<kefu_app::mail::Receipt>(),
        route(
            Method::DELETE,
            "/mail-quarantine/{id}",
            Access::Requires(ManageIntegrations),
            "delete a held-back message (its raw source stays in the file store)",
            delete(mail::discard),
        )
        .answers(Answer::NoContent),
        route(
            Method::GET,
            "/tickets/{id}/mail",
            Access::Requires(ViewTickets),
            "the ticket's email, oldest first: sender, recipients and copies, subject, thread ids, what became of each",
            get(mail::ticket_mail),
        )
        .returns::<Vec<kefu_store::mail::MailMessage>>(),
        route(
            Method::GET,
            "/mail/{id}/source",
            Access::Requires(ViewTickets),
            "one email's raw source as received (evidence), as a download",
            get(mail::source),
        )
        .answers(Answer::File(&["application/octet-stream"])),
        route(
            Method::GET,
            "/webhooks",
            Access::Requires(ManageIntegrations),
            "outgoing webhooks with their signing secrets",
            get(webhooks::list),
        )
        .returns::<Vec<kefu_app::webhooks::WebhookView>>(),
        route(
            Method::POST,
            "/webhooks",
            Access::Requires(ManageIntegrations),
            "add a webhook: a URL and the events it receives; the answer carries its signing secret",
            post(webhooks::create),
        )
        .takes::<kefu_app::webhooks::WebhookInput>().creates::<kefu_app::webhooks::WebhookView>(),
        route(
            Method::GET,
            "/webhooks/{id}",
            Access::Requires(ManageIntegrations),
            "one webhook",
            get(webhooks::get_one),
        )
        .returns::<kefu_app::webhooks::WebhookView>(),
        route(
            Method::PATCH,
            "/webhooks/{id}",
            Access::Requires(ManageIntegrations),
            "change a webhook (optimistic locking); `rotate_secret` makes a new secret",
            patch(webhooks::update),
        )
        .takes::<kefu_app::webhooks::WebhookInput>().returns::<kefu_app::webhooks::WebhookView>(),
        route(
            Method::DELETE,
            "/webhooks/{id}",
            Access::Requires(ManageIntegrations),
            "delete a webhook and its delivery log",
            delete(webhooks::remove),
        )
        .answers(Answer::NoContent),
        route(
            Method::GET,
            "/webhooks/{id}/deliveries",
            Access::Requires(ManageIntegrations),
            "a webhook's delivery log, newest first: event, state, attempts, the last answer's status and body",
            get(webhooks::deliveries),
        )
        .query::<webhooks::LogParams>().returns::<Vec<kefu_store::webhooks::Delivery>>(),
        route(
            Method::POST,
            "/webhooks/{id}/ping",
            Access::Requires(ManageIntegrations),
            "send a test `ping` event to a webhook",
            post(webhooks::ping),
        )
        .body(Body::Empty).queues::<kefu_store::webhooks::Delivery>(),
        route(
            Method::POST,
            "/webhook-deliveries/{id}/redeliver",
            Access::Requires(ManageIntegrations),
            "send a delivery again, whatever became of it",
            post(webhooks::redeliver),
        )
        .body(Body::Empty).queues::<kefu_store::webhooks::Delivery>(),
        route(
            Method::GET,
            "/notifications",
            Access::SignedIn,
            "the caller's newest notifications (mentions) and the unread count",
            get(tickets::notifications),
        )
        .returns::<tickets::Notifications>(),
        route(
            Method::POST,
            "/notifications/read",
            Access::SignedIn,
            "mark the caller's notifications read",
            post(tickets::read_notifications),
        )
        .body(Body::Empty).answers(Answer::NoContent),
        route(
            Method::GET,
            "/saved-views",
            Access::Requires(ViewTickets),
            "the caller's saved queue views",
            get(tickets::views),
        )
        .returns::<Vec<kefu_store::tickets::SavedView>>(),
        route(
            Method::POST,
            "/saved-views",
            Access::Requires(ViewTickets),
            "save the caller's queue filters under a name",
            post(tickets::save_view),
        )
        .takes::<tickets::ViewBody>().creates::<kefu_store::tickets::SavedView>(),
        route(
            Method::DELETE,
            "/saved-views/{id}",
            Access::Requires(ViewTickets),
            "delete one of the caller's saved views",
            delete(tickets::delete_view),
        )
        .answers(Answer::NoContent),
        route(
            Method::GET,
            "/events",
            Access::Requires(ViewTickets),
            "live ticket events (server-sent events: created, changed, replying)",
            get(tickets::events),
        )
        .query::<tickets::EventParams>().answers(Answer::Events),
        route(
            Method::GET,
            "/search",
            Access::Requires(ViewTickets),
            "search tickets (subject, description, conversation; Chinese segmented, English stemmed; newest first) and customers",
            get(tickets::search),
        )
        .query::<tickets::SearchParams>().returns::<kefu_app::tickets::SearchResults>(),
        route(
            Method::GET,
            "/ticket-categories",
            Access::Requires(ViewTickets),
            "the ticket category tree",
            get(tickets::categories),
        )
        .returns::<Vec<kefu_store::tickets::Category>>(),
        route(
            Method::POST,
            "/ticket-categories",
            Access::Requires(ManageSettings),
            "add a ticket category",
            post(tickets::create_category),
        )
        .takes::<kefu_app::tickets::CategoryInput>().creates::<kefu_store::tickets::Category>(),
        route(
            Method::PATCH,
            "/ticket-categories/{id}",
            Access::Requires(ManageSettings),
            "change a ticket category (optimistic locking; a rename moves its subtree)",
            patch(tickets::update_category),
        )
        .takes::<kefu_app::tickets::CategoryInput>().returns::<kefu_store::tickets::Category>(),
        route(
            Method::GET,
            "/ticket-settings",
            Access::Requires(ViewTickets),
            "the priority matrix and the reopen window",
            get(tickets::settings),
        )
        .returns::<kefu_app::tickets::SettingsInput>(),
        route(
            Method::PUT,
            "/ticket-settings",
            Access::Requires(ManageSettings),
            "save the priority matrix and the reopen window (optimistic locking)",
            put(tickets::save_settings),
        )
        .takes::<kefu_app::tickets::SettingsInput>().returns::<kefu_app::tickets::SettingsInput>(),
        route(
            Method::GET,
            "/custom-fields",
            Access::Requires(ViewCustomers),
            "custom fields of customer records and tickets (`applies_to` picks one kind)",
            get(custom_fields::list),
        )
        .query::<custom_fields::FieldParams>()
        .returns::<Vec<kefu_store::custom_fields::CustomField>>(),
        route(
            Method::POST,
            "/custom-fields",
            Access::Requires(ManageSettings),
            "add a custom field to customer records or tickets: text, number, date, select, multiselect",
            post(custom_fields::create),
        )
        .takes::<kefu_app::custom_fields::FieldInput>().creates::<kefu_store::custom_fields::CustomField>(),
        route(
            Method::PATCH,
            "/custom-fields/{id}",
            Access::Requires(ManageSettings),
            "change a custom field's labels, options, required flag or use (optimistic locking)",
            patch(custom_fields::update),
        )
        .takes::<kefu_app::custom_fields::FieldInput>().returns::<kefu_store::custom_fields::CustomField>(),
        route(
            Method::GET,
            "/organizations",
            Access::Requires(ViewCustomers),
            "list organizations",
            get(customers::list_organizations),
        )
        .query::<customers::OrganizationParams>().returns::<Page<kefu_app::customers::OrganizationView>>(),
        route(
            Method::POST,
            "/organizations",
            Access::Requires(ManageCustomers),
            "create an organization",
            post(customers::create_organization),
        )
        .takes::<kefu_app::customers::OrganizationInput>().creates::<kefu_store::organizations::Organization>(),
        route(
            Method::GET,
            "/organizations/{id}",
            Access::Requires(ViewCustomers),
            "one organization",
            get(customers::show_organization),
        )
        .returns::<kefu_app::customers::OrganizationView>(),
        route(
            Method::PATCH,
            "/organizations/{id}",
            Access::Requires(ManageCustomers),
            "change an organization (optimistic locking)",
            patch(customers::update_organization),
        )
        .takes::<kefu_app::customers::OrganizationInput>().returns::<kefu_store::organizations::Organization>(),
        route(
            Method::GET,
            "/audit",
            Access::Requires(ViewAuditLog),
            "search the audit log",
            get(audit::search),
        )
        .query::<kefu_app::audit::AuditQuery>().returns::<Page<kefu_store::audit::Record>>(),
    ]
}

/// `?cursor=…&limit=…` on every list.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
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
