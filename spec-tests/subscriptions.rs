//! A.8 Active subscriptions: subscription events and the classic subscription API (A-SUBS-*),
//! X-9 (classic shapes), B-SAPI-6 (the `Link` header on classic API responses), C-ID-1.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::asserts;
use crate::harness::{uniq, Hub, WAIT};
use crate::http::{form_encode, pct, send, Resp};
use crate::sse::{Event, Probe, RawSse, SseStream};
use crate::tokens::now;

const API: &str = "/.well-known/mercure/subscriptions";
/// The selector the reference UI uses to watch subscription events.
const SUBS_TPL: &str = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
const NOT_FOUND: &str = "404 page not found\n";

/// A hub with `subscriptions` on (anonymous subscribers allowed, subscriber key configured).
async fn subs_hub() -> Option<Hub> {
    Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_SUBSCRIPTIONS", "true")
        .start()
        .await
}

/// enc() of A-SUBS-4: form-style escaping, `A-Z a-z 0-9 - _ . ~` kept, space → `+`.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The subscription-event topic of A-SUBS-4.
fn event_topic(selector: &str, subscriber: &str) -> String {
    format!("{API}/{}/{}", enc(selector), enc(subscriber))
}

/// `GET` on an API path (raw path and query) with an optional bearer token.
async fn api_get(hub: &Hub, path_and_query: &str, token: Option<&str>) -> Resp {
    let mut rb = hub.client.get(hub.url(path_and_query));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    send(rb).await
}

/// A 200 API response parsed as JSON.
#[track_caller]
fn json_ok(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.body))
}

/// A token allowed to read every subscription event and every API path.
fn watch_token(hub: &Hub) -> String {
    hub.subscriber_token_for(&[SUBS_TPL])
}

/// The member names of a JSON object text, in document order (top level only).
fn top_level_keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    let mut cur = String::new();
    let mut last_str = String::new();
    for c in text.chars() {
        if in_str {
            if esc {
                esc = false;
                cur.push(c);
            } else if c == '\\' {
                esc = true;
                cur.push(c);
            } else if c == '"' {
                in_str = false;
                last_str = std::mem::take(&mut cur);
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => in_str = true,
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ':' if depth == 1 => keys.push(std::mem::take(&mut last_str)),
            _ => {}
        }
    }
    keys
}

/// A subscription event as received: the SSE event and its JSON body.
struct SubEv {
    ev: Event,
    doc: Value,
}

impl SubEv {
    fn subscriber(&self) -> String {
        self.doc["subscriber"].as_str().expect("subscriber").into()
    }
    fn topic(&self) -> String {
        self.doc["topic"].as_str().expect("topic").into()
    }
    fn active(&self) -> bool {
        self.doc["active"].as_bool().expect("active")
    }
}

/// Reads events until a subscription event satisfies `pred`; panics after WAIT.
async fn wait_sub_event(s: &mut SseStream, pred: impl Fn(&Value) -> bool) -> SubEv {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(ev) = s.next_event(left).await else {
            panic!("expected subscription event not received; raw: {}", s.raw());
        };
        if let Ok(doc) = serde_json::from_str::<Value>(&ev.data()) {
            if doc["type"] == "Subscription" && pred(&doc) {
                return SubEv { ev, doc };
            }
        }
    }
}

/// Waits for the `active` event of `selector` (any subscriber, or the given one).
async fn wait_active(
    s: &mut SseStream,
    selector: &str,
    active: bool,
    subscriber: Option<&str>,
) -> SubEv {
    wait_sub_event(s, |d| {
        d["topic"] == selector
            && d["active"] == active
            && subscriber.is_none_or(|id| d["subscriber"] == id)
    })
    .await
}

/// A watcher: routing selector SUBS_TPL plus a sentinel, token granting SUBS_TPL.
async fn watcher(hub: &Hub) -> Probe {
    Probe::open(hub, Some(&watch_token(hub)), &[SUBS_TPL]).await
}

