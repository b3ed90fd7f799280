//! Group commit for new work orders.
//!
//! A creation is checked on a read connection, beside every other request
//! (input rules, references, custom fields, the segmented search text);
//! then one writer task stores every creation that is waiting in one
//! transaction with a handful of multi-row statements. Concurrent creations
//! share one durable commit instead of each paying for its own, and an
//! answer is sent only after that commit: a success still means durable.
//! When a batch fails, each of its creations is retried alone, so one bad
//! creation never fails the others.

use crate::audit::BOOKKEEPING;
use crate::custom_fields::{Requirement, check_values, value_changes, values_json};
use crate::tickets::{
    AuditSnapshot, CheckedTicket, NameRef, NewTicket, TicketView, check_new_ticket,
    default_channel, named,
};
use crate::{AppError, Caller};
use kefu_domain::audit::{Action, Actor};
use kefu_domain::custom_field::FieldTarget;
use kefu_domain::ticket::{self as rules, Priority};
use kefu_store::custom_fields::{self, CustomField};
use kefu_store::tickets::{self, Ticket};
use kefu_store::{Conn, Named, Store, Tx, audit as audit_log};
use tokio::sync::{mpsc, oneshot};

/// Creations stored in one transaction at most (the rest wait for the next).
const MAX_BATCH: usize = 256;

/// A new ticket checked and ready to store, with what its answer shows.
pub(crate) struct Prepared {
    caller: Caller,
    checked: CheckedTicket,
    /// Custom field values: (field id, value).
    custom: Vec<(i64, String)>,
    /// The ticket custom fields defined when it was checked.
    fields_defined: Vec<CustomField>,
    /// The segmented search document.
    document: String,
    /// The team a routing rule chose, when the creator named none.
    routed_team: Option<i64>,
    shown: Shown,
}

/// Names and derived values for the answer, read while checking.
struct Shown {
    matrix_priority: Priority,
    customer: Option<NameRef>,
    organization: Option<NameRef>,
    category: Option<NameRef>,
    team: Option<NameRef>,
    assignee: Option<NameRef>,
    watchers: Vec<NameRef>,
    parent: Option<NameRef>,
}

/// Checks `input` on `conn` and reads what the answer shows.
pub(crate) async fn prepare(
    conn: &mut Conn<'_>,
    caller: &Caller,
    input: &NewTicket,
) -> Result<Prepared, AppError> {
    let settings = tickets::settings(conn).await?;
    let mut checked = check_new_ticket(conn, input, default_channel(caller), &settings).await?;
    let routed_team = crate::routing::team_for_new(conn, &checked).await?;
    if routed_team.is_some() {
        checked.fields.team_id = routed_team;
    }
    let fields_defined = custom_fields::all(conn, FieldTarget::Ticket).await?;
    // Customers never see the internal fields; agents fill them in later.
    let requirement = match caller.actor {
        Actor::Customer(_) => Requirement::Relaxed,
        _ => Requirement::Enforced,
    };
    let custom = check_values(&fields_defined, &input.custom_fields, &[], requirement)?;
    let f = &checked.fields;
    let document = crate::search::document(&format!("{}\n{}", f.subject, f.description));
    let mut agent_ids = checked.watchers.clone();
    agent_ids.extend(f.assignee_id);
    let agents = if agent_ids.is_empty() {
        Vec::new()
    } else {
        kefu_store::names_of(conn, Named::Agents, &agent_ids).await?
    };
    let agent = |id: i64| NameRef {
        id,
        name: agents
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default(),
    };
    let parent = match f.parent_id {
        Some(id) => Some(NameRef {
            id,
            name: tickets::get(conn, id).await?.subject,
        }),
        None => None,
    };
    let shown = Shown {
        matrix_priority: settings.priority_matrix.priority(f.urgency, f.impact),
        customer: f.customer_id.map(|id| NameRef {
            id,
            name: checked.customer_name.clone().unwrap_or_default(),
        }),
        organization: named(conn, Named::Organizations, f.organization_id).await?,
        category: named(conn, Named::TicketCategories, f.category_id).await?,
        team: named(conn, Named::Teams, f.team_id).await?,
        assignee: f.assignee_id.map(agent),
        watchers: checked.watchers.iter().map(|id| agent(*id)).collect(),
        parent,
    };
    Ok(Prepared {
        caller: caller.clone(),
        checked,
        custom,
        fields_defined,
        document,
        routed_team,
        shown,
    })
}

