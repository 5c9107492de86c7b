//! The 1.0 settings built at startup (../shared/design.md "Configuration names"; protocol.md
//! X-3, B-TOK-2, C-ENV-3, C-ENV-4): the issuer registry sharing the classic verifiers, the
//! resource identifier, public URLs, trusted proxies and the playground's development mode.

use std::sync::Arc;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use super::*;
use crate::auth::test_keys::access_token_claims;
use crate::auth::{IssuerConfig, Role, Verified};
use crate::config::{DEVELOPMENT_ISSUER, DEVELOPMENT_KEY};

const RESOURCE: &str = "https://localhost/.well-known/mercure";

fn development() -> Config {
    Config {
        publisher_jwt_key: Some(DEVELOPMENT_KEY.into()),
        subscriber_jwt_key: Some(DEVELOPMENT_KEY.into()),
        ..Config::default()
    }
}

fn hs_issuer(id: &str, secret: &str) -> IssuerConfig {
    IssuerConfig {
        id: id.into(),
        publisher_jwt_key: Some(secret.into()),
        ..IssuerConfig::default()
    }
}

fn refused(config: &Config) -> String {
    Settings::try_from(config).expect_err("refused").to_string()
}

/// A 1.0 access token signed with `secret` (HS256), granting everything.
fn access_token(iss: &str, secret: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    let claims = access_token_claims(iss, RESOURCE);
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("key");
    encode(&header, &claims, &key).expect("sign")
}

/// X-3, design.md: the development setup accepts the reference's development 1.0 tokens (iss
/// https://localhost, the development key) with no extra setting, through the very verifier
/// the classic path uses.
#[test]
fn trusted_issuers_share_the_classic_verifiers() {
    let settings = Settings::try_from(&development()).expect("settings");
    let auth = &settings.auth;
    let token = access_token(DEVELOPMENT_ISSUER, DEVELOPMENT_KEY);
    for role in [Role::Publisher, Role::Subscriber] {
        let verified = auth
            .issuers
            .verify(&token, role, RESOURCE)
            .expect("accepted");
        assert!(matches!(verified, Verified::V1(_)));
    }
    assert!(auth
        .issuers
        .verify(
            &access_token("https://elsewhere", DEVELOPMENT_KEY),
            Role::Publisher,
            RESOURCE
        )
        .is_err());
    assert!(!auth.issuers.has_configured_issuers());
    assert!(
        Arc::strong_count(&auth.publisher) >= 2,
        "shared with the issuers"
    );
    let untrusted = Config {
        trusted_issuers: Vec::new(),
        ..development()
    };
    let settings = Settings::try_from(&untrusted).expect("settings");
    assert!(settings
        .auth
        .issuers
        .verify(&token, Role::Publisher, RESOURCE)
        .is_err());
}

/// `[[issuer]]`s: their own keys, and theirs alone.
#[test]
fn configured_issuers_verify_their_tokens() {
    let config = Config {
        issuer: vec![IssuerConfig {
            authorization_server: true,
            ..hs_issuer(
                "https://auth.example.com",
                "an-issuer-secret-long-enough-0123456789",
            )
        }],
        ..development()
    };
    let settings = Settings::try_from(&config).expect("settings");
    let issuers = &settings.auth.issuers;
    let token = access_token(
        "https://auth.example.com",
        "an-issuer-secret-long-enough-0123456789",
    );
    assert!(issuers.verify(&token, Role::Publisher, RESOURCE).is_ok());
    assert!(
        issuers.verify(&token, Role::Subscriber, RESOURCE).is_err(),
        "no subscriber key"
    );
    let forged = access_token("https://auth.example.com", DEVELOPMENT_KEY);
    assert!(issuers.verify(&forged, Role::Publisher, RESOURCE).is_err());
    assert_eq!(
        issuers.authorization_servers().collect::<Vec<_>>(),
        ["https://auth.example.com"]
    );
}

