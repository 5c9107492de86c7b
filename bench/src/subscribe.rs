//! An SSE subscription over a plain TCP connection.

use std::cell::RefCell;
use std::io::Write;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{ready, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use super::decode::Decoder;
use super::error::BenchError;
use super::http::{ChunkDecoder, Conn, Framing};
use super::sse::{self, Event, Parser};
use super::target::{nchan_channel, Flavor, Target};

/// A subscription's own buffers: the response head, and the rare bytes that must wait for a
/// later read (an event cut by a read, bytes after the body). Events are read into `SCRATCH`.
const OWN_BUFFER: usize = 1024;

/// The read buffer every subscription of a thread shares.
const SCRATCH_SIZE: usize = 64 * 1024;

thread_local! {
    /// Events are read into it, parsed and dispatched in place: the bytes of thousands of
    /// connections pass through the same, cache-hot memory, and are never copied.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_SIZE]);
}

/// What to subscribe to.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub topics: &'a [&'a str],
    /// How the hub reads `topics`.
    pub kind: Kind,
    pub last_event_id: Option<&'a str>,
    /// The `Accept-Encoding` to send (`gzip`, `zstd`…); the stream is decoded per its
    /// `Content-Encoding` either way.
    pub accept_encoding: Option<&'a str>,
}

/// The query parameter the selectors go in, which also decides the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// Classic `topic=` (exact, URI template or `*`).
    #[default]
    Topic,
    /// 1.0 `match_urlpattern=` (a WHATWG URL pattern), with the 1.0 subscriber token if any.
    UrlPattern,
}

impl Kind {
    fn param(self) -> &'static [u8] {
        match self {
            Kind::Topic => b"topic=",
            Kind::UrlPattern => b"match_urlpattern=",
        }
    }
}

