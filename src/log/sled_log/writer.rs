//! The writer thread: stores what appends queued as one chunk, fsyncs once for the whole group
//! (group commit), answers every publisher waiting on it, and deletes what retention dropped.
//! After a failed write it reopens the database until writing works again (`recovery`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::index::Run;
use super::layout::{self, CHUNK, LAST_ID, NEXT, PAGE, RUN};
use super::{Durability, LogError, Shared};
use crate::event::Event;
use crate::log::{codec, ErrorChain};

/// The longest a queued event waits for others to join its write (group commit); a lone
/// publish waits at most this much longer.
const MAX_GATHER: Duration = Duration::from_millis(2);

/// Most events in one chunk: bounds one write and one replay read.
const MAX_CHUNK_EVENTS: usize = 4096;

/// Most bytes of frames in one chunk (at least one event is taken whatever its size): bounds
/// what one replay read holds in memory.
const MAX_CHUNK_BYTES: usize = 1 << 20;

/// With `periodic` durability no publish waits for the writer, so it gathers this long after
/// the first queued event: one write and one sync per window instead of one per publish. This
/// is the window of acknowledged events a power cut may lose.
pub(super) const PERIODIC_GATHER: Duration = Duration::from_millis(20);

/// With `periodic` durability, how far behind the writer may fall before appends wait for it:
/// the bound on what a power cut can take, whatever the disk's speed.
pub(super) const PERIODIC_MAX_LAG: Duration = Duration::from_millis(200);

/// The `op` of a failed write.
const WRITE: &str = "write";

/// One write's worth of work, taken from the state under its lock.
struct Work {
    first: u64,
    events: Vec<(u64, Arc<Event>)>,
    runs: Vec<Arc<Run>>,
    expired_runs: Vec<(u64, u64)>,
    first_retained: u64,
}

impl Work {
    /// The position of the group's last event.
    fn last(&self) -> u64 {
        self.first + self.events.len() as u64 - 1
    }
}

