//! Wake-ups for streams' heartbeats and ends: one tokio timer per thread instead of one per
//! stream (issue 21 §4).
//!
//! A tokio `Sleep` costs an idle connection about 170 bytes of heap. Here a stream's alarm is a
//! slot (24 bytes) and a queue entry (16 bytes) in its thread's lists, and one task per thread
//! (the ring) sleeps until the earliest alarm and wakes every stream that is due. Deadlines keep
//! their full precision, and the ring sleeps on a tokio timer, so a stream is woken when its own
//! `Sleep` would have fired.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::{Instant, Sleep};

use super::deadline::poll_sleep_until;

/// A point in time as nanoseconds since the process's epoch: 8 bytes where an `Instant` takes 16,
/// with the same precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Moment(u64);

impl Moment {
    /// Later than every deadline (those are capped 30 years ahead, see `deadline`).
    pub(super) const NEVER: Self = Self(u64::MAX);

    /// `instant` as a moment; one before the epoch (only a test's paused clock could be) is
    /// the epoch.
    pub(super) fn of(instant: Instant) -> Self {
        let since = instant.saturating_duration_since(epoch()).as_nanos();
        let nanos = u64::try_from(since).unwrap_or(u64::MAX);
        Self(nanos.min(u64::MAX - 1))
    }

    /// `self + after`, `NEVER` if either is.
    pub(super) fn after(self, after: Nanos) -> Self {
        if self == Self::NEVER || after == Nanos::NEVER {
            return Self::NEVER;
        }
        Self(self.0.saturating_add(after.0).min(u64::MAX - 1))
    }

    fn instant(self) -> Instant {
        // A moment comes from an `Instant` (`of`): it is in the clock's range.
        epoch()
            .checked_add(Duration::from_nanos(self.0))
            .unwrap_or_else(epoch)
    }
}

/// A duration in nanoseconds, `NEVER` for none: 8 bytes where an `Option<Duration>` takes 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Nanos(u64);

impl Nanos {
    /// No duration: `Moment::after` it is `Moment::NEVER`.
    pub(super) const NEVER: Self = Self(u64::MAX);

    /// `duration`, saturating (u64 nanoseconds are 584 years).
    pub(super) fn of(duration: Option<Duration>) -> Self {
        duration.map_or(Self::NEVER, |d| {
            Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1))
        })
    }
}

/// Before every instant of the process, paused test clocks included (they start from the real
/// clock when their runtime is made).
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = Instant::now().min(Instant::from_std(std::time::Instant::now()));
        [86_400, 3_600, 60]
            .into_iter()
            .find_map(|secs| now.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(now)
    })
}

#[derive(Default)]
struct Slot {
    at: u64,
    /// Taken when the alarm rings or its stream ends.
    waker: Option<Waker>,
}

/// One thread's alarms.
#[derive(Default)]
struct Alarms {
    /// A ring task runs for these alarms.
    ringing: bool,
    ring_waker: Option<Waker>,
    /// When the ring task is to wake next.
    ring_at: Option<u64>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Alarms by time, `(at, slot)`; an entry whose slot has since been set to another time or
    /// freed is stale, skipped when it comes up (cheaper than removing it from the heap).
    queue: BinaryHeap<Reverse<(u64, u32)>>,
}

impl Alarms {
    fn is_live(&self, (at, slot): (u64, u32)) -> bool {
        self.slots
            .get(slot as usize)
            .is_some_and(|s| s.at == at && s.waker.is_some())
    }

    /// Moves the wakers of every stream due at `now` to `due`; the time of the next alarm, if
    /// any.
    fn ring(&mut self, now: u64, due: &mut Vec<Waker>) -> Option<u64> {
        while let Some(&Reverse((at, slot))) = self.queue.peek() {
            if at > now {
                if self.is_live((at, slot)) {
                    return Some(at);
                }
            } else if let Some(rung) = self.slots.get_mut(slot as usize).filter(|s| s.at == at) {
                due.extend(rung.waker.take());
            }
            self.queue.pop();
        }
        None
    }

    /// Drops stale entries once they outnumber the live ones: streams that end long before
    /// their alarm (no heartbeat, a long `write_timeout`) would otherwise leave them for that
    /// long.
    fn compact(&mut self) {
        let live = self.slots.len().saturating_sub(self.free.len());
        if self.queue.len() > 2 * live + 64 {
            let mut queue = std::mem::take(&mut self.queue);
            queue.retain(|&Reverse(entry)| self.is_live(entry));
            self.queue = queue;
        }
    }
}

thread_local! {
    static HERE: Arc<Mutex<Alarms>> = Arc::default();
}

/// A stream's alarm: at most one time at which its task is woken. Freed with the stream.
/// `T` is a small value of the stream's, kept where the alarm would have padding.
pub(super) struct Alarm<T> {
    /// The alarms of the thread it was made on (the stream may be polled elsewhere in a
    /// multi-threaded runtime; the ring wakes it wherever it is).
    alarms: Arc<Mutex<Alarms>>,
    slot: u32,
    /// The stream's value.
    pub(super) kept: T,
}

impl<T> Alarm<T> {
    /// A new alarm in this thread's lists, not set.
    pub(super) fn here(kept: T) -> Self {
        let alarms = HERE.with(Arc::clone);
        let slot = {
            let mut set = alarms.lock();
            match set.free.pop() {
                Some(slot) => slot,
                None => {
                    set.slots.push(Slot::default());
                    // 4 billion streams on a thread are beyond memory anyway.
                    u32::try_from(set.slots.len() - 1).unwrap_or(u32::MAX)
                }
            }
        };
        Self { alarms, slot, kept }
    }

