//! In-memory history: for tests and for the history-less `memory` transport's short-term replay.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::RwLock;

use super::{Clock, EventLog, LogError, MonotonicClock, Position, Retention};
use crate::event::Event;

/// A history in RAM (`transport = "memory"`): lost on restart, for tests and `--no-persist`.
pub struct MemoryLog {
    retention: Retention,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// Retained events with when they were appended (ms of the log's clock); positions are
    /// contiguous, the front one is `first`.
    events: VecDeque<(u64, Arc<Event>)>,
    first: u64,
    /// id → positions of its retained occurrences, oldest first.
    index: HashMap<String, VecDeque<u64>>,
    last_event_id: Option<String>,
}

impl MemoryLog {
    /// An empty log that ages events by the monotonic clock.
    pub fn new(retention: Retention) -> Self {
        Self::with_clock(retention, Arc::new(MonotonicClock::default()))
    }

    /// A log whose age retention reads `clock`.
    pub fn with_clock(retention: Retention, clock: Arc<dyn Clock>) -> Self {
        Self {
            retention,
            clock,
            state: RwLock::new(State {
                first: 1,
                ..State::default()
            }),
        }
    }
}

impl State {
    fn next(&self) -> u64 {
        self.first + self.events.len() as u64
    }

    fn drop_oldest(&mut self) {
        let Some((_, event)) = self.events.pop_front() else {
            return;
        };
        let id = event.update.id();
        if let Some(positions) = self.index.get_mut(id) {
            positions.pop_front();
            if positions.is_empty() {
                self.index.remove(id);
            }
        }
        self.first += 1;
    }

    fn apply(&mut self, retention: Retention, now: u64) {
        if retention.max_events > 0 {
            while self.events.len() as u64 > retention.max_events {
                self.drop_oldest();
            }
        }
        if !retention.max_age.is_zero() {
            let max_age = retention.max_age.as_millis() as u64;
            while self
                .events
                .front()
                .is_some_and(|(at, _)| now.saturating_sub(*at) > max_age)
            {
                self.drop_oldest();
            }
        }
    }
}

impl EventLog for MemoryLog {
    fn append(&self, event: Arc<Event>) -> Result<Position, LogError> {
        let now = self.clock.now_ms();
        let mut state = self.state.write();
        let position = state.next();
        state
            .index
            .entry(event.update.id().to_owned())
            .or_default()
            .push_back(position);
        state.last_event_id = Some(event.update.id().to_owned());
        state.events.push_back((now, event));
        state.apply(self.retention, now);
        Ok(Position(position))
    }

    fn retained(&self) -> u64 {
        self.state.read().events.len() as u64
    }

    fn last_position(&self) -> Option<Position> {
        let state = self.state.read();
        (!state.events.is_empty()).then(|| Position(state.next() - 1))
    }

    fn last_event_id(&self) -> Option<String> {
        self.state.read().last_event_id.clone()
    }

    fn find(&self, id: &str) -> Result<Option<Position>, LogError> {
        let state = self.state.read();
        Ok(state
            .index
            .get(id)
            .and_then(|positions| positions.front())
            .map(|p| Position(*p)))
    }

    fn read_after(
        &self,
        after: Option<Position>,
        upto: Position,
        max: usize,
    ) -> Result<Vec<(Position, Arc<Event>)>, LogError> {
        let state = self.state.read();
        let start = after.map_or(state.first, |p| (p.0 + 1).max(state.first));
        let end = upto.0.min(state.next().saturating_sub(1));
        if start > end {
            return Ok(Vec::new());
        }
        let count = ((end - start + 1) as usize).min(max);
        let offset = (start - state.first) as usize;
        Ok(state
            .events
            .range(offset..offset + count)
            .zip(start..)
            .map(|((_, event), position)| (Position(position), event.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::log::suite::Fixture;
    use crate::log::ManualClock;

    /// A new log at every `open`: memory keeps nothing.
    #[derive(Default)]
    struct Memory {
        clock: Arc<ManualClock>,
    }

    impl Fixture for Memory {
        fn open(&self, retention: Retention) -> Box<dyn EventLog> {
            Box::new(MemoryLog::with_clock(retention, self.clock.clone()))
        }

        fn persists(&self) -> bool {
            false
        }

        fn advance(&self, by: std::time::Duration) {
            self.clock.advance(by);
        }
    }

    crate::log::suite::contract_suite!(contract, Some(Memory::default()));
}
