//! A.7 Reconnection and history (A-HIST-*), X-7, X-8, C-HAND-1, C-STORE-1, C-ID-1; resuming
//! under load, across a graceful restart and across a crash.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::harness::{skip_if_external, uniq, Hub, HUB_PATH, WAIT};
use crate::http::{form_encode, send};
use crate::sse::{Event, Probe, SseStream};

/// The four cursor sources of X-7, highest precedence first.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Src {
    /// `Last-Event-ID` request header.
    Header,
    /// `last_event_id` query parameter.
    Snake,
    /// `lastEventID` query parameter.
    Camel,
    /// Legacy `Last-Event-ID` query parameter.
    Legacy,
}

const ALL_SRCS: [Src; 4] = [Src::Header, Src::Snake, Src::Camel, Src::Legacy];

/// A subscription request for `topics` carrying the given cursors.
fn sub_with(
    hub: &Hub,
    token: Option<&str>,
    topics: &[&str],
    cursors: &[(Src, &str)],
) -> RequestBuilder {
    let mut pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
    let mut header = None;
    for (src, v) in cursors {
        match src {
            Src::Header => header = Some(*v),
            Src::Snake => pairs.push(("last_event_id", v)),
            Src::Camel => pairs.push(("lastEventID", v)),
            Src::Legacy => pairs.push(("Last-Event-ID", v)),
        }
    }
    let mut rb = hub.hub_req(Method::GET, &form_encode(&pairs));
    if let Some(h) = header {
        rb = rb.header("Last-Event-ID", h);
    }
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    rb
}

/// What a subscription with these cursors receives before a live update published right after
/// its response head arrived (the sentinel, A-SUB-7), plus its `Last-Event-ID` response header.
async fn replay(
    hub: &Hub,
    token: Option<&str>,
    topics: &[&str],
    cursors: &[(Src, &str)],
) -> (Option<String>, Vec<Event>) {
    let sentinel = uniq("sentinel");
    let mut all = topics.to_vec();
    all.push(&sentinel);
    let stream = SseStream::open(sub_with(hub, token, &all, cursors)).await;
    let header = stream.header("last-event-id");
    let mut probe = Probe { stream, sentinel };
    let evs = probe.drain(hub).await;
    (header, evs)
}

fn ids(evs: &[Event]) -> Vec<String> {
    evs.iter()
        .map(|e| e.id.clone().expect("every event carries an id (A-HIST-1)"))
        .collect()
}

/// Publishes `n` updates on `topic` one after the other; returns their ids.
async fn publish_n(hub: &Hub, topic: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(
            hub.publish_ok(&[("topic", topic), ("data", &format!("{i}"))])
                .await,
        );
    }
    out
}

/// Skips tests that need persistence when the suite runs on the memory transport.
fn skip_if_memory() -> bool {
    if std::env::var("SPEC_TRANSPORT").is_ok_and(|t| t == "memory") {
        eprintln!(
            "SKIP {}: needs a persistent history (SPEC_TRANSPORT=memory)",
            crate::harness::test_name()
        );
        return true;
    }
    false
}

/// One publisher connection of a burst.
#[derive(Default, Debug)]
struct Worker {
    /// Ids answered 200, in acknowledgement order.
    acked: Vec<String>,
    /// The id of the request that failed (only with custom ids), if any.
    failed: Option<String>,
    error: Option<String>,
}

/// Publishes on `topic` from one HTTP/1.1 connection (its own client), sequentially, until
/// `max` updates are acknowledged or a request fails. With `id_prefix`, ids are
/// `{prefix}-{n}`; otherwise the hub generates them.
async fn run_worker(
    url: String,
    token: String,
    topic: String,
    id_prefix: Option<String>,
    max: usize,
    acked_total: Arc<AtomicUsize>,
) -> Worker {
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut w = Worker::default();
    for n in 0..max {
        let custom = id_prefix.as_ref().map(|p| format!("{p}-{n}"));
        let mut fields = vec![("topic", topic.as_str())];
        if let Some(id) = &custom {
            fields.push(("id", id));
        }
        let r = client
            .post(&url)
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(&fields))
            .send()
            .await;
        let result = match r {
            Ok(r) if r.status() == 200 => r.text().await.map_err(|e| e.to_string()),
            Ok(r) => Err(format!("status {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(id) => {
                if let Some(c) = &custom {
                    assert_eq!(&id, c, "a provided id is used verbatim (A-PUB-7)");
                }
                w.acked.push(id);
                acked_total.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                w.failed = custom;
                w.error = Some(e);
                break;
            }
        }
    }
    w
}

