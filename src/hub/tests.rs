//! The hub's tests: routing and private access, replay → live handover, slow subscribers,
//! heartbeats and lifetimes, gathering and lent sinks, over an in-memory history.

use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_core::Stream;

use super::*;
use crate::log::{MemoryLog, Retention};

fn hub(capacity: usize) -> Arc<Hub> {
    let log = MemoryLog::new(Retention {
        max_events: 0,
        max_age: Duration::ZERO,
    });
    Hub::new(Arc::new(log), delivery(capacity), false)
}

fn delivery(queue_capacity: usize) -> Delivery {
    Delivery {
        queue_capacity,
        batch_window: BATCH_WINDOW,
        compression_min_size: crate::compress::DEFAULT_MIN_SIZE,
    }
}

fn update(id: &str, topics: &[&str], private: bool) -> Update {
    crate::event::Draft::new(topics.iter().map(|t| t.to_string()).collect())
        .and_then(|draft| draft.id(Some(id.into())).private(private).build())
        .expect("a valid update")
}

/// Drains what a stream has ready now (without the opening comment) as ids.
fn ready_ids(stream: &mut EventStream) -> Vec<String> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut ids = Vec::new();
    while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut *stream).poll_next(&mut cx) {
        // A replayed batch arrives as one chunk of several frames.
        let text = String::from_utf8(frame.to_vec()).expect("utf8");
        ids.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned),
        );
    }
    ids
}

use std::pin::Pin;

fn request(hub: &Hub, selectors: &[&str], access: &[&str], cursor: Cursor) -> Request {
    Request {
        selectors: hub.selectors(selectors.iter().copied()),
        private_access: access.iter().map(|a| hub.matcher().selector(a)).collect(),
        payload: None,
        cursor,
        compression: None,
    }
}

fn open(hub: &Arc<Hub>, selectors: &[&str], access: &[&str], cursor: Cursor) -> EventStream {
    untimed(hub, request(hub, selectors, access, cursor))
}

/// The stream of `request`, without heartbeat or end of life.
fn untimed(hub: &Arc<Hub>, request: Request) -> EventStream {
    let subscription = hub.subscribe(request).expect("subscribe");
    EventStream::new(
        subscription,
        StreamOptions {
            heartbeat: None,
            lifetime: None,
        },
    )
}

#[tokio::test]
async fn routes_by_exact_template_and_wildcard_once_per_update() {
    let hub = hub(100);
    let mut exact = open(&hub, &["https://ex.com/a"], &[], Cursor::None);
    let mut template = open(
        &hub,
        &["https://ex.com/{x}", "https://ex.com/a"],
        &[],
        Cursor::None,
    );
    let mut wildcard = open(&hub, &["*"], &[], Cursor::None);
    hub.publish(update(
        "1",
        &["https://ex.com/a", "https://ex.com/b"],
        false,
    ))
    .await
    .expect("publish");
    hub.publish(update("2", &["https://ex.com/b"], false))
        .await
        .expect("publish");
    hub.publish(update("3", &["https://other.com/"], false))
        .await
        .expect("publish");
    assert_eq!(ready_ids(&mut exact), ["1"]);
    assert_eq!(ready_ids(&mut template), ["1", "2"]);
    assert_eq!(ready_ids(&mut wildcard), ["1", "2", "3"]);
}

#[tokio::test]
async fn private_updates_need_a_matching_grant_on_any_topic() {
    let hub = hub(100);
    let mut anonymous = open(&hub, &["*"], &[], Cursor::None);
    let mut granted = open(
        &hub,
        &["https://ex.com/books/{id}"],
        &["https://ex.com/users/foo/{?topic}"],
        Cursor::None,
    );
    let topics = [
        "https://ex.com/books/1",
        "https://ex.com/users/foo/?topic=x",
    ];
    hub.publish(update("p1", &topics, true))
        .await
        .expect("publish");
    hub.publish(update("p2", &["https://ex.com/books/2"], true))
        .await
        .expect("publish");
    assert_eq!(ready_ids(&mut anonymous), Vec::<String>::new());
    assert_eq!(ready_ids(&mut granted), ["p1"]);
}

