//! Server-sent events: an incremental parser over the raw bytes (for every suite), an async
//! client built on it (`SseStream`, `Probe`), and `RawSse`, a cheap raw TCP subscription.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;
use tokio::time::Instant;

use super::harness::{uniq, Hub, WAIT};

/// One dispatched SSE event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub retry: Option<String>,
    pub data_lines: Vec<String>,
    /// The exact bytes of the event block, including the final empty line.
    pub raw: String,
}

impl Event {
    /// The data as EventSource exposes it (lines joined with LF).
    pub fn data(&self) -> String {
        self.data_lines.join("\n")
    }
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq)]
pub enum End {
    Clean,
    Error(String),
}

/// An incremental SSE parser: bytes are pushed as they arrive, complete events are taken out.
/// It keeps every byte, so that tests can also look at the stream as sent.
#[derive(Default)]
pub struct Parser {
    raw: Vec<u8>,
    pos: usize,
    cur: Event,
    cur_start: Option<usize>,
    comments: usize,
}

impl Parser {
    pub fn push(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
    }

    /// Everything pushed so far, as text.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Number of comment lines (`:…`) parsed so far.
    pub fn comments(&self) -> usize {
        self.comments
    }

    /// Parses complete lines; returns the first completed event.
    pub fn next_event(&mut self) -> Option<Event> {
        while let Some(nl) = self.raw[self.pos..].iter().position(|&b| b == b'\n') {
            let start = self.pos;
            let line = String::from_utf8_lossy(&self.raw[start..start + nl]).into_owned();
            self.pos = start + nl + 1;
            if line.is_empty() {
                if let Some(s) = self.cur_start.take() {
                    let mut ev = std::mem::take(&mut self.cur);
                    ev.raw = String::from_utf8_lossy(&self.raw[s..self.pos]).into_owned();
                    return Some(ev);
                }
                continue;
            }
            if line.starts_with(':') {
                self.comments += 1;
                continue;
            }
            self.cur_start.get_or_insert(start);
            let (name, value) = match line.split_once(':') {
                Some((n, v)) => (n.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                None => (line.clone(), String::new()),
            };
            match name.as_str() {
                "id" => self.cur.id = Some(value),
                "event" => self.cur.event = Some(value),
                "retry" => self.cur.retry = Some(value),
                "data" => self.cur.data_lines.push(value),
                _ => {}
            }
        }
        None
    }
}

pub struct SseStream {
    pub status: u16,
    pub headers: HeaderMap,
    resp: reqwest::Response,
    parser: Parser,
    ended: Option<End>,
}

impl SseStream {
    /// Sends the request and returns once the response head arrived; asserts 200.
    pub async fn open(rb: RequestBuilder) -> SseStream {
        let resp = tokio::time::timeout(WAIT, rb.send())
            .await
            .expect("subscription response head did not arrive in time")
            .expect("subscription request failed");
        let status = resp.status().as_u16();
        if status != 200 {
            let body = resp.text().await.unwrap_or_default();
            panic!("subscription answered {status}: {body:?}");
        }
        SseStream {
            status,
            headers: resp.headers().clone(),
            resp,
            parser: Parser::default(),
            ended: None,
        }
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// Everything received so far, as text.
    pub fn raw(&self) -> String {
        self.parser.raw()
    }

    /// Number of comment lines (`:…`) parsed so far, the initial one included.
    pub fn comments(&self) -> usize {
        self.parser.comments()
    }

    /// Reads one more chunk; false on timeout or end of stream.
    async fn fill(&mut self, deadline: Instant) -> bool {
        if self.ended.is_some() {
            return false;
        }
        match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
            Err(_) => false,
            Ok(Ok(Some(bytes))) => {
                self.parser.push(&bytes);
                true
            }
            Ok(Ok(None)) => {
                self.ended = Some(End::Clean);
                false
            }
            Ok(Err(e)) => {
                self.ended = Some(End::Error(e.to_string()));
                false
            }
        }
    }

