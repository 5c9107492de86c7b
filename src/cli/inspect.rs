//! `quicksilver token inspect`: decode a token and say whether the configured hub accepts it.
//! A 1.0 token (protocol.md X-3) is explained by `v1`.

mod v1;

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use serde_json::Value;

use crate::auth::{self, Claims, Dialect, TokenError, Verifier};
use crate::config::Config;
use crate::settings::{publisher_verifier, subscriber_verifier};
use crate::topic::Matcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Publisher,
    Subscriber,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "\
The keys are those `quicksilver serve` would use: --config (or ./config.toml), then the
environment. Exit status 0 when the token is accepted (and covers every --topic), 1 otherwise.

Examples:
  quicksilver token inspect \"$TOKEN\"
  quicksilver token inspect - --role publisher --topic https://example.com/books/1 < token.txt
  quicksilver token inspect \"$TOKEN\" --resource https://hub.example.com/.well-known/mercure")]
pub struct InspectArgs {
    /// The token, or `-` to read it from standard input.
    #[arg(value_name = "TOKEN")]
    pub token: String,
    /// Configuration file (default: ./config.toml when present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Check the token for this role only (default: every configured role).
    #[arg(long, value_enum)]
    pub role: Option<Role>,
    /// A topic to check against the token's selectors (needs --role). Repeatable.
    #[arg(long, value_name = "TOPIC", requires = "role")]
    pub topic: Vec<String>,
    /// 1.0 tokens: the hub's resource identifier, which `aud` must contain and relative URL
    /// patterns resolve against (default: the token's own first `aud`, not compared).
    #[arg(long, value_name = "URL")]
    pub resource: Option<String>,
}

pub(super) fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let token = read_token(&args.token)?;
    let (header, payload) =
        decode_unverified(&token).map_err(|e| anyhow!("malformed token: {e}"))?;
    println!("header: {}", compact(&header));
    println!("claims: {}", serde_json::to_string_pretty(&payload)?);
    println!("expires: {}", describe_time(payload.get("exp"), "never"));
    let config = Config::load(args.config.as_deref()).context("configuration")?;
    if auth::v1::peek(&token).is_ok_and(|peeked| peeked.dialect == Dialect::V1) {
        return v1::run(args, &token, &header, &payload, &config);
    }
    let roles = match args.role {
        Some(role) => vec![role],
        None => vec![Role::Publisher, Role::Subscriber],
    };
    let mut accepted = false;
    let mut reasons = Vec::new();
    for role in roles {
        match check_role(&config, role, &token, &header, &args.topic) {
            Ok(()) => accepted = true,
            Err(reason) => reasons.push(reason),
        }
    }
    if !accepted {
        bail!("token refused: {}", reasons.join("; "));
    }
    Ok(())
}

fn read_token(argument: &str) -> anyhow::Result<String> {
    if argument != "-" {
        return Ok(argument.trim().to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the token from standard input")?;
    Ok(text.trim().to_owned())
}

/// Header and payload without checking anything but the shape (three base64url segments,
/// JSON objects).
fn decode_unverified(token: &str) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(format!(
            "a JWS has three dot-separated parts, this has {}",
            parts.len()
        ));
    };
    Ok((segment(header, "header")?, segment(payload, "payload")?))
}

fn segment(text: &str, name: &str) -> Result<Value, String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("the {name} is not base64url: {e}"))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the {name} is not JSON: {e}"))?;
    if !value.is_object() {
        return Err(format!("the {name} is not a JSON object"));
    }
    Ok(value)
}

fn compact(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Checks the token for one role, printing the verdict; `Err` carries the reason.
fn check_role(
    config: &Config,
    role: Role,
    token: &str,
    header: &Value,
    topics: &[String],
) -> Result<(), String> {
    let name = match role {
        Role::Publisher => "publisher",
        Role::Subscriber => "subscriber",
    };
    let outcome = verifier(config, role).and_then(|verifier| {
        let claims = verify(&verifier, token, header, name)?;
        check_claims(&claims, role, topics)
    });
    match &outcome {
        Ok(()) => println!("{name}: accepted"),
        Err(reason) => println!("{name}: refused: {reason}"),
    }
    outcome.map_err(|reason| format!("{name}: {reason}"))
}

fn verifier(config: &Config, role: Role) -> Result<Verifier, String> {
    match role {
        Role::Publisher => publisher_verifier(config).map_err(|e| e.to_string()),
        Role::Subscriber => subscriber_verifier(config)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                "no subscriber key is configured (an anonymous-only hub does not read subscriber tokens)".to_owned()
            }),
    }
}