#[tokio::test]
async fn replay_then_live_without_gap_or_duplicate() {
    let hub = hub(100);
    for i in 0..600 {
        hub.publish(update(&i.to_string(), &["t"], false))
            .await
            .expect("publish");
    }
    let mut stream = open(&hub, &["t"], &[], Cursor::Id("99".into()));
    hub.publish(update("live", &["t"], false))
        .await
        .expect("publish");
    let ids = ready_ids(&mut stream);
    let expected: Vec<String> = (100..600)
        .map(|i| i.to_string())
        .chain(["live".to_string()])
        .collect();
    assert_eq!(ids, expected);
}

/// Issue 21: a resuming client's first replayed events share the first write with the opening
/// comment, and so with the response head.
#[tokio::test]
async fn the_first_replayed_events_go_out_with_the_opening() {
    let hub = hub(100);
    for id in ["a", "b"] {
        hub.publish(update(id, &["t"], false))
            .await
            .expect("publish");
    }
    let subscription = hub
        .subscribe(request(&hub, &["t"], &[], Cursor::Id("a".into())))
        .expect("subscribe");
    let options = StreamOptions {
        heartbeat: None,
        lifetime: None,
    };
    let mut stream = EventStream::new(subscription, options);
    let first = batch_now(&mut stream, &Flag::new()).expect("open");
    assert!(first.starts_with(':'), "{first}");
    assert!(
        first.contains("id: b\n") && !first.contains("id: a\n"),
        "{first}"
    );
}

#[tokio::test]
async fn unknown_cursor_replays_nothing_and_echoes_earliest() {
    let hub = hub(100);
    hub.publish(update("a", &["t"], false))
        .await
        .expect("publish");
    let subscription = hub
        .subscribe(request(&hub, &["t"], &[], Cursor::Id("nope".into())))
        .expect("subscribe");
    assert_eq!(subscription.cursor_echo(), Some("earliest"));
    assert!(subscription.replay().is_none());
    let known = hub
        .subscribe(request(&hub, &["t"], &[], Cursor::Earliest))
        .expect("subscribe");
    assert!(known.replay().is_some());
}

#[tokio::test]
async fn a_full_queue_disconnects_only_that_subscriber() {
    let hub = hub(2);
    let mut slow = open(&hub, &["t"], &[], Cursor::None);
    let mut fast = open(&hub, &["t"], &[], Cursor::None);
    for i in 0..2 {
        hub.publish(update(&i.to_string(), &["t"], false))
            .await
            .expect("publish");
    }
    assert_eq!(ready_ids(&mut fast), ["0", "1"]);
    hub.publish(update("2", &["t"], false))
        .await
        .expect("publish");
    assert_eq!(ready_ids(&mut fast), ["2"]);
    assert_eq!(ready_ids(&mut slow), ["0", "1"]);
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(
        Pin::new(&mut slow).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

#[tokio::test]
async fn dropping_a_stream_unregisters_it() {
    let hub = hub(10);
    let stream = open(&hub, &["t", "{x}", "*"], &[], Cursor::None);
    assert_eq!(hub.subscribers_connected(), 1);
    drop(stream);
    assert_eq!(hub.subscribers_connected(), 0);
    hub.publish(update("x", &["t"], false))
        .await
        .expect("publish after unregister");
}

#[tokio::test]
async fn subscription_events_follow_registration_and_removal() {
    let log = MemoryLog::new(Retention {
        max_events: 0,
        max_age: Duration::ZERO,
    });
    let hub = Hub::new(Arc::new(log), delivery(100), true);
    let mut watcher = open(
        &hub,
        &["/.well-known/mercure/subscriptions/{topic}/{subscriber}"],
        &["*"],
        Cursor::None,
    );
    let mut cx = Context::from_waker(Waker::noop());
    let _opening = Pin::new(&mut watcher).poll_next(&mut cx);
    let watched = hub
        .subscribe(request(&hub, &["https://ex.com/a"], &[], Cursor::None))
        .expect("subscribe");
    let subscriber_id = watched.subscriber.id.to_string();
    assert_eq!(hub.active_subscribers().len(), 2);
    drop(watched);
    let mut frames = Vec::new();
    while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut watcher).poll_next(&mut cx) {
        frames.push(String::from_utf8(frame.to_vec()).expect("utf8"));
    }
    // The watcher first sees its own `active: true` event: it is registered before it is announced.
    assert_eq!(frames.len(), 3, "{frames:?}");
    let about_watched: Vec<_> = frames
        .iter()
        .filter(|f| f.contains(&subscriber_id))
        .collect();
    assert_eq!(about_watched.len(), 2);
    assert!(
        about_watched[0].contains("data:   \"active\": true"),
        "{}",
        about_watched[0]
    );
    assert!(
        about_watched[1].contains("data:   \"active\": false"),
        "{}",
        about_watched[1]
    );
    assert!(frames.iter().all(|f| !f.contains("event:")));
}

#[tokio::test]
async fn shutdown_ends_streams_with_a_final_comment_after_queued_events() {
    let hub = hub(10);
    let mut stream = open(&hub, &["t"], &[], Cursor::None);
    let mut cx = Context::from_waker(Waker::noop());
    let _opening = Pin::new(&mut stream).poll_next(&mut cx);
    hub.publish(update("queued", &["t"], false))
        .await
        .expect("publish");
    hub.shutdown();
    let mut frames = Vec::new();
    while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut stream).poll_next(&mut cx) {
        frames.push(String::from_utf8(frame.to_vec()).expect("utf8"));
    }
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(frames[0].starts_with("id: queued\n"));
    assert_eq!(frames[1], ":\n");
    assert!(matches!(
        Pin::new(&mut stream).poll_next(&mut cx),
        Poll::Ready(None)
    ));
}

