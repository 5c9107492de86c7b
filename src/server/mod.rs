//! The running hub, wired together: opens the history, starts the hub and its listeners, serves
//! until SIGTERM or SIGINT, then stops within `shutdown_timeout` (shutdown.rs). `quicksilver
//! serve` is this with a loaded configuration and a runtime around it.

mod history;
mod listeners;
mod shutdown;
mod signals;

use thiserror::Error;

use crate::http::TlsError;
use crate::hub::{Hub, HubError};
use crate::log::LogError;
use crate::settings::Settings;

use listeners::Listeners;
use shutdown::Shutdown;

/// Why the server could not start or did not stop cleanly.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The configured history could not be opened.
    #[error("history store")]
    History(#[source] LogError),
    /// A shared history's feed of other nodes' publishes could not start.
    #[error("history feed")]
    Feed(#[source] HubError),
    /// The certificate or key could not be loaded.
    #[error("TLS")]
    Tls(#[source] TlsError),
    /// The main listener's address could not be bound.
    #[error("cannot listen on {address}")]
    Listen {
        /// The `listen` address.
        address: String,
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },
    /// The admin listener's address could not be bound.
    #[error("cannot listen on {address} (admin_listen)")]
    AdminListen {
        /// The `admin_listen` address.
        address: String,
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },
    /// The main listener's task panicked or was cancelled.
    #[error("server task")]
    Task(#[source] tokio::task::JoinError),
    /// The main listener ended with an error.
    #[error("server")]
    Server(#[source] std::io::Error),
    /// The thread closing the history panicked: what was acknowledged may not be synced.
    #[error("closing the history")]
    CloseTask(#[source] tokio::task::JoinError),
    /// The history's final write failed (R-SHUTDOWN).
    #[error("closing the history")]
    Close(#[source] HubError),
}

/// Serves until a signal, then stops gracefully.
pub async fn run(settings: Settings) -> Result<(), ServerError> {
    let log = history::open(&settings.history).map_err(ServerError::History)?;
    let hub = Hub::new(
        log,
        settings.streams.delivery(),
        settings.features.subscriptions,
    );
    hub.start_feed().map_err(ServerError::Feed)?;
    let budget = settings.listener.shutdown_timeout;
    let streams_end_by_themselves = settings.streams.write_timeout.is_some();
    let listeners = Listeners::start(hub.clone(), settings)?;
    signals::terminate().await;
    let state = Shutdown::begin(budget, streams_end_by_themselves)
        .stop(&hub, listeners)
        .await?;
    // Explicitly, not by dropping the last `Arc<Hub>`: what was acknowledged is written and
    // synced, and the writer thread joined, before the process exits (R-SHUTDOWN).
    tokio::task::spawn_blocking(move || hub.close_history())
        .await
        .map_err(ServerError::CloseTask)?
        .map_err(ServerError::Close)?;
    drop(state);
    tracing::info!("stopped");
    Ok(())
}
