//! The validated runtime settings built from a `Config`: every configuration error surfaces
//! here, at startup, with a clear message (protocol.md C-ENV-4, A-AUTH-16).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::auth::{KeyError, OriginError, OriginList, Verifier};
use crate::config::{self, Config, Transport};
use crate::hub::Delivery;
use crate::log::{Durability, EventLog, LogError, MemoryLog, RedisLog, Retention, SledLog};

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("no publisher key: set publisher_jwt_key (QUICKSILVER_PUBLISHER_JWT_KEY) or publisher_jwks_url")]
    MissingPublisherKey,
    #[error("no subscriber key: set subscriber_jwt_key (QUICKSILVER_SUBSCRIBER_JWT_KEY), or allow anonymous subscribers with anonymous = true")]
    MissingSubscriberKey,
    /// A `*_jwt_key` that names a PEM file with an `HS*` algorithm: the path text would be the
    /// HMAC secret (R-TOKEN).
    #[error("{role}_jwt_key names the PEM file {path} but {role}_jwt_alg is {alg}: set {role}_jwt_alg to the key's algorithm (RS256, ES256, ...)")]
    PemPathWithHmac {
        role: &'static str,
        path: String,
        alg: String,
    },
    #[error("publisher key: {0}")]
    PublisherKey(KeyError),
    #[error("subscriber key: {0}")]
    SubscriberKey(KeyError),
    #[error("cors_origins: {0}")]
    CorsOrigins(OriginError),
    #[error("publish_origins: {0}")]
    PublishOrigins(OriginError),
    #[error("cookie_name must be a non-empty cookie name without spaces, ';', ',' or '='")]
    CookieName,
    #[error("tls_cert and tls_key go together: set both for HTTPS, or neither")]
    TlsPair,
    #[error("subscriber_queue_size must be at least 1")]
    QueueSize,
    #[error("batch_window must be at most 1s (it delays events; 0s writes each at once)")]
    BatchWindow,
    #[error(
        "request_timeout must be longer than 0s (it bounds how long a connection may stay silent)"
    )]
    RequestTimeout,
}

/// The longest `batch_window` accepted: events wait up to this long.
const MAX_BATCH_WINDOW: Duration = Duration::from_secs(1);

/// How requests are authorized.
#[derive(Debug)]
pub struct AuthSettings {
    pub publisher: Verifier,
    /// `None` on an anonymous-only hub: subscriber tokens are then not read at all.
    pub subscriber: Option<Verifier>,
    pub anonymous: bool,
    pub cookie_name: String,
    pub publish_origins: OriginList,
}

#[derive(Debug)]
pub struct Settings {
    pub listen: String,
    pub auth: AuthSettings,
    pub cors_origins: OriginList,
    pub heartbeat: Option<Duration>,
    pub write_timeout: Option<Duration>,
    /// 0 = no limit.
    pub max_request_body_size: u64,
    pub subscriber_queue_size: usize,
    /// Events closer than this to the previous write to a subscriber are written together.
    pub batch_window: Duration,
    pub retention: Retention,
    pub transport: Transport,
    /// Subscription events and the subscription API (A-SUBS-1).
    pub subscriptions: bool,
    pub data_dir: PathBuf,
    pub durability: Durability,
    pub sled_cache_size: u64,
    pub redis_url: String,
    pub redis_key_prefix: String,
    /// The debugging UI at `/.well-known/mercure/ui/` (protocol.md C-UI-1).
    pub ui: bool,
    /// The demo echo endpoints (A-DISC-3, C-UI-3); implies `ui`.
    pub demo: bool,
    /// Longest a write to a subscriber may stall before its connection is closed (C-TMO-2).
    pub dispatch_timeout: Option<Duration>,
    /// Longest a graceful shutdown waits for streams to end on their own (C-SHUT-1).
    pub shutdown_timeout: Duration,
    /// Subscription connections allowed in total and per client address; 0 = no limit.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Longest accepted selector, in bytes; 0 = no limit.
    pub max_selector_length: usize,
    /// Most bytes of all selectors of one subscription request together; 0 = no limit.
    pub max_selectors_size: u64,
    /// Longest a connection may take to complete its first request head (never zero).
    pub request_timeout: Duration,
    /// Serve `/metrics` on the main listener.
    pub metrics: bool,
    /// The admin listener (metrics and health checks), when configured.
    pub admin_listen: Option<String>,
    /// Certificate chain and private key files: HTTPS when set.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, SettingsError> {
        if config.subscriber_queue_size == 0 {
            return Err(SettingsError::QueueSize);
        }
        if config.batch_window > MAX_BATCH_WINDOW {
            return Err(SettingsError::BatchWindow);
        }
        if config.request_timeout.is_zero() {
            return Err(SettingsError::RequestTimeout);
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => return Err(SettingsError::TlsPair),
        };
        Ok(Self {
            tls,
            dispatch_timeout: non_zero(config.dispatch_timeout),
            shutdown_timeout: config.shutdown_timeout,
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            max_selector_length: config.max_selector_length,
            max_selectors_size: config.max_selectors_size,
            request_timeout: config.request_timeout,
            metrics: config.metrics,
            admin_listen: config.admin_listen.clone().filter(|a| !a.is_empty()),
            listen: config.listen.clone(),
            auth: auth_settings(config)?,
            cors_origins: OriginList::parse(&config.cors_origins)
                .map_err(SettingsError::CorsOrigins)?,
            heartbeat: non_zero(config.heartbeat),
            write_timeout: non_zero(config.write_timeout),
            max_request_body_size: config.max_request_body_size,
            subscriber_queue_size: config.subscriber_queue_size,
            batch_window: config.batch_window,
            retention: Retention {
                max_events: config.history_size,
                max_age: config.history_max_age,
            },
            transport: config.transport,
            subscriptions: config.subscriptions,
            data_dir: config.data_dir.clone(),
            durability: match config.durability {
                config::Durability::Fsync => Durability::Fsync,
                config::Durability::Periodic => Durability::Periodic,
            },
            sled_cache_size: config.sled_cache_size,
            redis_url: config.redis_url.clone(),
            redis_key_prefix: config.redis_key_prefix.clone(),
            ui: config.ui || config.demo,
            demo: config.demo,
        })
    }

    /// How the hub delivers events to subscribers.
    pub fn delivery(&self) -> Delivery {
        Delivery {
            queue_capacity: self.subscriber_queue_size,
            batch_window: self.batch_window,
        }
    }

    /// Opens the configured history store.
    pub fn open_log(&self) -> Result<Arc<dyn EventLog>, LogError> {
        Ok(match self.transport {
            Transport::Sled => Arc::new(SledLog::open(
                &self.data_dir,
                self.retention,
                self.durability,
                self.sled_cache_size,
            )?),
            Transport::Redis => Arc::new(RedisLog::open(
                &self.redis_url,
                &self.redis_key_prefix,
                self.retention,
            )?),
            Transport::Memory => Arc::new(MemoryLog::new(self.retention)),
        })
    }
}

