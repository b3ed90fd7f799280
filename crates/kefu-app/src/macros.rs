//! Canned replies and macros (快捷回复), and bulk actions on tickets.
//!
//! A macro is a text with placeholders ({customer.name}, {ticket.number},
//! {ticket.subject}, {agent.name}) and the changes applying it makes: a
//! status (with the text as the resolution when it resolves), a team, an
//! agent, tags. Applying one is a single transaction: the message, the
//! field changes and the status move land together or not at all.

use crate::audit::record_change;
use crate::tickets::{self as use_cases, StatusChange, TicketChanges, TicketView};
use crate::{App, AppError, Caller};
use kefu_domain::audit::Action;
use kefu_domain::ticket::{self as rules, MessageKind, ResolutionCategory, Status};
use kefu_domain::{Permission, customer as customer_rules, validate};
use kefu_store::macros::{self, Macro, MacroFields};
use kefu_store::tickets::{self, Author};
use kefu_store::{Named, Tx};
use serde::{Deserialize, Serialize};

/// Input to add or change a macro.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MacroInput {
    /// The version read (changes only).
    #[serde(default)]
    pub version: Option<i64>,
    /// Name.
    pub name: String,
    /// Text with placeholders.
    #[serde(default)]
    pub body: String,
    /// `reply` (default) or `note`.
    #[serde(default)]
    pub message_kind: Option<String>,
    /// Status to move the ticket to.
    #[serde(default)]
    pub set_status: Option<String>,
    /// Team.
    #[serde(default)]
    pub set_team_id: Option<i64>,
    /// Agent.
    #[serde(default)]
    pub set_assignee_id: Option<i64>,
    /// Tags to add.
    #[serde(default)]
    pub add_tags: Vec<String>,
    /// Resolution category, required when the macro resolves or closes.
    #[serde(default)]
    pub resolution_category: Option<String>,
    /// Offered to agents (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

/// The placeholders a macro's text may use.
pub const PLACEHOLDERS: [&str; 4] = [
    "customer.name",
    "ticket.number",
    "ticket.subject",
    "agent.name",
];

