//! A.7 Reconnection and history (A-HIST-*), X-7, X-8, C-HAND-1, C-STORE-1, C-ID-1; resuming
//! under load, across a graceful restart and across a crash. One file per family; the cursor
//! helpers they share are here, the concurrent publishers in `burst.rs`.

mod burst;
mod concurrency;
mod cursors;
mod restarts;
mod storage;

use reqwest::{Method, RequestBuilder};

use crate::harness::{uniq, Hub};
use crate::http::form_encode;
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