/// Starts `workers` publisher connections on `topic`.
fn spawn_workers(
    hub: &Hub,
    topic: &str,
    workers: usize,
    per_worker: usize,
    id_prefix: Option<&str>,
    acked_total: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Worker>> {
    (0..workers)
        .map(|k| {
            tokio::spawn(run_worker(
                hub.url(HUB_PATH),
                hub.publisher_token_all(),
                topic.to_string(),
                id_prefix.map(|p| format!("{p}{k}")),
                per_worker,
                acked_total.clone(),
            ))
        })
        .collect()
}

/// Asserts that each worker's acknowledged ids appear in `order` in acknowledgement order.
#[track_caller]
fn assert_ack_order(order: &[String], workers: &[Worker]) {
    let pos: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    for (k, w) in workers.iter().enumerate() {
        let mut last = None;
        for id in &w.acked {
            let p = *pos
                .get(id.as_str())
                .unwrap_or_else(|| panic!("acknowledged id {id} (worker {k}) missing"));
            assert!(
                last.is_none_or(|l| l < p),
                "worker {k}: {id} acknowledged after its predecessor but stored before it"
            );
            last = Some(p);
        }
    }
}

#[track_caller]
fn assert_no_duplicates(order: &[String]) {
    let mut seen = HashSet::new();
    for id in order {
        assert!(seen.insert(id), "id {id} delivered twice");
    }
}

// ---------------------------------------------------------------------------------------------
// A-HIST-1 … A-HIST-14
// ---------------------------------------------------------------------------------------------

/// A-HIST-1, A-HIST-14, A-SSE-10: replayed and live events carry an `id:`; the hub adds no
/// `retry:` of its own (only the one a publisher sent).
#[tokio::test]
async fn a_hist_1_every_event_has_id_and_no_hub_retry() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-1");
    let first = hub.publish_ok(&[("topic", &t)]).await;
    let with_retry = hub.publish_ok(&[("topic", &t), ("retry", "1500")]).await;
    let mut sub = SseStream::open(sub_with(&hub, None, &[&t], &[(Src::Header, "earliest")])).await;
    let live = hub.publish_ok(&[("topic", &t), ("data", "x")]).await;
    let evs = sub.events_until(&live).await;
    assert_eq!(ids(&evs), vec![first.clone(), with_retry.clone(), live]);
    for ev in &evs {
        assert!(
            ev.raw.contains("\nid: ") || ev.raw.starts_with("id: "),
            "{ev:?}"
        );
        let expect_retry = ev.id.as_deref() == Some(with_retry.as_str());
        assert_eq!(
            ev.retry.as_deref(),
            expect_retry.then_some("1500"),
            "retry only when the publisher sent one: {ev:?}"
        );
    }
    assert_eq!(sub.raw().matches("retry:").count(), 1, "{}", sub.raw());
}

/// A-HIST-3, A-SUB-4, A-SUB-7, A-HIST-9: with a known cursor, the later stored events that
/// match the *current* selectors (and token) are replayed in history order, then live events;
/// nothing before the cursor, nothing twice.
#[tokio::test]
async fn a_hist_3_known_cursor_replays_later_matching_events() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-3");
    let u = uniq("a-hist-3-other");
    let elsewhere = uniq("a-hist-3-unrelated");
    let e1 = hub.publish_ok(&[("topic", &t)]).await;
    let e2 = hub.publish_ok(&[("topic", &u)]).await;
    let _x = hub.publish_ok(&[("topic", &elsewhere)]).await;
    let p3 = hub.publish_ok(&[("topic", &t), ("private", "on")]).await;
    let e4 = hub
        .publish_ok(&[("topic", &elsewhere), ("topic", &t)])
        .await;
    let tpl = format!("{u}{{?q}}");
    // Anonymous, selectors T and a template matching U.
    let (h, evs) = replay(&hub, None, &[&t, &tpl], &[(Src::Header, &e1)]).await;
    assert_eq!(h.as_deref(), Some(e1.as_str()));
    assert_eq!(ids(&evs), vec![e2.clone(), e4.clone()]);
    // The same cursor with a token that may read the private one.
    let tok = hub.subscriber_token_for(&[&t]);
    let (_, evs) = replay(&hub, Some(&tok), &[&t, &tpl], &[(Src::Header, &e1)]).await;
    assert_eq!(ids(&evs), vec![e2.clone(), p3.clone(), e4.clone()]);
    // Only the current selectors count: U alone.
    let (_, evs) = replay(&hub, None, &[&u], &[(Src::Camel, &e1)]).await;
    assert_eq!(ids(&evs), vec![e2.clone()]);
    // Replay, then live, on one connection.
    let mut sub = SseStream::open(sub_with(&hub, None, &[&t], &[(Src::Header, &e2)])).await;
    let live = hub.publish_ok(&[("topic", &t)]).await;
    assert_eq!(ids(&sub.events_until(&live).await), vec![e4, live]);
}

