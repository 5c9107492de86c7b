//! Configuration: built-in defaults < `config.toml` (or `--config`) < `QUICKSILVER_*` environment
//! variables < command-line flags. Unknown keys are errors.

mod units;

use std::collections::BTreeMap;
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
    ("transport", Kind::Text),
    ("data_dir", Kind::Text),
    ("history_size", Kind::Integer),
    ("history_max_age", Kind::Text),
    ("durability", Kind::Text),
    ("sled_cache_size", Kind::Text),
    ("subscriptions", Kind::Bool),
    ("ui", Kind::Bool),
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
    #[error("invalid configuration file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Value { key: String, message: String },
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
    pub transport: Transport,
    pub data_dir: PathBuf,
    pub history_size: u64,
    #[serde(deserialize_with = "units::duration")]
    pub history_max_age: Duration,
    pub durability: Durability,
    #[serde(deserialize_with = "units::size")]
    pub sled_cache_size: u64,
    pub subscriptions: bool,
    pub ui: bool,
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
            transport: Transport::Sled,
            data_dir: PathBuf::from("data"),
            history_size: 1_000_000,
            history_max_age: Duration::from_secs(30 * 24 * 3600),
            durability: Durability::Fsync,
            sled_cache_size: 64 << 20,
            subscriptions: false,
            ui: false,
        }
    }
}

impl Config {
    /// Loads `path` (else `./config.toml` when present, else nothing), then the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let default_path = Path::new("config.toml");
        let file = match path {
            Some(path) => Some(path),
            None => default_path.exists().then_some(default_path),
        };
        let mut table = match file {
            Some(path) => read_table(path)?,
            None => toml::Table::new(),
        };
        apply_environment(&mut table, |name| std::env::var(name).ok())?;
        Self::from_table(table)
    }

    fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::Invalid(format!("invalid configuration: {}", e.message()))
            })
    }

    /// True when a key still holds the public development secret.
    pub fn uses_development_key(&self) -> bool {
        [&self.publisher_jwt_key, &self.subscriber_jwt_key]
            .iter()
            .any(|key| key.as_deref() == Some(DEVELOPMENT_KEY))
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Environment variable name of a key.
pub fn env_name(key: &str) -> String {
    format!("QUICKSILVER_{}", key.to_ascii_uppercase())
}

fn apply_environment(
    table: &mut toml::Table,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let overrides: BTreeMap<&str, toml::Value> = KEYS
        .iter()
        .filter_map(|(key, kind)| {
            let name = env_name(key);
            lookup(&name).map(|text| env_value(&name, *kind, &text).map(|v| (*key, v)))
        })
        .collect::<Result<_, _>>()?;
    for (key, value) in overrides {
        table.insert(key.to_owned(), value);
    }
    Ok(())
}

fn env_value(name: &str, kind: Kind, text: &str) -> Result<toml::Value, ConfigError> {
    let invalid = |message: &str| ConfigError::Value {
        key: name.to_owned(),
        message: message.to_owned(),
    };
    Ok(match kind {
        Kind::Text => toml::Value::String(text.to_owned()),
        Kind::Bool => toml::Value::Boolean(match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" | "" => false,
            _ => return Err(invalid("expected true or false")),
        }),
        Kind::Integer => toml::Value::Integer(
            text.trim()
                .parse()
                .map_err(|_| invalid("expected a non-negative whole number"))?,
        ),
        Kind::List => toml::Value::Array(
            text.split_whitespace()
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests;
