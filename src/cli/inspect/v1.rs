//! `quicksilver token inspect` for a 1.0 access token (protocol.md X-3, B.6, B.7, C-CLI-1):
//! what it says (issuer, audience, grants per action with their match types, payloads) and why
//! the hub would refuse it. Every verdict comes from the hub's own code (`auth::v1`,
//! `auth::grants`, `auth::Issuers`); nothing here restates a rule.

use std::sync::Arc;

use anyhow::{anyhow, bail};
use serde_json::Value;
use url::Url;

use super::{explain, InspectArgs, Role};
use crate::auth::grants::{GrantContext, GrantSelector, Grants, PayloadRule};
use crate::auth::v1::check_type;
use crate::auth::{
    now_seconds, AccessToken, AccessTokenError, ClassicKeys, Issuers, Role as AuthRole, TokenError,
};
use crate::config::Config;
use crate::settings::{self, publisher_verifier, subscriber_verifier};
use crate::topic::request::base_url;
use crate::topic::Matcher;

/// The base of relative patterns and topics when neither --resource nor `aud` gives one.
const DEFAULT_BASE: &str = "https://localhost/.well-known/mercure";

/// What to check a token against, besides the issuers.
pub(super) struct Checks<'a> {
    pub roles: &'a [Role],
    /// The hub's resource identifier (`--resource`), checked against `aud` (B-TOK-6).
    pub resource: Option<&'a str>,
    pub topics: &'a [String],
}

/// The explanation, one line each, and the refusals of every role checked.
#[derive(Debug, Default)]
pub(super) struct Report {
    pub lines: Vec<String>,
    pub accepted: bool,
    pub reasons: Vec<String>,
}

pub(super) fn run(
    args: &InspectArgs,
    token: &str,
    header: &Value,
    payload: &Value,
    config: &Config,
) -> anyhow::Result<()> {
    let roles = match args.role {
        Some(role) => vec![role],
        None => vec![Role::Publisher, Role::Subscriber],
    };
    let checks = Checks {
        roles: &roles,
        resource: args.resource.as_deref(),
        topics: &args.topic,
    };
    let report = inspect(token, header, payload, &issuers(config)?, &checks)?;
    for line in &report.lines {
        println!("{line}");
    }
    if !report.accepted {
        bail!("token refused: {}", report.reasons.join("; "));
    }
    Ok(())
}

/// The hub's verifiers: the configured `[[issuer]]`s and the top-level keys bound to
/// `trusted_issuers`, as `serve` builds them.
fn issuers(config: &Config) -> anyhow::Result<Issuers> {
    // A missing or broken key shows as "no publisher key" in the role's verdict.
    let classic = ClassicKeys {
        publisher: publisher_verifier(config).ok().map(Arc::new),
        subscriber: subscriber_verifier(config).ok().flatten().map(Arc::new),
    };
    settings::issuers(config, classic).map_err(|e| anyhow!("issuers: {e}"))
}

/// Explains `token` (header and payload already decoded) and checks it for each role.
pub(super) fn inspect(
    token: &str,
    header: &Value,
    payload: &Value,
    issuers: &Issuers,
    checks: &Checks<'_>,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    describe(payload, &mut report.lines);
    let grants = Grants::from_authorization_details(payload.get("authorization_details"));
    match &grants {
        Ok(grants) => describe_grants(grants, &mut report.lines),
        Err(error) => report.lines.push(format!("grants: refused: {error}")),
    }
    report
        .lines
        .extend(problems(header, payload, checks.resource));
    let audience = first_audience(payload);
    if checks.resource.is_none() {
        report
            .lines
            .push("audience: not compared with a hub URL (give --resource)".to_owned());
    }
    let resource = checks.resource.or(audience.as_deref()).unwrap_or_default();
    let base = base(resource)?;
    if !checks.topics.is_empty() {
        report
            .lines
            .push(format!("base of relative patterns: {base}"));
    }
    for &role in checks.roles {
        let verdict = check_role(token, header, role, issuers, resource, &base, checks.topics);
        let name = role_name(role);
        match verdict {
            Ok(lines) => {
                report.lines.extend(lines);
                report.lines.push(format!("{name}: accepted"));
                report.accepted = true;
            }
            Err((lines, reason)) => {
                report.lines.extend(lines);
                report.lines.push(format!("{name}: refused: {reason}"));
                report.reasons.push(format!("{name}: {reason}"));
            }
        }
    }
    Ok(report)
}

