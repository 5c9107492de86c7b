//! A.4 The event stream (SSE response), C-HB-1 heartbeats.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::asserts;
use crate::harness::{uniq, Hub, HUB_PATH, WAIT};
use crate::http::form_encode;
use crate::sse::{End, SseStream};
use crate::tokens::now;

async fn open(hub: &Hub, topic: &str) -> SseStream {
    SseStream::open(hub.sub_req(&[topic])).await
}

/// Publishes `fields` on a fresh topic and returns the exact bytes of the stream so far.
async fn raw_after(hub: &Hub, fields: &[&[(&str, &str)]]) -> (String, Vec<String>) {
    let t = uniq("a-sse");
    let mut sub = open(hub, &t).await;
    let mut ids = Vec::new();
    for f in fields {
        let mut all = vec![("topic", t.as_str())];
        all.extend_from_slice(f);
        ids.push(hub.publish_ok(&all).await);
    }
    sub.events_until(ids.last().unwrap()).await;
    (sub.raw(), ids)
}

/// A-SSE-1: 200 with `Content-Type: text/event-stream` (no charset).
#[tokio::test]
async fn a_sse_1_content_type() {
    let hub = Hub::start_default().await;
    let sub = open(&hub, &uniq("a-sse-1")).await;
    assert_eq!(sub.status, 200);
    assert_eq!(
        sub.header("content-type").as_deref(),
        Some("text/event-stream")
    );
}

/// A-SSE-2: no-cache and no-buffering headers.
#[tokio::test]
async fn a_sse_2_cache_headers() {
    let hub = Hub::start_default().await;
    let sub = open(&hub, &uniq("a-sse-2")).await;
    let expected = [
        (
            "cache-control",
            "private, no-cache, no-store, must-revalidate, max-age=0",
        ),
        ("pragma", "no-cache"),
        ("x-accel-buffering", "no"),
    ];
    for (name, value) in expected {
        assert_eq!(sub.header(name).as_deref(), Some(value), "{name}");
    }
    let conn = sub.header("connection").map(|c| c.to_ascii_lowercase());
    assert_eq!(
        conn.as_deref(),
        Some("keep-alive"),
        "HTTP/1.1 needs Connection: keep-alive"
    );
}

/// A-SSE-2: `Expires: 0` (QS; the reference sends the misspelled `Expire: 0`, A.12).
#[tokio::test]
async fn a_sse_2_expires_header() {
    let hub = Hub::start_default().await;
    let sub = open(&hub, &uniq("a-sse-2")).await;
    assert_eq!(sub.header("expires").as_deref(), Some("0"));
}

/// A-SSE-3: the body starts with `:\n`, before any event.
#[tokio::test]
async fn a_sse_3_initial_comment() {
    let hub = Hub::start_default().await;
    let (raw, ids) = raw_after(&hub, &[&[("data", "x")]]).await;
    assert_eq!(raw, format!(":\nid: {}\ndata: x\n\n", ids[0]));
}

/// A-SSE-4, A-SSE-10: the reference byte example (field order, one space, empty line).
#[tokio::test]
async fn a_sse_4_byte_example() {
    let hub = Hub::start_default().await;
    let (b, c) = (
        format!("b-{}", uuid::Uuid::new_v4()),
        format!("c-{}", uuid::Uuid::new_v4()),
    );
    let (raw, _) = raw_after(
        &hub,
        &[
            &[("type", "test"), ("id", &b), ("data", "Hello World")],
            &[("retry", "1"), ("id", &c), ("data", "Great")],
        ],
    )
    .await;
    let expected =
        format!(":\nevent: test\nid: {b}\ndata: Hello World\n\nretry: 1\nid: {c}\ndata: Great\n\n");
    assert_eq!(raw, expected);
}

