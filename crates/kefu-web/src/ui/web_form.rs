//! `/form`: the public web form a company embeds on its own site
//! (`<iframe src="https://kefu.example.com/form">`). Shown in the
//! visitor's language (`?lang=` or the browser's), protected against
//! robots by `kefu_app::web_form`.

use super::Fields;
use super::form::FormState;
use crate::AppState;
use crate::i18n::Locale;
use crate::upload;
use askama::Template;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kefu_app::AppError;
use kefu_app::web_form::{self, Outcome, Submission};
use std::net::SocketAddr;

#[derive(Template)]
#[template(path = "web_form.html")]
struct WebFormPage {
    locale: Locale,
    css_path: &'static str,
    token: String,
    form: FormState,
    opened: Option<String>,
    dropped: bool,
}

impl WebFormPage {
    fn t(&self, key: &str) -> &'static str {
        self.locale.t(key)
    }
}

fn locale_of(params: &Fields, headers: &HeaderMap) -> Locale {
    params
        .get("lang")
        .and_then(|l| Locale::from_code(l))
        .or_else(|| Locale::from_headers(headers))
        .unwrap_or(Locale::ZhCn)
}

fn page(state: &AppState, locale: Locale, form: FormState, status: StatusCode) -> Response {
    let page = WebFormPage {
        locale,
        css_path: crate::assets::css_path(),
        token: web_form::form_token(&state.app),
        form,
        opened: None,
        dropped: false,
    };
    (status, super::render(&page)).into_response()
}

/// `GET /form`: the empty form.
pub async fn show(
    State(state): State<AppState>,
    Query(params): Query<Fields>,
    headers: HeaderMap,
) -> Response {
    page(
        &state,
        locale_of(&params, &headers),
        FormState::default(),
        StatusCode::OK,
    )
}

/// `POST /form`: a request from a visitor; the thanks page with the
/// ticket number, or the form again with what to fix.
pub async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(params): Query<Fields>,
    request: Request,
) -> Response {
    let locale = locale_of(&params, request.headers());
    let (fields, files) = match upload::fields_and_files(&state, request).await {
        Ok(r) => r,
        Err(error) => return refused(&state, locale, FormState::default(), error),
    };
    let form = FormState::from_submitted(&fields);
    let text = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let submission = Submission {
        name: text("name"),
        email: text("email"),
        phone: text("phone"),
        subject: text("subject"),
        description: text("description"),
        website: text(kefu_domain::web_form::HONEYPOT),
        form_token: text("form_token"),
    };
    match web_form::submit(&state.app, submission, files, &peer.ip().to_string()).await {
        Ok(outcome) => {
            let (opened, dropped) = match outcome {
                Outcome::Opened { number, .. } => (Some(number), false),
                Outcome::Dropped => (None, true),
            };
            let page = WebFormPage {
                locale,
                css_path: crate::assets::css_path(),
                token: String::new(),
                form: FormState::default(),
                opened,
                dropped,
            };
            (StatusCode::OK, super::render(&page)).into_response()
        }
        Err(error) => refused(&state, locale, form, error),
    }
}

fn refused(state: &AppState, locale: Locale, mut form: FormState, error: AppError) -> Response {
    let status = match &error {
        AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AppError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    match error {
        AppError::RateLimited => {
            form.set_error("form", locale.t("web_form.too_many").to_owned());
        }
        AppError::Validation { field, .. } if field == "form_token" => {
            form.set_error("form_token", locale.t("web_form.expired").to_owned());
        }
        other => {
            if let Err(unexpected) = form.absorb(locale, other) {
                tracing::error!(error = %unexpected, "web form failed");
                form.set_error("form", locale.t("errors.internal_text").to_owned());
            }
        }
    }
    page(state, locale, form, status)
}