/// A waker that records whether it was woken (also used by the queue's tests).
pub(super) struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Flag {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self(std::sync::atomic::AtomicBool::new(false)))
    }

    /// Whether it was woken since the last call.
    pub(super) fn take(&self) -> bool {
        self.0.swap(false, std::sync::atomic::Ordering::SeqCst)
    }
}

/// What a direct-writer poll of `stream` yields now, as text; `None` once it ended.
fn batch_now(stream: &mut EventStream, waker: &Arc<Flag>) -> Option<String> {
    let waker = Waker::from(waker.clone());
    let mut frames = Vec::new();
    let now = tokio::time::Instant::now();
    match stream.poll_batch(&mut Context::from_waker(&waker), now, &mut frames, 64) {
        Poll::Ready(false) => None,
        _ => Some(frames.iter().map(|f| String::from_utf8_lossy(f)).collect()),
    }
}

fn timed(hub: &Arc<Hub>, heartbeat: Option<u64>, lifetime: Option<u64>) -> EventStream {
    let subscription = hub
        .subscribe(request(hub, &["t"], &[], Cursor::None))
        .expect("subscribe");
    let mut stream = EventStream::new(
        subscription,
        StreamOptions {
            heartbeat: heartbeat.map(Duration::from_secs),
            lifetime: lifetime.map(|s| (Duration::from_secs(s), Disconnect::Timeout)),
        },
    );
    stream.set_framing(crate::event::Framing::Chunk);
    stream
}

#[tokio::test(start_paused = true)]
async fn heartbeat_follows_silence_and_each_event_restarts_it() {
    let hub = hub(100);
    let woken = Flag::new();
    let mut stream = timed(&hub, Some(10), None);
    assert_eq!(
        batch_now(&mut stream, &woken).as_deref(),
        Some("2\r\n:\n\r\n")
    );
    assert_eq!(batch_now(&mut stream, &woken).as_deref(), Some(""));
    tokio::time::advance(Duration::from_secs(6)).await;
    hub.publish(update("e1", &["t"], false))
        .await
        .expect("publish");
    assert!(woken.take(), "a queued event wakes the stream");
    let event = batch_now(&mut stream, &woken).expect("open");
    assert!(event.contains("id: e1\n"), "{event}");
    // The timer was armed for t=10 s: it fires, finds the heartbeat not yet due and re-arms.
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(batch_now(&mut stream, &woken).as_deref(), Some(""));
    woken.take();
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(
        woken.take(),
        "the heartbeat wakes the stream 10 s after the event"
    );
    assert_eq!(
        batch_now(&mut stream, &woken).as_deref(),
        Some("2\r\n:\n\r\n")
    );
}

#[tokio::test(start_paused = true)]
async fn lifetime_ends_the_stream_even_between_heartbeats() {
    let hub = hub(100);
    let woken = Flag::new();
    let mut stream = timed(&hub, Some(10), Some(25));
    assert!(batch_now(&mut stream, &woken).is_some());
    assert_eq!(batch_now(&mut stream, &woken).as_deref(), Some(""));
    for _ in 0..2 {
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(woken.take());
        assert_eq!(
            batch_now(&mut stream, &woken).as_deref(),
            Some("2\r\n:\n\r\n")
        );
        assert_eq!(batch_now(&mut stream, &woken).as_deref(), Some(""));
    }
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(woken.take(), "the end of the lifetime wakes the stream");
    assert_eq!(batch_now(&mut stream, &woken), None);
}

