//! `/portal`: the customer portal. Customers sign in with a link mailed
//! to them, list their requests, open new ones with files, reply and
//! close. Every handler works through `kefu_app::portal`, which answers
//! 404 for any ticket that is not the signed-in customer's.

use super::form::FormState;
use super::{Fields, PageContext, field, format_time, render};
use crate::AppState;
use crate::i18n::Locale;
use crate::ui::cookies;
use crate::upload;
use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use kefu_app::AppError;
use kefu_app::portal::{self, PortalCustomer, PortalTicket};
use kefu_app::tickets::MessageInput;
use kefu_domain::ticket::Status;
use kefu_store::attachments::Attachment;

/// The signed-in customer and the page language, left by the access layer.
#[derive(Debug, Clone)]
pub struct PortalContext {
    /// The customer.
    pub me: PortalCustomer,
    /// The language pages are shown in (the customer's).
    pub locale: Locale,
}

impl<S: Send + Sync> FromRequestParts<S> for PortalContext {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<PortalContext>()
            .cloned()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// Shared by every portal page: language, stylesheet, who is signed in.
struct Head {
    locale: Locale,
    css_path: &'static str,
    csrf: String,
    customer_name: Option<String>,
}

impl Head {
    fn of(context: &PortalContext) -> Head {
        Head {
            locale: context.locale,
            css_path: crate::assets::css_path(),
            csrf: context.me.csrf_token.clone(),
            customer_name: Some(context.me.name.clone()),
        }
    }

    fn signed_out(context: &PageContext) -> Head {
        Head {
            locale: context.locale,
            css_path: crate::assets::css_path(),
            csrf: context.csrf.clone(),
            customer_name: None,
        }
    }
}

macro_rules! portal_page {
    ($name:ident, $path:literal, { $($field:ident: $ty:ty),* $(,)? }) => {
        #[derive(Template)]
        #[template(path = $path)]
        struct $name {
            head: Head,
            $($field: $ty),*
        }

        impl $name {
            fn t(&self, key: &str) -> &'static str {
                self.head.locale.t(key)
            }
        }
    };
}

