//! Deadlines from durations that a client or the configuration may make arbitrarily long (a
//! token's `exp`, `write_timeout`, `heartbeat`): `Instant + Duration` panics on overflow, and a
//! panic there would take down every stream of the worker (docs/reliability.md R-TOKEN); and
//! waiting for one on a per-thread timer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Beyond this a deadline is "never" for a running process; capping there keeps every
/// `Instant` addition far from the clock's range (tokio's own "far future" is 30 years too).
pub(super) const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `now + after`, saturating at `now + FAR_FUTURE`.
pub(super) fn deadline_after(now: Instant, after: Duration) -> Instant {
    now.checked_add(after.min(FAR_FUTURE))
        // Unreachable on a monotonic clock (30 years from now always fits); ending at once is
        // still better than a panic.
        .unwrap_or(now)
}

/// Polls a thread's timer (made on first use, kept for reuse) set to `at`: `Ready` once `at`
/// has passed, else the task is woken then.
pub(super) fn poll_sleep_until(
    sleep: &mut Option<Pin<Box<Sleep>>>,
    at: Instant,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let sleep = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
    if sleep.deadline() != at {
        sleep.as_mut().reset(at);
    }
    sleep.as_mut().poll(cx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_at_the_far_future() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, Duration::MAX), now + FAR_FUTURE);
        assert_eq!(
            deadline_after(now, Duration::from_secs(u64::MAX)),
            now + FAR_FUTURE
        );
        assert_eq!(
            deadline_after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(deadline_after(now, Duration::ZERO), now);
    }
}