/// R-TOKEN: a lifetime or heartbeat period at the extreme (`write_timeout`/`heartbeat` at their
/// maximum, a token whose `exp` is centuries away) saturates instead of overflowing `Instant`.
#[tokio::test(start_paused = true)]
async fn extreme_lifetime_and_heartbeat_do_not_panic() {
    let hub = hub(100);
    let woken = Flag::new();
    let mut stream = timed(&hub, Some(u64::MAX), Some(u64::MAX));
    assert!(batch_now(&mut stream, &woken).is_some());
    hub.publish(update("e1", &["t"], false))
        .await
        .expect("publish");
    let event = batch_now(&mut stream, &woken).expect("open");
    assert!(event.contains("id: e1\n"), "{event}");
    tokio::time::advance(Duration::from_secs(365 * 86400)).await;
    assert_eq!(batch_now(&mut stream, &woken).as_deref(), Some(""));
    let subscription = hub
        .subscribe(request(&hub, &["t"], &[], Cursor::None))
        .expect("subscribe");
    let mut maximal = EventStream::new(
        subscription,
        StreamOptions {
            heartbeat: Some(Duration::MAX),
            lifetime: Some((Duration::MAX, Disconnect::TokenExpiry)),
        },
    );
    maximal.set_framing(crate::event::Framing::Chunk);
    assert!(batch_now(&mut maximal, &woken).is_some());
}

/// A lent socket of the tests: one end of a Unix socket pair.
struct PairSink(std::os::unix::net::UnixStream);

impl Sink for PairSink {
    fn write_now(&self, slices: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        std::io::Write::write_vectored(&mut &self.0, slices)
    }
}

/// A socket to lend, and its non-blocking peer (also used by the queue's tests).
pub(super) fn lent_pair() -> (Arc<dyn Sink>, std::os::unix::net::UnixStream) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    ours.set_nonblocking(true).expect("nonblocking");
    theirs.set_nonblocking(true).expect("nonblocking");
    (Arc::new(PairSink(ours)), theirs)
}

/// Everything the peer of a lent socket can read now, as text.
fn readable(peer: &mut std::os::unix::net::UnixStream) -> String {
    String::from_utf8_lossy(&read_available(peer)).into_owned()
}

/// Everything a non-blocking socket has to read now (also used by the queue's tests).
pub(super) fn read_available(peer: &mut std::os::unix::net::UnixStream) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = peer.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn ids_in(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn hot_events_are_gathered_by_one_tick_of_the_thread_without_waking_the_stream() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let hub = hub(100);
            let woken = Flag::new();
            let mut stream = timed(&hub, None, None);
            assert!(batch_now(&mut stream, &woken).is_some(), "the opening");
            assert_eq!(batch_now(&mut stream, &woken).as_deref(), Some(""));
            let (ours, mut peer) = lent_pair();
            super::start_gathering_here();
            assert!(stream.lend_socket(ours, None));
            let publish = |id: &'static str| hub.publish(update(id, &["t"], false));

            // After a quiet time: written at once, by the publisher.
            publish("e1").await.expect("publish");
            assert_eq!(ids_in(&readable(&mut peer)), ["e1"]);

            // Less than a window after it: gathered until a window after that write.
            tokio::time::advance(BATCH_WINDOW / 2).await;
            publish("e2").await.expect("publish");
            publish("e3").await.expect("publish");
            assert_eq!(readable(&mut peer), "", "nothing written yet");
            tokio::time::advance(BATCH_WINDOW / 2).await;
            tokio::task::yield_now().await;
            assert_eq!(ids_in(&readable(&mut peer)), ["e2", "e3"], "one tick");

            // Still fast: the next event waits for the next tick.
            publish("e4").await.expect("publish");
            assert_eq!(readable(&mut peer), "");
            tokio::time::advance(BATCH_WINDOW).await;
            tokio::task::yield_now().await;
            assert_eq!(ids_in(&readable(&mut peer)), ["e4"]);

            // Slower than the window, even right after a write: written at once.
            tokio::time::advance(BATCH_WINDOW * 2).await;
            publish("e5").await.expect("publish");
            assert_eq!(ids_in(&readable(&mut peer)), ["e5"]);
            assert!(!woken.take(), "the stream's task slept throughout");
            assert!(stream.reclaim_socket().last_write.is_some());
        })
        .await;
}

