//! An event encoded once, as the views its writers send: the bare SSE record (an actix body,
//! TLS, HTTP/2) and the same record as one HTTP/1.1 chunk (a connection written directly).
//! Both are slices of one shared buffer, so queueing a frame for a subscriber is one
//! reference-count increment, whatever view its connection sends.

use bytes::Bytes;

/// Which view of its frames a connection sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Framing {
    /// The bare SSE record; whatever framing the connection needs is added by actix.
    #[default]
    Record,
    /// The record as one HTTP/1.1 chunk (`{size:x}\r\n`, the record, `\r\n`), written as it is.
    Chunk,
}

/// One event (or comment line) in every view a writer needs; cloning it is cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The HTTP/1.1 chunk; the record is inside it, from `record_start` to two bytes (`\r\n`)
    /// before its end.
    chunk: Bytes,
    record_start: usize,
    /// For a gzip frame (issue 21): the CRC-32 and length of the plain bytes it stands for, which
    /// its stream adds up for the trailer when the frame leaves the queue. A compressed frame is
    /// otherwise a frame like a plain one (its "record" being the compressed bytes), so queues
    /// and writers send it unchanged; the event's compressed forms live beside its plain frame
    /// (`Event::compressed`), made once and only when a subscriber asks for them.
    gzip: Option<GzipMark>,
}

/// What a gzip stream records of each frame it sends: the CRC-32 and length of its plain bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzipMark {
    /// CRC-32 of the plain bytes.
    pub crc: u32,
    /// Length of the plain bytes.
    pub len: u64,
}

/// The `:` comment line (opening, heartbeat, last words) as a chunk: its size line is 3 bytes.
const COMMENT_CHUNK: &[u8] = b"2\r\n:\n\r\n";

impl Frame {
    /// A frame from an HTTP/1.1 chunk whose size line is `record_start` bytes long.
    pub(super) fn from_chunk(chunk: Bytes, record_start: usize) -> Self {
        debug_assert!(record_start + 2 <= chunk.len());
        Self {
            chunk,
            record_start,
            gzip: None,
        }
    }

    /// A compressed frame (issue 21): its chunk view is the compressed frame's chunk, its record
    /// view the bare compressed bytes; `gzip` is what a gzip stream records of it.
    pub fn compressed(frame: &crate::compress::Frame, gzip: Option<GzipMark>) -> Self {
        let chunk = frame.chunk().clone();
        let body = frame.body().len();
        Self {
            record_start: chunk.len() - body - 2,
            chunk,
            gzip,
        }
    }

    /// The CRC-32 and length a gzip stream records when it sends this frame.
    pub fn gzip_mark(&self) -> Option<GzipMark> {
        self.gzip
    }

    /// The `:\n` comment line (protocol.md A-SSE-10): the opening, heartbeats, the last words.
    pub fn comment() -> Self {
        Self::from_chunk(Bytes::from_static(COMMENT_CHUNK), 3)
    }

    /// A frame whose record is `text` (a test's own bytes, not an encoded update).
    #[cfg(test)]
    pub(crate) fn of(text: &[u8]) -> Self {
        super::sse::frame_of(text)
    }

    /// The frame's bytes as `framing` sends them.
    pub fn view(&self, framing: Framing) -> &[u8] {
        &self.chunk[self.range(framing)]
    }

    /// [`Frame::view`] as shared bytes, from `skip` bytes in (what a partial write left).
    pub fn bytes(&self, framing: Framing, skip: usize) -> Bytes {
        let range = self.range(framing);
        self.chunk
            .slice((range.start + skip).min(range.end)..range.end)
    }

    /// Bytes the frame holds (its largest view): what memory and batch budgets count.
    pub fn len(&self) -> usize {
        self.chunk.len()
    }

    /// Never true: every frame holds at least a line.
    pub fn is_empty(&self) -> bool {
        self.chunk.is_empty()
    }

    fn range(&self, framing: Framing) -> std::ops::Range<usize> {
        match framing {
            Framing::Record => self.record_start..self.chunk.len() - 2,
            Framing::Chunk => 0..self.chunk.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_in_both_views() {
        let comment = Frame::comment();
        assert_eq!(comment.view(Framing::Record), b":\n");
        assert_eq!(comment.view(Framing::Chunk), b"2\r\n:\n\r\n");
        assert_eq!(&comment.bytes(Framing::Chunk, 3)[..], b":\n\r\n");
        assert_eq!(&comment.bytes(Framing::Record, 9)[..], b"");
    }

    #[test]
    fn a_test_frame_is_a_chunk_too() {
        let frame = Frame::of(b"0123456789abcdefg");
        assert_eq!(frame.view(Framing::Chunk), b"11\r\n0123456789abcdefg\r\n");
        assert_eq!(frame.view(Framing::Record), b"0123456789abcdefg");
    }
}
