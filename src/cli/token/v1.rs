//! The claims of a 1.0 access token (protocol.md C-CLI-1, B-TOK-1 … B-TOK-7, B-AD-1 … B-AD-4):
//! RFC 9068 claims and one `authorization_details` entry per action. The result is read back
//! with the hub's own rules (`auth::AccessToken`) before it is signed, so the command never
//! prints a token the hub would refuse for its claims.

use anyhow::{anyhow, bail};
use serde_json::{json, Map, Value};

use super::{expiry, payload, IssueArgs};
use crate::auth::grants::MERCURE_DETAIL_TYPE;
use crate::auth::{now_seconds, AccessToken};

/// The `typ` header of an RFC 9068 access token (B-TOK-2).
pub(super) const TYPE: &str = "at+jwt";
/// `iss` of `--dev` tokens: the hub's default trusted issuer (../shared/design.md).
const DEV_ISSUER: &str = "https://localhost";
/// `aud` of `--dev` tokens: the resource identifier of a hub on localhost (B-TOK-6).
const DEV_AUDIENCE: &str = "https://localhost/.well-known/mercure";

/// The claims of `--dialect 1.0`.
pub(super) fn claims(args: &IssueArgs) -> anyhow::Result<Value> {
    let issuer = required(&args.iss, DEV_ISSUER, "--iss", args.dev)?;
    let audience = required(&args.aud, DEV_AUDIENCE, "--aud", args.dev)?;
    let now = now_seconds() as u64;
    // B-TOK-5: `exp` is required.
    let Some(exp) = expiry(args, now)? else {
        bail!("--ttl 0 makes a token without exp, which the 1.0 dialect refuses: give a lifetime such as 1h");
    };
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(issuer));
    claims.insert("aud".into(), json!(audience));
    claims.insert(
        "sub".into(),
        json!(args.sub.clone().unwrap_or_else(random_urn)),
    );
    let client_id = args.client_id.as_deref().unwrap_or(issuer);
    claims.insert("client_id".into(), json!(client_id));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(exp));
    claims.insert("jti".into(), json!(random_urn()));
    claims.insert("authorization_details".into(), details(args)?);
    let claims = Value::Object(claims);
    AccessToken::from_payload(issuer, &claims, now as f64)
        .map_err(|e| anyhow!("the hub would refuse this token: {e}"))?;
    Ok(claims)
}

/// A claim the 1.0 dialect needs: the flag, else its `--dev` value.
fn required<'a>(
    value: &'a Option<String>,
    dev: &'static str,
    flag: &str,
    is_dev: bool,
) -> anyhow::Result<&'a str> {
    match value.as_deref() {
        Some("") => bail!("{flag} is empty"),
        Some(value) => Ok(value),
        None if is_dev => Ok(dev),
        None => bail!("{flag} is required with --dialect 1.0 (or --dev)"),
    }
}

fn random_urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

/// B-AD-1 … B-AD-3: a `publish` entry and a `subscribe` entry (with `--payload`, B-AD-8), each
/// listing its exact and URL Pattern grants; `*` for both with `--dev` and no grant flag.
fn details(args: &IssueArgs) -> anyhow::Result<Value> {
    let mut publish = topics(&args.publish, &args.publish_urlpattern);
    let mut subscribe = topics(&args.subscribe, &args.subscribe_urlpattern);
    if publish.is_empty() && subscribe.is_empty() {
        if !args.dev {
            bail!("give at least one --publish, --subscribe, --publish-urlpattern or --subscribe-urlpattern grant (or --dev)");
        }
        publish.push(json!({"match": "*"}));
        subscribe.push(json!({"match": "*"}));
    }
    let payload = payload(args)?;
    if payload.is_some() && subscribe.is_empty() {
        bail!("--payload belongs to a subscribe grant with --dialect 1.0: add --subscribe or --subscribe-urlpattern");
    }
    let mut entries = Vec::new();
    if !publish.is_empty() {
        entries
            .push(json!({"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": publish}));
    }
    if !subscribe.is_empty() {
        let mut entry =
            json!({"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": subscribe});
        if let (Some(payload), Some(object)) = (payload, entry.as_object_mut()) {
            object.insert("payload".into(), payload);
        }
        entries.push(entry);
    }
    Ok(Value::Array(entries))
}

/// Exact grants as `{"match": …}` (the default type, C-CLI-1), then URL Pattern grants.
fn topics(exact: &[String], patterns: &[String]) -> Vec<Value> {
    let exact = exact.iter().map(|topic| json!({"match": topic}));
    let patterns = patterns
        .iter()
        .map(|pattern| json!({"match": pattern, "match_type": "urlpattern"}));
    exact.chain(patterns).collect()
}