impl Shared {
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _guard = self.state.lock();
        self.wake.notify_one();
    }

    /// Resolves once `position` is on disk, or fails if the write holding it failed.
    pub(super) async fn wait(self: Arc<Self>, position: u64) -> Result<(), LogError> {
        self.decisions
            .wait_for(&self.durable, |d| d.decided, position)
            .await
            .map_err(|_| LogError::Stopped("the history writer stopped"))?;
        if self.durable.borrow().stored(position) {
            Ok(())
        } else {
            Err(LogError::NotStored)
        }
    }

    /// Whether the oldest event still waiting for the writer was appended more than
    /// `PERIODIC_MAX_LAG` ago.
    pub(super) fn lagging(&self) -> bool {
        let now = self.clock.now_ms();
        let lag = u64::try_from(PERIODIC_MAX_LAG.as_millis()).unwrap_or(u64::MAX);
        let state = self.state.lock();
        state
            .pending
            .front()
            .is_some_and(|oldest| now.saturating_sub(oldest.stored_at) > lag)
    }

    pub(super) fn write_loop(&self) {
        let mut last_write = Instant::now()
            .checked_sub(MAX_GATHER)
            .unwrap_or_else(Instant::now);
        let mut expected = 1;
        let mut cleaned_below = 0;
        loop {
            let (wanted, deadline) = match self.durability {
                Durability::Fsync => (expected, Some(last_write + MAX_GATHER)),
                Durability::Periodic => (MAX_CHUNK_EVENTS, None),
            };
            let Some(work) = self.next_work(wanted, deadline) else {
                return;
            };
            last_write = Instant::now();
            expected = work.events.len();
            let last = work.last();
            let result = self.write(&work, &mut cleaned_below);
            let failed = result.is_err();
            self.written(&work, last, result);
            if failed {
                self.recover();
            }
        }
    }

    /// Waits for queued events and takes up to one chunk of them; `None` once stopped and idle.
    ///
    /// The write starts once `expected` events are queued, or at `deadline` (`None`: a
    /// `PERIODIC_GATHER` after the first queued event).
    ///
    /// With `fsync`, group commit without a fixed delay: as many publishers as joined the
    /// previous write are expected again, so under steady load each write carries about one
    /// event per concurrent publisher, and a lone publisher is written at once.
    fn next_work(&self, expected: usize, mut deadline: Option<Instant>) -> Option<Work> {
        let mut state = self.state.lock();
        loop {
            let stopping = self.stopping.load(Ordering::Acquire);
            let queued = state.pending.len();
            if queued == 0 && stopping {
                return None;
            }
            if queued == 0 {
                state.wake_writer_at = 1;
                self.wake.wait(&mut state);
                continue;
            }
            let until = *deadline.get_or_insert_with(|| Instant::now() + PERIODIC_GATHER);
            if queued >= expected || stopping || Instant::now() >= until {
                break;
            }
            state.wake_writer_at = expected;
            self.wake.wait_until(&mut state, until);
        }
        state.wake_writer_at = usize::MAX;
        let count = chunk_len(state.pending.iter().map(|q| q.event.frame.len()));
        let first = state.written + 1;
        let events = state
            .pending
            .iter()
            .take(count)
            .map(|queued| (queued.stored_at, queued.event.clone()))
            .collect();
        let runs = state.index.writable(state.written + count as u64);
        let first_retained = state.first;
        let expired_runs = state.index.take_expired(first_retained);
        Some(Work {
            first,
            events,
            runs,
            expired_runs,
            first_retained,
        })
    }

    fn write(&self, work: &Work, cleaned_below: &mut u64) -> Result<(), LogError> {
        #[cfg(test)]
        if self.fail_writes.load(Ordering::Relaxed) > 0 {
            self.fail_writes.fetch_sub(1, Ordering::Relaxed);
            return Err(LogError::storage(WRITE)(std::io::Error::other(
                "injected failure",
            )));
        }
        let db = self.db()?;
        let last = work.last();
        let mut chunk = Vec::new();
        for (stored_at, event) in &work.events {
            layout::push_record(&mut chunk, &codec::encode(&event.update, *stored_at));
        }
        let chunk_key = layout::span_key(CHUNK, last, work.first);
        let chunk_only = work.runs.is_empty()
            && work.expired_runs.is_empty()
            && work.first_retained <= *cleaned_below;
        if chunk_only {
            // One key is written atomically on its own. A sled batch seals a log buffer for its
            // manifest: one more write and sync per group.
            db.insert(&chunk_key[..], chunk)
                .map_err(LogError::storage(WRITE))?;
        } else {
            self.write_batch(&db, work, chunk_key, chunk, cleaned_below)?;
        }
        // Both modes: a write counts once it is synced, so that a failed sync is seen here (and
        // retried with `periodic`) instead of losing events already taken off the queue.
        db.flush().map_err(LogError::storage(WRITE))?;
        Ok(())
    }

    /// The chunk with what must change along with it: index runs, expired runs and chunks.
    fn write_batch(
        &self,
        db: &sled::Db,
        work: &Work,
        chunk_key: [u8; 17],
        chunk: Vec<u8>,
        cleaned_below: &mut u64,
    ) -> Result<(), LogError> {
        let last = work.last();
        let mut batch = sled::Batch::default();
        batch.insert(&chunk_key[..], chunk);
        for run in &work.runs {
            let entries = run.entries.sorted();
            for page in layout::pages(&entries) {
                let key = layout::page_key(run.last, page[0].0);
                batch.insert(&key[..], layout::encode_page(page));
            }
            batch.insert(&layout::span_key(RUN, run.last, run.first)[..], &[][..]);
        }
        for &(first, last) in &work.expired_runs {
            delete_run(db, &mut batch, first, last)?;
        }
        if work.first_retained > *cleaned_below {
            delete_chunks_before(db, &mut batch, work.first_retained)?;
            *cleaned_below = work.first_retained;
            // The last chunk may go with this batch: keep what start-up needs without it.
            if let Some((_, newest)) = work.events.last() {
                batch.insert(LAST_ID, newest.update.id().as_bytes());
            }
            batch.insert(NEXT, &(last + 1).to_be_bytes()[..]);
        }
        db.apply_batch(batch).map_err(LogError::storage(WRITE))?;
        Ok(())
    }

    /// Records the outcome of a write and answers the publishers waiting for it.
    ///
    /// A failed write with `fsync` fails every queued event, not only its group: their
    /// publishers get `503` now rather than wait while the disk is broken, and appends are
    /// refused until `recover` reopened the database. With `periodic` the events were already
    /// acknowledged: they stay queued and are written again after the recovery.
    fn written(&self, work: &Work, last: u64, result: Result<(), LogError>) {
        let mut state = self.state.lock();
        let error = match result {
            Ok(()) => {
                let mut taken = take_front(&mut state, work.events.len());
                state.written = last;
                state.index.runs_stored(work.runs.len());
                // Stored now, so replayable: into the tail, which hands back what it let go.
                let retained_from = state.first;
                state.tail.extend(work.first, &mut taken, retained_from);
                drop(state);
                drop(taken);
                self.durable.send_modify(|d| d.written(last));
                return;
            }
            Err(error) => error,
        };
        state.refusing = true;
        self.faults.write_failures.fetch_add(1, Ordering::Relaxed);
        // The chunk may have reached the disk before the sync failed: it goes when the
        // database is reopened, so that what was refused never reappears.
        self.unwritten
            .lock()
            .push(layout::span_key(CHUNK, last, work.first));
        if self.durability == Durability::Periodic {
            drop(state);
            tracing::error!(error = %ErrorChain(&error), "writing the history to disk failed; retrying (appends are refused meanwhile)");
            return;
        }
        let failed_upto = state.next - 1;
        let all = state.pending.len();
        let mut taken = take_front(&mut state, all);
        state.written = failed_upto;
        // The failed positions are skipped: the tail starts again after them.
        state.tail.clear_into(&mut taken);
        drop(state);
        drop(taken);
        tracing::error!(error = %ErrorChain(&error), "writing the history to disk failed; the waiting publishes are refused (503) and appends too until writing works again");
        self.durable
            .send_modify(|d| d.failed(work.first, failed_upto));
    }
}

