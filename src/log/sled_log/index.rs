//! The id → position index kept in memory for recent events, sealed every `RUN_SIZE` positions
//! into a run that the writer stores as sorted pages (an LSM with one level: lookups read one
//! page per run, appends never touch sled).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// Positions per run: bounds the memory index and what start-up re-reads to rebuild it.
#[cfg(not(test))]
pub const RUN_SIZE: u64 = 1 << 17;
/// Small in tests, so that every suite run stores and searches runs.
#[cfg(test)]
pub const RUN_SIZE: u64 = 64;

/// A run of the index waiting to be written: entries sorted by (hash, position).
#[derive(Debug)]
pub struct Run {
    pub first: u64,
    pub last: u64,
    pub entries: Vec<(u64, u64)>,
}

#[derive(Debug, Default)]
pub struct IdIndex {
    /// Entries of positions at or after `active_from`.
    active: BTreeSet<(u64, u64)>,
    active_from: u64,
    /// Sealed runs not yet on disk, oldest first.
    sealed: VecDeque<Arc<Run>>,
    /// Runs on disk as (first, last), oldest first.
    stored: VecDeque<(u64, u64)>,
}

impl IdIndex {
    pub fn new(stored: VecDeque<(u64, u64)>, active_from: u64) -> Self {
        Self {
            active: BTreeSet::new(),
            active_from,
            sealed: VecDeque::new(),
            stored,
        }
    }

    pub fn insert(&mut self, hash: u64, position: u64) {
        if position >= self.active_from.saturating_add(RUN_SIZE) {
            let entries: Vec<(u64, u64)> = std::mem::take(&mut self.active).into_iter().collect();
            self.sealed.push_back(Arc::new(Run {
                first: self.active_from,
                last: position - 1,
                entries,
            }));
            self.active_from = position;
        }
        self.active.insert((hash, position));
    }

    /// Positions of `hash` known in memory (sealed runs, then active), in order.
    pub fn in_memory(&self, hash: u64) -> Vec<u64> {
        let sealed = self.sealed.iter().flat_map(|run| {
            let start = run.entries.partition_point(|e| e.0 < hash);
            run.entries[start..]
                .iter()
                .take_while(move |e| e.0 == hash)
                .map(|e| e.1)
        });
        let active = self.active.range((hash, 0)..=(hash, u64::MAX)).map(|e| e.1);
        sealed.chain(active).collect()
    }

    pub fn stored_runs(&self) -> Vec<(u64, u64)> {
        self.stored.iter().copied().collect()
    }

    /// The sealed runs, oldest first, whose positions are all written by `written`.
    pub fn writable(&self, written: u64) -> Vec<Arc<Run>> {
        self.sealed
            .iter()
            .take_while(|run| run.last <= written)
            .cloned()
            .collect()
    }

    /// The oldest `count` sealed runs are on disk now.
    pub fn runs_stored(&mut self, count: usize) {
        for run in self.sealed.drain(..count.min(self.sealed.len())) {
            self.stored.push_back((run.first, run.last));
        }
    }

    /// Forgets the stored runs retention emptied and returns them, to delete from disk.
    pub fn take_expired(&mut self, first_retained: u64) -> Vec<(u64, u64)> {
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
        index.runs_stored(runs.len());
        assert_eq!(index.stored_runs(), vec![(1, RUN_SIZE)]);
        assert_eq!(index.in_memory(7), Vec::<u64>::new());
        assert_eq!(index.take_expired(RUN_SIZE), vec![]);
        assert_eq!(index.take_expired(RUN_SIZE + 1), vec![(1, RUN_SIZE)]);
    }
}
