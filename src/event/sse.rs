//! Server-Sent Events framing (protocol.md A-SSE-4, A-SSE-5).

use bytes::{BufMut, BytesMut};

use super::{Frame, Update};

/// Room kept in front of an event for its chunk-size line: 16 hex digits and CRLF.
const SIZE_LINE_ROOM: usize = 18;

/// Encodes an update as one complete SSE event (`event:`, `retry:`, `id:`, `data:` lines, blank
/// line), in one buffer that is also framed as an HTTP/1.1 chunk (`{size:x}\r\n`, the event,
/// `\r\n`): a subscriber connection that writes straight to its socket sends that view as it
/// is, in one write with any others queued (see [`Frame`]).
pub fn encode(update: &Update) -> Frame {
    let mut frame =
        BytesMut::with_capacity(SIZE_LINE_ROOM + update.data.len() + update.id.len() + 34);
    frame.resize(SIZE_LINE_ROOM, 0);
    if let Some(event_type) = update.event_type.as_deref().filter(|t| !t.is_empty()) {
        field(&mut frame, "event", event_type);
    }
    if update.retry > 0 {
        field(&mut frame, "retry", &update.retry.to_string());
    }
    field(&mut frame, "id", &update.id);
    for line in data_lines(&update.data) {
        field(&mut frame, "data", line);
    }
    frame.put_u8(b'\n');
    chunk(frame)
}

/// A frame of the record `text` (a test's own bytes).
#[cfg(test)]
pub(super) fn frame_of(text: &[u8]) -> Frame {
    let mut frame = BytesMut::with_capacity(SIZE_LINE_ROOM + text.len() + 2);
    frame.resize(SIZE_LINE_ROOM, 0);
    frame.put_slice(text);
    chunk(frame)
}

/// The frame of the record that follows `SIZE_LINE_ROOM` bytes in `frame`: its size line is
/// written in front of it and `\r\n` after it, making it one HTTP/1.1 chunk too.
fn chunk(mut frame: BytesMut) -> Frame {
    let size = frame.len() - SIZE_LINE_ROOM;
    frame.put_slice(b"\r\n");
    let start = size_line_before(size, &mut frame[..SIZE_LINE_ROOM]);
    Frame::from_chunk(frame.freeze().slice(start..), SIZE_LINE_ROOM - start)
}

/// Writes `{size:x}\r\n` at the end of `room`; returns where it starts.
fn size_line_before(size: usize, room: &mut [u8]) -> usize {
    let digits = ((usize::BITS - size.leading_zeros()).div_ceil(4) as usize).max(1);
    let start = room.len() - digits - 2;
    for (index, slot) in room[start..start + digits].iter_mut().enumerate() {
        *slot = b"0123456789abcdef"[(size >> (4 * (digits - 1 - index))) & 0xf];
    }
    room[start + digits..].copy_from_slice(b"\r\n");
    start
}

fn field(frame: &mut BytesMut, name: &str, value: &str) {
    frame.put_slice(name.as_bytes());
    frame.put_slice(b": ");
    frame.put_slice(value.as_bytes());
    frame.put_u8(b'\n');
}

/// Splits on CRLF, lone CR and lone LF; empty data is one empty line.
fn data_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let text = rest?;
        // Bytes, not chars: CR and LF are ASCII, so every match is a char boundary.
        match memchr::memchr2(b'\r', b'\n', text.as_bytes()) {
            Some(end) => {
                let skip = if text[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&text[end + skip..]);
                Some(&text[..end])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Framing;

    fn update(id: &str, data: &str) -> Update {
        Update::example(id, &["t"], data)
    }

    fn text(update: &Update) -> String {
        String::from_utf8(encode(update).view(Framing::Record).to_vec()).expect("utf8")
    }

    #[test]
    fn frames_are_one_http_chunk() {
        let frame = encode(&update("1", "x"));
        assert_eq!(frame.view(Framing::Chunk), b"f\r\nid: 1\ndata: x\n\n\r\n");
        assert_eq!(frame.view(Framing::Record), b"id: 1\ndata: x\n\n");
        let long = encode(&update("1", &"y".repeat(300)));
        assert!(long
            .view(Framing::Chunk)
            .starts_with(b"13a\r\nid: 1\ndata: yyy"));
        assert_eq!(long.view(Framing::Record).len(), 0x13a);
    }

    #[test]
    fn reference_byte_example() {
        let mut first = update("b", "Hello World");
        first.event_type = Some("test".into());
        let mut second = update("c", "Great");
        second.retry = 1;
        assert_eq!(
            format!(":\n{}{}", text(&first), text(&second)),
            ":\nevent: test\nid: b\ndata: Hello World\n\nretry: 1\nid: c\ndata: Great\n\n"
        );
    }

    #[test]
    fn data_is_split_on_every_line_ending() {
        assert_eq!(
            text(&update("1", "a\r\nb\rc\nd")),
            "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(text(&update("1", "")), "id: 1\ndata: \n\n");
        assert_eq!(text(&update("1", "x\n")), "id: 1\ndata: x\ndata: \n\n");
        assert_eq!(
            text(&update("1", "\r\n\r\n")),
            "id: 1\ndata: \ndata: \ndata: \n\n"
        );
    }

    #[test]
    fn empty_type_and_zero_retry_are_omitted() {
        let mut u = update("1", "x");
        u.event_type = Some(String::new());
        assert_eq!(text(&u), "id: 1\ndata: x\n\n");
    }

    #[test]
    fn data_cannot_inject_fields() {
        let u = update("1", "x\n\nid: forged\r\nevent: evil");
        let encoded = text(&u);
        assert!(encoded
            .lines()
            .filter(|l| !l.is_empty())
            .all(|l| l.starts_with("id: 1") || l.starts_with("data: ")));
        assert!(encoded.ends_with("data: event: evil\n\n"));
    }
}
