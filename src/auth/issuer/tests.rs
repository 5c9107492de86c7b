use super::*;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use crate::auth::grants::{GrantContext, GrantSelector, MatchType, MERCURE_DETAIL_TYPE};
use crate::auth::test_keys::{access_token_claims, ED_PRIVATE, ED_X};
use crate::topic::Matcher;

const ISS: &str = "https://issuer.example";
const OTHER: &str = "https://other.example";
const SECRET: &str = "a-long-enough-issuer-secret-for-the-tests";
const OTHER_SECRET: &str = "another-long-enough-secret-for-the-tests";
const CLASSIC_SECRET: &str = "the-classic-development-secret-for-tests!";
const RESOURCE: &str = "https://localhost/.well-known/mercure";

fn hs_config(id: &str, secret: &str) -> IssuerConfig {
    IssuerConfig {
        id: id.into(),
        publisher_jwt_key: Some(secret.into()),
        subscriber_jwt_key: Some(secret.into()),
        ..IssuerConfig::default()
    }
}

fn classic() -> ClassicKeys {
    let verifier = Arc::new(Verifier::new(CLASSIC_SECRET, "HS256").expect("classic"));
    ClassicKeys {
        publisher: Some(verifier.clone()),
        subscriber: Some(verifier),
    }
}

fn issuers() -> Issuers {
    Issuers::new(
        &[hs_config(ISS, SECRET), hs_config(OTHER, OTHER_SECRET)],
        &["https://localhost".to_owned()],
        classic(),
    )
    .expect("issuers")
}

fn claims(iss: &str) -> Value {
    access_token_claims(iss, RESOURCE)
}

fn sign_with(header: &Header, key: &EncodingKey, payload: &Value) -> String {
    encode(header, payload, key).expect("sign")
}

fn at_jwt(alg: Algorithm) -> Header {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header
}

fn hs(secret: &str, payload: &Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    sign_with(&at_jwt(Algorithm::HS256), &key, payload)
}

fn v1_error(result: Result<Verified, TokenError>) -> AccessTokenError {
    match result {
        Err(TokenError::AccessToken(error)) => error,
        other => panic!("expected a 1.0 token error, got {other:?}"),
    }
}

// B-TOK-1, B-TOK-7, B-AD-1: a minimal signed token (no sub, client_id, iat, jti) verifies and
// carries its grants.
#[test]
fn a_valid_access_token() {
    let issuers = issuers();
    let token = hs(SECRET, &claims(ISS));
    let verified = issuers
        .verify(&token, Role::Publisher, RESOURCE)
        .expect("valid");
    assert_eq!(verified.dialect(), Dialect::V1);
    let grants = verified.grants();
    assert_eq!(
        grants.publish,
        [GrantSelector::new(
            MatchType::Exact,
            "https://example.com/books/1"
        )]
    );
    let (matcher, base) = (Matcher::default(), url::Url::parse(RESOURCE).expect("base"));
    assert!(grants.may_publish(
        ["https://example.com/books/1"].into_iter(),
        &GrantContext::new(&matcher, &base)
    ));
    assert!(verified.expires_at().is_some());
    // Cached: the same verified token, still checked per request (B-TOK-6).
    let again = issuers
        .verify_access_token(&token, Role::Publisher, RESOURCE)
        .expect("cached");
    let Verified::V1(first) = verified else {
        panic!("1.0")
    };
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(
        v1_error(issuers.verify(&token, Role::Publisher, "https://evil/.well-known/mercure")),
        AccessTokenError::WrongAudience
    );
}

// B-TOK-2: typ at+jwt or application/at+jwt; JWT or absent → invalid.
#[test]
fn the_header_type_is_required() {
    let issuers = issuers();
    let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("key");
    let payload = claims(ISS);
    for (typ, ok) in [
        (Some("application/AT+JWT"), true),
        (Some("JWT"), false),
        (None, false),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        let result = issuers.verify(
            &sign_with(&header, &key, &payload),
            Role::Subscriber,
            RESOURCE,
        );
        assert_eq!(result.is_ok(), ok, "{typ:?}");
        if !ok {
            assert!(matches!(v1_error(result), AccessTokenError::WrongType(_)));
        }
    }
}

