//! Where a lent connection's frames go. The hub decides what to write and when; the connection
//! (`http::direct`, the crate's one socket writer) does the system call. One call per batch of
//! frames, through one trait-object call: the gathering of several frames into one write is
//! the queue's, the write is the sink's.

use std::io::{self, IoSlice};

/// A connection that publishers may write to while its owner waits (see `Queue::lend`).
pub trait Sink: Send + Sync {
    /// Writes `slices`, in order, in one write that does not wait: returns how many bytes the
    /// connection took, which may be fewer than offered (the queue resumes from there), or the
    /// error (`WouldBlock` when it took none: the owner takes over and waits).
    fn write_now(&self, slices: &[IoSlice<'_>]) -> io::Result<usize>;
}