/// C-ENV-4: issuer mistakes stop the hub with a message naming the issuer.
#[test]
fn issuer_mistakes_are_startup_errors() {
    let with = |issuer: Vec<IssuerConfig>| Config {
        issuer,
        ..development()
    };
    let twice = with(vec![
        hs_issuer("https://a.example", "k1"),
        hs_issuer("https://a.example", "k2"),
    ]);
    assert_eq!(
        refused(&twice),
        "issuer \"https://a.example\" is configured twice"
    );
    let trusted = with(vec![hs_issuer(DEVELOPMENT_ISSUER, "k")]);
    assert_eq!(
        refused(&trusted),
        "issuer \"https://localhost\" is both configured and in trusted_issuers: keep one"
    );
    let keyless = with(vec![IssuerConfig {
        id: "https://a.example".into(),
        ..IssuerConfig::default()
    }]);
    assert_eq!(
        refused(&keyless),
        "issuer \"https://a.example\" has neither a publisher nor a subscriber key"
    );
    let unreadable = with(vec![IssuerConfig {
        id: "https://a.example".into(),
        subscriber_jwks_url: Some("file:///nonexistent/issuer-jwks.json".into()),
        ..IssuerConfig::default()
    }]);
    let message = refused(&unreadable);
    assert!(
        message.starts_with(
            "issuer \"https://a.example\", subscriber key: cannot read the JWK Set file"
        ),
        "{message}"
    );
    let pem_hmac = with(vec![IssuerConfig {
        publisher_jwt_key: Some("-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----".into()),
        ..hs_issuer("https://a.example", "")
    }]);
    assert!(refused(&pem_hmac).contains("PEM key cannot be used"));
}

#[test]
fn resource_identifier_is_an_absolute_url() {
    let with = |value: &str| Config {
        resource_identifier: Some(value.into()),
        ..development()
    };
    let settings = Settings::try_from(&with(RESOURCE)).expect("settings");
    assert_eq!(settings.auth.resource_identifier.as_deref(), Some(RESOURCE));
    let kept = Settings::try_from(&with("https://hub.example.com")).expect("settings");
    assert_eq!(
        kept.auth.resource_identifier.as_deref(),
        Some("https://hub.example.com"),
        "as written"
    );
    assert_eq!(
        Settings::try_from(&with("  "))
            .expect("empty = unset")
            .auth
            .resource_identifier,
        None
    );
    for bad in [
        "/.well-known/mercure",
        "hub.example.com",
        "https://hub.example.com/#x",
        "urn:example:hub",
        "\u{0}",
    ] {
        let message = refused(&with(bad));
        assert!(
            message.starts_with("resource_identifier "),
            "{bad}: {message}"
        );
    }
}

#[test]
fn public_urls_and_trusted_proxies_are_parsed() {
    let config = Config {
        public_urls: vec!["https://Hub.example.com".into()],
        trusted_proxies: vec!["10.0.0.0/8".into()],
        ..development()
    };
    let requests = Settings::try_from(&config).expect("settings").requests;
    assert_eq!(requests.public_urls.origins(), ["https://hub.example.com"]);
    assert!(requests
        .trusted_proxies
        .contains("10.1.2.3".parse().expect("ip")));
    let defaults = Settings::try_from(&development())
        .expect("settings")
        .requests;
    assert!(defaults.public_urls.allows_any() && defaults.trusted_proxies.is_empty());
    let bad_cidr = Config {
        trusted_proxies: vec!["10.0.0.0/40".into()],
        ..development()
    };
    assert!(refused(&bad_cidr).starts_with("trusted_proxies: \"10.0.0.0/40\""));
    let bad_origin = Config {
        public_urls: vec!["https://hub.example.com/path".into()],
        ..development()
    };
    assert!(refused(&bad_origin).starts_with("public_urls: \"https://hub.example.com/path\""));
}

/// C-UI-1, C-UI-3, C-ENV-3: `debugger` is `ui`; `playground` is `demo` plus the development mode.
#[test]
fn debugger_and_playground() {
    let debugger = Settings::try_from(&Config {
        debugger: true,
        ..development()
    })
    .expect("settings");
    assert!(debugger.features.ui && !debugger.features.demo && !debugger.features.playground);
    let demo = Settings::try_from(&Config {
        demo: true,
        ..development()
    })
    .expect("settings");
    assert!(demo.features.demo && !demo.features.playground && !demo.features.subscriptions);
    assert!(
        demo.requests.cors_origins.is_empty(),
        "demo keeps its classic meaning"
    );
    let playground = Settings::try_from(&Config {
        playground: true,
        subscriber_jwt_key: None,
        ..development()
    })
    .expect("anonymous in playground mode, so no subscriber key is needed");
    let features = &playground.features;
    assert!(features.ui && features.demo && features.playground && features.subscriptions);
    assert!(playground.auth.anonymous);
    assert!(playground.requests.cors_origins.allows_all());
    assert!(playground.auth.publish_origins.allows_all());
    let written = Settings::try_from(&Config {
        playground: true,
        cors_origins: vec!["https://app.example.com".into()],
        ..development()
    })
    .expect("settings");
    assert!(
        !written.requests.cors_origins.allows_all(),
        "a list written out is kept"
    );
}
