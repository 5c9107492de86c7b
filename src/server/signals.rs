//! The process signals the server obeys: SIGTERM or SIGINT stop it, SIGHUP reloads the TLS
//! certificate.

use std::sync::Arc;

use crate::http::CertificateStore;

/// Resolves on the next SIGTERM or SIGINT (Ctrl-C).
pub(super) async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGHUP re-reads the certificate and key; open connections keep theirs.
pub(super) async fn reload_certificates_on_hangup(store: Arc<CertificateStore>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: certificates will not be reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            match store.reload() {
                Ok(()) => tracing::info!("TLS certificate and key reloaded"),
                Err(error) => {
                    tracing::error!(%error, "TLS reload failed; keeping the previous certificate")
                }
            }
        }
    }
    #[cfg(not(unix))]
    drop(store);
}
