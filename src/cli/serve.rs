//! `quicksilver serve`: load the configuration, set up logging and a runtime, and run the server
//! (`crate::server`) until a signal.

use anyhow::Context;

use super::logging;
use super::ServeArgs;
use crate::config::{Config, LogFormat, Overrides, Transport};
use crate::server;
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
    let settings = Settings::try_from(&config).context("configuration")?;
    if config.uses_development_key() {
        tracing::warn!(
            "!!! DEVELOPMENT KEY IN USE: the JWT key is the public development secret; anyone can \
             mint tokens for this hub. Set publisher_jwt_key and subscriber_jwt_key before production. !!!"
        );
    }
    if settings.features.subscriptions && settings.auth.subscriber.is_none() {
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
    runtime.block_on(server::run(settings))?;
    Ok(())
}