/// A-HIST-4: `earliest` replays everything retained that passes A-SUB-4, in order.
#[tokio::test]
async fn a_hist_4_earliest_replays_everything() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-4");
    let published = publish_n(&hub, &t, 5).await;
    let _other = hub.publish_ok(&[("topic", &uniq("a-hist-4-other"))]).await;
    let _private = hub.publish_ok(&[("topic", &t), ("private", "")]).await;
    for src in ALL_SRCS {
        let (h, evs) = replay(&hub, None, &[&t], &[(src, "earliest")]).await;
        assert_eq!(h.as_deref(), Some("earliest"), "{src:?}");
        assert_eq!(ids(&evs), published, "{src:?}");
        for (i, ev) in evs.iter().enumerate() {
            assert_eq!(ev.data(), i.to_string());
        }
    }
}

/// A-HIST-5, A-HIST-8: an unknown cursor replays nothing and is answered `earliest`; live
/// events still arrive.
#[tokio::test]
async fn a_hist_5_unknown_cursor_replays_nothing() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-5");
    let _ = publish_n(&hub, &t, 3).await;
    let unknown = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    for src in ALL_SRCS {
        let (h, evs) = replay(&hub, None, &[&t], &[(src, &unknown)]).await;
        assert_eq!(h.as_deref(), Some("earliest"), "{src:?}");
        assert!(evs.is_empty(), "{src:?}: replayed {evs:?}");
    }
    let mut sub = SseStream::open(sub_with(&hub, None, &[&t], &[(Src::Header, "nope")])).await;
    let live = hub.publish_ok(&[("topic", &t)]).await;
    assert_eq!(ids(&sub.events_until(&live).await), vec![live]);
}

/// A-HIST-6: exact string lookup; with duplicate ids the earliest occurrence is the anchor and
/// later events with the same id are replayed.
#[tokio::test]
async fn a_hist_6_duplicate_ids_anchor_on_earliest() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-6");
    let dup = format!("dup-{}", uuid::Uuid::new_v4());
    hub.publish_ok(&[("topic", &t), ("id", &dup), ("data", "first")])
        .await;
    let e2 = hub.publish_ok(&[("topic", &t)]).await;
    hub.publish_ok(&[("topic", &t), ("id", &dup), ("data", "second")])
        .await;
    let e4 = hub.publish_ok(&[("topic", &t)]).await;
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &dup)]).await;
    assert_eq!(h.as_deref(), Some(dup.as_str()));
    assert_eq!(ids(&evs), vec![e2, dup.clone(), e4]);
    assert_eq!(evs[1].data(), "second");
    // Exact equality: another case or a prefix is unknown.
    for near in [dup.to_uppercase(), dup[..dup.len() - 1].to_string()] {
        let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &near)]).await;
        assert_eq!(h.as_deref(), Some("earliest"), "{near}");
        assert!(evs.is_empty(), "{near}: {evs:?}");
    }
}

/// A-HIST-7 (SHOULD), C-HAND-1, A-HIST-3: an id older than 10,000 events (the reference's scan
/// limit) is still found, and the whole replay (> 10,000 events) arrives on one connection.
#[tokio::test]
async fn a_hist_7_old_cursor_found_beyond_10000_events() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-7");
    let first = hub.publish_ok(&[("topic", &t)]).await;
    let total = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for h in spawn_workers(&hub, &t, 8, 1270, None, &total) {
        workers.push(h.await.expect("worker"));
    }
    for w in &workers {
        assert!(w.error.is_none(), "publish failed: {:?}", w.error);
    }
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &first)]).await;
    assert_eq!(h.as_deref(), Some(first.as_str()));
    let got = ids(&evs);
    assert_eq!(got.len(), 8 * 1270, "replay after an old cursor");
    assert_no_duplicates(&got);
    assert_ack_order(&got, &workers);
}

/// A-HIST-8, X-7, X-8: the `Last-Event-ID` response header echoes a found cursor, is
/// `earliest` for `earliest`, an unknown cursor or an empty history, and is absent without a
/// cursor (an empty header counts as absent). A classic request gets no `Mercure-Last-Event-ID`.
#[tokio::test]
async fn a_hist_8_cursor_response_header() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-8");
    let head = |rb: RequestBuilder| async move {
        let s = SseStream::open(rb).await;
        assert_eq!(
            s.header("mercure-last-event-id"),
            None,
            "classic request (X-8)"
        );
        s.header("last-event-id")
    };
    // Possibly empty history (own hub): any cursor → earliest.
    let unknown = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let c = [(Src::Header, unknown.as_str())];
    assert_eq!(
        head(sub_with(&hub, None, &[&t], &c)).await.as_deref(),
        Some("earliest")
    );
    let e1 = hub.publish_ok(&[("topic", &t)]).await;
    assert_eq!(head(sub_with(&hub, None, &[&t], &[])).await, None);
    let empty_header = hub.sub_req(&[&t]).header("Last-Event-ID", "");
    assert_eq!(head(empty_header).await, None, "empty header = no cursor");
    for src in ALL_SRCS {
        for (cursor, expected) in [
            (e1.as_str(), e1.as_str()),
            ("earliest", "earliest"),
            (unknown.as_str(), "earliest"),
        ] {
            let got = head(sub_with(&hub, None, &[&t], &[(src, cursor)])).await;
            assert_eq!(got.as_deref(), Some(expected), "{src:?} {cursor}");
        }
        if src != Src::Header {
            let got = head(sub_with(&hub, None, &[&t], &[(src, "")])).await;
            assert_eq!(got, None, "{src:?}: empty value = no cursor");
        }
    }
    // A cursor on an event of another topic is still found (it is the client's own cursor).
    let other = hub.publish_ok(&[("topic", &uniq("a-hist-8-other"))]).await;
    let got = head(sub_with(&hub, None, &[&t], &[(Src::Header, &other)])).await;
    assert_eq!(got.as_deref(), Some(other.as_str()));
}

