//! The 1.0 settings in every form (../shared/design.md "Configuration names"; protocol.md
//! C-ENV-1, C-ENV-2): `[[issuer]]` tables, `QUICKSILVER_ISSUERS`, `issuer` blocks of
//! `MERCURE_EXTRA_DIRECTIVES`, `trusted_issuers` from both variables, and the other 1.0 keys.

use super::tests::{error, load, load_full};
use super::*;
use crate::auth::IssuerConfig;

fn two_issuers() -> Vec<IssuerConfig> {
    vec![
        IssuerConfig {
            id: "https://auth.example.com".into(),
            subscriber_jwks_url: Some("https://auth.example.com/jwks.json".into()),
            subscriber_jwt_alg: Some("ES256".into()),
            authorization_server: true,
            ..IssuerConfig::default()
        },
        IssuerConfig {
            id: "https://backend.example.com".into(),
            publisher_jwt_key: Some("s e c r e t".into()),
            publisher_jwt_alg: Some("HS512".into()),
            ..IssuerConfig::default()
        },
    ]
}

const TOML_ISSUERS: &str = r#"
anonymous = true

[[issuer]]
id = "https://auth.example.com"
subscriber_jwks_url = "https://auth.example.com/jwks.json"
subscriber_jwt_alg = "ES256"
authorization_server = true

[[issuer]]
id = "https://backend.example.com"
publisher_jwt_key = "s e c r e t"
publisher_jwt_alg = "HS512"
"#;

const JSON_ISSUERS: &str = r#"[
  {"id": "https://auth.example.com", "subscriber_jwks_url": "https://auth.example.com/jwks.json",
   "subscriber_jwt_alg": "ES256", "authorization_server": true, "publisher_jwt_key": null},
  {"id": "https://backend.example.com", "publisher_jwt_key": "s e c r e t", "publisher_jwt_alg": "HS512"}
]"#;

const CADDYFILE_ISSUERS: &str = "anonymous
issuer https://auth.example.com {
    authorization_server
    subscriber {
        jwks_uri https://auth.example.com/jwks.json ES256
    }
}
issuer https://backend.example.com {
    publisher {
        jwt \"s e c r e t\" HS512
    }
}";

/// The three forms of the issuers give the same tables.
#[test]
fn issuers_in_the_file_the_environment_and_the_directives() {
    assert_eq!(load(TOML_ISSUERS, &[]).expect("toml").issuer, two_issuers());
    let json = load("", &[("QUICKSILVER_ISSUERS", JSON_ISSUERS)]).expect("json");
    assert_eq!(json.issuer, two_issuers());
    let caddy = load("", &[("MERCURE_EXTRA_DIRECTIVES", CADDYFILE_ISSUERS)]).expect("caddyfile");
    assert_eq!(caddy.issuer, two_issuers());
    assert!(caddy.anonymous);
    assert!(load("", &[]).expect("defaults").issuer.is_empty());
}

/// Each layer's issuers replace the previous layer's as a whole.
#[test]
fn a_later_layer_replaces_the_issuers() {
    let one = r#"[{"id": "https://only.example.com", "publisher_jwt_key": "k"}]"#;
    let config = load(
        TOML_ISSUERS,
        &[
            ("MERCURE_EXTRA_DIRECTIVES", CADDYFILE_ISSUERS),
            ("QUICKSILVER_ISSUERS", one),
        ],
    )
    .expect("config");
    assert_eq!(config.issuer.len(), 1);
    assert_eq!(config.issuer[0].id, "https://only.example.com");
    let config = load(
        TOML_ISSUERS,
        &[(
            "MERCURE_EXTRA_DIRECTIVES",
            "issuer x {\n publisher {\n  jwt k\n }\n}",
        )],
    )
    .expect("config");
    assert_eq!(config.issuer.len(), 1);
}

/// C-ENV-4: a bad issuer is refused where it is written.
#[test]
fn issuer_errors_name_their_origin() {
    for (json, expected) in [
        (
            "{\"id\": \"x\"}",
            "QUICKSILVER_ISSUERS: expected a JSON array of objects",
        ),
        (
            "[\"x\"]",
            "QUICKSILVER_ISSUERS: expected a JSON array of objects",
        ),
        (
            "[{",
            "QUICKSILVER_ISSUERS: expected a JSON array of objects",
        ),
        (
            "[{\"id\": \"x\", \"audience\": \"y\"}]",
            "QUICKSILVER_ISSUERS: issuer: unknown field `audience`",
        ),
        ("[{\"id\": 7}]", "QUICKSILVER_ISSUERS: issuer: invalid type"),
        (
            "[{\"publisher_jwt_key\": \"k\"}]",
            "QUICKSILVER_ISSUERS: issuer: missing field `id`",
        ),
    ] {
        let message = error("", &[("QUICKSILVER_ISSUERS", json)]);
        assert!(message.starts_with(expected), "{json}: {message}");
    }
    let message = error("[[issuer]]\nid = 'x'\nsubscriber_key = 'k'\n", &[]);
    assert!(
        message.contains(".toml:3: key `subscriber_key`: unknown key"),
        "{message}"
    );
    let message = error(
        "",
        &[(
            "MERCURE_EXTRA_DIRECTIVES",
            "anonymous\nissuer x {\n  publisher {\n    jwt\n  }\n}",
        )],
    );
    assert_eq!(
        message,
        "MERCURE_EXTRA_DIRECTIVES line 4: issuer: publisher: jwt: expects a key and an optional algorithm"
    );
    let message = error(
        "",
        &[(
            "MERCURE_EXTRA_DIRECTIVES",
            "issuer x {\n publisher {\n jwt k\n }",
        )],
    );
    assert!(
        message.starts_with("MERCURE_EXTRA_DIRECTIVES line 1: the block of issuer"),
        "{message}"
    );
    let message = error("", &[("MERCURE_EXTRA_DIRECTIVES", "anonymous {\n}")]);
    assert_eq!(
        message,
        "MERCURE_EXTRA_DIRECTIVES line 1: anonymous: takes no block"
    );
}