    /// The next event, or `None` if none completes within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.parser.next_event() {
                return Some(ev);
            }
            if !self.fill(deadline).await {
                return None;
            }
        }
    }

    /// Waits until the raw bytes satisfy `pred`; false on timeout or end.
    pub async fn wait_raw(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.raw()) {
                return true;
            }
            if !self.fill(deadline).await {
                return pred(&self.raw());
            }
        }
    }

    /// Collects events until one has id `id`; panics if it does not come within WAIT.
    /// The returned list includes that event (last).
    pub async fn events_until(&mut self, id: &str) -> Vec<Event> {
        let mut seen = Vec::new();
        while let Some(ev) = self.next_event(WAIT).await {
            let done = ev.id.as_deref() == Some(id);
            seen.push(ev);
            if done {
                return seen;
            }
        }
        panic!(
            "event {id:?} not received within {WAIT:?} (end: {:?}); raw so far: {:?}",
            self.ended,
            self.raw()
        );
    }

    /// Waits for the event with id `id` and returns it.
    pub async fn expect_event(&mut self, id: &str) -> Event {
        self.events_until(id).await.pop().expect("event")
    }

    /// Reads until the stream ends; `None` if it is still open after `timeout`.
    pub async fn wait_end(&mut self, timeout: Duration) -> Option<End> {
        let deadline = Instant::now() + timeout;
        while self.fill(deadline).await {}
        self.ended.clone()
    }
}

/// A subscription that also listens to a private "sentinel" topic, so that the absence
/// of an event can be established without sleeping: per-connection order is guaranteed
/// (A-SUB-7), so once the sentinel arrives every earlier update has been decided.
pub struct Probe {
    pub stream: SseStream,
    pub sentinel: String,
}

impl Probe {
    /// Subscribes (optionally with a subscriber token) to `selectors` plus a sentinel topic.
    pub async fn open(hub: &Hub, token: Option<&str>, selectors: &[&str]) -> Probe {
        let sentinel = uniq("sentinel");
        let mut all: Vec<&str> = selectors.to_vec();
        all.push(&sentinel);
        let mut rb = hub.sub_req(&all);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        Probe {
            stream: SseStream::open(rb).await,
            sentinel,
        }
    }

    /// Publishes a sentinel and returns the events received before it.
    pub async fn drain(&mut self, hub: &Hub) -> Vec<Event> {
        let sid = hub.publish_ok(&[("topic", &self.sentinel)]).await;
        let mut evs = self.stream.events_until(&sid).await;
        evs.pop();
        evs
    }

    /// Publishes `fields` (must succeed), then a sentinel; returns how many times the
    /// update arrived before the sentinel.
    pub async fn count(&mut self, hub: &Hub, fields: &[(&str, &str)]) -> usize {
        let id = hub.publish_ok(fields).await;
        let evs = self.drain(hub).await;
        evs.iter().filter(|e| e.id.as_deref() == Some(&id)).count()
    }

    /// Whether the update published with `fields` reaches this subscription.
    pub async fn receives(&mut self, hub: &Hub, fields: &[(&str, &str)]) -> bool {
        match self.count(hub, fields).await {
            0 => false,
            1 => true,
            n => panic!("update delivered {n} times on one connection (A-SUB-5)"),
        }
    }
}

/// A bare-bones subscription over raw TCP (HTTP/1.1): cheap enough to hold a thousand of them.
/// The response head is read and checked; the body is never parsed. Dropping it closes the
/// connection, which ends the subscription.
pub struct RawSse {
    _stream: tokio::net::TcpStream,
    /// The response head (status line and headers), without the final empty line.
    pub head: String,
}

impl RawSse {
    /// `GET path_and_query` with extra header lines (e.g. `("Authorization", "Bearer …")`);
    /// panics unless the answer is 200.
    pub async fn open(hub: &Hub, path_and_query: &str, headers: &[(&str, &str)]) -> RawSse {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let fut = async {
            let mut stream = tokio::net::TcpStream::connect(hub.authority())
                .await
                .expect("connect");
            let mut req = format!(
                "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
                hub.authority()
            );
            for (k, v) in headers {
                req.push_str(&format!("{k}: {v}\r\n"));
            }
            req.push_str("\r\n");
            stream.write_all(req.as_bytes()).await.expect("write");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            let end = loop {
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p;
                }
                let n = stream.read(&mut chunk).await.expect("read");
                assert!(n > 0, "connection closed before the response head");
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            assert!(
                head.starts_with("HTTP/1.1 200"),
                "subscription refused: {head}"
            );
            RawSse {
                _stream: stream,
                head,
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("raw subscription head did not arrive in time")
    }
}