/// Stores prepared tickets inside `tx`: rows, search documents, tags,
/// watchers, custom field values and their audit records, one
/// statement of each kind for all of them. Returns them in the order given.
pub(crate) async fn write(tx: &mut Tx, all: &[Prepared]) -> Result<Vec<Ticket>, AppError> {
    // A customer merged away since the check: refused as the check would
    // (under the write lock, so no merge slips in between).
    let mut customers: Vec<i64> = all
        .iter()
        .filter_map(|p| p.checked.fields.customer_id)
        .collect();
    customers.sort_unstable();
    customers.dedup();
    if let Some((id, survivor)) = kefu_store::customers::merged_among(&mut tx.conn(), &customers)
        .await?
        .first()
    {
        return Err(AppError::invalid(
            "customer_id",
            format!("customer {id} was merged into customer {survivor}; use that one"),
        ));
    }
    let now = kefu_store::now();
    let rows: Vec<_> = all
        .iter()
        .map(|p| (p.checked.fields.clone(), now, now))
        .collect();
    let mut stored = tickets::insert_many(&mut tx.conn(), &rows).await?;
    let documents: Vec<(i64, String)> = stored
        .iter()
        .zip(all)
        .map(|(t, p)| (t.id, p.document.clone()))
        .collect();
    tickets::index(&mut tx.conn(), &documents).await?;
    let mut tags = Vec::new();
    let mut watchers = Vec::new();
    let mut values = Vec::new();
    for (t, p) in stored.iter().zip(all) {
        tags.extend(p.checked.tags.iter().map(|tag| (t.id, tag.clone())));
        watchers.extend(p.checked.watchers.iter().map(|agent| (t.id, *agent)));
        values.extend(p.custom.iter().map(|(f, v)| (t.id, *f, v.clone())));
    }
    if !tags.is_empty() {
        tickets::add_tags_many(&mut tx.conn(), &tags).await?;
    }
    if !watchers.is_empty() {
        tickets::add_watchers_many(&mut tx.conn(), &watchers).await?;
    }
    if !values.is_empty() {
        custom_fields::add_values_many(&mut tx.conn(), FieldTarget::Ticket, &values).await?;
    }
    // Tags are written, so policies that match on them see them.
    crate::sla::start_clocks(tx, &mut stored).await?;
    let ids: Vec<i64> = stored.iter().map(|t| t.id).collect();
    crate::routing::mark(tx, &ids).await?;
    crate::automations::run(
        tx,
        &Caller::system("creation"),
        kefu_domain::automation::Trigger::TicketCreated,
        &ids,
    )
    .await?;
    let router = Caller::system(crate::routing::ACTOR);
    let mut records = Vec::with_capacity(all.len());
    for (t, p) in stored.iter().zip(all) {
        // The creator's record shows what they gave; a team the rules
        // chose follows as the router's own change.
        let as_given = p.routed_team.map(|_| Ticket {
            team_id: None,
            ..t.clone()
        });
        let snapshot = serde_json::to_value(AuditSnapshot {
            ticket: as_given.as_ref().unwrap_or(t),
            tags: &p.checked.tags,
            watchers: &p.checked.watchers,
            reason: None,
        })
        .map_err(|e| AppError::Internal(e.to_string()))?;
        records.push((
            &p.caller,
            t.id,
            Action::Create,
            kefu_domain::audit::creation(&snapshot, &BOOKKEEPING),
        ));
        let custom = value_changes(&p.fields_defined, &[], &p.custom);
        if !custom.is_empty() {
            records.push((&p.caller, t.id, Action::Create, custom));
        }
        if let Some(team) = p.routed_team {
            records.push((
                &router,
                t.id,
                Action::Update,
                crate::routing::team_choice_change(team),
            ));
        }
    }
    let entries: Vec<audit_log::Entry<'_>> = records
        .into_iter()
        .map(|(caller, id, action, changes)| audit_log::Entry {
            actor: &caller.actor,
            source: caller.source,
            entity: FieldTarget::Ticket.as_str(),
            entity_id: id,
            action,
            changes,
        })
        .collect();
    audit_log::append_many(&mut tx.conn(), &entries).await?;
    let created: Vec<(Option<i64>, serde_json::Value)> = stored
        .iter()
        .zip(all)
        .map(|(t, p)| {
            (
                Some(t.id),
                serde_json::json!({"ticket": t, "tags": &p.checked.tags}),
            )
        })
        .collect();
    crate::webhooks::emit(
        tx,
        kefu_domain::webhook::WebhookEvent::TicketCreated,
        &created,
    )
    .await?;
    Ok(stored)
}

