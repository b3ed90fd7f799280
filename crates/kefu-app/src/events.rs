//! Live ticket events: what open queues and ticket pages hear, so a queue
//! refreshes when tickets change and an agent learns that someone else is
//! replying to, or has just changed, the ticket in front of them.
//!
//! Events are hints for screens, not records: the database is the truth.
//! On SQLite (one process) they go through an in-memory channel; on
//! PostgreSQL through `NOTIFY`/`LISTEN`, so every instance serving the same
//! database hears every change.

use kefu_store::Store;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

const CHANNEL: &str = "kefu_ticket_events";

/// What happened to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new ticket.
    Created,
    /// A field, the status or the conversation changed.
    Changed,
    /// An agent is writing a reply or note on it.
    Replying,
}

/// One live event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TicketEvent {
    /// The ticket.
    pub ticket_id: i64,
    /// What happened.
    pub kind: EventKind,
    /// The agent who did it, if an agent did.
    pub agent_id: Option<i64>,
    /// The agent's name, when the sender knew it.
    #[serde(default)]
    pub agent_name: String,
}

/// The live event hub of one process.
#[derive(Clone)]
pub struct Events {
    sender: broadcast::Sender<TicketEvent>,
    store: Store,
    closing: tokio::sync::watch::Sender<bool>,
    listener: Option<std::sync::Arc<tokio::task::AbortHandle>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("subscribers", &self.sender.receiver_count())
            .finish()
    }
}

impl Events {
    /// The hub; on PostgreSQL it also starts listening for other instances.
    pub async fn start(store: &Store) -> Events {
        let (sender, _) = broadcast::channel(1024);
        let mut handle = None;
        match store.listen(CHANNEL).await {
            Ok(Some(mut listener)) => {
                let forward = sender.clone();
                let task = tokio::spawn(async move {
                    loop {
                        match listener.recv().await {
                            Ok(payload) => {
                                if let Ok(event) = serde_json::from_str::<TicketEvent>(&payload) {
                                    // Nobody listening is fine.
                                    let _ = forward.send(event);
                                }
                            }
                            Err(error) => {
                                tracing::warn!(%error, "live ticket events: listening failed; retrying");
                                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            }
                        }
                    }
                });
                handle = Some(std::sync::Arc::new(task.abort_handle()));
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "live ticket events from other instances are off");
            }
        }
        Events {
            sender,
            store: store.clone(),
            closing: tokio::sync::watch::Sender::new(false),
            listener: handle,
        }
    }

    /// Ends every open event stream, so a graceful shutdown does not wait
    /// for browsers that would keep listening for ever.
    pub fn close(&self) {
        self.closing.send_replace(true);
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }

    /// Resolves when [`Events::close`] was called.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TicketEvent> {
        self.sender.subscribe()
    }

    /// Announces an event, after the change it reports was committed.
    pub async fn publish(&self, event: TicketEvent) {
        if self.store.backend() == kefu_store::Backend::Postgres {
            match serde_json::to_string(&event) {
                Ok(payload) => {
                    if let Err(error) = self.store.notify(CHANNEL, &payload).await {
                        tracing::warn!(%error, "could not announce a ticket event");
                        let _ = self.sender.send(event);
                    }
                }
                Err(error) => tracing::warn!(%error, "could not encode a ticket event"),
            }
        } else {
            let _ = self.sender.send(event);
        }
    }

    /// Shorthand: `kind` happened to `ticket_id`, by the caller's agent.
    pub async fn ticket(&self, caller: &crate::Caller, ticket_id: i64, kind: EventKind) {
        self.publish(TicketEvent {
            ticket_id,
            kind,
            agent_id: caller.agent_id,
            agent_name: String::new(),
        })
        .await;
    }
}
