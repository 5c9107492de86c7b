//! R-REDIS: a Redis that stops answering (SIGSTOP) or dies and comes back (SIGKILL, then a
//! restart on the same port and data directory) between two hub nodes. Node B notices within
//! seconds (its readiness fails), reconnects (its reconnect counter rises), and its subscriber
//! then receives every event node A acknowledged, exactly once and in order.
//!
//! Each test starts its own `redis-server` (`appendonly yes`, `appendfsync always`, so an
//! acknowledged event survives SIGKILL) on a free loopback port; without `redis-server` the tests
//! print a SKIP line and pass.

use std::time::{Duration, Instant};

use crate::harness::{uniq, Hub, WAIT};
use crate::ports::free_port;
use crate::redis_server::{Persistence, RedisServer};
use crate::sse::SseStream;

/// Longer than anything the hub takes to notice or recover (feed read timeout 3 s, reconnect
/// backoff up to 2 s, health probe every 0.5 s), with room for a busy machine.
const NOTICE: Duration = Duration::from_secs(20);

/// Node A (publishes) and node B (serves the subscriber, with an admin listener) on one Redis.
struct Pair {
    a: Hub,
    b: Hub,
    admin_b: u16,
}

impl Pair {
    async fn start(redis: &RedisServer) -> Self {
        let prefix = format!("qs-faults-{}", uuid::Uuid::new_v4().simple());
        let node = || {
            Hub::builder()
                .anonymous(true)
                .env("QUICKSILVER_TRANSPORT", "redis")
                .env("QUICKSILVER_REDIS_URL", &redis.url())
                .env("QUICKSILVER_REDIS_KEY_PREFIX", &prefix)
        };
        let a = node().start().await.expect("node A");
        let admin_b = free_port();
        let b = node()
            .env("QUICKSILVER_ADMIN_LISTEN", &format!("127.0.0.1:{admin_b}"))
            .start()
            .await
            .expect("node B");
        Self { a, b, admin_b }
    }

