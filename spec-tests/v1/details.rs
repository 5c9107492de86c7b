//! B-AD-1…4: `authorization_details` — Mercure entries among foreign ones, the shape of an
//! entry and of its grant topics, all-or-nothing parsing and the limits. Each token is probed by
//! publishing on a fresh topic: 200 = accepted with a publish grant, 403 = valid but granting
//! nothing there (B-ERR-4), 401 `invalid_token` = rejected (B-ERR-3).

use serde_json::{json, Value};

use super::{bearer, publish_fresh};
use crate::harness::Hub;
use crate::tokens::{matcher, mercure_detail, MERCURE_DETAIL};

/// The status publishing with these `authorization_details` gets, its challenge checked.
async fn status(hub: &Hub, details: Value) -> u16 {
    let r = publish_fresh(hub, &hub.v1_publisher_token(details.clone())).await;
    match r.status {
        401 => bearer(&r, Some("invalid_token"), None),
        403 => bearer(&r, Some("insufficient_scope"), None),
        _ => {}
    }
    r.status
}

/// Asserts the status for each `(details, status)` case.
async fn expect_all(hub: &Hub, cases: Vec<(Value, u16)>) {
    for (details, want) in cases {
        assert_eq!(status(hub, details.clone()).await, want, "{details}");
    }
}

/// A Mercure entry publishing on `*`.
fn publish_all() -> Value {
    mercure_detail(&["publish"], vec![matcher("*", None)])
}

/// B-AD-1, X-3: grants live in a JSON array; entries of another `type` (compared byte for
/// byte) belong to other resource servers and are ignored; a token without Mercure entries is
/// valid and grants nothing.
#[tokio::test]
async fn b_ad_1_foreign_entries_ignored() {
    let hub = Hub::start_default().await;
    let foreign = json!({ "type": "https://other.example/detail", "actions": 7, "topics": "x" });
    let mut upper = publish_all();
    upper["type"] = json!(MERCURE_DETAIL.replace("mercure", "Mercure"));
    let mut slash = publish_all();
    slash["type"] = json!(format!("{MERCURE_DETAIL}/"));
    expect_all(
        &hub,
        vec![
            (json!([publish_all()]), 200),
            (json!([foreign, publish_all()]), 200),
            (json!([publish_all(), foreign]), 200),
            (json!([foreign]), 403),
            (json!([upper]), 403),
            (json!([slash]), 403),
            (json!([]), 403),
            (json!({ "0": publish_all() }), 401),
            (json!(MERCURE_DETAIL), 401),
            (json!([MERCURE_DETAIL]), 401),
        ],
    )
    .await;
}

/// B-AD-2: a Mercure entry has a non-empty `actions` array of strings (unknown strings grant
/// nothing and are harmless; a non-string invalidates the token), a non-empty `topics` array and
/// an optional `payload` of any JSON type.
#[tokio::test]
async fn b_ad_2_entry_shape() {
    let hub = Hub::start_default().await;
    let star = json!([matcher("*", None)]);
    let entry =
        |actions: Value| json!([{ "type": MERCURE_DETAIL, "actions": actions, "topics": star }]);
    let mut cases = vec![
        (entry(json!(["publish"])), 200),
        (entry(json!(["publish", "admin"])), 200),
        (entry(json!(["admin"])), 403),
        (entry(json!(["PUBLISH"])), 403),
        (entry(json!(["subscribe"])), 403),
        (entry(json!([])), 401),
        (entry(json!([1])), 401),
        (entry(json!(["publish", null])), 401),
        (entry(json!("publish")), 401),
        (entry(json!(null)), 401),
        (json!([{ "type": MERCURE_DETAIL, "topics": star }]), 401),
        (
            json!([{ "type": MERCURE_DETAIL, "actions": ["publish"] }]),
            401,
        ),
        (
            json!([{ "type": MERCURE_DETAIL, "actions": ["publish"], "topics": [] }]),
            401,
        ),
        (
            json!([{ "type": MERCURE_DETAIL, "actions": ["publish"], "topics": {} }]),
            401,
        ),
    ];
    for payload in [
        json!({ "a": [1] }),
        json!([1, 2]),
        json!("s"),
        json!(3),
        json!(null),
        json!(true),
    ] {
        let mut e = publish_all();
        e["payload"] = payload;
        cases.push((json!([e]), 200));
    }
    expect_all(&hub, cases).await;
}

