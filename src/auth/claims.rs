//! The classic `mercure` claim (protocol.md A-AUTH-8, A-AUTH-9, A-LIM-3).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::grants::Grants;
use super::TokenError;
use crate::topic::{Matcher, Selector};

/// Most entries in `mercure.publish` or `mercure.subscribe` (A-LIM-3).
pub(super) const MAX_CLAIM_ENTRIES: usize = 1000;

/// Rights carried by a verified classic token.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// `mercure.publish`; `None` when absent or null.
    pub publish: Option<Vec<String>>,
    /// `mercure.subscribe`; `None` when absent or null.
    pub subscribe: Option<Vec<String>>,
    /// `mercure.payload` when present and not null.
    pub payload: Option<Value>,
    /// `exp` in seconds since the epoch.
    pub expires_at: Option<f64>,
    /// `publish` and `subscribe` compiled once per verified token (tokens are cached), not
    /// once per request.
    publish_grants: OnceLock<Vec<Selector>>,
    subscribe_grants: OnceLock<Vec<Selector>>,
    /// The dialect-neutral form, built once per verified token.
    grants: OnceLock<Grants>,
}

impl PartialEq for Claims {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.publish,
            &self.subscribe,
            &self.payload,
            self.expires_at,
        ) == (
            &other.publish,
            &other.subscribe,
            &other.payload,
            other.expires_at,
        )
    }
}

impl Claims {
    /// `mercure.publish` as selectors (none when absent).
    pub fn publish_grants(&self, matcher: &Matcher) -> &[Selector] {
        self.publish_grants
            .get_or_init(|| compile(matcher, self.publish.as_deref()))
    }

    /// `mercure.subscribe` as selectors (none when absent).
    pub fn subscribe_grants(&self, matcher: &Matcher) -> &[Selector] {
        self.subscribe_grants
            .get_or_init(|| compile(matcher, self.subscribe.as_deref()))
    }

    /// The claims as dialect-neutral grants (X-4).
    pub fn grants(&self) -> &Grants {
        self.grants.get_or_init(|| Grants::from_claims(self))
    }

    /// How long the token stays valid after `now` (seconds since the epoch); `None` without
    /// `exp`. Saturates: an `exp` in the past (or not a number) is zero, and one beyond what a
    /// `Duration` holds (`1e300`) is `Duration::MAX`, never a panic (R-TOKEN).
    pub fn time_left(&self, now: f64) -> Option<Duration> {
        self.expires_at.map(|exp| seconds_to_duration(exp - now))
    }

    /// Reads and checks the claims of a token whose signature is already verified.
    pub fn from_payload(payload: &Value) -> Result<Self, TokenError> {
        let object = payload
            .as_object()
            .ok_or(TokenError::BadClaim("payload is not an object"))?;
        let now = now_seconds();
        let expires_at = numeric_date(object, "exp")?;
        if expires_at.is_some_and(|exp| exp <= now) {
            return Err(TokenError::Expired);
        }
        if numeric_date(object, "nbf")?.is_some_and(|nbf| nbf > now) {
            return Err(TokenError::NotYetValid);
        }
        let mercure = match object.get("https://mercure.rocks/") {
            Some(namespaced) if !namespaced.is_null() => Some(namespaced),
            _ => object.get("mercure"),
        };
        let mut claims = Self {
            expires_at,
            ..Self::default()
        };
        match mercure {
            None | Some(Value::Null) => {}
            Some(Value::Object(mercure)) => {
                claims.publish = selector_list(mercure, "publish")?;
                claims.subscribe = selector_list(mercure, "subscribe")?;
                claims.payload = mercure.get("payload").filter(|p| !p.is_null()).cloned();
            }
            Some(_) => return Err(TokenError::BadClaim("mercure claim is not an object")),
        }
        Ok(claims)
    }
}

fn compile(matcher: &Matcher, sources: Option<&[String]>) -> Vec<Selector> {
    sources
        .unwrap_or_default()
        .iter()
        .map(|source| matcher.selector(source))
        .collect()
}

pub(super) fn numeric_date(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<f64>, TokenError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or(TokenError::BadClaim("numeric date out of range")),
        Some(_) => Err(TokenError::BadClaim("exp or nbf is not a number")),
    }
}