/// X-7, A-HIST-2: cursor precedence — header, then `last_event_id`, then `lastEventID`, then
/// the legacy `Last-Event-ID` query parameter; the first non-empty source wins.
#[tokio::test]
async fn x_7_cursor_precedence() {
    let hub = Hub::start_default().await;
    let t = uniq("x-7");
    let e = publish_n(&hub, &t, 3).await;
    let (e1, e2, e3) = (e[0].as_str(), e[1].as_str(), e[2].as_str());
    // Each source alone.
    for src in ALL_SRCS {
        let (h, evs) = replay(&hub, None, &[&t], &[(src, e1)]).await;
        assert_eq!(h.as_deref(), Some(e1), "{src:?}");
        assert_eq!(ids(&evs), vec![e2, e3], "{src:?}");
    }
    // Every pair: the higher-precedence source (e2) wins over the lower one (e1).
    for (i, hi) in ALL_SRCS.iter().enumerate() {
        for lo in &ALL_SRCS[i + 1..] {
            let (h, evs) = replay(&hub, None, &[&t], &[(*lo, e1), (*hi, e2)]).await;
            assert_eq!(h.as_deref(), Some(e2), "{hi:?} must win over {lo:?}");
            assert_eq!(ids(&evs), vec![e3], "{hi:?} over {lo:?}");
        }
    }
    // All four at once.
    let all = [
        (Src::Legacy, e1),
        (Src::Camel, e1),
        (Src::Snake, e1),
        (Src::Header, e2),
    ];
    let (h, _) = replay(&hub, None, &[&t], &all).await;
    assert_eq!(h.as_deref(), Some(e2));
    // An empty value is absent: the next source is used.
    for (i, hi) in ALL_SRCS.iter().enumerate() {
        for lo in &ALL_SRCS[i + 1..] {
            let (h, evs) = replay(&hub, None, &[&t], &[(*hi, ""), (*lo, e2)]).await;
            assert_eq!(
                h.as_deref(),
                Some(e2),
                "empty {hi:?} must fall back to {lo:?}"
            );
            assert_eq!(ids(&evs), vec![e3]);
        }
    }
    // An unknown cursor in a higher source is not skipped in favour of a known lower one.
    let (h, evs) = replay(
        &hub,
        None,
        &[&t],
        &[(Src::Header, "nope"), (Src::Camel, e1)],
    )
    .await;
    assert_eq!(h.as_deref(), Some("earliest"));
    assert!(evs.is_empty(), "{evs:?}");
}

/// A-HIST-10, A-AUTH-13, A-HIST-3: private events in a replay are filtered against the
/// reconnecting subscriber's *current* token (not the one used when they were published or
/// first received); anonymous subscribers and tokens without `subscribe` get none.
#[tokio::test]
async fn a_hist_10_replay_filters_private_by_current_token() {
    let hub = Hub::start_default().await;
    let t1 = uniq("a-hist-10-a");
    let t2 = uniq("a-hist-10-b");
    let start = hub.publish_ok(&[("topic", &t1)]).await;
    let p1 = hub.publish_ok(&[("topic", &t1), ("private", "on")]).await;
    let p2 = hub.publish_ok(&[("topic", &t2), ("private", "on")]).await;
    let x = hub.publish_ok(&[("topic", &t1)]).await;
    let p12 = hub
        .publish_ok(&[("topic", &t2), ("topic", &t1), ("private", "")])
        .await;
    let both = hub.subscriber_token_for(&[&t1, &t2]);
    let only2 = hub.subscriber_token_for(&[&t2]);
    let tpl = hub.subscriber_token_for(&[&format!("{t1}{{?x}}")]);
    let none = hub.subscriber_token(&json!({ "mercure": { "subscribe": [] } }));
    let no_claim = hub.subscriber_token(&json!({}));
    let sel = [t1.as_str(), t2.as_str()];
    let cases: Vec<(Option<&str>, Vec<&str>)> = vec![
        (Some(&both), vec![&p1, &p2, &x, &p12]),
        (Some(&only2), vec![&p2, &x, &p12]),
        (Some(&tpl), vec![&p1, &x, &p12]),
        (Some(&none), vec![&x]),
        (Some(&no_claim), vec![&x]),
        (None, vec![&x]),
    ];
    for (i, (token, want)) in cases.iter().enumerate() {
        for cursor in [start.as_str(), "earliest"] {
            let (_, evs) = replay(&hub, *token, &sel, &[(Src::Header, cursor)]).await;
            let mut got = ids(&evs);
            if cursor == "earliest" {
                assert_eq!(got.remove(0), start, "case {i}");
            }
            assert_eq!(got, *want, "case {i}, cursor {cursor}");
        }
    }
}

