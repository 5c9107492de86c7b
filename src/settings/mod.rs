//! The validated runtime settings built from a `Config`: every configuration error surfaces
//! here, at startup, with a clear message (protocol.md C-ENV-4, A-AUTH-16). Each part of the hub
//! gets its own group of settings, built from the configuration with `TryFrom`.

mod auth;
mod network;

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::auth::{IssuerError, KeyError, OriginError, OriginList};
use crate::compress::{Mode, Policy};
use crate::config::{self, Config, Transport};
use crate::hub::Delivery;
use crate::log::{Durability, Retention};

pub use auth::{issuers, publisher_verifier, subscriber_verifier, AuthSettings};
pub use network::{ProxyError, PublicUrlError, PublicUrls, TrustedProxies};

/// A configuration the hub refuses to run with; the message names the setting to fix (C-ENV-4).
#[derive(Debug, Error)]
pub enum SettingsError {
    /// Nothing could verify a publisher token (A-AUTH-16).
    #[error("no publisher key: set publisher_jwt_key (QUICKSILVER_PUBLISHER_JWT_KEY) or publisher_jwks_url")]
    MissingPublisherKey,
    /// Nothing could verify a subscriber token, and anonymous subscribers are off (A-AUTH-16).
    #[error("no subscriber key: set subscriber_jwt_key (QUICKSILVER_SUBSCRIBER_JWT_KEY), or allow anonymous subscribers with anonymous = true")]
    MissingSubscriberKey,
    /// A `*_jwt_key` that names a PEM file with an `HS*` algorithm: the path text would be the
    /// HMAC secret (R-TOKEN).
    #[error("{role}_jwt_key names the PEM file {path} but {role}_jwt_alg is {alg}: set {role}_jwt_alg to the key's algorithm (RS256, ES256, ...)")]
    PemPathWithHmac {
        /// `publisher` or `subscriber`.
        role: &'static str,
        /// The PEM file the key names.
        path: String,
        /// The configured `HS*` algorithm.
        alg: String,
    },
    /// The publisher key or JWK Set is unusable.
    #[error("publisher key: {0}")]
    PublisherKey(KeyError),
    /// The subscriber key or JWK Set is unusable.
    #[error("subscriber key: {0}")]
    SubscriberKey(KeyError),
    /// An entry of `cors_origins` is not an origin (A-CORS-4).
    #[error("cors_origins: {0}")]
    CorsOrigins(OriginError),
    /// An entry of `publish_origins` is not an origin (A-AUTH-6).
    #[error("publish_origins: {0}")]
    PublishOrigins(OriginError),
    /// A `cookie_name` no `Cookie` header could carry.
    #[error("cookie_name must be a non-empty cookie name without spaces, ';', ',' or '='")]
    CookieName,
    /// Only one of `tls_cert` and `tls_key` is set.
    #[error("tls_cert and tls_key go together: set both for HTTPS, or neither")]
    TlsPair,
    /// A queue of 0 would disconnect every subscriber at its first event.
    #[error("subscriber_queue_size must be at least 1")]
    QueueSize,
    /// A `batch_window` above 1 s: each event of a fast stream could wait that long.
    #[error("batch_window must be at most 1s (it delays events; 0s writes each at once)")]
    BatchWindow,
    /// A `compression` other than `off` or `auto` (C-HDR-3).
    #[error(transparent)]
    Compression(crate::compress::InvalidMode),
    /// A zero timeout would close every connection before its first request.
    #[error(
        "request_timeout must be longer than 0s (it bounds how long a connection may stay silent)"
    )]
    RequestTimeout,
    /// An `[[issuer]]` or `trusted_issuers` mistake; its message names the issuer.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// `resource_identifier`, the `aud` 1.0 tokens must carry (B-TOK-6), is not an absolute URL
    /// with a host and no fragment.
    #[error("resource_identifier {value:?}: {reason}; write an absolute URL such as https://hub.example.com/.well-known/mercure")]
    ResourceIdentifier {
        /// The value as configured.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `public_urls` entry that is not an origin.
    #[error(transparent)]
    PublicUrls(#[from] PublicUrlError),
    /// A `trusted_proxies` entry that is neither an address nor a range.
    #[error(transparent)]
    TrustedProxies(#[from] ProxyError),
}

/// The longest `batch_window` accepted: events wait up to this long.
const MAX_BATCH_WINDOW: Duration = Duration::from_secs(1);

/// Everything the running hub reads from its configuration, checked, grouped by the part of the
/// hub that uses it.
#[derive(Debug)]
pub struct Settings {
    /// How connections are accepted and ended.
    pub listener: ListenerSettings,
    /// How tokens are verified.
    pub auth: AuthSettings,
    /// What a request may carry.
    pub requests: RequestSettings,
    /// How events reach subscribers.
    pub streams: StreamSettings,
    /// Where the history lives.
    pub history: HistorySettings,
    /// The optional parts of the hub.
    pub features: Features,
}

impl TryFrom<&Config> for Settings {
    type Error = SettingsError;

    /// Checks the groups in a fixed order, so that of several errors the same one is reported.
    fn try_from(config: &Config) -> Result<Self, SettingsError> {
        let streams = StreamSettings::try_from(config)?;
        let listener = ListenerSettings::try_from(config)?;
        let auth = AuthSettings::try_from(config)?;
        let requests = RequestSettings::try_from(config)?;
        Ok(Self {
            listener,
            auth,
            requests,
            streams,
            history: HistorySettings::from(config),
            features: Features::from(config),
        })
    }
}

/// How connections are accepted, bounded and, at shutdown, ended.
#[derive(Debug)]
pub struct ListenerSettings {
    /// The main listener's address.
    pub listen: String,
    /// The admin listener (metrics and health checks), when configured.
    pub admin_listen: Option<String>,
    /// Certificate chain and private key files: HTTPS when set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Longest a connection may take to complete its first request head (never zero).
    pub request_timeout: Duration,
    /// Longest a write to a subscriber may stall before its connection is closed (C-TMO-2).
    pub dispatch_timeout: Option<Duration>,
    /// Subscription connections allowed in total and per client address; 0 = no limit.
    pub max_connections: usize,
    /// Subscription connections allowed per client address; 0 = no limit.
    pub max_connections_per_ip: usize,
    /// The whole graceful stop fits in it (C-SHUT-1).
    pub shutdown_timeout: Duration,
}

impl TryFrom<&Config> for ListenerSettings {
    type Error = SettingsError;

    fn try_from(config: &Config) -> Result<Self, SettingsError> {
        if config.request_timeout.is_zero() {
            return Err(SettingsError::RequestTimeout);
        }
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => return Err(SettingsError::TlsPair),
        };
        Ok(Self {
            listen: config.listen.clone(),
            admin_listen: config.admin_listen.clone().filter(|a| !a.is_empty()),
            tls,
            request_timeout: config.request_timeout,
            dispatch_timeout: non_zero(config.dispatch_timeout),
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            shutdown_timeout: config.shutdown_timeout,
        })
    }
}

/// What a request may carry, and whom it may come through and be for.
#[derive(Debug)]
pub struct RequestSettings {
    /// Origins allowed cross-origin requests; empty = no CORS processing (A-CORS-1).
    pub cors_origins: OriginList,
    /// The origins requests may be for (another → 421); any when empty.
    pub public_urls: PublicUrls,
    /// The reverse proxies whose forwarding headers are believed; none when empty.
    pub trusted_proxies: TrustedProxies,
    /// 0 = no limit.
    pub max_request_body_size: u64,
    /// Longest accepted selector, in bytes; 0 = no limit.
    pub max_selector_length: usize,
    /// Most bytes of all selectors of one subscription request together; 0 = no limit.
    pub max_selectors_size: u64,
}

impl TryFrom<&Config> for RequestSettings {
    type Error = SettingsError;

    fn try_from(config: &Config) -> Result<Self, SettingsError> {
        Ok(Self {
            cors_origins: OriginList::parse(&development_origins(config, &config.cors_origins))
                .map_err(SettingsError::CorsOrigins)?,
            public_urls: PublicUrls::parse(&config.public_urls)?,
            trusted_proxies: TrustedProxies::parse(&config.trusted_proxies)?,
            max_request_body_size: config.max_request_body_size,
            max_selector_length: config.max_selector_length,
            max_selectors_size: config.max_selectors_size,
        })
    }
}

/// How events reach a subscriber's stream.
#[derive(Debug)]
pub struct StreamSettings {
    /// Silence after which `:\n` is written (A-SSE-7); `None` = never.
    pub heartbeat: Option<Duration>,
    /// The longest life of a stream, jittered per connection; `None` = no cap.
    pub write_timeout: Option<Duration>,
    /// Frames a subscriber may fall behind before it is disconnected (C-SLOW-1).
    pub subscriber_queue_size: usize,
    /// Events closer than this to the previous write to a subscriber are written together.
    pub batch_window: Duration,
    /// Whether, and from what size, streams are compressed (`compression`,
    /// `compression_min_size`; C-HDR-3).
    pub compression: Policy,
}

impl TryFrom<&Config> for StreamSettings {
    type Error = SettingsError;

    fn try_from(config: &Config) -> Result<Self, SettingsError> {
        if config.subscriber_queue_size == 0 {
            return Err(SettingsError::QueueSize);
        }
        if config.batch_window > MAX_BATCH_WINDOW {
            return Err(SettingsError::BatchWindow);
        }
        let mode = config
            .compression
            .parse::<Mode>()
            .map_err(SettingsError::Compression)?;
        Ok(Self {
            heartbeat: non_zero(config.heartbeat),
            write_timeout: non_zero(config.write_timeout),
            subscriber_queue_size: config.subscriber_queue_size,
            batch_window: config.batch_window,
            compression: Policy {
                mode,
                min_size: usize::try_from(config.compression_min_size).unwrap_or(usize::MAX),
            },
        })
    }
}

impl StreamSettings {
    /// How the hub delivers events to subscribers.
    pub fn delivery(&self) -> Delivery {
        Delivery {
            queue_capacity: self.subscriber_queue_size,
            batch_window: self.batch_window,
            compression_min_size: self.compression.min_size,
        }
    }
}

/// Where the history lives and how long it keeps events.
#[derive(Debug)]
pub struct HistorySettings {
    /// Which store holds the history.
    pub transport: Transport,
    /// How many events, and how old, the history keeps.
    pub retention: Retention,
    /// The sled store's directory.
    pub data_dir: PathBuf,
    /// When a publish is acknowledged.
    pub durability: Durability,
    /// Bytes of cache sled may use.
    pub sled_cache_size: u64,
    /// The shared Redis, with `transport = "redis"`.
    pub redis_url: String,
    /// Prefix of this cluster's Redis keys.
    pub redis_key_prefix: String,
}

impl From<&Config> for HistorySettings {
    fn from(config: &Config) -> Self {
        Self {
            transport: config.transport,
            retention: Retention {
                max_events: config.history_size,
                max_age: config.history_max_age,
            },
            data_dir: config.data_dir.clone(),
            durability: match config.durability {
                config::Durability::Fsync => Durability::Fsync,
                config::Durability::Periodic => Durability::Periodic,
            },
            sled_cache_size: config.sled_cache_size,
            redis_url: config.redis_url.clone(),
            redis_key_prefix: config.redis_key_prefix.clone(),
        }
    }
}

/// The optional parts of the hub.
#[derive(Debug)]
pub struct Features {
    /// Subscription events and the subscription API (A-SUBS-1); on in playground mode.
    pub subscriptions: bool,
    /// The debugging UI at `/.well-known/mercure/ui/` (protocol.md C-UI-1): `ui` or `debugger`.
    pub ui: bool,
    /// The demo echo endpoints (A-DISC-3, C-UI-3): `demo` or `playground`; implies `ui`.
    pub demo: bool,
    /// `playground`: the development mode of C-ENV-3 (already folded into the other settings)
    /// and the playground-token endpoint of C-UI-4, which only this turns on.
    pub playground: bool,
    /// Serve `/metrics` on the main listener.
    pub metrics: bool,
    /// What the playground-token endpoint signs with (C-UI-4): the publisher's shared secret,
    /// only in playground mode and only when that key is an HMAC secret.
    pub playground_key: Option<PlaygroundKey>,
}

/// An HMAC secret and its algorithm; never printed.
#[derive(Clone)]
pub struct PlaygroundKey {
    /// The shared secret (`publisher_jwt_key`).
    pub secret: String,
    /// `publisher_jwt_alg`, one of `HS256`, `HS384`, `HS512`.
    pub alg: String,
}

impl std::fmt::Debug for PlaygroundKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PlaygroundKey({}, ***)", self.alg)
    }
}

