//! The default, persistent history on sled (protocol.md A-HIST-13, C-STORE-1).
//!
//! An append only queues the event in memory and indexes its id; a writer thread stores what
//! was queued as one chunk (one sled key for many events) and fsyncs once for all of them (group
//! commit). sled's cost is per key, so this is what makes durable publishing fast; see
//! `layout` for the keys and docs/history.md for the trade-offs. The newest written events stay
//! in memory too (`tail`), so that resuming near the end reads no disk.

mod durable;
mod index;
mod layout;
mod migrate;
mod recovery;
mod tail;
mod writer;

use std::collections::VecDeque;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex, RwLock};
use tokio::sync::watch;

use super::relay::ProgressRelay;
use super::{
    codec, Clock, Corrupt, DurableGate, ErrorChain, EventLog, Health, LogError, LogFaults,
    Position, Retention, SystemClock,
};
use crate::event::Event;
use durable::Durable;
use index::IdIndex;
use layout::{id_hash, CHUNK, HEALTH, LAST_ID, RUN};
use tail::{Tail, TAIL_BYTES};

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After an fsync; concurrent appends share one (group commit).
    Fsync,
    /// At once; the writer syncs what was published every `PERIODIC_GATHER` (20 ms), so a
    /// power cut may lose the last moments. While the writer is more than `PERIODIC_MAX_LAG`
    /// behind (a disk slower than the publishers), appends wait for their write as with
    /// `Fsync`, so that what a power cut can take stays that short.
    Periodic,
}

/// The history on disk in `data_dir` (`transport = "sled"`): survives restarts and crashes
/// (A-HIST-13), appends acknowledged as `durability` says.
pub struct SledLog {
    shared: Arc<Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// How to open the database again after a disk fault (sled refuses every write after one
/// failed write, until it is reopened).
struct Opener {
    dir: PathBuf,
    cache_bytes: u64,
}

impl Opener {
    fn open(&self) -> Result<sled::Db, LogError> {
        // No background flusher: the writer syncs every group itself, in both modes, so that a
        // failed sync is seen by the writer and never hides behind an acknowledged write.
        sled::Config::new()
            .path(&self.dir)
            .cache_capacity(self.cache_bytes)
            .flush_every_ms(None)
            .open()
            .map_err(|source| LogError::Open {
                dir: self.dir.clone(),
                source,
            })
    }
}

struct Shared {
    /// `None` only while the writer reopens it after a disk fault.
    db: RwLock<Option<sled::Db>>,
    opener: Opener,
    retention: Retention,
    /// What age retention and the stored times read.
    clock: Arc<dyn Clock>,
    durability: Durability,
    state: Mutex<State>,
    /// Wakes the writer when something is queued or the log closes.
    wake: Condvar,
    stopping: AtomicBool,
    durable: watch::Sender<Durable>,
    /// Where publishers wait for `durable` (one wake per thread, not per publisher).
    decisions: ProgressRelay,
    faults: Faults,
    /// Keys of chunks whose write failed: deleted when the database is reopened.
    unwritten: Mutex<Vec<[u8; 17]>>,
    /// Tests make this many writes fail.
    #[cfg(test)]
    fail_writes: std::sync::atomic::AtomicUsize,
}

/// What went wrong so far, for `/metrics`.
#[derive(Default)]
struct Faults {
    write_failures: AtomicU64,
    events_lost: AtomicU64,
}

struct State {
    /// Position of the oldest retained event (== `next` when empty).
    first: u64,
    next: u64,
    /// Every position at or below this one is in sled (or was lost with a failed write).
    written: u64,
    /// Appended events not written yet: positions `written + 1 ..`.
    pending: VecDeque<Queued>,
    /// Bytes of the frames in `pending`.
    pending_bytes: usize,
    /// The newest written events, up to `written`, within a byte budget.
    tail: Tail,
    /// Set by a failed write, cleared once the writer has reopened the database and a probe
    /// write reached the disk: appends are refused (503) meanwhile.
    refusing: bool,
    /// How many queued events wake the writer: it sleeps until its group is complete, so
    /// appends do not wake it one by one.
    wake_writer_at: usize,
    last_event_id: Option<String>,
    /// When the oldest retained event was stored: age retention reads nothing while it is young.
    oldest_stored_at: Option<u64>,
    index: IdIndex,
}

struct Queued {
    stored_at: u64,
    event: Arc<Event>,
}

impl State {
    /// The queued (not yet written) event at `position`.
    fn queued(&self, position: u64) -> Option<&Queued> {
        let index = position.checked_sub(self.written + 1)?;
        self.pending.get(usize::try_from(index).ok()?)
    }