fn blank(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

async fn fields_of(tx: &mut Tx, input: &MacroInput) -> Result<MacroFields, AppError> {
    let name = validate::name("name", &input.name, 80)?;
    let body = input.body.trim().to_owned();
    if body.chars().count() > rules::BODY_MAX {
        return Err(AppError::invalid(
            "body",
            format!("must be at most {} characters", rules::BODY_MAX),
        ));
    }
    let message_kind = match blank(input.message_kind.as_ref()) {
        Some(k) => MessageKind::parse_field("message_kind", &k)?,
        None => MessageKind::Reply,
    };
    let set_status = match blank(input.set_status.as_ref()) {
        Some(s) => Some(Status::parse_field("set_status", &s)?),
        None => None,
    };
    if matches!(set_status, Some(Status::Merged)) {
        return Err(AppError::invalid(
            "set_status",
            "a macro cannot merge tickets",
        ));
    }
    let resolution_category = match blank(input.resolution_category.as_ref()) {
        Some(c) => Some(ResolutionCategory::parse_field("resolution_category", &c)?),
        None => None,
    };
    if matches!(set_status, Some(Status::Resolved | Status::Closed))
        && (resolution_category.is_none() || body.is_empty())
    {
        return Err(AppError::invalid(
            "resolution_category",
            "a macro that resolves or closes needs a resolution category and a text (the resolution)",
        ));
    }
    if let Some(team) = input.set_team_id
        && kefu_store::teams::get(&mut tx.conn(), team).await.is_err()
    {
        return Err(AppError::invalid(
            "set_team_id",
            format!("team {team} does not exist"),
        ));
    }
    if let Some(agent) = input.set_assignee_id
        && kefu_store::agents::get(&mut tx.conn(), agent)
            .await
            .is_err()
    {
        return Err(AppError::invalid(
            "set_assignee_id",
            format!("agent {agent} does not exist"),
        ));
    }
    let tags = customer_rules::tags("add_tags", &input.add_tags)?;
    if body.is_empty()
        && set_status.is_none()
        && input.set_team_id.is_none()
        && input.set_assignee_id.is_none()
        && tags.is_empty()
    {
        return Err(AppError::invalid(
            "body",
            "a macro needs a text or at least one change to make",
        ));
    }
    Ok(MacroFields {
        name,
        body,
        message_kind: message_kind.as_str().to_owned(),
        set_status: set_status.map(|s| s.as_str().to_owned()),
        set_team_id: input.set_team_id,
        set_assignee_id: input.set_assignee_id,
        add_tags: tags.join(","),
        resolution_category: resolution_category.map(|c| c.as_str().to_owned()),
        active: input.active.unwrap_or(true),
    })
}

/// Every macro, by name (agents see them to apply them).
pub async fn list_macros(app: &App, caller: &Caller) -> Result<Vec<Macro>, AppError> {
    caller.require(Permission::ViewTickets)?;
    let mut reader = app.store.read().await?;
    Ok(macros::all(&mut reader.conn()).await?)
}

/// Adds a macro (managers, administrators).
pub async fn create_macro(
    app: &App,
    caller: &Caller,
    input: MacroInput,
) -> Result<Macro, AppError> {
    caller.require(Permission::ManageMacros)?;
    let mut tx = app.store.write().await?;
    let fields = fields_of(&mut tx, &input).await?;
    let created = macros::insert(&mut tx.conn(), &fields).await?;
    record_change(
        &mut tx,
        caller,
        "macro",
        created.id,
        Action::Create,
        &(),
        &created,
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// Changes a macro (optimistic locking).
pub async fn update_macro(
    app: &App,
    caller: &Caller,
    id: i64,
    input: MacroInput,
) -> Result<Macro, AppError> {
    caller.require(Permission::ManageMacros)?;
    let version = input
        .version
        .ok_or_else(|| AppError::invalid("version", "must be the version you read"))?;
    let mut tx = app.store.write().await?;
    let before = macros::get(&mut tx.conn(), id).await?;
    let fields = fields_of(&mut tx, &input).await?;
    let after = macros::update(&mut tx.conn(), id, version, &fields).await?;
    record_change(
        &mut tx,
        caller,
        "macro",
        id,
        Action::Update,
        &before,
        &after,
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// A macro's text for one ticket, placeholders filled.
pub async fn fill(
    tx: &mut Tx,
    caller: &Caller,
    m: &Macro,
    ticket_id: i64,
) -> Result<String, AppError> {
    fill_text(tx, caller, &m.body, ticket_id).await
}

/// Any text with the macro placeholders ({customer.name}, {ticket.number},
/// {ticket.subject}, {agent.name}) filled for one ticket: macros and the
/// emails automation rules send.
pub(crate) async fn fill_text(
    tx: &mut Tx,
    caller: &Caller,
    text: &str,
    ticket_id: i64,
) -> Result<String, AppError> {
    let ticket = tickets::get(&mut tx.conn(), ticket_id).await?;
    let customer = match ticket.customer_id {
        Some(c) => kefu_store::names_of(&mut tx.conn(), Named::Customers, &[c])
            .await?
            .pop()
            .map(|(_, n)| n)
            .unwrap_or_default(),
        None => String::new(),
    };
    let agent = match caller.agent_id.or(ticket.assignee_id) {
        Some(a) => kefu_store::names_of(&mut tx.conn(), Named::Agents, &[a])
            .await?
            .pop()
            .map(|(_, n)| n)
            .unwrap_or_default(),
        None => String::new(),
    };
    let number = rules::display_number(ticket.id);
    Ok(rules::fill_placeholders(
        text,
        &[
            ("customer.name", &customer),
            ("ticket.number", &number),
            ("ticket.subject", &ticket.subject),
            ("agent.name", &agent),
        ],
    ))
}

/// Applies a macro inside `tx`: the message, then the field changes, then
/// the status move, each audited; the caller commits.
async fn apply_in(tx: &mut Tx, caller: &Caller, ticket_id: i64, m: &Macro) -> Result<(), AppError> {
    if !m.active {
        return Err(AppError::invalid(
            "macro_id",
            format!("macro {} is switched off", m.id),
        ));
    }
    let text = fill(tx, caller, m, ticket_id).await?;
    let closing = matches!(m.set_status.as_deref(), Some("resolved" | "closed"));
    if !text.is_empty() && !closing {
        let kind = MessageKind::parse_field("message_kind", &m.message_kind)?;
        let author = match caller.agent_id {
            Some(a) => Author::Agent(a),
            None => Author::System,
        };
        use_cases::append_message(tx, caller, ticket_id, kind, author, text.clone()).await?;
    }
    let current = tickets::get(&mut tx.conn(), ticket_id).await?;
    let mut tags = tickets::tags(&mut tx.conn(), ticket_id).await?;
    let mut added = false;
    for tag in m.add_tags.split(',').filter(|t| !t.is_empty()) {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
            added = true;
        }
    }
    if added || m.set_team_id.is_some() || m.set_assignee_id.is_some() {
        use_cases::update_in(
            tx,
            caller,
            ticket_id,
            &TicketChanges {
                version: current.version,
                tags: added.then_some(tags),
                team_id: m.set_team_id.map(Some),
                assignee_id: m.set_assignee_id.map(Some),
                ..TicketChanges::default()
            },
        )
        .await?;
    }
    if let Some(status) = &m.set_status {
        let current = tickets::get(&mut tx.conn(), ticket_id).await?;
        if current.status.as_str() != status {
            use_cases::change_status_in(
                tx,
                caller,
                ticket_id,
                &StatusChange {
                    version: current.version,
                    status: status.clone(),
                    reason: Some(format!("macro: {}", m.name)),
                    resolution_category: m.resolution_category.clone(),
                    resolution: closing.then_some(text),
                    ..StatusChange::default()
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// `{"macro_id": n, "version": v}`: the macro and the ticket version read.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyMacro {
    /// The macro.
    pub macro_id: i64,
    /// The ticket version the agent read.
    pub version: i64,
}

/// Applies a macro to one ticket, all of it or nothing.
pub async fn apply_macro(
    app: &App,
    caller: &Caller,
    ticket_id: i64,
    input: ApplyMacro,
) -> Result<TicketView, AppError> {
    caller.require(Permission::ManageTickets)?;
    let mut tx = app.store.write().await?;
    let ticket = tickets::get(&mut tx.conn(), ticket_id).await?;
    if ticket.version != input.version {
        return Err(AppError::Conflict {
            current_version: ticket.version,
        });
    }
    let m = match macros::get(&mut tx.conn(), input.macro_id).await {
        Ok(m) => m,
        Err(kefu_store::StoreError::NotFound) => {
            return Err(AppError::invalid(
                "macro_id",
                format!("macro {} does not exist", input.macro_id),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    apply_in(&mut tx, caller, ticket_id, &m).await?;
    tx.commit().await?;
    app.events
        .ticket(caller, ticket_id, crate::events::EventKind::Changed)
        .await;
    use_cases::get_ticket(app, caller, ticket_id).await
}

/// What to do to every selected ticket; exactly one action.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkAction {
    /// The tickets.
    pub ids: Vec<i64>,
    /// Give them to this agent (`0` unassigns).
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// Move them to this status (resolving needs a resolution: use a macro).
    #[serde(default)]
    pub status: Option<String>,
    /// Add this tag.
    #[serde(default)]
    pub add_tag: Option<String>,
    /// Apply this macro.
    #[serde(default)]
    pub macro_id: Option<i64>,
}

/// How one ticket of a bulk action fared.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct BulkResult {
    /// The ticket.
    pub id: i64,
    /// Whether the action was applied.
    pub ok: bool,
    /// Why not, as `field: reason`.
    pub error: Option<String>,
}

/// Applies one action to many tickets, each in its own transaction, so
/// one refused ticket (a move its state does not allow) does not hold
/// back the others; the answer says how each fared.
pub async fn bulk(
    app: &App,
    caller: &Caller,
    action: BulkAction,
) -> Result<Vec<BulkResult>, AppError> {
    caller.require(Permission::ManageTickets)?;
    let chosen = [
        action.assignee_id.is_some(),
        action.status.is_some(),
        action.add_tag.is_some(),
        action.macro_id.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen != 1 {
        return Err(AppError::invalid(
            "action",
            "choose exactly one of assignee_id, status, add_tag, macro_id",
        ));
    }
    if action.ids.is_empty() || action.ids.len() > 200 {
        return Err(AppError::invalid(
            "ids",
            "must list between 1 and 200 tickets",
        ));
    }
    let tag = match &action.add_tag {
        Some(t) => Some(customer_rules::tags("add_tag", std::slice::from_ref(t))?.remove(0)),
        None => None,
    };
    let the_macro =
        match action.macro_id {
            Some(id) => {
                let mut reader = app.store.read().await?;
                Some(macros::get(&mut reader.conn(), id).await.map_err(|_| {
                    AppError::invalid("macro_id", format!("macro {id} does not exist"))
                })?)
            }
            None => None,
        };
    let mut results = Vec::with_capacity(action.ids.len());
    for id in &action.ids {
        let outcome: Result<(), AppError> = async {
            let mut tx = app.store.write().await?;
            let current = tickets::get(&mut tx.conn(), *id).await?;
            if let Some(agent) = action.assignee_id {
                use_cases::update_in(
                    &mut tx,
                    caller,
                    *id,
                    &TicketChanges {
                        version: current.version,
                        assignee_id: Some(Some(agent).filter(|a| *a != 0)),
                        ..TicketChanges::default()
                    },
                )
                .await?;
            } else if let Some(status) = &action.status {
                use_cases::change_status_in(
                    &mut tx,
                    caller,
                    *id,
                    &StatusChange {
                        version: current.version,
                        status: status.clone(),
                        reason: Some("bulk".into()),
                        ..StatusChange::default()
                    },
                )
                .await?;
            } else if let Some(tag) = &tag {
                let mut tags = tickets::tags(&mut tx.conn(), *id).await?;
                if !tags.contains(tag) {
                    tags.push(tag.clone());
                    use_cases::update_in(
                        &mut tx,
                        caller,
                        *id,
                        &TicketChanges {
                            version: current.version,
                            tags: Some(tags),
                            ..TicketChanges::default()
                        },
                    )
                    .await?;
                }
            } else if let Some(m) = &the_macro {
                apply_in(&mut tx, caller, *id, m).await?;
            }
            tx.commit().await?;
            app.events
                .ticket(caller, *id, crate::events::EventKind::Changed)
                .await;
            Ok(())
        }
        .await;
        results.push(match outcome {
            Ok(()) => BulkResult {
                id: *id,
                ok: true,
                error: None,
            },
            Err(AppError::NotFound) => BulkResult {
                id: *id,
                ok: false,
                error: Some("not found".into()),
            },
            Err(AppError::Validation { field, reason }) => BulkResult {
                id: *id,
                ok: false,
                error: Some(format!("{field}: {reason}")),
            },
            Err(AppError::Forbidden) => return Err(AppError::Forbidden),
            Err(other) => BulkResult {
                id: *id,
                ok: false,
                error: Some(other.to_string()),
            },
        });
    }
    Ok(results)
}
