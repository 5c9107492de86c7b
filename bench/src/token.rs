//! HS256 tokens: the classic `mercure` claim, and 1.0 `at+jwt` access tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use super::error::BenchError;

/// A token that may publish to every topic.
pub fn publisher(secret: &str) -> Result<String, BenchError> {
    sign(secret, json!({ "mercure": { "publish": ["*"] } }))
}

/// A token that may receive every update, private ones included.
pub fn subscriber(secret: &str) -> Result<String, BenchError> {
    sign(secret, json!({ "mercure": { "subscribe": ["*"] } }))
}

/// The issuer a hub trusts without configuration (`trusted_issuers` default).
pub const DEFAULT_ISSUER: &str = "https://localhost";

/// A 1.0 access token (`typ: at+jwt`, protocol.md B-TOK) that may receive every update,
/// private ones included: issued by `DEFAULT_ISSUER` for the hub's resource identifier
/// `audience`, valid for a day.
pub fn subscriber_v1(secret: &str, audience: &str) -> Result<String, BenchError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({
        "iss": DEFAULT_ISSUER,
        "aud": audience,
        "iat": now,
        "exp": now + 86_400,
        "authorization_details": [{
            "type": "https://mercure.rocks/authorization-detail",
            "actions": ["subscribe"],
            "topics": [{ "match": "*" }],
        }],
    });
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_string());
    sign_with(secret, header, claims)
}

fn sign(secret: &str, claims: serde_json::Value) -> Result<String, BenchError> {
    sign_with(secret, Header::new(Algorithm::HS256), claims)
}

fn sign_with(
    secret: &str,
    header: Header,
    claims: serde_json::Value,
) -> Result<String, BenchError> {
    let key = EncodingKey::from_secret(secret.as_bytes())
        .map_err(|e| BenchError::Token(e.to_string()))?;
    encode(&header, &claims, &key).map_err(|e| BenchError::Token(e.to_string()))
}
