use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::auth::grants::MERCURE_DETAIL_TYPE;
use crate::auth::IssuerConfig;

const ISS: &str = "https://issuer.example";
const SECRET: &str = "an-inspect-test-secret-long-enough-for-hs256";
const RESOURCE: &str = "https://hub.example/.well-known/mercure";

fn issuers() -> Issuers {
    let config = IssuerConfig {
        id: ISS.into(),
        publisher_jwt_key: Some(SECRET.into()),
        subscriber_jwt_key: Some(SECRET.into()),
        ..IssuerConfig::default()
    };
    Issuers::new(&[config], &[], ClassicKeys::default()).expect("issuers")
}

fn claims(details: Value) -> Value {
    json!({"iss": ISS, "aud": RESOURCE, "exp": now_seconds() as u64 + 600,
           "authorization_details": details})
}

fn books() -> Value {
    json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish"],
         "topics": [{"match": "https://example.com/books/1"}]},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "payload": {"u": 1},
         "topics": [{"match": "/books/:id", "match_type": "urlpattern"}]},
    ])
}

fn sign(typ: Option<&str>, secret: &str, claims: &Value) -> (String, Value) {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = typ.map(str::to_owned);
    let token = encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("key"),
    )
    .expect("sign");
    (token, serde_json::to_value(&header).expect("header"))
}

fn report(token: &(String, Value), claims: &Value, roles: &[Role], topics: &[&str]) -> Report {
    report_for(token, claims, roles, topics, None)
}

fn report_for(
    (token, header): &(String, Value),
    claims: &Value,
    roles: &[Role],
    topics: &[&str],
    resource: Option<&str>,
) -> Report {
    let topics: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    let checks = Checks {
        roles,
        resource,
        topics: &topics,
    };
    inspect(token, header, claims, &issuers(), &checks).expect("report")
}

fn has(report: &Report, text: &str) -> bool {
    report.lines.iter().any(|line| line.contains(text))
}

// C-CLI-1, B-AD-2, B-AD-3, B-AD-8: issuer, audience, grants per action with their match types
// and the payload of the subscribe entry are explained; an accepted token.
#[test]
fn explains_a_valid_token() {
    let claims = claims(books());
    let token = sign(Some("at+jwt"), SECRET, &claims);
    let report = report(&token, &claims, &[Role::Publisher, Role::Subscriber], &[]);
    assert!(report.accepted, "{report:?}");
    for text in [
        "dialect: 1.0",
        "issuer: https://issuer.example",
        "audience: https://hub.example/.well-known/mercure",
        "publish \"https://example.com/books/1\" (exact)",
        "subscribe \"/books/:id\" (urlpattern)",
        "payload {\"u\":1} for subscriptions matching \"/books/:id\" (urlpattern)",
        "publisher: accepted",
        "subscriber: accepted",
    ] {
        assert!(has(&report, text), "{text:?} not in {:#?}", report.lines);
    }
    assert!(!has(&report, "problem"), "{:#?}", report.lines);
}

// B-AD-5, B-AD-6, B-MT-5: topics are checked with the hub's matcher, relative patterns against
// the hub URL of the audience (or --resource).
#[test]
fn topics_are_checked_against_the_grants() {
    let claims = claims(books());
    let token = sign(Some("at+jwt"), SECRET, &claims);
    let covered = report(
        &token,
        &claims,
        &[Role::Subscriber],
        &["https://hub.example/books/7", "/books/8"],
    );
    assert!(covered.accepted, "{covered:?}");
    assert!(has(
        &covered,
        "topic https://hub.example/books/7: covered by \"/books/:id\" (urlpattern)"
    ));
    let other = report(
        &token,
        &claims,
        &[Role::Subscriber],
        &["https://example.com/books/7"],
    );
    assert!(!other.accepted);
    assert!(other.reasons[0].contains("does not receive private updates of"));
    let publish = report(
        &token,
        &claims,
        &[Role::Publisher],
        &["https://example.com/books/2"],
    );
    assert!(publish.reasons[0].contains("may not publish to https://example.com/books/2"));
}

// B-TOK-2, B-TOK-4, B-TOK-5, B-TOK-6, B-AD-3, B-ERR-3: each reason the hub would refuse the token
// for is said, from the auth module's own checks.
#[test]
fn says_why_a_token_is_refused() {
    let good = claims(books());
    let mut no_exp = good.clone();
    no_exp.as_object_mut().expect("object").remove("exp");
    let mut other_issuer = good.clone();
    other_issuer["iss"] = json!("https://unknown.example");
    let bad_entry = claims(
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
                                   "topics": ["https://bare.example"]}]),
    );
    let bad_pattern = claims(
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
        "topics": [{"match": "/books/(", "match_type": "urlpattern"}]}]),
    );
    let subscribe_only = claims(
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
                                        "topics": [{"match": "*"}]}]),
    );
    let cases = [
        (
            Some("JWT"),
            SECRET,
            &good,
            "header typ \"JWT\" is not at+jwt",
        ),
        (None, SECRET, &good, "header typ absent is not at+jwt"),
        (Some("at+jwt"), SECRET, &no_exp, "no exp claim"),
        (
            Some("at+jwt"),
            SECRET,
            &other_issuer,
            "is not a configured issuer",
        ),
        (
            Some("at+jwt"),
            "another-secret-another-secret-another",
            &good,
            "wrong key",
        ),
        (
            Some("at+jwt"),
            SECRET,
            &bad_entry,
            "not an object with a non-empty string match",
        ),
        (Some("at+jwt"), SECRET, &bad_pattern, "does not compile"),
        (
            Some("at+jwt"),
            SECRET,
            &subscribe_only,
            "grants no publish right",
        ),
    ];
    for (typ, secret, claims, reason) in cases {
        let token = sign(typ, secret, claims);
        let report = report(&token, claims, &[Role::Publisher], &[]);
        assert!(!report.accepted, "{reason}");
        assert!(
            report.reasons.iter().any(|r| r.contains(reason)) || has(&report, reason),
            "{reason:?} not in {:#?} {:?}",
            report.lines,
            report.reasons
        );
    }
    // The key-free problems are listed even when the role's verdict stops at the first one.
    let token = sign(Some("JWT"), SECRET, &no_exp);
    let both = report(&token, &no_exp, &[Role::Publisher], &[]);
    assert!(has(&both, "problem: header typ") && has(&both, "problem: invalid 1.0 token: no exp"));
    // B-TOK-6: with --resource the audience is compared.
    let token = sign(Some("at+jwt"), SECRET, &good);
    let elsewhere = report_for(
        &token,
        &good,
        &[Role::Publisher],
        &[],
        Some("https://other.example/.well-known/mercure"),
    );
    assert!(!elsewhere.accepted);
    assert!(has(
        &elsewhere,
        "aud does not contain the resource identifier"
    ));
}

// R-TOKEN: hostile claims never panic the explanation.
#[test]
fn hostile_claims_are_explained() {
    for claims in [
        json!({"authorization_details": 1, "aud": {}, "exp": "x", "nbf": 1e300, "iss": []}),
        json!({"authorization_details": [[]], "aud": [1, 2], "exp": -1e300}),
        json!({"authorization_details": null, "aud": ["\u{0}"], "iss": "\u{202e}"}),
    ] {
        let token = sign(Some("at+jwt"), SECRET, &claims);
        let report = report(
            &token,
            &claims,
            &[Role::Publisher, Role::Subscriber],
            &["\u{0}"],
        );
        assert!(!report.accepted);
    }
}