    /// The event at `position` when it is in memory: queued, or written and in the tail.
    fn held(&self, position: u64) -> Option<&Queued> {
        if position > self.written {
            self.queued(position)
        } else {
            self.tail.get(position)
        }
    }

    /// The first position from which every event up to `next` is in memory.
    fn held_from(&self) -> u64 {
        self.tail.start().unwrap_or(self.written + 1)
    }

    /// The events in memory in `from..=to`, in order: the tail's, then the queued ones.
    fn held_range(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &Queued)> {
        let queued_from = from.max(self.written + 1);
        let skip = usize::try_from(queued_from - self.written - 1).unwrap_or(usize::MAX);
        let pending = self.pending.range(skip.min(self.pending.len())..);
        let queued = (queued_from..=to).zip(pending);
        self.tail.range(from, to.min(self.written)).chain(queued)
    }
}

/// Most appended events waiting for the writer: past this, appends fail (503) instead of
/// growing memory without bound while the disk does not keep up.
const MAX_QUEUED: usize = 1 << 18;

/// Most bytes of events waiting for the writer (a publish body may be 1 MiB): the same refusal.
const MAX_QUEUED_BYTES: usize = 64 << 20;

/// What the log was doing when sled failed: the `op` of `LogError::Storage`.
const RECOVERY: &str = "recovery";
const READ: &str = "read";
const INDEX_LOOKUP: &str = "index lookup";
const FLUSH: &str = "flush";
const HEALTH_PROBE: &str = "health probe";

/// Why appends are refused while the writer recovers from a failed write.
const RETRYING: &str = "writing the history to disk failed; retrying";

/// The (last, first) positions a chunk or index run key spans.
fn span(op: &'static str, key: &[u8]) -> Result<(u64, u64), LogError> {
    layout::span_of(key).ok_or_else(|| LogError::corrupt(op, Corrupt::Key))
}

impl SledLog {
    /// Opens (or creates) the history in `dir`, recovering its positions and id index.
    pub fn open(
        dir: &Path,
        retention: Retention,
        durability: Durability,
        cache_bytes: u64,
    ) -> Result<Self, LogError> {
        Self::open_with_clock(
            dir,
            retention,
            durability,
            cache_bytes,
            Arc::new(SystemClock),
        )
    }

