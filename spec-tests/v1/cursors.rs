//! B-HIST-2…7, X-7, X-8: cursors on 1.0 and mixed requests — `last_event_id`, the
//! `Mercure-Last-Event-ID` response header (also for an empty cursor), precedence of the four
//! sources (query and `QUERY` body), both headers on mixed requests, replays re-checked against
//! the current token.

use reqwest::RequestBuilder;
use serde_json::json;

use super::{get, query_req};
use crate::harness::{uniq, Hub};
use crate::http::form_encode;
use crate::sse::{Event, Probe, SseStream};
use crate::tokens::{matcher, mercure_detail};

/// Query pairs of a request.
type Pairs<'a> = &'a [(&'a str, &'a str)];

const MLEI: &str = "mercure-last-event-id";
const LEI: &str = "last-event-id";

/// Opens `rb` (whose selectors include `sentinel`), returns both cursor response headers and the
/// events received before a sentinel published right after the head (A-SUB-7).
async fn open(
    hub: &Hub,
    rb: RequestBuilder,
    sentinel: String,
) -> (Option<String>, Option<String>, Vec<String>) {
    let stream = SseStream::open(rb).await;
    let headers = (stream.header(MLEI), stream.header(LEI));
    let mut p = Probe { stream, sentinel };
    let evs: Vec<Event> = p.drain(hub).await;
    (
        headers.0,
        headers.1,
        evs.into_iter().filter_map(|e| e.id).collect(),
    )
}

/// A 1.0 `GET` on `match=topic` plus a sentinel, with extra `pairs` and an optional
/// `Last-Event-ID` request header.
async fn v1(
    hub: &Hub,
    topic: &str,
    pairs: &[(&str, &str)],
    header: Option<&str>,
) -> (Option<String>, Option<String>, Vec<String>) {
    let sentinel = uniq("sentinel");
    let mut all = vec![("match", topic), ("match", sentinel.as_str())];
    all.extend_from_slice(pairs);
    let mut rb = get(hub, &all);
    if let Some(h) = header {
        rb = rb.header("Last-Event-ID", h);
    }
    open(hub, rb, sentinel).await
}

/// Publishes `n` updates on `topic`; returns their ids.
async fn publish_n(hub: &Hub, topic: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(hub.publish_ok(&[("topic", topic)]).await);
    }
    ids
}

/// B-HIST-7, B-HIST-2, B-HIST-4, X-7, X-8: a 1.0 request with a cursor gets
/// `Mercure-Last-Event-ID` (and never `Last-Event-ID`): the cursor when found (then the later
/// events are replayed), `earliest` for `earliest` (everything replayed) or an unknown cursor
/// (nothing replayed); an empty `last_event_id` or `Last-Event-ID` header counts as a cursor
/// answered `earliest`; without a cursor neither header is sent. Every X-7 name is accepted.
#[tokio::test]
async fn b_hist_7_mercure_last_event_id() {
    let hub = Hub::start_default().await;
    let t = uniq("b-hist-7");
    let ids = publish_n(&hub, &t, 2).await;
    let (e1, e2) = (ids[0].as_str(), ids[1].as_str());
    let found = (Some(e1.to_string()), None, vec![e2.to_string()]);
    let earliest = |replayed: Vec<String>| (Some("earliest".to_string()), None, replayed);
    assert_eq!(
        v1(&hub, &t, &[("last_event_id", e1)], None).await,
        found,
        "last_event_id"
    );
    assert_eq!(v1(&hub, &t, &[], Some(e1)).await, found, "header");
    assert_eq!(
        v1(&hub, &t, &[("lastEventID", e1)], None).await,
        found,
        "lastEventID"
    );
    assert_eq!(
        v1(&hub, &t, &[("Last-Event-ID", e1)], None).await,
        found,
        "legacy parameter"
    );
    assert_eq!(
        v1(&hub, &t, &[("last_event_id", "earliest")], None).await,
        earliest(ids.clone())
    );
    assert_eq!(
        v1(&hub, &t, &[("last_event_id", "urn:unknown")], None).await,
        earliest(vec![])
    );
    assert_eq!(
        v1(&hub, &t, &[("last_event_id", "")], None).await,
        earliest(vec![]),
        "empty parameter"
    );
    assert_eq!(
        v1(&hub, &t, &[], Some("")).await,
        earliest(vec![]),
        "empty header"
    );
    assert_eq!(
        v1(&hub, &t, &[], None).await,
        (None, None, vec![]),
        "no cursor"
    );
    // An empty `lastEventID` is absent and is not one of B-HIST-7's empty cursors.
    assert_eq!(
        v1(&hub, &t, &[("lastEventID", "")], None).await,
        (None, None, vec![])
    );
}

