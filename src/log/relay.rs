//! Waiting for a writer thread's progress with one cross-thread wake per runtime thread, not
//! one per waiter.
//!
//! A task woken from another thread costs its runtime a syscall (tokio unparks the thread's
//! I/O driver with an `eventfd` write). Every durable publish waits for the writer thread to
//! decide its position, so the writer paid one such write per publisher in flight, and again
//! for every later group it decided while they waited: about 2.4 per publish under 64
//! concurrent publishers. Waiters on one thread now share one watcher: the first becomes the
//! leader and follows the channel; the others wait on a local `Notify` that the leader fires,
//! which wakes them without a syscall.

use std::cell::RefCell;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::{watch, Notify};

/// Tells the relays of different channels apart in a thread's registry.
static NEXT_CHANNEL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's relays, by channel; dead entries are pruned when one is added.
    static RELAYS: RefCell<Vec<(u64, Weak<Relay>)>> = const { RefCell::new(Vec::new()) };
}

/// The shared waiting point for one watched channel: give it to every waiter of that channel.
#[derive(Debug)]
pub(crate) struct ProgressRelay {
    channel: u64,
}

/// The waiters of one channel on one thread.
#[derive(Debug, Default)]
struct Relay {
    /// The highest progress the leader has seen.
    reached: AtomicU64,
    leading: AtomicBool,
    advanced: Notify,
}

/// The channel's sender was dropped: no progress will come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

impl ProgressRelay {
    pub(crate) fn new() -> Self {
        Self {
            channel: NEXT_CHANNEL.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Resolves once `progress` of the channel's value is at least `target`.
    ///
    /// Cancel-safe: a leader dropped while waiting hands the watch to another waiter.
    pub(crate) async fn wait_for<T>(
        &self,
        channel: &watch::Sender<T>,
        progress: impl Fn(&T) -> u64,
        target: u64,
    ) -> Result<(), Closed> {
        let relay = self.on_this_thread(|| progress(&channel.borrow()));
        loop {
            let mut advanced = pin!(relay.advanced.notified());
            advanced.as_mut().enable();
            if relay.reached.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            if !relay.leading.swap(true, Ordering::AcqRel) {
                let leader = Leader(&relay);
                return leader.follow(channel, &progress, target).await;
            }
            advanced.await;
        }
    }

    fn on_this_thread(&self, current: impl FnOnce() -> u64) -> Arc<Relay> {
        RELAYS.with_borrow_mut(|relays| {
            let found = relays
                .iter()
                .find(|(channel, _)| *channel == self.channel)
                .and_then(|(_, relay)| relay.upgrade());
            if let Some(relay) = found {
                return relay;
            }
            relays.retain(|(_, relay)| relay.strong_count() > 0);
            let relay = Arc::new(Relay {
                reached: AtomicU64::new(current()),
                ..Relay::default()
            });
            relays.push((self.channel, Arc::downgrade(&relay)));
            relay
        })
    }
}

/// The waiter that follows the channel for the others; when it goes (done or dropped) it
/// wakes them so that one of them leads if some still wait.
struct Leader<'a>(&'a Relay);

impl Leader<'_> {
    async fn follow<T>(
        &self,
        channel: &watch::Sender<T>,
        progress: &impl Fn(&T) -> u64,
        target: u64,
    ) -> Result<(), Closed> {
        let mut receiver = channel.subscribe();
        loop {
            let reached = progress(&receiver.borrow_and_update());
            if self.0.reached.fetch_max(reached, Ordering::AcqRel) < reached {
                self.0.advanced.notify_waiters();
            }
            if reached >= target {
                return Ok(());
            }
            receiver.changed().await.map_err(|_| Closed)?;
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.0.leading.store(false, Ordering::Release);
        self.0.advanced.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime")
    }

    #[test]
    fn every_waiter_resolves_when_another_thread_reaches_its_target() {
        let (sender, _) = watch::channel(0u64);
        let sender = Arc::new(sender);
        let relay = Arc::new(ProgressRelay::new());
        let writer = {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for reached in 1..=50 {
                    std::thread::sleep(Duration::from_micros(200));
                    sender.send_replace(reached);
                }
            })
        };
        runtime().block_on(async {
            let local = tokio::task::LocalSet::new();
            let waiters: Vec<_> = (1..=50)
                .flat_map(|target| [target, target])
                .map(|target| {
                    let (sender, relay) = (sender.clone(), relay.clone());
                    local.spawn_local(async move {
                        relay
                            .wait_for(&sender, |v| *v, target)
                            .await
                            .map(|()| target)
                    })
                })
                .collect();
            local
                .run_until(async {
                    for waiter in waiters {
                        let target = waiter.await.expect("no panic").expect("not closed");
                        assert!(*sender.borrow() >= target);
                    }
                })
                .await;
        });
        writer.join().expect("writer");
    }

    #[test]
    fn a_dropped_leader_hands_over_to_the_next_waiter() {
        let (sender, _) = watch::channel(0u64);
        let relay = ProgressRelay::new();
        runtime().block_on(async {
            let mut leader = Box::pin(relay.wait_for(&sender, |v| *v, 5));
            assert!(futures_poll_once(leader.as_mut()).await.is_none());
            let follower = relay.wait_for(&sender, |v| *v, 3);
            drop(leader);
            sender.send_replace(3);
            tokio::time::timeout(Duration::from_secs(5), follower)
                .await
                .expect("the follower took over the watch")
                .expect("not closed");
        });
    }

    #[test]
    fn relays_of_different_channels_do_not_mix() {
        let (first, _) = watch::channel(10u64);
        let (second, _) = watch::channel(0u64);
        let (a, b) = (ProgressRelay::new(), ProgressRelay::new());
        runtime().block_on(async {
            a.wait_for(&first, |v| *v, 10).await.expect("reached");
            let pending = b.wait_for(&second, |v| *v, 10);
            assert!(tokio::time::timeout(Duration::from_millis(50), pending)
                .await
                .is_err());
        });
    }

    /// Polls `future` once: `Some` if it completed.
    async fn futures_poll_once<F: std::future::Future + Unpin>(future: F) -> Option<F::Output> {
        let mut future = future;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(cx) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
