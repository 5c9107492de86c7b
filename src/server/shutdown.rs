//! A graceful stop within one budget, `shutdown_timeout` (protocol.md C-SHUT-1): open streams
//! first drain on their own deadlines, then the rest are ended and their last bytes written,
//! then connections close and background writes settle. Every stage waits only for what is
//! left of the budget, so the budget is the bound the docs promise (the history's final write
//! comes after it: losing acknowledged events is never the way to be on time).
//!
//! No stage sleeps for a fixed time: the hub tracks its open streams (`Hub::until_idle` resolves
//! when the last one has ended), `Hub::shutdown` ends them all at once, and a stage ends at the
//! first of its deadline, its work being done or, while streams drain, a second signal.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::listeners::Listeners;
use super::{signals, ServerError};
use crate::http::{self, AppState};
use crate::hub::Hub;

/// The part of the budget kept for ending the streams that are still open and closing the
/// server, at most.
const ENDING: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub(super) struct Shutdown {
    /// The whole budget, for the log line.
    budget: Duration,
    /// Until when streams may end on their own deadlines.
    drain_until: Instant,
    /// When everything must be done.
    deadline: Instant,
}

impl Shutdown {
    /// Starts the budget now. Streams without a lifetime cap would never end by themselves, so
    /// then they are ended at once.
    pub(super) fn begin(budget: Duration, streams_end_by_themselves: bool) -> Self {
        let now = Instant::now();
        let deadline = now + budget;
        let ending = ENDING.min(budget / 4);
        let drain_until = if streams_end_by_themselves {
            deadline - ending
        } else {
            now
        };
        Self {
            budget,
            drain_until,
            deadline,
        }
    }

    /// Stops accepting, lets streams drain, ends the rest, closes the listeners and lets the
    /// history's background writes settle, all by the deadline. Returns the listeners' state.
    pub(super) async fn stop(
        self,
        hub: &Hub,
        listeners: Listeners,
    ) -> Result<Arc<AppState>, ServerError> {
        tracing::info!(
            "shutting down: no new connections; open streams end on their own deadlines, at most {:?}; done within {:?}",
            self.draining_for(),
            self.budget
        );
        listeners.main().pause().await;
        tokio::select! {
            _ = tokio::time::sleep_until(self.drain_until) => {}
            _ = hub.until_idle() => {}
            _ = signals::terminate() => tracing::info!("second signal: ending every stream now"),
        }
        http::stop(hub, listeners.main().clone(), self.deadline).await;
        self.settle(hub).await;
        listeners.finish().await
    }

    /// A shared log writes subscription events and presence changes in the background: they
    /// may take what is left of the budget.
    async fn settle(&self, hub: &Hub) {
        let log = hub.log().clone();
        let settle_for = self.remaining();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(feed) = log.feed() {
                feed.settle(settle_for);
            }
        })
        .await;
    }

    /// What is left of the budget (zero once it is spent).
    pub(super) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// How long draining may last, for the log line.
    pub(super) fn draining_for(&self) -> Duration {
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
        assert!(stop.deadline <= Instant::now());
    }
}
