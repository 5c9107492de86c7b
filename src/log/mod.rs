//! The event history: one `EventLog` trait, implemented in memory, on sled and on Redis.

mod codec;
mod memory;
mod redis_log;
mod sled_log;
#[cfg(test)]
pub(crate) mod suite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::event::Event;
use crate::hub::ActiveSubscription;

pub use memory::MemoryLog;
pub use redis_log::RedisLog;
pub use sled_log::{Durability, SledLog};

/// Where an event sits in a log. Opaque to the hub: only compared and handed back to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(pub(crate) u64);

#[derive(Debug, Error)]
pub enum LogError {
    #[error("history storage failed: {0}")]
    Storage(String),
    /// Writes are refused for now and the log retries by itself (a full disk, an I/O error):
    /// the hub is not ready, but still live.
    #[error("history writes refused: {0}")]
    WritesRefused(String),
}

impl LogError {
    /// Whether the log recovers from this by itself, without a restart.
    pub fn recovers(&self) -> bool {
        matches!(self, Self::WritesRefused(_))
    }
}

/// Faults a log has met since it was opened (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogFaults {
    /// Writes to the store that failed.
    pub write_failures: u64,
    /// Acknowledged events that could never be written (`durability = "periodic"` only).
    pub events_lost: u64,
}

/// A log whose appends may reach subscribers only once they are on stable storage
/// (`durability = "fsync"`, docs/reliability.md R-DISPATCH): no subscriber may hold an event,
/// and so a `Last-Event-ID`, that a crash could erase.
pub trait DurableGate: Send + Sync {
    /// Every position at or below this one is decided: on stable storage, or its write failed.
    fn decided(&self) -> Position;

    /// Whether a decided position is on stable storage.
    fn stored(&self, position: Position) -> bool;

    /// Resolves once a position after `seen` is decided; fails once the log is closed.
    fn decided_after(
        &self,
        seen: Position,
    ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>>;
}

/// What a log keeps (protocol.md A-HIST-11, C-STORE-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep the newest N events; 0 = unlimited.
    pub max_events: u64,
    /// Drop events older than this; zero = forever.
    pub max_age: Duration,
}

/// The result of a log operation that may run on another thread.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, LogError>> + Send>>;

/// Receives the events of a shared log, in the log's order.
pub type Deliver = Arc<dyn Fn(Position, Arc<Event>) + Send + Sync>;

/// An ordered, append-only history of events.
///
/// Calls are synchronous and short; the hub serialises `append` with fan-out so that history
/// order and delivery order are the same.
pub trait EventLog: Send + Sync {
    /// Stores an event after every other one and returns its position.
    fn append(&self, event: Arc<Event>) -> Result<Position, LogError>;

    /// `append` for a caller that must not block: a log whose appends are network round trips
    /// runs them on a thread of its own. The default appends at once.
    fn append_async(&self, event: Arc<Event>) -> BoxFuture<Position> {
        Box::pin(std::future::ready(self.append(event)))
    }

    /// Appends without waiting for the outcome (subscription events of a shared log: a failure
    /// is logged); in order with the presence changes. The default appends at once.
    fn append_detached(&self, event: Arc<Event>) {
        if let Err(error) = self.append(event) {
            tracing::warn!(%error, "cannot store an event");
        }
    }

    /// Waits, at most `timeout`, until the writes made in the background (`append_detached`,
    /// presence changes) are done: at shutdown, so that they are not lost. Blocks.
    fn settle(&self, _timeout: Duration) {}

    /// Resolves once the event at `position` is durable; at once for logs that are durable on
    /// append (or never durable, like memory).
    fn durable(
        &self,
        _position: Position,
    ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// True when other hub nodes append to the same log: then every node dispatches what its
    /// feed reads, in the log's order, instead of dispatching on append.
    fn shared(&self) -> bool {
        false
    }

    /// Starts delivering every event appended after `from` (by any node), in order, forever.
    fn start_feed(&self, _from: Option<Position>, _deliver: Deliver) -> Result<(), LogError> {
        Ok(())
    }

    /// Records an open subscription in the cluster-wide presence list (shared logs only).
    fn presence_add(
        &self,
        _subscriber: &str,
        _index: usize,
        _subscription: &ActiveSubscription,
    ) -> Result<(), LogError> {
        Ok(())
    }

    /// Removes a subscription from the cluster-wide presence list (shared logs only).
    fn presence_remove(&self, _subscriber: &str, _index: usize) -> Result<(), LogError> {
        Ok(())
    }

    /// Every open subscription of the cluster; `None` for a log that is not shared.
    fn presence_list(&self) -> Result<Option<Vec<ActiveSubscription>>, LogError> {
        Ok(None)
    }

    /// Whether the store accepts reads and writes now (health checks, C-HEALTH-1).
    fn check(&self) -> Result<(), LogError> {
        Ok(())
    }

    /// `Some` when appends must not be dispatched before they are decided (see `DurableGate`).
    fn gate(&self) -> Option<&dyn DurableGate> {
        None
    }

    /// Faults met since the log was opened.
    fn faults(&self) -> LogFaults {
        LogFaults::default()
    }

    /// Writes what was appended and stops the log's threads: called once, at shutdown.
    fn close(&self) -> Result<(), LogError> {
        Ok(())
    }

    /// Times the feed of a shared log connected again after losing its connection; `None` for
    /// a log without a network feed.
    fn feed_reconnects(&self) -> Option<u64> {
        None
    }

    /// How many events are retained.
    fn retained(&self) -> u64;

    /// Position of the most recent event, `None` when the log is empty.
    fn last_position(&self) -> Option<Position>;

    /// Id of the most recent event stored, `None` when nothing was ever stored.
    fn last_event_id(&self) -> Option<String>;

    /// Position of the earliest retained event with this id (an index lookup, never a scan).
    fn find(&self, id: &str) -> Result<Option<Position>, LogError>;

    /// `find` for a caller that must not block (see `append_async`). The default looks up at
    /// once.
    fn find_async(&self, id: &str) -> BoxFuture<Option<Position>> {
        Box::pin(std::future::ready(self.find(id)))
    }

    /// Up to `max` events after `after` (from the oldest retained one when `None`) and at or
    /// before `upto`, in order.
    fn read_after(
        &self,
        after: Option<Position>,
        upto: Position,
        max: usize,
    ) -> Result<Vec<(Position, Arc<Event>)>, LogError>;
}
