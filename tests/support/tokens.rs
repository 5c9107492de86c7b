//! Minting JWTs for tests (HMAC, PEM keys made with `openssl`, hand-made malformed tokens).

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use super::harness::Hub;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Signs `claims` with an HMAC secret.
pub fn sign_hs(alg: &str, secret: &str, claims: &Value) -> String {
    let alg = Algorithm::from_str(alg).expect("algorithm");
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    encode(&Header::new(alg), claims, &key).expect("sign")
}

/// Signs `claims` with a PEM private key (RS*, ES*, EdDSA).
pub fn sign_pem(alg: &str, pem: &str, claims: &Value) -> String {
    let alg = Algorithm::from_str(alg).expect("algorithm");
    let key = match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
            EncodingKey::from_rsa_pem(pem.as_bytes())
        }
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
        other => panic!("not a PEM algorithm: {other:?}"),
    }
    .expect("pem key");
    encode(&Header::new(alg), claims, &key).expect("sign")
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// A token assembled from raw header and payload JSON texts and a raw signature segment.
pub fn raw_jwt(header: &str, payload: &str, signature: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), signature)
}

/// Publisher claims `{"mercure": {"publish": publish}}`.
pub fn publish_claims(publish: Value) -> Value {
    json!({ "mercure": { "publish": publish } })
}

/// Subscriber claims `{"mercure": {"subscribe": subscribe}}`.
pub fn subscribe_claims(subscribe: Value) -> Value {
    json!({ "mercure": { "subscribe": subscribe } })
}

impl Hub {
    /// A token signed with the publisher key and algorithm.
    pub fn publisher_token(&self, claims: &Value) -> String {
        sign_hs(&self.publisher_alg, &self.publisher_key, claims)
    }

    /// A token signed with the subscriber key and algorithm.
    pub fn subscriber_token(&self, claims: &Value) -> String {
        let key = self
            .subscriber_key
            .as_deref()
            .expect("this hub has no subscriber key");
        sign_hs(&self.subscriber_alg, key, claims)
    }

    /// `{"mercure": {"publish": ["*"]}}` signed with the publisher key.
    pub fn publisher_token_all(&self) -> String {
        self.publisher_token(&publish_claims(json!(["*"])))
    }

    /// A subscriber token granting private access to `subscribe`.
    pub fn subscriber_token_for(&self, subscribe: &[&str]) -> String {
        self.subscriber_token(&subscribe_claims(json!(subscribe)))
    }
}

