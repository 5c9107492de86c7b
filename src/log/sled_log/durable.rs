//! What the writer has decided so far, for publishes waiting on it (`durability = "fsync"`).

use std::collections::VecDeque;

/// Failed writes remembered for waiters that have not looked yet. The writer pauses 100 ms after
/// each failure, so these cover at least the last 6 s of failures.
const REMEMBERED_FAILURES: usize = 64;

#[derive(Debug, Default)]
pub(super) struct Durable {
    /// The last position of the last write, failed or not: every position at or below it is
    /// decided (on disk unless a failed write held it).
    pub(super) decided: u64,
    /// Position ranges of recent failed writes, oldest first.
    failed: VecDeque<(u64, u64)>,
    /// Failed writes older than the remembered ones reached up to here. A waiter at or below it
    /// cannot tell whether its event is stored, so it is failed (its publisher retries) rather
    /// than told that a lost event was stored.
    forgotten_upto: u64,
}

impl Durable {
    pub(super) fn new(decided: u64) -> Self {
        Self {
            decided,
            ..Self::default()
        }
    }

    pub(super) fn written(&mut self, last: u64) {
        self.decided = last;
    }

    pub(super) fn failed(&mut self, first: u64, last: u64) {
        self.decided = last;
        if self.failed.len() == REMEMBERED_FAILURES {
            if let Some((_, forgotten)) = self.failed.pop_front() {
                self.forgotten_upto = forgotten;
            }
        }
        self.failed.push_back((first, last));
    }

    /// Whether a decided `position` is on disk.
    pub(super) fn stored(&self, position: u64) -> bool {
        position > self.forgotten_upto
            && !self
                .failed
                .iter()
                .any(|&(first, last)| (first..=last).contains(&position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_successful_write_does_not_hide_a_failed_one() {
        let mut durable = Durable::new(4);
        durable.failed(5, 6);
        durable.written(8);
        assert!(durable.stored(4));
        assert!(!durable.stored(5) && !durable.stored(6));
        assert!(durable.stored(7) && durable.stored(8));
    }

    #[test]
    fn positions_below_forgotten_failures_are_not_claimed_stored() {
        let mut durable = Durable::new(5);
        for i in 0..=REMEMBERED_FAILURES as u64 {
            durable.failed(10 * i + 6, 10 * i + 7);
            durable.written(10 * i + 15);
        }
        assert!(!durable.stored(6), "forgotten failure");
        assert!(!durable.stored(3), "stored, but nothing tells it any more");
        assert!(durable.stored(8), "stored after the forgotten failure");
        assert!(!durable.stored(16), "remembered failure");
    }
}
