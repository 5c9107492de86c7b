//! The subscriber registry and fan-out (design.md "Data flow", protocol.md C.1).
//!
//! One lock orders history appends and fan-out, and registration takes the history bound under
//! the same lock, so replay → live handover has no gap and no duplicate (C-HAND-1).

mod alarm;
mod deadline;
mod gather;
pub mod presence;
mod queue;
mod registry;
mod sink;
mod spec;
mod stream;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use thiserror::Error;

use crate::compress::Encoding;
use crate::event::{Event, Update};
use crate::log::{EventLog, LogError, Position};
use crate::metrics::{Disconnect, Metrics};
use crate::topic::{Matcher, Selector};

pub use gather::start_here as start_gathering_here;
pub use presence::ActiveSubscription;
pub use queue::{Closed, Queue, BATCH_WINDOW};
pub use sink::Sink;
pub use spec::SelectorSpec;
pub use stream::{EventStream, StreamOptions};

use registry::{Key, Registry};

/// Why the hub could not publish or register: answered 503, never a partial success.
#[derive(Debug, Error)]
pub enum HubError {
    /// The history refused the operation: a publish is then not acknowledged, nor fanned out
    /// (A-PUB-14).
    #[error(transparent)]
    Storage(#[from] LogError),
    /// Shutdown has begun: new subscribers and publishes are refused (C-SHUT-1).
    #[error("the hub is shutting down")]
    ShuttingDown,
}

/// Where a subscriber wants its replay to start (protocol.md A-HIST-2 … A-HIST-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// No cursor: live events only.
    None,
    /// `earliest`: everything retained.
    Earliest,
    /// The id of the last event the client received.
    Id(String),
}

/// A connection's id (A-SUBS-5): `urn:uuid:` + a random UUID v4 when written out, kept as its
/// 16 bytes since only subscription events and the subscription API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriberId(uuid::Uuid);

impl SubscriberId {
    fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl std::fmt::Display for SubscriberId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "urn:uuid:{}", self.0)
    }
}

/// What a connected subscriber asked for and may read.
pub struct Subscriber {
    /// Its connection's id (A-SUBS-5).
    pub id: SubscriberId,
    /// The subscriber token's `mercure.payload`, when present and not null: the payload of
    /// every subscription without its own (`SelectorSpec::payload`). Boxed: most have none.
    pub payload: Option<Box<serde_json::Value>>,
    /// Routing selectors, each with how it was asked for, in request order (A-SUB-2, X-2).
    pub selectors: Box<[SelectorSpec]>,
    /// `mercure.subscribe` of its token: the topics whose private updates it may read.
    pub private_access: Box<[Selector]>,
    /// Its frames waiting to be written: bounded, so a slow reader is dropped (C-SLOW-1).
    pub queue: Queue,
    /// With a shared log, a cursor can be ahead of what this node has delivered: live events
    /// up to it were already seen by the client and are skipped.
    pub skip_until: Option<Position>,
}

impl Subscriber {
    /// A-AUTH-12: one of the update's topics matches one of the subscriber's grants.
    pub fn may_read_private(&self, event: &Event, matcher: &Matcher) -> bool {
        self.private_access
            .iter()
            .any(|grant| matcher.matches_any(grant, event.topics()))
    }

    /// A-SUB-4 evaluated now: routing and, for a private update, access.
    pub fn wants(&self, event: &Event, matcher: &Matcher) -> bool {
        let routed = self
            .selectors
            .iter()
            .any(|spec| matcher.matches_any(&spec.selector, event.topics()));
        routed && (!event.update.is_private() || self.may_read_private(event, matcher))
    }
}

