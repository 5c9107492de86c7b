//! A concurrent cache bounded in bytes, evicting gradually by CLOCK (second chance).
//!
//! Each entry is charged the bytes its owner estimates it holds. An insertion that takes a shard
//! over its budget evicts from the oldest end just enough entries to fit: an entry read since the
//! hand last passed it gets a second chance (moved to the young end, its mark cleared), any other
//! is dropped. A flood of new entries thus pushes out the cold ones one by one while entries in
//! use survive, and nothing is ever cleared all at once (docs/reliability.md R-BOUND).
//!
//! Hits take a shard's read lock only (the mark is an atomic), as a `DashMap` lookup does.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

/// Most shards; fewer when the budget is small, so that a shard still holds several entries.
const MAX_SHARDS: usize = 16;
/// The least budget a shard gets when there are several.
const MIN_SHARD_BUDGET: usize = 1 << 20;

pub(crate) struct BoundedCache<K, V> {
    shards: Box<[RwLock<Shard<K, V>>]>,
    hasher: RandomState,
    shard_budget: usize,
}

struct Shard<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Keys from oldest to youngest; the front is the CLOCK hand.
    order: VecDeque<K>,
    bytes: usize,
}

struct Entry<V> {
    value: V,
    bytes: usize,
    /// Read since the hand last passed: spared once.
    referenced: AtomicBool,
}

impl<K: Hash + Eq + Clone, V> BoundedCache<K, V> {
    /// A cache holding at most `budget` bytes (as charged by `insert`).
    pub(crate) fn new(budget: usize) -> Self {
        let count = (budget / MIN_SHARD_BUDGET).clamp(1, MAX_SHARDS);
        let shards = (0..count)
            .map(|_| {
                RwLock::new(Shard {
                    entries: HashMap::new(),
                    order: VecDeque::new(),
                    bytes: 0,
                })
            })
            .collect();
        Self {
            shards,
            hasher: RandomState::new(),
            shard_budget: budget / count,
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &RwLock<Shard<K, V>> {
        // The remainder is below the shard count, a `usize`: the cast loses nothing.
        let index = (self.hasher.hash_one(key) % self.shards.len() as u64) as usize;
        &self.shards[index]
    }

    /// Reads the entry of `key`, marking it as used.
    pub(crate) fn read<Q, R>(&self, key: &Q, read: impl FnOnce(&V) -> R) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self.shard(key).read();
        let entry = shard.entries.get(key)?;
        if !entry.referenced.load(Ordering::Relaxed) {
            entry.referenced.store(true, Ordering::Relaxed);
        }
        Some(read(&entry.value))
    }

    /// Stores `value` as `bytes` bytes, evicting cold entries until the shard fits its budget.
    /// A value larger than a whole shard's budget is not stored.
    pub(crate) fn insert(&self, key: K, value: V, bytes: usize) {
        if bytes > self.shard_budget {
            return;
        }
        let mut shard = self.shard(&key).write();
        let entry = Entry {
            value,
            bytes,
            referenced: AtomicBool::new(false),
        };
        match shard.entries.insert(key.clone(), entry) {
            Some(replaced) => shard.bytes = shard.bytes.saturating_sub(replaced.bytes),
            None => shard.order.push_back(key),
        }
        shard.bytes = shard.bytes.saturating_add(bytes);
        shard.evict_to(self.shard_budget);
    }
}

#[cfg(test)]
impl<K, V> BoundedCache<K, V> {
    /// Entries held now.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().entries.len()).sum()
    }

    /// Bytes charged for the entries held now.
    pub(crate) fn bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().bytes).sum()
    }

    /// The most bytes this cache holds.
    pub(crate) fn budget(&self) -> usize {
        self.shard_budget.saturating_mul(self.shards.len())
    }
}

impl<K: Hash + Eq + Clone, V> Shard<K, V> {
    fn evict_to(&mut self, budget: usize) {
        // Each entry is spared at most once per call, so this ends within two rounds.
        while self.bytes > budget {
            let Some(key) = self.order.pop_front() else {
                break;
            };
            let spare = self
                .entries
                .get(&key)
                .is_some_and(|entry| entry.referenced.swap(false, Ordering::Relaxed));
            if spare {
                self.order.push_back(key);
            } else if let Some(evicted) = self.entries.remove(&key) {
                self.bytes = self.bytes.saturating_sub(evicted.bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_budget_and_evicts_only_what_it_must() {
        let cache = BoundedCache::new(1000);
        for i in 0..10 {
            cache.insert(i, i, 100);
        }
        assert_eq!((cache.len(), cache.bytes()), (10, 1000));
        cache.insert(10, 10, 250);
        // Three of the oldest make room for one entry of 250 bytes: not a clear.
        assert_eq!(cache.len(), 8);
        assert!(cache.bytes() <= 1000);
        assert_eq!(cache.read(&0, |v| *v), None);
        assert_eq!(cache.read(&3, |v| *v), Some(3));
        assert_eq!(cache.read(&10, |v| *v), Some(10));
    }

    #[test]
    fn entries_in_use_survive_a_flood() {
        let cache = BoundedCache::new(10_000);
        for hot in 0..5 {
            cache.insert(hot, hot, 100);
        }
        for cold in 100..10_000 {
            for hot in 0..5 {
                assert_eq!(
                    cache.read(&hot, |v| *v),
                    Some(hot),
                    "hot entry {hot} evicted"
                );
            }
            cache.insert(cold, cold, 100 + cold % 50);
            assert!(cache.bytes() <= cache.budget());
        }
    }

    #[test]
    fn replacing_an_entry_recharges_it_and_oversized_values_are_not_kept() {
        let cache = BoundedCache::new(1000);
        cache.insert("a", 1, 600);
        cache.insert("a", 2, 300);
        assert_eq!((cache.len(), cache.bytes()), (1, 300));
        assert_eq!(cache.read("a", |v| *v), Some(2));
        cache.insert("b", 3, 1001);
        assert_eq!(cache.read("b", |v| *v), None);
        assert_eq!(cache.bytes(), 300);
    }

    #[test]
    fn large_budgets_are_sharded_and_still_bounded() {
        let cache = BoundedCache::new(64 << 20);
        assert_eq!(cache.shards.len(), MAX_SHARDS);
        for i in 0..20_000u64 {
            cache.insert(i, (), 8 << 10);
        }
        assert!(cache.bytes() <= 64 << 20);
        assert!(cache.len() >= (56 << 20) / (8 << 10), "{}", cache.len());
    }
}