/// A-SSE-4, A-PUB-8, A-PUB-9: all fields in order `event`, `retry`, `id`, `data`.
#[tokio::test]
async fn a_sse_4_field_order_all_fields() {
    let hub = Hub::start_default().await;
    let (raw, ids) = raw_after(
        &hub,
        &[&[("data", "d"), ("retry", "1500"), ("id", ""), ("type", "t")]],
    )
    .await;
    assert_eq!(
        raw,
        format!(":\nevent: t\nretry: 1500\nid: {}\ndata: d\n\n", ids[0])
    );
}

/// A-SSE-4, A-PUB-9, A-SSE-10: `retry=0` and an empty `type` add no line.
#[tokio::test]
async fn a_sse_4_no_optional_fields_when_zero_or_empty() {
    let hub = Hub::start_default().await;
    let (raw, ids) = raw_after(&hub, &[&[("retry", "0"), ("type", ""), ("data", "z")]]).await;
    assert_eq!(raw, format!(":\nid: {}\ndata: z\n\n", ids[0]));
}

/// A-SSE-5: CRLF, CR and LF each end a `data:` line.
#[tokio::test]
async fn a_sse_5_data_line_splitting() {
    let hub = Hub::start_default().await;
    let (raw, ids) = raw_after(&hub, &[&[("data", "a\r\nb\rc\nd\n\ne")]]).await;
    let expected = format!(
        ":\nid: {}\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \ndata: e\n\n",
        ids[0]
    );
    assert_eq!(raw, expected);
}

/// A-SSE-5, A-PUB-5: empty or absent data gives one `data: ` line; a final newline a final empty line.
#[tokio::test]
async fn a_sse_5_empty_and_trailing_newline_data() {
    let hub = Hub::start_default().await;
    let (raw, ids) = raw_after(&hub, &[&[("data", "")], &[], &[("data", "x\r\n")]]).await;
    let expected = format!(
        ":\nid: {}\ndata: \n\nid: {}\ndata: \n\nid: {}\ndata: x\ndata: \n\n",
        ids[0], ids[1], ids[2]
    );
    assert_eq!(raw, expected);
}

/// A-SSE-6, A-PUB-11: the same id for every subscriber, equal to the publish response body.
#[tokio::test]
async fn a_sse_6_same_id_for_all_subscribers() {
    let hub = Hub::start_default().await;
    let t = uniq("a-sse-6");
    let mut s1 = open(&hub, &t).await;
    let mut s2 = SseStream::open(hub.sub_req(&["*"])).await;
    let id = hub.publish_ok(&[("topic", &t)]).await;
    assert_eq!(
        s1.next_event(WAIT).await.and_then(|e| e.id),
        Some(id.clone())
    );
    assert_eq!(s2.expect_event(&id).await.id, Some(id));
}

/// A-SSE-7, C-HB-1: a `:\n` heartbeat after `heartbeat` of silence, between events only.
#[tokio::test]
async fn a_sse_7_c_hb_1_heartbeat_sent_when_idle() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_HEARTBEAT", "300ms")
        .start()
        .await
    else {
        return;
    };
    let t = uniq("c-hb-1");
    let mut sub = open(&hub, &t).await;
    assert!(
        sub.wait_raw(WAIT, |r| r.starts_with(":\n:\n")).await,
        "no heartbeat: {:?}",
        sub.raw()
    );
    let id = hub.publish_ok(&[("topic", &t), ("data", "x")]).await;
    sub.expect_event(&id).await;
    let ev = format!("id: {id}\ndata: x\n\n");
    assert!(
        sub.wait_raw(WAIT, |r| r.contains(&format!("{ev}:\n")))
            .await,
        "no heartbeat after the event: {:?}",
        sub.raw()
    );
    let raw = sub.raw();
    let stripped = raw.replace(&ev, "");
    assert!(
        stripped.chars().all(|c| c == ':' || c == '\n') && stripped.matches(":\n").count() >= 3,
        "only `:\\n` lines besides the event expected: {raw:?}"
    );
}