/// The history and the registry of subscribers, behind one lock that orders appends and
/// fan-out; shared by every handler (C-HAND-1).
pub struct Hub {
    log: Arc<dyn EventLog>,
    matcher: Matcher,
    registry: Mutex<Registry>,
    /// Shared with every subscriber's queue.
    delivery: Arc<Delivery>,
    next_key: AtomicU64,
    shutting_down: std::sync::atomic::AtomicBool,
    /// Told whenever a subscription ends (`until_idle`).
    one_less: tokio::sync::Notify,
    /// The counters `/metrics` shows.
    pub metrics: Metrics,
    /// Publish subscription events (the `subscriptions` setting, A-SUBS-1).
    subscription_events: bool,
    /// Connected streams per content coding (gzip, zstd; issue 21): an event is compressed
    /// before the fan-out's lock only in a coding some stream is sent in.
    compressed_streams: [AtomicUsize; 2],
}

/// How events reach subscribers (the `subscriber_queue_size` and `batch_window` settings).
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// Frames a subscriber may fall behind before it is disconnected (C-SLOW-1).
    pub queue_capacity: usize,
    /// Events closer than this to the previous write to a subscriber are written together.
    pub batch_window: std::time::Duration,
    /// Events shorter than this are stored, not compressed, in compressed streams (issue 21).
    pub compression_min_size: usize,
}

/// A registered subscriber; dropping it unregisters.
pub struct Subscription {
    hub: Arc<Hub>,
    /// Why it ended, when the stream ended it; otherwise the client went away.
    pub ended: Option<Disconnect>,
    key: Key,
    /// What it asked for, shared with the registry that fans events out to it.
    pub subscriber: Arc<Subscriber>,
    /// How the stream starts, until it has started: boxed, so that a connection does not keep
    /// room for it for as long as it lasts (issue 21, idle connections).
    start: Option<Box<Start>>,
}

/// How a subscription's stream starts.
struct Start {
    /// Replay plan: events after `after` (from the start when `None`) up to `upto`.
    replay: Option<(Option<Position>, Position)>,
    /// The cursor value to echo in `Last-Event-ID` (A-HIST-8).
    cursor_echo: Option<String>,
}

impl Subscription {
    /// The cursor value to echo in `Last-Event-ID` (A-HIST-8), until the stream started.
    pub fn cursor_echo(&self) -> Option<&str> {
        self.start.as_ref()?.cursor_echo.as_deref()
    }

    /// The replay plan, until the stream started: events after `after` (from the start when
    /// `None`) up to `upto`.
    pub fn replay(&self) -> Option<(Option<Position>, Position)> {
        self.start.as_ref()?.replay
    }

    /// The replay plan, taken by the stream as it starts; the rest of the start goes too.
    fn take_replay(&mut self) -> Option<(Option<Position>, Position)> {
        self.start.take()?.replay
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.registry.lock().remove(self.key);
        if let Some(encoding) = self.subscriber.queue.encoding() {
            (self.hub.compressed_streams(encoding)).fetch_sub(1, Ordering::Relaxed);
        }
        let reason = self.ended.unwrap_or(Disconnect::Client);
        self.hub.metrics.subscriber_disconnected(reason);
        self.hub.announce(&self.subscriber, false);
        self.hub.one_less.notify_waiters();
    }
}

/// What a new subscriber asks for.
pub struct Request {
    /// Classic ones from [`Hub::selectors`]; 1.0 ones from [`SelectorSpec::matcher`].
    pub selectors: Vec<SelectorSpec>,
    /// The token's subscribe grants, compiled once per connection: the private updates it may
    /// read (A-AUTH-12, B-AD-6).
    pub private_access: Vec<Selector>,
    /// The token's `mercure.payload`, echoed in subscription documents (A-SUBS-6).
    pub payload: Option<serde_json::Value>,
    /// Where replay starts.
    pub cursor: Cursor,
    /// The content coding of its stream (issue 21, C-HDR-3); `None`: uncompressed.
    pub compression: Option<crate::compress::Encoding>,
}

impl Hub {
    /// A hub over `log`, whose fan-out resumes after the log's last stored event.
    pub fn new(log: Arc<dyn EventLog>, delivery: Delivery, subscription_events: bool) -> Arc<Self> {
        let registry = Registry::starting_at(log.last_position());
        Arc::new(Self {
            log,
            matcher: Matcher::default(),
            registry: Mutex::new(registry),
            delivery: Arc::new(delivery),
            next_key: AtomicU64::new(1),
            shutting_down: Default::default(),
            one_less: tokio::sync::Notify::new(),
            metrics: Metrics::default(),
            subscription_events,
            compressed_streams: Default::default(),
        })
    }

