//! What one write carries: the response head (first write only), then a batch of frames that
//! are already HTTP/1.1 chunks, then, at the end of a chunked body, the last chunk. A quiet
//! stream holds none of it: its batch goes back to its thread's spares (issue 21, idle
//! connections), and the next stream of that thread to write takes it.

use std::cell::RefCell;
use std::io::IoSlice;

use bytes::Bytes;

/// Slices per write: the head, the frames, the last chunk.
pub(super) const MAX_SLICES: usize = super::MAX_FRAMES + 2;

const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Spare batches per worker thread: enough for the streams that write at once on one thread
/// to find one, few enough to be negligible.
const MAX_SPARES: usize = 16;

thread_local! {
    // Boxed as the streams hold them, so that taking one back allocates nothing.
    #[allow(clippy::vec_box)]
    static SPARES: RefCell<Vec<Box<Batch>>> = const { RefCell::new(Vec::new()) };
}

/// A stream's write in progress; `None` while it is quiet.
pub(super) struct Outgoing(Option<Box<Batch>>);

#[derive(Default)]
struct Batch {
    /// The response head actix encoded but did not write (until written), then the frames.
    parts: Vec<Bytes>,
    /// The batch ends the chunked body: the last chunk follows it.
    last_chunk: bool,
    /// Bytes of the whole (parts, last chunk) already written, and in all.
    written: usize,
    total: usize,
}

impl Batch {
    fn tail(&self) -> &'static [u8] {
        if self.last_chunk {
            LAST_CHUNK
        } else {
            &[]
        }
    }

    fn batched(&mut self) {
        self.total = self.parts.iter().map(Bytes::len).sum::<usize>() + self.tail().len();
    }
}

impl Outgoing {
    pub(super) fn new(head: Bytes) -> Self {
        let mut outgoing = Self(None);
        outgoing.frames().push(head);
        outgoing.batched();
        outgoing
    }

    fn batch(&mut self) -> &mut Batch {
        self.0.get_or_insert_with(|| {
            SPARES
                .with(|spares| spares.borrow_mut().pop())
                .unwrap_or_default()
        })
    }

    /// Where the next batch's frames go; `batched` or `finish` must follow.
    pub(super) fn frames(&mut self) -> &mut Vec<Bytes> {
        &mut self.batch().parts
    }

    /// Takes the batch in `frames()` for writing.
    pub(super) fn batched(&mut self) {
        if let Some(batch) = self.0.as_mut() {
            batch.batched();
        }
    }

    /// Ends the body (after whatever batch is in `frames()`).
    pub(super) fn finish(&mut self, chunked: bool) {
        let batch = self.batch();
        batch.last_chunk = chunked;
        batch.batched();
    }

    pub(super) fn is_written(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|batch| batch.written == batch.total)
    }

    /// The stream went quiet with everything written: its batch goes back to the spares.
    pub(super) fn release(&mut self) {
        if !self.is_written() {
            return;
        }
        if let Some(batch) = self.0.take() {
            SPARES.with(|spares| {
                let mut spares = spares.borrow_mut();
                if spares.len() < MAX_SPARES {
                    spares.push(batch);
                }
            });
        }
    }

    /// Only the response head is waiting, nothing batched after it yet: the first batch joins
    /// it, so that the head and the first events leave in one write.
    pub(super) fn head_only(&self) -> bool {
        self.0.as_ref().is_some_and(|batch| {
            batch.written == 0 && batch.parts.len() == 1 && !batch.last_chunk && batch.total > 0
        })
    }

    /// Fills `slices` with what is left to write; returns how many it used.
    pub(super) fn slices<'a>(&'a self, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
        let Some(batch) = self.0.as_ref() else {
            return 0;
        };
        let parts = (batch.parts.iter().map(|part| &part[..])).chain(std::iter::once(batch.tail()));
        let mut skip = batch.written;
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
        let Some(batch) = self.0.as_mut() else {
            return;
        };
        batch.written += written;
        if batch.written < batch.total {
            return;
        }
        batch.parts.clear();
        if batch.parts.capacity() > super::MAX_FRAMES {
            batch.parts.shrink_to(super::MAX_FRAMES);
        }
        batch.last_chunk = false;
        batch.written = 0;
        batch.total = 0;
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
    fn a_quiet_stream_holds_no_batch_and_the_next_write_reuses_it() {
        let spares = || SPARES.with(|spares| spares.borrow().len());
        let mut outgoing = Outgoing::new(Bytes::from_static(b"HEAD"));
        outgoing.release();
        assert!(outgoing.0.is_some(), "the head is not written yet");
        outgoing.advance(4);
        outgoing.release();
        assert!(outgoing.0.is_none());
        assert!(outgoing.is_written());
        assert_eq!(spares(), 1);
        batch(&mut outgoing, &[b"x"]);
        assert_eq!(spares(), 0, "the spare batch is taken back");
        outgoing.batched();
        assert_eq!(unwritten(&outgoing), b"x");
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
