//! The default, persistent history on sled (protocol.md A-HIST-13, C-STORE-1).
//!
//! One tree, three kinds of keys, written together with `apply_batch` so a crash never leaves
//! an event without its index entry or the reverse:
//! - `e` + position (8 bytes, big-endian) → the encoded event;
//! - `i` + id + `0x00` + position → nothing (ids never contain NUL, so prefixes don't collide);
//! - `m:last-id` → the id of the most recent event, written when retention empties the history
//!   (otherwise the newest retained event gives it);
//! - `m:health` → the time of the last health check (proves the store accepts writes).

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use super::flusher::Flusher;
use super::{codec, EventLog, LogError, Position, Retention};
use crate::event::Event;

const EVENT: u8 = b'e';
const INDEX: u8 = b'i';
const LAST_ID: &[u8] = b"m:last-id";
const HEALTH: &[u8] = b"m:health";

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After an fsync; concurrent appends share one (group commit).
    Fsync,
    /// At once; sled writes to disk every 500 ms, so a crash may lose the last moments.
    Periodic,
}

pub struct SledLog {
    tree: sled::Db,
    retention: Retention,
    state: Mutex<State>,
    flusher: Option<Arc<Flusher>>,
    flush_thread: Option<std::thread::JoinHandle<()>>,
}

struct State {
    /// Position of the oldest retained event (== `next` when empty).
    first: u64,
    next: u64,
    last_event_id: Option<String>,
    /// When the oldest retained event was stored: age retention looks no further while it is
    /// young, so an append reads nothing.
    oldest_stored_at: Option<u64>,
}

fn storage(error: impl std::fmt::Display) -> LogError {
    LogError::Storage(error.to_string())
}

fn event_key(position: u64) -> [u8; 9] {
    let mut key = [EVENT; 9];
    key[1..].copy_from_slice(&position.to_be_bytes());
    key
}

fn index_key(id: &str, position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 10);
    key.push(INDEX);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key.extend_from_slice(&position.to_be_bytes());
    key
}

fn position_of(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(
        key.get(key.len().checked_sub(8)?..)?.try_into().ok()?,
    ))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl SledLog {
    /// Opens (or creates) the history in `dir`, recovering its positions.
    pub fn open(
        dir: &Path,
        retention: Retention,
        durability: Durability,
        cache_bytes: u64,
    ) -> Result<Self, LogError> {
        let flush_every = match durability {
            Durability::Fsync => None,
            Durability::Periodic => Some(500),
        };
        let tree = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .flush_every_ms(flush_every)
            .open()
            .map_err(|e| {
                LogError::Storage(format!("cannot open the history in {}: {e}", dir.display()))
            })?;
        let first_event = tree
            .scan_prefix([EVENT])
            .next()
            .transpose()
            .map_err(storage)?;
        let last_event = tree
            .scan_prefix([EVENT])
            .next_back()
            .transpose()
            .map_err(storage)?;
        let next = last_event
            .as_ref()
            .and_then(|(key, _)| position_of(key))
            .map_or(1, |p| p + 1);
        let first = first_event
            .as_ref()
            .and_then(|(key, _)| position_of(key))
            .unwrap_or(next);
        // The newest event's id; `m:last-id` only matters once retention emptied the history.
        let last_event_id = match last_event
            .as_ref()
            .and_then(|(_, bytes)| codec::decode(bytes))
        {
            Some(update) => Some(update.id),
            None => tree
                .get(LAST_ID)
                .map_err(storage)?
                .map(|id| String::from_utf8_lossy(&id).into_owned()),
        };
        let oldest_stored_at = first_event
            .as_ref()
            .and_then(|(_, bytes)| codec::stored_at_ms(bytes));
        let (flusher, flush_thread) = match durability {
            Durability::Fsync => {
                let (flusher, thread) = Flusher::start(tree.clone(), next - 1)?;
                (Some(flusher), Some(thread))
            }
            Durability::Periodic => (None, None),
        };
        let log = Self {
            tree,
            retention,
            state: Mutex::new(State {
                first,
                next,
                last_event_id,
                oldest_stored_at,
            }),
            flusher,
            flush_thread,
        };
        log.apply_retention(&mut log.state.lock(), &mut sled::Batch::default(), now_ms())?;
        Ok(log)
    }

    /// Removes what retention no longer keeps, into `batch`; reads the oldest events to do so.
    fn evict(
        &self,
        state: &mut State,
        batch: &mut sled::Batch,
        count: u64,
    ) -> Result<(), LogError> {
        let mut removed = 0;
        while state.first < state.next && removed < count {
            let key = event_key(state.first);
            if let Some(bytes) = self.tree.get(key).map_err(storage)? {
                if let Some(update) = codec::decode(&bytes) {
                    batch.remove(index_key(&update.id, state.first));
                }
            }
            batch.remove(&key[..]);
            state.first += 1;
            removed += 1;
        }
        if removed > 0 {
            state.oldest_stored_at = self
                .tree
                .get(event_key(state.first))
                .map_err(storage)?
                .as_deref()
                .and_then(codec::stored_at_ms);
            if state.first == state.next {
                // Nothing left to recover the last id from at the next start (A-SUBS-15).
                if let Some(id) = &state.last_event_id {
                    batch.insert(LAST_ID, id.as_bytes());
                }
            }
        }
        Ok(())
    }

    /// How many of the oldest events retention drops now.
    fn expired(&self, state: &State, now: u64) -> Result<u64, LogError> {
        let retained = state.next - state.first;
        let over_count = match self.retention.max_events {
            0 => 0,
            max => retained.saturating_sub(max),
        };
        if self.retention.max_age.is_zero() {
            return Ok(over_count);
        }
        let max_age = self.retention.max_age.as_millis() as u64;
        if state
            .oldest_stored_at
            .is_some_and(|at| now.saturating_sub(at) <= max_age)
        {
            return Ok(over_count);
        }
        let mut expired = over_count;
        // Ages only grow from the front, so count old events from the front, in small steps.
        while state.first + expired < state.next {
            let bytes = self
                .tree
                .get(event_key(state.first + expired))
                .map_err(storage)?;
            // The event being appended is not in the tree yet: it stops the count.
            let old = bytes
                .as_deref()
                .and_then(codec::stored_at_ms)
                .is_some_and(|at| now.saturating_sub(at) > max_age);
            if !old {
                break;
            }
            expired += 1;
        }
        Ok(expired)
    }

    fn apply_retention(
        &self,
        state: &mut State,
        batch: &mut sled::Batch,
        now: u64,
    ) -> Result<(), LogError> {
        let expired = self.expired(state, now)?;
        self.evict(state, batch, expired)?;
        self.tree
            .apply_batch(std::mem::take(batch))
            .map_err(storage)
    }
}

