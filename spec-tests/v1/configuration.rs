//! C-ENV-1, C-ENV-2, B-TOK-4: 1.0 issuers configured by environment, seen from outside — an
//! `issuer <id> { … }` block of `MERCURE_EXTRA_DIRECTIVES`, and `MERCURE_TRUSTED_ISSUERS` /
//! `QUICKSILVER_TRUSTED_ISSUERS` choosing which `iss` the top-level keys verify.

use serde_json::{json, Value};

use super::{bearer, publish_fresh, secret};
use crate::harness::Hub;
use crate::tokens::{matcher, mercure_detail, sign_at_jwt, v1_claims, DEFAULT_ISSUER};

const AUTH: &str = "https://auth.example.com";
const OTHER: &str = "https://other.example.com";

/// Publish rights on everything, as `authorization_details`.
fn publish_all() -> Value {
    json!([mercure_detail(&["publish"], vec![matcher("*", None)])])
}

/// A 1.0 publisher token of `iss` for this hub's derived audience, signed with `key` (HS256).
fn token(hub: &Hub, iss: &str, key: &str) -> String {
    sign_at_jwt(
        "HS256",
        key,
        &v1_claims(iss, &hub.resource_identifier(), publish_all()),
    )
}

/// Asserts which issuers' tokens a running hub accepts: 200 for each `(iss, key)` of `accepted`,
/// 401 `invalid_token` for each of `refused`.
async fn expect_issuers(hub: &Hub, accepted: &[(&str, &str)], refused: &[(&str, &str)]) {
    for (iss, key) in accepted {
        let r = publish_fresh(hub, &token(hub, iss, key)).await;
        assert_eq!(r.status, 200, "iss {iss} accepted: {r:?}");
    }
    for (iss, key) in refused {
        let r = publish_fresh(hub, &token(hub, iss, key)).await;
        assert_eq!(r.status, 401, "iss {iss} refused: {r:?}");
        bearer(&r, Some("invalid_token"), None);
    }
}

/// C-ENV-2, C-ENV-1, B-TOK-4: an `issuer <id> { publisher { jwt <key> <alg> } }` block in
/// `MERCURE_EXTRA_DIRECTIVES` makes a running hub accept that issuer's 1.0 tokens, signed with
/// that key only; another `iss` with the same key, or that `iss` with the top-level key, is 401;
/// the default trusted issuer keeps the top-level key.
#[tokio::test]
async fn c_env_2_issuer_block_configures_a_running_hub() {
    let key = secret();
    let directives = format!(
        "issuer {AUTH} {{\n    authorization_server\n    publisher {{\n        jwt {key} HS256\n    }}\n}}"
    );
    let Some(hub) = Hub::builder()
        .env("MERCURE_EXTRA_DIRECTIVES", &directives)
        .start()
        .await
    else {
        return;
    };
    let top = hub.publisher_key.clone();
    expect_issuers(
        &hub,
        &[(AUTH, &key), (DEFAULT_ISSUER, &top)],
        &[(OTHER, &key), (AUTH, &top), (DEFAULT_ISSUER, &key)],
    )
    .await;
    // `authorization_server` lists the block's issuer in the protected resource metadata.
    let r = crate::http::send(hub.client.get(hub.url(super::META_PATH))).await;
    assert_eq!(r.status, 200, "{r:?}");
    let doc: Value = serde_json::from_str(&r.body).expect("metadata JSON");
    assert_eq!(doc["authorization_servers"], json!([AUTH]), "{doc}");
}

/// Environment, issuers accepted, issuers refused.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);

/// C-ENV-1, B-TOK-4: `MERCURE_TRUSTED_ISSUERS` and `QUICKSILVER_TRUSTED_ISSUERS` (a
/// space-separated list, winning over the former) replace `https://localhost` as the issuers
/// whose 1.0 tokens the top-level keys verify, on a running hub.
#[tokio::test]
async fn c_env_1_trusted_issuers_choose_the_accepted_iss() {
    let cases: [Case; 3] = [
        (
            &[("MERCURE_TRUSTED_ISSUERS", AUTH)],
            &[AUTH],
            &[DEFAULT_ISSUER, OTHER],
        ),
        (
            &[(
                "QUICKSILVER_TRUSTED_ISSUERS",
                "https://auth.example.com https://other.example.com",
            )],
            &[AUTH, OTHER],
            &[DEFAULT_ISSUER],
        ),
        (
            &[
                ("MERCURE_TRUSTED_ISSUERS", OTHER),
                ("QUICKSILVER_TRUSTED_ISSUERS", AUTH),
            ],
            &[AUTH],
            &[OTHER, DEFAULT_ISSUER],
        ),
    ];
    for (env, accepted, refused) in cases {
        let Some(hub) = env
            .iter()
            .fold(Hub::builder(), |b, (k, v)| b.env(k, v))
            .start()
            .await
        else {
            return;
        };
        let key = hub.publisher_key.as_str();
        let ok: Vec<(&str, &str)> = accepted.iter().map(|iss| (*iss, key)).collect();
        let ko: Vec<(&str, &str)> = refused.iter().map(|iss| (*iss, key)).collect();
        expect_issuers(&hub, &ok, &ko).await;
    }
}
