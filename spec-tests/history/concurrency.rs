//! A-HIST-9: resuming while updates are published concurrently from several connections.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use super::burst::{assert_ack_order, assert_no_duplicates, spawn_workers};
use super::{ids, replay, sub_with, Src, ALL_SRCS};
use crate::harness::{uniq, Hub, HUB_PATH, WAIT};
use crate::http::form_encode;
use crate::sse::SseStream;

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
