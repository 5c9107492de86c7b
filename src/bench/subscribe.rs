//! An SSE subscription over a plain TCP connection.

use std::io::Write;
use std::ops::ControlFlow;

use tokio::io::AsyncWriteExt;

use super::error::BenchError;
use super::http::{ChunkDecoder, Conn, Framing};
use super::sse::{Event, Parser};
use super::target::{nchan_channel, Flavor, Target};

/// Read buffer of a subscription; grows only if a single event is larger.
const READ_BUFFER: usize = 16 * 1024;

/// What to subscribe to.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub topics: &'a [&'a str],
    pub last_event_id: Option<&'a str>,
}

/// An open SSE stream whose head has been read.
pub struct Subscription {
    conn: Conn,
    body: Body,
    parser: Parser,
}

enum Body {
    Chunked(ChunkDecoder),
    Remaining(usize),
    UntilClose,
}

impl Subscription {
    /// Connects (connection `index` of `total`), sends the request and reads the response head.
    pub async fn open(
        target: &Target,
        request: Request<'_>,
        index: usize,
        total: usize,
    ) -> Result<Subscription, BenchError> {
        let stream = target.connect(index, total).await?;
        Subscription::start(target, stream, request, READ_BUFFER).await
    }

    /// Like `open` with a small read buffer, for connections that stay idle.
    pub async fn open_idle(
        target: &Target,
        request: Request<'_>,
        index: usize,
        total: usize,
    ) -> Result<Subscription, BenchError> {
        let stream = target.connect(index, total).await?;
        Subscription::start(target, stream, request, 1024).await
    }

    async fn start(
        target: &Target,
        stream: tokio::net::TcpStream,
        request: Request<'_>,
        buffer: usize,
    ) -> Result<Subscription, BenchError> {
        let mut conn = Conn::new(stream, buffer);
        let wire = request_bytes(target, request);
        conn.stream
            .write_all(&wire)
            .await
            .map_err(BenchError::io("send subscribe request"))?;
        let head = conn.read_head("subscribe").await?;
        if head.status != 200 {
            let mut body = Vec::new();
            let _ = conn.read_body(head.framing, "subscribe", &mut body).await;
            return Err(status_error("subscribe", head.status, &body));
        }
        let body = match head.framing {
            Framing::Chunked => Body::Chunked(ChunkDecoder::default()),
            Framing::Length(n) => Body::Remaining(n),
            Framing::UntilClose => Body::UntilClose,
        };
        Ok(Subscription {
            conn,
            body,
            parser: Parser::with_capacity(buffer),
        })
    }

    /// Dispatches buffered events, then (unless `on_event` broke) reads once more from the socket
    /// and dispatches what arrived. End of stream is `Err(Closed)`.
    pub async fn read<B>(
        &mut self,
        mut on_event: impl FnMut(Event<'_>) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>, BenchError> {
        self.decode()?;
        if let ControlFlow::Break(b) = self.parser.drain(&mut on_event) {
            return Ok(ControlFlow::Break(b));
        }
        if self.finished() || self.conn.fill("read events").await? == 0 {
            return Err(BenchError::Closed("subscription"));
        }
        self.decode()?;
        Ok(self.parser.drain(&mut on_event))
    }

    /// Reads until `on_event` breaks.
    pub async fn read_until<B>(
        &mut self,
        mut on_event: impl FnMut(Event<'_>) -> ControlFlow<B>,
    ) -> Result<B, BenchError> {
        loop {
            if let ControlFlow::Break(b) = self.read(&mut on_event).await? {
                return Ok(b);
            }
        }
    }

    fn finished(&self) -> bool {
        match &self.body {
            Body::Chunked(d) => d.is_done(),
            Body::Remaining(n) => *n == 0,
            Body::UntilClose => false,
        }
    }

    /// Moves the connection's buffered bytes through the body framing into the SSE parser.
    fn decode(&mut self) -> Result<(), BenchError> {
        let input = self.conn.buffered();
        let out = self.parser.buffer();
        let used = match &mut self.body {
            Body::Chunked(decoder) => decoder.decode(input, out)?,
            Body::Remaining(n) => {
                let used = input.len().min(*n);
                out.extend_from_slice(&input[..used]);
                *n -= used;
                used
            }
            Body::UntilClose => {
                out.extend_from_slice(input);
                input.len()
            }
        };
        self.conn.consume(used);
        Ok(())
    }
}

fn request_bytes(target: &Target, request: Request<'_>) -> Vec<u8> {
    let mut wire = Vec::with_capacity(256);
    match target.flavor {
        Flavor::Mercure => mercure_target(&mut wire, target, request),
        Flavor::Nchan => {
            let channel = nchan_channel(request.topics.first().copied().unwrap_or_default());
            let _ = write!(wire, "GET /sub/{channel}");
        }
    }
    let _ = write!(
        wire,
        " HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n",
        target.host
    );
    if let Some(auth) = &target.subscriber_auth {
        let _ = write!(wire, "Authorization: {auth}\r\n");
    }
    if let Some(id) = request.last_event_id {
        let _ = write!(wire, "Last-Event-ID: {id}\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    wire
}

fn mercure_target(wire: &mut Vec<u8>, target: &Target, request: Request<'_>) {
    let _ = write!(wire, "GET {}?", target.path);
    for (i, topic) in request.topics.iter().enumerate() {
        if i > 0 {
            wire.push(b'&');
        }
        wire.extend_from_slice(b"topic=");
        for piece in url::form_urlencoded::byte_serialize(topic.as_bytes()) {
            wire.extend_from_slice(piece.as_bytes());
        }
    }
}

pub(crate) fn status_error(what: &'static str, status: u16, body: &[u8]) -> BenchError {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    BenchError::Status {
        what,
        status,
        body: text,
    }
}