/// Runs `openssl` to create a private key; returns (private PEM, public PEM).
pub fn openssl_keypair(genpkey_args: &[&str]) -> (String, String) {
    let dir = std::env::temp_dir().join(format!("qs-spec-key-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let private = dir.join("private.pem");
    let public = dir.join("public.pem");
    let ok = std::process::Command::new("openssl")
        .arg("genpkey")
        .args(genpkey_args)
        .arg("-out")
        .arg(&private)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run openssl")
        .success();
    assert!(ok, "openssl genpkey failed");
    let ok = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .expect("run openssl")
        .success();
    assert!(ok, "openssl pkey failed");
    let keys = (
        std::fs::read_to_string(&private).expect("read"),
        std::fs::read_to_string(&public).expect("read"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    keys
}

/// A token with a hand-written header and payload, HMAC-signed with raw key bytes
/// (for header fields `jsonwebtoken::Header` would normalise, and for non-UTF-8 keys).
pub fn sign_raw_hs(alg: &str, key: &[u8], header: &str, payload: &str) -> String {
    let message = format!("{}.{}", b64(header), b64(payload));
    let alg = Algorithm::from_str(alg).expect("algorithm");
    let key = EncodingKey::from_secret(key).expect("key");
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).expect("sign");
    format!("{message}.{sig}")
}

/// The DER bytes inside a PEM block.
pub fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM base64")
}

// ---- 1.0 tokens (protocol.md Part B): RFC 9068 `at+jwt` access tokens whose grants are in
// `authorization_details` (B-TOK-*, B-AD-*).

/// The `type` of a Mercure entry of `authorization_details` (B-AD-1, B-AD-2).
pub const MERCURE_DETAIL: &str = "https://mercure.rocks/authorization-detail";

/// The issuer id that `trusted_issuers` binds to the top-level keys by default
/// (../shared/design.md), so a hub started with only classic keys accepts 1.0 tokens from it.
pub const DEFAULT_ISSUER: &str = "https://localhost";

/// Signs `claims` with an HMAC secret and the given header `typ` (`None`: no `typ` at all).
pub fn sign_hs_typ(alg: &str, secret: &str, typ: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::from_str(alg).expect("algorithm"));
    header.typ = typ.map(str::to_string);
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    encode(&header, claims, &key).expect("sign")
}

/// An RFC 9068 access token: header `typ: at+jwt`, HMAC-signed (B-TOK-1, B-TOK-2).
pub fn sign_at_jwt(alg: &str, secret: &str, claims: &Value) -> String {
    sign_hs_typ(alg, secret, Some("at+jwt"), claims)
}

/// A topic matcher object of a grant: `{"match": m}` plus `match_type` when given (B-AD-3).
pub fn matcher(m: &str, match_type: Option<&str>) -> Value {
    match match_type {
        Some(t) => json!({ "match": m, "match_type": t }),
        None => json!({ "match": m }),
    }
}

/// One Mercure entry of `authorization_details` (B-AD-2), without `payload`.
pub fn mercure_detail(actions: &[&str], topics: Vec<Value>) -> Value {
    json!({ "type": MERCURE_DETAIL, "actions": actions, "topics": topics })
}

/// 1.0 claims: `iss`, `aud`, `exp` one hour ahead and `authorization_details` (B-TOK-4…6).
pub fn v1_claims(iss: &str, aud: &str, details: Value) -> Value {
    json!({
        "iss": iss,
        "aud": aud,
        "exp": now() + 3600,
        "authorization_details": details,
    })
}

impl Hub {
    /// The resource identifier the hub derives for requests sent to `self.base` when none is
    /// configured: `<scheme>://<host>/.well-known/mercure` (B-TOK-6).
    pub fn resource_identifier(&self) -> String {
        self.url(super::harness::HUB_PATH)
    }

    /// An `at+jwt` token with any claims, signed with the publisher key.
    pub fn v1_publisher_raw(&self, claims: &Value) -> String {
        sign_at_jwt(&self.publisher_alg, &self.publisher_key, claims)
    }

    /// An `at+jwt` token with any claims, signed with the subscriber key.
    pub fn v1_subscriber_raw(&self, claims: &Value) -> String {
        let key = self
            .subscriber_key
            .as_deref()
            .expect("this hub has no subscriber key");
        sign_at_jwt(&self.subscriber_alg, key, claims)
    }

    /// A 1.0 publisher token from the default trusted issuer for this hub's derived audience.
    pub fn v1_publisher_token(&self, details: Value) -> String {
        self.v1_publisher_raw(&v1_claims(
            DEFAULT_ISSUER,
            &self.resource_identifier(),
            details,
        ))
    }

    /// A 1.0 subscriber token from the default trusted issuer for this hub's derived audience.
    pub fn v1_subscriber_token(&self, details: Value) -> String {
        self.v1_subscriber_raw(&v1_claims(
            DEFAULT_ISSUER,
            &self.resource_identifier(),
            details,
        ))
    }

    /// A 1.0 publisher token granting `publish` on every topic (`*`).
    pub fn v1_publisher_token_all(&self) -> String {
        self.v1_publisher_token(json!([mercure_detail(
            &["publish"],
            vec![matcher("*", None)]
        )]))
    }

    /// A 1.0 subscriber token granting `subscribe` on the given `(match, match_type)` matchers.
    pub fn v1_subscriber_token_for(&self, topics: &[(&str, Option<&str>)]) -> String {
        let topics = topics.iter().map(|(m, t)| matcher(m, *t)).collect();
        self.v1_subscriber_token(json!([mercure_detail(&["subscribe"], topics)]))
    }
}
