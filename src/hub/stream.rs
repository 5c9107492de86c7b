//! A subscriber's event stream: the opening comment, the history replay, then live events,
//! with heartbeats and a bounded lifetime (protocol.md A.4, C-HB-1, C-TMO-1, C-HAND-1).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::time::{Instant, Sleep};

use super::{Closed, Subscription};
use crate::log::Position;
use crate::metrics::Disconnect;

/// Events read from history per step of a replay.
const REPLAY_BATCH: usize = 256;

static COMMENT: Bytes = Bytes::from_static(b":\n");

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
}

pub struct EventStream {
    subscription: Subscription,
    opened: bool,
    replay: Option<Replay>,
    heartbeat_every: Option<Duration>,
    heartbeat: Option<Pin<Box<Sleep>>>,
    deadline: Option<Pin<Box<Sleep>>>,
    deadline_reason: Disconnect,
}

impl EventStream {
    pub fn new(mut subscription: Subscription, options: StreamOptions) -> Self {
        let replay = subscription
            .replay
            .take()
            .map(|(after, upto)| Replay { after, upto });
        Self {
            subscription,
            opened: false,
            replay,
            heartbeat_every: options.heartbeat,
            heartbeat: options
                .heartbeat
                .map(|every| Box::pin(tokio::time::sleep(every))),
            deadline: options
                .lifetime
                .map(|(lifetime, _)| Box::pin(tokio::time::sleep(lifetime))),
            deadline_reason: options.lifetime.map_or(Disconnect::Timeout, |(_, r)| r),
        }
    }

    fn end(&mut self, reason: Disconnect) -> Poll<Option<Bytes>> {
        self.subscription.ended.get_or_insert(reason);
        Poll::Ready(None)
    }

    fn wrote(&mut self) {
        if let (Some(timer), Some(every)) = (self.heartbeat.as_mut(), self.heartbeat_every) {
            timer.as_mut().reset(Instant::now() + every);
        }
    }

    /// The frames of the next replayed batch, joined so that one write carries them all;
    /// `None` once the replay is over.
    fn next_replayed(&mut self) -> Option<Result<Bytes, ()>> {
        let replay = self.replay.as_mut()?;
        loop {
            let hub = &self.subscription.hub;
            let batch = match hub.log.read_after(replay.after, replay.upto, REPLAY_BATCH) {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(%error, "history replay failed; closing the stream");
                    return Some(Err(()));
                }
            };
            let Some((last, _)) = batch.last() else {
                self.replay = None;
                return None;
            };
            replay.after = Some(*last);
            let subscriber = &self.subscription.subscriber;
            let wanted: Vec<&Bytes> = batch
                .iter()
                .filter(|(_, event)| subscriber.wants(event, &hub.matcher))
                .map(|(_, event)| &event.frame)
                .collect();
            if !wanted.is_empty() {
                let mut joined = BytesMut::with_capacity(wanted.iter().map(|f| f.len()).sum());
                wanted
                    .iter()
                    .for_each(|frame| joined.extend_from_slice(frame));
                return Some(Ok(joined.freeze()));
            }
        }
    }

    /// Moves what is ready to be written, at most `max` frames, to `out`: `Ready(true)` when
    /// it moved some, `Ready(false)` once the stream has ended. One call per write, so that a
    /// subscriber with several events queued gets them all in one write.
    pub fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Bytes>,
        max: usize,
    ) -> Poll<bool> {
        let before = out.len();
        while out.len() - before < max {
            match self.next_frame(cx) {
                Poll::Ready(Some(frame)) => out.push(frame),
                Poll::Ready(None) if out.len() == before => return Poll::Ready(false),
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        if out.len() == before {
            return Poll::Pending;
        }
        self.wrote();
        Poll::Ready(true)
    }

    /// Whether the subscriber fell too far behind and is being disconnected (C-SLOW-1).
    pub fn overflowed(&self) -> bool {
        self.subscription.subscriber.queue.closed() == Some(Closed::Overflow)
    }

    /// Records why the stream ended when the writer, not the stream, ends it.
    pub fn end_with(&mut self, reason: Disconnect) {
        self.subscription.ended.get_or_insert(reason);
    }

    /// The next frame to write, without re-arming the heartbeat; `None` once ended.
    fn next_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self;
        if !this.opened {
            this.opened = true;
            return Poll::Ready(Some(COMMENT.clone()));
        }
        if this
            .deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
        {
            return this.end(this.deadline_reason);
        }
        match this.next_replayed() {
            Some(Ok(frame)) => return Poll::Ready(Some(frame)),
            Some(Err(())) => return this.end(Disconnect::StorageError),
            None => {}
        }
        match this.subscription.subscriber.queue.poll_pop(cx) {
            Poll::Ready(Some(frame)) => return Poll::Ready(Some(frame)),
            Poll::Ready(None) => {
                let reason = match this.subscription.subscriber.queue.closed() {
                    Some(Closed::Overflow) => Disconnect::SlowConsumer,
                    _ => Disconnect::Shutdown,
                };
                if reason == Disconnect::SlowConsumer {
                    tracing::info!(
                        "subscriber unable to receive updates fast enough: disconnected"
                    );
                }
                if reason == Disconnect::Shutdown && this.subscription.ended.is_none() {
                    // A last `:` line (the same bytes as a heartbeat, A-SSE-10) before the clean
                    // end, so that clients and proxies see the stream was ended on purpose.
                    this.subscription.ended = Some(reason);
                    return Poll::Ready(Some(COMMENT.clone()));
                }
                return this.end(reason);
            }
            Poll::Pending => {}
        }
        if this
            .heartbeat
            .as_mut()
            .is_some_and(|h| h.as_mut().poll(cx).is_ready())
        {
            return Poll::Ready(Some(COMMENT.clone()));
        }
        Poll::Pending
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let frame = self.next_frame(cx);
        if let Poll::Ready(Some(_)) = frame {
            self.wrote();
        }
        frame.map(|frame| frame.map(Ok))
    }
}