/// X-7, B-HIST-2, B-SUB-2: on 1.0 requests the non-empty header wins, then `last_event_id`,
/// then `lastEventID`, then the legacy parameter, an empty value counting as absent; in a
/// `QUERY` request the query value wins over the body value and the header over both.
#[tokio::test]
async fn x_7_cursor_precedence_on_1_0_requests() {
    let hub = Hub::start_default().await;
    let t = uniq("x-7");
    let ids = publish_n(&hub, &t, 5).await;
    let from = |i: usize| (Some(ids[i].clone()), None, ids[i + 1..].to_vec());
    let (e0, e1, e2, e3) = (
        ids[0].as_str(),
        ids[1].as_str(),
        ids[2].as_str(),
        ids[3].as_str(),
    );
    // (query cursors, header, index of the winning id)
    let cases: [(Pairs, Option<&str>, usize); 6] = [
        (&[("last_event_id", e1)], Some(e0), 0),
        (&[("last_event_id", e1), ("lastEventID", e2)], Some(""), 1),
        (&[("lastEventID", e2), ("last_event_id", e1)], None, 1),
        (&[("last_event_id", ""), ("lastEventID", e2)], None, 2),
        (&[("Last-Event-ID", e3), ("lastEventID", e2)], None, 2),
        (&[("Last-Event-ID", e3)], None, 3),
    ];
    for (pairs, header, winner) in cases {
        let got = v1(&hub, &t, pairs, header).await;
        assert_eq!(got, from(winner), "{pairs:?} header {header:?}");
    }
    let query = |q: Vec<(&str, &str)>, body: Vec<(&str, &str)>, header: Option<&str>| {
        let sentinel = uniq("sentinel");
        let mut all = vec![("match", t.as_str())];
        all.extend(q);
        let body = format!(
            "{}&{}",
            form_encode(&[("match", &sentinel)]),
            form_encode(&body)
        );
        let mut rb = query_req(&hub, &all, &body);
        if let Some(h) = header {
            rb = rb.header("Last-Event-ID", h);
        }
        open(&hub, rb, sentinel)
    };
    assert_eq!(
        query(vec![], vec![("last_event_id", e1)], None).await,
        from(1),
        "body"
    );
    assert_eq!(
        query(
            vec![("last_event_id", e2)],
            vec![("last_event_id", e1)],
            None
        )
        .await,
        from(2),
        "query over body"
    );
    assert_eq!(
        query(
            vec![("last_event_id", e2)],
            vec![("last_event_id", e1)],
            Some(e0)
        )
        .await,
        from(0),
        "header over both"
    );
    assert_eq!(
        query(vec![], vec![("lastEventID", e3)], None).await,
        from(3),
        "lastEventID in the body"
    );
}

