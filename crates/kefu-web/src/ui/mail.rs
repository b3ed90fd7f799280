//! Settings → Email: support mailboxes (address, defaults for new
//! tickets, the token for the raw-message endpoint, IMAP settings), and
//! the quarantine of messages held back; and an email's cleaned HTML
//! for the ticket page.

use super::customers::Choice;
use super::form::FormState;
use super::{
    Fields, PageContext, Shell, caller, failure, field, refused_form, render, then_redirect,
};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kefu_app::directory::TeamView;
use kefu_app::mail::{self, MailboxInput};
use kefu_store::mail::{Mailbox, Quarantined};

/// A held-back message as listed.
pub struct QuarantineRow {
    /// The entry.
    pub entry: Quarantined,
    /// When it arrived, in the viewer's zone.
    pub at: String,
}

#[derive(Template)]
#[template(path = "settings_mail.html")]
struct MailPage {
    shell: Shell,
    settings_nav: Vec<super::NavItem>,
    notice: Option<&'static str>,
    mailboxes: Vec<Mailbox>,
    editing: Option<Mailbox>,
    new_token: Option<String>,
    form: FormState,
    teams: Vec<TeamView>,
    types: Vec<Choice>,
    quarantine: Vec<QuarantineRow>,
    public_url: String,
    /// What testing or checking the mailbox's servers found.
    results: Vec<(bool, String)>,
}