fn auth_settings(config: &Config) -> Result<AuthSettings, SettingsError> {
    let publisher = publisher_verifier(config)?;
    let subscriber = match subscriber_verifier(config)? {
        Some(verifier) => Some(verifier),
        None if config.anonymous => None,
        None => return Err(SettingsError::MissingSubscriberKey),
    };
    let cookie_ok = !config.cookie_name.is_empty()
        && config
            .cookie_name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'=' | b'"'));
    if !cookie_ok {
        return Err(SettingsError::CookieName);
    }
    Ok(AuthSettings {
        publisher,
        subscriber,
        anonymous: config.anonymous,
        cookie_name: config.cookie_name.clone(),
        publish_origins: OriginList::parse(&config.publish_origins)
            .map_err(SettingsError::PublishOrigins)?,
    })
}

/// The publisher verifier: the JWK Set when `publisher_jwks_url` is set, else the key.
pub fn publisher_verifier(config: &Config) -> Result<Verifier, SettingsError> {
    verifier(
        config.publisher_jwks_url.as_deref(),
        config.publisher_jwt_key.as_deref(),
        &config.publisher_jwt_alg,
    )
    .map_err(|error| key_error("publisher", error, SettingsError::PublisherKey))?
    .ok_or(SettingsError::MissingPublisherKey)
}

/// The subscriber verifier, `None` when neither a JWK Set nor a key is configured.
pub fn subscriber_verifier(config: &Config) -> Result<Option<Verifier>, SettingsError> {
    verifier(
        config.subscriber_jwks_url.as_deref(),
        config.subscriber_jwt_key.as_deref(),
        &config.subscriber_jwt_alg,
    )
    .map_err(|error| key_error("subscriber", error, SettingsError::SubscriberKey))
}

/// A key error of `role`, naming the configuration keys to fix when that helps.
fn key_error(
    role: &'static str,
    error: KeyError,
    otherwise: fn(KeyError) -> SettingsError,
) -> SettingsError {
    match error {
        KeyError::PemFileWithHmac { path, alg } => {
            SettingsError::PemPathWithHmac { role, path, alg }
        }
        error => otherwise(error),
    }
}

fn verifier(
    jwks_url: Option<&str>,
    key: Option<&str>,
    alg: &str,
) -> Result<Option<Verifier>, KeyError> {
    fn present(value: Option<&str>) -> Option<&str> {
        value.filter(|v| !v.trim().is_empty())
    }
    if let Some(url) = present(jwks_url) {
        return Verifier::from_jwks_url(url.trim()).map(Some);
    }
    present(key).map(|key| Verifier::new(key, alg)).transpose()
}

fn non_zero(duration: Duration) -> Option<Duration> {
    (!duration.is_zero()).then_some(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R-TOKEN: the start-up error names the keys to fix.
    #[test]
    fn pem_path_with_hmac_names_the_keys() {
        let dir = std::env::temp_dir().join(format!("qs-settings-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pem = dir.join("key.pem");
        std::fs::write(&pem, "-----BEGIN PUBLIC KEY-----\nabc\n").expect("write");
        let pem = pem.to_str().expect("utf8 path").to_owned();
        let config = Config {
            publisher_jwt_key: Some(pem.clone()),
            anonymous: true,
            ..Config::default()
        };
        let message = Settings::from_config(&config)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            message,
            format!(
                "publisher_jwt_key names the PEM file {pem} but publisher_jwt_alg is HS256: \
                 set publisher_jwt_alg to the key's algorithm (RS256, ES256, ...)"
            )
        );
        let config = Config {
            publisher_jwt_key: Some("a-secret".into()),
            subscriber_jwt_key: Some(pem.clone()),
            subscriber_jwt_alg: "HS512".into(),
            ..Config::default()
        };
        let message = Settings::from_config(&config)
            .expect_err("refused")
            .to_string();
        assert!(
            message.starts_with(&format!(
                "subscriber_jwt_key names the PEM file {pem} but subscriber_jwt_alg is HS512"
            )),
            "{message}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