    async fn admin_get(&self, path: &str) -> Option<(u16, String)> {
        let response = self
            .b
            .client
            .get(format!("http://127.0.0.1:{}{path}", self.admin_b))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    async fn ready_b(&self) -> Option<u16> {
        self.admin_get("/mercure/health/ready")
            .await
            .map(|(status, _)| status)
    }

    /// Waits until node B's readiness answers `status`; panics after `NOTICE`.
    async fn wait_ready_b(&self, status: u16, why: &str) {
        let deadline = Instant::now() + NOTICE;
        while self.ready_b().await != Some(status) {
            assert!(
                Instant::now() < deadline,
                "node B's readiness did not become {status} within {NOTICE:?} ({why})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn reconnects_b(&self) -> u64 {
        let (status, text) = self.admin_get("/metrics").await.expect("metrics of node B");
        assert_eq!(status, 200);
        text.lines()
            .find_map(|line| line.strip_prefix("quicksilver_redis_reconnects_total "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_else(|| panic!("no quicksilver_redis_reconnects_total in {text}"))
    }
}

/// Publishes on node A with our own id; whether it was acknowledged (a `200` echoing the id).
async fn publish(node: &Hub, topic: &str, id: &str) -> bool {
    let token = node.publisher_token_all();
    let sent = node
        .pub_req(
            Some(&token),
            &[("topic", topic), ("id", id), ("data", "payload")],
        )
        .timeout(Duration::from_secs(15))
        .send()
        .await;
    let Ok(response) = sent else {
        return false;
    };
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert!(
        status == 200 || status == 503,
        "a publish answered {status} {body:?}"
    );
    status == 200 && body == id
}

/// A subscriber on node B that reconnects with `Last-Event-ID` when its stream ends, and
/// records every id it receives.
struct Tracker {
    topic: String,
    stream: SseStream,
    received: Vec<String>,
}

impl Tracker {
    async fn open(node: &Hub, topic: &str) -> Self {
        let stream = SseStream::open(node.sub_req(&[topic])).await;
        Self {
            topic: topic.to_owned(),
            stream,
            received: Vec::new(),
        }
    }

    /// Reads until `id` arrives (reconnecting with the last id seen if the stream ends).
    async fn until(&mut self, node: &Hub, id: &str) {
        let deadline = Instant::now() + NOTICE;
        while !self.received.iter().any(|seen| seen == id) {
            assert!(
                Instant::now() < deadline,
                "{id} did not arrive; received {:?}",
                self.received
            );
            match self.stream.next_event(Duration::from_secs(2)).await {
                Some(event) => self.received.extend(event.id),
                None if self.stream.wait_end(Duration::ZERO).await.is_some() => {
                    let mut request = node.sub_req(&[&self.topic]);
                    if let Some(last) = self.received.last() {
                        request = request.header("Last-Event-ID", last);
                    }
                    self.stream = SseStream::open(request).await;
                }
                None => {}
            }
        }
    }
}

/// Every acknowledged id arrived exactly once, in the order of the acknowledgements; an
/// unacknowledged one (its request timed out while Redis was stopped, so it may have been
/// stored anyway) arrived at most once.
fn assert_exactly_once(received: &[String], acked: &[String], attempted: &[String]) {
    let in_order: Vec<&String> = received.iter().filter(|id| acked.contains(id)).collect();
    assert_eq!(
        in_order,
        acked.iter().collect::<Vec<_>>(),
        "acknowledged events missing, duplicated or out of order; received {received:?}"
    );
    for id in attempted {
        let copies = received.iter().filter(|seen| *seen == id).count();
        assert!(copies <= 1, "{id} was delivered {copies} times");
    }
}

/// While Redis does not answer, publishes wait for it (each up to the hub's Redis timeouts, so
/// seconds), yet requests that do not need Redis are answered meanwhile: the waiting happens off
/// the hub's HTTP workers. More publishes are in flight than the hub has workers.
async fn assert_other_requests_are_served_while_publishes_wait(node: &Hub) {
    let topic = uniq("stalled-redis");
    let waiting: Vec<_> = (0..8)
        .map(|i| {
            let request = node
                .pub_req(
                    Some(&node.publisher_token_all()),
                    &[("topic", topic.as_str()), ("data", &format!("stalled {i}"))],
                )
                .timeout(Duration::from_secs(30));
            tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    // Let the publishes reach the hub first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = node
        .client
        .get(node.url("/healthz"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("/healthz while publishes wait for Redis");
    assert_eq!(health.status().as_u16(), 200);
    let live = SseStream::open(node.sub_req(&[&uniq("unrelated")])).await;
    assert_eq!(live.status, 200, "a subscription without a cursor opens");
    let still_waiting = waiting.iter().filter(|p| !p.is_finished()).count();
    assert!(
        still_waiting > 0,
        "every publish was answered before /healthz: the test did not stall Redis"
    );
    for publish in waiting {
        let status = publish.await.expect("publish task");
        assert!(
            matches!(status, Ok(200 | 503)),
            "a publish to a stalled Redis answered {status:?}"
        );
    }
}

/// The outage both tests share: before, during (`break_redis` .. `mend_redis`), after.
async fn outage_then_delivery(
    redis: &mut RedisServer,
    break_redis: fn(&mut RedisServer),
    mend_redis: fn(&mut RedisServer),
    stalls: bool,
) -> (Pair, Vec<String>, Vec<String>) {
    let pair = Pair::start(redis).await;
    let topic = uniq("redis-fault");
    let mut tracker = Tracker::open(&pair.b, &topic).await;
    let mut acked = Vec::new();
    let mut attempted = Vec::new();
    let mut send = |label: String| {
        attempted.push(label.clone());
        label
    };

    let first = send(format!("urn:qs:before-{}", uuid::Uuid::new_v4()));
    assert!(publish(&pair.a, &topic, &first).await, "publish before");
    acked.push(first.clone());
    tracker.until(&pair.b, &first).await;
    pair.wait_ready_b(200, "before the outage").await;
    let reconnects_before = pair.reconnects_b().await;

    break_redis(redis);
    pair.wait_ready_b(503, "Redis is unreachable").await;
    if stalls {
        assert_other_requests_are_served_while_publishes_wait(&pair.a).await;
    }
    let during = send(format!("urn:qs:during-{}", uuid::Uuid::new_v4()));
    if publish(&pair.a, &topic, &during).await {
        acked.push(during);
    }
    mend_redis(redis);
    pair.wait_ready_b(200, "Redis is back").await;

    for i in 0..3 {
        let id = send(format!("urn:qs:after-{i}-{}", uuid::Uuid::new_v4()));
        assert!(publish(&pair.a, &topic, &id).await, "publish after {i}");
        acked.push(id);
    }
    let last = acked.last().cloned().unwrap_or_default();
    tracker.until(&pair.b, &last).await;
    // Anything delivered twice would follow within the next read.
    while let Some(event) = tracker.stream.next_event(Duration::from_millis(500)).await {
        tracker.received.extend(event.id);
    }
    assert_exactly_once(&tracker.received, &acked, &attempted);
    let reconnects_after = pair.reconnects_b().await;
    assert!(
        reconnects_after > reconnects_before,
        "node B's reconnect counter did not rise ({reconnects_before} → {reconnects_after})"
    );
    (pair, acked, attempted)
}

/// R-REDIS: a Redis paused (SIGSTOP) longer than the feed's read timeout fails node B's
/// readiness; once continued, B reconnects and delivers every acknowledged event exactly once.
#[tokio::test]
async fn r_redis_a_paused_redis_is_noticed_and_delivery_resumes_without_gap_or_duplicate() {
    let Some(mut redis) = RedisServer::start("r_redis_paused", Persistence::AppendAlways) else {
        return;
    };
    outage_then_delivery(&mut redis, |r| r.pause(), |r| r.resume(), true).await;
}

/// R-REDIS: a Redis killed (SIGKILL) and restarted on the same port and data fails node B's
/// readiness meanwhile; B reconnects and delivers every acknowledged event exactly once, and
/// what was acknowledged before the kill is still in the history (`appendfsync always`).
#[tokio::test]
async fn r_redis_a_restarted_redis_is_noticed_and_delivery_resumes_without_gap_or_duplicate() {
    let Some(mut redis) = RedisServer::start("r_redis_restarted", Persistence::AppendAlways) else {
        return;
    };
    let (pair, acked, _) =
        outage_then_delivery(&mut redis, RedisServer::kill, RedisServer::restart, false).await;
    let mut replay =
        SseStream::open(pair.b.sub_req(&["*"]).header("Last-Event-ID", "earliest")).await;
    let mut replayed = Vec::new();
    let last = acked.last().cloned().unwrap_or_default();
    while !replayed.contains(&last) {
        let event = replay
            .next_event(WAIT)
            .await
            .unwrap_or_else(|| panic!("the replay stopped after {replayed:?}"));
        replayed.extend(event.id);
    }
    let kept: Vec<&String> = replayed.iter().filter(|id| acked.contains(id)).collect();
    assert_eq!(
        kept,
        acked.iter().collect::<Vec<_>>(),
        "the history kept every ack"
    );
}
