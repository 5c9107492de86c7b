//! What one write carries: the response head (first write only), then a batch of frames that
//! are already HTTP/1.1 chunks, then, at the end of a chunked body, the last chunk.

use std::io::IoSlice;

use bytes::Bytes;

/// Slices per write: the head, the frames, the last chunk.
pub(super) const MAX_SLICES: usize = super::MAX_FRAMES + 2;

const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

pub(super) struct Outgoing {
    /// The response head actix encoded but did not write; empty once written.
    head: Bytes,
    frames: Vec<Bytes>,
    tail: &'static [u8],
    /// Bytes of the whole (head, frames, tail) already written, and in all.
    written: usize,
    total: usize,
}

impl Outgoing {
    pub(super) fn new(head: Bytes) -> Self {
        let total = head.len();
        Self {
            head,
            frames: Vec::new(),
            tail: &[],
            written: 0,
            total,
        }
    }

    /// Where the next batch's frames go; `batched` or `finish` must follow.
    pub(super) fn frames(&mut self) -> &mut Vec<Bytes> {
        &mut self.frames
    }

    /// Takes the batch in `frames()` for writing.
    pub(super) fn batched(&mut self) {
        self.total = self.head.len() + self.frames.iter().map(Bytes::len).sum::<usize>();
    }

    /// Ends the body (after whatever batch is in `frames()`).
    pub(super) fn finish(&mut self, chunked: bool) {
        if chunked {
            self.tail = LAST_CHUNK;
        }
        self.batched();
        self.total += self.tail.len();
    }

    pub(super) fn is_written(&self) -> bool {
        self.written == self.total
    }

    /// Only the response head is waiting, nothing batched after it yet: the first batch joins
    /// it, so that the head and the first events leave in one write.
    pub(super) fn head_only(&self) -> bool {
        self.written == 0 && self.frames.is_empty() && self.tail.is_empty() && !self.head.is_empty()
    }

    /// Fills `slices` with what is left to write; returns how many it used.
    pub(super) fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let parts = std::iter::once(&self.head[..])
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
    pub(super) fn advance(&mut self, written: usize) {
        self.written += written;
        if self.written < self.total {
            return;
        }
        self.head = Bytes::new();
        self.frames.clear();
        if self.frames.capacity() > super::MAX_FRAMES {
            self.frames.shrink_to(super::MAX_FRAMES);
        }
        self.tail = &[];
        self.written = 0;
        self.total = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unwritten(outgoing: &Outgoing) -> Vec<u8> {
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
    fn first_write_carries_the_head_then_the_frames() {
        let mut outgoing = Outgoing::new(Bytes::from_static(b"HEAD\r\n\r\n"));
        assert!(outgoing.head_only() && !outgoing.is_written());
        batch(&mut outgoing, &[b"2\r\n:\n\r\n", b"1\r\nx\r\n"]);
        outgoing.batched();
        assert!(!outgoing.head_only());
        assert_eq!(unwritten(&outgoing), b"HEAD\r\n\r\n2\r\n:\n\r\n1\r\nx\r\n");
    }

    #[test]
    fn partial_writes_resume_mid_slice_and_reset_when_done() {
        let mut outgoing = Outgoing::new(Bytes::new());
        batch(&mut outgoing, &[b"abc", b"def"]);
        outgoing.batched();
        outgoing.advance(2);
        assert_eq!(unwritten(&outgoing), b"cdef");
        assert!(!outgoing.is_written());
        outgoing.advance(4);
        assert!(outgoing.is_written());
        assert!(outgoing.frames().is_empty());
        assert_eq!(unwritten(&outgoing), b"");
    }

    #[test]
    fn a_chunked_body_ends_with_the_last_chunk() {
        let mut outgoing = Outgoing::new(Bytes::new());
        outgoing.finish(true);
        assert_eq!(unwritten(&outgoing), b"0\r\n\r\n");
        let mut outgoing = Outgoing::new(Bytes::new());
        batch(&mut outgoing, &[b"2\r\n:\n\r\n"]);
        outgoing.finish(true);
        assert_eq!(unwritten(&outgoing), b"2\r\n:\n\r\n0\r\n\r\n");
        let mut outgoing = Outgoing::new(Bytes::new());
        batch(&mut outgoing, &[b":\n"]);
        outgoing.finish(false);
        assert_eq!(unwritten(&outgoing), b":\n");
    }
}