impl From<&Config> for Features {
    fn from(config: &Config) -> Self {
        let demo = config.demo || config.playground;
        let hmac = config.publisher_jwks_url.is_none()
            && config
                .publisher_jwt_alg
                .to_ascii_uppercase()
                .starts_with("HS");
        let playground_key = config
            .publisher_jwt_key
            .as_ref()
            .filter(|_| config.playground && hmac)
            .map(|secret| PlaygroundKey {
                secret: secret.clone(),
                alg: config.publisher_jwt_alg.to_ascii_uppercase(),
            });
        Self {
            subscriptions: config.subscriptions || config.playground,
            ui: config.ui || config.debugger || demo,
            demo,
            playground: config.playground,
            metrics: config.metrics,
            playground_key,
        }
    }
}

/// `cors_origins` or `publish_origins` as the hub applies them: in playground mode an empty list
/// is `*`, as in the reference's development setup (C-ENV-3); a list written out is kept.
fn development_origins(config: &Config, origins: &[String]) -> Vec<String> {
    if config.playground && origins.is_empty() {
        vec!["*".to_owned()]
    } else {
        origins.to_vec()
    }
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
        let message = Settings::try_from(&config)
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
        let message = Settings::try_from(&config)
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

    /// C-HDR-3, issue 21: `compression` is `off` unless set to `auto`; anything else is refused
    /// with a message naming the setting and its values.
    #[test]
    fn compression_is_off_auto_or_refused() {
        let base = Config {
            anonymous: true,
            publisher_jwt_key: Some("k".into()),
            ..Config::default()
        };
        let policy = |config: &Config| StreamSettings::try_from(config).map(|s| s.compression);
        assert_eq!(policy(&base).expect("default"), Policy::default());
        let auto = Config {
            compression: "auto".into(),
            compression_min_size: 100,
            ..base.clone()
        };
        assert_eq!(
            policy(&auto).expect("auto"),
            Policy {
                mode: Mode::Auto,
                min_size: 100
            }
        );
        let gzip = Config {
            compression: "gzip".into(),
            ..base
        };
        let message = Settings::try_from(&gzip).expect_err("refused").to_string();
        assert_eq!(
            message,
            "compression: expected \"off\" or \"auto\", got \"gzip\""
        );
    }
}

#[cfg(test)]
mod v1_tests;
