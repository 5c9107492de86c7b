//! Key choice by `kid`, the algorithm a key allows, and which URLs are fetched.

use super::*;

use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use crate::auth::test_keys::{ED_PRIVATE, ED_X};

const SECRET: &str = "a-long-enough-jwks-secret-for-the-tests-0123456789";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn set() -> JwkSetVerifier {
    let document = json!({"keys": [
        {"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(SECRET.as_bytes())},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": ED_X},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "oct", "kid": "odd", "alg": "RSA-OAEP", "k": "AQAB"},
    ]});
    JwkSetVerifier::from_json(&document.to_string(), "test").expect("valid set")
}

fn hs(alg: Algorithm, kid: Option<&str>) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("key");
    encode(&header, &json!({"mercure": {"publish": ["*"]}}), &key).expect("sign")
}

fn ed(kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = kid.map(str::to_owned);
    let key = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).expect("key");
    encode(&header, &json!({"mercure": {"subscribe": ["a"]}}), &key).expect("sign")
}

#[test]
fn keys_for_encryption_or_unknown_algorithms_are_skipped() {
    assert_eq!(set().len(), 2);
    let unusable = json!({"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]});
    assert!(JwkSetVerifier::from_json(&unusable.to_string(), "t").is_err());
    assert!(JwkSetVerifier::from_json("{\"nokeys\": 1}", "t").is_err());
    assert!(JwkSetVerifier::from_json("not json", "t").is_err());
}

#[test]
fn the_key_is_chosen_by_kid() {
    let set = set();
    let payload = set
        .decode(&hs(Algorithm::HS256, Some("hmac")))
        .expect("hmac");
    assert_eq!(payload["mercure"]["publish"], json!(["*"]));
    set.decode(&ed(Some("ed"))).expect("ed25519");
    assert!(set.decode(&hs(Algorithm::HS256, Some("nope"))).is_err());
    assert!(set.decode(&ed(Some("hmac"))).is_err());
}

#[test]
fn the_algorithm_must_suit_the_key() {
    let set = set();
    // The key pins HS256.
    assert!(set.decode(&hs(Algorithm::HS512, Some("hmac"))).is_err());
    // An HMAC token presented for the Ed25519 key.
    assert!(set.decode(&hs(Algorithm::HS256, Some("ed"))).is_err());
    let none = "eyJhbGciOiJub25lIiwia2lkIjoiaG1hYyJ9.eyJtZXJjdXJlIjp7fX0.";
    assert!(set.decode(none).is_err());
}

#[test]
fn a_token_without_kid_needs_a_single_key_set() {
    assert!(set().decode(&hs(Algorithm::HS256, None)).is_err());
    let single = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": ED_X}]});
    let single = JwkSetVerifier::from_json(&single.to_string(), "t").expect("set");
    single.decode(&ed(None)).expect("the only key");
}

#[test]
fn file_urls_are_read_once() {
    let path = std::env::temp_dir().join(format!("qs-jwks-unit-{}.json", std::process::id()));
    let document = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": ED_X}]});
    std::fs::write(&path, document.to_string()).expect("write");
    let url = format!("file://{}", path.display());
    let set = JwkSetVerifier::from_url(&url).expect("file set");
    let _ = std::fs::remove_file(&path);
    set.decode(&ed(Some("ed")))
        .expect("valid after the file is gone");
    let message = JwkSetVerifier::from_url(&url)
        .expect_err("gone")
        .to_string();
    assert!(
        message.contains("cannot read the JWK Set file"),
        "{message}"
    );
    let localhost = format!("file://localhost{}", path.display());
    assert!(matches!(
        JwkSetVerifier::from_url(&localhost),
        Err(JwksError::Read { .. })
    ));
    assert!(matches!(
        JwkSetVerifier::from_url("file://example.com/etc/jwks.json"),
        Err(JwksError::Url { .. })
    ));
}

#[test]
fn only_https_and_public_addresses_are_fetched() {
    for url in [
        "http://example.com/jwks.json",
        "ftp://example.com/x",
        "jwks.json",
    ] {
        assert!(
            matches!(JwkSetVerifier::from_url(url), Err(JwksError::Url { .. })),
            "{url}"
        );
    }
    for url in [
        "https://127.0.0.1/jwks.json",
        "https://10.1.2.3/jwks.json",
        "https://[::1]/jwks.json",
        "https://169.254.169.254/latest",
    ] {
        let message = JwkSetVerifier::from_url(url).expect_err(url).to_string();
        assert!(message.contains("non-public address"), "{url}: {message}");
    }
}

#[test]
fn public_addresses() {
    let public = |s: &str| is_public_address(s.parse().expect("ip"));
    assert!(public("93.184.216.34"));
    assert!(public("2606:4700::1111"));
    for private in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fd00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
    ] {
        assert!(!public(private), "{private}");
    }
}
