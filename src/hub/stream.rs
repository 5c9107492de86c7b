//! A subscriber's event stream: the opening comment, the history replay, then live events,
//! with heartbeats and a bounded lifetime (protocol.md A.4, C-HB-1, C-TMO-1, C-HAND-1).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::time::Instant;

use super::alarm::{Alarm, Moment, Nanos};
use super::deadline::{deadline_after, FAR_FUTURE};
use super::queue::Reclaimed;
use super::{Closed, Sink, Subscription};
use crate::event::{Event, Frame, Framing};
use crate::log::{LogError, Position};
use crate::metrics::Disconnect;

/// At most this many events are read from history and checked per poll of a replay, so that
/// a replay whose events mostly do not match cannot hold its worker (R-REPLAY)...
pub(super) const REPLAY_BATCH: usize = 256;
/// ...and about this many bytes of them: after a batch of large events the next one is smaller.
pub(super) const REPLAY_BYTES: usize = 256 * 1024;
/// The first read of a replay is this small, so that a resuming client's first events leave at
/// once with the response head rather than after a whole batch was read, checked and joined
/// (issue 21); the next reads grow back to `REPLAY_BATCH`.
pub(super) const REPLAY_FIRST: usize = 8;

/// The per-connection timers of a stream, from the settings and the subscriber's token.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Silence after which `:\n` is written; `None` disables heartbeats.
    pub heartbeat: Option<Duration>,
    /// When the stream ends on its own (write_timeout or token expiry), if ever, and why.
    pub lifetime: Option<(Duration, Disconnect)>,
}

struct Replay {
    after: Option<Position>,
    upto: Position,
    /// Events to read next: `REPLAY_FIRST`, then `REPLAY_BATCH`, fewer when the events are large.
    batch: usize,
    /// A read of a shared log under way on a blocking thread: it is a network round trip, and
    /// a slow Redis must not hold this worker's other streams (R-REDIS).
    reading: Option<tokio::task::JoinHandle<ReadResult>>,
}

type ReadResult = Result<Vec<(Position, std::sync::Arc<Event>)>, LogError>;

/// One step of a replay: one bounded read from history.
enum Replayed {
    /// The matching events of the batch, joined so that one write carries them all.
    Frames(Bytes),
    /// Nothing in the batch matched: the stream yields, to be polled again.
    Yield,
    /// A read is under way elsewhere; its completion wakes the stream.
    Waiting,
    /// The replay is over (or there was none): live events follow.
    Done,
    Failed,
}

/// A subscription as the SSE body of its response: the opening comment, the replay, then live
/// events and heartbeats, until one of A-SSE-9's reasons ends it (A-SSE-3, A-HIST-9).
pub struct EventStream {
    subscription: Subscription,
    opened: bool,
    /// The view of its frames the connection sends (see `set_framing`).
    framing: Framing,
    /// Boxed: only a stream that replays needs it, and only until the replay is over.
    replay: Option<Box<Replay>>,
    timers: Option<Box<Timers>>,
    /// The stream is ending normally: its last frame (a gzip trailer) was sent, nothing follows.
    ending: bool,
}

/// The heartbeat and the end of the stream share one alarm, re-armed lazily: it is never set
/// later than the next thing due, and a write only moves `heartbeat_due`, so the alarm is set
/// once per heartbeat period rather than once per event. Boxed (only a stream with a heartbeat
/// or an end has them) and compact, 40 bytes, its alarm in the thread's lists rather than a
/// tokio timer of its own (issue 21 §4).
struct Timers {
    /// Keeps why the stream ends at `ends_at`.
    alarm: Alarm<Disconnect>,
    heartbeat_every: Nanos,
    heartbeat_due: Moment,
    ends_at: Moment,
}

enum Due {
    End(Disconnect),
    Heartbeat,
    Nothing,
}

impl Timers {
    fn new(options: StreamOptions) -> Option<Box<Self>> {
        if options.heartbeat.is_none() && options.lifetime.is_none() {
            return None;
        }
        let now = Instant::now();
        let moment = |after| Moment::of(deadline_after(now, after));
        Some(Box::new(Self {
            alarm: Alarm::here(options.lifetime.map_or(Disconnect::Timeout, |(_, r)| r)),
            heartbeat_every: Nanos::of(options.heartbeat.map(|every| every.min(FAR_FUTURE))),
            heartbeat_due: options.heartbeat.map_or(Moment::NEVER, moment),
            ends_at: options
                .lifetime
                .map_or(Moment::NEVER, |(lifetime, _)| moment(lifetime)),
        }))
    }