/// R-REPLAY: a replay over history that does not match reads one bounded batch per poll and
/// yields in between (waking itself, so it is polled again), rather than scanning the whole
/// history in one poll; it still sends every matching event, in order, then live ones.
#[tokio::test]
async fn replay_of_unmatched_history_yields_between_batches() {
    let hub = hub(100);
    let unmatched = 3 * super::stream::REPLAY_BATCH + 10;
    hub.publish(update("first", &["t"], false))
        .await
        .expect("publish");
    for i in 0..unmatched {
        hub.publish(update(&format!("n{i}"), &["other"], false))
            .await
            .expect("publish");
    }
    hub.publish(update("last", &["t"], false))
        .await
        .expect("publish");
    let mut stream = open(&hub, &["t"], &[], Cursor::Earliest);
    let woken = Flag::new();
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    let mut ids = Vec::new();
    let mut yields = 0;
    for _ in 0..100 {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => ids.extend(
                String::from_utf8_lossy(&frame)
                    .lines()
                    .filter_map(|l| l.strip_prefix("id: "))
                    .map(str::to_owned),
            ),
            Poll::Pending if woken.take() => {
                yields += 1;
                // Publishers may not write to the socket before the history is sent.
                let (sink, _peer) = lent_pair();
                assert!(
                    !stream.lend_socket(sink, None),
                    "socket lent during a replay"
                );
            }
            Poll::Pending => break,
            Poll::Ready(_) => panic!("the stream ended"),
        }
    }
    hub.publish(update("live", &["t"], false))
        .await
        .expect("publish");
    ids.extend(ready_ids(&mut stream));
    assert_eq!(ids, ["first", "last", "live"]);
    // Batches 2 to 4 hold only unmatched events; batch 1 (`REPLAY_FIRST`) also holds "first",
    // batch 5 "last".
    assert!(yields >= 2, "{yields} yields");
}

#[test]
fn replay_batches_shrink_for_large_events() {
    use super::stream::{next_batch_size, REPLAY_BATCH, REPLAY_BYTES};
    assert_eq!(next_batch_size(256, 256 * 100), REPLAY_BATCH);
    assert_eq!(next_batch_size(10, 10 * REPLAY_BYTES / 4), 4);
    assert_eq!(next_batch_size(1, 10 * REPLAY_BYTES), 1);
    assert_eq!(next_batch_size(0, 0), REPLAY_BATCH);
}

/// A memory log whose writes are decided by the test: the `DurableGate` contract, driven by hand.
mod gated {
    use std::future::Future;

    use tokio::sync::watch;

    use super::*;
    use crate::log::{DurableGate, LogError};

    pub(super) struct ManualLog {
        inner: MemoryLog,
        /// (decided up to, failed positions)
        decisions: watch::Sender<(u64, Vec<u64>)>,
    }

    impl ManualLog {
        pub(super) fn new() -> Self {
            Self {
                inner: MemoryLog::new(Retention {
                    max_events: 0,
                    max_age: Duration::ZERO,
                }),
                decisions: watch::Sender::new((0, Vec::new())),
            }
        }

        pub(super) fn decide(&self, position: u64, stored: bool) {
            self.decisions.send_modify(|(decided, failed)| {
                *decided = position;
                if !stored {
                    failed.push(position);
                }
            });
        }
    }

    impl EventLog for ManualLog {
        fn append(&self, event: Arc<Event>) -> Result<Position, LogError> {
            self.inner.append(event)
        }
        fn durable(
            &self,
            position: Position,
        ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> {
            let mut receiver = self.decisions.subscribe();
            Box::pin(async move {
                let decided = receiver
                    .wait_for(|(decided, _)| *decided >= position.0)
                    .await
                    .map_err(|_| LogError::Stopped("closed"))?;
                match decided.1.contains(&position.0) {
                    true => Err(LogError::WritesRefused("failed")),
                    false => Ok(()),
                }
            })
        }
        fn gate(&self) -> Option<&dyn DurableGate> {
            Some(self)
        }
        fn retained(&self) -> u64 {
            self.inner.retained()
        }
        fn last_position(&self) -> Option<Position> {
            self.inner.last_position()
        }
        fn last_event_id(&self) -> Option<String> {
            self.inner.last_event_id()
        }
        fn find(&self, id: &str) -> Result<Option<Position>, LogError> {
            self.inner.find(id)
        }
        fn read_after(
            &self,
            after: Option<Position>,
            upto: Position,
            max: usize,
        ) -> Result<Vec<(Position, Arc<Event>)>, LogError> {
            self.inner.read_after(after, upto, max)
        }
    }

