//! Healing after a failed write (a full disk, an I/O error), without a restart.
//!
//! sled keeps a global error after one failed write and refuses every later write, so the
//! writer reopens the database: sled's recovery drops the torn tail of its log. The chunks whose
//! write failed are then deleted (they may have reached the disk before the sync failed), and a
//! probe write must reach the disk before appends are accepted again.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::layout::HEALTH;
use super::{Durability, LogError, Shared};
use crate::log::ErrorChain;

/// The first pause after a failure; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// The longest pause between attempts: writing resumes within about this long once the disk
/// has room again.
const MAX_PAUSE: Duration = Duration::from_secs(1);

impl Shared {
    /// Retries until writing works again, or the log is closing.
    pub(super) fn recover(&self) {
        let mut pause = FIRST_PAUSE;
        let mut attempts = 0u64;
        loop {
            if self.stopping.load(Ordering::Acquire) {
                self.give_up();
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
            match self.reopen_and_probe() {
                Ok(()) => {
                    self.state.lock().refusing = false;
                    tracing::info!("the history is writable again; appends are accepted");
                    return;
                }
                Err(error) => {
                    // Once a minute or so at most: a full disk may last.
                    if attempts % 60 == 0 {
                        tracing::warn!(error = %ErrorChain(&error), attempts, "the history is still not writable; retrying");
                    }
                    attempts += 1;
                }
            }
        }
    }

    fn reopen_and_probe(&self) -> Result<(), LogError> {
        // A reader may still hold the old database for a moment; its file lock then makes the
        // open fail, and the next attempt succeeds.
        drop(self.db.write().take());
        let db = self.opener.open()?;
        *self.db.write() = Some(db.clone());
        let unwritten = self.unwritten.lock().clone();
        for key in &unwritten {
            db.remove(&key[..]).map_err(LogError::storage("reopen"))?;
        }
        db.insert(HEALTH, &self.clock.now_ms().to_be_bytes())
            .map_err(LogError::storage("reopen"))?;
        db.flush().map_err(LogError::storage("reopen"))?;
        self.unwritten.lock().retain(|key| !unwritten.contains(key));
        Ok(())
    }

    /// Closing while the disk still fails: with `periodic`, the acknowledged events still
    /// queued are lost; say so and count them.
    fn give_up(&self) {
        if self.durability != Durability::Periodic {
            return;
        }
        let mut state = self.state.lock();
        let lost = state.pending.len();
        state.pending.clear();
        state.pending_bytes = 0;
        drop(state);
        if lost > 0 {
            self.faults
                .events_lost
                .fetch_add(lost as u64, Ordering::Relaxed);
            tracing::error!(
                lost,
                "closing while the disk still fails: acknowledged events were never written"
            );
        }
    }
}
