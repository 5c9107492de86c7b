//! C-SLOW-1, C-SLOW-2, C-TMO-2: stalled subscribers are disconnected, never waited for, and
//! lose nothing once they reconnect with their cursor (A-HIST-3, A-SSE-9).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::harness::{uniq, Hub, HUB_PATH, WAIT};
use crate::http::{form_encode, send};
use crate::sse::SseStream;

/// A subscription over a raw TCP connection with a small receive buffer, which the test does
/// not read until it decides to (so the hub's writes to it stall).
struct StalledSub {
    stream: tokio::net::TcpStream,
    /// Everything read so far after the response head (still chunk-encoded).
    body: Vec<u8>,
}

/// How a drained connection ended.
#[derive(Debug, PartialEq)]
enum Ending {
    /// EOF or reset within the time limit.
    Closed(String),
    /// Still open when the time limit passed.
    StillOpen,
}

impl StalledSub {
    async fn open(hub: &Hub, topic: &str) -> StalledSub {
        let addr: std::net::SocketAddr = hub.authority().parse().expect("address");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        // As small as the kernel allows: the hub's writes stall after a few KiB.
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let mut stream = socket.connect(addr).await.expect("connect");
        let req = format!(
            "GET {HUB_PATH}?{} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            form_encode(&[("topic", topic)]),
            hub.authority()
        );
        stream.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        let head_end = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    return p + 4;
                }
                let n = stream.read(&mut chunk).await.expect("read head");
                assert!(n > 0, "connection closed before the response head");
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .expect("stalled subscription: no response head");
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "subscription refused: {head}"
        );
        assert!(
            head.to_lowercase().contains("transfer-encoding: chunked"),
            "expected a chunked event stream: {head}"
        );
        StalledSub {
            stream,
            body: buf[head_end..].to_vec(),
        }
    }

    /// Reads until EOF/reset or until `timeout` passes.
    async fn drain(&mut self, timeout: Duration) -> Ending {
        let deadline = Instant::now() + timeout;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Ending::StillOpen,
                Ok(Ok(0)) => return Ending::Closed("EOF".into()),
                Ok(Ok(n)) => self.body.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Ending::Closed(format!("error: {e}")),
            }
        }
    }

    /// Ids of the complete events received so far, in order.
    fn event_ids(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&dechunk(&self.body)).into_owned();
        let mut ids = Vec::new();
        let mut rest = text.as_str();
        while let Some(end) = rest.find("\n\n") {
            let block = &rest[..end];
            rest = &rest[end + 2..];
            if let Some(id) = block.lines().find_map(|l| l.strip_prefix("id: ")) {
                ids.push(id.to_string());
            }
        }
        ids
    }

    /// Whether the stream ended with the final zero-size chunk (a clean end, A-SSE-9).
    fn ended_cleanly(&self) -> bool {
        self.body.ends_with(b"\r\n0\r\n\r\n") || self.body == b"0\r\n\r\n"
    }
}

/// Decodes `Transfer-Encoding: chunked`; a truncated last chunk is kept as far as it goes.
pub(crate) fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return out;
        };
        if size == 0 {
            return out;
        }
        raw = &raw[eol + 2..];
        let take = size.min(raw.len());
        out.extend_from_slice(&raw[..take]);
        if take < size || raw.len() < size + 2 {
            return out;
        }
        raw = &raw[size + 2..];
    }
}

/// A subscriber that reads as fast as it can on its own task, reconnecting with its cursor if
/// the hub ends its stream; returns the ids it received (in order) and how many times it had
/// to reconnect, once `last` arrived or `limit` passed.
fn spawn_reader(
    hub: &Hub,
    topic: &str,
    last: String,
    limit: Duration,
) -> (
    tokio::sync::oneshot::Receiver<()>,
    tokio::task::JoinHandle<(Vec<String>, usize)>,
) {
    let client = hub.client.clone();
    let url = hub.url(&format!("{HUB_PATH}?{}", form_encode(&[("topic", topic)])));
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let deadline = Instant::now() + limit;
        let mut ready = Some(ready_tx);
        let mut got: Vec<String> = Vec::new();
        let mut reconnects = 0;
        loop {
            let mut rb = client.get(&url);
            if let Some(id) = got.last() {
                rb = rb.header("Last-Event-ID", id.as_str());
            }
            let mut s = SseStream::open(rb).await;
            if let Some(tx) = ready.take() {
                let _ = tx.send(());
            }
            while let Some(ev) = s
                .next_event(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                let id = ev.id.unwrap_or_default();
                let done = id == last;
                got.push(id);
                if done {
                    return (got, reconnects);
                }
            }
            if Instant::now() >= deadline {
                return (got, reconnects);
            }
            reconnects += 1;
        }
    });
    (ready_rx, task)
}

/// Publishes `n` updates of `size` bytes on `topic` one after the other, with ids
/// `{prefix}-{i}`; returns the ids, the total time and the slowest single publish.
async fn burst(
    hub: &Hub,
    topic: &str,
    prefix: &str,
    n: usize,
    size: usize,
) -> (Vec<String>, Duration, Duration) {
    let token = hub.publisher_token_all();
    let filler = "x".repeat(size);
    let mut ids = Vec::with_capacity(n);
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        let data = format!("{i}:{filler}");
        let t0 = Instant::now();
        let r = send(hub.pub_req(
            Some(&token),
            &[("topic", topic), ("id", &id), ("data", &data)],
        ))
        .await;
        assert_eq!(r.status, 200, "publish {i}: {r:?}");
        slowest = slowest.max(t0.elapsed());
        ids.push(id);
    }
    (ids, start.elapsed(), slowest)
}