// B-TOK-3: the algorithm is bound to the key, never `none`, never taken from the token.
#[test]
fn algorithms_are_bound_to_keys() {
    let issuers = issuers();
    let payload = claims(ISS);
    let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("key");
    let hs384 = sign_with(&at_jwt(Algorithm::HS384), &key, &payload);
    assert!(matches!(
        issuers.verify(&hs384, Role::Publisher, RESOURCE),
        Err(TokenError::Invalid(_))
    ));
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#);
    let body = URL_SAFE_NO_PAD.encode(payload.to_string());
    for none in [format!("{header}.{body}."), format!("{header}.{body}.c2ln")] {
        assert!(issuers.verify(&none, Role::Publisher, RESOURCE).is_err());
    }
    // A static key without an algorithm is HS256; a PEM key then is a startup error.
    let pem = IssuerConfig {
        id: ISS.into(),
        publisher_jwt_key: Some("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----".into()),
        ..IssuerConfig::default()
    };
    assert!(matches!(
        Issuers::new(&[pem], &[], ClassicKeys::default()),
        Err(IssuerError::Key {
            source: KeyError::PemWithHmac(_),
            ..
        })
    ));
    let none = IssuerConfig {
        publisher_jwt_alg: Some("none".into()),
        ..hs_config(ISS, SECRET)
    };
    assert!(matches!(
        Issuers::new(&[none], &[], ClassicKeys::default()),
        Err(IssuerError::Key {
            source: KeyError::UnsupportedAlgorithm(_),
            ..
        })
    ));
}

// B-TOK-4: the unverified iss selects exactly one issuer; only its keys are tried.
#[test]
fn the_issuer_selects_the_keys() {
    let issuers = issuers();
    // Signed by OTHER's key but claiming ISS: ISS's key alone is tried.
    let forged = hs(OTHER_SECRET, &claims(ISS));
    assert!(matches!(
        issuers.verify(&forged, Role::Publisher, RESOURCE),
        Err(TokenError::Invalid(_))
    ));
    assert!(issuers
        .verify(&hs(OTHER_SECRET, &claims(OTHER)), Role::Publisher, RESOURCE)
        .is_ok());
    for iss in [format!("{ISS}/"), ISS.to_uppercase(), String::new()] {
        assert!(
            matches!(
                v1_error(issuers.verify(&hs(SECRET, &claims(&iss)), Role::Publisher, RESOURCE)),
                AccessTokenError::UnknownIssuer(_)
            ),
            "{iss}"
        );
    }
    let mut no_iss = claims(ISS);
    no_iss.as_object_mut().expect("object").remove("iss");
    assert_eq!(
        v1_error(issuers.verify(&hs(SECRET, &no_iss), Role::Publisher, RESOURCE)),
        AccessTokenError::NoIssuer
    );
    let mut numeric = claims(ISS);
    numeric["iss"] = json!(1);
    assert_eq!(
        v1_error(issuers.verify(&hs(SECRET, &numeric), Role::Publisher, RESOURCE)),
        AccessTokenError::NoIssuer
    );
}

// B-TOK-4, X-3: per-role keys; an issuer without the role's key cannot verify for it.
#[test]
fn keys_are_per_role() {
    let subscriber_only = IssuerConfig {
        id: ISS.into(),
        subscriber_jwt_key: Some(SECRET.into()),
        ..IssuerConfig::default()
    };
    let issuers = Issuers::new(&[subscriber_only], &[], ClassicKeys::default()).expect("ok");
    let token = hs(SECRET, &claims(ISS));
    assert!(issuers.verify(&token, Role::Subscriber, RESOURCE).is_ok());
    assert!(matches!(
        v1_error(issuers.verify(&token, Role::Publisher, RESOURCE)),
        AccessTokenError::NoKeyForRole { .. }
    ));
    assert!(issuers.has_role(Role::Subscriber));
    assert!(!issuers.has_role(Role::Publisher));
    // A classic token with no classic key for the role is invalid (X-3).
    let classic_token = encode(
        &Header::new(Algorithm::HS256),
        &json!({"mercure": {"publish": ["*"]}}),
        &EncodingKey::from_secret(CLASSIC_SECRET.as_bytes()).expect("key"),
    )
    .expect("sign");
    assert!(matches!(
        issuers.verify(&classic_token, Role::Publisher, RESOURCE),
        Err(TokenError::Invalid(_))
    ));
}

