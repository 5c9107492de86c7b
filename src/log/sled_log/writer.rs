//! The writer thread: stores what appends queued as one chunk, fsyncs once for the whole group
//! (group commit), answers every publisher waiting on it, and deletes what retention dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::index::Run;
use super::layout::{self, CHUNK, LAST_ID, NEXT, PAGE, RUN};
use super::{storage, Durability, LogError, Shared};
use crate::event::Event;
use crate::log::codec;

/// The longest a queued event waits for others to join its write (group commit); a lone
/// publish waits at most this much longer.
const MAX_GATHER: Duration = Duration::from_millis(2);

/// Most events in one chunk: bounds one write and one replay read.
const MAX_CHUNK_EVENTS: usize = 4096;

/// With `periodic` durability no publish waits for the writer, so it gathers this long after
/// the first queued event: a write per window instead of one per publish (each sled write
/// syncs its range, whatever the durability).
const PERIODIC_GATHER: Duration = Duration::from_millis(20);

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
        let mut receiver = self.durable.subscribe();
        let state = receiver
            .wait_for(|d| d.decided >= position)
            .await
            .map_err(|_| LogError::Storage("the history writer stopped".into()))?;
        if state.stored(position) {
            Ok(())
        } else {
            Err(LogError::Storage(
                "writing the history to disk failed".into(),
            ))
        }
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
            self.written(&work, last, result);
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
        let count = state.pending.len().min(MAX_CHUNK_EVENTS);
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
            self.db.insert(&chunk_key[..], chunk).map_err(storage)?;
        } else {
            self.write_batch(work, chunk_key, chunk, cleaned_below)?;
        }
        if self.durability == Durability::Fsync {
            self.db.flush().map_err(storage)?;
        }
        Ok(())
    }

    /// The chunk with what must change along with it: index runs, expired runs and chunks.
    fn write_batch(
        &self,
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
            self.delete_run(&mut batch, first, last)?;
        }
        if work.first_retained > *cleaned_below {
            self.delete_chunks_before(&mut batch, work.first_retained)?;
            *cleaned_below = work.first_retained;
            // The last chunk may go with this batch: keep what start-up needs without it.
            if let Some((_, newest)) = work.events.last() {
                batch.insert(LAST_ID, newest.update.id.as_bytes());
            }
            batch.insert(NEXT, &(last + 1).to_be_bytes()[..]);
        }
        self.db.apply_batch(batch).map_err(storage)?;
        Ok(())
    }

    /// Deletes the chunks retention left entirely behind.
    fn delete_chunks_before(&self, batch: &mut sled::Batch, first: u64) -> Result<(), LogError> {
        for key in self.db.scan_prefix([CHUNK]).keys() {
            let key = key.map_err(storage)?;
            match layout::span_of(&key) {
                Some((last, _)) if last < first => batch.remove(key),
                _ => break,
            }
        }
        Ok(())
    }

    fn delete_run(&self, batch: &mut sled::Batch, first: u64, last: u64) -> Result<(), LogError> {
        let mut prefix = vec![PAGE];
        prefix.extend_from_slice(&last.to_be_bytes());
        for key in self.db.scan_prefix(prefix).keys() {
            batch.remove(key.map_err(storage)?);
        }
        batch.remove(&layout::span_key(RUN, last, first)[..]);
        Ok(())
    }

    /// Records the outcome of a write and answers the publishers waiting for it.
    fn written(&self, work: &Work, last: u64, result: Result<(), LogError>) {
        {
            let mut state = self.state.lock();
            state.pending.drain(..work.events.len());
            state.written = last;
            if result.is_ok() {
                state.index.runs_stored(work.runs.len());
                state.failed_at = None;
            } else {
                state.failed_at = Some(Instant::now());
            }
        }
        match result {
            Ok(()) => self.durable.send_modify(|d| d.written(last)),
            Err(error) => {
                tracing::error!(%error, "writing the history to disk failed");
                self.durable.send_modify(|d| d.failed(work.first, last));
                // Later appends get their own attempt; don't spin on a broken disk.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