/// Subscription events (JSON) among `evs`.
fn sub_docs(evs: &[Event]) -> Vec<Value> {
    evs.iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data()).ok())
        .filter(|d| d["type"] == "Subscription")
        .collect()
}

/// `(subscriber, topic)` pairs of a collection, sorted (a multiset).
fn collection_pairs(doc: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = doc["subscriptions"]
        .as_array()
        .expect("subscriptions array")
        .iter()
        .map(|s| {
            assert_eq!(
                s["active"],
                json!(true),
                "collections list active ones: {s}"
            );
            (
                s["subscriber"].as_str().expect("subscriber").to_string(),
                s["topic"].as_str().expect("topic").to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------

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

/// A-SUBS-9, X-9, A-EP-7: three GET endpoints — all, per selector (one segment, form-decoded:
/// `%2F` stays inside it, `+` and `%20` are spaces), one subscription; other methods → 405.
#[tokio::test]
async fn a_subs_9_three_get_endpoints() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    // A selector with a space: its event topic and API paths have a `+`, which SUBS_TPL does
    // not match (A-SUBS-8, A-SUBS-10): use `*` for routing and grants.
    let token = hub.subscriber_token_for(&["*"]);
    let mut w = Probe::open(&hub, Some(&token), &["*"]).await;
    let sel = format!("{}/a b", uniq("a-subs-9"));
    let _s = SseStream::open(hub.sub_req(&[&sel])).await;
    let sid = wait_active(&mut w.stream, &sel, true, None)
        .await
        .subscriber();
    let all = json_ok(&api_get(&hub, API, Some(&token)).await);
    assert!(collection_pairs(&all).contains(&(sid.clone(), sel.clone())));
    for seg in [enc(&sel), enc(&sel).replace('+', "%20"), pct(&sel)] {
        let one = json_ok(&api_get(&hub, &format!("{API}/{seg}"), Some(&token)).await);
        assert_eq!(
            collection_pairs(&one),
            vec![(sid.clone(), sel.clone())],
            "{seg}"
        );
        let path = format!("{API}/{seg}/{}", enc(&sid));
        let doc = json_ok(&api_get(&hub, &path, Some(&token)).await);
        assert_eq!(doc["subscriber"], json!(sid));
        assert_eq!(doc["topic"], json!(sel));
    }
    for path in [
        API.to_string(),
        format!("{API}/{}", enc(&sel)),
        format!("{API}/{}/{}", enc(&sel), enc(&sid)),
    ] {
        for m in ["POST", "PUT", "DELETE", "PATCH"] {
            let rb = hub
                .client
                .request(Method::from_bytes(m.as_bytes()).unwrap(), hub.url(&path))
                .bearer_auth(&token);
            assert_eq!(send(rb).await.status, 405, "{m} {path}");
        }
    }
}

/// A-SUBS-10, X-11, A-AUTH-17: the API needs a valid subscriber token whose `mercure.subscribe`
/// matches the raw request target (path plus `?query`); anonymous access is not enough; 401
/// `Unauthorized\n` otherwise. Without a subscriber key the API is open.
#[tokio::test]
async fn a_subs_10_api_authorization() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let sel_path = format!("{API}/{}", enc("https://example.com/a-subs-10"));
    let only_root = hub.subscriber_token_for(&[API]);
    let with_query = hub.subscriber_token_for(&[&format!("{API}?x=1")]);
    let tpl = watch_token(&hub);
    let star = hub.subscriber_token_for(&["*"]);
    let publisher = hub.publisher_token_all();
    let null = hub.subscriber_token(&json!({ "mercure": { "subscribe": null } }));
    let cases: Vec<(&str, Option<&str>, u16)> = vec![
        (API, None, 401),
        (API, Some(&publisher), 401),
        (API, Some(&null), 401),
        (
            API,
            Some("x.y.z-----------------------------------------"),
            401,
        ),
        (API, Some(&only_root), 200),
        (&sel_path, Some(&only_root), 401),
        (&sel_path, Some(&tpl), 200),
        (&sel_path, Some(&star), 200),
        (
            "/.well-known/mercure/subscriptions?x=1",
            Some(&only_root),
            401,
        ),
        ("/.well-known/mercure/subscriptions?x=1", Some(&tpl), 401),
        (
            "/.well-known/mercure/subscriptions?x=1",
            Some(&with_query),
            200,
        ),
        (
            "/.well-known/mercure/subscriptions?x=2",
            Some(&with_query),
            401,
        ),
        ("/.well-known/mercure/subscriptions?x=1", Some(&star), 200),
    ];
    for (path, tok, status) in cases {
        let r = api_get(&hub, path, tok).await;
        if status == 401 {
            asserts::unauthorized(&r);
        } else {
            assert_eq!(r.status, status, "{path} {tok:?}: {r:?}");
        }
    }
    // Token from the `authorization` query parameter: the parameter is part of the target.
    let q = form_encode(&[("authorization", &star)]);
    assert_eq!(api_get(&hub, &format!("{API}?{q}"), None).await.status, 200);
    let q = form_encode(&[("authorization", &only_root)]);
    asserts::unauthorized(&api_get(&hub, &format!("{API}?{q}"), None).await);
    // Cookie.
    let rb = hub
        .client
        .get(hub.url(API))
        .header("Cookie", format!("mercureAuthorization={only_root}"));
    assert_eq!(send(rb).await.status, 200);

    // No subscriber key: open to everyone.
    let Some(open) = Hub::builder()
        .anonymous(true)
        .subscriber_key(None, None)
        .env("QUICKSILVER_SUBSCRIPTIONS", "true")
        .start()
        .await
    else {
        return;
    };
    for path in [API.to_string(), sel_path.clone(), format!("{API}?x=1")] {
        assert_eq!(api_get(&open, &path, None).await.status, 200, "{path}");
    }
}

/// The ETag of A-SUBS-11 for a `lastEventID`.
fn etag_of(id: &str) -> String {
    let mut out = String::from("\"");
    for b in id.bytes() {
        if b < 0x21 || b == b'"' || b == b'%' || b == 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out.push('"');
    out
}

/// The `Link` header of B-SAPI-6 for a `lastEventID`.
fn link_of(id: &str) -> String {
    let esc = id.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "</.well-known/mercure>; rel=\"mercure\"; last-event-id=\"{esc}\"; type=\"mercure\"; content-type=\"application/json\""
    )
}

/// A-SUBS-11, B-SAPI-6, X-9, C-HARD-8: `application/ld+json`, a quoted, percent-encoded ETag
/// derived from `lastEventID`; `If-None-Match` with the quoted or the raw value → 304 without a
/// body; the `Link` cursor header (with `"` and `\` escaped) on 200 and 304.
#[tokio::test]
async fn a_subs_11_content_type_etag_304_link() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    let sel = uniq("a-subs-11");
    let _s = SseStream::open(hub.sub_req(&[&sel])).await;
    let sid = wait_active(&mut w.stream, &sel, true, None)
        .await
        .subscriber();
    let last = format!("a b\"%c\\d/{}", uuid::Uuid::new_v4());
    hub.publish_ok(&[("topic", &uniq("a-subs-11-x")), ("id", &last)])
        .await;
    let paths = [
        API.to_string(),
        format!("{API}/{}", enc(&sel)),
        format!("{API}/{}/{}", enc(&sel), enc(&sid)),
    ];
    for path in &paths {
        let r = api_get(&hub, path, Some(&token)).await;
        let doc = json_ok(&r);
        assert_eq!(doc["lastEventID"], json!(last), "{path}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/ld+json"),
            "{path}"
        );
        assert_eq!(r.header("etag"), Some(etag_of(&last)), "{path}");
        let links: Vec<_> = r.headers.get_all("link").iter().collect();
        assert_eq!(links.len(), 1, "{path}: {r:?}");
        assert_eq!(
            links[0].to_str().ok(),
            Some(link_of(&last).as_str()),
            "{path}"
        );
        for inm in [etag_of(&last), last.clone()] {
            let rb = hub
                .client
                .get(hub.url(path))
                .bearer_auth(&token)
                .header("If-None-Match", inm.as_str());
            let r = send(rb).await;
            assert_eq!((r.status, r.body.as_str()), (304, ""), "{path} {inm}");
            assert_eq!(r.header("etag"), Some(etag_of(&last)), "{path}");
            assert_eq!(r.header("link"), Some(link_of(&last)), "{path} 304");
        }
        let rb = hub
            .client
            .get(hub.url(path))
            .bearer_auth(&token)
            .header("If-None-Match", "\"something-else\"");
        assert_eq!(send(rb).await.status, 200, "{path}");
    }
}

