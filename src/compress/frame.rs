//! Compressed bytes framed once as an HTTP/1.1 chunk, like the plain event frames.

use std::io::Write;

use bytes::Bytes;

/// Room kept in front of a body for its chunk-size line: 16 hex digits and CRLF.
pub(super) const SIZE_LINE_ROOM: usize = 18;

/// A compressed piece of a stream (an event, a comment, the opening, the trailer) as one HTTP/1.1
/// chunk (`{size:x}\r\n`, the body, `\r\n`). The body is never empty, because an empty chunk
/// would end an HTTP/1.1 body. Cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    chunk: Bytes,
    body_start: usize,
}

impl Frame {
    /// The whole chunk, for the HTTP/1.1 direct writer.
    pub fn chunk(&self) -> &Bytes {
        &self.chunk
    }

    /// The bare compressed bytes (shared, not copied), for the portable body path.
    pub fn body(&self) -> Bytes {
        self.chunk
            .slice(self.body_start..self.chunk.len().saturating_sub(2).max(self.body_start))
    }

    /// A frame whose body is a copy of `body`.
    pub(super) fn copy_of(body: &[u8]) -> Self {
        let mut buffer = room(body.len());
        buffer.extend_from_slice(body);
        Self::seal(buffer)
    }

    /// Frames what was written after the room that [`room`] left: writes the size line into
    /// the room and appends the chunk's CRLF.
    pub(super) fn seal(mut buffer: Vec<u8>) -> Self {
        let size = buffer.len().saturating_sub(SIZE_LINE_ROOM);
        let mut line = [0u8; SIZE_LINE_ROOM];
        let mut cursor = &mut line[..];
        // 16 hex digits and CRLF always fit in the room, so this write cannot fail.
        let written = match write!(cursor, "{size:x}\r\n") {
            Ok(()) => SIZE_LINE_ROOM - cursor.len(),
            Err(_) => 0,
        };
        let body_start = SIZE_LINE_ROOM - written;
        buffer[body_start..SIZE_LINE_ROOM].copy_from_slice(&line[..written]);
        buffer.extend_from_slice(b"\r\n");
        Self {
            chunk: Bytes::from(buffer).slice(body_start..),
            body_start: written,
        }
    }
}

/// A buffer with the room for the size line in front, and capacity for `body` more bytes.
pub(super) fn room(body: usize) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(SIZE_LINE_ROOM + body + 2);
    buffer.resize(SIZE_LINE_ROOM, 0);
    buffer
}