/// A-HIST-10, A-HIST-5, A-HIST-8: the `Last-Event-ID` response header never reveals the id of
/// an event the subscriber could not read: it is the echoed cursor or `earliest`, never the
/// newest (readable or private) event.
#[tokio::test]
async fn a_hist_10_cursor_header_never_reveals_unreadable_id() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-10");
    let public = hub.publish_ok(&[("topic", &t)]).await;
    let private = hub.publish_ok(&[("topic", &t), ("private", "on")]).await;
    let other_private = hub
        .publish_ok(&[("topic", &uniq("a-hist-10-x")), ("private", "on")])
        .await;
    let unknown = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let tok_other = hub.subscriber_token_for(&["https://example.com/nothing-here"]);
    for token in [None, Some(tok_other.as_str())] {
        for src in ALL_SRCS {
            for cursor in ["earliest", unknown.as_str(), "", "x"] {
                let rb = sub_with(&hub, token, &[&t, "*"], &[(src, cursor)]);
                let s = SseStream::open(rb).await;
                let h = s.header("last-event-id");
                for secret in [&private, &other_private, &public] {
                    assert_ne!(h.as_deref(), Some(secret.as_str()), "{src:?} {cursor:?}");
                }
                if !cursor.is_empty() {
                    assert_eq!(h.as_deref(), Some("earliest"), "{src:?} {cursor:?}");
                }
            }
        }
        // A known private cursor is echoed (the client already knows it), nothing more.
        let (h, evs) = replay(&hub, token, &[&t], &[(Src::Header, &public)]).await;
        assert_eq!(h.as_deref(), Some(public.as_str()));
        assert!(evs.is_empty(), "private event replayed: {evs:?}");
        let (h, _) = replay(&hub, token, &[&t], &[(Src::Header, &private)]).await;
        assert_eq!(h.as_deref(), Some(private.as_str()));
    }
}

/// A-HIST-12, A-SUBS-7: every update is stored — private updates and subscription events
/// included — and can be replayed by a subscriber allowed to read it.
#[tokio::test]
async fn a_hist_12_private_and_subscription_events_are_stored() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_SUBSCRIPTIONS", "true")
        .start()
        .await
    else {
        return;
    };
    let t = uniq("a-hist-12");
    let private = hub.publish_ok(&[("topic", &t), ("private", "on")]).await;
    {
        let _s = SseStream::open(hub.sub_req(&[&t])).await;
    }
    let subs_sel = "/.well-known/mercure/subscriptions{/topic}{/subscriber}";
    let token = hub.subscriber_token_for(&[&t, subs_sel]);
    // The subscription events (active true, then false) are replayed from history.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen.len() < 2 && tokio::time::Instant::now() < deadline {
        let (_, evs) = replay(
            &hub,
            Some(&token),
            &[subs_sel],
            &[(Src::Header, "earliest")],
        )
        .await;
        seen = evs
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(&e.data()).ok())
            .filter(|v| v["topic"] == json!(t))
            .map(|v| v["active"].clone())
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, vec![json!(true), json!(false)]);
    // The private update is replayed to a reader.
    let (_, evs) = replay(&hub, Some(&token), &[&t], &[(Src::Header, "earliest")]).await;
    assert_eq!(ids(&evs), vec![private]);
}

/// A-HIST-13, A-SUBS-15, C-STORE-1: the last event id is restored from the history at startup.
#[tokio::test]
async fn a_hist_13_last_event_id_restored_after_restart() {
    if skip_if_memory() {
        return;
    }
    let Some(mut hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_SUBSCRIPTIONS", "true")
        .start()
        .await
    else {
        return;
    };
    let token = hub.subscriber_token_for(&["/.well-known/mercure/subscriptions"]);
    let last_id = |hub: &Hub| {
        let rb = hub
            .client
            .get(hub.url("/.well-known/mercure/subscriptions"))
            .bearer_auth(&token);
        async move {
            let r = send(rb).await;
            assert_eq!(r.status, 200, "{r:?}");
            let v: Value = serde_json::from_str(&r.body).expect("json");
            v["lastEventID"].as_str().expect("lastEventID").to_string()
        }
    };
    assert_eq!(last_id(&hub).await, "earliest", "nothing stored yet");
    let t = uniq("a-hist-13");
    hub.publish_ok(&[("topic", &t)]).await;
    let last = hub.publish_ok(&[("topic", &t), ("private", "on")]).await;
    assert_eq!(last_id(&hub).await, last);
    hub.stop().await;
    hub.restart().await;
    assert_eq!(last_id(&hub).await, last, "lastEventID after a restart");
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &last)]).await;
    assert_eq!(h.as_deref(), Some(last.as_str()));
    assert!(evs.is_empty());
}

