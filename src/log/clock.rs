//! What time it is for age retention: the system's clock, or one a test moves by hand.
//!
//! The logs read the time through `Clock` so that tests of `history_max_age` advance it instead
//! of sleeping. Redis trims by its own server clock and takes none.

#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(test)]
use std::time::Duration;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of the current time, in milliseconds.
pub trait Clock: Send + Sync {
    /// Milliseconds since an origin that never moves while the log is open.
    fn now_ms(&self) -> u64;
}

/// Wall-clock time since the Unix epoch: what a persistent log stores with each event.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// Time since the clock was made, never going back when the wall clock is set: enough for a
/// log that forgets everything when the process ends (memory).
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// A clock that stands still until a test advances it.
#[cfg(test)]
#[derive(Debug)]
pub(crate) struct ManualClock(AtomicU64);

#[cfg(test)]
impl ManualClock {
    /// Starts at the system's time, so that what it stamps looks like real data.
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(SystemClock.now_ms()))
    }

    /// Lets `by` pass.
    pub(crate) fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