fn selector_list(
    mercure: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<Vec<String>>, TokenError> {
    match mercure.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(entries)) => {
            if entries.len() > MAX_CLAIM_ENTRIES {
                return Err(TokenError::BadClaim("more than 1000 selectors"));
            }
            entries
                .iter()
                .map(|entry| {
                    entry
                        .as_str()
                        .map(str::to_owned)
                        .ok_or(TokenError::BadClaim("selector is not a string"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
        Some(_) => Err(TokenError::BadClaim("publish or subscribe is not an array")),
    }
}

/// `seconds` as a `Duration`, saturating: negative and NaN are zero, too large is the maximum.
pub fn seconds_to_duration(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
}

/// Wall-clock seconds since the Unix epoch, the scale of `exp` and `nbf` (A-AUTH-8); 0 if the
/// clock is before 1970.
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_publish_subscribe_and_payload() {
        let claims = Claims::from_payload(&json!({
            "aud": "anything", "iss": "whoever",
            "mercure": {"publish": ["*"], "subscribe": ["a", "b"], "payload": {"u": 1}, "other": 1}
        }))
        .expect("valid");
        assert_eq!(claims.publish, Some(vec!["*".to_string()]));
        assert_eq!(
            claims.subscribe,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(claims.payload, Some(json!({"u": 1})));
    }

    #[test]
    fn namespaced_claim_replaces_mercure() {
        let claims = Claims::from_payload(&json!({
            "mercure": {"publish": ["a"]},
            "https://mercure.rocks/": {"subscribe": ["b"]}
        }))
        .expect("valid");
        assert_eq!(claims.publish, None);
        assert_eq!(claims.subscribe, Some(vec!["b".to_string()]));
    }

    #[test]
    fn wrong_types_are_invalid() {
        for payload in [
            json!({"mercure": "x"}),
            json!({"mercure": {"publish": "*"}}),
            json!({"mercure": {"subscribe": [1]}}),
            json!({"exp": "tomorrow"}),
            json!([1, 2]),
        ] {
            assert!(Claims::from_payload(&payload).is_err(), "{payload}");
        }
        let many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
        assert!(Claims::from_payload(&json!({"mercure": {"publish": many}})).is_err());
    }

    #[test]
    fn exp_and_nbf_are_checked_without_leeway() {
        let now = now_seconds();
        assert_eq!(
            Claims::from_payload(&json!({"exp": now - 1.0})),
            Err(TokenError::Expired)
        );
        assert_eq!(
            Claims::from_payload(&json!({"nbf": now + 30.0})),
            Err(TokenError::NotYetValid)
        );
        let ok =
            Claims::from_payload(&json!({"exp": now + 30.5, "nbf": now - 1.0})).expect("valid");
        assert!(ok.expires_at.is_some());
        assert!(Claims::from_payload(&json!({}))
            .expect("no exp")
            .expires_at
            .is_none());
    }

    /// R-TOKEN: `exp` at the extremes a token can carry: accepted or refused, never a panic, and
    /// its remaining lifetime saturates.
    #[test]
    fn extreme_exp_saturates() {
        let now = now_seconds();
        for text in [
            "9223372036854775807",
            "18446744073709551615",
            "18446744073709551616",
            "1e300",
            "1.7976931348623157e308",
        ] {
            let payload: Value =
                serde_json::from_str(&format!(r#"{{"exp": {text}}}"#)).expect("JSON");
            let claims = Claims::from_payload(&payload).expect(text);
            let left = claims.time_left(now).expect("exp");
            assert!(left > Duration::from_secs(1 << 32), "{text}: {left:?}");
        }
        for text in ["-1e300", "-9223372036854775808", "0", "-0.5"] {
            let payload: Value =
                serde_json::from_str(&format!(r#"{{"exp": {text}}}"#)).expect("JSON");
            assert_eq!(Claims::from_payload(&payload), Err(TokenError::Expired));
        }
        // JSON has no NaN or infinity: such numbers are refused by the parser.
        assert!(serde_json::from_str::<Value>(r#"{"exp": 1e400}"#).is_err());
        assert!(serde_json::from_str::<Value>(r#"{"exp": NaN}"#).is_err());
        assert_eq!(seconds_to_duration(f64::NAN), Duration::ZERO);
        assert_eq!(seconds_to_duration(f64::INFINITY), Duration::MAX);
        assert_eq!(seconds_to_duration(f64::NEG_INFINITY), Duration::ZERO);
        assert_eq!(seconds_to_duration(-0.0), Duration::ZERO);
        assert_eq!(seconds_to_duration(1.5), Duration::from_millis(1500));
        assert_eq!(seconds_to_duration(1e300), Duration::MAX);
    }
}
