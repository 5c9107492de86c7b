//! The file and `QUICKSILVER_*` layers. Every value is checked where it comes from, so an error
//! names the file and line, or the environment variable, that holds the bad value.

use std::ops::Range;
use std::path::{Path, PathBuf};

use super::{env_name, Config, ConfigError, Kind, Lookup, KEYS};

/// One value of an overlay (environment) layer and the variable it came from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Setting {
    pub key: &'static str,
    pub value: toml::Value,
    /// What to name in an error: `QUICKSILVER_HEARTBEAT`, `MERCURE_EXTRA_DIRECTIVES line 2`...
    pub origin: String,
}

impl Setting {
    pub(super) fn text(key: &'static str, value: &str, origin: &str) -> Self {
        Self {
            key,
            value: toml::Value::String(value.to_owned()),
            origin: origin.to_owned(),
        }
    }
}

/// `--config PATH`, else `./config.toml` when it exists, else no file.
pub(super) fn config_file(path: Option<&Path>) -> Option<PathBuf> {
    match path {
        Some(path) => Some(path.to_owned()),
        None => {
            let default_path = Path::new("config.toml");
            default_path.exists().then(|| default_path.to_owned())
        }
    }
}

/// Reads and checks the file: TOML syntax, then every key and value.
pub(super) fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file_error = |error: toml::de::Error| file_error(path, &text, &error);
    let table = text.parse::<toml::Table>().map_err(file_error)?;
    toml::from_str::<Config>(&text).map_err(file_error)?;
    Ok(table)
}

fn file_error(path: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let span = error.span();
    let message = error.message().trim().to_owned();
    let (key, message) = match unknown_field(&message) {
        Some(key) => (
            Some(key),
            "unknown key (the valid keys are listed in docs/configuration.md)".to_owned(),
        ),
        None => (span.as_ref().and_then(|s| key_at(text, s)), message),
    };
    ConfigError::File {
        path: path.to_owned(),
        line: span.map(|s| line_of(text, s.start)),
        key,
        message,
    }
}

/// The key named by serde's "unknown field `x`, expected ..." message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next().map(str::to_owned)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |before| before.matches('\n').count())
        + 1
}

/// The key assigned on the line where `span` starts (`key = value`).
fn key_at(text: &str, span: &Range<usize>) -> Option<String> {
    let line = text.lines().nth(line_of(text, span.start) - 1)?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
    (!key.is_empty() && !key.starts_with('#')).then(|| key.to_owned())
}

pub(super) fn describe_file_error(
    path: &Path,
    line: Option<usize>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut text = path.display().to_string();
    if let Some(line) = line {
        text.push_str(&format!(":{line}"));
    }
    text.push_str(": ");
    if let Some(key) = key {
        text.push_str(&format!("key `{key}`: "));
    }
    text.push_str(message);
    text
}

/// The `QUICKSILVER_<KEY>` variables that are set.
pub(super) fn quicksilver_overlay(env: &Lookup<'_>) -> Result<Vec<Setting>, ConfigError> {
    KEYS.iter()
        .filter_map(|(key, kind)| {
            let name = env_name(key);
            env(&name).map(|text| {
                env_value(*kind, &text)
                    .map(|value| Setting {
                        key,
                        value,
                        origin: name.clone(),
                    })
                    .map_err(|message| ConfigError::Env {
                        variable: name.clone(),
                        message,
                    })
            })
        })
        .collect()
}

/// Reads an environment variable's text as a value of `kind`.
pub(super) fn env_value(kind: Kind, text: &str) -> Result<toml::Value, String> {
    Ok(match kind {
        Kind::Text => toml::Value::String(text.to_owned()),
        Kind::Bool => toml::Value::Boolean(match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" | "" => false,
            _ => return Err(format!("expected true or false, got {text:?}")),
        }),
        Kind::Integer => toml::Value::Integer(
            text.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("expected a non-negative whole number, got {text:?}"))?,
        ),
        Kind::List => toml::Value::Array(
            text.split_whitespace()
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        Kind::Tables => tables(text)?,
    })
}

/// A JSON array of objects as a TOML array of tables; whether each table has the right keys is
/// checked with the rest of the value.
fn tables(text: &str) -> Result<toml::Value, String> {
    const EXPECTED: &str =
        "expected a JSON array of objects, e.g. [{\"id\": \"https://auth.example.com\", …}]";
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{EXPECTED}: {e}"))?;
    let items = json.as_array().ok_or(EXPECTED)?;
    if !items.iter().all(serde_json::Value::is_object) {
        return Err(EXPECTED.to_owned());
    }
    // `null` has no TOML form: a key set to null is left out, as if unset.
    let items = items.iter().map(|item| {
        let table: toml::Table = item
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| {
                toml::Value::try_from(value)
                    .map(|value| (key.clone(), value))
                    .map_err(|e| format!("{key}: {e}"))
            })
            .collect::<Result<_, String>>()?;
        Ok(toml::Value::Table(table))
    });
    items
        .collect::<Result<Vec<_>, String>>()
        .map(toml::Value::Array)
}

/// Checks each setting on its own (so the error names its origin), then lays them over `table`
/// in order: a later setting for the same key wins.
pub(super) fn apply(table: &mut toml::Table, settings: Vec<Setting>) -> Result<(), ConfigError> {
    for setting in settings {
        check(&setting)?;
        table.insert(setting.key.to_owned(), setting.value);
    }
    Ok(())
}

fn check(setting: &Setting) -> Result<(), ConfigError> {
    let mut alone = toml::Table::new();
    alone.insert(setting.key.to_owned(), setting.value.clone());
    Config::from_table(alone)
        .map(drop)
        .map_err(|error| ConfigError::Env {
            variable: setting.origin.clone(),
            message: format!(
                "{}: {}",
                setting.key,
                error
                    .to_string()
                    .trim_start_matches("invalid configuration: ")
            ),
        })
}
