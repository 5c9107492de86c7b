//! A graceful stop within one budget, `shutdown_timeout` (protocol.md C-SHUT-1): open streams
//! first drain on their own deadlines, then the rest are ended and their last bytes written,
//! then connections close and background writes settle. Every stage waits only for what is
//! left of the budget, so the budget is the bound the docs promise (the history's final write
//! comes after it: losing acknowledged events is never the way to be on time).

use std::time::Duration;

use tokio::time::Instant;

/// The part of the budget kept for ending the streams that are still open and closing the
/// server, at most.
const ENDING: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Shutdown {
    /// Until when streams may end on their own deadlines.
    drain_until: Instant,
    /// When everything must be done.
    deadline: Instant,
}

impl Shutdown {
    /// Starts the budget now. Streams without a lifetime cap would never end by themselves, so
    /// then they are ended at once.
    pub(crate) fn begin(budget: Duration, streams_end_by_themselves: bool) -> Self {
        let now = Instant::now();
        let deadline = now + budget;
        let ending = ENDING.min(budget / 4);
        let drain_until = if streams_end_by_themselves {
            deadline - ending
        } else {
            now
        };
        Self {
            drain_until,
            deadline,
        }
    }

    pub(crate) fn drain_until(&self) -> Instant {
        self.drain_until
    }

    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// What is left of the budget (zero once it is spent).
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// How long draining may last, for the log line.
    pub(crate) fn draining_for(&self) -> Duration {
        self.drain_until.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn streams_drain_until_the_ending_part_of_the_budget() {
        let stop = Shutdown::begin(Duration::from_secs(10), true);
        assert_eq!(stop.draining_for(), Duration::from_secs(8));
        assert_eq!(stop.remaining(), Duration::from_secs(10));
        let short = Shutdown::begin(Duration::from_secs(2), true);
        assert_eq!(short.draining_for(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn streams_without_a_lifetime_end_at_once_and_the_budget_still_bounds_the_rest() {
        let stop = Shutdown::begin(Duration::from_secs(10), false);
        assert_eq!(stop.draining_for(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(stop.remaining(), Duration::ZERO);
        assert!(stop.deadline() <= Instant::now());
    }
}
