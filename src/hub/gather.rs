//! Gathering for hot subscribers: one timer per worker thread instead of one per subscriber.
//!
//! An event that reaches a lent socket less than `batch_window` after the previous write to it is
//! not written at once (see `Queue::push`): its subscriber joins its thread's gathering, and one
//! tick, a window after the earliest of those writes, writes every gathered queue back to back.
//! No subscriber task is woken and none keeps a timer; a subscriber receiving 2,000 events/s
//! gets them a few per write, and the client reading all of them is woken once per tick rather
//! than once per write.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::time::{Instant, Sleep};

use super::deadline::poll_sleep_until;
use super::Subscriber;

#[derive(Default)]
struct Gathering {
    /// The tick task runs on this thread.
    ticking: bool,
    waker: Option<Waker>,
    /// When the tick fires: the earliest time a gathered subscriber is due.
    due_at: Option<Instant>,
    subscribers: Vec<Arc<Subscriber>>,
}

thread_local! {
    static GATHERING: RefCell<Gathering> = RefCell::new(Gathering::default());
}

/// Starts this thread's tick task, once; called where sockets are lent, inside the worker's
/// local task set.
pub fn start_here() {
    let start =
        GATHERING.with_borrow_mut(|gathering| !std::mem::replace(&mut gathering.ticking, true));
    if start {
        tokio::task::spawn_local(Tick { sleep: None });
    }
}

/// Queues `subscriber`'s flush for the next tick, at `due` at the latest. Where no tick runs (a
/// thread that never lent a socket), it is flushed at once.
pub(super) fn add(subscriber: Arc<Subscriber>, due: Instant, now: Instant) {
    let flush_now = GATHERING.with_borrow_mut(|gathering| {
        if !gathering.ticking {
            return Some(subscriber);
        }
        if gathering.due_at.is_none_or(|at| due < at) {
            gathering.due_at = Some(due);
            if let Some(waker) = &gathering.waker {
                waker.wake_by_ref();
            }
        }
        gathering.subscribers.push(subscriber);
        None
    });
    if let Some(subscriber) = flush_now {
        subscriber.queue.flush(now);
    }
}

/// The per-thread tick: sleeps until the gathering is due, then writes every gathered queue.
struct Tick {
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Future for Tick {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let due_at = GATHERING.with_borrow_mut(|gathering| {
                if !gathering
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    gathering.waker = Some(cx.waker().clone());
                }
                gathering.due_at
            });
            let Some(due_at) = due_at else {
                return Poll::Pending;
            };
            if poll_sleep_until(&mut self.sleep, due_at, cx).is_pending() {
                return Poll::Pending;
            }
            write_gathered();
        }
    }
}

fn write_gathered() {
    let mut due = GATHERING.with_borrow_mut(|gathering| {
        gathering.due_at = None;
        std::mem::take(&mut gathering.subscribers)
    });
    let now = Instant::now();
    for subscriber in due.drain(..) {
        subscriber.queue.flush(now);
    }
    // Keeps the list's allocation for the next round.
    GATHERING.with_borrow_mut(|gathering| {
        if gathering.subscribers.is_empty() {
            gathering.subscribers = due;
        }
    });
}