/// The answer for a ticket just stored: nothing hangs off it yet, so
/// the names read while checking are all it needs.
pub(crate) fn view(ticket: Ticket, prepared: Prepared) -> TicketView {
    let custom_fields = if prepared.fields_defined.iter().any(|f| f.active) {
        values_json(&prepared.fields_defined, &prepared.custom)
    } else {
        serde_json::Map::new()
    };
    let mut tags = prepared.checked.tags;
    tags.sort();
    let shown = prepared.shown;
    // Just created, a ticket is at the start of its targets: the warning
    // share cannot have been reached yet unless a target is shorter than
    // the write took, so the default share serves.
    let sla = crate::sla::view_of(&ticket, &Default::default(), chrono::Utc::now());
    TicketView {
        sla,
        number: rules::display_number(ticket.id),
        matrix_priority: shown.matrix_priority,
        next_statuses: ticket.status.next().to_vec(),
        tags,
        watchers: shown.watchers,
        customer: shown.customer,
        organization: shown.organization,
        category: shown.category,
        team: shown.team,
        assignee: shown.assignee,
        parent: shown.parent,
        children: Vec::new(),
        related: Vec::new(),
        plan: Vec::new(),
        custom_fields,
        ticket,
    }
}

/// What the writer answers: the stored ticket and its preparation back.
type Outcome = Result<(Ticket, Prepared), AppError>;

/// One creation waiting for the writer.
struct Job {
    prepared: Prepared,
    reply: oneshot::Sender<Outcome>,
}

/// The queue to the writer task that stores creations in group commits.
#[derive(Clone, Debug)]
pub(crate) struct CreationQueue {
    sender: mpsc::Sender<Job>,
}

impl CreationQueue {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(store: Store) -> CreationQueue {
        let (sender, receiver) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(store, receiver));
        CreationQueue { sender }
    }

    /// Stores `prepared` in the next group commit; answers once it is
    /// durable (or failed).
    pub(crate) async fn store(&self, prepared: Prepared) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { prepared, reply })
            .await
            .map_err(|_| AppError::Internal("the ticket writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| AppError::Internal("the ticket writer dropped a creation".into()))?
    }
}

/// The writer: takes the first waiting creation and every one queued
/// behind it, stores them in one transaction, answers them all.
async fn run(store: Store, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let batch = with_waiting(first, &mut receiver, MAX_BATCH);
        store_batch(&store, batch).await;
    }
}

/// `first` and the jobs queued behind it, up to `max` in all: what one
/// group commit takes.
pub(crate) fn with_waiting<T>(first: T, receiver: &mut mpsc::Receiver<T>, max: usize) -> Vec<T> {
    let mut batch = vec![first];
    while batch.len() < max {
        match receiver.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch
}

async fn store_batch(store: &Store, batch: Vec<Job>) {
    let (prepared, replies): (Vec<Prepared>, Vec<_>) =
        batch.into_iter().map(|j| (j.prepared, j.reply)).unzip();
    match commit(store, &prepared).await {
        Ok(stored) => {
            for ((ticket, p), reply) in stored.into_iter().zip(prepared).zip(replies) {
                let _ = reply.send(Ok((ticket, p)));
            }
        }
        Err(e) if prepared.len() == 1 => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(e));
            }
        }
        Err(_) => {
            // Find the creation that failed: each alone, in its own commit.
            for (p, reply) in prepared.into_iter().zip(replies) {
                let one = std::slice::from_ref(&p);
                let outcome = match commit(store, one).await {
                    Ok(mut stored) => match stored.pop() {
                        Some(ticket) => Ok((ticket, p)),
                        None => Err(AppError::Internal(
                            "the ticket insert returned no row".into(),
                        )),
                    },
                    Err(e) => Err(e),
                };
                let _ = reply.send(outcome);
            }
        }
    }
}

