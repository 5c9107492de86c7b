//! Deadlines from durations that a client or the configuration may make arbitrarily long (a
//! token's `exp`, `write_timeout`, `heartbeat`): `Instant + Duration` panics on overflow, and a
//! panic there would take down every stream of the worker (docs/reliability.md R-TOKEN).

use std::time::Duration;

use tokio::time::Instant;

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
