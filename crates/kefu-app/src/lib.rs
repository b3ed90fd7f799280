//! Kefu's use cases.
//!
//! Each public function here is one thing a user or integration does
//! (sign in, create a team, load the demo): it checks the caller's
//! permission first, validates through the domain crate, and runs in one
//! store transaction together with its audit record. Nothing here knows
//! about HTTP; handlers call these functions and render the result.

pub mod alarms;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod automations;
mod background;
mod cache;
pub mod calendars;
mod caller;
pub mod company;
mod creation;
pub mod custom_fields;
pub mod customers;
pub mod demo;
pub mod demo_tickets;
pub mod directory;
mod error;
pub mod events;
pub mod imap;
pub mod import;
pub mod jobs;
pub mod macros;
pub mod mail;
pub mod mail_out;
pub mod page;
pub mod portal;
pub mod routing;
pub mod search;
pub mod signin;
pub mod sla;
#[cfg(test)]
mod test_support;
pub mod tickets;
pub mod web_form;
pub mod webhooks;

pub use caller::Caller;
pub use error::AppError;

use kefu_domain::public_id::PublicIdCodec;
use kefu_store::Store;

/// Everything a use case needs: the store and installation-wide keys.
#[derive(Clone, Debug)]
pub struct App {
    /// The database.
    pub store: Store,
    /// Encodes customer-facing numbers under this installation's secret.
    pub public_ids: PublicIdCodec,
    /// Live ticket events for open queues and ticket pages.
    pub events: events::Events,
    /// Where attached files go and how large they may be.
    pub attachments: attachments::AttachmentSettings,
    /// Signs the public web form's tokens (derived from the installation secret).
    pub form_key: Vec<u8>,
    /// The writer task that stores new tickets in group commits.
    creations: creation::CreationQueue,
    /// The writer task that stores received mail in group commits.
    mail_writer: mail::MailWriter,
    /// Imports started from the page, followed by their progress page.
    pub imports: import::ImportJobs,
    /// The HTTP client outgoing webhooks are sent with (no redirects
    /// followed: a signed delivery goes only where it was pointed).
    pub http: reqwest::Client,
}

/// Makes ring the process's TLS cryptography, which every HTTP client
/// (webhooks here; load and browser drivers in tests and benchmarks)
/// needs before it is built. Calling it again does nothing.
pub fn install_tls() {
    // Err only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl App {
    /// Prepares an opened, migrated store for use: makes the installation
    /// secret on first start and builds the codecs that depend on it.
    pub async fn start(
        store: Store,
        attachments: attachments::AttachmentSettings,
    ) -> Result<App, AppError> {
        // The word dictionary loads in the background, before the first search needs it.
        std::thread::spawn(search::warm_up);
        let mut tx = store.write().await?;
        let secret = kefu_store::instance::ensure_secret(&mut tx.conn()).await?;
        tx.commit().await?;
        let form_key = {
            use sha2::Digest;
            sha2::Sha256::new()
                .chain_update(b"kefu web form key:")
                .chain_update(&secret)
                .finalize()
                .to_vec()
        };
        install_tls();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(webhooks::TIMEOUT)
            .build()
            .map_err(|e| AppError::Internal(format!("the HTTP client cannot start: {e}")))?;
        Ok(App {
            http,
            form_key,
            public_ids: PublicIdCodec::new(&secret),
            events: events::Events::start(&store).await,
            creations: creation::CreationQueue::start(store.clone()),
            mail_writer: mail::MailWriter::start(store.clone()),
            store,
            attachments,
            imports: import::ImportJobs::default(),
        })
    }
}
