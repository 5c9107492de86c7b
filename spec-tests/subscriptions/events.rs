//! A-SUBS-1…8: subscription events — off by default, one per subscription start and end, their
//! topic, subscriber id, document, storage as private updates, routing and grants.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    api_get, enc, event_topic, json_ok, sub_docs, subs_hub, top_level_keys, wait_active,
    wait_sub_event, watch_token, watcher, SubEv, API, NOT_FOUND, SUBS_TPL,
};
use crate::harness::{uniq, Hub, WAIT};
use crate::http::{form_encode, send};
use crate::sse::{Probe, SseStream};
use crate::tokens::now;

/// A-SUBS-1, A-EP-6: off by default — every API path is 404 `404 page not found\n` and no
/// subscription event is published.
#[tokio::test]
async fn a_subs_1_off_by_default() {
    let hub = Hub::start_default().await;
    let token = hub.subscriber_key.as_ref().map(|_| watch_token(&hub));
    for path in [
        API.to_string(),
        format!("{API}/x"),
        format!(
            "{API}/{}/{}",
            enc("https://example.com/a"),
            enc("urn:uuid:1")
        ),
        format!("{API}?x=1"),
    ] {
        for tok in [None, token.as_deref()] {
            api_get(&hub, &path, tok).await.expect(404, NOT_FOUND);
        }
    }
    if let Some(token) = token {
        let mut p = Probe::open(&hub, Some(&token), &[SUBS_TPL, "*"]).await;
        let t = uniq("a-subs-1");
        let s = SseStream::open(hub.sub_req(&[&t])).await;
        let evs = p.drain(&hub).await;
        drop(s);
        assert!(sub_docs(&evs).is_empty(), "{evs:?}");
    }
}

/// A-SUBS-2, A-SUB-2, A-SUBS-5: one `active: true` event per subscription (duplicated
/// selectors included) when a connection starts, one `active: false` per subscription when it
/// ends — nothing more; all with the connection's subscriber id.
#[tokio::test]
async fn a_subs_2_one_event_per_subscription_start_and_end() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let mut w = watcher(&hub).await;
    let a = uniq("a-subs-2-a");
    let b = uniq("a-subs-2-b");
    let s = SseStream::open(hub.sub_req(&[&a, &a, &b])).await;
    let mut starts = Vec::new();
    for _ in 0..3 {
        starts.push(
            wait_sub_event(&mut w.stream, |d| {
                (d["topic"] == a || d["topic"] == b) && d["active"] == true
            })
            .await,
        );
    }
    let id = starts[0].subscriber();
    let mut topics: Vec<String> = starts.iter().map(SubEv::topic).collect();
    topics.sort();
    let mut want = vec![a.clone(), a.clone(), b.clone()];
    want.sort();
    assert_eq!(topics, want);
    assert!(starts.iter().all(|e| e.subscriber() == id));
    drop(s);
    let mut ends = Vec::new();
    for _ in 0..3 {
        ends.push(wait_sub_event(&mut w.stream, |d| d["subscriber"] == id.as_str()).await);
    }
    assert!(
        ends.iter().all(|e| !e.active()),
        "only active:false expected"
    );
    let mut topics: Vec<String> = ends.iter().map(SubEv::topic).collect();
    topics.sort();
    assert_eq!(topics, want);
    let extra: Vec<Value> = sub_docs(&w.drain(&hub).await)
        .into_iter()
        .filter(|d| d["subscriber"] == id.as_str())
        .collect();
    assert!(extra.is_empty(), "extra events: {extra:?}");
}

/// A-SUBS-2: the `active: false` events are published whatever the reason the connection ends
/// — here the token's expiry (A-AUTH-14).
#[tokio::test]
async fn a_subs_2_end_on_token_expiry_is_announced() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let mut w = watcher(&hub).await;
    let t = uniq("a-subs-2-exp");
    let tok = hub.subscriber_token(&json!({ "exp": now() + 3, "mercure": { "subscribe": [] } }));
    let mut s = SseStream::open(hub.sub_req(&[&t]).bearer_auth(tok)).await;
    let start = wait_active(&mut w.stream, &t, true, None).await;
    assert!(
        s.wait_end(WAIT).await.is_some(),
        "stream did not end at exp"
    );
    wait_active(&mut w.stream, &t, false, Some(&start.subscriber())).await;
}

