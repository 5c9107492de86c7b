//! A.8 Active subscriptions: subscription events and the classic subscription API (A-SUBS-*),
//! X-9 (classic shapes), B-SAPI-6 (the `Link` header on classic API responses), C-ID-1. One
//! file per family; the helpers they share (hub, API requests, watching events) are here.

mod api;
mod events;
mod scale;

use serde_json::{json, Value};

use crate::harness::{Hub, WAIT};
use crate::http::{send, Resp};
use crate::sse::{Event, Probe, SseStream};

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