    /// Wakes `waker` at `at`, unless the alarm is already set to ring after `now` (its time is
    /// early enough: what is due only moves later). Inside a tokio runtime.
    pub(super) fn set_unless_armed(&self, at: Moment, now: Moment, waker: &Waker) {
        let mut alarms = self.alarms.lock();
        let Some(slot) = alarms.slots.get_mut(self.slot as usize) else {
            return;
        };
        if slot.waker.is_some() && now.0 < slot.at {
            return;
        }
        slot.at = at.0;
        slot.waker = Some(waker.clone());
        alarms.queue.push(Reverse((at.0, self.slot)));
        alarms.compact();
        if !std::mem::replace(&mut alarms.ringing, true) {
            drop(alarms);
            // Outside the lock: a runtime that is shutting down drops the ring at once, and its
            // drop takes the lock.
            tokio::spawn(Ring {
                alarms: Arc::clone(&self.alarms),
                sleep: None,
                due: Vec::new(),
            });
        } else if alarms.ring_at.is_none_or(|ring_at| at.0 < ring_at) {
            if let Some(ring) = &alarms.ring_waker {
                ring.wake_by_ref();
            }
        }
    }
}

impl<T> Drop for Alarm<T> {
    fn drop(&mut self) {
        let mut alarms = self.alarms.lock();
        if let Some(slot) = alarms.slots.get_mut(self.slot as usize) {
            // Its queue entry, if any, is stale from now on: a freed slot has no waker.
            *slot = Slot::default();
            alarms.free.push(self.slot);
        }
    }
}

/// The task that sleeps until a thread's earliest alarm and wakes the streams due.
struct Ring {
    alarms: Arc<Mutex<Alarms>>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The wakers of the streams due, woken once the lock is released; kept for the next round.
    due: Vec<Waker>,
}

impl Future for Ring {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            let next = {
                let mut alarms = this.alarms.lock();
                if !alarms
                    .ring_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    alarms.ring_waker = Some(cx.waker().clone());
                }
                let next = alarms.ring(Moment::of(Instant::now()).0, &mut this.due);
                alarms.ring_at = next;
                next
            };
            this.due.drain(..).for_each(Waker::wake);
            let Some(next) = next else {
                return Poll::Pending;
            };
            if poll_sleep_until(&mut this.sleep, Moment(next).instant(), cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Its runtime is shutting down: the next alarm set starts a ring in the new one.
        let mut alarms = self.alarms.lock();
        alarms.ringing = false;
        alarms.ring_waker = None;
        alarms.ring_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_keep_nanoseconds() {
        let now = Instant::now();
        let later = now + Duration::from_nanos(1_234_567);
        assert_eq!(Moment::of(later).0 - Moment::of(now).0, 1_234_567);
        assert_eq!(Moment::of(now).instant(), now);
        assert_eq!(Moment::of(now).after(Nanos::NEVER), Moment::NEVER);
        assert_eq!(
            Moment::of(now).after(Nanos::of(Some(Duration::from_millis(5)))),
            Moment::of(now + Duration::from_millis(5))
        );
    }

    fn set(alarms: &mut Alarms, slot: usize, at: u64) {
        alarms
            .slots
            .resize_with(alarms.slots.len().max(slot + 1), Slot::default);
        alarms.slots[slot] = Slot {
            at,
            waker: Some(Waker::noop().clone()),
        };
        alarms.queue.push(Reverse((at, slot as u32)));
    }

    #[test]
    fn rings_what_is_due_and_tells_the_next_time() {
        let mut alarms = Alarms::default();
        set(&mut alarms, 0, 30);
        set(&mut alarms, 1, 10);
        set(&mut alarms, 2, 10);
        set(&mut alarms, 2, 20); // Re-armed: its entry at 10 is stale.
        let mut due = Vec::new();
        assert_eq!(alarms.ring(10, &mut due), Some(20));
        assert_eq!(due.len(), 1);
        due.clear();
        assert_eq!(alarms.ring(25, &mut due), Some(30));
        assert_eq!(due.len(), 1);
    }

    #[test]
    fn entries_of_ended_streams_are_skipped_and_dropped() {
        let mut alarms = Alarms::default();
        for slot in 0..200 {
            set(&mut alarms, slot, 1_000);
        }
        for slot in 0..200 {
            alarms.slots[slot] = Slot::default();
            alarms.free.push(slot as u32);
        }
        alarms.compact();
        assert!(alarms.queue.is_empty());
        set(&mut alarms, 0, 1_000);
        alarms.slots[0] = Slot::default();
        let mut due = Vec::new();
        assert_eq!(alarms.ring(2_000, &mut due), None);
        assert!(due.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn wakes_at_the_time_set_and_not_after_the_stream_ends() {
        // A stream's task: sets its alarm 50 ms ahead once, and reports each poll.
        let start = Instant::now();
        let alarm = Alarm::here(());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut set = false;
            std::future::poll_fn(|cx| {
                let _ = tx.send(Instant::now());
                if !std::mem::replace(&mut set, true) {
                    let at = Moment::of(start + Duration::from_millis(50));
                    alarm.set_unless_armed(at, Moment::of(start), cx.waker());
                }
                Poll::<()>::Pending
            })
            .await;
        });
        let first = rx.recv().await;
        assert_eq!(first, Some(start));
        let second = rx.recv().await;
        assert!(second.is_some_and(|at| at >= start + Duration::from_millis(50)));
        task.abort();
        let _ = task.await;
        let alarms = HERE.with(Arc::clone);
        assert!(alarms.lock().slots.iter().all(|slot| slot.waker.is_none()));
    }
}