    fn due(&self, now: Moment) -> Due {
        if self.ends_at <= now {
            Due::End(self.alarm.kept)
        } else if self.heartbeat_due <= now {
            Due::Heartbeat
        } else {
            Due::Nothing
        }
    }

    fn wrote(&mut self, at: Moment) {
        self.heartbeat_due = self.heartbeat_due.max(at.after(self.heartbeat_every));
    }

    /// Makes sure the task is woken when the next thing is due.
    fn arm(&self, now: Moment, cx: &mut Context<'_>) {
        let next = self.heartbeat_due.min(self.ends_at);
        if next <= now {
            cx.waker().wake_by_ref();
        } else if next != Moment::NEVER {
            self.alarm.set_unless_armed(next, now, cx.waker());
        }
    }
}

/// How many events to read next, so that a read is about `REPLAY_BYTES` (`read` bytes were
/// in the last `count` events), and never more than `REPLAY_BATCH` events.
pub(super) fn next_batch_size(count: usize, read: usize) -> usize {
    let average = read.checked_div(count).unwrap_or(0).max(1);
    (REPLAY_BYTES / average).clamp(1, REPLAY_BATCH)
}

/// One bounded read of history: at once from a local log (memory, or sled's page cache and
/// disk), on a blocking thread from a shared one.
fn read_batch(replay: &mut Replay, hub: &super::Hub, cx: &mut Context<'_>) -> Poll<ReadResult> {
    if hub.log.feed().is_none() {
        return Poll::Ready(hub.log.read_after(replay.after, replay.upto, replay.batch));
    }
    let reading = replay.reading.get_or_insert_with(|| {
        let log = hub.log.clone();
        let (after, upto, batch) = (replay.after, replay.upto, replay.batch);
        tokio::task::spawn_blocking(move || log.read_after(after, upto, batch))
    });
    let done = match Pin::new(reading).poll(cx) {
        Poll::Ready(done) => done,
        Poll::Pending => return Poll::Pending,
    };
    replay.reading = None;
    Poll::Ready(done.unwrap_or_else(|error| Err(LogError::storage("read")(error))))
}

/// The events of a replayed batch the subscriber wants, in its stream's coding, joined for one
/// write: each compressed once for every stream (issue 21) and counted by this one.
fn compressed_replay(
    subscriber: &super::Subscriber,
    matcher: &crate::topic::Matcher,
    batch: &[(Position, Arc<Event>)],
    framing: Framing,
) -> Replayed {
    let joined = subscriber.queue.with_encoder(|encoder, min_size| {
        let mut joined = BytesMut::new();
        for (_, event) in batch.iter().filter(|(_, e)| subscriber.wants(e, matcher)) {
            let record = event.frame.view(Framing::Record);
            let frame = encoder.event(&event.compressed, record, min_size);
            joined.extend_from_slice(Frame::compressed(&frame, None).view(framing));
        }
        joined
    });
    match joined {
        Some(joined) if !joined.is_empty() => Replayed::Frames(joined.freeze()),
        _ => Replayed::Yield,
    }
}

impl EventStream {
    /// The stream of a registered subscription; its replay plan is taken from it.
    pub fn new(mut subscription: Subscription, options: StreamOptions) -> Self {
        let replay = subscription.take_replay().map(|(after, upto)| {
            Box::new(Replay {
                after,
                upto,
                batch: REPLAY_FIRST,
                reading: None,
            })
        });
        Self {
            subscription,
            opened: false,
            framing: Framing::default(),
            replay,
            timers: Timers::new(options),
            ending: false,
        }
    }

    /// From now on, frames are sent in the `framing` view (by default the bare record).
    pub fn set_framing(&mut self, framing: Framing) {
        self.framing = framing;
    }

