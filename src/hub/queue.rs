//! A subscriber's bounded queue of encoded frames (protocol.md C-SLOW-1).
//!
//! A stream that writes straight to its socket can lend the socket to the queue while it waits
//! with nothing queued: publishers then write an event to it themselves, right after queueing
//! it, instead of waking the stream's task to do the same write (design.md, "Delivery,
//! measured"). The queue's lock orders everything: frames are written in queue order, by one
//! writer at a time, and the owner takes the socket back before writing or closing it.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::os::fd::{BorrowedFd, RawFd};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::time::Instant;

/// Most frames per write.
const MAX_SLICES: usize = 64;

/// Why a queue stopped accepting frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The subscriber fell `capacity` frames behind: it is disconnected and resumes from history.
    Overflow,
    /// The hub is shutting down.
    Shutdown,
}

/// What became of a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// The queue is closed.
    Refused,
    /// Queued; its stream was woken (or already will be) to write it.
    Queued,
    /// Queued, and the socket is lent: the pusher must call [`Queue::flush`] (once the hub's
    /// locks are released).
    Flush,
    /// Queued, the socket is lent, and this event follows both the previous event and the last
    /// write by less than `batch_window`: the pusher must have the queue flushed at the given
    /// time, a window after that write (see `gather`).
    Gather(Instant),
}

pub struct Queue {
    capacity: usize,
    /// Events closer than this to the previous write are gathered (the `batch_window` setting).
    batch_window: Duration,
    inner: Mutex<Inner>,
}

struct Inner {
    frames: VecDeque<Bytes>,
    waker: Option<Waker>,
    closed: Option<Closed>,
    /// The owner's socket, while publishers may write to it.
    lent: Option<Lent>,
    /// A pusher was told to flush and has not yet.
    flush_pending: bool,
    /// When the socket was last written to, by anyone.
    last_write: Option<Instant>,
    /// When the previous frame was queued.
    last_push: Option<Instant>,
    /// The socket was taken back because events came less than `batch_window` apart.
    hot: bool,
}

/// The default `batch_window`. An event that follows both the previous event and the previous
/// write to a subscriber by less than the window is not written at once: what arrives is
/// gathered and written together, a window after that write, by the tick of the owner's thread
/// (`gather`), or by the owner when the event came from another thread. A subscriber receiving
/// 2,000 events/s then gets several per write; one receiving 100 events/s gets each at once.
pub const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// A lent socket, and the thread its owner runs on: only publishers on that thread write to it,
/// so that the fan-out to streams of other workers still runs on those workers, in parallel.
#[derive(Debug, Clone, Copy)]
struct Lent {
    fd: RawFd,
    thread: u64,
}

/// Who pushes, and when; taken once per dispatch.
#[derive(Debug, Clone, Copy)]
pub struct Pusher {
    pub now: Instant,
    pub thread: u64,
}

impl Pusher {
    pub fn here() -> Self {
        Self {
            now: Instant::now(),
            thread: thread_tag(),
        }
    }
}

/// A number for the current thread, distinct from every other thread's.
fn thread_tag() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    thread_local! {
        static TAG: u64 = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    TAG.with(|tag| *tag)
}

/// The owner's view of its socket when taking it back.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reclaimed {
    pub last_write: Option<Instant>,
    /// Events came closer than `batch_window`: gather them until then.
    pub hold_until: Option<Instant>,
}