// B-TOK-5: exp required and enforced; nbf enforced. B-TOK-6: aud holds the resource.
#[test]
fn time_and_audience() {
    let issuers = issuers();
    let now = now_seconds();
    let with = |member: &str, value: Value| {
        let mut payload = claims(ISS);
        payload[member] = value;
        issuers.verify(&hs(SECRET, &payload), Role::Subscriber, RESOURCE)
    };
    let mut no_exp = claims(ISS);
    no_exp.as_object_mut().expect("object").remove("exp");
    assert_eq!(
        v1_error(issuers.verify(&hs(SECRET, &no_exp), Role::Subscriber, RESOURCE)),
        AccessTokenError::NoExpiry
    );
    assert!(matches!(
        with("exp", json!(now - 1.0)),
        Err(TokenError::Expired)
    ));
    assert!(matches!(
        with("nbf", json!(now + 60.0)),
        Err(TokenError::NotYetValid)
    ));
    assert!(with("nbf", json!(now - 60.0)).is_ok());
    assert!(with("aud", json!(["https://a", RESOURCE])).is_ok());
    assert_eq!(
        v1_error(with("aud", json!("https://localhost"))),
        AccessTokenError::WrongAudience
    );
    assert_eq!(
        v1_error(with("aud", json!(null))),
        AccessTokenError::BadAudience
    );
}

// B-AD-4, B-ERR-3: a bad authorization_details rejects the whole signed token.
#[test]
fn bad_details_reject_the_token() {
    let issuers = issuers();
    let mut payload = claims(ISS);
    payload["authorization_details"] =
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": ["bare"]}]);
    assert!(matches!(
        v1_error(issuers.verify(&hs(SECRET, &payload), Role::Publisher, RESOURCE)),
        AccessTokenError::Details(_)
    ));
    let error = issuers
        .verify(&hs(SECRET, &payload), Role::Publisher, RESOURCE)
        .expect_err("invalid");
    assert_eq!(
        error.to_challenge(Dialect::V1).header_value(),
        "Bearer error=\"invalid_token\""
    );
}

// X-3, design.md trusted_issuers: a trusted issuer id verifies with the classic keys; the
// dialect comes from the payload, and a 1.0 token's `mercure` claim is ignored.
#[test]
fn trusted_issuers_use_the_classic_keys() {
    let issuers = issuers();
    let mut payload = claims("https://localhost");
    payload["mercure"] = json!({"publish": "not even an array"});
    let token = hs(CLASSIC_SECRET, &payload);
    let verified = issuers
        .verify(&token, Role::Subscriber, RESOURCE)
        .expect("trusted");
    assert_eq!(verified.dialect(), Dialect::V1);
    assert_eq!(verified.grants().subscribe.len(), 1);
    // A classic token still takes the classic path, with the classic rules.
    let classic_token = encode(
        &Header::new(Algorithm::HS256),
        &json!({"mercure": {"publish": ["*"], "payload": {"u": 1}}}),
        &EncodingKey::from_secret(CLASSIC_SECRET.as_bytes()).expect("key"),
    )
    .expect("sign");
    let verified = issuers
        .verify(&classic_token, Role::Publisher, RESOURCE)
        .expect("classic");
    assert_eq!(verified.dialect(), Dialect::Classic);
    let (matcher, base) = (Matcher::default(), url::Url::parse(RESOURCE).expect("base"));
    assert_eq!(
        verified
            .grants()
            .payload_for("x", &GrantContext::new(&matcher, &base)),
        Some(&json!({"u": 1}))
    );
    // A classic-looking token signed with an issuer's key is not accepted by the classic path.
    let issuer_signed = encode(
        &Header::new(Algorithm::HS256),
        &json!({"mercure": {"publish": ["*"]}}),
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("key"),
    )
    .expect("sign");
    assert!(issuers
        .verify(&issuer_signed, Role::Publisher, RESOURCE)
        .is_err());
}