impl EventLog for SledLog {
    fn append(&self, event: Arc<Event>) -> Result<Position, LogError> {
        let now = now_ms();
        let mut state = self.state.lock();
        let position = state.next;
        let id = &event.update.id;
        let mut batch = sled::Batch::default();
        batch.insert(&event_key(position)[..], codec::encode(&event.update, now));
        batch.insert(index_key(id, position), &[][..]);
        let mut next_state = State {
            first: state.first,
            next: position + 1,
            last_event_id: Some(id.clone()),
            oldest_stored_at: state.oldest_stored_at.or(Some(now)),
        };
        let expired = self.expired(&next_state, now)?;
        self.evict(&mut next_state, &mut batch, expired)?;
        if next_state.first == position {
            // Only the new event is left, and it is not in the tree yet.
            next_state.oldest_stored_at = Some(now);
        }
        self.tree.apply_batch(batch).map_err(storage)?;
        *state = next_state;
        drop(state);
        if let Some(flusher) = &self.flusher {
            flusher.appended(position);
        }
        Ok(Position(position))
    }

    fn durable(
        &self,
        position: Position,
    ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> {
        match &self.flusher {
            Some(flusher) => Box::pin(flusher.clone().wait(position.0)),
            None => Box::pin(std::future::ready(Ok(()))),
        }
    }

    fn check(&self) -> Result<(), LogError> {
        self.tree
            .insert(HEALTH, &now_ms().to_be_bytes())
            .map_err(storage)?;
        self.tree.get(LAST_ID).map_err(storage)?;
        Ok(())
    }

    fn retained(&self) -> u64 {
        let state = self.state.lock();
        state.next - state.first
    }

    fn last_position(&self) -> Option<Position> {
        let state = self.state.lock();
        (state.next > state.first).then(|| Position(state.next - 1))
    }

    fn last_event_id(&self) -> Option<String> {
        self.state.lock().last_event_id.clone()
    }

    fn find(&self, id: &str) -> Result<Option<Position>, LogError> {
        let mut prefix = Vec::with_capacity(id.len() + 2);
        prefix.push(INDEX);
        prefix.extend_from_slice(id.as_bytes());
        prefix.push(0);
        let first = self
            .tree
            .scan_prefix(&prefix)
            .keys()
            .next()
            .transpose()
            .map_err(storage)?;
        Ok(first
            .filter(|key| key.len() == prefix.len() + 8)
            .and_then(|key| position_of(&key))
            .map(Position))
    }

    fn read_after(
        &self,
        after: Option<Position>,
        upto: Position,
        max: usize,
    ) -> Result<Vec<(Position, Arc<Event>)>, LogError> {
        let start = after.map_or(0, |p| p.0 + 1);
        if start > upto.0 {
            return Ok(Vec::new());
        }
        self.tree
            .range(event_key(start)..=event_key(upto.0))
            .take(max)
            .map(|entry| {
                let (key, bytes) = entry.map_err(storage)?;
                let position = position_of(&key).ok_or_else(|| storage("corrupt event key"))?;
                let update =
                    codec::decode(&bytes).ok_or_else(|| storage("corrupt event record"))?;
                Ok((Position(position), Arc::new(Event::new(update))))
            })
            .collect()
    }
}

impl Drop for SledLog {
    fn drop(&mut self) {
        if let Some(flusher) = &self.flusher {
            flusher.stop();
        }
        // The flush thread holds the database open; wait for it so the lock is released.
        if let Some(thread) = self.flush_thread.take() {
            let _ = thread.join();
        }
        let _ = self.tree.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("qs-sled-{}", uuid::Uuid::new_v4()))
    }