impl Queue {
    pub fn new(capacity: usize, batch_window: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            batch_window,
            inner: Mutex::new(Inner {
                frames: VecDeque::new(),
                waker: None,
                closed: None,
                lent: None,
                flush_pending: false,
                last_write: None,
                last_push: None,
                hot: false,
            }),
        }
    }

    /// Queues a frame without ever waiting; a full queue closes itself instead.
    pub fn push(&self, frame: &Bytes, pusher: Pusher) -> Pushed {
        let (pushed, waker) = {
            let mut inner = self.inner.lock();
            if inner.closed.is_some() {
                return Pushed::Refused;
            }
            if inner.frames.len() >= self.capacity {
                inner.closed = Some(Closed::Overflow);
                inner.lent = None;
                (Pushed::Refused, inner.waker.take())
            } else {
                inner.frames.push_back(frame.clone());
                // Gathered only when events come fast (this one less than a window after the
                // previous one), so that a steady stream slower than that is never held.
                let previous = inner.last_push.replace(pusher.now);
                let fast = previous.is_some_and(|at| pusher.now < at + self.batch_window);
                let gather_until = inner
                    .last_write
                    .map(|at| at + self.batch_window)
                    .filter(|&until| fast && pusher.now < until);
                match inner.lent {
                    None => (Pushed::Queued, inner.waker.take()),
                    Some(_) if inner.flush_pending => (Pushed::Queued, None),
                    Some(lent) if lent.thread == pusher.thread => {
                        inner.flush_pending = true;
                        match gather_until {
                            Some(until) => (Pushed::Gather(until), None),
                            None => (Pushed::Flush, None),
                        }
                    }
                    Some(_) => {
                        // Lent on another thread: its owner writes, and gathers hot events.
                        inner.lent = None;
                        inner.hot = gather_until.is_some();
                        (Pushed::Queued, inner.waker.take())
                    }
                }
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        pushed
    }

    /// Writes what is queued to the lent socket. What cannot be written at once stays queued,
    /// and the socket goes back to its owner, woken to wait until the socket is writable.
    pub fn flush(&self, now: Instant) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.flush_pending = false;
            let Some(Lent { fd, .. }) = inner.lent else {
                return; // Taken back: the owner writes what is queued.
            };
            if inner.frames.is_empty() {
                return;
            }
            let written = write_all(fd, &mut inner.frames);
            if written.as_ref().is_ok_and(|&n| n > 0) {
                inner.last_write = Some(now);
            }
            if written.is_ok() && inner.frames.is_empty() {
                return;
            }
            // Not writable, a partial write or an error: the owner takes over.
            inner.lent = None;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Lends the owner's socket, last written at `last_write`, to publishers, if nothing is
    /// queued; the owner must not write to or close the socket before [`Queue::reclaim`].
    pub fn lend(&self, fd: RawFd, last_write: Option<Instant>) -> bool {
        let mut inner = self.inner.lock();
        let idle = inner.frames.is_empty() && inner.closed.is_none();
        if idle {
            inner.lent = Some(Lent {
                fd,
                thread: thread_tag(),
            });
            inner.last_write = inner.last_write.max(last_write);
        }
        idle
    }

    /// Takes the socket back (waiting for a write in progress).
    pub fn reclaim(&self) -> Reclaimed {
        let mut inner = self.inner.lock();
        inner.lent = None;
        let hot = std::mem::take(&mut inner.hot);
        Reclaimed {
            last_write: inner.last_write,
            hold_until: inner
                .last_write
                .filter(|_| hot)
                .map(|at| at + self.batch_window),
        }
    }

    pub fn batch_window(&self) -> Duration {
        self.batch_window
    }

    /// Stops accepting frames; what is queued is still delivered.
    pub fn close(&self, reason: Closed) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.closed.get_or_insert(reason);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub fn closed(&self) -> Option<Closed> {
        self.inner.lock().closed
    }

    /// Moves up to `max` queued frames to `out`, without waiting.
    pub fn drain_into(&self, out: &mut Vec<Bytes>, max: usize) {
        let mut inner = self.inner.lock();
        let count = inner.frames.len().min(max);
        out.extend(inner.frames.drain(..count));
    }

    /// The next frame; `Ready(None)` once closed and drained.
    pub fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut inner = self.inner.lock();
        if let Some(frame) = inner.frames.pop_front() {
            return Poll::Ready(Some(frame));
        }
        if inner.closed.is_some() {
            return Poll::Ready(None);
        }
        if !inner
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            inner.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Writes `frames` to `fd`, `MAX_SLICES` per `sendmsg`, until all are written or the socket
/// takes less than offered; returns how many bytes were written.
fn write_all(fd: RawFd, frames: &mut VecDeque<Bytes>) -> io::Result<usize> {
    let mut total = 0;
    while !frames.is_empty() {
        let offered: usize = frames.iter().take(MAX_SLICES).map(Bytes::len).sum();
        let written = match write_front(fd, frames) {
            Ok(written) => written,
            Err(error) if total == 0 => return Err(error),
            Err(_) => break, // What was written counts; the owner meets the error next.
        };
        total += written;
        if written < offered {
            break;
        }
    }
    Ok(total)
}

/// Writes frames from the front of `frames` to `fd` in one `sendmsg`, dropping what was
/// written; returns how many bytes were.
fn write_front(fd: RawFd, frames: &mut VecDeque<Bytes>) -> io::Result<usize> {
    // SAFETY: `fd` is lent: its owner closes it only after `reclaim`, which takes the lock
    // held by our caller for the whole write.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let socket = socket2::SockRef::from(&fd);
    let written = match frames.len() {
        // The common case of a fan-out: one event, and `send` costs less than `sendmsg`.
        1 => socket.send_with_flags(&frames[0], libc::MSG_NOSIGNAL)?,
        _ => {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = frames.len().min(MAX_SLICES);
            for (slice, frame) in slices.iter_mut().zip(frames.iter()) {
                *slice = IoSlice::new(frame);
            }
            socket.send_vectored_with_flags(&slices[..count], libc::MSG_NOSIGNAL)?
        }
    };
    let mut left = written;
    while let Some(front) = frames.front_mut() {
        if left < front.len() {
            *front = front.slice(left..);
            break;
        }
        left -= front.len();
        frames.pop_front();
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::tests::Flag;
    use std::task::Waker;

    fn poll(queue: &Queue) -> Poll<Option<Bytes>> {
        queue.poll_pop(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn delivers_in_order_then_pending() {
        let queue = Queue::new(4, BATCH_WINDOW);
        assert_eq!(
            queue.push(&Bytes::from_static(b"a"), Pusher::here()),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&Bytes::from_static(b"b"), Pusher::here()),
            Pushed::Queued
        );
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"a"))));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"b"))));
        assert_eq!(poll(&queue), Poll::Pending);
    }

    #[test]
    fn overflow_closes_after_draining_what_was_queued() {
        let queue = Queue::new(2, BATCH_WINDOW);
        assert_eq!(
            queue.push(&Bytes::from_static(b"1"), Pusher::here()),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&Bytes::from_static(b"2"), Pusher::here()),
            Pushed::Queued
        );
        assert_eq!(
            queue.push(&Bytes::from_static(b"3"), Pusher::here()),
            Pushed::Refused
        );
        assert_eq!(queue.closed(), Some(Closed::Overflow));
        assert_eq!(
            queue.push(&Bytes::from_static(b"4"), Pusher::here()),
            Pushed::Refused
        );
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"1"))));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"2"))));
        assert_eq!(poll(&queue), Poll::Ready(None));
    }

    /// A queue whose owner waits (its waker registered) with its socket lent.
    struct Lending {
        queue: Queue,
        _ours: std::os::unix::net::UnixStream,
        theirs: std::os::unix::net::UnixStream,
        woken: std::sync::Arc<Flag>,
    }

    impl Lending {
        fn new(capacity: usize, last_write: Option<Instant>) -> Self {
            Self::with_window(capacity, last_write, BATCH_WINDOW)
        }

        fn with_window(capacity: usize, last_write: Option<Instant>, window: Duration) -> Self {
            use std::os::fd::AsRawFd;
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().expect("socket pair");
            ours.set_nonblocking(true).expect("nonblocking");
            theirs.set_nonblocking(true).expect("nonblocking");
            let queue = Queue::new(capacity, window);
            let woken = Flag::new();
            let waker = Waker::from(woken.clone());
            assert!(queue
                .poll_pop(&mut Context::from_waker(&waker))
                .is_pending());
            assert!(queue.lend(ours.as_raw_fd(), last_write));
            Self {
                queue,
                _ours: ours,
                theirs,
                woken,
            }
        }

        /// Whether the owner was woken since the last call.
        fn woken(&self) -> bool {
            self.woken.take()
        }

        /// Everything the peer can read now.
        fn received(&mut self) -> Vec<u8> {
            crate::hub::tests::read_available(&mut self.theirs)
        }
    }

    fn pusher_at(now: Instant) -> Pusher {
        Pusher {
            now,
            thread: thread_tag(),
        }
    }

    #[tokio::test]
    async fn a_lent_socket_is_written_by_the_pusher_in_order() {
        let mut lending = Lending::new(8, None);
        let queue = &lending.queue;
        let a = queue.push(&Bytes::from_static(b"a"), Pusher::here());
        let b = queue.push(&Bytes::from_static(b"b"), Pusher::here());
        assert_eq!((a, b), (Pushed::Flush, Pushed::Queued));
        queue.flush(Instant::now());
        assert!(!lending.woken(), "the owner sleeps on");
        assert_eq!(lending.received(), b"ab");
        let queue = &lending.queue;
        assert!(
            queue.reclaim().last_write.is_some(),
            "the owner learns of the write"
        );
        let c = queue.push(&Bytes::from_static(b"c"), Pusher::here());
        assert_eq!(c, Pushed::Queued);
        assert!(!queue.lend(-1, None), "not lent while frames wait");
        assert_eq!(poll(queue), Poll::Ready(Some(Bytes::from_static(b"c"))));
    }

    #[tokio::test]
    async fn a_full_socket_goes_back_to_its_owner_with_the_rest_queued() {
        let mut lending = Lending::new(100_000, None);
        let frame = Bytes::from(vec![b'x'; 4096]);
        let mut sent = 0;
        let mut now = Instant::now();
        while !lending.woken() {
            now += BATCH_WINDOW; // Never hot: each push is written at once.
            if lending.queue.push(&frame, pusher_at(now)) == Pushed::Flush {
                lending.queue.flush(now);
            }
            sent += frame.len();
            assert!(sent < 64 << 20, "the socket never filled up");
        }
        let mut received = lending.received().len();
        while let Poll::Ready(Some(rest)) = poll(&lending.queue) {
            received += rest.len();
        }
        assert_eq!(received, sent, "every byte written once or still queued");
    }

    #[tokio::test]
    async fn events_closer_than_the_batch_window_are_left_for_the_pusher_to_gather() {
        let start = Instant::now();
        let mut lending = Lending::new(8, None);
        let first = lending
            .queue
            .push(&Bytes::from_static(b"a"), pusher_at(start));
        assert_eq!(first, Pushed::Flush, "after a quiet time: at once");
        lending.queue.flush(start);
        assert_eq!(lending.received(), b"a");
        let soon = pusher_at(start + BATCH_WINDOW / 2);
        let b = lending.queue.push(&Bytes::from_static(b"b"), soon);
        let until = start + BATCH_WINDOW;
        assert_eq!(b, Pushed::Gather(until), "until a window after the write");
        let c = lending.queue.push(&Bytes::from_static(b"c"), soon);
        assert_eq!(c, Pushed::Queued, "already gathering");
        assert!(!lending.woken(), "the owner sleeps on");
        assert!(lending.received().is_empty(), "nothing written yet");
        lending.queue.flush(until);
        assert_eq!(lending.received(), b"bc", "one write for both");
        assert_eq!(lending.queue.reclaim().last_write, Some(until));
    }

    #[tokio::test]
    async fn a_steady_stream_slower_than_the_window_is_never_held() {
        let wrote = Instant::now();
        let mut lending = Lending::new(8, None);
        let period = BATCH_WINDOW + BATCH_WINDOW / 2;
        // Each event comes soon after the previous write, but a window after the previous event.
        for (i, frame) in [&b"a"[..], b"b", b"c"].into_iter().enumerate() {
            let at = wrote + period * i as u32;
            let pushed = lending
                .queue
                .push(&Bytes::from_static(frame), pusher_at(at));
            assert_eq!(pushed, Pushed::Flush, "event {i}");
            lending.queue.flush(at + period / 2);
        }
        assert_eq!(lending.received(), b"abc");
    }

    #[tokio::test]
    async fn a_zero_batch_window_writes_every_event_at_once() {
        let wrote = Instant::now();
        let mut lending = Lending::with_window(8, Some(wrote), Duration::ZERO);
        for frame in [&b"a"[..], b"b"] {
            let pushed = lending
                .queue
                .push(&Bytes::from_static(frame), pusher_at(wrote));
            assert_eq!(pushed, Pushed::Flush);
            lending.queue.flush(wrote);
        }
        assert_eq!(lending.received(), b"ab");
        assert!(!lending.woken());
    }

    #[tokio::test]
    async fn hot_events_from_another_thread_go_back_to_the_owner_to_be_gathered() {
        let wrote = Instant::now();
        let mut lending = Lending::new(8, None);
        let a = lending
            .queue
            .push(&Bytes::from_static(b"a"), pusher_at(wrote));
        assert_eq!(a, Pushed::Flush);
        lending.queue.flush(wrote);
        assert_eq!(lending.received(), b"a");
        let elsewhere = std::thread::spawn(Pusher::here).join().expect("thread");
        let b = lending.queue.push(&Bytes::from_static(b"b"), elsewhere);
        assert_eq!(b, Pushed::Queued);
        assert!(lending.woken());
        assert!(lending.received().is_empty());
        let reclaimed = lending.queue.reclaim();
        assert_eq!(reclaimed.hold_until, Some(wrote + BATCH_WINDOW));
        assert_eq!(reclaimed.last_write, Some(wrote));
        assert_eq!(lending.queue.reclaim().hold_until, None, "said once");
    }

    #[tokio::test]
    async fn a_socket_lent_on_another_thread_is_written_by_its_owner() {
        let mut lending = Lending::new(8, None);
        let elsewhere = std::thread::spawn(Pusher::here).join().expect("thread");
        let a = lending.queue.push(&Bytes::from_static(b"a"), elsewhere);
        assert_eq!(a, Pushed::Queued);
        assert!(lending.woken());
        assert!(lending.received().is_empty());
        assert_eq!(lending.queue.reclaim().hold_until, None);
        assert_eq!(
            poll(&lending.queue),
            Poll::Ready(Some(Bytes::from_static(b"a")))
        );
    }
}