/// A-SUBS-12, A-SUBS-13, A-SUBS-15: collections — members `@context`, `id` (raw target with
/// query), `type: Subscriptions`, `lastEventID` (`earliest` when nothing was stored), and
/// `subscriptions` (`[]` when empty) of documents without `@context`; only active
/// subscriptions; the per-selector collection matches selectors byte for byte (no template
/// matching).
#[tokio::test]
async fn a_subs_12_collections() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let star = hub.subscriber_token_for(&["*"]);
    let r = api_get(&hub, API, Some(&star)).await;
    let doc = json_ok(&r);
    assert_eq!(
        top_level_keys(&r.body),
        ["@context", "id", "type", "lastEventID", "subscriptions"]
    );
    assert_eq!(doc["@context"], "https://mercure.rocks/");
    assert_eq!(doc["id"], API);
    assert_eq!(doc["type"], "Subscriptions");
    assert_eq!(doc["lastEventID"], "earliest", "nothing stored yet");
    assert_eq!(doc["subscriptions"], json!([]));
    let r = api_get(&hub, &format!("{API}/nothing?a=1&b=%20"), Some(&star)).await;
    let doc = json_ok(&r);
    assert_eq!(doc["id"], format!("{API}/nothing?a=1&b=%20"));
    assert_eq!(doc["subscriptions"], json!([]));

    let mut w = watcher(&hub).await;
    let base = uniq("a-subs-12");
    let tpl = format!("{base}/{{id}}");
    let one = format!("{base}/1");
    let s1 = SseStream::open(hub.sub_req(&[&tpl, &one])).await;
    let sid1 = wait_active(&mut w.stream, &tpl, true, None)
        .await
        .subscriber();
    let s2 = SseStream::open(hub.sub_req(&[&one])).await;
    let sid2 = wait_active(&mut w.stream, &one, true, None).await;
    let sid2 = if sid2.subscriber() == sid1 {
        wait_active(&mut w.stream, &one, true, None)
            .await
            .subscriber()
    } else {
        sid2.subscriber()
    };
    let r = api_get(&hub, &format!("{API}/{}", enc(&one)), Some(&star)).await;
    let doc = json_ok(&r);
    let mut want = vec![(sid1.clone(), one.clone()), (sid2.clone(), one.clone())];
    want.sort();
    assert_eq!(collection_pairs(&doc), want, "byte-identical selector only");
    for item in doc["subscriptions"].as_array().unwrap() {
        assert!(item.get("@context").is_none(), "{item}");
        assert_eq!(item["type"], "Subscription");
        assert_eq!(
            item["id"],
            json!(event_topic(&one, item["subscriber"].as_str().unwrap()))
        );
    }
    let doc = json_ok(&api_get(&hub, &format!("{API}/{}", enc(&tpl)), Some(&star)).await);
    assert_eq!(collection_pairs(&doc), vec![(sid1.clone(), tpl.clone())]);
    drop(s1);
    wait_active(&mut w.stream, &one, false, Some(&sid1)).await;
    let doc = json_ok(&api_get(&hub, &format!("{API}/{}", enc(&one)), Some(&star)).await);
    assert_eq!(collection_pairs(&doc), vec![(sid2.clone(), one.clone())]);
    let all = collection_pairs(&json_ok(&api_get(&hub, API, Some(&star)).await));
    assert!(
        all.iter().all(|(s, _)| *s != sid1),
        "terminated still listed"
    );
    drop(s2);
}

