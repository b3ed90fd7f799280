//! The public web form (网页表单) a company embeds on its own site:
//! anyone may send a request, which becomes a work order on the `web_form`
//! channel for the customer holding the email (or a new customer), with
//! a confirmation in the outbox. Robots are kept out by the rules in
//! `kefu_domain::web_form`: a signed, time-bounded form token, a honeypot
//! and a submission rate per address and per email.

use crate::attachments::{self, StagedFile};
use crate::customers::{ContactInput, NewCustomer, create_customer_in, identify};
use crate::tickets::{NewTicket, create_in};
use crate::{App, AppError, Caller};
use kefu_domain::audit::{Actor, Source};
use kefu_domain::customer::ContactKind;
use kefu_domain::validate;
use kefu_domain::web_form as rules;
use kefu_store::throttle;

/// What a visitor sends.
#[derive(Debug, Clone, Default, serde::Deserialize, schemars::JsonSchema)]
pub struct Submission {
    /// Their name.
    pub name: String,
    /// Their email: how the customer is found or created, and where the
    /// confirmation goes.
    pub email: String,
    /// An optional phone number.
    pub phone: String,
    /// What it is about.
    pub subject: String,
    /// The request in their words.
    pub description: String,
    /// The honeypot; people leave it empty.
    pub website: String,
    /// The token the form was served with.
    pub form_token: String,
}

/// How a submission ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A work order was opened; its number for the visitor.
    Opened {
        /// `#id`.
        number: String,
        /// Ticket id.
        ticket_id: i64,
    },
    /// A robot filled the honeypot: thanked for, nothing kept.
    Dropped,
}

/// A fresh token for a form served now.
pub fn form_token(app: &App) -> String {
    rules::issue(&app.form_key, kefu_store::now())
}

fn required(value: &str, field: &str, max: usize) -> Result<String, AppError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Counts one submission for `key`; refuses while the key is paused.
async fn take_turn(tx: &mut kefu_store::Tx, key: &str) -> Result<(), AppError> {
    let now = kefu_store::now();
    let state = throttle::get(&mut tx.conn(), key).await?;
    if rules::RATE.is_locked(state.as_ref(), now) {
        return Err(AppError::RateLimited);
    }
    let next = rules::RATE.record_failure(state, now);
    throttle::put(&mut tx.conn(), key, &next).await?;
    Ok(())
}

/// Receives one submission from `client` (the visitor's address): checks
/// it, then in one transaction counts it against the rate, finds or
/// creates the customer, opens the ticket with its files and queues the
/// confirmation mail.
pub async fn submit(
    app: &App,
    submission: Submission,
    files: Vec<StagedFile>,
    client: &str,
) -> Result<Outcome, AppError> {
    rules::check(&app.form_key, &submission.form_token, kefu_store::now())?;
    if rules::is_robot(&submission.website) {
        tracing::info!(client, "web form honeypot filled; submission dropped");
        return Ok(Outcome::Dropped);
    }
    let name = validate::name("name", &submission.name, 100)?;
    let email = kefu_domain::customer::normalize_contact(
        "email",
        ContactKind::Email,
        required(&submission.email, "email", 254)?.as_str(),
    )?;
    let phone = submission.phone.trim().to_owned();
    if !phone.is_empty() {
        kefu_domain::customer::normalize_contact("phone", ContactKind::Phone, &phone)?;
    }
    let subject = required(&submission.subject, "subject", 200)?;
    let description = required(&submission.description, "description", 20_000)?;
    attachments::check_files(&files)?;

    let mut tx = app.store.write().await?;
    take_turn(&mut tx, &format!("web_form:client:{client}")).await?;
    take_turn(&mut tx, &format!("web_form:email:{email}")).await?;
    // The form is its own permission boundary (token, honeypot, rate):
    // what follows runs as Kefu itself, recorded as the web form.
    let form = Caller {
        source: Source::Web,
        ..Caller::system("web_form")
    };
    let (customer_id, language) = match identify(&mut tx.conn(), ContactKind::Email, &email).await?
    {
        Some(id) => {
            let language = kefu_store::customers::get(&mut tx.conn(), id)
                .await?
                .language;
            (id, language)
        }
        None => {
            let mut contact_points = vec![ContactInput {
                kind: "email".into(),
                value: email.clone(),
                label: String::new(),
            }];
            if !phone.is_empty() {
                contact_points.push(ContactInput {
                    kind: "phone".into(),
                    value: phone.clone(),
                    label: String::new(),
                });
            }
            let input = NewCustomer {
                name: name.clone(),
                contact_points,
                ..NewCustomer::default()
            };
            let id = create_customer_in(&mut tx, &form, &input).await?;
            let language = kefu_store::customers::get(&mut tx.conn(), id)
                .await?
                .language;
            (id, language)
        }
    };
    let customer = Caller {
        actor: Actor::Customer(customer_id),
        ..form
    };
    let input = NewTicket {
        subject,
        description: Some(description),
        channel: Some("web_form".into()),
        customer_id: Some(customer_id),
        ..NewTicket::default()
    };
    let view = create_in(app, &mut tx, &customer, &input, files).await?;
    let (mail_subject, body) =
        kefu_domain::email::acknowledgement(&language, &name, &view.ticket.subject, &view.number);
    crate::mail_out::notify(&mut tx, &email, &mail_subject, &body).await?;
    tx.commit().await?;
    app.events
        .ticket(&customer, view.ticket.id, crate::events::EventKind::Created)
        .await;
    Ok(Outcome::Opened {
        number: view.number,
        ticket_id: view.ticket.id,
    })
}