/// C-HB-1: the heartbeat timer restarts after every event.
#[tokio::test]
async fn c_hb_1_timer_restarts_after_events() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_HEARTBEAT", "2s")
        .start()
        .await
    else {
        return;
    };
    let t = uniq("c-hb-1");
    let mut sub = open(&hub, &t).await;
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_millis(3000) {
        last = hub.publish_ok(&[("topic", &t)]).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sub.events_until(&last).await;
    assert_eq!(
        sub.comments(),
        1,
        "heartbeat sent although events kept flowing: {:?}",
        sub.raw()
    );
}

/// C-HB-1: `heartbeat 0s` disables heartbeats.
#[tokio::test]
async fn c_hb_1_zero_disables() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_HEARTBEAT", "0s")
        .start()
        .await
    else {
        return;
    };
    let mut sub = open(&hub, &uniq("c-hb-1")).await;
    assert!(
        !sub.wait_raw(Duration::from_millis(1500), |r| r.len() > 2)
            .await
    );
    assert_eq!(sub.raw(), ":\n");
}

/// A-SSE-9, C-TMO-1: the stream ends cleanly (no reset) at the `write_timeout` deadline.
#[tokio::test]
async fn a_sse_9_write_timeout_ends_stream_cleanly() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_WRITE_TIMEOUT", "2s")
        .env("QUICKSILVER_DISPATCH_TIMEOUT", "200ms")
        .start()
        .await
    else {
        return;
    };
    let start = Instant::now();
    let mut sub = open(&hub, &uniq("a-sse-9")).await;
    let end = sub.wait_end(Duration::from_secs(15)).await;
    assert_eq!(end, Some(End::Clean), "raw: {:?}", sub.raw());
    let t = start.elapsed();
    assert!(t >= Duration::from_millis(1300), "ended too early: {t:?}");
    assert!(t <= Duration::from_secs(6), "ended too late: {t:?}");
}