fn describe(payload: &Value, lines: &mut Vec<String>) {
    let text = |name: &str| match payload.get(name) {
        None => "(none)".to_owned(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    lines
        .push("dialect: 1.0 (authorization_details is present; a mercure claim is ignored)".into());
    lines.push(format!("issuer: {}", text("iss")));
    lines.push(format!("subject: {}", text("sub")));
    lines.push(format!("audience: {}", text("aud")));
    if payload.get("nbf").is_some() {
        lines.push(format!(
            "not before: {}",
            super::describe_time(payload.get("nbf"), "(none)")
        ));
    }
}

/// B-AD-2 … B-AD-8: the grants per action, then the payload of each subscribe entry.
fn describe_grants(grants: &Grants, lines: &mut Vec<String>) {
    lines.push("grants:".to_owned());
    for (action, list) in [
        ("publish", &grants.publish),
        ("subscribe", &grants.subscribe),
    ] {
        if list.is_empty() {
            lines.push(format!("  {action}: nothing"));
        }
        for grant in list {
            lines.push(format!("  {action} {}", shown(grant)));
        }
    }
    if let PayloadRule::PerEntry(entries) = &grants.payload {
        for entry in entries {
            if let Some(payload) = &entry.payload {
                let topics: Vec<String> = entry.topics.iter().map(shown).collect();
                lines.push(format!(
                    "  payload {payload} for subscriptions matching {}",
                    topics.join(", ")
                ));
            }
        }
    }
}

fn shown(grant: &GrantSelector) -> String {
    format!("{:?} ({})", &*grant.source, grant.match_type.name())
}

/// What the hub refuses whatever its keys: the header `typ` (B-TOK-2), the claims (B-TOK-5,
/// B-TOK-6) and, with --resource, the audience. Grants are reported by `describe_grants`.
fn problems(header: &Value, payload: &Value, resource: Option<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(error) = check_type(header.get("typ").and_then(Value::as_str)) {
        problems.push(format!("problem: {error}"));
    }
    let issuer = payload.get("iss").and_then(Value::as_str);
    if issuer.is_none() {
        problems.push(format!("problem: {}", AccessTokenError::NoIssuer));
    }
    let now = now_seconds();
    match AccessToken::from_payload(issuer.unwrap_or_default(), payload, now) {
        Err(TokenError::AccessToken(AccessTokenError::Details(_))) => {}
        Err(error) => problems.push(format!("problem: {}", explain(&error, "issuer's"))),
        Ok(token) => {
            if let Some(Err(error)) = resource.map(|resource| token.check(resource, now)) {
                problems.push(format!(
                    "problem: {error} ({})",
                    resource.unwrap_or_default()
                ));
            }
        }
    }
    problems
}

type Verdict = Result<Vec<String>, (Vec<String>, String)>;

/// B.6 on the hub's path for `role`, then the token's rights on `topics` (B-AD-5, B-AD-6).
fn check_role(
    token: &str,
    header: &Value,
    role: Role,
    issuers: &Issuers,
    resource: &str,
    base: &Url,
    topics: &[String],
) -> Verdict {
    let auth_role = match role {
        Role::Publisher => AuthRole::Publisher,
        Role::Subscriber => AuthRole::Subscriber,
    };
    let verified = issuers
        .verify_access_token(token, auth_role, resource)
        .map_err(|error| (Vec::new(), reason(&error, header, role)))?;
    let grants = &verified.grants;
    let list = match role {
        Role::Publisher if grants.publish.is_empty() => {
            let reason = "grants no publish right: publishing answers 403 insufficient_scope";
            return Err((Vec::new(), reason.to_owned()));
        }
        Role::Publisher => &grants.publish,
        Role::Subscriber => &grants.subscribe,
    };
    let matcher = Matcher::default();
    let context = GrantContext::new(&matcher, base);
    let mut lines = Vec::new();
    let mut uncovered = Vec::new();
    for topic in topics {
        match list.iter().find(|grant| grant.matches(topic, &context)) {
            Some(grant) => lines.push(format!("  topic {topic}: covered by {}", shown(grant))),
            None => {
                lines.push(format!("  topic {topic}: not covered"));
                uncovered.push(topic.as_str());
            }
        }
    }
    if uncovered.is_empty() {
        return Ok(lines);
    }
    let what = match role {
        Role::Publisher => "may not publish to",
        Role::Subscriber => "does not receive private updates of",
    };
    Err((lines, format!("the token {what} {}", uncovered.join(", "))))
}

/// The hub's reason, with what to change where the error alone does not say it.
fn reason(error: &TokenError, header: &Value, role: Role) -> String {
    let name = role_name(role);
    match error {
        TokenError::AccessToken(AccessTokenError::UnknownIssuer(issuer)) => format!(
            "iss {issuer:?} is not a configured issuer (configure an issuer with this id, or trust it with trusted_issuers)"
        ),
        TokenError::Invalid(detail) if detail.contains("InvalidAlgorithm") => {
            let alg = header.get("alg").and_then(Value::as_str).unwrap_or("(none)");
            format!("wrong algorithm: the token is signed with {alg}, the issuer's {name} key uses another")
        }
        other => explain(other, &format!("issuer's {name}")),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Publisher => "publisher",
        Role::Subscriber => "subscriber",
    }
}

/// `aud`, or its first entry (what a hub of that URL would check, B-TOK-6).
fn first_audience(payload: &Value) -> Option<String> {
    match payload.get("aud")? {
        Value::String(one) => Some(one.clone()),
        Value::Array(many) => many.first()?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// B-MT-5: the hub URL for `resource`, as the hub derives it; localhost when it is no URL.
fn base(resource: &str) -> anyhow::Result<Url> {
    let derived = Url::parse(resource).ok().and_then(|url| {
        let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
        base_url(Some(&url), url.scheme(), host)
    });
    match derived {
        Some(base) => Ok(base),
        None => Url::parse(DEFAULT_BASE).map_err(|e| anyhow!("{DEFAULT_BASE}: {e}")),
    }
}

#[cfg(test)]
mod tests;