/// A-HIST-13, A-HIST-3, A-SSE-9, C-SHUT-1, C-STORE-1: resume after a graceful restart
/// (SIGTERM, same data dir and port): a subscriber connected during the stop sees its stream end
/// cleanly; reconnecting with the last id it received gives exactly the events published after
/// it — those published before the stop and those published after the restart.
#[tokio::test]
async fn a_hist_13_resume_after_graceful_restart() {
    if skip_if_memory() {
        return;
    }
    let Some(mut hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_WRITE_TIMEOUT", "0s")
        .start()
        .await
    else {
        return;
    };
    let t = uniq("a-hist-13");
    let mut online = SseStream::open(hub.sub_req(&[&t])).await;
    let mut offline = SseStream::open(hub.sub_req(&[&t])).await;
    let a = publish_n(&hub, &t, 3).await;
    assert_eq!(ids(&offline.events_until(&a[2]).await), a);
    drop(offline);
    let mut before = a.clone();
    before.extend(publish_n(&hub, &t, 2).await);
    assert_eq!(ids(&online.events_until(&before[4]).await), before);
    hub.stop().await;
    assert_eq!(
        online.wait_end(WAIT).await,
        Some(crate::sse::End::Clean),
        "stream must end cleanly on shutdown with write_timeout 0s"
    );
    hub.restart().await;
    let after = publish_n(&hub, &t, 3).await;
    // Offline since a[2].
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &a[2])]).await;
    assert_eq!(h.as_deref(), Some(a[2].as_str()));
    let mut want = before[3..].to_vec();
    want.extend(after.clone());
    assert_eq!(ids(&evs), want);
    // Online until the stop: only what was published after the restart.
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Camel, &before[4])]).await;
    assert_eq!(h.as_deref(), Some(before[4].as_str()));
    assert_eq!(ids(&evs), after);
    // And the whole history is still there.
    let (_, evs) = replay(&hub, None, &[&t], &[(Src::Header, "earliest")]).await;
    let mut all = before;
    all.extend(after);
    assert_eq!(ids(&evs), all);
}

/// A-HIST-13, A-PUB-14, C-STORE-1: `kill -9` during a burst of concurrent publishes; after a
/// restart on the same data dir, every id answered 200 before the kill is replayed exactly once,
/// in each publisher connection's acknowledgement order; unacknowledged ones may or may not be
/// there, never twice.
#[tokio::test]
async fn a_hist_13_crash_keeps_every_acknowledged_event() {
    if skip_if_memory() || skip_if_external() {
        return;
    }
    let Some(mut hub) = Hub::builder().anonymous(true).start().await else {
        return;
    };
    let t = uniq("a-hist-13-crash");
    let prefix = format!("crash-{}-w", uuid::Uuid::new_v4().simple());
    let total = Arc::new(AtomicUsize::new(0));
    let handles = spawn_workers(&hub, &t, 4, 1_000_000, Some(&prefix), &total);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while total.load(Ordering::SeqCst) < 600 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "publishing too slow"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    hub.kill9().await;
    let mut workers = Vec::new();
    for h in handles {
        let w = h.await.expect("worker");
        assert!(w.error.is_some(), "a worker finished without failing");
        workers.push(w);
    }
    hub.restart().await;
    let (_, evs) = replay(&hub, None, &[&t], &[(Src::Header, "earliest")]).await;
    let got = ids(&evs);
    assert_no_duplicates(&got);
    assert_ack_order(&got, &workers);
    let acked: usize = workers.iter().map(|w| w.acked.len()).sum();
    let allowed: HashSet<&str> = workers
        .iter()
        .flat_map(|w| w.acked.iter().chain(w.failed.iter()))
        .map(String::as_str)
        .collect();
    for id in &got {
        assert!(allowed.contains(id.as_str()), "never published: {id}");
    }
    // An unacknowledged update, if stored, comes after its connection's acknowledged ones.
    for w in &workers {
        if let (Some(f), Some(last)) = (&w.failed, w.acked.last()) {
            let pos = |id: &str| got.iter().position(|g| g == id);
            if let Some(pf) = pos(f) {
                assert!(pf > pos(last).expect("acked"), "{f} stored before {last}");
            }
        }
    }
    assert!(got.len() >= acked && got.len() <= acked + workers.len());
    eprintln!(
        "crash test: {acked} acknowledged, {} replayed after restart",
        got.len()
    );
}

