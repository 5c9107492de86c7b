//! What one write carries: the response head (first write only), then a batch of frames,
//! framed as one HTTP/1.1 chunk when the body is chunked.

use std::io::IoSlice;

use bytes::Bytes;

/// Slices per write: the head, a chunk-size line, the frames, the chunk's end.
pub const MAX_SLICES: usize = super::MAX_FRAMES + 3;

const CHUNK_END: &[u8] = b"\r\n";
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

pub struct Outgoing {
    /// The response head actix encoded but did not write; empty once written.
    head: Bytes,
    /// `{size:x}\r\n` of the framed batch, when chunked.
    size_line: [u8; 18],
    size_line_len: u8,
    frames: Vec<Bytes>,
    tail: &'static [u8],
    /// Bytes of the whole (head, size line, frames, tail) already written.
    written: usize,
    total: usize,
}

impl Outgoing {
    pub fn new(head: Bytes) -> Self {
        let total = head.len();
        Self {
            head,
            size_line: [0; 18],
            size_line_len: 0,
            frames: Vec::new(),
            tail: &[],
            written: 0,
            total,
        }
    }

    /// Where the next batch's frames go; `frame` or `finish` must follow.
    pub fn frames(&mut self) -> &mut Vec<Bytes> {
        &mut self.frames
    }

    /// Frames the batch in `frames()` for writing.
    pub fn frame(&mut self, chunked: bool) {
        let size: usize = self.frames.iter().map(Bytes::len).sum();
        if chunked && size > 0 {
            self.size_line_len = size_line(size, &mut self.size_line);
            self.tail = CHUNK_END;
        }
        self.total = self.head.len() + usize::from(self.size_line_len) + size + self.tail.len();
    }

    /// Frames the end of the body (with whatever batch is in `frames()`).
    pub fn finish(&mut self, chunked: bool) {
        self.frame(chunked);
        if chunked {
            self.tail = if self.tail.is_empty() {
                LAST_CHUNK
            } else {
                b"\r\n0\r\n\r\n"
            };
            self.total = self.head.len()
                + usize::from(self.size_line_len)
                + self.frames.iter().map(Bytes::len).sum::<usize>()
                + self.tail.len();
        }
    }

    pub fn is_written(&self) -> bool {
        self.written == self.total
    }

    /// Fills `slices` with what is left to write; returns how many it used.
    pub fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let size_line = &self.size_line[..usize::from(self.size_line_len)];
        let parts = std::iter::once(&self.head[..])
            .chain(std::iter::once(size_line))
            .chain(self.frames.iter().map(|frame| &frame[..]))
            .chain(std::iter::once(self.tail));
        let mut skip = self.written;
        let mut count = 0;
        for part in parts {
            if skip >= part.len() {
                skip -= part.len();
                continue;
            }
            slices[count] = IoSlice::new(&part[skip..]);
            skip = 0;
            count += 1;
        }
        count
    }

    /// Records that `written` more bytes were written; resets once everything was.
    pub fn advance(&mut self, written: usize) {
        self.written += written;
        if self.written < self.total {
            return;
        }
        self.head = Bytes::new();
        self.size_line_len = 0;
        self.frames.clear();
        if self.frames.capacity() > super::MAX_FRAMES {
            self.frames.shrink_to(super::MAX_FRAMES);
        }
        self.tail = &[];
        self.written = 0;
        self.total = 0;
    }
}

/// Writes `{size:x}\r\n` into `line`; returns its length.
fn size_line(size: usize, line: &mut [u8; 18]) -> u8 {
    let digits = (usize::BITS - size.leading_zeros()).div_ceil(4).max(1) as usize;
    for (index, slot) in line[..digits].iter_mut().enumerate() {
        let nibble = (size >> (4 * (digits - 1 - index))) & 0xf;
        *slot = b"0123456789abcdef"[nibble];
    }
    line[digits..digits + 2].copy_from_slice(b"\r\n");
    (digits + 2) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(outgoing: &Outgoing) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let count = outgoing.slices(&mut slices);
        slices[..count].iter().flat_map(|s| s.to_vec()).collect()
    }

    fn batch(outgoing: &mut Outgoing, frames: &[&'static [u8]]) {
        outgoing
            .frames()
            .extend(frames.iter().map(|f| Bytes::from_static(f)));
    }

    #[test]
    fn size_lines_are_lowercase_hex() {
        let mut line = [0; 18];
        for (size, text) in [
            (1, "1\r\n"),
            (15, "f\r\n"),
            (16, "10\r\n"),
            (4096, "1000\r\n"),
        ] {
            let len = size_line(size, &mut line);
            assert_eq!(&line[..usize::from(len)], text.as_bytes());
        }
    }

    #[test]
    fn first_write_carries_the_head_then_one_chunk() {
        let mut outgoing = Outgoing::new(Bytes::from_static(b"HEAD\r\n\r\n"));
        batch(&mut outgoing, &[b":\n", b"id: 1\n\n"]);
        outgoing.frame(true);
        assert_eq!(written(&outgoing), b"HEAD\r\n\r\n9\r\n:\nid: 1\n\n\r\n");
    }

    #[test]
    fn partial_writes_resume_mid_slice_and_reset_when_done() {
        let mut outgoing = Outgoing::new(Bytes::new());
        batch(&mut outgoing, &[b"abc", b"def"]);
        outgoing.frame(true);
        outgoing.advance(4);
        assert_eq!(written(&outgoing), b"bcdef\r\n");
        assert!(!outgoing.is_written());
        outgoing.advance(7);
        assert!(outgoing.is_written());
        assert!(outgoing.frames().is_empty());
        assert_eq!(written(&outgoing), b"");
    }

    #[test]
    fn the_end_is_the_last_chunk_or_nothing_when_not_chunked() {
        let mut outgoing = Outgoing::new(Bytes::new());
        outgoing.finish(true);
        assert_eq!(written(&outgoing), b"0\r\n\r\n");
        let mut outgoing = Outgoing::new(Bytes::new());
        batch(&mut outgoing, &[b":\n"]);
        outgoing.finish(true);
        assert_eq!(written(&outgoing), b"2\r\n:\n\r\n0\r\n\r\n");
        let mut outgoing = Outgoing::new(Bytes::new());
        batch(&mut outgoing, &[b":\n"]);
        outgoing.finish(false);
        assert_eq!(written(&outgoing), b":\n");
    }
}
