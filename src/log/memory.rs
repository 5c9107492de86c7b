//! In-memory history: for tests and for the history-less `memory` transport's short-term replay.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

use super::{EventLog, LogError, Position, Retention};
use crate::event::Event;

pub struct MemoryLog {
    retention: Retention,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    /// Retained events; positions are contiguous, the front one is `first`.
    events: VecDeque<(Instant, Arc<Event>)>,
    first: u64,
    /// id → positions of its retained occurrences, oldest first.
    index: HashMap<String, VecDeque<u64>>,
    last_event_id: Option<String>,
}

impl MemoryLog {
    pub fn new(retention: Retention) -> Self {
        Self {
            retention,
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

    fn apply(&mut self, retention: Retention, now: Instant) {
        if retention.max_events > 0 {
            while self.events.len() as u64 > retention.max_events {
                self.drop_oldest();
            }
        }
        if !retention.max_age.is_zero() {
            while self
                .events
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > retention.max_age)
            {
                self.drop_oldest();
            }
        }
    }
}

impl EventLog for MemoryLog {
    fn append(&self, event: Arc<Event>) -> Result<Position, LogError> {
        let now = Instant::now();
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

    crate::log::suite::contract_suite!(
        contract,
        Some(|retention| Box::new(MemoryLog::new(retention)) as Box<dyn EventLog>)
    );
}