    /// The counter of streams sent in `encoding`.
    fn compressed_streams(&self, encoding: Encoding) -> &AtomicUsize {
        match encoding {
            Encoding::Gzip => &self.compressed_streams[0],
            Encoding::Zstd => &self.compressed_streams[1],
        }
    }

    /// Compresses a new event, once, in every coding a connected stream is sent in, before the
    /// fan-out's lock is taken (issue 21): the fan-out then only shares the bytes. Nothing is
    /// done, and nothing allocated, while no stream is compressed.
    fn precompress(&self, event: &Event) {
        for encoding in Encoding::ALL {
            if self.compressed_streams(encoding).load(Ordering::Relaxed) > 0 {
                event.compressed_frame(encoding, self.delivery.compression_min_size);
            }
        }
    }

    /// The matcher whose caches every selector of this hub shares (A-SEL-5).
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// The history, for the readers that bypass fan-out (the subscription API, health, metrics).
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Classic `topic` selectors, compiled through the shared cache.
    pub fn selectors<'a>(&self, sources: impl IntoIterator<Item = &'a str>) -> Vec<SelectorSpec> {
        sources
            .into_iter()
            .map(|s| SelectorSpec::topic(self.matcher.selector(s), s))
            .collect()
    }

    /// Stores the update, queues it for every subscriber it is for, and returns once it is
    /// durable (A-PUB-14). Publishing never waits for a subscriber.
    pub async fn publish(&self, update: Update) -> Result<Arc<Event>, HubError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(HubError::ShuttingDown);
        }
        let started = std::time::Instant::now();
        let (event, position) = if let Some(feed) = self.log.feed() {
            // A network round trip: awaited, so a slow store never blocks this worker.
            let event = Arc::new(Event::new(update));
            self.precompress(&event);
            let position = feed.append_async(event.clone()).await?;
            (event, position)
        } else {
            self.store(update)?
        };
        let durable = self.log.durable(position).await;
        // Dispatched (or, if its write failed, dropped) before the answer, so a 200 means it
        // is queued for every subscriber (A-PUB-14).
        self.dispatch_decided();
        durable?;
        self.metrics.published(started.elapsed());
        Ok(event)
    }

    /// Appends the update. With a local log it is dispatched under the same lock, so history
    /// order and delivery order are the same (with a `DurableGate`, it is queued under that
    /// lock and dispatched once its write is decided); a shared log's feed dispatches it
    /// instead, on every node, in the log's order.
    ///
    /// Subscription events are stored during shutdown too: every subscription that ends gets
    /// its `active: false` event (A-SUBS-2).
    fn store(&self, update: Update) -> Result<(Arc<Event>, Position), HubError> {
        let event = Arc::new(Event::new(update));
        self.precompress(&event);
        if self.log.feed().is_some() {
            let position = self.log.append(event.clone())?;
            return Ok((event, position));
        }
        let gated = self.log.gate().is_some();
        let position = self.dispatch_then_write(|registry, flushes| {
            let position = self.log.append(event.clone())?;
            if gated {
                registry.undecided.push_back((position, event.clone()));
            } else {
                self.dispatch(registry, &event, position, flushes);
            }
            Ok::<_, HubError>(position)
        })?;
        Ok((event, position))
    }

    /// Dispatches, in log order, the appended events whose write is decided and succeeded;
    /// drops those whose write failed (R-DISPATCH: subscribers see only durable events).
    fn dispatch_decided(&self) {
        let Some(gate) = self.log.gate() else {
            return;
        };
        let decided = gate.decided();
        self.dispatch_then_write(|registry, flushes| {
            while registry
                .undecided
                .front()
                .is_some_and(|(position, _)| *position <= decided)
            {
                let Some((position, event)) = registry.undecided.pop_front() else {
                    break;
                };
                if gate.stored(position) {
                    self.dispatch(registry, &event, position, flushes);
                }
            }
        });
    }

    /// Dispatches what nobody waits for (subscription events, publishes whose client went
    /// away) shortly after its write is decided. Ends when the hub or its log is gone.
    fn start_dispatching_decided(self: &Arc<Self>) {
        let Some(gate) = self.log.gate() else {
            return;
        };
        let mut seen = gate.decided();
        let hub = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let next = match hub.upgrade() {
                    Some(hub) => match hub.log.gate() {
                        Some(gate) => gate.decided_after(seen),
                        None => return,
                    },
                    None => return,
                };
                if next.await.is_err() {
                    return;
                }
                // The publishers waiting for this write dispatch it themselves, on their own
                // worker threads, where the fan-out's writes are cheapest (measured: about
                // 1.3 µs more per delivery at 1,000 subscribers when this task, which runs on
                // the main runtime, won the race). This task is for what nobody waits for.
                tokio::time::sleep(UNAWAITED_DISPATCH_DELAY).await;
                let Some(hub) = hub.upgrade() else {
                    return;
                };
                if let Some(gate) = hub.log.gate() {
                    seen = gate.decided();
                }
                hub.dispatch_decided();
            }
        });
    }

    /// Delivers an event a shared log's feed read, in the log's order.
    pub fn deliver(&self, position: Position, event: &Event) {
        self.dispatch_then_write(|registry, flushes| {
            if registry.delivered.is_some_and(|done| position <= done) {
                return;
            }
            self.dispatch(registry, event, position, flushes);
        });
    }

    /// Runs `dispatch` under the registry lock, then, with the lock released, writes to the
    /// lent sockets it found (a write is a system call; the lock is held only to queue).
    fn dispatch_then_write<R>(
        &self,
        dispatch: impl FnOnce(&mut Registry, &mut Vec<Flush>) -> R,
    ) -> R {
        FLUSHES.with_borrow_mut(|flushes| {
            let result = dispatch(&mut self.registry.lock(), flushes);
            flush(flushes);
            result
        })
    }

    fn dispatch(
        &self,
        registry: &mut Registry,
        event: &Event,
        position: Position,
        flushes: &mut Vec<Flush>,
    ) {
        let delivered = registry.dispatch(event, position, &self.matcher, flushes);
        registry.delivered = Some(position);
        self.metrics.delivered(delivered);
    }

    /// Starts the feed of a shared log from what this hub has delivered; nothing for a local
    /// log.
    pub fn start_feed(self: &Arc<Self>) -> Result<(), HubError> {
        let Some(feed) = self.log.feed() else {
            self.start_dispatching_decided();
            return Ok(());
        };
        let from = self.registry.lock().delivered;
        let hub = Arc::downgrade(self);
        feed.start_feed(
            from,
            Arc::new(move |position, event| {
                if let Some(hub) = hub.upgrade() {
                    hub.deliver(position, &event);
                }
            }),
        )?;
        Ok(())
    }

    /// Registers a subscriber for live events and plans its replay, atomically with respect
    /// to publishing (A-HIST-9, C-HAND-1).
    pub fn subscribe(self: &Arc<Self>, request: Request) -> Result<Subscription, HubError> {
        let resolved = self.resolve(&request.cursor)?;
        self.register(request, resolved)
    }

    /// `subscribe` for an async caller: a shared log's cursor lookup (a network round trip) is
    /// awaited instead of blocking the caller's thread.
    pub async fn subscribe_async(
        self: &Arc<Self>,
        request: Request,
    ) -> Result<Subscription, HubError> {
        let resolved = self.resolve_async(&request.cursor).await?;
        self.register(request, resolved)
    }

    /// A cursor's position never changes, so it is looked up before (with a shared log this is
    /// network I/O); only the bound must be read under the lock.
    fn register(
        self: &Arc<Self>,
        request: Request,
        (start, cursor_echo): Resolved,
    ) -> Result<Subscription, HubError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(HubError::ShuttingDown);
        }
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let mut selectors = request.selectors;
        let mut registry = self.registry.lock();
        registry.share_topics(&mut selectors);
        let bound = registry.delivered;
        let cursor_position = start.flatten();
        let subscriber = Arc::new(Subscriber {
            id: SubscriberId::random(),
            payload: request.payload.map(Box::new),
            selectors: selectors.into_boxed_slice(),
            private_access: request.private_access.into_boxed_slice(),
            queue: Queue::with(self.delivery.clone()).compressed(request.compression),
            skip_until: cursor_position.filter(|cursor| bound.is_none_or(|b| *cursor > b)),
        });
        registry.insert(key, subscriber.clone());
        drop(registry);
        if let Some(encoding) = subscriber.queue.encoding() {
            self.compressed_streams(encoding)
                .fetch_add(1, Ordering::Relaxed);
        }
        self.metrics.subscriber_connected();
        self.announce(&subscriber, true);
        Ok(Subscription {
            hub: self.clone(),
            ended: None,
            key,
            subscriber,
            start: Some(Box::new(Start {
                replay: start.zip(bound),
                cursor_echo,
            })),
        })
    }

    /// Publishes one subscription event per selector (A-SUBS-2, A-SUBS-3) and keeps the
    /// cluster-wide presence list of a shared log, when enabled.
    fn announce(&self, subscriber: &Subscriber, active: bool) {
        if !self.subscription_events {
            return;
        }
        for (index, subscription) in ActiveSubscription::of(subscriber).enumerate() {
            if let Some(list) = self.log.presence() {
                let changed = if active {
                    list.presence_add(&subscription.subscriber, index, &subscription)
                } else {
                    list.presence_remove(&subscription.subscriber, index)
                };
                if let Err(error) = changed {
                    tracing::warn!(error = %crate::log::ErrorChain(&error), "cannot update the presence list");
                }
            }
            let update = match presence::subscription_event(&subscription, active) {
                Ok(update) => update,
                Err(error) => {
                    tracing::warn!(%error, "cannot make a subscription event");
                    continue;
                }
            };
            if let Some(feed) = self.log.feed() {
                // Not awaited (this runs on connect and in `Drop`); in order with the presence
                // changes above.
                feed.append_detached(Arc::new(Event::new(update)));
            } else if let Err(error) = self.store(update) {
                tracing::warn!(error = %crate::log::ErrorChain(&error), "cannot publish a subscription event");
            }
        }
    }

    /// The id of the most recent stored update, or `earliest` (A-SUBS-15).
    pub fn last_event_id(&self) -> String {
        self.log
            .last_event_id()
            .unwrap_or_else(|| "earliest".to_owned())
    }

    /// Open subscriptions: of the whole cluster with a shared log, else of this hub, in
    /// connection order.
    pub fn active_subscriptions(&self) -> Vec<ActiveSubscription> {
        match self.log.presence().map(|list| list.presence_list()) {
            Some(Ok(cluster)) => return cluster,
            None => {}
            Some(Err(error)) => {
                tracing::warn!(error = %crate::log::ErrorChain(&error), "cannot read the cluster presence list; listing this node only")
            }
        }
        self.active_subscribers()
            .iter()
            .flat_map(|subscriber| ActiveSubscription::of(subscriber).collect::<Vec<_>>())
            .collect()
    }

    /// `last_event_id` for an async caller: with a shared log it is a network round trip, run
    /// on a blocking thread instead of the caller's.
    pub async fn last_event_id_async(self: &Arc<Self>) -> String {
        self.off_thread(Self::last_event_id).await
    }

    /// `active_subscriptions` for an async caller (see `last_event_id_async`).
    pub async fn active_subscriptions_async(self: &Arc<Self>) -> Vec<ActiveSubscription> {
        self.off_thread(Self::active_subscriptions).await
    }

    /// Runs `read` at once with a local log, on a blocking thread with a shared one.
    async fn off_thread<T: Send + 'static>(self: &Arc<Self>, read: fn(&Self) -> T) -> T {
        if self.log.feed().is_none() {
            return read(self);
        }
        let hub = self.clone();
        match tokio::task::spawn_blocking(move || read(&hub)).await {
            Ok(value) => value,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Cancelled: the runtime is shutting down; answer the slow way.
            Err(_) => read(self),
        }
    }

    /// Subscribers connected to this hub, in connection order.
    pub fn active_subscribers(&self) -> Vec<Arc<Subscriber>> {
        self.registry.lock().in_connection_order()
    }

    /// The `Last-Event-ID` value a subscription with this cursor would be answered with; a
    /// shared log's lookup is awaited (see `subscribe_async`).
    pub async fn cursor_echo_async(&self, cursor: &Cursor) -> Result<Option<String>, HubError> {
        Ok(self.resolve_async(cursor).await?.1)
    }

    /// Where a replay starts (`Some(None)` = from the oldest event) and the cursor echo.
    fn resolve(&self, cursor: &Cursor) -> Result<Resolved, HubError> {
        let found = match cursor {
            Cursor::Id(id) => self.log.find(id)?,
            Cursor::None | Cursor::Earliest => None,
        };
        Ok(plan(cursor, found))
    }

    /// `resolve` with a shared log's lookup awaited off this thread.
    async fn resolve_async(&self, cursor: &Cursor) -> Result<Resolved, HubError> {
        match (cursor, self.log.feed()) {
            (Cursor::Id(id), Some(feed)) => Ok(plan(cursor, feed.find_async(id).await?)),
            _ => self.resolve(cursor),
        }
    }

    /// Resolves once no subscriber is connected.
    pub async fn until_idle(&self) {
        loop {
            let one_less = self.one_less.notified();
            let mut one_less = std::pin::pin!(one_less);
            // Registered before looking, so that a stream ending in between is not missed.
            one_less.as_mut().enable();
            if self.subscribers_connected() == 0 {
                return;
            }
            one_less.await;
        }
    }

    /// Subscriptions registered now, on this node.
    pub fn subscribers_connected(&self) -> usize {
        self.registry.lock().len()
    }

    /// Writes what was appended and stops the history's threads, once every stream ended
    /// (R-SHUTDOWN): nothing acknowledged is left to a drop order.
    pub fn close_history(&self) -> Result<(), HubError> {
        Ok(self.log.close()?)
    }

    /// Refuses new work and ends every stream once its queued events are written.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        for subscriber in self.registry.lock().all() {
            subscriber.queue.close(Closed::Shutdown);
        }
    }
}