fn jwks_file(document: &Value) -> (std::path::PathBuf, String) {
    let path = std::env::temp_dir().join(format!("qs-issuer-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, document.to_string()).expect("write");
    let url = format!("file://{}", path.display());
    (path, url)
}

// B-TOK-3, B-TOK-4: JWK Set issuers with the default allow-list (no HMAC), or one named alg.
#[test]
fn jwk_set_issuers() {
    let (path, url) = jwks_file(&json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": ED_X},
        {"kty": "oct", "kid": "hmac", "k": URL_SAFE_NO_PAD.encode(SECRET)},
    ]}));
    let config = IssuerConfig {
        id: ISS.into(),
        subscriber_jwks_url: Some(url.clone()),
        authorization_server: true,
        ..IssuerConfig::default()
    };
    let issuers =
        Issuers::new(std::slice::from_ref(&config), &[], ClassicKeys::default()).expect("jwks");
    let mut header = at_jwt(Algorithm::EdDSA);
    header.kid = Some("ed".into());
    let ed_key = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).expect("ed key");
    let ed = sign_with(&header, &ed_key, &claims(ISS));
    assert!(issuers.verify(&ed, Role::Subscriber, RESOURCE).is_ok());
    let mut header = at_jwt(Algorithm::HS256);
    header.kid = Some("hmac".into());
    let hmac_key = EncodingKey::from_secret(SECRET.as_bytes()).expect("key");
    let hmac = sign_with(&header, &hmac_key, &claims(ISS));
    assert_eq!(
        v1_error(issuers.verify(&hmac, Role::Subscriber, RESOURCE)),
        AccessTokenError::AlgorithmNotAllowed("HS256".into())
    );
    assert_eq!(issuers.authorization_servers().collect::<Vec<_>>(), [ISS]);
    assert!(issuers.has_configured_issuers());

    let narrowed = IssuerConfig {
        subscriber_jwt_alg: Some("ES256".into()),
        ..config.clone()
    };
    let issuers = Issuers::new(&[narrowed], &[], ClassicKeys::default()).expect("narrowed");
    assert!(matches!(
        v1_error(issuers.verify(&ed, Role::Subscriber, RESOURCE)),
        AccessTokenError::AlgorithmNotAllowed(_)
    ));
    let hmac_alg = IssuerConfig {
        subscriber_jwt_alg: Some("HS256".into()),
        ..config
    };
    assert!(matches!(
        Issuers::new(&[hmac_alg], &[], ClassicKeys::default()),
        Err(IssuerError::JwksAlgorithm { .. })
    ));
    let _ = std::fs::remove_file(&path);
}