/// A-SUBS-14, A-SUBS-15: a single subscription is the event document with `lastEventID`
/// after `active` (before `payload`); unknown subscriber, other selector or terminated → 404.
#[tokio::test]
async fn a_subs_14_single_subscription() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    let sel = uniq("a-subs-14");
    let other = uniq("a-subs-14-other");
    let tok = hub.subscriber_token(&json!({ "mercure": { "payload": { "p": 1 } } }));
    let s = SseStream::open(hub.sub_req(&[&sel, &other]).bearer_auth(tok)).await;
    // Both start events; the later one is the latest stored update.
    let e = wait_sub_event(&mut w.stream, |d| d["topic"] == sel || d["topic"] == other).await;
    let sid = e.subscriber();
    let second = if e.topic() == sel { &other } else { &sel };
    let last = wait_active(&mut w.stream, second, true, Some(&sid))
        .await
        .ev
        .id
        .unwrap();
    let path = format!("{API}/{}/{}", enc(&sel), enc(&sid));
    let r = api_get(&hub, &path, Some(&token)).await;
    let doc = json_ok(&r);
    assert_eq!(
        top_level_keys(&r.body),
        [
            "@context",
            "id",
            "type",
            "subscriber",
            "topic",
            "active",
            "lastEventID",
            "payload"
        ]
    );
    assert_eq!(doc["@context"], "https://mercure.rocks/");
    assert_eq!(doc["id"], json!(event_topic(&sel, &sid)));
    assert_eq!(doc["type"], "Subscription");
    assert_eq!(doc["subscriber"], json!(sid));
    assert_eq!(doc["topic"], json!(sel));
    assert_eq!(doc["active"], json!(true));
    assert_eq!(doc["lastEventID"], json!(last));
    assert_eq!(doc["payload"], json!({ "p": 1 }));
    let unknown = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let third = uniq("a-subs-14-none");
    for p in [
        format!("{API}/{}/{}", enc(&sel), enc(&unknown)),
        format!("{API}/{}/{}", enc(&third), enc(&sid)),
    ] {
        api_get(&hub, &p, Some(&token)).await.expect(404, NOT_FOUND);
    }
    drop(s);
    wait_active(&mut w.stream, &sel, false, Some(&sid)).await;
    api_get(&hub, &path, Some(&token))
        .await
        .expect(404, NOT_FOUND);
}