async fn mail_page(
    state: &AppState,
    context: &PageContext,
    editing: Option<i64>,
    new_token: Option<String>,
    form: FormState,
    notice: Option<&'static str>,
    status: StatusCode,
) -> Response {
    mail_page_with(
        state,
        context,
        editing,
        new_token,
        form,
        notice,
        status,
        Vec::new(),
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn mail_page_with(
    state: &AppState,
    context: &PageContext,
    editing: Option<i64>,
    new_token: Option<String>,
    form: FormState,
    notice: Option<&'static str>,
    status: StatusCode,
    results: Vec<(bool, String)>,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let all = match mail::mailboxes(&state.app, &caller).await {
        Ok(m) => m,
        Err(e) => return failure(context, e),
    };
    let editing = match editing {
        Some(id) => match all.iter().find(|m| m.id == id) {
            Some(m) => Some(m.clone()),
            None => return failure(context, kefu_app::AppError::NotFound),
        },
        None => None,
    };
    let teams = match super::settings::all_teams(state, &caller).await {
        Ok(t) => t,
        Err(e) => return failure(context, e),
    };
    let quarantine = match mail::quarantine(&state.app, &caller).await {
        Ok(q) => q
            .into_iter()
            .map(|entry| QuarantineRow {
                at: context.time(entry.created_at),
                entry,
            })
            .collect(),
        Err(e) => return failure(context, e),
    };
    let page = MailPage {
        shell: context.shell("settings"),
        settings_nav: super::settings::settings_nav(context, "/settings/mail"),
        notice,
        mailboxes: all,
        editing,
        new_token,
        form,
        teams,
        types: super::tickets::type_choices(),
        quarantine,
        public_url: state.public_url.clone(),
        results,
    };
    (status, render(&page)).into_response()
}

fn form_of(m: &Mailbox) -> FormState {
    let mut form = FormState::with_values(&[
        ("version", &m.version.to_string()),
        ("name", &m.name),
        ("address", &m.address),
        (
            "team_id",
            &m.team_id.map(|t| t.to_string()).unwrap_or_default(),
        ),
        ("ticket_type", &m.ticket_type),
        ("language", &m.language),
        ("imap_host", &m.imap_host),
        ("imap_port", &m.imap_port.to_string()),
        ("imap_security", &m.imap_security),
        ("imap_user", &m.imap_user),
        ("imap_folder", &m.imap_folder),
        ("smtp_host", &m.smtp_host),
        ("smtp_port", &m.smtp_port.to_string()),
        ("smtp_security", &m.smtp_security),
        ("smtp_user", &m.smtp_user),
    ]);
    if m.active {
        form.set_value("active", "1");
    }
    form
}

fn notice_of(context: &PageContext, params: &Fields) -> Option<&'static str> {
    if params.contains_key("saved") {
        Some(context.locale.t("mail.saved"))
    } else if params.contains_key("released") {
        Some(context.locale.t("mail.released"))
    } else {
        None
    }
}

fn new_form() -> FormState {
    FormState::with_values(&[
        ("active", "1"),
        ("ticket_type", "inquiry"),
        ("language", "zh-CN"),
        ("imap_port", "993"),
        ("imap_security", "tls"),
        ("imap_folder", "INBOX"),
        ("smtp_port", "587"),
        ("smtp_security", "starttls"),
    ])
}

/// `GET /settings/mail`.
pub async fn list(
    State(state): State<AppState>,
    context: PageContext,
    Query(params): Query<Fields>,
) -> Response {
    let notice = notice_of(&context, &params);
    mail_page(
        &state,
        &context,
        None,
        None,
        new_form(),
        notice,
        StatusCode::OK,
    )
    .await
}

/// `GET /settings/mail/{id}`: edit one mailbox.
pub async fn edit(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let form = match mail::mailbox(&state.app, &caller, id).await {
        Ok(m) => form_of(&m),
        Err(e) => return failure(&context, e),
    };
    let notice = notice_of(&context, &params);
    mail_page(
        &state,
        &context,
        Some(id),
        None,
        form,
        notice,
        StatusCode::OK,
    )
    .await
}

fn input_of(fields: &Fields) -> MailboxInput {
    let password = field(fields, "imap_password");
    let smtp_password = field(fields, "smtp_password");
    MailboxInput {
        version: field(fields, "version").parse().ok(),
        name: field(fields, "name").to_owned(),
        address: field(fields, "address").to_owned(),
        team_id: field(fields, "team_id").parse().ok(),
        ticket_type: field(fields, "ticket_type").to_owned(),
        language: field(fields, "language").to_owned(),
        imap_host: field(fields, "imap_host").to_owned(),
        imap_port: field(fields, "imap_port").parse().ok(),
        imap_security: field(fields, "imap_security").to_owned(),
        imap_user: field(fields, "imap_user").to_owned(),
        imap_password: (!password.is_empty()).then(|| password.to_owned()),
        imap_folder: field(fields, "imap_folder").to_owned(),
        active: Some(fields.contains_key("active")),
        smtp_host: field(fields, "smtp_host").to_owned(),
        smtp_port: field(fields, "smtp_port").parse().ok(),
        smtp_security: field(fields, "smtp_security").to_owned(),
        smtp_user: field(fields, "smtp_user").to_owned(),
        smtp_password: (!smtp_password.is_empty()).then(|| smtp_password.to_owned()),
    }
}

/// `POST /settings/mail`: adds a mailbox and shows its token once.
pub async fn create(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match mail::create_mailbox(&state.app, &caller, input_of(&fields)).await {
        Ok(created) => {
            let form = form_of(&created.mailbox);
            let notice = Some(context.locale.t("mail.saved"));
            mail_page(
                &state,
                &context,
                Some(created.mailbox.id),
                Some(created.token),
                form,
                notice,
                StatusCode::OK,
            )
            .await
        }
        Err(error) => match refused_form(&context, FormState::from_submitted(&fields), error) {
            Ok((form, status)) => mail_page(&state, &context, None, None, form, None, status).await,
            Err(page) => *page,
        },
    }
}

/// `POST /settings/mail/{id}`: saves a mailbox.
pub async fn save(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Form(fields): Form<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match mail::update_mailbox(&state.app, &caller, id, input_of(&fields)).await {
        Ok(_) => Redirect::to(&format!("/settings/mail/{id}?saved=1")).into_response(),
        Err(error) => match refused_form(&context, FormState::from_submitted(&fields), error) {
            Ok((form, status)) => {
                mail_page(&state, &context, Some(id), None, form, None, status).await
            }
            Err(page) => *page,
        },
    }
}

/// `POST /settings/mail/{id}/token`: a new token, shown once.
pub async fn renew_token(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match mail::renew_token(&state.app, &caller, id).await {
        Ok(renewed) => {
            let form = form_of(&renewed.mailbox);
            mail_page(
                &state,
                &context,
                Some(id),
                Some(renewed.token),
                form,
                None,
                StatusCode::OK,
            )
            .await
        }
        Err(e) => failure(&context, e),
    }
}

/// `POST /settings/mail/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(&context, "/settings/mail?saved=1", |caller| async move {
        mail::delete_mailbox(&state.app, &caller, id).await
    })
    .await
}

/// `POST /settings/mail/quarantine/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(&context, "/settings/mail?released=1", |caller| async move {
        mail::retry_quarantined(&state.app, &caller, id).await
    })
    .await
}