// design.md: configuration mistakes are startup errors.
#[test]
fn configuration_errors() {
    let build = |configs: &[IssuerConfig], trusted: &[&str]| {
        let trusted: Vec<String> = trusted.iter().map(|t| (*t).to_owned()).collect();
        Issuers::new(configs, &trusted, ClassicKeys::default())
    };
    let ok = hs_config(ISS, SECRET);
    assert!(matches!(
        build(&[hs_config("", SECRET)], &[]),
        Err(IssuerError::EmptyId)
    ));
    assert!(matches!(
        build(&[ok.clone(), ok.clone()], &[]),
        Err(IssuerError::Duplicate(_))
    ));
    assert!(matches!(
        build(std::slice::from_ref(&ok), &[ISS]),
        Err(IssuerError::TrustedAndConfigured(_))
    ));
    let no_key = IssuerConfig {
        id: ISS.into(),
        publisher_jwt_key: Some(String::new()),
        subscriber_jwks_url: Some("  ".into()),
        ..IssuerConfig::default()
    };
    assert!(matches!(build(&[no_key], &[]), Err(IssuerError::NoKey(_))));
    let both = IssuerConfig {
        publisher_jwks_url: Some("file:///nonexistent".into()),
        ..ok.clone()
    };
    assert!(matches!(
        build(&[both], &[]),
        Err(IssuerError::KeyAndJwks { .. })
    ));
    let alg_only = IssuerConfig {
        id: ISS.into(),
        subscriber_jwt_key: Some(SECRET.into()),
        publisher_jwt_alg: Some("HS256".into()),
        ..IssuerConfig::default()
    };
    assert!(matches!(
        build(&[alg_only], &[]),
        Err(IssuerError::AlgWithoutKey { .. })
    ));
    let missing_set = IssuerConfig {
        id: ISS.into(),
        publisher_jwks_url: Some("file:///nonexistent/jwks.json".into()),
        ..IssuerConfig::default()
    };
    assert!(matches!(
        build(&[missing_set], &[]),
        Err(IssuerError::Key { .. })
    ));
    // Trusted issuers need no keys of their own; without classic keys they verify nothing.
    let trusted = build(&[], &["https://localhost", ""]).expect("trusted only");
    assert!(!trusted.has_configured_issuers());
    assert!(!trusted.has_role(Role::Publisher));
}

// design.md: the exact configuration names, as TOML tables and as a JSON array; keys never
// reach Debug output (C-HARD-9).
#[test]
fn configuration_names() {
    #[derive(Deserialize)]
    struct Config {
        issuer: Vec<IssuerConfig>,
    }
    let config: Config = toml::from_str(
        r#"
        [[issuer]]
        id = "https://as.example"
        publisher_jwt_key = "secret-one"
        publisher_jwt_alg = "HS512"
        subscriber_jwks_url = "https://as.example/jwks.json"
        authorization_server = true

        [[issuer]]
        id = "https://app.example"
        subscriber_jwt_key = "secret-two"
        subscriber_jwt_alg = "HS256"
        publisher_jwks_url = "file:///keys.json"
        "#,
    )
    .expect("toml");
    assert_eq!(config.issuer.len(), 2);
    assert!(config.issuer[0].authorization_server);
    assert!(!config.issuer[1].authorization_server);
    let json: Vec<IssuerConfig> =
        serde_json::from_str(r#"[{"id": "https://as.example", "subscriber_jwt_key": "k"}]"#)
            .expect("json");
    assert_eq!(json[0].subscriber_jwt_key.as_deref(), Some("k"));
    assert!(serde_json::from_str::<Vec<IssuerConfig>>(r#"[{"id": "x", "jwt_key": "k"}]"#).is_err());
    let shown = format!("{:?}", config.issuer[0]);
    assert!(
        !shown.contains("secret-one") && shown.contains("<redacted>"),
        "{shown}"
    );
    let issuers = issuers();
    assert!(!format!("{issuers:?}").contains(SECRET));
}

// R-TOKEN: hostile tokens are refused, never a panic.
#[test]
fn hostile_tokens_never_panic() {
    let issuers = issuers();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"at+jwt"}"#);
    let payloads = [
        r#"{"authorization_details": [], "iss": "https://issuer.example"}"#.to_owned(),
        format!(
            r#"{{"authorization_details": {}, "iss": 1}}"#,
            "[".repeat(200)
        ),
        r#"{"authorization_details": 1, "iss": "\u0000"}"#.to_owned(),
        format!(
            r#"{{"authorization_details": [], "iss": "{}"}}"#,
            "é".repeat(10_000)
        ),
    ];
    for payload in payloads {
        let token = format!("{header}.{}.AAAA", URL_SAFE_NO_PAD.encode(payload));
        for role in [Role::Publisher, Role::Subscriber] {
            assert!(issuers.verify(&token, role, RESOURCE).is_err());
        }
    }
    for token in ["", "...", "a.b.c", "\u{202e}.\u{0}.x", &"A".repeat(100_000)] {
        assert!(issuers.verify(token, Role::Publisher, RESOURCE).is_err());
    }
}
