//! HS256 tokens for the classic `mercure` claim.

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

fn sign(secret: &str, claims: serde_json::Value) -> Result<String, BenchError> {
    let key = EncodingKey::from_secret(secret.as_bytes())
        .map_err(|e| BenchError::Token(e.to_string()))?;
    encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|e| BenchError::Token(e.to_string()))
}
