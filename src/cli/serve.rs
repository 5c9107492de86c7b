//! `quicksilver serve`: load the configuration, open the history, serve until a signal.

use std::sync::Arc;

use anyhow::Context;

use super::ServeArgs;
use crate::config::{Config, Overrides, Transport};
use crate::http::{self, AppState};
use crate::hub::Hub;
use crate::settings::Settings;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let loaded = Config::load_layers(args.config.as_deref(), &|name| std::env::var(name).ok())
        .context("configuration")?;
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
    let hub = Hub::new(log, settings.subscriber_queue_size, settings.subscriptions);
    let listen = settings.listen.clone();
    let state = Arc::new(AppState {
        hub: hub.clone(),
        settings,
    });
    let (server, addresses) =
        http::bind(state).with_context(|| format!("cannot listen on {listen}"))?;
    for address in &addresses {
        tracing::info!("Quicksilver listening on http://{address}");
    }
    let handle = server.handle();
    let server_task = tokio::spawn(server);
    wait_for_signal().await;
    tracing::info!("shutting down");
    http::stop(&hub, handle).await;
    server_task
        .await
        .context("server task")?
        .context("server")?;
    Ok(())
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