/// How many of the queued events, of these frame sizes, make the next chunk.
fn chunk_len(sizes: impl Iterator<Item = usize>) -> usize {
    let mut bytes = 0usize;
    let mut count = 0;
    for size in sizes.take(MAX_CHUNK_EVENTS) {
        bytes = bytes.saturating_add(size);
        if count > 0 && bytes > MAX_CHUNK_BYTES {
            break;
        }
        count += 1;
    }
    count
}

/// Takes the first `count` queued events off the queue, for the tail; what is not kept is
/// dropped by the caller, after the state's lock is released.
fn take_front(state: &mut super::State, count: usize) -> Vec<super::Queued> {
    let taken: Vec<super::Queued> = state.pending.drain(..count).collect();
    let bytes: usize = taken.iter().map(|q| q.event.frame.len()).sum();
    state.pending_bytes = state.pending_bytes.saturating_sub(bytes);
    taken
}

/// Deletes the chunks retention left entirely behind.
fn delete_chunks_before(
    db: &sled::Db,
    batch: &mut sled::Batch,
    first: u64,
) -> Result<(), LogError> {
    for key in db.scan_prefix([CHUNK]).keys() {
        let key = key.map_err(LogError::storage(WRITE))?;
        match layout::span_of(&key) {
            Some((last, _)) if last < first => batch.remove(key),
            _ => break,
        }
    }
    Ok(())
}

fn delete_run(
    db: &sled::Db,
    batch: &mut sled::Batch,
    first: u64,
    last: u64,
) -> Result<(), LogError> {
    let mut prefix = vec![PAGE];
    prefix.extend_from_slice(&last.to_be_bytes());
    for key in db.scan_prefix(prefix).keys() {
        batch.remove(key.map_err(LogError::storage(WRITE))?);
    }
    batch.remove(&layout::span_key(RUN, last, first)[..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_bounded_in_bytes_but_takes_at_least_one_event() {
        assert_eq!(chunk_len([5 << 20].into_iter()), 1, "one huge event alone");
        assert_eq!(chunk_len([600 << 10, 600 << 10, 10].into_iter()), 1);
        assert_eq!(chunk_len([100; 10].into_iter()), 10);
        assert_eq!(chunk_len(std::iter::repeat_n(1, 10_000)), MAX_CHUNK_EVENTS);
        assert_eq!(chunk_len(std::iter::empty()), 0);
    }
}
