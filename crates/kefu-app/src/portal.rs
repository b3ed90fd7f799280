//! The customer portal (客户自助门户): customers sign in with a one-time
//! link mailed to an address on their record, see their own work orders
//! (never another customer's, never internal notes), send new requests
//! with files, reply and close.
//!
//! Every function here takes the signed-in customer's id and answers
//! `NotFound` for any ticket that is not theirs, so guessing numbers
//! reveals nothing.

use crate::attachments::{self, StagedFile};
use crate::auth::token_hash;
use crate::customers::identify;
use crate::signin::random_hex;
use crate::tickets::{
    MessageInput, NewTicket, StatusChange, TicketSummary, append_message, change_status_in,
    create_in, summaries,
};
use crate::{App, AppError, Caller};
use chrono::Duration;
use kefu_domain::attachment::Purpose;
use kefu_domain::audit::{Action, Actor, Source};
use kefu_domain::customer::ContactKind;
use kefu_domain::ticket::{MessageKind, Status};
use kefu_domain::web_form::RATE;
use kefu_store::attachments::Attachment;
use kefu_store::tickets::{self, After, Author, Filter, Message, Sort, Ticket};
use kefu_store::{portal, throttle};

/// How long a mailed sign-in link works.
pub const LINK_LIFETIME: Duration = Duration::minutes(30);

/// The signed-in customer of a portal request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalCustomer {
    /// Customer id.
    pub customer_id: i64,
    /// Name, for the page header.
    pub name: String,
    /// `zh-CN` or `en`.
    pub language: String,
    /// Session id (to sign out).
    pub session_id: i64,
    /// The token the portal's forms must carry.
    pub csrf_token: String,
    /// The customer's organization, when it lets its members see each
    /// other's requests.
    pub shared_organization: Option<i64>,
}

/// Acting as the customer: recorded as the customer in the audit log. The
/// portal functions are the permission boundary; the role is not consulted.
fn as_customer(customer_id: i64) -> Caller {
    Caller {
        actor: Actor::Customer(customer_id),
        source: Source::Web,
        ..Caller::system("portal")
    }
}