/// A-SUBS-3, A-EP-3, A-SUBS-14: `active: true` follows a successful registration (the API
/// already lists the subscription when the event arrives; the connection receives its own
/// event live), `active: false` follows removal (the API no longer has it); HEAD and refused
/// requests publish nothing.
#[tokio::test]
async fn a_subs_3_events_follow_registration_and_removal() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    // The watcher's own active:true event arrives live (QS order, A.12).
    let own = wait_active(&mut w.stream, SUBS_TPL, true, None).await;
    let own_id = own.subscriber();
    let t = uniq("a-subs-3");
    // HEAD and refused requests: no events.
    let r = send(
        hub.sub_req(&[&t])
            .header("X-Probe", "1")
            .bearer_auth("x".repeat(50)),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = send(hub.hub_req(Method::HEAD, &form_encode(&[("topic", &t)]))).await;
    assert_eq!(r.status, 200);
    let evs = w.drain(&hub).await;
    let docs = sub_docs(&evs);
    assert!(docs.iter().all(|d| d["topic"] != t.as_str()), "{docs:?}");
    // Registration, then event.
    let s = SseStream::open(hub.sub_req(&[&t])).await;
    let start = wait_active(&mut w.stream, &t, true, None).await;
    let sid = start.subscriber();
    assert_ne!(sid, own_id);
    let path = format!("{API}/{}/{}", enc(&t), enc(&sid));
    assert_eq!(api_get(&hub, &path, Some(&token)).await.status, 200);
    drop(s);
    wait_active(&mut w.stream, &t, false, Some(&sid)).await;
    api_get(&hub, &path, Some(&token))
        .await
        .expect(404, NOT_FOUND);
}

/// A-SUBS-4, A-SUBS-8: the event topic is `/.well-known/mercure/subscriptions/{enc(selector)}/
/// {enc(subscriber)}` (form-style escaping, upper-case hex, space → `+`); it is the update's real
/// topic (a subscriber routed by that exact string receives it) and the `id` member.
#[tokio::test]
async fn a_subs_4_event_topic_is_form_escaped() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let star = hub.subscriber_token_for(&["*"]);
    let mut w = SseStream::open(hub.sub_req(&[SUBS_TPL, "*"]).bearer_auth(&star)).await;
    let base = uniq("a-subs-4");
    let selectors = [
        format!("{base}/{{selector}}"),
        format!("{base}/a b+c/é?x=1&y=%41"),
        format!("{base}/-_.~*'()!"),
    ];
    let refs: Vec<&str> = selectors.iter().map(String::as_str).collect();
    let s = SseStream::open(hub.sub_req(&refs)).await;
    let mut sid = String::new();
    for sel in &selectors {
        let e = wait_active(&mut w, sel, true, None).await;
        sid = e.subscriber();
        assert_eq!(e.doc["id"], json!(event_topic(sel, &sid)), "{sel}");
    }
    // The A-SUBS-4 example.
    assert_eq!(
        event_topic(
            "https://example.com/{selector}",
            "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6"
        ),
        "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2F%7Bselector%7D/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6"
    );
    // Routed by the exact topic string: the active:false event of the second selector.
    let exact = event_topic(&selectors[1], &sid);
    let mut x = Probe::open(&hub, Some(&star), &[&exact]).await;
    drop(s);
    let e = wait_active(&mut x.stream, &selectors[1], false, Some(&sid)).await;
    assert_eq!(e.doc["id"], json!(exact));
    let others = sub_docs(&x.drain(&hub).await);
    assert!(
        others.is_empty(),
        "only the exact topic is routed: {others:?}"
    );
}