/// A-SUBS-15: `lastEventID` is the id of the most recent stored update — any topic, private
/// updates and subscription events included.
#[tokio::test]
async fn a_subs_15_last_event_id_is_latest_stored() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let star = hub.subscriber_token_for(&["*"]);
    let last = |hub: &Hub| {
        let rb = hub.client.get(hub.url(API)).bearer_auth(&star);
        async move { json_ok(&send(rb).await)["lastEventID"].clone() }
    };
    assert_eq!(last(&hub).await, "earliest");
    let a = hub.publish_ok(&[("topic", &uniq("a-subs-15"))]).await;
    assert_eq!(last(&hub).await, json!(a));
    let p = hub
        .publish_ok(&[("topic", &uniq("a-subs-15")), ("private", "on")])
        .await;
    assert_eq!(last(&hub).await, json!(p));
    let mut w = watcher(&hub).await;
    // The watcher's two subscriptions (SUBS_TPL and its sentinel): the later event counts.
    let sentinel = w.sentinel.clone();
    let e = wait_sub_event(&mut w.stream, |d| {
        d["topic"] == SUBS_TPL || d["topic"] == sentinel
    })
    .await;
    let second = if e.topic() == SUBS_TPL {
        sentinel.as_str()
    } else {
        SUBS_TPL
    };
    let e = wait_active(&mut w.stream, second, true, Some(&e.subscriber())).await;
    assert_eq!(last(&hub).await, json!(e.ev.id.unwrap()));
}

