//! Incremental Server-Sent Events parsing over a reused buffer (no allocation per event).
//!
//! Lines end with LF or CRLF (a lone CR is not treated as a line end). An event's `data` is the
//! span from the first `data` value to the end of the last `data` line, so a multi-line payload
//! keeps its `\ndata: ` separators; the bench only sends single-line payloads.

use std::ops::{ControlFlow, Range};

/// One dispatched event, borrowed from the parser's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    pub id: Option<&'a [u8]>,
    pub data: &'a [u8],
}

/// Holds decoded body bytes until they form complete events.
#[derive(Debug)]
pub struct Parser {
    buf: Vec<u8>,
}

#[derive(Default)]
struct Fields {
    id: Option<Range<usize>>,
    data: Option<Range<usize>>,
}

impl Parser {
    pub fn with_capacity(capacity: usize) -> Parser {
        Parser {
            buf: Vec::with_capacity(capacity),
        }
    }

    /// The buffer that decoded body bytes are appended to.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Whether no partial event is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Dispatches every complete event in the buffer, stopping early if `on_event` breaks.
    pub fn drain<B>(
        &mut self,
        on_event: impl FnMut(Event<'_>) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let (flow, end) = dispatch(&self.buf, on_event);
        self.buf.drain(..end);
        flow
    }
}

/// Dispatches every complete event at the front of `buf`, stopping early if `on_event` breaks;
/// returns the flow and where the last dispatched event ended (the rest is an incomplete event,
/// or what follows the break).
pub fn dispatch<B>(
    buf: &[u8],
    mut on_event: impl FnMut(Event<'_>) -> ControlFlow<B>,
) -> (ControlFlow<B>, usize) {
    let mut end = 0;
    while let Some((fields, next)) = next_event(buf, end) {
        end = next;
        if let Some(data) = fields.data {
            let event = Event {
                id: fields.id.map(|r| &buf[r]),
                data: &buf[data],
            };
            if let ControlFlow::Break(b) = on_event(event) {
                return (ControlFlow::Break(b), end);
            }
        }
    }
    (ControlFlow::Continue(()), end)
}

/// Finds the next complete event from `from`; returns its fields and where it ends.
fn next_event(buf: &[u8], from: usize) -> Option<(Fields, usize)> {
    let mut fields = Fields::default();
    let mut pos = from;
    loop {
        let rel = memchr::memchr(b'\n', &buf[pos..])?;
        let end = pos + rel;
        let line = pos..trim_cr(buf, pos, end);
        pos = end + 1;
        if line.is_empty() {
            return Some((fields, pos));
        }
        field(buf, line, &mut fields);
    }
}

fn field(buf: &[u8], line: Range<usize>, fields: &mut Fields) {
    let text = &buf[line.clone()];
    let (name_len, value_start) = match memchr::memchr(b':', text) {
        Some(0) => return,
        Some(c) => (c, c + 1 + usize::from(text.get(c + 1) == Some(&b' '))),
        None => (text.len(), text.len()),
    };
    let value = line.start + value_start..line.end;
    match &text[..name_len] {
        b"id" => fields.id = Some(value),
        b"data" => {
            let start = fields.data.as_ref().map_or(value.start, |d| d.start);
            fields.data = Some(start..value.end);
        }
        _ => {}
    }
}

fn trim_cr(buf: &[u8], start: usize, end: usize) -> usize {
    if end > start && buf[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(parser: &mut Parser) -> Vec<(Option<String>, String)> {
        let mut seen = Vec::new();
        let _ = parser.drain::<()>(|e| {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            seen.push((e.id.map(text), text(e.data)));
            ControlFlow::Continue(())
        });
        seen
    }

    #[test]
    fn parses_events_fed_in_pieces() {
        let wire = b":\nid: a\ndata: one\n\nretry: 5\r\nid: b\r\ndata: two\r\ndata: more\r\n\r\nid: c\n\ndata:x\n\n";
        for split in 0..wire.len() {
            let mut parser = Parser::with_capacity(16);
            parser.buffer().extend_from_slice(&wire[..split]);
            let mut seen = collect(&mut parser);
            parser.buffer().extend_from_slice(&wire[split..]);
            seen.extend(collect(&mut parser));
            let ids: Vec<_> = seen.iter().map(|(i, _)| i.as_deref()).collect();
            assert_eq!(ids, [Some("a"), Some("b"), None], "split at {split}");
            assert_eq!(seen[0].1, "one");
            assert_eq!(seen[1].1, "two\r\ndata: more");
            assert_eq!(seen[2].1, "x");
        }
    }

    #[test]
    fn break_keeps_the_rest() {
        let mut parser = Parser::with_capacity(16);
        parser.buffer().extend_from_slice(b"data: 1\n\ndata: 2\n\n");
        let flow = parser.drain(|e| ControlFlow::Break(e.data.to_vec()));
        assert_eq!(flow, ControlFlow::Break(b"1".to_vec()));
        assert_eq!(collect(&mut parser), [(None, "2".to_string())]);
    }
}
