//! Sign-in, sign-out, the language switch, the workspace and the agent's
//! own settings.

use super::cookies;
use super::form::FormState;
use super::{Fields, field};
use super::{PageContext, Shell, failure, message, render, role_key};
use crate::AppState;
use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use kefu_app::{AppError, directory, signin};
use kefu_domain::signin::SESSION_MAX_AGE;
use kefu_store::agents::Agent;
use kefu_store::company::Company;
use std::net::SocketAddr;

/// Where to go after signing in or switching language: only paths on this
/// site, so a crafted link cannot send people elsewhere.
pub fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

#[derive(Template)]
#[template(path = "workspace.html")]
struct WorkspacePage {
    shell: Shell,
    agent: Agent,
    role_key: &'static str,
    now: String,
    company: Option<Company>,
    teams: Vec<TeamRow>,
    queues: Vec<(&'static str, &'static str, i64)>,
    notifications: Vec<NotificationRow>,
    unread: i64,
}

/// A notification shown on the workspace: a mention, an SLA warning,
/// breach or escalation.
struct NotificationRow {
    ticket_id: i64,
    /// Its kind code.
    kind: String,
    /// What happened, translated.
    what: String,
    by: String,
    subject: String,
    excerpt: String,
    at: String,
    unread: bool,
}

struct TeamRow {
    name: String,
    description: String,
    members: String,
}

