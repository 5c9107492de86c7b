//! A subscriber's bounded queue of encoded frames (protocol.md C-SLOW-1).

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;

/// Why a queue stopped accepting frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The subscriber fell `capacity` frames behind: it is disconnected and resumes from history.
    Overflow,
    /// The hub is shutting down.
    Shutdown,
}

pub struct Queue {
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    frames: VecDeque<Bytes>,
    waker: Option<Waker>,
    closed: Option<Closed>,
}

impl Queue {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner {
                frames: VecDeque::new(),
                waker: None,
                closed: None,
            }),
        }
    }

    /// Queues a frame without ever waiting; a full queue closes itself instead (`false`).
    pub fn push(&self, frame: &Bytes) -> bool {
        let waker = {
            let mut inner = self.inner.lock();
            if inner.closed.is_some() {
                return false;
            }
            if inner.frames.len() >= self.capacity {
                inner.closed = Some(Closed::Overflow);
            } else {
                inner.frames.push_back(frame.clone());
            }
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.closed().is_none()
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn poll(queue: &Queue) -> Poll<Option<Bytes>> {
        queue.poll_pop(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn delivers_in_order_then_pending() {
        let queue = Queue::new(4);
        assert!(queue.push(&Bytes::from_static(b"a")));
        assert!(queue.push(&Bytes::from_static(b"b")));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"a"))));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"b"))));
        assert_eq!(poll(&queue), Poll::Pending);
    }

    #[test]
    fn overflow_closes_after_draining_what_was_queued() {
        let queue = Queue::new(2);
        assert!(queue.push(&Bytes::from_static(b"1")));
        assert!(queue.push(&Bytes::from_static(b"2")));
        assert!(!queue.push(&Bytes::from_static(b"3")));
        assert_eq!(queue.closed(), Some(Closed::Overflow));
        assert!(!queue.push(&Bytes::from_static(b"4")));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"1"))));
        assert_eq!(poll(&queue), Poll::Ready(Some(Bytes::from_static(b"2"))));
        assert_eq!(poll(&queue), Poll::Ready(None));
    }
}
