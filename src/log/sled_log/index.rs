//! The id → position index kept in memory for recent events, sealed every `RUN_SIZE` positions
//! into a run that the writer stores as sorted pages (an LSM with one level: lookups read one
//! page per run, appends never touch sled).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// Positions per run: bounds the memory index and what start-up re-reads to rebuild it.
#[cfg(not(test))]
pub(super) const RUN_SIZE: u64 = 1 << 17;
/// Small in tests, so that every suite run stores and searches runs.
#[cfg(test)]
pub(super) const RUN_SIZE: u64 = 64;

/// The keys are already FNV hashes: hashing them again would only cost time.
#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8) | u64::from(*byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Positions of the ids of a range of positions: the first position of each hash in a map,
/// later positions of a hash already seen (a repeated id, or a rare collision) in a list.
#[derive(Debug, Default)]
pub(super) struct Entries {
    first: HashMap<u64, u64, BuildHasherDefault<Identity>>,
    repeats: Vec<(u64, u64)>,
}

impl Entries {
    fn insert(&mut self, hash: u64, position: u64) {
        if let Some(&earlier) = self.first.get(&hash) {
            if earlier != position {
                self.repeats.push((hash, position));
            }
            return;
        }
        self.first.insert(hash, position);
    }

    fn positions(&self, hash: u64) -> impl Iterator<Item = u64> + '_ {
        let repeats = self
            .repeats
            .iter()
            .filter(move |(h, _)| *h == hash)
            .map(|(_, position)| *position);
        self.first.get(&hash).copied().into_iter().chain(repeats)
    }

    /// Every entry, sorted by (hash, position): the order of a stored run's pages.
    pub(super) fn sorted(&self) -> Vec<(u64, u64)> {
        let mut all: Vec<(u64, u64)> = self.first.iter().map(|(h, p)| (*h, *p)).collect();
        all.extend_from_slice(&self.repeats);
        all.sort_unstable();
        all
    }
}

/// A run of the index waiting to be written.
#[derive(Debug)]
pub(super) struct Run {
    pub first: u64,
    pub last: u64,
    pub entries: Entries,
}

#[derive(Debug, Default)]
pub(super) struct IdIndex {
    /// Entries of positions at or after `active_from`.
    active: Entries,
    active_from: u64,
    /// Sealed runs not yet on disk, oldest first.
    sealed: VecDeque<Arc<Run>>,
    /// Runs on disk as (first, last), oldest first.
    stored: VecDeque<(u64, u64)>,
}

impl IdIndex {
    pub(super) fn new(stored: VecDeque<(u64, u64)>, active_from: u64) -> Self {
        Self {
            active: Entries::default(),
            active_from,
            sealed: VecDeque::new(),
            stored,
        }
    }

    pub(super) fn insert(&mut self, hash: u64, position: u64) {
        if position >= self.active_from.saturating_add(RUN_SIZE) {
            self.sealed.push_back(Arc::new(Run {
                first: self.active_from,
                last: position - 1,
                entries: std::mem::take(&mut self.active),
            }));
            self.active_from = position;
        }
        self.active.insert(hash, position);
    }

    /// Positions of `hash` known in memory (sealed runs, then active), oldest run first.
    pub(super) fn in_memory(&self, hash: u64) -> Vec<u64> {
        let mut positions: Vec<u64> = self
            .sealed
            .iter()
            .flat_map(|run| run.entries.positions(hash))
            .chain(self.active.positions(hash))
            .collect();
        positions.sort_unstable();
        positions
    }

    pub(super) fn stored_runs(&self) -> Vec<(u64, u64)> {
        self.stored.iter().copied().collect()
    }

    /// The sealed runs, oldest first, whose positions are all written by `written`.
    pub(super) fn writable(&self, written: u64) -> Vec<Arc<Run>> {
        self.sealed
            .iter()
            .take_while(|run| run.last <= written)
            .cloned()
            .collect()
    }

    /// The oldest `count` sealed runs are on disk now.
    pub(super) fn runs_stored(&mut self, count: usize) {
        for run in self.sealed.drain(..count.min(self.sealed.len())) {
            self.stored.push_back((run.first, run.last));
        }
    }

    /// Forgets the stored runs retention emptied and returns them, to delete from disk.
    pub(super) fn take_expired(&mut self, first_retained: u64) -> Vec<(u64, u64)> {
        let mut expired = Vec::new();
        while self
            .stored
            .front()
            .is_some_and(|run| run.1 < first_retained)
        {
            expired.extend(self.stored.pop_front());
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_a_run_every_run_size_positions() {
        let mut index = IdIndex::new(VecDeque::new(), 1);
        index.insert(7, 1);
        index.insert(7, 2);
        index.insert(9, RUN_SIZE + 1);
        assert_eq!(index.in_memory(7), vec![1, 2]);
        assert_eq!(index.in_memory(9), vec![RUN_SIZE + 1]);
        assert!(index.writable(RUN_SIZE - 1).is_empty());
        let runs = index.writable(RUN_SIZE);
        assert_eq!((runs[0].first, runs[0].last), (1, RUN_SIZE));
        assert_eq!(runs[0].entries.sorted(), vec![(7, 1), (7, 2)]);
        index.runs_stored(runs.len());
        assert_eq!(index.stored_runs(), vec![(1, RUN_SIZE)]);
        assert_eq!(index.in_memory(7), Vec::<u64>::new());
        assert_eq!(index.take_expired(RUN_SIZE), vec![]);
        assert_eq!(index.take_expired(RUN_SIZE + 1), vec![(1, RUN_SIZE)]);
    }
}