/// `trusted_issuers`: default, `QUICKSILVER_TRUSTED_ISSUERS` and the image's
/// `MERCURE_TRUSTED_ISSUERS` (C-ENV-1), the former winning.
#[test]
fn trusted_issuers_from_both_variables() {
    let trusted = |env: &[(&str, &str)]| load("", env).expect("config").trusted_issuers;
    assert_eq!(trusted(&[]), [DEVELOPMENT_ISSUER]);
    assert_eq!(
        trusted(&[("MERCURE_TRUSTED_ISSUERS", "https://app.example.com")]),
        ["https://app.example.com"]
    );
    assert_eq!(
        trusted(&[(
            "QUICKSILVER_TRUSTED_ISSUERS",
            "https://a.example.com https://b.example.com"
        )]),
        ["https://a.example.com", "https://b.example.com"]
    );
    assert_eq!(
        trusted(&[
            ("MERCURE_TRUSTED_ISSUERS", "https://mercure.example.com"),
            (
                "QUICKSILVER_TRUSTED_ISSUERS",
                "https://quicksilver.example.com"
            ),
        ]),
        ["https://quicksilver.example.com"]
    );
    assert!(load("trusted_issuers = []", &[])
        .expect("config")
        .trusted_issuers
        .is_empty());
    let loaded = load_full("", &[("MERCURE_TRUSTED_ISSUERS", "https://x")]).expect("config");
    assert!(
        loaded.warnings.is_empty(),
        "no longer ignored: {:?}",
        loaded.warnings
    );
}

/// The other 1.0 keys, from the directives of the reference 1.0 image too.
#[test]
fn resource_identifier_public_urls_debugger_and_playground() {
    let directives = "resource_identifier https://hub.example.com/.well-known/mercure\n\
        public_urls https://hub.example.com http://localhost:3000\ndebugger\nplayground";
    let config = load("", &[("MERCURE_EXTRA_DIRECTIVES", directives)]).expect("config");
    assert_eq!(
        config.resource_identifier.as_deref(),
        Some("https://hub.example.com/.well-known/mercure")
    );
    assert_eq!(
        config.public_urls,
        ["https://hub.example.com", "http://localhost:3000"]
    );
    assert!(config.debugger && config.playground);
    assert!(
        !config.ui && !config.demo,
        "the 1.0 names are keys of their own"
    );
    let config = load(
        "",
        &[
            ("QUICKSILVER_TRUSTED_PROXIES", "10.0.0.0/8 ::1"),
            ("MERCURE_RESOURCE_IDENTIFIER", "https://r.example.com"),
        ],
    )
    .expect("config");
    assert_eq!(config.trusted_proxies, ["10.0.0.0/8", "::1"]);
    assert_eq!(
        config.resource_identifier.as_deref(),
        Some("https://r.example.com")
    );
    assert!(
        error("", &[("MERCURE_EXTRA_DIRECTIVES", "public_urls")]).contains("expects at least one")
    );
}

/// `config check` shows the issuers with every key masked, and its output loads back.
#[test]
fn masked_output_shows_issuers_without_their_keys() {
    let config = load(TOML_ISSUERS, &[]).expect("config");
    let text = config.to_masked_toml();
    assert!(!text.contains("s e c r e t"), "{text}");
    assert!(text.contains("publisher_jwt_key = \"***\""), "{text}");
    assert!(
        text.contains("id = \"https://backend.example.com\""),
        "{text}"
    );
    assert!(
        text.contains("trusted_issuers = [\"https://localhost\"]"),
        "{text}"
    );
    let again: Config = toml::from_str(&text).expect("the output is a valid configuration");
    assert_eq!(again.issuer.len(), 2);
    assert_eq!(again.issuer[0], config.issuer[0]);
    assert!(load("", &[])
        .expect("defaults")
        .to_masked_toml()
        .contains("# issuer is not set"));
}

#[test]
fn the_development_key_of_an_issuer_counts() {
    let json = format!(r#"[{{"id": "https://x", "subscriber_jwt_key": "{DEVELOPMENT_KEY}"}}]"#);
    assert!(load("", &[("QUICKSILVER_ISSUERS", &json)])
        .expect("config")
        .uses_development_key());
    assert!(!load(TOML_ISSUERS, &[])
        .expect("config")
        .uses_development_key());
}
