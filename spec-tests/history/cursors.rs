//! A-HIST-1…8, A-HIST-10, A-HIST-12, X-7, X-8: ids, cursors and their precedence, what a
//! replay holds and the cursor response header.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use reqwest::RequestBuilder;
use serde_json::{json, Value};

use super::burst::{assert_ack_order, assert_no_duplicates, spawn_workers};
use super::{ids, publish_n, replay, sub_with, Src, ALL_SRCS};
use crate::harness::{uniq, Hub, WAIT};
use crate::sse::SseStream;

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