    #[test]
    fn shared_suite() {
        super::super::suite::run_all(&|retention| {
            Box::new(
                SledLog::open(&temp_dir(), retention, Durability::Periodic, 8 << 20).expect("open"),
            )
        });
        super::super::suite::run_all(&|retention| {
            Box::new(
                SledLog::open(&temp_dir(), retention, Durability::Fsync, 8 << 20).expect("open"),
            )
        });
    }

    #[test]
    fn reopening_recovers_positions_index_and_last_id() {
        let dir = temp_dir();
        let unlimited = Retention {
            max_events: 0,
            max_age: std::time::Duration::ZERO,
        };
        let (b, last) = {
            let log = SledLog::open(&dir, unlimited, Durability::Fsync, 8 << 20).expect("open");
            let event = |id: &str| {
                Arc::new(Event::new(crate::event::Update {
                    id: id.into(),
                    topics: vec!["t".into()],
                    data: "d".into(),
                    private: false,
                    event_type: None,
                    retry: 0,
                }))
            };
            log.append(event("a")).expect("append");
            let b = log.append(event("b")).expect("append");
            let last = log.append(event("c")).expect("append");
            (b, last)
        };
        let log = SledLog::open(&dir, unlimited, Durability::Fsync, 8 << 20).expect("reopen");
        assert_eq!(log.last_position(), Some(last));
        assert_eq!(log.find("b").expect("find"), Some(b));
        assert_eq!(log.last_event_id().as_deref(), Some("c"));
        let replay = log.read_after(Some(b), last, 10).expect("read");
        assert_eq!(replay.len(), 1);
        assert_eq!(replay[0].1.update.id, "c");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_last_id_survives_a_restart_after_retention_emptied_the_history() {
        let dir = temp_dir();
        let short = Retention {
            max_events: 0,
            max_age: std::time::Duration::from_millis(30),
        };
        {
            let log = SledLog::open(&dir, short, Durability::Fsync, 8 << 20).expect("open");
            let update = crate::event::Update {
                id: "the-last".into(),
                topics: vec!["t".into()],
                data: String::new(),
                private: false,
                event_type: None,
                retry: 0,
            };
            log.append(Arc::new(Event::new(update))).expect("append");
        }
        std::thread::sleep(std::time::Duration::from_millis(60));
        let log = SledLog::open(&dir, short, Durability::Fsync, 8 << 20).expect("reopen");
        assert_eq!(log.retained(), 0, "expired at start-up");
        drop(log);
        let log = SledLog::open(&dir, short, Durability::Fsync, 8 << 20).expect("reopen");
        assert_eq!(log.last_event_id().as_deref(), Some("the-last"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_locked_data_dir_is_a_clear_error() {
        let dir = temp_dir();
        let unlimited = Retention {
            max_events: 0,
            max_age: std::time::Duration::ZERO,
        };
        let _first = SledLog::open(&dir, unlimited, Durability::Periodic, 8 << 20).expect("open");
        let second = SledLog::open(&dir, unlimited, Durability::Periodic, 8 << 20);
        assert!(
            matches!(second, Err(LogError::Storage(message)) if message.contains("cannot open the history"))
        );
    }
}
