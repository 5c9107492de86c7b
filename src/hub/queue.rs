//! A subscriber's bounded queue of encoded frames (protocol.md C-SLOW-1).
//!
//! A stream that writes straight to its socket can lend the socket (a [`Sink`]) to the queue
//! while it waits with nothing queued: publishers then write an event to it themselves, right
//! after queueing it, instead of waking the stream's task to do the same write (design.md,
//! "Delivery, measured"). The queue's lock orders everything: frames are written in queue
//! order, by one writer at a time, and the owner takes the socket back before writing or
//! closing it.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::sink::Sink;
use super::Delivery;
use crate::compress::{Encoding, StreamEncoder};
use crate::event::{Event, Frame, Framing};

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

/// One subscriber's frames between fan-out and its connection: bounded (C-SLOW-1), and able to
/// write straight to a lent socket so an idle stream costs no task wake-up.
pub struct Queue {
    /// Its capacity, `batch_window` and `compression_min_size`: the hub's, shared by every
    /// queue rather than copied into each (issue 21, idle connections).
    delivery: Arc<Delivery>,
    /// The stream's content coding, if compressed (issue 21).
    encoding: Option<Encoding>,
    inner: Mutex<Inner>,
}

struct Inner {
    frames: VecDeque<Frame>,
    /// Bytes of the front frame a lent socket already took (a partial write).
    written: usize,
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
    /// A compressed stream's state (issue 21): for gzip, the CRC-32 and length of what left the
    /// queue, in stream order, for the trailer. `None` when uncompressed; boxed, as most are.
    encoder: Option<Box<StreamEncoder>>,
}

impl Inner {
    /// A frame leaves the queue for the socket: a gzip stream counts it.
    fn sent(encoder: &mut Option<Box<StreamEncoder>>, frame: &Frame) {
        if let (Some(mark), Some(StreamEncoder::Gzip(stream))) =
            (frame.gzip_mark(), encoder.as_deref_mut())
        {
            stream.record(mark.crc, mark.len);
        }
    }
}

/// The default `batch_window`. An event that follows both the previous event and the previous
/// write to a subscriber by less than the window is not written at once: what arrives is
/// gathered and written together, a window after that write, by the tick of the owner's thread
/// (`gather`), or by the owner when the event came from another thread. A subscriber receiving
/// 2,000 events/s then gets several per write; one receiving 100 events/s gets each at once.
pub const BATCH_WINDOW: Duration = Duration::from_millis(5);

/// A lent socket, the view of the frames it sends, and the thread its owner runs on: only
/// publishers on that thread write to it, so that the fan-out to streams of other workers still
/// runs on those workers, in parallel.
struct Lent {
    sink: Arc<dyn Sink>,
    framing: Framing,
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
    /// A queue holding at most `capacity` frames (at least one).
    pub fn new(capacity: usize, batch_window: Duration) -> Self {
        Self::with(Arc::new(Delivery {
            queue_capacity: capacity,
            batch_window,
            compression_min_size: 0,
        }))
    }

    /// A queue with the hub's `delivery` settings.
    pub fn with(delivery: Arc<Delivery>) -> Self {
        Self {
            delivery,
            encoding: None,
            inner: Mutex::new(Inner {
                frames: VecDeque::new(),
                written: 0,
                waker: None,
                closed: None,
                lent: None,
                flush_pending: false,
                last_write: None,
                last_push: None,
                hot: false,
                encoder: None,
            }),
        }
    }

    /// The queue of a stream sent in `encoding` (issue 21; `None`: uncompressed), events shorter
    /// than `compression_min_size` being stored rather than compressed.
    pub fn compressed(mut self, encoding: Option<Encoding>) -> Self {
        self.encoding = encoding;
        self.inner.get_mut().encoder = encoding.map(|e| Box::new(StreamEncoder::new(e)));
        self
    }

    fn min_size(&self) -> usize {
        self.delivery.compression_min_size
    }

    /// The stream's content coding; `None` when uncompressed.
    pub fn encoding(&self) -> Option<Encoding> {
        self.encoding
    }

    /// Queues an event in the stream's coding: its shared frame, or its compressed form,
    /// made once for every stream of that coding (issue 21).
    pub fn push_event(&self, event: &Event, pusher: Pusher) -> Pushed {
        match self.encoding {
            None => self.push(&event.frame, pusher),
            Some(encoding) => self.push(&event.compressed_frame(encoding, self.min_size()), pusher),
        }
    }