/// A-SUBS-16 (SHOULD), A-SUBS-6: documents are pretty-printed with two-space indentation,
/// members in the documented order (the reference's bytes).
#[tokio::test]
async fn a_subs_16_pretty_printed_documents() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    let sel = uniq("a-subs-16");
    let tok = hub.subscriber_token(&json!({ "mercure": { "payload": { "user": "u1" } } }));
    let _s = SseStream::open(hub.sub_req(&[&sel]).bearer_auth(tok)).await;
    let e = wait_active(&mut w.stream, &sel, true, None).await;
    let sid = e.subscriber();
    let id = event_topic(&sel, &sid);
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let event = format!(
        "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": {},\n  \"type\": \"Subscription\",\n  \"subscriber\": {},\n  \"topic\": {},\n  \"active\": true,\n  \"payload\": {{\n    \"user\": \"u1\"\n  }}\n}}",
        q(&id),
        q(&sid),
        q(&sel)
    );
    assert_eq!(e.ev.data(), event, "event body bytes");
    assert!(
        e.ev.raw.contains("\ndata:   \"type\": \"Subscription\",\n"),
        "one data line per line"
    );
    let path = format!("{API}/{}/{}", enc(&sel), enc(&sid));
    let r = api_get(&hub, &path, Some(&token)).await;
    let last = json_ok(&r)["lastEventID"].as_str().unwrap().to_string();
    let single = format!(
        "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": {},\n  \"type\": \"Subscription\",\n  \"subscriber\": {},\n  \"topic\": {},\n  \"active\": true,\n  \"lastEventID\": {},\n  \"payload\": {{\n    \"user\": \"u1\"\n  }}\n}}",
        q(&id),
        q(&sid),
        q(&sel),
        q(&last)
    );
    assert_eq!(
        r.body.trim_end_matches('\n'),
        single,
        "single subscription bytes"
    );
    let cpath = format!("{API}/{}", enc(&sel));
    let r = api_get(&hub, &cpath, Some(&token)).await;
    let coll = format!(
        "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": {},\n  \"type\": \"Subscriptions\",\n  \"lastEventID\": {},\n  \"subscriptions\": [\n    {{\n      \"id\": {},\n      \"type\": \"Subscription\",\n      \"subscriber\": {},\n      \"topic\": {},\n      \"active\": true,\n      \"payload\": {{\n        \"user\": \"u1\"\n      }}\n    }}\n  ]\n}}",
        q(&cpath),
        q(&last),
        q(&id),
        q(&sid),
        q(&sel)
    );
    assert_eq!(r.body.trim_end_matches('\n'), coll, "collection bytes");
}

