//! The one definition of every setting: its key, type, form and built-in default. From this table
//! come the `Config` struct the file is parsed into, its `Default`, the key list that names the
//! `QUICKSILVER_*` variables ([`KEYS`]) and the effective view of `config check`
//! (`Config::value_of`). docs/configuration.md and config.toml are checked against it
//! (`config::tests`), so a setting added here and not documented fails the build's tests.
//!
//! A row reads `key: Type, form = default;`. The form says how the value is written: it picks
//! the environment variable's [`Kind`], the parser of the file's value and how `config check`
//! shows it (the modules of [`form`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{units, Durability, Kind, LogFormat, Transport, DEVELOPMENT_ISSUER};
use crate::auth::IssuerConfig;

/// Defines `Config`, its `Default`, `KEYS` and `Config::value_of` from one list of rows.
macro_rules! settings {
    ($($(#[doc = $doc:literal])* $key:ident: $ty:ty, $form:ident = $default:expr;)*) => {
        settings!(@struct [] $($(#[doc = $doc])* $key: $ty, $form;)*);

        impl Default for Config {
            fn default() -> Self {
                Self { $($key: $default,)* }
            }
        }

        /// Every configuration key, in the order `config check` shows them, and how an
        /// environment variable's text is read for it.
        pub const KEYS: &[(&str, Kind)] = &[$((stringify!($key), form::$form::KIND),)*];

        impl Config {
            /// The value of one key as TOML, masked when secret; `None` when unset or unknown.
            pub fn value_of(&self, key: &str) -> Option<toml::Value> {
                match key {
                    $(stringify!($key) => form::$form::view(&self.$key),)*
                    _ => None,
                }
            }
        }
    };

    // The struct, built field by field so that durations and sizes get their parser.
    (@struct [$($fields:tt)*]) => {
        /// The effective configuration.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            $($fields)*
        }
    };
    (@struct [$($fields:tt)*] $(#[doc = $doc:literal])* $key:ident: $ty:ty, duration; $($rest:tt)*) => {
        settings!(@struct [$($fields)* $(#[doc = $doc])*
            #[serde(deserialize_with = "units::duration")] pub $key: $ty,] $($rest)*);
    };
    (@struct [$($fields:tt)*] $(#[doc = $doc:literal])* $key:ident: $ty:ty, size; $($rest:tt)*) => {
        settings!(@struct [$($fields)* $(#[doc = $doc])*
            #[serde(deserialize_with = "units::size")] pub $key: $ty,] $($rest)*);
    };
    (@struct [$($fields:tt)*] $(#[doc = $doc:literal])* $key:ident: $ty:ty, $form:ident; $($rest:tt)*) => {
        settings!(@struct [$($fields)* $(#[doc = $doc])* pub $key: $ty,] $($rest)*);
    };
}

settings! {
    /// Address and port of the main listener.
    listen: String, text = "127.0.0.1:3000".into();
    /// The key (or PEM key, inline or a file) that verifies publisher tokens.
    publisher_jwt_key: Option<String>, secret = None;
    /// Algorithm of publisher tokens: a token's header `alg` must equal it (A-AUTH-7).
    publisher_jwt_alg: String, text = "HS256".into();
    /// The key that verifies subscriber tokens; required unless `anonymous`.
    subscriber_jwt_key: Option<String>, secret = None;
    /// Algorithm of subscriber tokens.
    subscriber_jwt_alg: String, text = "HS256".into();
    /// Subscribers without a token are allowed (public updates only).
    anonymous: bool, flag = false;
    /// The cookie tokens are read from, after the header and the query parameter (A-AUTH-5).
    cookie_name: String, text = "mercureAuthorization".into();
    /// Origins allowed cross-origin requests; empty = no CORS processing at all (A-CORS-1).
    cors_origins: Vec<String>, list = Vec::new();
    /// Origins allowed to publish with the cookie (CSRF protection, A-AUTH-6).
    publish_origins: Vec<String>, list = Vec::new();
    /// Silence after which a `:` comment keeps a stream alive (A-SSE-7); `0s` = none.
    heartbeat: Duration, duration = Duration::from_secs(40);
    /// The longest life of a subscription connection (jittered); `0s` = no cap.
    write_timeout: Duration, duration = Duration::from_secs(600);
    /// Larger publish bodies get 413 (C-LIM-1); `0` = no limit.
    max_request_body_size: u64, size = 1 << 20;
    /// Updates one subscriber may fall behind before it is disconnected (C-SLOW-1).
    subscriber_queue_size: usize, count = 1000;
    /// Events that follow the previous write to a subscriber by less than this are written
    /// together, this long after that write; `0s` writes each at once.
    batch_window: Duration, duration = crate::hub::BATCH_WINDOW;
    /// `"off"` or `"auto"`: compress event streams per `Accept-Encoding` (C-HDR-3).
    compression: String, text = "off".into();
    /// Events shorter than this many bytes are sent stored, not compressed.
    compression_min_size: u64, size = crate::compress::DEFAULT_MIN_SIZE as u64;
    /// Where the history lives.
    transport: Transport, choice = Transport::Sled;
    /// Directory of the sled store.
    data_dir: PathBuf, path = PathBuf::from("data");
    /// Newest events kept; `0` = unlimited.
    history_size: u64, count = 1_000_000;
    /// Older events are dropped; `0s` = kept forever.
    history_max_age: Duration, duration = Duration::from_secs(30 * 24 * 3600);
    /// When a publish is acknowledged (docs/history.md).
    durability: Durability, choice = Durability::Fsync;
    /// The shared Redis of `transport = "redis"`: `redis://[user:password@]host:port/db`.
    redis_url: String, url = "redis://127.0.0.1:6379/".into();
    /// Prefix of every Redis key of this hub cluster.
    redis_key_prefix: String, text = "quicksilver".into();
    /// Memory sled may use to cache the history (sled's own default is 1 GiB).
    sled_cache_size: u64, size = 64 << 20;
    /// Subscription events and the subscription API (A-SUBS-1).
    subscriptions: bool, flag = false;
    /// The debugging UI (C-UI-1); a development tool.
    ui: bool, flag = false;
    /// Development-only echo endpoints for discovery and cookies (implies `ui`).
    demo: bool, flag = false;
    /// The 1.0 name of `ui` (protocol.md C-UI-1): either turns the UI on.
    debugger: bool, flag = false;
    /// The 1.0 name of `demo`; also the development mode of protocol.md C-ENV-3 and the
    /// playground token of C-UI-4.
    playground: bool, flag = false;
    /// A JWK Set (`file://` or `https://`) that verifies publisher tokens instead of the key.
    publisher_jwks_url: Option<String>, optional = None;
    /// A JWK Set that verifies subscriber tokens instead of the key.
    subscriber_jwks_url: Option<String>, optional = None;
    /// Longest a write to one subscriber may stay unacknowledged (C-TMO-2); `0s` = no limit.
    dispatch_timeout: Duration, duration = Duration::from_secs(5);
    /// Bound of the whole graceful stop (C-SHUT-1).
    shutdown_timeout: Duration, duration = Duration::from_secs(10);
    /// Subscription connections in total; more get 429; `0` = no limit.
    max_connections: usize, count = 0;
    /// Subscription connections per client address; more get 429; `0` = no limit.
    max_connections_per_ip: usize, count = 0;
    /// Longest accepted selector, in bytes; `0` = no limit.
    max_selector_length: usize, count = 64 * 1024;
    /// Total bytes of all selectors of one subscription request; `0` = no limit.
    max_selectors_size: u64, size = 1 << 20;
    /// Longest a connection may take to complete its first request head (silent or not).
    request_timeout: Duration, duration = Duration::from_secs(5);
    /// Serve Prometheus metrics at `/metrics` on the main listener.
    metrics: bool, flag = false;
    /// A second listener for `/metrics` and the health checks.
    admin_listen: Option<String>, optional = None;
    /// How log lines are written on stderr.
    log_format: LogFormat, choice = LogFormat::Text;
    /// PEM certificate chain: with `tls_key`, the hub serves HTTPS.
    tls_cert: Option<PathBuf>, optional_path = None;
    /// PEM private key matching `tls_cert`.
    tls_key: Option<PathBuf>, optional_path = None;
    /// 1.0 issuers, `[[issuer]]` tables in the file (`QUICKSILVER_ISSUERS`: a JSON array).
    issuer: Vec<IssuerConfig>, issuers = Vec::new();
    /// 1.0 issuer ids bound to the top-level publisher and subscriber keys.
    trusted_issuers: Vec<String>, list = vec![DEVELOPMENT_ISSUER.into()];
    /// The `aud` of 1.0 tokens; unset = derived per request from its scheme and host.
    resource_identifier: Option<String>, optional = None;
    /// Origins the hub answers for; empty = any.
    public_urls: Vec<String>, list = Vec::new();
    /// Addresses or CIDR ranges whose forwarding headers are believed; empty = none.
    trusted_proxies: Vec<String>, list = Vec::new();
}

/// How each form of value is read from the environment and shown by `config check`.
mod form {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use serde::Serialize;
    use toml::Value;

    use super::Kind;

    /// What replaces a secret in the output.
    pub(super) const MASK: &str = "***";

    fn string(text: &str) -> Option<Value> {
        Some(Value::String(text.to_owned()))
    }

    /// Plain text.
    pub(super) mod text {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(text: &str) -> Option<Value> {
            string(text)
        }
    }

    /// Text that may be unset.
    pub(super) mod optional {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(text: &Option<String>) -> Option<Value> {
            text.as_deref().and_then(string)
        }
    }

    /// A key: shown as `"***"` when set.
    pub(super) mod secret {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(text: &Option<String>) -> Option<Value> {
            text.as_ref().and_then(|_| string(MASK))
        }
    }

    /// A URL whose password is shown as `***`: `redis://user:***@host`.
    pub(super) mod url {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(text: &str) -> Option<Value> {
            match ::url::Url::parse(text) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some(MASK));
                    string(parsed.as_str())
                }
                _ => string(text),
            }
        }
    }

    pub(super) mod path {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(path: &Path) -> Option<Value> {
            string(&path.display().to_string())
        }
    }

    pub(super) mod optional_path {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(path: &Option<PathBuf>) -> Option<Value> {
            path.as_deref().and_then(super::path::view)
        }
    }

    /// One of the names of an enum (`transport`, `durability`, `log_format`).
    pub(super) mod choice {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(choice: &impl Serialize) -> Option<Value> {
            Value::try_from(choice).ok()
        }
    }

    pub(super) mod flag {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Bool;
        pub(in super::super) fn view(flag: &bool) -> Option<Value> {
            Some(Value::Boolean(*flag))
        }
    }

    /// Space-separated in the environment, an array in TOML.
    pub(super) mod list {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::List;
        pub(in super::super) fn view(items: &[String]) -> Option<Value> {
            Some(Value::Array(
                items.iter().cloned().map(Value::String).collect(),
            ))
        }
    }

    /// An array of tables (`[[issuer]]`): a JSON array in the environment, an inline array of
    /// tables in `config check`'s output with every key masked; unset when empty.
    pub(super) mod issuers {
        use super::*;
        use crate::auth::IssuerConfig;

        /// The keys of a table that hold secrets.
        const SECRETS: [&str; 2] = ["publisher_jwt_key", "subscriber_jwt_key"];

        pub(in super::super) const KIND: Kind = Kind::Tables;
        pub(in super::super) fn view(issuers: &[IssuerConfig]) -> Option<Value> {
            if issuers.is_empty() {
                return None;
            }
            let tables = issuers.iter().filter_map(|issuer| {
                let mut table = match Value::try_from(issuer).ok()? {
                    Value::Table(table) => table,
                    _ => return None,
                };
                for key in SECRETS {
                    if let Some(secret) = table.get_mut(key) {
                        *secret = Value::String(MASK.to_owned());
                    }
                }
                Some(Value::Table(table))
            });
            Some(Value::Array(tables.collect()))
        }
    }

    /// A whole number of things (events, connections, bytes of a selector).
    pub(super) mod count {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Integer;
        pub(in super::super) fn view<N: Copy + TryInto<u64>>(n: &N) -> Option<Value> {
            (*n).try_into().ok().map(integer)
        }
    }

    /// Bytes, written `512KB`, `1MiB` or plain; shown in bytes.
    pub(super) mod size {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(bytes: &u64) -> Option<Value> {
            Some(integer(*bytes))
        }
    }

    /// Written `500ms`, `40s`, `7d`; shown in the largest unit that writes it exactly.
    pub(super) mod duration {
        use super::*;
        pub(in super::super) const KIND: Kind = Kind::Text;
        pub(in super::super) fn view(duration: &Duration) -> Option<Value> {
            Some(Value::String(shortest(*duration)))
        }
    }

    fn integer(n: u64) -> Value {
        i64::try_from(n).map_or_else(|_| Value::String(n.to_string()), Value::Integer)
    }

    /// A duration in the shortest unit that writes it exactly: `40s`, `30d`, `500ms`.
    pub(super) fn shortest(d: Duration) -> String {
        let millis = d.as_millis();
        let units = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ];
        if millis == 0 {
            return "0s".into();
        }
        units
            .iter()
            .find(|(size, _)| millis % size == 0)
            .map_or_else(
                || format!("{millis}ms"),
                |(size, unit)| format!("{}{unit}", millis / size),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::form::shortest;
    use super::*;

    #[test]
    fn durations_round_trip() {
        for (d, text) in [
            (Duration::from_secs(40), "40s"),
            (Duration::from_secs(30 * 86400), "30d"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(600), "10m"),
            (Duration::ZERO, "0s"),
        ] {
            assert_eq!(shortest(d), text);
            assert_eq!(super::super::parse_duration(text), Ok(d));
        }
    }
}
