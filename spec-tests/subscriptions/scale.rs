//! A-SUBS-13 at scale: 1,000 subscribers joining and leaving in waves, the API collection and
//! the event stream compared at every step.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::{api_get, collection_pairs, json_ok, subs_hub, watch_token, API, SUBS_TPL};
use crate::harness::uniq;
use crate::http::{form_encode, pct};
use crate::sse::{Event, RawSse, SseStream};

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
