//! Configuration, in layers, each overriding the previous one: built-in defaults < `config.toml`
//! (or `--config PATH`) < the reference Docker image's `MERCURE_*`/`SERVER_NAME` variables <
//! `QUICKSILVER_*` variables < command-line flags (docs/configuration-layers.md). Unknown keys
//! are errors; every error names the file and line, or the variable, that caused it.
//!
//! Every key is defined once, in `table.rs`: its type, form and default. The file's parser, the
//! `QUICKSILVER_*` names, `config check`'s view and the checks of the documentation follow from it.

mod caddyfile;
mod effective;
mod layers;
mod mercure;
mod table;
mod units;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use table::{Config, KEYS};
pub use units::{parse_duration, parse_size};

/// The HS256 secret of the reference hub's development setup. Never for production.
pub const DEVELOPMENT_KEY: &str = "!ChangeThisMercureHubJWTSecretKey!";

/// The 1.0 issuer of the reference hub's development tokens, `trusted_issuers`' default.
pub const DEVELOPMENT_ISSUER: &str = "https://localhost";

/// How an environment variable's text is read for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Taken as written; durations, sizes and names are then parsed as the file's strings are.
    Text,
    /// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`/empty, in any case.
    Bool,
    /// A non-negative decimal integer.
    Integer,
    /// Space-separated in the environment, an array in TOML.
    List,
    /// An array of tables (`[[issuer]]`) in TOML, a JSON array of objects in the environment,
    /// whose variable is named in the plural (`QUICKSILVER_ISSUERS`).
    Tables,
}

/// Why the configuration could not be loaded; each names where the fault is, so the hub refuses
/// to start with a message an operator can act on (C-ENV-4).
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The configuration file exists but cannot be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file's path.
        path: PathBuf,
        /// The OS's error.
        source: std::io::Error,
    },
    /// An error in the file, shown as `path:line: key `name`: message`.
    #[error("{}", layers::describe_file_error(path, *line, key.as_deref(), message))]
    File {
        /// The file's path.
        path: PathBuf,
        /// The line of the fault, when the TOML parser knows it.
        line: Option<usize>,
        /// The key at fault, when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// An error in an environment variable (or a line of `MERCURE_EXTRA_DIRECTIVES`).
    #[error("{variable}: {message}")]
    Env {
        /// The variable's name.
        variable: String,
        /// What is wrong with its value.
        message: String,
    },
    /// The layers together do not form a valid configuration (a value of the wrong type).
    #[error("{0}")]
    Invalid(String),
}

/// Where the history lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// In RAM: lost on restart (`serve --no-persist`).
    Memory,
    /// On disk in `data_dir`: survives restarts and crashes (A-HIST-13).
    Sled,
    /// One history shared by every node through Redis (docs/scaling.md).
    Redis,
}

/// When a publish is acknowledged (see docs/history.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After its event is fsynced; concurrent publishes share one fsync.
    Fsync,
    /// At once; what was published is written and synced in groups every 20 ms.
    Periodic,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
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

    /// True when a key, top-level or of an issuer, still holds the public development secret.
    pub fn uses_development_key(&self) -> bool {
        let issuer_keys = self
            .issuer
            .iter()
            .flat_map(|issuer| [&issuer.publisher_jwt_key, &issuer.subscriber_jwt_key]);
        [&self.publisher_jwt_key, &self.subscriber_jwt_key]
            .into_iter()
            .chain(issuer_keys)
            .any(|key| key.as_deref() == Some(DEVELOPMENT_KEY))
    }
}

/// Reads one environment variable; `None` when unset.
pub type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// A loaded configuration and where it came from.
#[derive(Debug)]
pub struct Loaded {
    /// The configuration of every layer but the command-line flags.
    pub config: Config,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Accepted but ignored settings (e.g. Caddy-only variables), to be logged.
    pub warnings: Vec<String>,
}

/// Command-line flags that override the configuration (the last layer).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `serve --listen`.
    pub listen: Option<String>,
    /// `serve --no-persist` sets `memory`.
    pub transport: Option<Transport>,
}

/// Environment variable name of a key: `QUICKSILVER_<KEY>`, in the plural for an array of
/// tables, whose file form names one item (`[[issuer]]`) and variable all (`QUICKSILVER_ISSUERS`).
pub fn env_name(key: &str) -> String {
    let plural = KEYS
        .iter()
        .any(|(name, kind)| *name == key && *kind == Kind::Tables);
    let suffix = if plural { "S" } else { "" };
    format!("QUICKSILVER_{}{suffix}", key.to_ascii_uppercase())
}

#[cfg(test)]
mod documented;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod v1_tests;