/// `GET /`: the agent's workspace.
pub async fn workspace(State(state): State<AppState>, context: PageContext) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    let caller = &signed_in.caller;
    let company = kefu_app::company::get(&state.app, caller).await.ok();
    let names = match super::settings::agent_names(&state, caller).await {
        Ok(names) => names,
        Err(error) => return failure(&context, error),
    };
    let teams = match super::settings::all_teams(&state, caller).await {
        Ok(teams) => teams,
        Err(error) => return failure(&context, error),
    };
    let teams = teams
        .into_iter()
        .filter(|t| t.member_ids.contains(&signed_in.agent.id))
        .map(|t| TeamRow {
            members: t
                .member_ids
                .iter()
                .filter_map(|id| names.get(id).cloned())
                .collect::<Vec<_>>()
                .join("、"),
            name: t.team.name,
            description: t.team.description,
        })
        .collect();
    let mut queues = Vec::new();
    if signed_in
        .agent
        .role
        .allows(kefu_domain::Permission::ViewTickets)
    {
        for (view, key) in [
            ("mine", "tickets.view_mine"),
            ("team", "tickets.view_team"),
            ("unassigned", "tickets.view_unassigned"),
        ] {
            let query = kefu_app::tickets::TicketQuery {
                view: Some(view.to_owned()),
                ..kefu_app::tickets::TicketQuery::default()
            };
            let count = kefu_app::tickets::count_tickets(&state.app, caller, &query)
                .await
                .unwrap_or(0);
            queues.push((view, key, count));
        }
    }
    let (notes, unread) = kefu_app::tickets::notifications(&state.app, caller)
        .await
        .unwrap_or_default();
    let notifications = notes
        .into_iter()
        .map(|n| NotificationRow {
            ticket_id: n.notification.ticket_id,
            kind: n.notification.kind.clone(),
            what: context
                .locale
                .try_t(&format!("notification_kinds.{}", n.notification.kind))
                .unwrap_or(&n.notification.kind)
                .to_owned(),
            by: n.by_name,
            subject: n.subject,
            // An SLA notification's excerpt is the target it is about.
            excerpt: if n.notification.kind.starts_with("sla_") {
                context
                    .locale
                    .try_t(&format!("sla.target_{}", n.notification.excerpt))
                    .unwrap_or(&n.notification.excerpt)
                    .to_owned()
            } else {
                n.notification.excerpt
            },
            at: context.time(n.notification.created_at),
            unread: n.notification.read_at.is_none(),
        })
        .collect();
    render(&WorkspacePage {
        queues,
        notifications,
        unread,
        shell: context.shell("workspace"),
        role_key: role_key(signed_in.agent.role),
        now: context.time(kefu_store::now()),
        agent: signed_in.agent.clone(),
        company,
        teams,
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    shell: Shell,
    error: Option<&'static str>,
    notice: Option<&'static str>,
    email: String,
    next: String,
}

/// `GET /login`.
pub async fn login_form(context: PageContext, Query(query): Query<Fields>) -> Response {
    let next = safe_next(field(&query, "next")).to_owned();
    if context.signed_in.is_some() {
        return Redirect::to(&next).into_response();
    }
    let notice = if query.contains_key("signed_out") {
        Some(context.locale.t("login.signed_out"))
    } else if query.contains_key("reset") {
        Some(context.locale.t("login.password_reset_done"))
    } else {
        None
    };
    render(&LoginPage {
        shell: context.shell(""),
        error: None,
        notice,
        email: String::new(),
        next,
    })
}

/// `POST /login`: opens a session, or shows the form again with one
/// message that does not say which part was wrong.
pub async fn login(
    State(state): State<AppState>,
    context: PageContext,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    let email = field(&fields, "email");
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let next = safe_next(field(&fields, "next")).to_owned();
    match signin::sign_in(
        &state.app,
        email,
        field(&fields, "password"),
        user_agent,
        &peer.ip().to_string(),
    )
    .await
    {
        Ok(signin::SignInOutcome::Session(signed_in)) => {
            session_started(&state, &signed_in.token, &next)
        }
        Ok(signin::SignInOutcome::NeedsCode { challenge }) => {
            let cookie = cookies::set(cookies::CHALLENGE, &challenge, 300, state.secure_cookies());
            let page = CodePage {
                shell: context.shell(""),
                error: None,
                next,
            };
            ([(header::SET_COOKIE, cookie)], render(&page)).into_response()
        }
        Err(AppError::Unauthenticated) => {
            let page = LoginPage {
                shell: context.shell(""),
                error: Some(context.locale.t("login.failed")),
                notice: None,
                email: email.to_owned(),
                next,
            };
            (StatusCode::UNAUTHORIZED, render(&page)).into_response()
        }
        Err(error) => failure(&context, error),
    }
}

fn session_started(state: &AppState, token: &str, next: &str) -> Response {
    let session = cookies::set(
        cookies::SESSION,
        token,
        SESSION_MAX_AGE.num_seconds(),
        state.secure_cookies(),
    );
    let challenge = cookies::set(cookies::CHALLENGE, "", 0, state.secure_cookies());
    // Both cookies must be sent: a plain header array would keep only the last.
    (
        AppendHeaders([
            (header::SET_COOKIE, session),
            (header::SET_COOKIE, challenge),
        ]),
        Redirect::to(next),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    shell: Shell,
    error: Option<String>,
    next: String,
}

/// `POST /login/code`: the second step of a two-step sign-in.
pub async fn login_code(
    State(state): State<AppState>,
    context: PageContext,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(fields): Form<Fields>,
) -> Response {
    let next = safe_next(field(&fields, "next")).to_owned();
    let Some(challenge) = cookies::get(&headers, cookies::CHALLENGE) else {
        return Redirect::to("/login").into_response();
    };
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ip = peer.ip().to_string();
    match signin::complete_sign_in(
        &state.app,
        &challenge,
        field(&fields, "code"),
        user_agent,
        &ip,
    )
    .await
    {
        Ok(signed_in) => session_started(&state, &signed_in.token, &next),
        Err(AppError::Validation { reason, .. }) => {
            let page = CodePage {
                shell: context.shell(""),
                error: Some(context.locale.reason(&reason)),
                next,
            };
            (StatusCode::UNAUTHORIZED, render(&page)).into_response()
        }
        Err(AppError::Unauthenticated) => Redirect::to("/login").into_response(),
        Err(error) => failure(&context, error),
    }
}

/// `POST /logout`: ends this session.
pub async fn logout(State(state): State<AppState>, context: PageContext) -> Response {
    if let Some(signed_in) = &context.signed_in
        && let Err(error) =
            signin::sign_out(&state.app, &signed_in.caller, signed_in.session_id).await
    {
        return failure(&context, error);
    }
    let cookie = cookies::set(cookies::SESSION, "", 0, state.secure_cookies());
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to("/login?signed_out=1"),
    )
        .into_response()
}

/// `POST /lang`: switches the language, for the session's agent too.
pub async fn switch_language(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let Some(locale) = crate::i18n::Locale::from_code(field(&fields, "lang")) else {
        return message(&context, StatusCode::UNPROCESSABLE_ENTITY, "not_found");
    };
    if let Some(signed_in) = &context.signed_in
        && let Err(error) =
            directory::set_own_language(&state.app, &signed_in.caller, locale.code()).await
    {
        return failure(&context, error);
    }
    let cookie = cookies::set(
        cookies::LANGUAGE,
        locale.code(),
        365 * 24 * 3600,
        state.secure_cookies(),
    );
    let next = safe_next(field(&fields, "next")).to_owned();
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    shell: Shell,
    two_step_state: &'static str,
    pending_secret: String,
    pending_uri: Option<String>,
    two_step: FormState,
    notice: Option<String>,
    version: i64,
    prefs: FormState,
    password: FormState,
    sessions_text: String,
}

async fn account_page(
    state: &AppState,
    context: &PageContext,
    notice: Option<String>,
    prefs: Option<FormState>,
    password: FormState,
) -> Response {
    account_page_with(
        state,
        context,
        notice,
        prefs,
        password,
        FormState::default(),
    )
    .await
}

async fn account_page_with(
    state: &AppState,
    context: &PageContext,
    notice: Option<String>,
    prefs: Option<FormState>,
    password: FormState,
    two_step: FormState,
) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    let agent = match directory::get_agent(&state.app, &signed_in.caller, signed_in.agent.id).await
    {
        Ok(agent) => agent,
        Err(error) => return failure(context, error),
    };
    let sessions = {
        let count = async {
            let mut reader = state.app.store.read().await?;
            kefu_store::sessions::count_for_agent(&mut reader.conn(), agent.id).await
        };
        count.await.unwrap_or(1)
    };
    let prefs = prefs.unwrap_or_else(|| {
        FormState::with_values(&[
            ("display_name", &agent.display_name),
            ("language", &agent.language),
            ("time_zone", &agent.time_zone),
        ])
    });
    let (two_step_on, pending) = match signin::two_step_state(&state.app, &signed_in.caller).await {
        Ok(found) => found,
        Err(error) => return failure(context, error),
    };
    let two_step_state = if two_step_on {
        "on"
    } else if pending.is_some() {
        "pending"
    } else {
        "off"
    };
    render(&AccountPage {
        shell: context.shell("account"),
        two_step_state,
        pending_secret: pending
            .as_deref()
            .map(kefu_domain::totp::base32)
            .unwrap_or_default(),
        pending_uri: pending
            .as_deref()
            .filter(|_| !two_step_on)
            .map(|secret| kefu_domain::totp::otpauth_uri("Kefu 客服", &agent.email, secret)),
        two_step,
        notice,
        version: agent.version,
        prefs,
        password,
        sessions_text: context
            .locale
            .tf("account.sessions_open", &[("count", &sessions.to_string())]),
    })
}