/// A-HIST-13, C-STORE-1: with the memory transport the history does not survive a restart: an
/// old cursor is unknown (`earliest`) and nothing is replayed.
#[tokio::test]
async fn a_hist_13_memory_transport_forgets_on_restart() {
    let Some(mut hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_TRANSPORT", "memory")
        .start()
        .await
    else {
        return;
    };
    let t = uniq("a-hist-13-memory");
    let e = publish_n(&hub, &t, 2).await;
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &e[0])]).await;
    assert_eq!(
        h.as_deref(),
        Some(e[0].as_str()),
        "kept in RAM while running"
    );
    assert_eq!(ids(&evs), vec![e[1].clone()]);
    hub.stop().await;
    hub.restart().await;
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &e[0])]).await;
    assert_eq!(h.as_deref(), Some("earliest"));
    assert!(evs.is_empty(), "{evs:?}");
    let (_, evs) = replay(&hub, None, &[&t], &[(Src::Header, "earliest")]).await;
    assert!(evs.is_empty(), "{evs:?}");
}

/// A-HIST-9, C-HAND-1, A-SUB-7, X-7: resume under concurrent publishing. 2,000 updates are
/// published as fast as possible from 3 connections while a subscriber disconnects and
/// reconnects with its last id several times (rotating through the cursor sources). Its
/// concatenated ids equal the hub's publish order (a final `earliest` replay, which holds every
/// acknowledged id exactly once, consistent with each connection's acknowledgement order).
#[tokio::test]
async fn a_hist_9_resume_under_concurrent_publishing() {
    let hub = Hub::start_default().await;
    let t = uniq("a-hist-9");
    let end = format!("end-{}", uuid::Uuid::new_v4());
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    let total = Arc::new(AtomicUsize::new(0));
    let handles = spawn_workers(&hub, &t, 3, 667, None, &total);
    let publisher = {
        let url = hub.url(HUB_PATH);
        let token = hub.publisher_token_all();
        let (t, end) = (t.clone(), end.clone());
        let client = hub.client.clone();
        tokio::spawn(async move {
            let mut workers = Vec::new();
            for h in handles {
                workers.push(h.await.expect("worker"));
            }
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_encode(&[("topic", &t), ("id", &end)]))
                .send()
                .await
                .expect("publish end marker");
            assert_eq!(r.status(), 200);
            workers
        })
    };
    let mut received: Vec<String> = Vec::new();
    let mut reconnects = 0;
    'outer: loop {
        let quota = fastrand::usize(50..400);
        let mut n = 0;
        while n < quota || received.is_empty() {
            match sub.next_event(WAIT).await {
                Some(ev) => {
                    let id = ev.id.expect("id");
                    let done = id == end;
                    received.push(id);
                    n += 1;
                    if done {
                        break 'outer;
                    }
                }
                // The hub may end a stream (e.g. a slow subscriber, C-SLOW-1): reconnect.
                None => {
                    assert!(
                        sub.wait_end(Duration::ZERO).await.is_some(),
                        "no event for {WAIT:?} ({} received)",
                        received.len()
                    );
                    break;
                }
            }
        }
        let last = received.last().expect("at least one event").clone();
        let src = ALL_SRCS[reconnects % 4];
        sub = SseStream::open(sub_with(&hub, None, &[&t], &[(src, &last)])).await;
        assert_eq!(sub.header("last-event-id").as_deref(), Some(last.as_str()));
        reconnects += 1;
    }
    let workers = publisher.await.expect("publisher");
    for w in &workers {
        assert!(w.error.is_none(), "publish failed: {:?}", w.error);
    }
    assert!(reconnects >= 3, "only {reconnects} reconnections");
    let (_, evs) = replay(&hub, None, &[&t], &[(Src::Header, "earliest")]).await;
    let order = ids(&evs);
    assert_no_duplicates(&order);
    assert_ack_order(&order, &workers);
    assert_eq!(order.len(), 2002, "every acknowledged id exactly once");
    assert_eq!(order.last(), Some(&end));
    assert_no_duplicates(&received);
    assert_eq!(
        received.len(),
        order.len(),
        "gap or duplicate while resuming"
    );
    if let Some(i) = (0..order.len()).find(|&i| received[i] != order[i]) {
        let lo = i.saturating_sub(3);
        panic!(
            "resumed sequence differs from publish order at {i}: received {:?}, expected {:?}",
            &received[lo..(i + 3).min(received.len())],
            &order[lo..(i + 3).min(order.len())]
        );
    }
    eprintln!("resume test: {reconnects} reconnections");
}

