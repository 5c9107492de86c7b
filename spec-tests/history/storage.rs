//! C-HAND-1, C-STORE-1, C-ID-1: long replays on one connection, retention by count and age,
//! time-ordered ids.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use super::burst::{assert_ack_order, assert_no_duplicates, spawn_workers};
use super::{ids, publish_n, replay, sub_with, Src};
use crate::harness::{uniq, Hub};
use crate::sse::SseStream;

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