portal_page!(LoginPage, "portal_login.html", { mode: &'static str, action: String, email: String, error: Option<String> });
portal_page!(HomePage, "portal_home.html", { rows: Vec<Row>, shared: bool });
portal_page!(NewPage, "portal_new.html", { form: FormState });
portal_page!(TicketPage, "portal_ticket.html", {
    detail: PortalTicket,
    status_key: String,
    created: String,
    ticket_files: Vec<Attachment>,
    open: bool,
    reopens: bool,
    form: FormState,
});

/// One request in the customer's list.
struct Row {
    id: i64,
    number: String,
    subject: String,
    status: &'static str,
    status_key: String,
    updated: String,
    /// Who made the request (shown when the organization shares them).
    requester: String,
}

fn zone() -> &'static str {
    "Asia/Shanghai"
}

fn login_page(
    context: &PageContext,
    mode: &'static str,
    action: String,
    email: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let page = LoginPage {
        head: Head::signed_out(context),
        mode,
        action,
        email,
        error,
    };
    (status, render(&page)).into_response()
}

/// A sign-in page with nothing to fill in again: `sent`, `expired`, or an empty `ask`.
fn plain_login_page(context: &PageContext, mode: &'static str, status: StatusCode) -> Response {
    login_page(context, mode, String::new(), String::new(), None, status)
}

/// `GET /portal/login`: ask for the email address.
pub async fn login_form(context: PageContext) -> Response {
    plain_login_page(&context, "ask", StatusCode::OK)
}

/// `POST /portal/login`: mail a sign-in link (the answer never says
/// whether the address is known).
pub async fn request_link(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let email = field(&fields, "email").trim().to_owned();
    match portal::request_link(&state.app, &email, &state.public_url).await {
        Ok(()) => plain_login_page(&context, "sent", StatusCode::OK),
        Err(AppError::RateLimited) => {
            let text = context.locale.t("web_form.too_many").to_owned();
            login_page(
                &context,
                "ask",
                String::new(),
                email,
                Some(text),
                StatusCode::TOO_MANY_REQUESTS,
            )
        }
        Err(AppError::Validation { reason, .. }) => {
            let text = context.locale.reason(&reason);
            login_page(
                &context,
                "ask",
                String::new(),
                email,
                Some(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        Err(e) => super::failure(&context, e),
    }
}

/// `GET /portal/login/{token}`: a button to use the link (mail scanners
/// that open links must not use them up).
pub async fn link_form(
    State(state): State<AppState>,
    context: PageContext,
    Path(token): Path<String>,
) -> Response {
    match portal::link_is_usable(&state.app, &token).await {
        Ok(true) => login_page(
            &context,
            "confirm",
            format!("/portal/login/{token}"),
            String::new(),
            None,
            StatusCode::OK,
        ),
        Ok(false) => plain_login_page(&context, "expired", StatusCode::NOT_FOUND),
        Err(e) => super::failure(&context, e),
    }
}

/// `POST /portal/login/{token}`: uses the link and opens the portal.
pub async fn use_link(
    State(state): State<AppState>,
    context: PageContext,
    Path(token): Path<String>,
) -> Response {
    match portal::sign_in(&state.app, &token).await {
        Ok(session) => {
            let cookie = cookies::set(
                cookies::PORTAL,
                &session,
                kefu_domain::signin::SESSION_MAX_AGE.num_seconds(),
                state.secure_cookies(),
            );
            (
                AppendHeaders([(header::SET_COOKIE, cookie)]),
                Redirect::to("/portal"),
            )
                .into_response()
        }
        Err(AppError::Unauthenticated) => {
            plain_login_page(&context, "expired", StatusCode::NOT_FOUND)
        }
        Err(e) => super::failure(&context, e),
    }
}

/// `POST /portal/logout`.
pub async fn logout(State(state): State<AppState>, context: PortalContext) -> Response {
    if let Err(e) = portal::sign_out(&state.app, &context.me).await {
        tracing::error!(error = %e, "portal sign-out failed");
    }
    let cookie = cookies::set(cookies::PORTAL, "", 0, state.secure_cookies());
    (
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        Redirect::to("/portal/login"),
    )
        .into_response()
}

fn failed(context: &PortalContext, error: AppError) -> Response {
    let page = PageContext {
        locale: context.locale,
        csrf: context.me.csrf_token.clone(),
        path: String::new(),
        signed_in: None,
    };
    super::failure(&page, error)
}

/// `GET /portal`: the customer's requests.
pub async fn home(State(state): State<AppState>, context: PortalContext) -> Response {
    let list = match portal::my_tickets(&state.app, &context.me).await {
        Ok(l) => l,
        Err(e) => return failed(&context, e),
    };
    let rows = list
        .iter()
        .map(|t| Row {
            id: t.id,
            number: t.number.clone(),
            subject: t.subject.clone(),
            status: t.status.as_str(),
            status_key: format!("ticket_status.{}", t.status.as_str()),
            updated: format_time(context.locale, zone(), t.updated_at),
            requester: t
                .customer
                .as_ref()
                .map(|c| c.name.clone())
                .unwrap_or_default(),
        })
        .collect();
    let page = HomePage {
        head: Head::of(&context),
        rows,
        shared: context.me.shared_organization.is_some(),
    };
    render(&page)
}

fn new_page(context: &PortalContext, form: FormState, status: StatusCode) -> Response {
    let page = NewPage {
        head: Head::of(context),
        form,
    };
    (status, render(&page)).into_response()
}

/// `GET /portal/new`.
pub async fn new_form(context: PortalContext) -> Response {
    new_page(&context, FormState::default(), StatusCode::OK)
}

fn status_of(error: &AppError) -> StatusCode {
    match error {
        AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// `POST /portal/tickets`: a new request with files.
pub async fn create(
    State(state): State<AppState>,
    context: PortalContext,
    request: Request,
) -> Response {
    let (fields, files) = match upload::fields_and_files(&state, request).await {
        Ok(r) => r,
        Err(error) => {
            let status = status_of(&error);
            let mut form = FormState::default();
            return match form.absorb(context.locale, error) {
                Ok(()) => new_page(&context, form, status),
                Err(other) => failed(&context, other),
            };
        }
    };
    let mut form = FormState::from_submitted(&fields);
    match portal::submit(
        &state.app,
        &context.me,
        field(&fields, "subject"),
        field(&fields, "description"),
        files,
    )
    .await
    {
        Ok(id) => Redirect::to(&format!("/portal/tickets/{id}")).into_response(),
        Err(error) => {
            let status = status_of(&error);
            match form.absorb(context.locale, error) {
                Ok(()) => new_page(&context, form, status),
                Err(other) => failed(&context, other),
            }
        }
    }
}

async fn ticket_page(
    state: &AppState,
    context: &PortalContext,
    id: i64,
    form: FormState,
    status: StatusCode,
) -> Response {
    let detail = match portal::ticket(&state.app, &context.me, id).await {
        Ok(d) => d,
        Err(e) => return failed(context, e),
    };
    let page = TicketPage {
        head: Head::of(context),
        status_key: format!("ticket_status.{}", detail.ticket.status.as_str()),
        created: format_time(context.locale, zone(), detail.ticket.created_at),
        ticket_files: detail
            .attachments
            .iter()
            .filter(|a| a.message_id.is_none())
            .cloned()
            .collect(),
        open: detail.can_reply,
        reopens: detail.ticket.status == Status::Resolved,
        form,
        detail,
    };
    (status, render(&page)).into_response()
}

/// `GET /portal/tickets/{id}`.
pub async fn show(
    State(state): State<AppState>,
    context: PortalContext,
    Path(id): Path<i64>,
) -> Response {
    ticket_page(&state, &context, id, FormState::default(), StatusCode::OK).await
}

/// `POST /portal/tickets/{id}/messages`: the customer's reply, with files.
pub async fn reply(
    State(state): State<AppState>,
    context: PortalContext,
    Path(id): Path<i64>,
    request: Request,
) -> Response {
    let (fields, files) = match upload::fields_and_files(&state, request).await {
        Ok(r) => r,
        Err(error) => {
            let status = status_of(&error);
            let mut form = FormState::default();
            return match form.absorb(context.locale, error) {
                Ok(()) => ticket_page(&state, &context, id, form, status).await,
                Err(other) => failed(&context, other),
            };
        }
    };
    let mut form = FormState::from_submitted(&fields);
    let input = MessageInput {
        kind: "reply".into(),
        body: field(&fields, "body").to_owned(),
        gives_result: false,
        cc: None,
    };
    match portal::reply(&state.app, &context.me, id, input, files).await {
        Ok(()) => Redirect::to(&format!("/portal/tickets/{id}#conversation")).into_response(),
        Err(error) => {
            let status = status_of(&error);
            match form.absorb(context.locale, error) {
                Ok(()) => ticket_page(&state, &context, id, form, status).await,
                Err(other) => failed(&context, other),
            }
        }
    }
}

/// `POST /portal/tickets/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    context: PortalContext,
    Path(id): Path<i64>,
) -> Response {
    match portal::close(&state.app, &context.me, id).await {
        Ok(()) => Redirect::to(&format!("/portal/tickets/{id}")).into_response(),
        Err(e) => failed(&context, e),
    }
}

/// `GET /portal/attachments/{id}`: a file the customer may see.
pub async fn file(
    State(state): State<AppState>,
    context: PortalContext,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    match portal::open_attachment(&state.app, &context.me, id).await {
        Ok((attachment, content)) => upload::send(&attachment, content, &headers).await,
        Err(e) => failed(&context, e),
    }
}