/// A-SUBS-5, C-ID-1: the subscriber id is `urn:uuid:` + a v4 UUID, one per connection, shared
/// by its subscriptions, never taken from the request.
#[tokio::test]
async fn a_subs_5_subscriber_id_is_per_connection_uuid_v4() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let mut w = watcher(&hub).await;
    let (a, b) = (uniq("a-subs-5-a"), uniq("a-subs-5-b"));
    let forged = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let q = form_encode(&[("topic", &a), ("topic", &b), ("subscriber", &forged)]);
    let _s1 = SseStream::open(hub.hub_req(Method::GET, &q).header("X-Subscriber", &forged)).await;
    let _s2 = SseStream::open(hub.sub_req(&[&a])).await;
    let mut by_topic: HashMap<String, Vec<String>> = HashMap::new();
    for _ in 0..3 {
        let e = wait_sub_event(&mut w.stream, |d| {
            (d["topic"] == a || d["topic"] == b) && d["active"] == true
        })
        .await;
        by_topic.entry(e.topic()).or_default().push(e.subscriber());
    }
    let ids_b = &by_topic[&b];
    let ids_a = &by_topic[&a];
    assert_eq!((ids_a.len(), ids_b.len()), (2, 1));
    let s1 = ids_b[0].clone();
    assert!(ids_a.contains(&s1), "one id per connection: {by_topic:?}");
    let s2 = ids_a
        .iter()
        .find(|i| **i != s1)
        .expect("second connection id");
    for id in [&s1, s2] {
        assert_ne!(id, &forged);
        let u =
            uuid::Uuid::parse_str(id.strip_prefix("urn:uuid:").expect("urn:uuid:")).expect("uuid");
        assert_eq!(u.get_version_num(), 4, "{id}");
        assert_eq!(id, &format!("urn:uuid:{}", u.hyphenated()));
    }
}

/// A-SUBS-6, A-AUTH-15, A-AUTH-9: the event body — `@context`, `id`, `type: Subscription`,
/// `subscriber`, `topic` (the selector as sent), `active`, then `payload` only when the token's
/// `mercure.payload` exists and is not null (any JSON value, also from `https://mercure.rocks/`).
#[tokio::test]
async fn a_subs_6_event_document() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let mut w = watcher(&hub).await;
    let payload = json!({ "user": "u1", "roles": ["a", "b"], "n": 1.5, "nested": { "x": null } });
    let cases = [
        (
            Some(json!({ "mercure": { "payload": payload } })),
            Some(payload.clone()),
        ),
        (
            Some(json!({ "mercure": { "payload": "text" } })),
            Some(json!("text")),
        ),
        (Some(json!({ "mercure": { "payload": 0 } })), Some(json!(0))),
        (Some(json!({ "mercure": { "payload": null } })), None),
        (Some(json!({ "mercure": {} })), None),
        (
            Some(
                json!({ "https://mercure.rocks/": { "payload": ["ns"] }, "mercure": { "payload": 1 } }),
            ),
            Some(json!(["ns"])),
        ),
        (None, None),
    ];
    for (i, (claims, want)) in cases.iter().enumerate() {
        let sel = format!("{}/{{id}}/é", uniq("a-subs-6"));
        let mut rb = hub.sub_req(&[&sel]);
        if let Some(c) = claims {
            rb = rb.bearer_auth(hub.subscriber_token(c));
        }
        let s = SseStream::open(rb).await;
        let e = wait_active(&mut w.stream, &sel, true, None).await;
        let sid = e.subscriber();
        let mut keys = vec!["@context", "id", "type", "subscriber", "topic", "active"];
        if want.is_some() {
            keys.push("payload");
        }
        assert_eq!(top_level_keys(&e.ev.data()), keys, "case {i}");
        assert_eq!(e.doc["@context"], "https://mercure.rocks/");
        assert_eq!(e.doc["id"], json!(event_topic(&sel, &sid)));
        assert_eq!(e.doc["type"], "Subscription");
        assert_eq!(e.doc["topic"], json!(sel));
        assert_eq!(e.doc["active"], json!(true));
        assert_eq!(e.doc.get("payload"), want.as_ref(), "case {i}");
        drop(s);
        let e = wait_active(&mut w.stream, &sel, false, Some(&sid)).await;
        assert_eq!(
            e.doc.get("payload"),
            want.as_ref(),
            "case {i} (active false)"
        );
    }
}