/// X-8, A-HIST-8, B-HIST-7: the cursor header follows the request's dialect — classic →
/// `Last-Event-ID` only, 1.0 → `Mercure-Last-Event-ID` only, mixed → both with the same value.
#[tokio::test]
async fn x_8_cursor_headers_by_dialect() {
    let hub = Hub::start_default().await;
    let t = uniq("x-8");
    let e1 = hub.publish_ok(&[("topic", &t)]).await;
    let mixed = |cursor: Option<&str>| {
        let sentinel = uniq("sentinel");
        let mut pairs = vec![("topic", t.as_str()), ("match", sentinel.as_str())];
        if let Some(c) = cursor {
            pairs.push(("last_event_id", c));
        }
        open(&hub, get(&hub, &pairs), sentinel)
    };
    let (m, l, _) = mixed(Some(&e1)).await;
    assert_eq!(
        (m.as_deref(), l.as_deref()),
        (Some(e1.as_str()), Some(e1.as_str())),
        "mixed, found"
    );
    let (m, l, _) = mixed(Some("urn:unknown")).await;
    assert_eq!(
        (m.as_deref(), l.as_deref()),
        (Some("earliest"), Some("earliest")),
        "mixed, unknown"
    );
    let (m, l, _) = mixed(None).await;
    assert_eq!((m, l), (None, None), "mixed, no cursor");
    let sentinel = uniq("sentinel");
    let rb = get(
        &hub,
        &[("topic", &t), ("topic", &sentinel), ("last_event_id", &e1)],
    );
    let (m, l, replayed) = open(&hub, rb, sentinel).await;
    assert_eq!(
        (m, l.as_deref()),
        (None, Some(e1.as_str())),
        "classic with last_event_id"
    );
    assert!(replayed.is_empty());
    let (m, l, _) = v1(&hub, &t, &[("last_event_id", &e1)], None).await;
    assert_eq!((m.as_deref(), l), (Some(e1.as_str()), None), "1.0");
}

/// B-HIST-3, B-AD-6, B-HIST-7, A-HIST-10: a 1.0 replay delivers private events only under the
/// reconnecting subscriber's current grants, and the cursor header never names an event the
/// subscriber cannot read.
#[tokio::test]
async fn b_hist_3_replay_rechecked_against_current_token() {
    let hub = Hub::start_default().await;
    let t = uniq("b-hist-3");
    let p1 = hub.publish_ok(&[("topic", &t), ("private", "on")]).await;
    let e2 = hub.publish_ok(&[("topic", &t)]).await;
    let granted = hub.v1_subscriber_token_for(&[(&t, None)]);
    let other = hub.v1_subscriber_token(json!([mercure_detail(
        &["subscribe"],
        vec![matcher("urn:other", None)]
    )]));
    for (token, want) in [
        (Some(&granted), vec![p1.clone(), e2.clone()]),
        (Some(&other), vec![e2.clone()]),
        (None, vec![e2.clone()]),
    ] {
        let sentinel = uniq("sentinel");
        let mut rb = get(
            &hub,
            &[
                ("match", &t),
                ("match", &sentinel),
                ("last_event_id", "earliest"),
            ],
        );
        if let Some(tok) = token {
            rb = rb.bearer_auth(tok);
        }
        let (m, l, ids) = open(&hub, rb, sentinel).await;
        assert_eq!((m.as_deref(), l), (Some("earliest"), None));
        assert_eq!(ids, want, "token granted: {}", token == Some(&granted));
    }
    let sentinel = uniq("sentinel");
    let rb = get(
        &hub,
        &[
            ("match", &t),
            ("match", &sentinel),
            ("last_event_id", "urn:nope"),
        ],
    );
    let (m, _, ids) = open(&hub, rb, sentinel).await;
    assert_eq!((m.as_deref(), ids), (Some("earliest"), vec![]));
}

/// B-HIST-5, A-HIST-6: with duplicate ids the earliest occurrence is the anchor of a 1.0 cursor;
/// later events with the same id are replayed.
#[tokio::test]
async fn b_hist_5_duplicate_ids_anchor_on_earliest() {
    let hub = Hub::start_default().await;
    let t = uniq("b-hist-5");
    let dup = format!("urn:dup:{}", uuid::Uuid::new_v4());
    hub.publish_ok(&[("topic", &t), ("id", &dup)]).await;
    let e2 = hub.publish_ok(&[("topic", &t)]).await;
    hub.publish_ok(&[("topic", &t), ("id", &dup)]).await;
    let (m, _, ids) = v1(&hub, &t, &[("last_event_id", &dup)], None).await;
    assert_eq!(m.as_deref(), Some(dup.as_str()));
    assert_eq!(ids, vec![e2, dup]);
}