    impl DurableGate for ManualLog {
        fn decided(&self) -> Position {
            Position(self.decisions.borrow().0)
        }
        fn stored(&self, position: Position) -> bool {
            !self.decisions.borrow().1.contains(&position.0)
        }
        fn decided_after(
            &self,
            seen: Position,
        ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> {
            let mut receiver = self.decisions.subscribe();
            Box::pin(async move {
                receiver
                    .wait_for(|(decided, _)| *decided > seen.0)
                    .await
                    .map(|_| ())
                    .map_err(|_| LogError::Stopped("closed"))
            })
        }
    }
}

/// R-DISPATCH: with a gate, an event reaches subscribers only once its write is decided and
/// succeeded; a failed one never does, and its publish fails.
#[tokio::test]
async fn gated_events_reach_subscribers_only_once_stored() {
    let log = Arc::new(gated::ManualLog::new());
    let hub = Hub::new(log.clone(), delivery(100), false);
    hub.start_feed().expect("feed");
    let mut stream = open(&hub, &["t"], &[], Cursor::None);
    let publishing = tokio::spawn({
        let hub = hub.clone();
        async move { hub.publish(update("a", &["t"], false)).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(ready_ids(&mut stream).is_empty(), "not before its write");
    log.decide(1, true);
    publishing.await.expect("task").expect("published");
    assert_eq!(ready_ids(&mut stream), ["a"]);

    let failing = tokio::spawn({
        let hub = hub.clone();
        async move { hub.publish(update("b", &["t"], false)).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    log.decide(2, false);
    assert!(
        failing.await.expect("task").is_err(),
        "503 for its publisher"
    );
    assert!(ready_ids(&mut stream).is_empty(), "never dispatched");

    // Nobody waits for this one (as for a subscription event): the hub's own task dispatches it.
    hub.store(update("c", &["t"], false)).expect("stored");
    log.decide(3, true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut ids = Vec::new();
    while ids.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        ids = ready_ids(&mut stream);
    }
    assert_eq!(ids, ["c"]);
}

/// Issue 21, C-HDR-3: a gzip stream (opening, replayed history, live events queued during the
/// replay, the last words and the trailer at shutdown) is one valid gzip body whose content is
/// exactly the plain stream's; each event is compressed once, shared by every gzip stream.
#[tokio::test]
async fn a_gzip_stream_replays_goes_live_and_ends_with_its_trailer() {
    use std::io::Read;

    use crate::compress::Encoding;

    let hub = hub(100);
    let big = "x".repeat(2000);
    for i in 0..3 {
        let large = crate::event::Draft::new(vec!["t".into()])
            .and_then(|draft| {
                draft
                    .id(Some(format!("h{i}")))
                    .data(format!("{i}{big}"))
                    .build()
            })
            .expect("a valid update");
        hub.publish(large).await.expect("publish");
    }
    let open_gzip = |hub: &Arc<Hub>| {
        let gzip = Request {
            compression: Some(Encoding::Gzip),
            ..request(hub, &["t"], &[], Cursor::Earliest)
        };
        untimed(hub, gzip)
    };
    let mut plain = open(&hub, &["t"], &[], Cursor::Earliest);
    let unasked = hub
        .publish(update("unasked", &["elsewhere"], false))
        .await
        .expect("publish");
    assert!(
        !unasked.compressed.is_computed(Encoding::Gzip),
        "no gzip stream yet"
    );
    let mut first = open_gzip(&hub);
    let mut second = open_gzip(&hub);
    let live = hub
        .publish(update("live", &["t"], false))
        .await
        .expect("publish");
    assert!(
        live.compressed.is_computed(Encoding::Gzip),
        "before the fan-out"
    );
    assert!(
        !live.compressed.is_computed(Encoding::Zstd),
        "nobody asked for zstd"
    );
    hub.shutdown();
    let drain = |stream: &mut EventStream| {
        let mut cx = Context::from_waker(Waker::noop());
        let mut body = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut *stream).poll_next(&mut cx) {
            body.extend_from_slice(&frame);
        }
        body
    };
    let expected = drain(&mut plain);
    for stream in [&mut first, &mut second] {
        let body = drain(stream);
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut decoded)
            .expect("a whole gzip body, trailer included");
        assert_eq!(decoded, expected);
        assert!(body.len() * 4 < expected.len(), "events compressed");
    }
}