/// A-SUBS-7, A-SUBS-15, A-HIST-12, A-PUB-13, C-ID-1: a subscription event is a private update
/// with a hub-generated `urn:uuid:` v7 id and no `event:` line; anonymous subscribers do not get
/// it; it is stored and becomes the `lastEventID`; publishers cannot forge one (403).
#[tokio::test]
async fn a_subs_7_event_is_private_stored_update() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    let mut anon = Probe::open(&hub, None, &[SUBS_TPL, "*"]).await;
    let t = uniq("a-subs-7");
    let _s = SseStream::open(hub.sub_req(&[&t])).await;
    let e = wait_active(&mut w.stream, &t, true, None).await;
    assert_eq!(e.ev.event, None, "no event: line");
    assert!(!e.ev.raw.contains("event:"), "{:?}", e.ev.raw);
    let id = e.ev.id.clone().expect("id");
    let u = uuid::Uuid::parse_str(id.strip_prefix("urn:uuid:").expect("urn:uuid:")).expect("uuid");
    assert_eq!(u.get_version_num(), 7);
    let doc = json_ok(&api_get(&hub, API, Some(&token)).await);
    assert_eq!(
        doc["lastEventID"],
        json!(id),
        "the event is the latest stored update"
    );
    let docs = sub_docs(&anon.drain(&hub).await);
    assert!(docs.is_empty(), "anonymous subscriber got {docs:?}");
    // Stored: replayed from history to an allowed subscriber.
    let q = form_encode(&[("topic", SUBS_TPL), ("lastEventID", "earliest")]);
    let mut r = SseStream::open(hub.hub_req(Method::GET, &q).bearer_auth(&token)).await;
    let replayed = wait_active(&mut r, &t, true, None).await;
    assert_eq!(replayed.ev.id, Some(id));
    // Reserved for the hub.
    let forged = event_topic(&t, &e.subscriber());
    let r = hub.publish(&[("topic", &forged), ("data", "{}")]).await;
    assert_eq!(r.status, 403, "{r:?}");
}

/// (label, token, routing selectors, receives the plain selector's event, the spaced one's)
type RoutingCase<'a> = (&'a str, Option<String>, Vec<&'a str>, bool, bool);

/// A-SUBS-8: events reach exactly the subscribers whose routing selector *and*
/// `mercure.subscribe` both match the event topic; `{topic}` does not match an encoded space
/// (`+`), `*` does.
#[tokio::test]
async fn a_subs_8_routing_and_grant_both_needed() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let tpl2 = "/.well-known/mercure/subscriptions/{topic}/{subscriber}";
    let star = hub.subscriber_token_for(&["*"]);
    let plain = uniq("a-subs-8");
    let spaced = format!("{} x", uniq("a-subs-8"));
    let specs: Vec<RoutingCase> = vec![
        (
            "tpl+tpl",
            Some(watch_token(&hub)),
            vec![SUBS_TPL],
            true,
            false,
        ),
        (
            "tpl2+tpl2",
            Some(hub.subscriber_token_for(&[tpl2])),
            vec![tpl2],
            true,
            false,
        ),
        ("star+star", Some(star.clone()), vec!["*"], true, true),
        ("star+tpl", Some(star.clone()), vec![SUBS_TPL], true, false),
        ("tpl+star", Some(watch_token(&hub)), vec!["*"], true, false),
        ("anon", None, vec![SUBS_TPL, "*"], false, false),
        (
            "no grant",
            Some(hub.subscriber_token(&json!({}))),
            vec!["*"],
            false,
            false,
        ),
        (
            "other grant",
            Some(hub.subscriber_token_for(&[&plain])),
            vec!["*"],
            false,
            false,
        ),
        (
            "other route",
            Some(star.clone()),
            vec!["https://example.com/x"],
            false,
            false,
        ),
    ];
    let mut probes = Vec::new();
    for (_, tok, sel, _, _) in &specs {
        probes.push(Probe::open(&hub, tok.as_deref(), sel).await);
    }
    let s = SseStream::open(hub.sub_req(&[&plain, &spaced])).await;
    // The star+star probe sees both; after that every probe's fate is decided by its sentinel.
    let sid = wait_active(&mut probes[2].stream, &plain, true, None)
        .await
        .subscriber();
    wait_active(&mut probes[2].stream, &spaced, true, Some(&sid)).await;
    for (i, (label, _, _, want_plain, want_spaced)) in specs.iter().enumerate() {
        let docs = sub_docs(&probes[i].drain(&hub).await);
        let got = |t: &str| {
            docs.iter()
                .filter(|d| d["subscriber"] == sid.as_str() && d["topic"] == t)
                .count()
        };
        let already = usize::from(i == 2);
        assert_eq!(
            got(&plain) + already,
            usize::from(*want_plain),
            "{label}: plain"
        );
        assert_eq!(
            got(&spaced) + already,
            usize::from(*want_spaced),
            "{label}: spaced"
        );
    }
    drop(s);
}