/// B-AD-3, B-MT-1, B-MT-2: grant topics are `{match, match_type?}` objects — `match` a non-empty
/// string, `match_type` case-sensitive `exact` (default) or `urlpattern`; `*` is the wildcard;
/// anything else rejects the token.
#[tokio::test]
async fn b_ad_3_grant_topic_objects() {
    let hub = Hub::start_default().await;
    let with = |topic: Value| json!([{ "type": MERCURE_DETAIL, "actions": ["publish"], "topics": [topic] }]);
    expect_all(
        &hub,
        vec![
            (with(json!({ "match": "*" })), 200),
            (with(json!({ "match": "*", "match_type": "exact" })), 200),
            (
                with(json!({ "match": "*", "match_type": "urlpattern" })),
                200,
            ),
            (
                with(json!({ "match": "https://example.com/*", "match_type": "urlpattern" })),
                200,
            ),
            (with(json!({ "match": "urn:other" })), 403),
            (with(json!({ "match": "urn:other", "extra": 1 })), 403),
            (with(json!("*")), 401),
            (with(json!(1)), 401),
            (with(json!(["*"])), 401),
            (with(json!({})), 401),
            (with(json!({ "match": null })), 401),
            (with(json!({ "match": "" })), 401),
            (with(json!({ "match": 1 })), 401),
            (with(json!({ "match": ["*"] })), 401),
            (
                with(json!({ "match": "urn:x", "match_type": "regex" })),
                401,
            ),
            (
                with(json!({ "match": "urn:x", "match_type": "Exact" })),
                401,
            ),
            (
                with(json!({ "match": "urn:x", "match_type": "URLPattern" })),
                401,
            ),
            (with(json!({ "match": "urn:x", "match_type": 1 })), 401),
        ],
    )
    .await;
}

/// B-AD-4: one invalid Mercure entry rejects the whole token, wherever it stands; invalid
/// foreign entries do not.
#[tokio::test]
async fn b_ad_4_all_or_nothing() {
    let hub = Hub::start_default().await;
    let bad_actions =
        json!({ "type": MERCURE_DETAIL, "actions": [], "topics": [matcher("*", None)] });
    let bad_topic =
        json!({ "type": MERCURE_DETAIL, "actions": ["subscribe"], "topics": ["urn:x"] });
    let bad_type = mercure_detail(&["subscribe"], vec![matcher("urn:x", Some("glob"))]);
    let foreign = json!({ "type": "urn:other", "actions": [], "topics": ["urn:x"] });
    expect_all(
        &hub,
        vec![
            (json!([publish_all(), bad_actions]), 401),
            (json!([bad_topic, publish_all()]), 401),
            (json!([publish_all(), publish_all(), bad_type]), 401),
            (json!([publish_all(), foreign]), 200),
        ],
    )
    .await;
}

/// B-AD-4, C-HARD-7: at most 100 Mercure entries (foreign ones not counted), at most 100
/// matcher objects summed over them, at most 4096 bytes per `match`; beyond → 401.
#[tokio::test]
async fn b_ad_4_limits() {
    let hub = Hub::start_default().await;
    let entries = |n: usize| -> Vec<Value> { (0..n).map(|_| publish_all()).collect() };
    let foreign = json!({ "type": "urn:other" });
    let mut hundred_and_foreign = entries(100);
    hundred_and_foreign.extend((0..5).map(|_| foreign.clone()));
    let matchers = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| matcher(&format!("urn:m:{i}"), None))
            .collect()
    };
    let split = |a: usize, b: usize| {
        let mut first = matchers(a);
        first.push(matcher("*", None));
        json!([
            mercure_detail(&["publish"], first),
            mercure_detail(&["subscribe"], matchers(b))
        ])
    };
    let prefix = "https://example.com/";
    let fit = format!("{prefix}{}", "a".repeat(4096 - prefix.len()));
    let long = |m: &str| {
        json!([mercure_detail(
            &["publish"],
            vec![matcher("*", None), matcher(m, None)]
        )])
    };
    expect_all(
        &hub,
        vec![
            (json!(entries(100)), 200),
            (json!(entries(101)), 401),
            (json!(hundred_and_foreign), 200),
            (split(49, 50), 200),
            (split(50, 50), 401),
            (long(&fit), 200),
            (long(&format!("{fit}a")), 401),
            (long(&"é".repeat(2049)), 401),
        ],
    )
    .await;
}