/// An open SSE stream whose head has been read.
pub struct Subscription {
    conn: Conn,
    body: Body,
    decoder: Decoder,
    parser: Parser,
    /// Body bytes received from the socket (compressed or not, with the chunk framing).
    wire_bytes: u64,
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
        let mut conn = Conn::new(stream, OWN_BUFFER);
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
        let decoder = Decoder::new(head.coding)?;
        let wire_bytes = conn.buffered().len() as u64;
        let body = match head.framing {
            Framing::Chunked => Body::Chunked(ChunkDecoder::default()),
            Framing::Length(n) => Body::Remaining(n),
            Framing::UntilClose => Body::UntilClose,
        };
        Ok(Subscription {
            conn,
            body,
            decoder,
            parser: Parser::with_capacity(0),
            wire_bytes,
        })
    }

    /// Body bytes received so far, as they came over the wire.
    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    /// Whether the hub answered with a compressed stream.
    pub fn is_compressed(&self) -> bool {
        !self.decoder.is_identity()
    }

    /// Dispatches buffered events, then (unless `on_event` broke) reads once more from the socket
    /// and dispatches what arrived. End of stream is `Err(Closed)`.
    pub async fn read<B>(
        &mut self,
        mut on_event: impl FnMut(Event<'_>) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>, BenchError> {
        if let ControlFlow::Break(b) = self.parser.drain(&mut on_event) {
            return Ok(ControlFlow::Break(b));
        }
        // Bytes that came with the response head, or after an earlier body's end.
        let buffered = self.conn.buffered();
        let (flow, used) = feed(
            &mut self.body,
            &mut self.decoder,
            &mut self.parser,
            buffered,
            &mut on_event,
        )?;
        self.conn.consume(used);
        if flow.is_break() {
            return Ok(flow);
        }
        if self.finished() {
            return Err(BenchError::Closed("subscription"));
        }
        std::future::poll_fn(|cx| {
            SCRATCH.with_borrow_mut(|scratch| {
                let read = {
                    let mut buf = ReadBuf::new(scratch);
                    ready!(Pin::new(&mut self.conn.stream).poll_read(cx, &mut buf))
                        .map_err(BenchError::io("read events"))?;
                    buf.filled().len()
                };
                if read == 0 {
                    return Poll::Ready(Err(BenchError::Closed("subscription")));
                }
                self.wire_bytes += read as u64;
                Poll::Ready(self.feed(&scratch[..read], &mut on_event))
            })
        })
        .await
    }

    /// Dispatches the events freshly read bytes complete (see `feed`); keeps bytes past the
    /// body's end for a later read.
    fn feed<B>(
        &mut self,
        input: &[u8],
        on_event: &mut impl FnMut(Event<'_>) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>, BenchError> {
        let (flow, used) = feed(
            &mut self.body,
            &mut self.decoder,
            &mut self.parser,
            input,
            on_event,
        )?;
        if used < input.len() {
            self.conn.unread(&input[used..]);
        }
        Ok(flow)
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
}

/// Passes `input` through the body framing and the content decoder and dispatches the events it
/// completes, in place; only an incomplete event's bytes are kept, in `parser`. Returns the flow
/// and the bytes of `input` that belonged to the body.
fn feed<B>(
    body: &mut Body,
    decoder: &mut Decoder,
    parser: &mut Parser,
    input: &[u8],
    on_event: &mut impl FnMut(Event<'_>) -> ControlFlow<B>,
) -> Result<(ControlFlow<B>, usize), BenchError> {
    let mut flow = ControlFlow::Continue(());
    let mut events = |data: &[u8]| {
        if flow.is_continue() && parser.is_empty() {
            let (dispatched, end) = sse::dispatch(data, &mut *on_event);
            flow = dispatched;
            parser.buffer().extend_from_slice(&data[end..]);
        } else {
            parser.buffer().extend_from_slice(data);
            if flow.is_continue() {
                flow = parser.drain(&mut *on_event);
            }
        }
    };
    let mut decoded = Ok(());
    let mut sink = |data: &[u8]| {
        if decoded.is_ok() {
            decoded = decoder.decode(data, &mut events);
        }
    };
    let used = match body {
        Body::Chunked(decoder) => decoder.decode_with(input, &mut sink)?,
        Body::Remaining(n) => {
            let used = input.len().min(*n);
            sink(&input[..used]);
            *n -= used;
            used
        }
        Body::UntilClose => {
            sink(input);
            input.len()
        }
    };
    decoded?;
    Ok((flow, used))
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
    let auth = match request.kind {
        Kind::Topic => &target.subscriber_auth,
        Kind::UrlPattern => &target.subscriber_auth_v1,
    };
    if let Some(auth) = auth {
        let _ = write!(wire, "Authorization: {auth}\r\n");
    }
    if let Some(id) = request.last_event_id {
        let _ = write!(wire, "Last-Event-ID: {id}\r\n");
    }
    if let Some(codings) = request.accept_encoding {
        let _ = write!(wire, "Accept-Encoding: {codings}\r\n");
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
        wire.extend_from_slice(request.kind.param());
        for piece in url::form_urlencoded::byte_serialize(topic.as_bytes()) {
            wire.extend_from_slice(piece.as_bytes());
        }
    }
}

pub(crate) fn status_error(what: &'static str, status: u16, body: &[u8]) -> BenchError {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim_end()
        .to_owned();
    BenchError::Status {
        what,
        status,
        body: text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(parts: &[&str]) -> Vec<u8> {
        let mut wire = Vec::new();
        for part in parts {
            let _ = write!(wire, "{:x}\r\n{part}\r\n", part.len());
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire
    }

    /// Feeds `wire` in two reads split at `split`; returns the ids dispatched.
    fn ids_split_at(wire: &[u8], split: usize, stop_at: Option<&str>) -> Vec<String> {
        let mut body = Body::Chunked(ChunkDecoder::default());
        let mut decoder = Decoder::Identity;
        let mut parser = Parser::with_capacity(0);
        let mut ids = Vec::new();
        let mut on_event = |event: Event<'_>| {
            let id = String::from_utf8_lossy(event.id.unwrap_or_default()).into_owned();
            let stop = stop_at == Some(id.as_str());
            ids.push(id);
            if stop {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        for input in [&wire[..split], &wire[split..]] {
            let (flow, used) =
                feed(&mut body, &mut decoder, &mut parser, input, &mut on_event).expect("feed");
            assert_eq!(used, input.len());
            if flow.is_break() {
                // What followed the break is kept: the next drain dispatches it.
                let _ = parser.drain(&mut on_event);
            }
        }
        ids
    }

    #[test]
    fn events_are_dispatched_in_order_however_reads_cut_chunks_and_events() {
        let wire = chunked(&[
            ":\n",
            "id: a\ndata: 1\n\n",
            "id: b\ndata: 2\n\nid: c\ndata:",
            " 3\n\n",
            "id: d\ndata: 4\n\n",
        ]);
        for split in 0..=wire.len() {
            assert_eq!(
                ids_split_at(&wire, split, None),
                ["a", "b", "c", "d"],
                "split {split}"
            );
            let stopped = ids_split_at(&wire, split, Some("b"));
            assert_eq!(stopped, ["a", "b", "c", "d"], "break, split {split}");
        }
    }
}