/// Mails a sign-in link to `email` if a customer holds that address.
/// Answers the same either way, so the form reveals nobody's address;
/// five requests per address per ten minutes.
pub async fn request_link(app: &App, email: &str, public_url: &str) -> Result<(), AppError> {
    let email = kefu_domain::customer::normalize_contact("email", ContactKind::Email, email)?;
    let mut tx = app.store.write().await?;
    let key = format!("portal:email:{email}");
    let now = kefu_store::now();
    let state = throttle::get(&mut tx.conn(), &key).await?;
    if RATE.is_locked(state.as_ref(), now) {
        return Err(AppError::RateLimited);
    }
    throttle::put(&mut tx.conn(), &key, &RATE.record_failure(state, now)).await?;
    if let Some(customer_id) = identify(&mut tx.conn(), ContactKind::Email, &email).await? {
        let customer = kefu_store::customers::get(&mut tx.conn(), customer_id).await?;
        let token = random_hex(32);
        portal::insert_link(
            &mut tx.conn(),
            &token_hash(&token),
            customer_id,
            &email,
            now + LINK_LIFETIME,
        )
        .await?;
        let link = format!("{}/portal/login/{token}", public_url.trim_end_matches('/'));
        let (subject, body) = if customer.language == "en" {
            (
                "Sign in to customer service".to_owned(),
                format!(
                    "Dear {},\n\nOpen this link within 30 minutes to see your requests:\n{link}\n\nIf you did not ask for it, ignore this message.\n",
                    customer.name
                ),
            )
        } else {
            (
                "登录客户服务中心".to_owned(),
                format!(
                    "{}，您好：\n\n请在 30 分钟内打开以下链接查看您的请求：\n{link}\n\n如果这不是您本人的操作，请忽略本邮件。\n",
                    customer.name
                ),
            )
        };
        crate::mail_out::notify(&mut tx, &email, &subject, &body).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Whether a link can still be used (for the page that asks to confirm).
pub async fn link_is_usable(app: &App, token: &str) -> Result<bool, AppError> {
    let mut reader = app.store.read().await?;
    Ok(portal::link_is_usable(&mut reader.conn(), &token_hash(token), kefu_store::now()).await?)
}

/// Uses a link once: a new session; returns the session's cookie token.
pub async fn sign_in(app: &App, token: &str) -> Result<String, AppError> {
    let mut tx = app.store.write().await?;
    let customer_id = portal::take_link(&mut tx.conn(), &token_hash(token), kefu_store::now())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let session_token = random_hex(32);
    let session = portal::insert_session(
        &mut tx.conn(),
        &token_hash(&session_token),
        customer_id,
        &random_hex(24),
    )
    .await?;
    crate::audit::record_change(
        &mut tx,
        &as_customer(customer_id),
        "portal_session",
        session.id,
        Action::Create,
        &(),
        &serde_json::json!({ "customer_id": customer_id }),
    )
    .await?;
    tx.commit().await?;
    Ok(session_token)
}

/// The customer holding a session cookie, if it is valid.
pub async fn session(app: &App, token: &str) -> Result<PortalCustomer, AppError> {
    let (session, customer) = {
        let mut reader = app.store.read().await?;
        let session = portal::find_session(&mut reader.conn(), &token_hash(token))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let customer = kefu_store::customers::get(&mut reader.conn(), session.customer_id).await?;
        let shared = match customer.organization_id {
            Some(id) => kefu_store::organizations::get(&mut reader.conn(), id)
                .await?
                .portal_shared
                .then_some(id),
            None => None,
        };
        (session, (customer, shared))
    };
    let (customer, shared_organization) = customer;
    let now = kefu_store::now();
    if !kefu_domain::signin::session_is_valid(session.created_at, session.last_seen_at, now) {
        return Err(AppError::Unauthenticated);
    }
    if kefu_domain::signin::session_needs_touch(session.last_seen_at, now) {
        let mut tx = app.store.write().await?;
        portal::touch_session(&mut tx.conn(), session.id, now).await?;
        tx.commit().await?;
    }
    Ok(PortalCustomer {
        customer_id: customer.id,
        name: customer.name,
        language: customer.language,
        session_id: session.id,
        csrf_token: session.csrf_token,
        shared_organization,
    })
}

/// Ends a session.
pub async fn sign_out(app: &App, me: &PortalCustomer) -> Result<(), AppError> {
    let mut tx = app.store.write().await?;
    portal::delete_session(&mut tx.conn(), me.session_id).await?;
    tx.commit().await?;
    Ok(())
}

/// The customer's tickets — their organization's too when it shares
/// them — newest first (spam left out).
pub async fn my_tickets(app: &App, me: &PortalCustomer) -> Result<Vec<TicketSummary>, AppError> {
    let mut reader = app.store.read().await?;
    let statuses = Status::ALL
        .iter()
        .copied()
        .filter(|s| *s != Status::Spam)
        .collect();
    let rows = tickets::search(
        &mut reader.conn(),
        &Filter {
            customer_id: match me.shared_organization {
                Some(_) => None,
                None => Some(me.customer_id),
            },
            organization_id: me.shared_organization,
            statuses,
            ..Filter::default()
        },
        Sort::Newest,
        &After::Start,
        200,
    )
    .await?;
    summaries(&mut reader.conn(), rows).await
}

/// One of the customer's tickets as they see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PortalTicket {
    /// The ticket.
    pub ticket: Ticket,
    /// `#id`.
    pub number: String,
    /// Public replies only (internal notes are never shown), oldest first,
    /// with who wrote them.
    pub messages: Vec<(Message, String, Vec<Attachment>)>,
    /// Files on the ticket itself and on public replies.
    pub attachments: Vec<Attachment>,
    /// Whether the customer may still reply (a resolved request only
    /// within the reopen window, and the reply reopens it).
    pub can_reply: bool,
    /// Whether the signed-in customer made the request (only they may
    /// close it; colleagues of a sharing organization read and reply).
    pub mine: bool,
}

/// The ticket if the customer may see it — theirs, or their sharing
/// organization's; `NotFound` otherwise, so nobody learns it exists.
async fn own_ticket(
    conn: &mut kefu_store::Conn<'_>,
    me: &PortalCustomer,
    id: i64,
) -> Result<Ticket, AppError> {
    let visible = |t: &Ticket| {
        t.customer_id == Some(me.customer_id)
            || me
                .shared_organization
                .is_some_and(|org| t.organization_id == Some(org))
    };
    match tickets::get(conn, id).await {
        Ok(t) if visible(&t) && t.status != Status::Spam => Ok(t),
        Ok(_) | Err(kefu_store::StoreError::NotFound) => Err(AppError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// Which attachments a customer may see: those on the ticket itself and
/// on public replies, never those on internal notes.
fn visible(attachments: Vec<Attachment>, notes: &[i64]) -> Vec<Attachment> {
    attachments
        .into_iter()
        .filter(|a| a.message_id.is_none_or(|m| !notes.contains(&m)))
        .filter(|a| a.purpose != Purpose::Recording)
        .collect()
}

/// One of the customer's tickets with its public conversation.
pub async fn ticket(app: &App, me: &PortalCustomer, id: i64) -> Result<PortalTicket, AppError> {
    let mut reader = app.store.read().await?;
    let ticket = own_ticket(&mut reader.conn(), me, id).await?;
    let reopen_days = tickets::settings(&mut reader.conn()).await?.reopen_days;
    let can_reply = kefu_domain::ticket::status_after_customer_reply(
        ticket.status,
        ticket.resolved_at,
        reopen_days,
        kefu_store::now(),
    )
    .is_ok();
    let all = tickets::messages(&mut reader.conn(), id).await?;
    let notes: Vec<i64> = all
        .iter()
        .filter(|m| m.kind == MessageKind::Note)
        .map(|m| m.id)
        .collect();
    let files = visible(
        kefu_store::attachments::for_ticket(&mut reader.conn(), id).await?,
        &notes,
    );
    let agent_ids: Vec<i64> = all
        .iter()
        .filter_map(|m| match m.author {
            Author::Agent(a) => Some(a),
            _ => None,
        })
        .collect();
    let names: std::collections::HashMap<i64, String> =
        kefu_store::names_of(&mut reader.conn(), kefu_store::Named::Agents, &agent_ids)
            .await?
            .into_iter()
            .collect();
    // Colleagues of a sharing organization write on the same request.
    let customer_ids: Vec<i64> = all
        .iter()
        .filter_map(|m| match m.author {
            Author::Customer(c) => Some(c),
            _ => None,
        })
        .collect();
    let customer_names: std::collections::HashMap<i64, String> = kefu_store::names_of(
        &mut reader.conn(),
        kefu_store::Named::Customers,
        &customer_ids,
    )
    .await?
    .into_iter()
    .collect();
    let messages = all
        .into_iter()
        .filter(|m| m.kind == MessageKind::Reply)
        .map(|m| {
            let who = match m.author {
                Author::Agent(a) => names.get(&a).cloned().unwrap_or_default(),
                Author::Customer(c) => customer_names.get(&c).cloned().unwrap_or_default(),
                Author::System => String::new(),
            };
            let on_it = files
                .iter()
                .filter(|a| a.message_id == Some(m.id))
                .cloned()
                .collect();
            (m, who, on_it)
        })
        .collect();
    let mine = ticket.customer_id == Some(me.customer_id);
    Ok(PortalTicket {
        number: kefu_domain::ticket::display_number(ticket.id),
        ticket,
        messages,
        attachments: files,
        can_reply,
        mine,
    })
}

/// A new request from the portal, with files.
pub async fn submit(
    app: &App,
    me: &PortalCustomer,
    subject: &str,
    description: &str,
    files: Vec<StagedFile>,
) -> Result<i64, AppError> {
    if description.trim().is_empty() {
        return Err(AppError::invalid("description", "must not be empty"));
    }
    attachments::check_files(&files)?;
    let caller = as_customer(me.customer_id);
    let input = NewTicket {
        subject: subject.to_owned(),
        description: Some(description.to_owned()),
        channel: Some("portal".into()),
        customer_id: Some(me.customer_id),
        ..NewTicket::default()
    };
    let mut tx = app.store.write().await?;
    let view = create_in(app, &mut tx, &caller, &input, files).await?;
    tx.commit().await?;
    app.events
        .ticket(&caller, view.ticket.id, crate::events::EventKind::Created)
        .await;
    Ok(view.ticket.id)
}

/// The customer's reply, with files; a ticket waiting for the customer
/// goes back to the agents.
pub async fn reply(
    app: &App,
    me: &PortalCustomer,
    id: i64,
    input: MessageInput,
    files: Vec<StagedFile>,
) -> Result<(), AppError> {
    if input.body.trim().is_empty() && files.is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    attachments::check_files(&files)?;
    let caller = as_customer(me.customer_id);
    let author = Author::Customer(me.customer_id);
    let mut tx = app.store.write().await?;
    own_ticket(&mut tx.conn(), me, id).await?;
    // A closed request, or a resolved one past the reopen window, refuses
    // the reply; a resolved one within it reopens.
    let message = append_message(
        &mut tx,
        &caller,
        id,
        MessageKind::Reply,
        author,
        input.body.trim().to_owned(),
    )
    .await?;
    attachments::store_files(app, &mut tx, &caller, id, Some(message.id), author, files).await?;
    tx.commit().await?;
    app.events
        .ticket(&caller, id, crate::events::EventKind::Changed)
        .await;
    Ok(())
}

/// The customer closes their request: a resolved one keeps its
/// resolution; an open one is closed as withdrawn.
pub async fn close(app: &App, me: &PortalCustomer, id: i64) -> Result<(), AppError> {
    let caller = as_customer(me.customer_id);
    let mut tx = app.store.write().await?;
    let ticket = own_ticket(&mut tx.conn(), me, id).await?;
    if ticket.customer_id != Some(me.customer_id) {
        return Err(AppError::Forbidden);
    }
    if matches!(ticket.status, Status::Closed | Status::Merged) {
        return Ok(());
    }
    let withdrawn = ticket.resolution_category.is_none();
    let change = StatusChange {
        version: ticket.version,
        status: "closed".into(),
        reason: Some("closed by the customer in the portal".into()),
        resolution_category: withdrawn.then(|| "withdrawn".to_owned()),
        resolution: withdrawn.then(|| "Closed by the customer in the portal.".to_owned()),
        ..StatusChange::default()
    };
    change_status_in(&mut tx, &caller, id, &change).await?;
    tx.commit().await?;
    app.events
        .ticket(&caller, id, crate::events::EventKind::Changed)
        .await;
    Ok(())
}

/// A file on one of the customer's tickets that they may see.
pub async fn open_attachment(
    app: &App,
    me: &PortalCustomer,
    id: i64,
) -> Result<(Attachment, attachments::Content), AppError> {
    let attachment = {
        let mut reader = app.store.read().await?;
        let attachment = kefu_store::attachments::get(&mut reader.conn(), id).await?;
        own_ticket(&mut reader.conn(), me, attachment.ticket_id).await?;
        let notes: Vec<i64> = tickets::messages(&mut reader.conn(), attachment.ticket_id)
            .await?
            .into_iter()
            .filter(|m| m.kind == MessageKind::Note)
            .map(|m| m.id)
            .collect();
        visible(vec![attachment], &notes)
            .pop()
            .ok_or(AppError::NotFound)?
    };
    attachments::content(app, &attachment)
        .await
        .map(|c| (attachment, c))
}