fn verify(verifier: &Verifier, token: &str, header: &Value, role: &str) -> Result<Claims, String> {
    let token_alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("(none)");
    if let Some(expected) = verifier.algorithm() {
        if format!("{expected:?}") != token_alg {
            return Err(format!(
                "wrong algorithm: the token is signed with {token_alg}, the hub expects {expected:?}"
            ));
        }
    }
    verifier
        .verify(token)
        .map(|claims| (*claims).clone())
        .map_err(|error| explain(&error, role))
}

fn explain(error: &TokenError, role: &str) -> String {
    match error {
        TokenError::Invalid(detail) if detail.contains("InvalidSignature") => {
            format!("wrong key: the signature does not match the configured {role} key")
        }
        TokenError::Invalid(detail) => format!("invalid token: {detail}"),
        TokenError::Expired => "expired (see `expires` above)".to_owned(),
        TokenError::NotYetValid => "not valid yet: its nbf is in the future".to_owned(),
        TokenError::BadClaim(detail) => format!("missing or ill-typed mercure claim: {detail}"),
        other => other.to_string(),
    }
}

fn check_claims(claims: &Claims, role: Role, topics: &[String]) -> Result<(), String> {
    let none = Vec::new();
    let selectors = match role {
        Role::Publisher => claims.publish.as_ref().ok_or(
            "no mercure.publish claim: the hub refuses it for publishing (401)".to_owned(),
        )?,
        Role::Subscriber => claims.subscribe.as_ref().unwrap_or(&none),
    };
    let matcher = Matcher::default();
    let compiled: Vec<_> = selectors.iter().map(|s| (s, matcher.selector(s))).collect();
    let mut uncovered = Vec::new();
    for topic in topics {
        match compiled
            .iter()
            .find(|(_, selector)| matcher.matches(selector, topic))
        {
            Some((source, _)) => println!("  topic {topic}: covered by {source:?}"),
            None => {
                println!("  topic {topic}: not covered");
                uncovered.push(topic.as_str());
            }
        }
    }
    if uncovered.is_empty() {
        return Ok(());
    }
    let what = match role {
        Role::Publisher => "may not publish to",
        Role::Subscriber => "does not receive private updates of",
    };
    Err(format!("the token {what} {}", uncovered.join(", ")))
}

/// 10000-01-01T00:00:00Z, the first second humantime cannot write.
const RFC3339_END: u64 = 253_402_300_800;

fn describe_time(value: Option<&Value>, absent: &str) -> String {
    let Some(seconds) = value.and_then(Value::as_f64) else {
        return absent.to_owned();
    };
    // humantime writes years up to 9999 only (a `Display` error, which `format!` turns into a
    // panic, beyond), and `Duration::from_secs_f64` panics past `u64::MAX` seconds.
    let Some(when) = Duration::try_from_secs_f64(seconds.max(0.0))
        .ok()
        .filter(|since_epoch| since_epoch.as_secs() < RFC3339_END)
        .and_then(|since_epoch| UNIX_EPOCH.checked_add(since_epoch))
    else {
        return format!("{seconds} (out of range)");
    };
    let stamp = humantime::format_rfc3339_seconds(when);
    match when.duration_since(SystemTime::now()) {
        Ok(left) => format!("{stamp} (in {})", rounded(left)),
        Err(past) => format!("{stamp} ({} ago)", rounded(past.duration())),
    }
}

fn rounded(duration: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_secs(duration.as_secs()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// R-TOKEN: inspecting a token never panics on its `exp`/`nbf`.
    #[test]
    fn extreme_times_are_described() {
        for value in [
            json!(1e300),
            json!(u64::MAX),
            json!(i64::MAX),
            json!(253_402_300_800_u64),
            json!(-1e300),
        ] {
            assert!(
                describe_time(Some(&value), "never").contains("out of range")
                    || value.as_f64().is_some_and(|v| v < 0.0),
                "{value}"
            );
        }
        assert!(describe_time(Some(&json!(253_402_300_799_u64)), "never").starts_with("9999-12-31"));
        assert_eq!(describe_time(None, "never"), "never");
    }
}
