//! The event history: a small core trait, [`EventLog`] (append, find, read after a position,
//! retain), implemented in memory, on sled and on Redis, and beside it the capabilities only some
//! engines have ([`DurableGate`], [`SharedFeed`], [`Presence`], [`Health`]).

mod clock;
mod codec;
mod error;
mod memory;
mod redis_log;
mod relay;
mod sled_log;
#[cfg(test)]
pub(crate) mod suite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::event::Event;
use crate::presence::ActiveSubscription;

#[cfg(test)]
pub(crate) use clock::ManualClock;
pub use clock::{Clock, MonotonicClock, SystemClock};
pub use error::{Corrupt, ErrorChain, LogError, StorageError};
pub use memory::MemoryLog;
pub use redis_log::RedisLog;
pub use sled_log::{Durability, SledLog};

/// Where an event sits in a log. Opaque to the hub: only compared and handed back to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position(pub(crate) u64);

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

/// An ordered, append-only history of events: what every engine does.
///
/// Calls are synchronous and short; the hub serialises `append` with fan-out so that history
/// order and delivery order are the same. What only some engines can do is a capability trait
/// beside this one, reached through `gate`, `feed`, `presence` and `health`.
pub trait EventLog: Send + Sync {
    /// Stores an event after every other one and returns its position.
    fn append(&self, event: Arc<Event>) -> Result<Position, LogError>;

    /// Resolves once the event at `position` is durable; at once for logs that are durable on
    /// append (or never durable, like memory).
    fn durable(
        &self,
        _position: Position,
    ) -> Pin<Box<dyn Future<Output = Result<(), LogError>> + Send>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// How many events are retained.
    fn retained(&self) -> u64;

    /// Position of the most recent event, `None` when the log is empty.
    fn last_position(&self) -> Option<Position>;

    /// Id of the most recent event stored, `None` when nothing was ever stored.
    fn last_event_id(&self) -> Option<String>;

    /// Position of the earliest retained event with this id (an index lookup, never a scan).
    fn find(&self, id: &str) -> Result<Option<Position>, LogError>;

    /// Up to `max` events after `after` (from the oldest retained one when `None`) and at or
    /// before `upto`, in order.
    fn read_after(
        &self,
        after: Option<Position>,
        upto: Position,
        max: usize,
    ) -> Result<Vec<(Position, Arc<Event>)>, LogError>;

    /// Writes what was appended and stops the log's threads: called once, at shutdown.
    fn close(&self) -> Result<(), LogError> {
        Ok(())
    }

    /// `Some` when appends must not be dispatched before they are decided (see `DurableGate`).
    fn gate(&self) -> Option<&dyn DurableGate> {
        None
    }

    /// `Some` when other hub nodes append to the same log (see `SharedFeed`).
    fn feed(&self) -> Option<&dyn SharedFeed> {
        None
    }

    /// `Some` when the log keeps the cluster-wide list of open subscriptions.
    fn presence(&self) -> Option<&dyn Presence> {
        None
    }

    /// `Some` when the store can fail while running (a disk, a network link).
    fn health(&self) -> Option<&dyn Health> {
        None
    }
}

/// A log that several hub nodes share (Redis): every node dispatches what the feed reads, in
/// the log's order, instead of dispatching on append, and round trips to it run off the
/// caller's thread.
pub trait SharedFeed: Send + Sync {
    /// Starts delivering every event appended after `from` (by any node), in order, forever.
    fn start_feed(&self, from: Option<Position>, deliver: Deliver) -> Result<(), LogError>;

    /// `append` for a caller that must not block: run on a thread of the log's own.
    fn append_async(&self, event: Arc<Event>) -> BoxFuture<Position>;

    /// Appends without waiting for the outcome (subscription events: a failure is logged), in
    /// order with the presence changes.
    fn append_detached(&self, event: Arc<Event>);

    /// `find` for a caller that must not block.
    fn find_async(&self, id: &str) -> BoxFuture<Option<Position>>;

    /// Waits, at most `timeout`, until the writes made in the background (`append_detached`,
    /// presence changes) are done: at shutdown, so that they are not lost. Blocks.
    fn settle(&self, timeout: Duration);

    /// Times the feed connected again after losing its connection.
    fn feed_reconnects(&self) -> u64;
}

/// The cluster-wide list of open subscriptions (protocol.md A.8 with a shared log).
pub trait Presence: Send + Sync {
    /// Records an open subscription.
    fn presence_add(
        &self,
        subscriber: &str,
        index: usize,
        subscription: &ActiveSubscription,
    ) -> Result<(), LogError>;

    /// Removes a subscription.
    fn presence_remove(&self, subscriber: &str, index: usize) -> Result<(), LogError>;

    /// Every open subscription of the cluster.
    fn presence_list(&self) -> Result<Vec<ActiveSubscription>, LogError>;
}

/// What the health checks read (C-HEALTH-1) and `/metrics` counts.
pub trait Health: Send + Sync {
    /// Whether the store accepts reads and writes now.
    fn check(&self) -> Result<(), LogError>;

    /// Faults met since the log was opened.
    fn faults(&self) -> LogFaults {
        LogFaults::default()
    }
}
