//! Configuration, in layers, each overriding the previous one: built-in defaults < `config.toml`
//! (or `--config PATH`) < the reference Docker image's `MERCURE_*`/`SERVER_NAME` variables <
//! `QUICKSILVER_*` variables < command-line flags (docs/configuration-layers.md). Unknown keys
//! are errors; every error names the file and line, or the variable, that caused it.

mod effective;
mod layers;
mod mercure;
mod units;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

pub use units::{parse_duration, parse_size};

/// The HS256 secret of the reference hub's development setup. Never for production.
pub const DEVELOPMENT_KEY: &str = "!ChangeThisMercureHubJWTSecretKey!";

/// Every configuration key and how an environment variable's text is read for it.
pub const KEYS: &[(&str, Kind)] = &[
    ("listen", Kind::Text),
    ("publisher_jwt_key", Kind::Text),
    ("publisher_jwt_alg", Kind::Text),
    ("subscriber_jwt_key", Kind::Text),
    ("subscriber_jwt_alg", Kind::Text),
    ("anonymous", Kind::Bool),
    ("cookie_name", Kind::Text),
    ("cors_origins", Kind::List),
    ("publish_origins", Kind::List),
    ("heartbeat", Kind::Text),
    ("write_timeout", Kind::Text),
    ("max_request_body_size", Kind::Text),
    ("subscriber_queue_size", Kind::Integer),
    ("batch_window", Kind::Text),
    ("transport", Kind::Text),
    ("data_dir", Kind::Text),
    ("history_size", Kind::Integer),
    ("history_max_age", Kind::Text),
    ("durability", Kind::Text),
    ("redis_url", Kind::Text),
    ("redis_key_prefix", Kind::Text),
    ("sled_cache_size", Kind::Text),
    ("subscriptions", Kind::Bool),
    ("ui", Kind::Bool),
    ("demo", Kind::Bool),
    ("publisher_jwks_url", Kind::Text),
    ("subscriber_jwks_url", Kind::Text),
    ("dispatch_timeout", Kind::Text),
    ("shutdown_timeout", Kind::Text),
    ("max_connections", Kind::Integer),
    ("max_connections_per_ip", Kind::Integer),
    ("max_selector_length", Kind::Integer),
    ("max_selectors_size", Kind::Text),
    ("request_timeout", Kind::Text),
    ("metrics", Kind::Bool),
    ("admin_listen", Kind::Text),
    ("log_format", Kind::Text),
    ("tls_cert", Kind::Text),
    ("tls_key", Kind::Text),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    Integer,
    /// Space-separated in the environment, an array in TOML.
    List,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An error in the file, shown as `path:line: key `name`: message`.
    #[error("{}", layers::describe_file_error(path, *line, key.as_deref(), message))]
    File {
        path: PathBuf,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    /// An error in an environment variable (or a line of `MERCURE_EXTRA_DIRECTIVES`).
    #[error("{variable}: {message}")]
    Env { variable: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// Where the history lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Memory,
    Sled,
    Redis,
}

/// When a publish is acknowledged (see docs/history.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After its event is fsynced; concurrent publishes share one fsync.
    Fsync,
    /// At once; the store is flushed every 500 ms.
    Periodic,
}

/// The effective configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub publisher_jwt_key: Option<String>,
    pub publisher_jwt_alg: String,
    pub subscriber_jwt_key: Option<String>,
    pub subscriber_jwt_alg: String,
    pub anonymous: bool,
    pub cookie_name: String,
    pub cors_origins: Vec<String>,
    pub publish_origins: Vec<String>,
    #[serde(deserialize_with = "units::duration")]
    pub heartbeat: Duration,
    #[serde(deserialize_with = "units::duration")]
    pub write_timeout: Duration,
    #[serde(deserialize_with = "units::size")]
    pub max_request_body_size: u64,
    pub subscriber_queue_size: usize,
    /// Events that follow the previous write to a subscriber by less than this are written
    /// together, this long after that write; `0s` writes each at once.
    #[serde(deserialize_with = "units::duration")]
    pub batch_window: Duration,
    pub transport: Transport,
    pub data_dir: PathBuf,
    pub history_size: u64,
    #[serde(deserialize_with = "units::duration")]
    pub history_max_age: Duration,
    pub durability: Durability,
    /// The shared Redis of `transport = "redis"`: `redis://[user:password@]host:port/db`.
    pub redis_url: String,
    /// Prefix of every Redis key of this hub cluster.
    pub redis_key_prefix: String,
    #[serde(deserialize_with = "units::size")]
    pub sled_cache_size: u64,
    pub subscriptions: bool,
    pub ui: bool,
    /// Development-only echo endpoints for discovery and cookies (implies `ui`).
    pub demo: bool,
    /// A JWK Set (`file://` or `https://`) that verifies publisher tokens instead of the key.
    pub publisher_jwks_url: Option<String>,
    /// A JWK Set that verifies subscriber tokens instead of the key.
    pub subscriber_jwks_url: Option<String>,
    #[serde(deserialize_with = "units::duration")]
    pub dispatch_timeout: Duration,
    #[serde(deserialize_with = "units::duration")]
    pub shutdown_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_selector_length: usize,
    /// Total bytes of all selectors of one subscription request; `0` = no limit.
    #[serde(deserialize_with = "units::size")]
    pub max_selectors_size: u64,
    /// Longest a connection may take to complete its first request head (silent or not).
    #[serde(deserialize_with = "units::duration")]
    pub request_timeout: Duration,
    pub metrics: bool,
    pub admin_listen: Option<String>,
    pub log_format: LogFormat,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3000".into(),
            publisher_jwt_key: None,
            publisher_jwt_alg: "HS256".into(),
            subscriber_jwt_key: None,
            subscriber_jwt_alg: "HS256".into(),
            anonymous: false,
            cookie_name: "mercureAuthorization".into(),
            cors_origins: Vec::new(),
            publish_origins: Vec::new(),
            heartbeat: Duration::from_secs(40),
            write_timeout: Duration::from_secs(600),
            max_request_body_size: 1 << 20,
            subscriber_queue_size: 1000,
            batch_window: crate::hub::BATCH_WINDOW,
            transport: Transport::Sled,
            data_dir: PathBuf::from("data"),
            history_size: 1_000_000,
            history_max_age: Duration::from_secs(30 * 24 * 3600),
            durability: Durability::Fsync,
            redis_url: "redis://127.0.0.1:6379/".into(),
            redis_key_prefix: "quicksilver".into(),
            sled_cache_size: 64 << 20,
            subscriptions: false,
            ui: false,
            demo: false,
            publisher_jwks_url: None,
            subscriber_jwks_url: None,
            dispatch_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            max_connections: 0,
            max_connections_per_ip: 0,
            max_selector_length: 64 * 1024,
            max_selectors_size: 1 << 20,
            request_timeout: Duration::from_secs(5),
            metrics: false,
            admin_listen: None,
            log_format: LogFormat::Text,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Config {
    /// Loads `path` (else `./config.toml` when present, else nothing), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_layers(path, &|name| std::env::var(name).ok()).map(|loaded| loaded.config)
    }

    /// Loads every layer but the command-line flags: built-in defaults < the file < the
    /// reference image's `MERCURE_*` variables < `QUICKSILVER_*` variables.
    pub fn load_layers(path: Option<&Path>, env: &Lookup<'_>) -> Result<Loaded, ConfigError> {
        let file = layers::config_file(path);
        let mut table = match &file {
            Some(path) => layers::read_file(path)?,
            None => toml::Table::new(),
        };
        let mut warnings = Vec::new();
        let mut settings = mercure::overlay(env, &mut warnings)?;
        settings.extend(layers::quicksilver_overlay(env)?);
        layers::apply(&mut table, settings)?;
        let config = Self::from_table(table)?;
        Ok(Loaded {
            config,
            file,
            warnings,
        })
    }

    fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::Invalid(format!("invalid configuration: {}", e.message()))
            })
    }

    /// The last layer: command-line flags.
    pub fn apply_overrides(&mut self, overrides: &Overrides) {
        if let Some(listen) = &overrides.listen {
            self.listen = listen.clone();
        }
        if let Some(transport) = overrides.transport {
            self.transport = transport;
        }
    }

    /// True when a key still holds the public development secret.
    pub fn uses_development_key(&self) -> bool {
        [&self.publisher_jwt_key, &self.subscriber_jwt_key]
            .iter()
            .any(|key| key.as_deref() == Some(DEVELOPMENT_KEY))
    }
}

/// Reads one environment variable; `None` when unset.
pub type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// A loaded configuration and where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Accepted but ignored settings (e.g. Caddy-only variables), to be logged.
    pub warnings: Vec<String>,
}

/// Command-line flags that override the configuration (the last layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub transport: Option<Transport>,
}

/// Environment variable name of a key.
pub fn env_name(key: &str) -> String {
    format!("QUICKSILVER_{}", key.to_ascii_uppercase())
}

#[cfg(test)]
mod tests;
