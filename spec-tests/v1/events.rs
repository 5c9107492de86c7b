//! B-SE-1…5, X-10, B-AD-8: 1.0 subscription events — topic, plain JSON body and its member
//! order, `event: mercure`, subscriber ids, privacy, both dialects on one connection, and the
//! `payload` chosen from the token's entries.

use serde_json::{json, Value};

use super::{enc1, get, object_keys, probe_v1, subs_hub, v1_event_topic, wait_v1_event};
use crate::harness::{uniq, Hub};
use crate::sse::{Probe, SseStream};
use crate::tokens::{matcher, mercure_detail};

/// A classic watcher routed and authorized by `*` (so it sees every subscription event).
async fn watcher(hub: &Hub) -> Probe {
    Probe::open(hub, Some(&hub.subscriber_token_for(&["*"])), &["*"]).await
}

/// Asserts `s` is a `urn:uuid:` version-4 id.
#[track_caller]
fn assert_uuid_v4(s: &str) {
    let uuid = s
        .strip_prefix("urn:uuid:")
        .unwrap_or_else(|| panic!("not urn:uuid: {s}"));
    let parsed = uuid::Uuid::parse_str(uuid).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(parsed.get_version_num(), 4, "{s}");
}

/// B-SE-2, B-SE-3, B-SE-4, B-SE-5, B-SE-1: each `match*` value emits a 1.0 event when the
/// connection starts and when it ends: SSE `event: mercure`; topic
/// `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}` with each part encoded
/// once (space → `%20`, `%` → `%25`); plain JSON with `id`, `type`, `subscriber`, `match`,
/// `match_type`, `active` in this order and no `@context`; one `urn:uuid:` v4 subscriber id per
/// connection.
#[tokio::test]
async fn b_se_2_event_topic_and_document() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let mut w = watcher(&hub).await;
    let u = uuid::Uuid::new_v4();
    let subs = [
        ("match", format!("https://example.com/{u}/a b%41"), "exact"),
        ("match_exact", format!("urn:{u}:ü+x"), "exact"),
        (
            "match_urlpattern",
            format!("https://example.com/{u}/books/:id"),
            "urlpattern",
        ),
    ];
    let pairs: Vec<(&str, &str)> = subs.iter().map(|(k, v, _)| (*k, v.as_str())).collect();
    let conn = SseStream::open(get(&hub, &pairs)).await;
    let mut subscriber = None::<String>;
    for (_, value, match_type) in &subs {
        let (ev, doc) = wait_v1_event(&mut w.stream, |d| {
            d["match"] == value.as_str() && d["active"] == true
        })
        .await;
        let sid = check_event(&ev, &doc, match_type, value);
        assert_eq!(
            subscriber.get_or_insert(sid.clone()),
            &sid,
            "one id per connection"
        );
    }
    let sid = subscriber.expect("subscriber id");
    let second = SseStream::open(get(&hub, &pairs[..1])).await;
    let (ev, other) = wait_v1_event(&mut w.stream, |d| {
        d["match"] == pairs[0].1 && d["subscriber"] != sid.as_str()
    })
    .await;
    let other_sid = check_event(&ev, &other, "exact", pairs[0].1);
    assert_ne!(other_sid, sid, "unique per connection");
    drop(second);
    drop(conn);
    for (_, value, match_type) in &subs {
        let (ev, doc) = wait_v1_event(&mut w.stream, |d| {
            d["match"] == value.as_str() && d["active"] == false && d["subscriber"] == sid.as_str()
        })
        .await;
        check_event(&ev, &doc, match_type, value);
    }
}

/// Checks one anonymous subscription's 1.0 event (B-SE-2…5); returns its subscriber id.
#[track_caller]
fn check_event(ev: &crate::sse::Event, doc: &Value, match_type: &str, value: &str) -> String {
    let sid = doc["subscriber"].as_str().expect("subscriber").to_string();
    assert_uuid_v4(&sid);
    let topic = v1_event_topic(match_type, value, &sid);
    assert!(topic.contains(&enc1(value)) && !topic.contains(' ') && !topic.contains('+'));
    assert_eq!(doc["id"], json!(topic), "{doc}");
    assert_eq!(doc["type"], json!("subscription"));
    assert_eq!(doc["match"], json!(value));
    assert_eq!(doc["match_type"], json!(match_type));
    assert_eq!(
        object_keys(&ev.data()),
        ["id", "type", "subscriber", "match", "match_type", "active"],
        "member order; no payload for an anonymous subscriber"
    );
    assert_eq!(ev.event.as_deref(), Some("mercure"));
    assert!(ev.id.is_some(), "hub-generated SSE id");
    sid
}

/// B-SE-5, B-SE-1, X-4: subscription events are private — an anonymous `match=*` subscriber gets
/// none; a 1.0 subscriber routed by a relative URL pattern and granted it by a 1.0 token does.
#[tokio::test]
async fn b_se_5_events_are_private() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let pattern = "/.well-known/mercure/subscriptions/*";
    let token = hub.v1_subscriber_token_for(&[(pattern, Some("urlpattern"))]);
    let mut granted = probe_v1(&hub, Some(&token), &[("match_urlpattern", pattern)]).await;
    let mut anonymous = probe_v1(&hub, None, &[("match", "*")]).await;
    let m = uniq("b-se-5");
    let _s = SseStream::open(get(&hub, &[("match", &m)])).await;
    wait_v1_event(&mut granted.stream, |d| d["match"] == m.as_str()).await;
    let evs = anonymous.drain(&hub).await;
    assert!(
        evs.iter().all(|e| e.event.as_deref() != Some("mercure")),
        "{evs:?}"
    );
}