/// The common scenario: one stalled and one reading subscriber on a topic, a burst of
/// publishes, then the stalled connection is drained and resumed. Every violated expectation
/// is collected, and the test fails listing them all.
async fn stalled_scenario(hub: &Hub, events: usize, size: usize, close_within: Duration) {
    let topic = uniq("c-slow");
    let prefix = format!("slow-{}", uuid::Uuid::new_v4());
    let last = format!("{prefix}-{}", events - 1);
    let mut stalled = StalledSub::open(hub, &topic).await;
    let (ready, reader) = spawn_reader(hub, &topic, last.clone(), Duration::from_secs(90));
    tokio::time::timeout(WAIT, ready)
        .await
        .expect("reader did not connect")
        .expect("reader task failed");

    let (ids, total, slowest) = burst(hub, &topic, &prefix, events, size).await;
    let mut failures: Vec<String> = Vec::new();
    eprintln!("burst of {events} × {size} B: {total:?} in total, slowest publish {slowest:?}");
    if total > Duration::from_secs(20) {
        failures.push(format!(
            "C-SLOW-2: {events} publishes took {total:?} (> 20 s) with a stalled subscriber"
        ));
    }
    if slowest > Duration::from_secs(2) {
        failures.push(format!(
            "C-SLOW-2: one publish took {slowest:?} (> 2 s) with a stalled subscriber"
        ));
    }

    let (got, reconnects) = tokio::time::timeout(Duration::from_secs(100), reader)
        .await
        .expect("reader task hung")
        .expect("reader task panicked");
    eprintln!(
        "reading subscriber: {} events, {reconnects} reconnection(s)",
        got.len()
    );
    if got != ids {
        let first_diff = got.iter().zip(&ids).position(|(a, b)| a != b);
        failures.push(format!(
            "C-SLOW-2, A-SUB-7: the reading subscriber got {} of {} events (first difference at \
             {first_diff:?}, {reconnects} reconnection(s))",
            got.len(),
            ids.len()
        ));
    }

    // The stalled subscriber: the hub must have ended its stream.
    let ending = stalled.drain(close_within).await;
    let stalled_ids = stalled.event_ids();
    eprintln!(
        "stalled subscriber: {ending:?} after {} events (clean end: {})",
        stalled_ids.len(),
        stalled.ended_cleanly()
    );
    if ending == Ending::StillOpen {
        failures.push(format!(
            "C-SLOW-1/C-TMO-2: the stalled subscriber's connection was still open {close_within:?} \
             after the burst ({} of {events} events delivered)",
            stalled_ids.len()
        ));
    } else if stalled_ids.len() == events {
        failures.push(format!(
            "C-SLOW-1/C-TMO-2: the stalled subscriber received all {events} events before being \
             closed: the burst did not stall it (test setup too small)"
        ));
    }
    if stalled_ids[..] != ids[..stalled_ids.len().min(ids.len())] {
        failures.push(
            "C-SLOW-1, A-SUB-7: the stalled subscriber's events are not a gap-free prefix of the \
             published ones"
                .into(),
        );
    }

    // Resume with the last id it could parse: nothing is lost (C-SLOW-1, A-HIST-3).
    let cursor = stalled_ids.last().cloned().unwrap_or("earliest".into());
    let rb = hub
        .sub_req(&[&topic])
        .header("Last-Event-ID", cursor.as_str());
    let mut resumed = SseStream::open(rb).await;
    let mut later = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(ev) = resumed
        .next_event(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        let id = ev.id.unwrap_or_default();
        let done = id == last;
        later.push(id);
        if done {
            break;
        }
    }
    let expected = &ids[stalled_ids.len()..];
    if later != expected {
        failures.push(format!(
            "C-SLOW-1, A-HIST-3: resuming from {cursor:?} gave {} events, expected the {} later \
             ones",
            later.len(),
            expected.len()
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// C-SLOW-1, C-SLOW-2, A-SSE-9, A-HIST-3, A-SUB-7: with `subscriber_queue_size` 50, a
/// subscriber that never reads (small receive buffer) while 5,000 updates of 1 KiB are
/// published: every publish is answered 200 promptly (none over 2 s, all within 20 s), a
/// normal subscriber receives every event in order, the stalled subscriber's connection is
/// closed by the hub (within 30 s) after a gap-free prefix of the events, and reconnecting with
/// the last id it parsed delivers every later event.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_slow_1_stalled_subscriber_disconnected_nothing_lost() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_SUBSCRIBER_QUEUE_SIZE", "50")
        .start()
        .await
    else {
        return;
    };
    stalled_scenario(&hub, 5_000, 1024, Duration::from_secs(30)).await;
}

/// C-TMO-2, C-SLOW-2, A-SSE-9, A-HIST-3: with a queue large enough never to overflow
/// (100,000) and `dispatch_timeout` 1 s, a subscriber that stops reading is disconnected
/// because a write to it cannot complete in time (3,000 × 1 KiB: the connection stalls after
/// a few KiB, as its receive buffer is tiny); publishing is not slowed, the normal subscriber gets everything, and
/// the stalled one resumes without loss.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn c_tmo_2_stalled_writes_close_the_connection() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_SUBSCRIBER_QUEUE_SIZE", "100000")
        .env("QUICKSILVER_DISPATCH_TIMEOUT", "1s")
        .start()
        .await
    else {
        return;
    };
    stalled_scenario(&hub, 3_000, 1024, Duration::from_secs(15)).await;
}
