//! A.6 Authorization: publish rights (A-AUTH-10) and private delivery (A-AUTH-12, A-AUTH-13).

use serde_json::{json, Value};

use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::send;
use crate::sse::Probe;
use crate::tokens::publish_claims;

/// A-AUTH-10: a token with `mercure.publish` is required (absent/null → 401).
#[tokio::test]
async fn a_auth_10_publish_claim_required() {
    let hub = Hub::start_default().await;
    let fields = [("topic", "https://example.com/a-auth-10")];
    asserts::unauthorized(&send(hub.pub_req(None, &fields)).await);
    for c in [
        json!({}),
        json!({ "mercure": {} }),
        json!({ "mercure": { "publish": null } }),
        json!({ "mercure": { "subscribe": ["*"] } }),
    ] {
        let r = send(hub.pub_req(Some(&hub.publisher_token(&c)), &fields)).await;
        asserts::unauthorized(&r);
    }
}

/// (publish grants, form fields, expected status)
type Case<'a> = (Value, Vec<(&'a str, &'a str)>, u16);

/// Publishes `fields` with a token whose `mercure.publish` is `grants`; returns the status.
async fn status_with(hub: &Hub, grants: Value, fields: &[(&str, &str)]) -> u16 {
    let token = hub.publisher_token(&publish_claims(grants));
    let r = send(hub.pub_req(Some(&token), fields)).await;
    if r.status == 403 {
        asserts::forbidden(&r);
    }
    r.status
}

/// A-AUTH-10, A-SEL-1: every topic (canonical and alternates) must match a publish grant;
/// otherwise 403 `Forbidden\n`; `[]` allows nothing; templates and `*` work as selectors.
#[tokio::test]
async fn a_auth_10_every_topic_must_be_covered() {
    let hub = Hub::start_default().await;
    let base = uniq("a-auth-10");
    let book = |i: &str| format!("{base}/books/{i}");
    let tpl = book("{id}");
    let (b1, b12, other) = (book("1"), book("1/2"), uniq("a-auth-10-other"));
    let cases: Vec<Case> = vec![
        (json!([]), vec![("topic", &b1)], 403),
        (json!([b1]), vec![("topic", &b1)], 200),
        (json!([tpl]), vec![("topic", &b1)], 200),
        (json!([tpl]), vec![("topic", &b12)], 403),
        (json!([tpl]), vec![("topic", &b1), ("topic", &other)], 403),
        (
            json!([tpl, other]),
            vec![("topic", &b1), ("topic", &other)],
            200,
        ),
        (
            json!([tpl]),
            vec![("topic", &other), ("private", "on")],
            403,
        ),
        (json!([tpl]), vec![("topic", &b1), ("private", "on")], 200),
        (json!(["*"]), vec![("topic", &other), ("topic", "")], 200),
        (json!([""]), vec![("topic", "")], 200),
        (
            json!(["https://example.com/*"]),
            vec![("topic", "https://example.com/x")],
            403,
        ),
    ];
    for (grants, fields, expected) in cases {
        let got = status_with(&hub, grants.clone(), &fields).await;
        assert_eq!(got, expected, "grants {grants} fields {fields:?}");
    }
}

/// A-AUTH-10: a refused update is not dispatched, not even for its covered topics.
#[tokio::test]
async fn a_auth_10_refused_update_not_dispatched() {
    let hub = Hub::start_default().await;
    let (mine, other) = (uniq("a-auth-10"), uniq("a-auth-10"));
    let mut p = Probe::open(&hub, None, &[&mine, &other]).await;
    let got = status_with(&hub, json!([mine]), &[("topic", &mine), ("topic", &other)]).await;
    assert_eq!(got, 403);
    let evs = p.drain(&hub).await;
    assert!(evs.is_empty(), "refused update was dispatched: {evs:?}");
}

/// A-AUTH-12: the draft example — private access is granted when any topic of the update
/// matches a `mercure.subscribe` entry, independently of the routing selector.
#[tokio::test]
async fn a_auth_12_draft_example() {
    let hub = Hub::start_default().await;
    let token = hub.subscriber_token_for(&["https://example.com/users/foo/{?topic}"]);
    let mut p = Probe::open(&hub, Some(&token), &["https://example.com/books/{id}"]).await;
    let alt = "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1";
    let granted = [
        ("topic", "https://example.com/books/1"),
        ("topic", alt),
        ("private", "on"),
    ];
    assert!(p.receives(&hub, &granted).await);
    let refused = [("topic", "https://example.com/books/2"), ("private", "on")];
    assert!(!p.receives(&hub, &refused).await);
    assert!(
        p.receives(&hub, &[("topic", "https://example.com/books/2")])
            .await
    );
}

/// A-AUTH-12, A-SUB-4: private delivery needs routing *and* a subscribe grant.
#[tokio::test]
async fn a_auth_12_routing_and_grant_both_needed() {
    let hub = Hub::start_default().await;
    let (a, b) = (uniq("a-auth-12"), uniq("a-auth-12"));
    let token = hub.subscriber_token_for(&[&b, "urn:unrelated"]);
    let mut p = Probe::open(&hub, Some(&token), &[&a]).await;
    // routed by a, granted by b (an alternate)
    assert!(
        p.receives(&hub, &[("topic", &a), ("topic", &b), ("private", "")])
            .await
    );
    // routed by a, no grant
    assert!(!p.receives(&hub, &[("topic", &a), ("private", "on")]).await);
    // granted by b but not routed
    assert!(!p.receives(&hub, &[("topic", &b), ("private", "on")]).await);
    let star = hub.subscriber_token_for(&["*"]);
    let mut p = Probe::open(&hub, Some(&star), &[&a]).await;
    assert!(p.receives(&hub, &[("topic", &a), ("private", "on")]).await);
}

/// A-AUTH-13: anonymous subscribers and tokens without subscribe entries get no private updates.
#[tokio::test]
async fn a_auth_13_no_private_without_grants() {
    let hub = Hub::start_default().await;
    let t = uniq("a-auth-13");
    let tokens = [
        None,
        Some(hub.subscriber_token(&json!({}))),
        Some(hub.subscriber_token(&json!({ "mercure": {} }))),
        Some(hub.subscriber_token(&json!({ "mercure": { "subscribe": [] } }))),
        Some(hub.subscriber_token(&json!({ "mercure": { "subscribe": null, "publish": ["*"] } }))),
    ];
    for token in &tokens {
        let mut p = Probe::open(&hub, token.as_deref(), &[&t, "*"]).await;
        assert!(
            !p.receives(&hub, &[("topic", &t), ("private", "on")]).await,
            "{token:?}"
        );
        assert!(p.receives(&hub, &[("topic", &t)]).await, "{token:?}");
    }
}