/// Where a replay starts (`Some(None)` = from the oldest event) and the cursor echo.
type Resolved = (Option<Option<Position>>, Option<String>);

/// The replay plan of a cursor, given the position its id was `found` at.
fn plan(cursor: &Cursor, found: Option<Position>) -> Resolved {
    match cursor {
        Cursor::None => (None, None),
        Cursor::Earliest => (Some(None), Some("earliest".to_owned())),
        Cursor::Id(id) => match found {
            Some(position) => (Some(Some(position)), Some(id.clone())),
            None => (None, Some("earliest".to_owned())),
        },
    }
}

/// How long a decided event is left to the publisher waiting for it before the hub's own task
/// dispatches it (R-DISPATCH).
const UNAWAITED_DISPATCH_DELAY: std::time::Duration = std::time::Duration::from_millis(20);

thread_local! {
    /// Subscribers a dispatch found with their socket lent (reused between dispatches).
    static FLUSHES: std::cell::RefCell<Vec<Flush>> = const {
        std::cell::RefCell::new(Vec::new())
    };
}

/// A subscriber whose socket is lent, to write to now, or at the given time (`Pushed::Gather`).
type Flush = (Arc<Subscriber>, Option<tokio::time::Instant>);

fn flush(flushes: &mut Vec<Flush>) {
    if flushes.is_empty() {
        return;
    }
    // The time of the writes, for heartbeats and `batch_window`; one clock read for all of them.
    let now = tokio::time::Instant::now();
    for (subscriber, gather_until) in flushes.drain(..) {
        match gather_until {
            Some(due) => gather::add(subscriber, due, now),
            None => subscriber.queue.flush(now),
        }
    }
}

#[cfg(test)]
mod tests;