/// `POST /settings/mail/quarantine/{id}/discard`.
pub async fn discard(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    then_redirect(&context, "/settings/mail?released=1", |caller| async move {
        mail::discard_quarantined(&state.app, &caller, id).await
    })
    .await
}

/// `GET /settings/mail/quarantine/{id}/source`: the raw message.
pub async fn quarantined_source(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match mail::quarantined_source(&state.app, &caller, id).await {
        Ok(raw) => crate::api::eml(raw, &format!("quarantine-{id}.eml")),
        Err(e) => failure(&context, e),
    }
}

/// `GET /mail/{id}/source`: an email's raw source (evidence).
pub async fn source(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    match mail::message_source(&state.app, &caller, id).await {
        Ok((_, raw)) => crate::api::eml(raw, &format!("message-{id}.eml")),
        Err(e) => failure(&context, e),
    }
}

/// `GET /mail/{id}/html`: an email's cleaned HTML, for the sandboxed
/// frame on the ticket page. Remote images load only with `?images=1`:
/// the Content-Security-Policy, not the markup, keeps them out.
pub async fn html(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
    Query(params): Query<Fields>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let shown = mail::message_html(&state.app, &caller, id, |attachment| {
        format!("/attachments/{attachment}")
    })
    .await;
    let html = match shown {
        Ok((_, Some(html))) => html,
        Ok((_, None)) => return failure(&context, kefu_app::AppError::NotFound),
        Err(e) => return failure(&context, e),
    };
    let images = if params.contains_key("images") {
        "img-src 'self' data: https: http:"
    } else {
        "img-src 'self' data:"
    };
    let document = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><base target=\"_blank\">\
         <style>body{{font:14px/1.5 system-ui,sans-serif;margin:8px;word-wrap:break-word}}img{{max-width:100%;height:auto}}</style>\
         </head><body>{html}</body></html>"
    );
    let mut response = document.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(policy) = HeaderValue::from_str(&format!(
        "default-src 'none'; {images}; style-src 'unsafe-inline'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'; sandbox allow-popups allow-popups-to-escape-sandbox"
    )) {
        h.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Shows the edit page with what trying the servers found.
async fn with_results(
    state: &AppState,
    context: &PageContext,
    id: i64,
    results: Vec<(bool, String)>,
) -> Response {
    let caller = match caller(context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(context, e),
    };
    let form = match mail::mailbox(&state.app, &caller, id).await {
        Ok(m) => form_of(&m),
        Err(e) => return failure(context, e),
    };
    mail_page_with(
        state,
        context,
        Some(id),
        None,
        form,
        None,
        StatusCode::OK,
        results,
    )
    .await
}

/// `POST /settings/mail/{id}/test`: tries the mailbox's servers.
pub async fn test(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let t = context.locale;
    let results = match mail::test_connection(&state.app, &caller, id).await {
        Ok(test) => {
            let mut lines = Vec::new();
            if let Some(imap) = &test.imap {
                lines.push((
                    imap == "ok",
                    format!(
                        "IMAP: {} {}",
                        t.t(&format!("mail.test_{imap}")),
                        test.imap_detail
                    ),
                ));
            }
            if let Some(smtp) = &test.smtp {
                lines.push((
                    smtp == "ok",
                    format!(
                        "SMTP: {} {}",
                        t.t(&format!("mail.test_{smtp}")),
                        test.smtp_detail
                    ),
                ));
            }
            if lines.is_empty() {
                lines.push((false, t.t("mail.test_nothing").to_owned()));
            }
            lines
        }
        Err(e) => return failure(&context, e),
    };
    with_results(&state, &context, id, results).await
}

/// `POST /settings/mail/{id}/check`: reads the IMAP server now.
pub async fn check(
    State(state): State<AppState>,
    context: PageContext,
    Path(id): Path<i64>,
) -> Response {
    let caller = match caller(&context) {
        Ok(c) => c.clone(),
        Err(e) => return failure(&context, e),
    };
    let results = match mail::check_now(&state.app, &caller, id).await {
        Ok(report) => vec![(
            true,
            context
                .locale
                .t("mail.checked")
                .replace("{unread}", &report.unread.to_string())
                .replace("{taken}", &report.receipts.len().to_string()),
        )],
        Err(kefu_app::AppError::Validation { reason, .. }) => vec![(false, reason)],
        Err(e) => return failure(&context, e),
    };
    with_results(&state, &context, id, results).await
}