/// `GET /account`.
pub async fn account(
    State(state): State<AppState>,
    context: PageContext,
    Query(query): Query<Fields>,
) -> Response {
    let notice = query
        .contains_key("saved")
        .then(|| context.locale.t("account.saved").to_owned());
    account_page(&state, &context, notice, None, FormState::default()).await
}

/// `POST /account/preferences`.
pub async fn save_preferences(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    let mut form = FormState::from_submitted(&fields);
    let version = match field(&fields, "version").parse::<i64>() {
        Ok(v) => v,
        Err(_) => {
            form.set_error("version", context.locale.t("errors.conflict").to_owned());
            return account_page(&state, &context, None, Some(form), FormState::default()).await;
        }
    };
    let input = directory::OwnPreferences {
        version,
        display_name: field(&fields, "display_name").to_owned(),
        language: field(&fields, "language").to_owned(),
        time_zone: field(&fields, "time_zone").to_owned(),
    };
    match directory::update_own_preferences(&state.app, &signed_in.caller, input).await {
        Ok(_) => Redirect::to("/account?saved=1").into_response(),
        Err(error) => match form.absorb(context.locale, error) {
            Ok(()) => {
                let page =
                    account_page(&state, &context, None, Some(form), FormState::default()).await;
                (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
            }
            Err(other) => failure(&context, other),
        },
    }
}

/// `POST /account/password`.
pub async fn change_password(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    let result = signin::change_password(
        &state.app,
        &signed_in.caller,
        Some(signed_in.session_id),
        field(&fields, "current_password"),
        field(&fields, "new_password"),
    )
    .await;
    match result {
        Ok(()) => {
            let notice = Some(context.locale.t("account.password_changed").to_owned());
            account_page(&state, &context, notice, None, FormState::default()).await
        }
        Err(error) => {
            let mut form = FormState::default();
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    let page = account_page(&state, &context, None, None, form).await;
                    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
                }
                Err(other) => failure(&context, other),
            }
        }
    }
}

/// `POST /logout/everywhere`: ends every other session of the agent.
pub async fn logout_everywhere(State(state): State<AppState>, context: PageContext) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    match signin::sign_out_everywhere(&state.app, &signed_in.caller, Some(signed_in.session_id))
        .await
    {
        Ok(count) => {
            let notice = context.locale.tf(
                "account.signed_out_elsewhere",
                &[("count", &count.to_string())],
            );
            account_page(&state, &context, Some(notice), None, FormState::default()).await
        }
        Err(error) => failure(&context, error),
    }
}

