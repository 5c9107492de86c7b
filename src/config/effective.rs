//! The effective configuration as TOML, secrets masked (`quicksilver config check`).

use std::time::Duration;

use toml::Value;

use super::{Config, Durability, LogFormat, Transport, KEYS};

/// What replaces a secret in the output.
pub(super) const MASK: &str = "***";

impl Config {
    /// Every key in `KEYS` order, one `key = value` line each; keys without a value are shown
    /// as comments and the JWT keys as `"***"`.
    pub fn to_masked_toml(&self) -> String {
        KEYS.iter()
            .map(|(key, _)| match self.value_of(key) {
                Some(value) => format!("{key} = {value}\n"),
                None => format!("# {key} is not set\n"),
            })
            .collect()
    }

    /// The value of one key as TOML, masked when secret; `None` when unset or unknown.
    pub fn value_of(&self, key: &str) -> Option<Value> {
        let text = |s: &str| Some(Value::String(s.to_owned()));
        let secret = |s: &Option<String>| s.as_ref().map(|_| Value::String(MASK.to_owned()));
        let optional = |s: &Option<String>| s.as_deref().and_then(text);
        match key {
            "listen" => text(&self.listen),
            "publisher_jwt_key" => secret(&self.publisher_jwt_key),
            "publisher_jwt_alg" => text(&self.publisher_jwt_alg),
            "subscriber_jwt_key" => secret(&self.subscriber_jwt_key),
            "subscriber_jwt_alg" => text(&self.subscriber_jwt_alg),
            "anonymous" => Some(Value::Boolean(self.anonymous)),
            "cookie_name" => text(&self.cookie_name),
            "cors_origins" => Some(list(&self.cors_origins)),
            "publish_origins" => Some(list(&self.publish_origins)),
            "heartbeat" => Some(duration(self.heartbeat)),
            "write_timeout" => Some(duration(self.write_timeout)),
            "max_request_body_size" => Some(integer(self.max_request_body_size)),
            "subscriber_queue_size" => Some(integer(self.subscriber_queue_size as u64)),
            "batch_window" => Some(duration(self.batch_window)),
            "transport" => text(match self.transport {
                Transport::Memory => "memory",
                Transport::Sled => "sled",
                Transport::Redis => "redis",
            }),
            "data_dir" => text(&self.data_dir.display().to_string()),
            "history_size" => Some(integer(self.history_size)),
            "history_max_age" => Some(duration(self.history_max_age)),
            "durability" => text(match self.durability {
                Durability::Fsync => "fsync",
                Durability::Periodic => "periodic",
            }),
            "sled_cache_size" => Some(integer(self.sled_cache_size)),
            "redis_url" => text(&mask_password(&self.redis_url)),
            "redis_key_prefix" => text(&self.redis_key_prefix),
            "subscriptions" => Some(Value::Boolean(self.subscriptions)),
            "ui" => Some(Value::Boolean(self.ui)),
            "demo" => Some(Value::Boolean(self.demo)),
            "publisher_jwks_url" => optional(&self.publisher_jwks_url),
            "subscriber_jwks_url" => optional(&self.subscriber_jwks_url),
            "dispatch_timeout" => Some(duration(self.dispatch_timeout)),
            "shutdown_timeout" => Some(duration(self.shutdown_timeout)),
            "max_connections" => Some(integer(self.max_connections as u64)),
            "max_connections_per_ip" => Some(integer(self.max_connections_per_ip as u64)),
            "max_selector_length" => Some(integer(self.max_selector_length as u64)),
            "max_selectors_size" => Some(integer(self.max_selectors_size)),
            "request_timeout" => Some(duration(self.request_timeout)),
            "metrics" => Some(Value::Boolean(self.metrics)),
            "admin_listen" => optional(&self.admin_listen),
            "log_format" => text(match self.log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }),
            "tls_cert" => self
                .tls_cert
                .as_ref()
                .and_then(|p| text(&p.display().to_string())),
            "tls_key" => self
                .tls_key
                .as_ref()
                .and_then(|p| text(&p.display().to_string())),
            _ => None,
        }
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
fn mask_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some(MASK));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn list(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn integer(n: u64) -> Value {
    i64::try_from(n).map_or_else(|_| Value::String(n.to_string()), Value::Integer)
}

/// A duration in the shortest unit that writes it exactly: `40s`, `30d`, `500ms`.
fn duration(d: Duration) -> Value {
    let millis = d.as_millis();
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    let text = units
        .iter()
        .find(|(size, _)| millis > 0 && millis % size == 0)
        .map_or_else(
            || format!("{millis}ms"),
            |(size, unit)| format!("{}{unit}", millis / size),
        );
    Value::String(if millis == 0 { "0s".into() } else { text })
}

#[cfg(test)]
mod tests {
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
            assert_eq!(duration(d).as_str(), Some(text));
            assert_eq!(super::super::parse_duration(text), Ok(d));
        }
    }
}