    /// `open`, with age retention and the stored times reading `clock`.
    pub fn open_with_clock(
        dir: &Path,
        retention: Retention,
        durability: Durability,
        cache_bytes: u64,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LogError> {
        let opener = Opener {
            dir: dir.to_path_buf(),
            cache_bytes,
        };
        let db = opener.open()?;
        migrate::to_current_layout(&db)?;
        let state = recover(&db)?;
        let decided = state.written;
        let shared = Arc::new(Shared {
            db: RwLock::new(Some(db)),
            opener,
            retention,
            clock,
            durability,
            state: Mutex::new(state),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            durable: watch::Sender::new(Durable::new(decided)),
            decisions: ProgressRelay::new(),
            faults: Faults::default(),
            unwritten: Mutex::new(Vec::new()),
            #[cfg(test)]
            fail_writes: Default::default(),
        });
        shared.expire(&mut shared.state.lock(), shared.clock.now_ms())?;
        let worker = shared.clone();
        let writer = std::thread::Builder::new()
            .name("quicksilver-history".into())
            .spawn(move || worker.write_loop())
            .map_err(LogError::storage("writer start"))?;
        Ok(Self {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }
}

/// Reads the positions, the last id and the recent part of the id index back from disk.
fn recover(db: &sled::Db) -> Result<State, LogError> {
    let first_chunk = first_key(db, CHUNK)?;
    let last_chunk = db
        .scan_prefix([CHUNK])
        .next_back()
        .transpose()
        .map_err(LogError::storage(RECOVERY))?;
    let stored_next = db
        .get(layout::NEXT)
        .map_err(LogError::storage(RECOVERY))?
        .and_then(|bytes| Some(u64::from_be_bytes(bytes.as_ref().try_into().ok()?)))
        .unwrap_or(1);
    let last = match &last_chunk {
        Some((key, chunk)) => Some((span(RECOVERY, key)?, chunk)),
        None => None,
    };
    let next = last.map_or(1, |((last, _), _)| last + 1).max(stored_next);
    let first = first_chunk.map_or(next, |(_, first)| first);
    let last_event_id = match last.and_then(|(_, chunk)| layout::records(chunk).last()) {
        Some(record) => Some(
            codec::decode(record)
                .map_err(LogError::storage(RECOVERY))?
                .id()
                .to_owned(),
        ),
        None => db
            .get(LAST_ID)
            .map_err(LogError::storage(RECOVERY))?
            .map(|id| String::from_utf8_lossy(&id).into_owned()),
    };
    let runs: VecDeque<(u64, u64)> = db
        .scan_prefix([RUN])
        .keys()
        .map(|key| {
            let key = key.map_err(LogError::storage(RECOVERY))?;
            let (last, first) = span(RECOVERY, &key)?;
            Ok((first, last))
        })
        .collect::<Result<_, LogError>>()?;
    let active_from = runs.back().map_or(first, |run| run.1 + 1);
    let mut index = IdIndex::new(runs, active_from);
    for chunk in db.range(layout::chunk_from(active_from)..) {
        let (key, chunk) = chunk.map_err(LogError::storage(RECOVERY))?;
        if key.first() != Some(&CHUNK) {
            break;
        }
        let (_, chunk_first) = span(RECOVERY, &key)?;
        for (position, record) in (chunk_first..).zip(layout::records(&chunk)) {
            if position >= active_from {
                let update = codec::decode(record).map_err(LogError::storage(RECOVERY))?;
                index.insert(id_hash(update.id()), position);
            }
        }
    }
    let mut state = State {
        first,
        next,
        written: next - 1,
        pending: VecDeque::new(),
        pending_bytes: 0,
        tail: Tail::new(TAIL_BYTES),
        wake_writer_at: 1,
        refusing: false,
        last_event_id,
        oldest_stored_at: None,
        index,
    };
    state.oldest_stored_at = stored_at_of(|| Ok(db.clone()), &state, first)?;
    Ok(state)
}

/// (last, first) of the first key with this prefix.
fn first_key(db: &sled::Db, prefix: u8) -> Result<Option<(u64, u64)>, LogError> {
    match db
        .scan_prefix([prefix])
        .keys()
        .next()
        .transpose()
        .map_err(LogError::storage(RECOVERY))?
    {
        Some(key) => Ok(Some(span(RECOVERY, &key)?)),
        None => Ok(None),
    }
}

/// The stored record of a written position, `None` when it is gone.
fn read_record(db: &sled::Db, position: u64) -> Result<Option<Vec<u8>>, LogError> {
    let Some(entry) = db.range(layout::chunk_from(position)..).next() else {
        return Ok(None);
    };
    let (key, chunk) = entry.map_err(LogError::storage(READ))?;
    if key.first() != Some(&CHUNK) {
        return Ok(None);
    }
    let (_, first) = span(READ, &key)?;
    Ok(layout::record_at(&chunk, first, position).map(<[u8]>::to_vec))
}

/// When the event at `position` was stored, `None` when there is no such event.
fn stored_at_of(
    db: impl FnOnce() -> Result<sled::Db, LogError>,
    state: &State,
    position: u64,
) -> Result<Option<u64>, LogError> {
    if position >= state.next {
        return Ok(None);
    }
    if position > state.written || state.tail.get(position).is_some() {
        return Ok(state.held(position).map(|q| q.stored_at));
    }
    Ok(read_record(&db()?, position)?
        .as_deref()
        .and_then(codec::stored_at_ms))
}

impl Shared {
    /// The database, for one operation (a clone is a reference count).
    fn db(&self) -> Result<sled::Db, LogError> {
        self.db.read().clone().ok_or_else(|| {
            LogError::WritesRefused("the history is being reopened after a disk fault")
        })
    }

    /// Moves `first` past what retention drops now (A-HIST-11, C-STORE-1); the writer deletes
    /// the chunks and index runs left entirely behind.
    fn expire(&self, state: &mut State, now: u64) -> Result<(), LogError> {
        let before = state.first;
        if self.retention.max_events > 0 {
            let retained = state.next - state.first;
            state.first += retained.saturating_sub(self.retention.max_events);
        }
        if state.first != before {
            state.oldest_stored_at = stored_at_of(|| self.db(), state, state.first)?;
        }
        if self.retention.max_age.is_zero() {
            return Ok(());
        }
        let max_age = self.retention.max_age.as_millis() as u64;
        // Ages only grow from the front: count old events from the front.
        while state.first < state.next {
            let old = state
                .oldest_stored_at
                .is_none_or(|at| now.saturating_sub(at) > max_age);
            if !old {
                break;
            }
            state.first += 1;
            state.oldest_stored_at = stored_at_of(|| self.db(), state, state.first)?;
        }
        Ok(())
    }

    /// The id of the event at `position`, `None` when it is gone.
    fn id_at(&self, position: u64) -> Result<Option<String>, LogError> {
        {
            let state = self.state.lock();
            if position > state.written || state.tail.get(position).is_some() {
                return Ok(state.held(position).map(|q| q.event.update.id().to_owned()));
            }
        }
        match read_record(&self.db()?, position)? {
            Some(record) => Ok(Some(
                codec::decode(&record)
                    .map_err(LogError::storage(READ))?
                    .id()
                    .to_owned(),
            )),
            None => Ok(None),
        }
    }

    /// Candidate positions of `hash` in the stored index runs that retention still keeps.
    fn stored_candidates(
        &self,
        runs: &[(u64, u64)],
        hash: u64,
        first: u64,
    ) -> Result<Vec<u64>, LogError> {
        let mut candidates = Vec::new();
        let db = self.db()?;
        for &(_, run_last) in runs.iter().filter(|run| run.1 >= first) {
            let page = db
                .range(layout::page_key(run_last, 0)..=layout::page_key(run_last, hash))
                .next_back()
                .transpose()
                .map_err(LogError::storage(INDEX_LOOKUP))?;
            if let Some((_, page)) = page {
                candidates.extend(layout::page_positions(&page, hash));
            }
        }
        Ok(candidates)
    }

    /// Written events in `from..=to`, at most `max`.
    fn read_written(
        &self,
        from: u64,
        to: u64,
        max: usize,
        out: &mut Vec<(Position, Arc<Event>)>,
    ) -> Result<(), LogError> {
        for entry in self.db()?.range(layout::chunk_from(from)..) {
            let (key, chunk) = entry.map_err(LogError::storage(READ))?;
            if key.first() != Some(&CHUNK) {
                break;
            }
            let (_, chunk_first) = span(READ, &key)?;
            for (position, record) in (chunk_first..).zip(layout::records(&chunk)) {
                if position > to || out.len() >= max {
                    return Ok(());
                }
                if position >= from {
                    let update = codec::decode(record).map_err(LogError::storage(READ))?;
                    out.push((Position(position), Arc::new(Event::new(update))));
                }
            }
        }
        Ok(())
    }
}

impl EventLog for SledLog {
    fn append(&self, event: Arc<Event>) -> Result<Position, LogError> {
        let now = self.shared.clock.now_ms();
        let hash = id_hash(event.update.id());
        let size = event.frame.len();
        let mut state = self.shared.state.lock();
        if state.pending.len() >= MAX_QUEUED || state.pending_bytes + size > MAX_QUEUED_BYTES {
            return Err(LogError::WritesRefused(
                "the history writer is behind: the disk does not keep up",
            ));
        }
        if state.refusing {
            return Err(LogError::WritesRefused(RETRYING));
        }
        let position = state.next;
        if state.first == position {
            state.oldest_stored_at = Some(now);
        }
        state.next += 1;
        state.last_event_id = Some(event.update.id().to_owned());
        state.index.insert(hash, position);
        state.pending_bytes += size;
        state.pending.push_back(Queued {
            stored_at: now,
            event,
        });
        self.shared.expire(&mut state, now)?;
        let wake = state.pending.len() >= state.wake_writer_at;
        drop(state);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(Position(position))
    }

    fn durable(
        &self,
        position: Position,
    ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> {
        match self.shared.durability {
            Durability::Fsync => Box::pin(self.shared.clone().wait(position.0)),
            Durability::Periodic if self.shared.lagging() => {
                Box::pin(self.shared.clone().wait(position.0))
            }
            Durability::Periodic => Box::pin(std::future::ready(Ok(()))),
        }
    }

    fn gate(&self) -> Option<&dyn DurableGate> {
        (self.shared.durability == Durability::Fsync).then_some(self as &dyn DurableGate)
    }

    fn health(&self) -> Option<&dyn Health> {
        Some(self)
    }

    fn close(&self) -> Result<(), LogError> {
        self.shared.stop();
        // The writer writes what is queued (retrying a failed write until it stops), then ends.
        if let Some(writer) = self.writer.lock().take() {
            writer
                .join()
                .map_err(|_| LogError::Stopped("the history writer panicked"))?;
        }
        if let Some(db) = self.shared.db.read().as_ref() {
            db.flush().map_err(LogError::storage(FLUSH))?;
        }
        Ok(())
    }

    fn retained(&self) -> u64 {
        let state = self.shared.state.lock();
        state.next - state.first
    }

    fn last_position(&self) -> Option<Position> {
        let state = self.shared.state.lock();
        (state.next > state.first).then(|| Position(state.next - 1))
    }

    fn last_event_id(&self) -> Option<String> {
        self.shared.state.lock().last_event_id.clone()
    }

    fn find(&self, id: &str) -> Result<Option<Position>, LogError> {
        let hash = id_hash(id);
        let (first, runs, recent) = {
            let state = self.shared.state.lock();
            let index = &state.index;
            (state.first, index.stored_runs(), index.in_memory(hash))
        };
        let mut candidates = self.shared.stored_candidates(&runs, hash, first)?;
        candidates.extend(recent);
        for position in candidates.into_iter().filter(|p| *p >= first) {
            if self.shared.id_at(position)?.as_deref() == Some(id) {
                return Ok(Some(Position(position)));
            }
        }
        Ok(None)
    }

    fn read_after(
        &self,
        after: Option<Position>,
        upto: Position,
        max: usize,
    ) -> Result<Vec<(Position, Arc<Event>)>, LogError> {
        // What is in memory is taken under the lock; only older events are read from disk.
        let (from, disk_to, held) = {
            let state = self.shared.state.lock();
            let from = after.map_or(0, |p| p.0 + 1).max(state.first);
            let to = upto.0.min(state.next - 1);
            let held_from = state.held_from().max(from);
            let disk_to = to.min(held_from - 1);
            let on_disk = (disk_to + 1).saturating_sub(from);
            let room = max.saturating_sub(usize::try_from(on_disk).unwrap_or(usize::MAX));
            let held: Vec<(Position, Arc<Event>)> = state
                .held_range(held_from, to)
                .take(room)
                .map(|(position, q)| (Position(position), q.event.clone()))
                .collect();
            (from, disk_to, held)
        };
        if from > disk_to {
            return Ok(held);
        }
        let mut out = Vec::new();
        self.shared.read_written(from, disk_to, max, &mut out)?;
        let room = max - out.len();
        out.extend(held.into_iter().take(room));
        Ok(out)
    }
}

impl Health for SledLog {
    fn check(&self) -> Result<(), LogError> {
        if self.shared.state.lock().refusing {
            return Err(LogError::WritesRefused(RETRYING));
        }
        let db = self.shared.db()?;
        db.insert(HEALTH, &self.shared.clock.now_ms().to_be_bytes())
            .map_err(LogError::storage(HEALTH_PROBE))?;
        db.get(LAST_ID).map_err(LogError::storage(HEALTH_PROBE))?;
        Ok(())
    }

    fn faults(&self) -> LogFaults {
        LogFaults {
            write_failures: self.shared.faults.write_failures.load(Ordering::Relaxed),
            events_lost: self.shared.faults.events_lost.load(Ordering::Relaxed),
        }
    }
}

impl DurableGate for SledLog {
    fn decided(&self) -> Position {
        Position(self.shared.durable.borrow().decided)
    }

    fn stored(&self, position: Position) -> bool {
        self.shared.durable.borrow().stored(position.0)
    }

    fn decided_after(
        &self,
        seen: Position,
    ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> {
        // Only a receiver: the future must not keep the log open once it is dropped.
        let mut receiver = self.shared.durable.subscribe();
        Box::pin(async move {
            receiver
                .wait_for(|d| d.decided > seen.0)
                .await
                .map(|_| ())
                .map_err(|_| LogError::Stopped("the history writer stopped"))
        })
    }
}

impl Drop for SledLog {
    fn drop(&mut self) {
        // The writer holds the database open and writes what is queued; wait for it so the
        // lock is released and nothing appended is dropped.
        if let Err(error) = self.close() {
            tracing::error!(error = %ErrorChain(&error), "closing the history failed");
        }
    }
}

#[cfg(test)]
mod tests;
