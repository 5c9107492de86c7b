//! `quicksilver serve`: load the configuration, open the history, serve until a signal.

use anyhow::Context;

use super::logging;
use super::shutdown::Shutdown;
use super::ServeArgs;
use crate::config::{Config, LogFormat, Overrides, Transport};
use crate::http::{self, AppState, CertificateStore};
use crate::hub::Hub;
use crate::settings::Settings;

pub(super) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let loaded = Config::load_layers(args.config.as_deref(), &|name| std::env::var(name).ok())
        .inspect_err(|_| logging::init(LogFormat::Text))
        .context("configuration")?;
    logging::init(loaded.config.log_format);
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    let mut config = loaded.config;
    config.apply_overrides(&Overrides {
        listen: args.listen,
        transport: args.no_persist.then_some(Transport::Memory),
    });
    let settings = Settings::from_config(&config).context("configuration")?;
    if config.uses_development_key() {
        tracing::warn!(
            "!!! DEVELOPMENT KEY IN USE: the JWT key is the public development secret; anyone can \
             mint tokens for this hub. Set publisher_jwt_key and subscriber_jwt_key before production. !!!"
        );
    }
    if settings.subscriptions && settings.auth.subscriber.is_none() {
        tracing::warn!("the subscription API is open to everyone: no subscriber key is configured");
    }
    if settings.auth.subscriber.is_none() {
        tracing::info!(
            "no subscriber key: every subscriber is anonymous and receives public updates only"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let log = settings.open_log().context("history store")?;
    let hub = Hub::new(log, settings.delivery(), settings.subscriptions);
    hub.start_feed().context("history feed")?;
    let listen = settings.listen.clone();
    let admin_listen = settings.admin_listen.clone();
    let budget = settings.shutdown_timeout;
    let streams_end_by_themselves = settings.write_timeout.is_some();
    let certificates = match &settings.tls {
        Some((cert, key)) => Some(CertificateStore::load(cert, key).context("TLS")?),
        None => None,
    };
    let tls = certificates
        .as_ref()
        .map(|store| store.server_config())
        .transpose()
        .context("TLS")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let state = AppState::new(hub.clone(), settings);
    let (server, addresses) =
        http::bind(state.clone(), tls).with_context(|| format!("cannot listen on {listen}"))?;
    if let Some(store) = certificates {
        tokio::spawn(reload_certificates_on_sighup(store));
    }
    let admin = match &admin_listen {
        Some(address) => {
            let (admin, admin_addresses) = http::admin::bind(state.clone(), address)
                .with_context(|| format!("cannot listen on {address} (admin_listen)"))?;
            for address in &admin_addresses {
                tracing::info!("admin listener (metrics, health) on http://{address}");
            }
            Some((admin.handle(), tokio::spawn(admin)))
        }
        None => None,
    };
    for address in &addresses {
        tracing::info!("Quicksilver listening on {scheme}://{address}");
    }
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    wait_for_signal().await;
    let stop = Shutdown::begin(budget, streams_end_by_themselves);
    tracing::info!(
        "shutting down: no new connections; open streams end on their own deadlines, at most {:?}; done within {budget:?}",
        stop.draining_for()
    );
    handle.pause().await;
    tokio::select! {
        _ = tokio::time::sleep_until(stop.drain_until()) => {}
        _ = hub.until_idle() => {}
        _ = wait_for_signal() => tracing::info!("second signal: ending every stream now"),
    }
    http::stop(&hub, handle, stop.deadline()).await;
    // A shared log writes subscription events and presence changes in the background.
    let log = hub.log().clone();
    let settle_for = stop.remaining();
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(feed) = log.feed() {
            feed.settle(settle_for);
        }
    })
    .await;
    if let Some((admin_handle, admin_task)) = admin {
        admin_handle.stop(false).await;
        let _ = admin_task.await;
    }
    server_task
        .await
        .context("server task")?
        .context("server")?;
    // Explicitly, not by dropping the last `Arc<Hub>`: what was acknowledged is written and
    // synced, and the writer thread joined, before the process exits (R-SHUTDOWN).
    let closing = hub.clone();
    tokio::task::spawn_blocking(move || closing.close_history())
        .await
        .context("closing the history")?
        .context("closing the history")?;
    drop(state);
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP re-reads the certificate and key; open connections keep theirs.
async fn reload_certificates_on_sighup(store: std::sync::Arc<CertificateStore>) {
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

async fn wait_for_signal() {
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