async fn commit(store: &Store, all: &[Prepared]) -> Result<Vec<Ticket>, AppError> {
    let mut tx = store.write().await?;
    // Creating tickets changes no configuration.
    tx.pin_config_stamp().await?;
    let stored = write(&mut tx, all).await?;
    tx.commit().await?;
    Ok(stored)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_creation_that_fails_in_the_batch_fails_alone() {
        let (store, path) = crate::test_support::fresh_store("creation").await;
        let caller = Caller::system("test");
        let mut reader = store.read().await.unwrap();
        let mut batch = Vec::new();
        let mut answers = Vec::new();
        for subject in ["first", "broken", "third"] {
            let input = NewTicket {
                subject: subject.into(),
                ..NewTicket::default()
            };
            let mut prepared = prepare(&mut reader.conn(), &caller, &input).await.unwrap();
            if subject == "broken" {
                // A team removed after the check: the insert breaks a
                // foreign key, inside the shared transaction.
                prepared.checked.fields.team_id = Some(999_999);
            }
            let (reply, answer) = oneshot::channel();
            batch.push(Job { prepared, reply });
            answers.push(answer);
        }
        drop(reader);
        store_batch(&store, batch).await;
        let mut outcomes = Vec::new();
        for answer in answers {
            outcomes.push(answer.await.unwrap().map(|(t, _)| t));
        }
        assert!(outcomes[1].is_err());
        let mut reader = store.read().await.unwrap();
        for outcome in [&outcomes[0], &outcomes[2]] {
            let ticket = outcome.as_ref().unwrap();
            let stored = tickets::get(&mut reader.conn(), ticket.id).await.unwrap();
            assert_eq!(&stored, ticket);
            let history = audit_log::for_record(&mut reader.conn(), "ticket", ticket.id)
                .await
                .unwrap();
            assert_eq!(history.len(), 1, "one creation record");
        }
        let all = tickets::search(
            &mut reader.conn(),
            &tickets::Filter::default(),
            tickets::Sort::Oldest,
            &tickets::After::Start,
            10,
        )
        .await
        .unwrap();
        assert_eq!(all.len(), 2, "nothing of the broken creation was kept");
        drop(reader);
        store.close().await;
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod merge_race {
    use super::*;
    use crate::customers::{NewCustomer, create_customer};

    #[tokio::test]
    async fn a_customer_merged_after_the_check_is_refused_by_name() {
        let (store, path) = crate::test_support::fresh_store("creation").await;
        let files = path.with_extension("files");
        let app = crate::App::start(
            store.clone(),
            crate::attachments::AttachmentSettings::on_disk(files.clone(), 5),
        )
        .await
        .unwrap();
        let caller = Caller::system("test");
        let mut ids = Vec::new();
        for name in ["林小雨", "林小雨（重复）"] {
            let made = create_customer(
                &app,
                &caller,
                NewCustomer {
                    name: name.into(),
                    ..NewCustomer::default()
                },
            )
            .await
            .unwrap();
            ids.push(made.customer.id);
        }
        let input = NewTicket {
            subject: "合并前开的工单".into(),
            customer_id: Some(ids[1]),
            ..NewTicket::default()
        };
        let prepared = {
            let mut reader = store.read().await.unwrap();
            prepare(&mut reader.conn(), &caller, &input).await.unwrap()
        };
        // The duplicate is merged into the survivor before the write.
        let mut tx = store.write().await.unwrap();
        kefu_store::customers::mark_merged(&mut tx.conn(), ids[1], ids[0])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (reply, answer) = oneshot::channel();
        store_batch(&store, vec![Job { prepared, reply }]).await;
        match answer.await.unwrap() {
            Err(AppError::Validation { field, reason }) => {
                assert_eq!(field, "customer_id");
                assert!(reason.contains("merged"), "{reason}");
            }
            other => panic!("expected a refusal, got {:?}", other.map(|(t, _)| t)),
        }
        store.close().await;
        let _ = std::fs::remove_file(path);
        let _ = std::fs::remove_dir_all(files);
    }
}