/// X-10, B-SE-3, A-SUBS-6: on a mixed connection the `topic` subscription emits the classic
/// event (no `event:` line, JSON-LD, `topic`) and the `match` subscription the 1.0 event, with
/// one subscriber id.
#[tokio::test]
async fn x_10_mixed_connection_emits_both_dialects() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let mut w = watcher(&hub).await;
    let (t, m) = (uniq("x-10-t"), uniq("x-10-m"));
    let _s = SseStream::open(get(&hub, &[("topic", &t), ("match", &m)])).await;
    // The two events may come in either order: read until both arrived.
    let (mut v1_doc, mut classic) = (None, None);
    while v1_doc.is_none() || classic.is_none() {
        let ev = w
            .stream
            .next_event(crate::harness::WAIT)
            .await
            .expect("both subscription events");
        let Ok(doc) = serde_json::from_str::<Value>(&ev.data()) else {
            continue;
        };
        if doc["topic"] == t.as_str() {
            assert_eq!(ev.event, None, "classic events have no event: line");
            classic = Some(doc);
        } else if doc["match"] == m.as_str() && doc["type"] == "subscription" {
            assert_eq!(ev.event.as_deref(), Some("mercure"));
            v1_doc = Some(doc);
        }
    }
    let (Some(v1_doc), Some(classic)) = (v1_doc, classic) else {
        unreachable!("the loop ends once both are set");
    };
    assert_eq!(classic["@context"], json!("https://mercure.rocks/"));
    assert_eq!(classic["type"], json!("Subscription"));
    assert_eq!(classic["subscriber"], v1_doc["subscriber"]);
    assert!(v1_doc.get("@context").is_none());
}

/// B-AD-8, X-10, B-SE-4: each 1.0 subscription's `payload` is the one of the first entry that has
/// `subscribe` and a grant matching the subscription's own matcher value as a topic string (a `*`
/// entry is the default; no such entry → no `payload`); a classic token contributes its whole
/// `mercure.payload`.
#[tokio::test]
async fn b_ad_8_payload_from_first_matching_entry() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let mut w = watcher(&hub).await;
    let u = uuid::Uuid::new_v4();
    let (x, bar, other) = (
        format!("https://example.com/{u}/x"),
        format!("https://example.com/{u}/bar/:id"),
        format!("https://example.com/{u}/other"),
    );
    let entry = |actions: &[&str], m: &str, t: Option<&str>, payload: Value| {
        let mut e = mercure_detail(actions, vec![matcher(m, t)]);
        e["payload"] = payload;
        e
    };
    let token = hub.v1_subscriber_token(json!([
        entry(&["publish"], "*", None, json!("publish-only")),
        entry(&["subscribe"], &x, None, json!({ "a": 1 })),
        entry(&["subscribe"], &bar, Some("urlpattern"), json!([2])),
        entry(&["subscribe"], "*", None, json!("default")),
        { "type": "urn:other", "actions": ["subscribe"], "topics": [matcher("*", None)], "payload": "foreign" },
    ]));
    let bar1 = format!("https://example.com/{u}/bar/1");
    let pairs = [
        ("match", x.as_str()),
        ("match_urlpattern", bar.as_str()),
        ("match", bar1.as_str()),
        ("match_exact", other.as_str()),
    ];
    let _s = SseStream::open(get(&hub, &pairs).bearer_auth(&token)).await;
    let mut first = None;
    for (value, payload) in [
        (&x, json!({ "a": 1 })),
        (&bar, json!([2])),
        (&bar1, json!([2])),
        (&other, json!("default")),
    ] {
        let (ev, doc) = wait_v1_event(&mut w.stream, |d| d["match"] == value.as_str()).await;
        assert_eq!(doc["payload"], payload, "{value}");
        assert_eq!(
            object_keys(&ev.data()).last().map(String::as_str),
            Some("payload")
        );
        first = Some(doc["subscriber"].clone());
    }
    let only_x = hub.v1_subscriber_token(json!([entry(&["subscribe"], &x, None, json!(1))]));
    let _s2 = SseStream::open(get(&hub, &[("match", &other)]).bearer_auth(&only_x)).await;
    let first = first.expect("subscriber");
    let (_, doc) = wait_v1_event(&mut w.stream, |d| {
        d["match"] == other.as_str() && d["subscriber"] != first
    })
    .await;
    assert!(
        doc.get("payload").is_none(),
        "no entry matches: no payload: {doc}"
    );
    let classic =
        hub.subscriber_token(&json!({ "mercure": { "subscribe": [], "payload": { "c": [3] } } }));
    let c = uniq("b-ad-8-classic");
    let _s3 = SseStream::open(get(&hub, &[("match", &c)]).bearer_auth(&classic)).await;
    let (_, doc) = wait_v1_event(&mut w.stream, |d| d["match"] == c.as_str()).await;
    assert_eq!(doc["payload"], json!({ "c": [3] }));
}