    /// Moves what is ready to be written, at most `max` frames, to `out`: `Ready(true)` when
    /// it moved some, `Ready(false)` once the stream has ended. One call per write, so that a
    /// subscriber with several events queued gets them all in one write. `now` is about now.
    pub fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        out: &mut Vec<Bytes>,
        max: usize,
    ) -> Poll<bool> {
        let opening = !self.opened;
        match self.next_frame(cx, now) {
            Poll::Ready(Some(frame)) => out.push(frame),
            Poll::Ready(None) => return Poll::Ready(false),
            Poll::Pending => return Poll::Pending,
        }
        if opening && self.replay.is_some() {
            // A resuming client gets its first events in the write that carries the response
            // head and the opening comment, rather than one system call (and wake-up) later.
            if let Poll::Ready(Some(frame)) = self.next_frame(cx, now) {
                out.push(frame);
            }
        }
        self.wrote(now);
        if self.replay.is_none() && !self.ending {
            // Live: whatever else is queued follows, taken under one lock.
            let queue = &self.subscription.subscriber.queue;
            queue.drain_into(out, max.saturating_sub(1), self.framing);
        }
        Poll::Ready(true)
    }

    /// Whether the subscriber fell too far behind and is being disconnected (C-SLOW-1).
    pub fn overflowed(&self) -> bool {
        self.subscription.subscriber.queue.closed() == Some(Closed::Overflow)
    }

    /// Lets publishers write to `socket`, which sends this stream's framing, while nothing is
    /// queued (see `Queue::lend`); `false` when something is. Never during a replay: live
    /// events wait until the history is sent.
    pub fn lend_socket(&self, socket: Arc<dyn Sink>, last_write: Option<Instant>) -> bool {
        self.replay.is_none()
            && !self.ending
            && (self.subscription.subscriber.queue).lend(socket, self.framing, last_write)
    }

    /// Takes the socket back from publishers; what they wrote counts as activity for the
    /// heartbeat.
    pub fn reclaim_socket(&mut self) -> Reclaimed {
        let reclaimed = self.subscription.subscriber.queue.reclaim();
        if let Some(at) = reclaimed.last_write {
            self.wrote(at);
        }
        reclaimed
    }

    /// Records that the subscriber is disconnected for falling behind (C-SLOW-1): it resumes
    /// from history rather than holding the hub's memory.
    pub fn disconnect_slow_consumer(&mut self) {
        tracing::info!("subscriber unable to receive updates fast enough: disconnected");
        self.subscription
            .ended
            .get_or_insert(Disconnect::SlowConsumer);
    }

    /// Events closer than this to the previous write are written together (`batch_window`).
    pub fn batch_window(&self) -> std::time::Duration {
        self.subscription.subscriber.queue.batch_window()
    }

    /// The view of its frames the connection sends (see `set_framing`).
    pub fn framing(&self) -> Framing {
        self.framing
    }

    fn end(&mut self, reason: Disconnect) -> Poll<Option<Bytes>> {
        self.subscription.ended.get_or_insert(reason);
        Poll::Ready(None)
    }

    /// A normal end (write_timeout, token expiry, shutdown): a compressed stream's last frame
    /// first (the gzip trailer, issue 21), then the end.
    fn finish(&mut self, reason: Disconnect) -> Poll<Option<Bytes>> {
        self.subscription.ended.get_or_insert(reason);
        if !std::mem::replace(&mut self.ending, true) {
            let framing = self.framing;
            let last =
                (self.subscription.subscriber.queue).with_encoder(|encoder, _| encoder.end());
            if let Some(frame) = last.flatten() {
                return Poll::Ready(Some(Frame::compressed(&frame, None).bytes(framing, 0)));
            }
        }
        Poll::Ready(None)
    }

    fn wrote(&mut self, now: Instant) {
        if let Some(timers) = self.timers.as_mut() {
            timers.wrote(Moment::of(now));
        }
    }

    /// A `:` comment line (a heartbeat, the last words), compressed in a compressed stream.
    fn comment(&self) -> Bytes {
        let queue = &self.subscription.subscriber.queue;
        match queue.with_encoder(|encoder, _| encoder.comment()) {
            None => Frame::comment().bytes(self.framing, 0),
            Some(frame) => Frame::compressed(&frame, None).bytes(self.framing, 0),
        }
    }

    /// The first bytes of the stream: the opening comment, after a gzip stream's header.
    fn opening(&self) -> Bytes {
        let queue = &self.subscription.subscriber.queue;
        match queue.with_encoder(|encoder, _| encoder.opening()) {
            None => Frame::comment().bytes(self.framing, 0),
            Some(frame) => Frame::compressed(&frame, None).bytes(self.framing, 0),
        }
    }

    /// Reads the next batch of history (at most `REPLAY_BATCH` events, about `REPLAY_BYTES`)
    /// and keeps what the subscriber wants. One read per call, whatever matched: the caller
    /// yields after a batch with nothing to send.
    fn next_replayed(&mut self, cx: &mut Context<'_>) -> Replayed {
        let Some(replay) = self.replay.as_mut() else {
            return Replayed::Done;
        };
        let hub = &self.subscription.hub;
        let read = match read_batch(replay, hub, cx) {
            Poll::Ready(read) => read,
            Poll::Pending => return Replayed::Waiting,
        };
        let batch = match read {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(error = %crate::log::ErrorChain(&error), "history replay failed; closing the stream");
                return Replayed::Failed;
            }
        };
        let Some((last, _)) = batch.last() else {
            self.replay = None;
            return Replayed::Done;
        };
        replay.after = Some(*last);
        let read: usize = batch.iter().map(|(_, event)| event.frame.len()).sum();
        replay.batch = next_batch_size(batch.len(), read);
        let subscriber = &self.subscription.subscriber;
        let framing = self.framing;
        if subscriber.queue.encoding().is_some() {
            return compressed_replay(subscriber, &hub.matcher, &batch, framing);
        }
        let wanted: Vec<&[u8]> = batch
            .iter()
            .filter(|(_, event)| subscriber.wants(event, &hub.matcher))
            .map(|(_, event)| event.frame.view(framing))
            .collect();
        if wanted.is_empty() {
            return Replayed::Yield;
        }
        let mut joined = BytesMut::with_capacity(wanted.iter().map(|view| view.len()).sum());
        wanted
            .iter()
            .for_each(|view| joined.extend_from_slice(view));
        Replayed::Frames(joined.freeze())
    }

    /// The next frame to write, without re-arming the heartbeat; `None` once ended.
    fn next_frame(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Option<Bytes>> {
        if !self.opened {
            self.opened = true;
            return Poll::Ready(Some(self.opening()));
        }
        if self.ending {
            return Poll::Ready(None);
        }
        let now = Moment::of(now);
        let due = self.timers.as_ref().map_or(Due::Nothing, |t| t.due(now));
        if let Due::End(reason) = due {
            return self.finish(reason);
        }
        match self.next_replayed(cx) {
            Replayed::Frames(frame) => return Poll::Ready(Some(frame)),
            Replayed::Failed => return self.end(Disconnect::StorageError),
            Replayed::Yield => {
                // A long scan keeps the connection alive, and lets the worker's other tasks run.
                if let Due::Heartbeat = due {
                    return Poll::Ready(Some(self.comment()));
                }
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Replayed::Waiting => {
                if let Due::Heartbeat = due {
                    return Poll::Ready(Some(self.comment()));
                }
                if let Some(timers) = &self.timers {
                    timers.arm(now, cx);
                }
                return Poll::Pending;
            }
            Replayed::Done => {}
        }
        match self
            .subscription
            .subscriber
            .queue
            .poll_pop(cx, self.framing)
        {
            Poll::Ready(Some(frame)) => return Poll::Ready(Some(frame)),
            Poll::Ready(None) => return self.closed(),
            Poll::Pending => {}
        }
        if let Due::Heartbeat = due {
            return Poll::Ready(Some(self.comment()));
        }
        if let Some(timers) = &self.timers {
            timers.arm(now, cx);
        }
        Poll::Pending
    }

    /// The queue is closed and drained.
    fn closed(&mut self) -> Poll<Option<Bytes>> {
        if self.overflowed() {
            self.disconnect_slow_consumer();
            return Poll::Ready(None);
        }
        if self.subscription.ended.is_none() {
            // A last `:` line (the same bytes as a heartbeat, A-SSE-10) before the clean
            // end, so that clients and proxies see the stream was ended on purpose.
            self.subscription.ended = Some(Disconnect::Shutdown);
            return Poll::Ready(Some(self.comment()));
        }
        self.finish(Disconnect::Shutdown)
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let now = Instant::now();
        let frame = self.next_frame(cx, now);
        if let Poll::Ready(Some(_)) = frame {
            self.wrote(now);
        }
        frame.map(|frame| frame.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_stay_compact() {
        // 40 bytes: with malloc's header, a 48-byte block (issue 21 §4).
        assert!(std::mem::size_of::<Timers>() <= 40);
    }
}