/// A-AUTH-14, A-SSE-9: a subscription ends cleanly no later than its token's `exp`.
#[tokio::test]
async fn a_auth_14_stream_ends_at_token_expiry() {
    let hub = Hub::start_default().await;
    let token = hub.subscriber_token(&json!({ "exp": now() + 3, "mercure": { "subscribe": [] } }));
    let start = Instant::now();
    let mut sub = SseStream::open(hub.sub_req(&[&uniq("a-auth-14")]).bearer_auth(token)).await;
    let end = sub.wait_end(Duration::from_secs(15)).await;
    assert_eq!(end, Some(End::Clean), "raw: {:?}", sub.raw());
    assert!(
        start.elapsed() <= Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// C-HDR-1 on the event stream.
#[tokio::test]
async fn c_hdr_1_on_event_stream() {
    let hub = Hub::start_default().await;
    let sub = open(&hub, &uniq("c-hdr-1")).await;
    asserts::security_headers(&sub.headers, "event stream");
}

/// A-SSE-8, A-PUB-5: a large event arrives whole and intact.
#[tokio::test]
async fn a_sse_8_large_event_intact() {
    let hub = Hub::start_default().await;
    let data: String = (0..20_000).map(|i| format!("{i:05}|")).collect();
    let (raw, ids) = raw_after(&hub, &[&[("data", &data)]]).await;
    assert_eq!(raw, format!(":\nid: {}\ndata: {data}\n\n", ids[0]));
}

/// A-SSE-3, A-SSE-4, A-SSE-8: over a raw HTTP/1.1 connection, a burst of events arrives whole, in
/// order and byte-exact after the opening comment, however the hub groups them into writes; bytes
/// the client sends after its request (here a second, pipelined request) do not disturb the
/// stream.
#[tokio::test]
async fn a_sse_8_burst_arrives_whole_in_order_over_raw_http() {
    let hub = Hub::start_default().await;
    let topic = uniq("a-sse-8-raw");
    let pipelined = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut stream = subscribe_raw(&hub, &topic, pipelined).await;
    let mut received = Vec::new();
    read_until(&mut stream, &mut received, b"\r\n\r\n").await;
    let mut expected = String::from(":\n");
    for i in 0..200 {
        let data = format!("event {i}\nline two");
        let id = hub.publish_ok(&[("topic", &topic), ("data", &data)]).await;
        expected.push_str(&format!("id: {id}\ndata: event {i}\ndata: line two\n\n"));
    }
    read_until(
        &mut stream,
        &mut received,
        b"data: event 199\ndata: line two\n\n\r\n",
    )
    .await;
    let head_end = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    let head = String::from_utf8_lossy(&received[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let body = crate::slow::dechunk(&received[head_end..]);
    assert_eq!(String::from_utf8_lossy(&body), expected);
}

/// Sends a subscription request for `topic` over a raw HTTP/1.1 connection, followed by
/// `then` (bytes a client might send after it).
async fn subscribe_raw(hub: &Hub, topic: &str, then: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(hub.authority())
        .await
        .expect("connect");
    let request = format!(
        "GET {HUB_PATH}?{} HTTP/1.1\r\nHost: {}\r\n\r\n{then}",
        form_encode(&[("topic", topic)]),
        hub.authority()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    stream
}

/// Reads `stream` into `received` until `needle` appears in it.
async fn read_until(stream: &mut tokio::net::TcpStream, received: &mut Vec<u8>, needle: &[u8]) {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while !received.windows(needle.len()).any(|w| w == needle) {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(received));
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("timed out reading the stream");
}

/// A-SSE-1, A-SSE-2: cleartext HTTP/2 with prior knowledge (what TLS-terminating proxies use)
/// streams events too, without the HTTP/1.1-only `Connection` header.
#[tokio::test]
async fn a_sse_2_cleartext_http2_stream() {
    let hub = Hub::start_default().await;
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("client");
    let topic = uniq("a-sse-h2c");
    let url = hub.url(&format!("{HUB_PATH}?{}", form_encode(&[("topic", &topic)])));
    let mut sub = SseStream::open(h2c.get(&url)).await;
    assert_eq!(
        sub.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(sub.header("connection"), None);
    let id = hub
        .publish_ok(&[("topic", &topic), ("data", "over h2c")])
        .await;
    assert_eq!(sub.expect_event(&id).await.data(), "over h2c");
}

/// A-SSE-8 with the `batch_window` setting (docs/configuration.md): an event that follows the
/// previous write to a subscriber by less than the window waits for the rest of the window and
/// goes out with whatever came meanwhile, in order; `0s` writes each event at once.
#[tokio::test]
async fn a_sse_8_batch_window_holds_close_events_and_0s_writes_each_at_once() {
    for (window, held) in [("400ms", true), ("0s", false)] {
        let Some(hub) = Hub::builder()
            .anonymous(true)
            .env("QUICKSILVER_BATCH_WINDOW", window)
            .start()
            .await
        else {
            return;
        };
        let topic = uniq("a-sse-8-window");
        let mut stream = subscribe_raw(&hub, &topic, "").await;
        let mut received = Vec::new();
        read_until(&mut stream, &mut received, b":\n\r\n").await;
        hub.publish_ok(&[("topic", &topic), ("data", "first")])
            .await;
        read_until(&mut stream, &mut received, b"data: first\n\n\r\n").await;
        let first_arrived = Instant::now();
        hub.publish_ok(&[("topic", &topic), ("data", "second")])
            .await;
        hub.publish_ok(&[("topic", &topic), ("data", "third")])
            .await;
        read_until(&mut stream, &mut received, b"data: third\n\n\r\n").await;
        let waited = first_arrived.elapsed();
        let body = String::from_utf8_lossy(&received);
        let second = body.find("data: second").expect("second event");
        assert!(second < body.find("data: third").expect("third"), "{body}");
        if held {
            assert!(
                waited >= Duration::from_millis(300),
                "{window}: close events went out after {waited:?}"
            );
        } else {
            assert!(
                waited < Duration::from_millis(300),
                "{window}: events were held for {waited:?}"
            );
        }
    }
}