#[derive(Template)]
#[template(path = "reset_request.html")]
struct ResetRequestPage {
    shell: Shell,
    sent: bool,
}

/// `GET /password-reset`.
pub async fn reset_request_form(context: PageContext) -> Response {
    render(&ResetRequestPage {
        shell: context.shell(""),
        sent: false,
    })
}

/// `POST /password-reset`: the same answer whether or not the address has
/// an account.
pub async fn reset_request(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    if let Err(error) =
        signin::request_password_reset(&state.app, field(&fields, "email"), &state.public_url).await
    {
        return failure(&context, error);
    }
    render(&ResetRequestPage {
        shell: context.shell(""),
        sent: true,
    })
}

#[derive(Template)]
#[template(path = "reset_form.html")]
struct ResetFormPage {
    shell: Shell,
    token: String,
    usable: bool,
    error: Option<String>,
}

fn token_shaped(token: &str) -> bool {
    token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit())
}

/// `GET /password-reset/{token}`.
pub async fn reset_form(
    State(state): State<AppState>,
    context: PageContext,
    Path(token): Path<String>,
) -> Response {
    let usable = token_shaped(&token)
        && signin::reset_token_is_usable(&state.app, &token)
            .await
            .unwrap_or(false);
    let error = (!usable).then(|| {
        context
            .locale
            .reason("this reset link is invalid, used or expired")
    });
    render(&ResetFormPage {
        shell: context.shell(""),
        token: if token_shaped(&token) {
            token
        } else {
            String::new()
        },
        usable,
        error,
    })
}

/// `POST /password-reset/{token}`.
pub async fn reset(
    State(state): State<AppState>,
    context: PageContext,
    Path(token): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    match signin::reset_password(&state.app, &token, field(&fields, "new_password")).await {
        Ok(()) => Redirect::to("/login?reset=1").into_response(),
        Err(AppError::Validation {
            field: name,
            reason,
        }) => {
            let usable = name == "new_password";
            let page = ResetFormPage {
                shell: context.shell(""),
                token: if token_shaped(&token) {
                    token
                } else {
                    String::new()
                },
                usable,
                error: Some(context.locale.reason(&reason)),
            };
            (StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response()
        }
        Err(error) => failure(&context, error),
    }
}

/// `POST /account/status`: the presence switch in the top bar.
pub async fn set_status(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    match directory::set_own_status(&state.app, &signed_in.caller, field(&fields, "status")).await {
        Ok(_) => Redirect::to(safe_next(field(&fields, "next"))).into_response(),
        Err(AppError::Validation { .. }) => {
            message(&context, StatusCode::UNPROCESSABLE_ENTITY, "not_found")
        }
        Err(error) => failure(&context, error),
    }
}

/// `POST /account/two-step/start`.
pub async fn two_step_start(State(state): State<AppState>, context: PageContext) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    match signin::start_two_step(&state.app, &signed_in.caller).await {
        Ok(_) => Redirect::to("/account#two-step").into_response(),
        Err(error) => failure(&context, error),
    }
}

/// Confirming and switching off both take a current code.
async fn two_step_with_code(
    state: &AppState,
    context: &PageContext,
    fields: &Fields,
    turn_on: bool,
) -> Response {
    let Some(signed_in) = &context.signed_in else {
        return Redirect::to("/login").into_response();
    };
    let code = field(fields, "code");
    let result = if turn_on {
        signin::confirm_two_step(&state.app, &signed_in.caller, code).await
    } else {
        signin::disable_two_step(&state.app, &signed_in.caller, code).await
    };
    match result {
        Ok(()) => {
            let notice = Some(context.locale.t("account.saved").to_owned());
            account_page(state, context, notice, None, FormState::default()).await
        }
        Err(error) => {
            let mut form = FormState::default();
            match form.absorb(context.locale, error) {
                Ok(()) => {
                    let page =
                        account_page_with(state, context, None, None, FormState::default(), form)
                            .await;
                    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
                }
                Err(other) => failure(context, other),
            }
        }
    }
}

/// `POST /account/two-step/confirm`.
pub async fn two_step_confirm(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    two_step_with_code(&state, &context, &fields, true).await
}

/// `POST /account/two-step/disable`.
pub async fn two_step_disable(
    State(state): State<AppState>,
    context: PageContext,
    Form(fields): Form<Fields>,
) -> Response {
    two_step_with_code(&state, &context, &fields, false).await
}
