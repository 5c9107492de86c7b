//! A-HIST-13: the history and the last event id across a graceful restart and a crash.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::burst::{assert_ack_order, assert_no_duplicates, spawn_workers};
use super::{ids, publish_n, replay, skip_if_memory, Src};
use crate::harness::{skip_if_external, uniq, Hub, WAIT};
use crate::http::send;
use crate::sse::SseStream;

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