    /// Runs `f` on a compressed stream's encoder (under the queue's lock, so that what it
    /// records is in stream order with what leaves the queue); `None` when uncompressed.
    pub fn with_encoder<R>(&self, f: impl FnOnce(&mut StreamEncoder, usize) -> R) -> Option<R> {
        self.encoding?;
        let mut inner = self.inner.lock();
        inner
            .encoder
            .as_deref_mut()
            .map(|encoder| f(encoder, self.min_size()))
    }

    /// Queues a frame without ever waiting; a full queue closes itself instead.
    pub fn push(&self, frame: &Frame, pusher: Pusher) -> Pushed {
        let (pushed, waker) = {
            let mut inner = self.inner.lock();
            if inner.closed.is_some() {
                return Pushed::Refused;
            }
            if inner.frames.len() >= self.delivery.queue_capacity.max(1) {
                inner.closed = Some(Closed::Overflow);
                inner.lent = None;
                (Pushed::Refused, inner.waker.take())
            } else {
                inner.frames.push_back(frame.clone());
                // Gathered only when events come fast (this one less than a window after the
                // previous one), so that a steady stream slower than that is never held.
                let previous = inner.last_push.replace(pusher.now);
                let fast = previous.is_some_and(|at| pusher.now < at + self.delivery.batch_window);
                let gather_until = inner
                    .last_write
                    .map(|at| at + self.delivery.batch_window)
                    .filter(|&until| fast && pusher.now < until);
                match inner.lent.as_ref().map(|lent| lent.thread) {
                    None => (Pushed::Queued, inner.waker.take()),
                    Some(_) if inner.flush_pending => (Pushed::Queued, None),
                    Some(thread) if thread == pusher.thread => {
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
            let mut guard = self.inner.lock();
            let inner = &mut *guard;
            inner.flush_pending = false;
            let Some(lent) = &inner.lent else {
                return; // Taken back: the owner writes what is queued.
            };
            if inner.frames.is_empty() {
                return;
            }
            let mut pending = Pending {
                frames: &mut inner.frames,
                written: &mut inner.written,
                framing: lent.framing,
                encoder: &mut inner.encoder,
            };
            let written = pending.write_all(&*lent.sink);
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

    /// Lends the owner's socket, which sends the `framing` view and was last written at
    /// `last_write`, to publishers, if nothing is queued; the owner must not write to or close
    /// the socket before [`Queue::reclaim`].
    pub fn lend(&self, sink: Arc<dyn Sink>, framing: Framing, last_write: Option<Instant>) -> bool {
        let mut inner = self.inner.lock();
        let idle = inner.frames.is_empty() && inner.closed.is_none();
        if idle {
            inner.lent = Some(Lent {
                sink,
                framing,
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
                .map(|at| at + self.delivery.batch_window),
        }
    }

    /// The `batch_window` setting this queue gathers events by.
    pub fn batch_window(&self) -> Duration {
        self.delivery.batch_window
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

    /// Why the queue stopped accepting frames, if it did.
    pub fn closed(&self) -> Option<Closed> {
        self.inner.lock().closed
    }

    /// Moves up to `max` queued frames to `out`, as `framing` sends them, without waiting.
    pub fn drain_into(&self, out: &mut Vec<Bytes>, max: usize, framing: Framing) {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let count = inner.frames.len().min(max);
        if count == 0 {
            return;
        }
        // What a lent socket already took of the front frame is not sent again.
        let mut skip = std::mem::take(&mut inner.written);
        let encoder = &mut inner.encoder;
        out.extend(inner.frames.drain(..count).map(|frame| {
            Inner::sent(encoder, &frame);
            frame.bytes(framing, std::mem::take(&mut skip))
        }));
    }

    /// The next frame, as `framing` sends it; `Ready(None)` once closed and drained.
    pub fn poll_pop(&self, cx: &mut Context<'_>, framing: Framing) -> Poll<Option<Bytes>> {
        let mut inner = self.inner.lock();
        if let Some(frame) = inner.frames.pop_front() {
            let skip = std::mem::take(&mut inner.written);
            Inner::sent(&mut inner.encoder, &frame);
            return Poll::Ready(Some(frame.bytes(framing, skip)));
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

/// The queued frames a lent socket is given, in the view it sends.
struct Pending<'a> {
    frames: &'a mut VecDeque<Frame>,
    /// Bytes of the front frame already taken.
    written: &'a mut usize,
    framing: Framing,
    encoder: &'a mut Option<Box<StreamEncoder>>,
}

impl Pending<'_> {
    /// Writes the frames to `sink`, `MAX_SLICES` per write, until all are written or the socket
    /// takes less than offered; returns how many bytes were written.
    fn write_all(&mut self, sink: &dyn Sink) -> io::Result<usize> {
        let mut total = 0;
        while !self.frames.is_empty() {
            let offered = self.offered();
            let written = match self.write_front(sink) {
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

    /// Bytes the next write offers.
    fn offered(&self) -> usize {
        let views = self.frames.iter().take(MAX_SLICES);
        views
            .map(|frame| frame.view(self.framing).len())
            .sum::<usize>()
            - *self.written
    }

    /// Writes frames from the front in one write, dropping what was written; returns how many
    /// bytes were.
    fn write_front(&mut self, sink: &dyn Sink) -> io::Result<usize> {
        let framing = self.framing;
        let first = &self.frames[0].view(framing)[*self.written..];
        let written = match self.frames.len() {
            // The common case of a fan-out: one event, without filling an array of slices.
            1 => sink.write_now(&[IoSlice::new(first)])?,
            _ => {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let count = self.frames.len().min(MAX_SLICES);
                slices[0] = IoSlice::new(first);
                for (slice, frame) in slices[1..count].iter_mut().zip(self.frames.iter().skip(1)) {
                    *slice = IoSlice::new(frame.view(framing));
                }
                sink.write_now(&slices[..count])?
            }
        };
        self.advance(written);
        Ok(written)
    }

    /// Drops the frames `written` more bytes completed; remembers how far into the next.
    fn advance(&mut self, written: usize) {
        let mut left = *self.written + written;
        while let Some(front) = self.frames.front() {
            let len = front.view(self.framing).len();
            if left < len {
                *self.written = left;
                return;
            }
            left -= len;
            if let Some(frame) = self.frames.pop_front() {
                Inner::sent(self.encoder, &frame);
            }
        }
        *self.written = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::tests::{lent_pair, Flag};
    use std::task::Waker;

    fn poll(queue: &Queue) -> Poll<Option<Bytes>> {
        queue.poll_pop(&mut Context::from_waker(Waker::noop()), Framing::Record)
    }

    #[test]
    fn delivers_in_order_then_pending() {
        let queue = Queue::new(4, BATCH_WINDOW);
        assert_eq!(queue.push(&Frame::of(b"a"), Pusher::here()), Pushed::Queued);
        assert_eq!(queue.push(&Frame::of(b"b"), Pusher::here()), Pushed::Queued);
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"a"))));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"b"))));
        assert_eq!(poll(&queue), Poll::Pending);
    }

    #[test]
    fn overflow_closes_after_draining_what_was_queued() {
        let queue = Queue::new(2, BATCH_WINDOW);
        assert_eq!(queue.push(&Frame::of(b"1"), Pusher::here()), Pushed::Queued);
        assert_eq!(queue.push(&Frame::of(b"2"), Pusher::here()), Pushed::Queued);
        assert_eq!(
            queue.push(&Frame::of(b"3"), Pusher::here()),
            Pushed::Refused
        );
        assert_eq!(queue.closed(), Some(Closed::Overflow));
        assert_eq!(
            queue.push(&Frame::of(b"4"), Pusher::here()),
            Pushed::Refused
        );
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"1"))));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"2"))));
        assert_eq!(poll(&queue), Poll::Ready(None));
    }

    /// A queue whose owner waits (its waker registered) with its socket lent.
    struct Lending {
        queue: Queue,
        theirs: std::os::unix::net::UnixStream,
        woken: std::sync::Arc<Flag>,
    }

    impl Lending {
        fn new(capacity: usize, last_write: Option<Instant>) -> Self {
            Self::with_window(capacity, last_write, BATCH_WINDOW)
        }

        fn with_window(capacity: usize, last_write: Option<Instant>, window: Duration) -> Self {
            let (ours, theirs) = lent_pair();
            let queue = Queue::new(capacity, window);
            let woken = Flag::new();
            let waker = Waker::from(woken.clone());
            assert!(queue
                .poll_pop(&mut Context::from_waker(&waker), Framing::Record)
                .is_pending());
            assert!(queue.lend(ours, Framing::Record, last_write));
            Self {
                queue,
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
        let a = queue.push(&Frame::of(b"a"), Pusher::here());
        let b = queue.push(&Frame::of(b"b"), Pusher::here());
        assert_eq!((a, b), (Pushed::Flush, Pushed::Queued));
        queue.flush(Instant::now());
        assert!(!lending.woken(), "the owner sleeps on");
        assert_eq!(lending.received(), b"ab");
        let queue = &lending.queue;
        assert!(
            queue.reclaim().last_write.is_some(),
            "the owner learns of the write"
        );
        let c = queue.push(&Frame::of(b"c"), Pusher::here());
        assert_eq!(c, Pushed::Queued);
        let (sink, _peer) = lent_pair();
        assert!(
            !queue.lend(sink, Framing::Record, None),
            "not lent while frames wait"
        );
        assert_eq!(poll(queue), Poll::Ready(Some(Bytes::from_static(b"c"))));
    }

    #[tokio::test]
    async fn a_full_socket_goes_back_to_its_owner_with_the_rest_queued() {
        let mut lending = Lending::new(100_000, None);
        let frame = Frame::of(&[b'x'; 4096]);
        let mut sent = 0;
        let mut now = Instant::now();
        while !lending.woken() {
            now += BATCH_WINDOW; // Never hot: each push is written at once.
            if lending.queue.push(&frame, pusher_at(now)) == Pushed::Flush {
                lending.queue.flush(now);
            }
            sent += frame.view(Framing::Record).len();
            assert!(sent < 64 << 20, "the socket never filled up");
        }
        let mut received = lending.received().len();
        while let Poll::Ready(Some(rest)) = poll(&lending.queue) {
            received += rest.len();
        }
        assert_eq!(received, sent, "every byte written once or still queued");
    }

    /// A socket that takes at most `room` bytes, once.
    struct Narrow {
        room: Mutex<usize>,
        taken: Mutex<Vec<u8>>,
    }

    impl Sink for Narrow {
        fn write_now(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
            let mut room = self.room.lock();
            if *room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let bytes: Vec<u8> = slices.iter().flat_map(|slice| slice.to_vec()).collect();
            let took = bytes.len().min(std::mem::take(&mut *room));
            self.taken.lock().extend_from_slice(&bytes[..took]);
            Ok(took)
        }
    }

    #[test]
    fn after_a_partial_write_the_owner_sends_the_rest_of_the_frame_in_the_same_view() {
        let queue = Queue::new(8, BATCH_WINDOW);
        let narrow = Arc::new(Narrow {
            room: Mutex::new(5),
            taken: Mutex::new(Vec::new()),
        });
        assert!(poll_chunks(&queue).is_pending());
        assert!(queue.lend(narrow.clone(), Framing::Chunk, None));
        let at = Instant::now();
        assert_eq!(queue.push(&Frame::of(b"abc"), pusher_at(at)), Pushed::Flush);
        assert_eq!(queue.push(&Frame::of(b"de"), pusher_at(at)), Pushed::Queued);
        queue.flush(at);
        assert_eq!(&narrow.taken.lock()[..], b"3\r\nab");
        let mut rest = Vec::new();
        queue.drain_into(&mut rest, 8, Framing::Chunk);
        assert_eq!(rest, [&b"c\r\n"[..], b"2\r\nde\r\n"]);
    }

    fn poll_chunks(queue: &Queue) -> Poll<Option<Bytes>> {
        queue.poll_pop(&mut Context::from_waker(Waker::noop()), Framing::Chunk)
    }

    #[tokio::test]
    async fn events_closer_than_the_batch_window_are_left_for_the_pusher_to_gather() {
        let start = Instant::now();
        let mut lending = Lending::new(8, None);
        let first = lending.queue.push(&Frame::of(b"a"), pusher_at(start));
        assert_eq!(first, Pushed::Flush, "after a quiet time: at once");
        lending.queue.flush(start);
        assert_eq!(lending.received(), b"a");
        let soon = pusher_at(start + BATCH_WINDOW / 2);
        let b = lending.queue.push(&Frame::of(b"b"), soon);
        let until = start + BATCH_WINDOW;
        assert_eq!(b, Pushed::Gather(until), "until a window after the write");
        let c = lending.queue.push(&Frame::of(b"c"), soon);
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
            let pushed = lending.queue.push(&Frame::of(frame), pusher_at(at));
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
            let pushed = lending.queue.push(&Frame::of(frame), pusher_at(wrote));
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
        let a = lending.queue.push(&Frame::of(b"a"), pusher_at(wrote));
        assert_eq!(a, Pushed::Flush);
        lending.queue.flush(wrote);
        assert_eq!(lending.received(), b"a");
        let elsewhere = std::thread::spawn(Pusher::here).join().expect("thread");
        let b = lending.queue.push(&Frame::of(b"b"), elsewhere);
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
        let a = lending.queue.push(&Frame::of(b"a"), elsewhere);
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