/// A-SUBS-2, A-SUBS-12, A-SUBS-13, A-SUBS-15: 1,000 subscribers (raw HTTP/1.1 connections)
/// connect in waves, are partly replaced (250 leave while 250 join), then leave in waves. At each step the API collection and the stream of
/// subscription events agree: the watcher's active set — the collection taken at the start,
/// updated by the events it receives from that collection's `lastEventID` on — equals the
/// collection, and its last applied event is the collection's `lastEventID`.
#[tokio::test]
async fn a_subs_13_thousand_subscribers_api_and_events_agree() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let started = std::time::Instant::now();
    let token = watch_token(&hub);
    let base = uniq("a-subs-load");
    let n = 1000;
    let topic = |i: usize| format!("{base}/{i}");

    let start = json_ok(&api_get(&hub, API, Some(&token)).await);
    let l0 = start["lastEventID"].as_str().unwrap().to_string();
    let mut state = collection_pairs(&start);
    let sentinel = uniq("sentinel");
    let q = form_encode(&[
        ("topic", SUBS_TPL),
        ("topic", &sentinel),
        ("lastEventID", &l0),
    ]);
    let mut w = SseStream::open(hub.hub_req(Method::GET, &q).bearer_auth(&token)).await;
    let mut last_applied = l0.clone();

    let mut conns: HashMap<usize, RawSse> = HashMap::new();
    // Join in 4 waves of 250; then one mixed wave (250 leave while 250 others join,
    // interleaved); then leave in 4 waves.
    let mut steps: Vec<Vec<(usize, bool)>> = Vec::new();
    for k in 0..4 {
        steps.push((k * 250..(k + 1) * 250).map(|i| (i, true)).collect());
    }
    steps.push(
        (0..250)
            .flat_map(|j| [(j * 4, false), (n + j, true)])
            .collect(),
    );
    let mut rest: Vec<usize> = (0..n + 250).filter(|i| *i >= n || i % 4 != 0).collect();
    fastrand::shuffle(&mut rest);
    for chunk in rest.chunks(250) {
        steps.push(chunk.iter().map(|i| (*i, false)).collect());
    }
    for (step, ops) in steps.into_iter().enumerate() {
        for (i, join) in ops {
            if !join {
                assert!(conns.remove(&i).is_some());
                continue;
            }
            let pq = format!("/.well-known/mercure?topic={}", pct(&topic(i)));
            let c = RawSse::open(&hub, &pq, &[]).await;
            assert!(
                c.head
                    .to_lowercase()
                    .contains("content-type: text/event-stream"),
                "{}",
                c.head
            );
            conns.insert(i, c);
        }
        let mut expected: Vec<String> = conns.keys().map(|i| topic(*i)).collect();
        expected.push(SUBS_TPL.to_string());
        expected.push(sentinel.clone());
        expected.sort();
        let topics_of = |pairs: &[(String, String)]| {
            let mut t: Vec<String> = pairs.iter().map(|(_, t)| t.clone()).collect();
            t.sort();
            t
        };
        // 1. The API converges to the expected set.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let doc = json_ok(&api_get(&hub, API, Some(&token)).await);
            if topics_of(&collection_pairs(&doc)) == expected {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "step {step}: API collection did not converge"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // 2. The event stream converges too.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while topics_of(&state) != expected {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(ev) = w.next_event(left).await else {
                panic!(
                    "step {step}: event stream did not converge ({} vs {} expected)",
                    state.len(),
                    expected.len()
                );
            };
            apply(&mut state, &ev, &mut last_applied, step);
        }
        // 3. Snapshot: same set, and its cursor is the last applied event.
        let doc = json_ok(&api_get(&hub, API, Some(&token)).await);
        assert_eq!(collection_pairs(&doc), state, "step {step}: API vs events");
        assert_eq!(
            doc["lastEventID"].as_str(),
            Some(last_applied.as_str()),
            "step {step}: lastEventID is not the last subscription event"
        );
        // 4. Nothing else is pending (sentinel).
        let sid = hub.publish_ok(&[("topic", &sentinel)]).await;
        for ev in w.events_until(&sid).await {
            if ev.id.as_deref() != Some(sid.as_str()) {
                panic!("step {step}: unexpected event after convergence: {ev:?}");
            }
        }
        last_applied = sid;
        eprintln!(
            "step {step}: {} connections, {:?}",
            conns.len(),
            started.elapsed()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

/// Applies one subscription event to a multiset of `(subscriber, topic)`.
fn apply(state: &mut Vec<(String, String)>, ev: &Event, last: &mut String, step: usize) {
    let doc: Value = match serde_json::from_str(&ev.data()) {
        Ok(d) => d,
        Err(_) => return,
    };
    if doc["type"] != "Subscription" {
        return;
    }
    *last = ev.id.clone().expect("id");
    let key = (
        doc["subscriber"].as_str().unwrap().to_string(),
        doc["topic"].as_str().unwrap().to_string(),
    );
    if doc["active"] == true {
        let pos = state.binary_search(&key).unwrap_or_else(|p| p);
        state.insert(pos, key);
    } else {
        let pos = state
            .iter()
            .position(|k| *k == key)
            .unwrap_or_else(|| panic!("step {step}: active:false for unknown {key:?}"));
        state.remove(pos);
    }
}
