//! The hot tail of the history: the newest written events kept in memory, within a byte
//! budget, so that a typical resume (`find` then `read_after` near the end) reads no disk and
//! decodes nothing (issue 21). Only events the writer has stored enter it, so nothing in it can
//! be replayed before its sync (docs/reliability.md R-DISPATCH).

use std::collections::VecDeque;

use super::Queued;
use crate::event::Event;

/// Most bytes the tail holds (see `weight`). A few MiB keep the last tens of thousands of small
/// events, or the last few hundred 10 KB ones: what reconnecting subscribers usually missed.
#[cfg(not(test))]
pub(super) const TAIL_BYTES: usize = 8 << 20;
/// Small in tests, so that every suite run reads across the tail's start, from disk then memory.
#[cfg(test)]
pub(super) const TAIL_BYTES: usize = 8 << 10;

/// Written events at consecutive positions `first ..`, oldest first.
pub(super) struct Tail {
    first: u64,
    events: VecDeque<Queued>,
    bytes: usize,
    budget: usize,
}

/// About the memory an event held by the tail takes: its frame, its update's strings and the
/// fixed parts. Compressed forms made later for compressed streams are not counted; each is
/// smaller than the frame.
fn weight(event: &Event) -> usize {
    let update = &event.update;
    let topics: usize = update
        .topics()
        .iter()
        .map(|topic| topic.len() + size_of::<String>())
        .sum();
    size_of::<Queued>()
        + size_of::<Event>()
        + event.frame.len()
        + update.id().len()
        + update.data().len()
        + update.event_type().map_or(0, str::len)
        + topics
}

impl Tail {
    pub(super) fn new(budget: usize) -> Self {
        Self {
            first: 0,
            events: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    /// The oldest position held, `None` when empty.
    pub(super) fn start(&self) -> Option<u64> {
        (!self.events.is_empty()).then_some(self.first)
    }

    /// The event at `position`, if held.
    pub(super) fn get(&self, position: u64) -> Option<&Queued> {
        let index = position.checked_sub(self.first)?;
        self.events.get(usize::try_from(index).ok()?)
    }

    /// The held events in `from..=to`, in order; found by index, not by walking the tail.
    pub(super) fn range(&self, from: u64, to: u64) -> impl Iterator<Item = (u64, &Queued)> {
        let index = |position: u64| {
            let offset = position.saturating_sub(self.first);
            usize::try_from(offset).map_or(self.events.len(), |i| i.min(self.events.len()))
        };
        let end = index(to.saturating_add(1));
        let start = index(from).min(end);
        (self.first + start as u64..).zip(self.events.range(start..end))
    }

    /// Adds the events just written at `first ..` (drained from `written`), then leaves in
    /// `written` what no longer fits, or what is below `retained_from`, for the caller to drop
    /// once its lock is released. A tail that would not be consecutive starts again.
    pub(super) fn extend(&mut self, first: u64, written: &mut Vec<Queued>, retained_from: u64) {
        let new = written.len();
        let end = self.first + self.events.len() as u64;
        if !self.events.is_empty() && end != first {
            self.clear_into(written);
        }
        if self.events.is_empty() {
            self.first = first;
        }
        for queued in written.drain(..new) {
            self.bytes += weight(&queued.event);
            self.events.push_back(queued);
        }
        self.evict(retained_from, written);
    }

    /// Moves the events over budget or below `retained_from` to `out`, oldest first.
    fn evict(&mut self, retained_from: u64, out: &mut Vec<Queued>) {
        while self.bytes > self.budget || self.start().is_some_and(|s| s < retained_from) {
            let Some(queued) = self.events.pop_front() else {
                break;
            };
            self.bytes -= weight(&queued.event);
            self.first += 1;
            out.push(queued);
        }
    }

    /// Empties the tail into `out` (after a failed write: positions may skip).
    pub(super) fn clear_into(&mut self, out: &mut Vec<Queued>) {
        self.bytes = 0;
        out.extend(self.events.drain(..));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::Update;

    fn queued(id: &str) -> Queued {
        let update = Update::example(id, &["https://example.com/t"], "x".repeat(100));
        Queued {
            stored_at: 7,
            event: Arc::new(Event::new(update)),
        }
    }

    fn batch(ids: &[&str]) -> Vec<Queued> {
        ids.iter().map(|id| queued(id)).collect()
    }

    fn held(tail: &Tail) -> Vec<(u64, String)> {
        tail.range(0, u64::MAX)
            .map(|(p, q)| (p, q.event.update.id().to_owned()))
            .collect()
    }

    #[test]
    fn holds_consecutive_writes_and_reads_ranges() {
        let mut tail = Tail::new(1 << 20);
        assert_eq!(tail.start(), None);
        let mut written = batch(&["a", "b"]);
        tail.extend(5, &mut written, 0);
        assert!(written.is_empty());
        let mut written = batch(&["c"]);
        tail.extend(7, &mut written, 0);
        assert_eq!(tail.start(), Some(5));
        assert_eq!(
            held(&tail),
            [(5, "a".into()), (6, "b".into()), (7, "c".into())]
        );
        let ids: Vec<u64> = tail.range(6, 6).map(|(p, _)| p).collect();
        assert_eq!(ids, [6]);
        assert_eq!(tail.range(8, 20).count(), 0);
        assert_eq!(tail.get(7).map(|q| q.event.update.id()), Some("c"));
        assert!(tail.get(4).is_none() && tail.get(8).is_none());
    }

    #[test]
    fn the_oldest_events_leave_past_the_budget() {
        let one = weight(&queued("a").event);
        let mut tail = Tail::new(2 * one);
        let mut written = batch(&["a", "b", "c"]);
        tail.extend(1, &mut written, 0);
        let evicted: Vec<&str> = written.iter().map(|q| q.event.update.id()).collect();
        assert_eq!(evicted, ["a"]);
        assert_eq!(held(&tail), [(2, "b".into()), (3, "c".into())]);
    }

    #[test]
    fn retention_and_gaps_drop_what_no_longer_follows() {
        let mut tail = Tail::new(1 << 20);
        let mut written = batch(&["a", "b", "c"]);
        tail.extend(1, &mut written, 0);
        let mut written = batch(&["d"]);
        tail.extend(4, &mut written, 3);
        assert_eq!(written.len(), 2, "below the retained start");
        assert_eq!(tail.start(), Some(3));
        let mut written = batch(&["x"]);
        tail.extend(10, &mut written, 0);
        assert_eq!(written.len(), 2, "positions skipped: the tail starts again");
        assert_eq!(held(&tail), [(10, "x".into())]);
        let mut out = Vec::new();
        tail.clear_into(&mut out);
        assert_eq!((out.len(), tail.start()), (1, None));
    }
}