/// C-HAND-1, A-HIST-9, A-SUB-7: a 5,000-event replay is delivered completely on one connection
/// (not cut off after 1,000), followed without gap or duplicate by updates published while it
/// was replaying.
#[tokio::test]
async fn c_hand_1_long_replay_on_one_connection() {
    let hub = Hub::start_default().await;
    let t = uniq("c-hand-1");
    let total = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for h in spawn_workers(&hub, &t, 8, 625, None, &total) {
        workers.push(h.await.expect("worker"));
    }
    for w in &workers {
        assert!(w.error.is_none(), "publish failed: {:?}", w.error);
    }
    let mut sub = SseStream::open(sub_with(&hub, None, &[&t], &[(Src::Header, "earliest")])).await;
    // Live updates while the replay is (at most) in progress: they must follow it.
    let live = publish_n(&hub, &t, 200).await;
    let got = ids(&sub.events_until(live.last().expect("live")).await);
    assert_eq!(got.len(), 5200, "replay cut off or duplicated");
    assert_no_duplicates(&got);
    assert_ack_order(&got[..5000], &workers);
    assert_eq!(got[5000..], live[..]);
    assert_eq!(
        sub.wait_end(Duration::from_millis(200)).await,
        None,
        "stream ended"
    );
}

/// C-STORE-1, A-HIST-11, A-HIST-5: retention by count (`history_size` 5): `earliest` replays
/// only the newest 5; a cursor on a dropped event is unknown (`earliest`, nothing replayed);
/// a retained cursor still works.
#[tokio::test]
async fn c_store_1_retention_by_count() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_HISTORY_SIZE", "5")
        .start()
        .await
    else {
        return;
    };
    let t = uniq("c-store-1");
    let e = publish_n(&hub, &t, 8).await;
    // No sentinel before the replay is complete: a sentinel would itself shift the window.
    let mut sub = SseStream::open(sub_with(&hub, None, &[&t], &[(Src::Header, "earliest")])).await;
    assert_eq!(ids(&sub.events_until(&e[7]).await), e[3..].to_vec());
    let mut sub = SseStream::open(sub_with(&hub, None, &[&t], &[(Src::Header, &e[4])])).await;
    assert_eq!(sub.header("last-event-id").as_deref(), Some(e[4].as_str()));
    assert_eq!(ids(&sub.events_until(&e[7]).await), e[5..].to_vec());
    // Dropped cursor → unknown.
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &e[1])]).await;
    assert_eq!(h.as_deref(), Some("earliest"));
    assert!(evs.is_empty(), "{evs:?}");
}

/// C-STORE-1, A-HIST-11, A-HIST-5: retention by age (`history_max_age` 1s): after more than
/// a second only the newer event is replayed, and the old cursor is unknown.
#[tokio::test]
async fn c_store_1_retention_by_age() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_HISTORY_MAX_AGE", "1s")
        .start()
        .await
    else {
        return;
    };
    let t = uniq("c-store-1-age");
    let old = hub.publish_ok(&[("topic", &t)]).await;
    let (_, evs) = replay(&hub, None, &[&t], &[(Src::Header, "earliest")]).await;
    assert_eq!(ids(&evs), vec![old.clone()], "still retained");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let new = hub.publish_ok(&[("topic", &t)]).await;
    let (_, evs) = replay(&hub, None, &[&t], &[(Src::Header, "earliest")]).await;
    assert_eq!(ids(&evs), vec![new]);
    let (h, evs) = replay(&hub, None, &[&t], &[(Src::Header, &old)]).await;
    assert_eq!(h.as_deref(), Some("earliest"));
    assert!(evs.is_empty(), "{evs:?}");
}

/// C-ID-1: generated update ids are `urn:uuid:` UUIDv7, time-ordered across publishes, and the
/// same in the replay.
#[tokio::test]
async fn c_id_1_update_ids_are_time_ordered_v7() {
    let hub = Hub::start_default().await;
    let t = uniq("c-id-1");
    let e = publish_n(&hub, &t, 20).await;
    let millis = |id: &str| {
        let u =
            uuid::Uuid::parse_str(id.strip_prefix("urn:uuid:").expect("urn:uuid:")).expect("uuid");
        assert_eq!(u.get_version_num(), 7, "{id}");
        assert_eq!(id, format!("urn:uuid:{}", u.hyphenated()), "lower-case");
        let (s, ns) = u.get_timestamp().expect("v7 timestamp").to_unix();
        s * 1000 + u64::from(ns) / 1_000_000
    };
    let ts: Vec<u64> = e.iter().map(|id| millis(id)).collect();
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "not time-ordered: {ts:?}"
    );
    let now = crate::tokens::now() * 1000;
    assert!(
        ts[0] + 60_000 > now && ts[19] < now + 60_000,
        "timestamp is not now"
    );
    let (_, evs) = replay(&hub, None, &[&t], &[(Src::Header, "earliest")]).await;
    assert_eq!(ids(&evs), e);
}
