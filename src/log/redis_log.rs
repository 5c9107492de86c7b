//! A history shared by several hub nodes, on a Redis stream (issue 7, docs/scaling.md).
//!
//! Keys, under a configurable prefix:
//! - `{prefix}:stream` — the events, one stream entry each (field `e` = the encoded event);
//! - `{prefix}:id:{event id}` — the stream id of the earliest retained entry with that event id
//!   (the cursor index; removed when retention trims that entry);
//! - `{prefix}:last-id` — the id of the most recent event ever stored;
//! - `{prefix}:presence:{node}` — the open subscriptions of one node (a hash whose lifetime each
//!   node renews every few seconds, so a node that dies leaves the list within `PRESENCE_TTL`).
//!
//! An append is one Lua script (atomic on the server): add, index, trim. Every node reads the
//! stream with a dedicated blocking connection and dispatches what it reads, in stream order, so
//! all nodes deliver the same events in the same order with the same ids.
//!
//! Every connection has a read timeout and TCP keepalive (issue 18): a Redis that died, paused
//! or vanished behind a NAT is noticed within seconds instead of never. Background threads keep
//! what the readiness check needs (`Link`) fresh, so `check` does no I/O; publishes, presence
//! changes and subscription events run on threads of their own, never on the caller's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::io::tcp::socket2::TcpKeepalive;
use redis::IntoConnectionInfo;

use super::{
    codec, BoxFuture, Corrupt, Deliver, ErrorChain, EventLog, Health, LogError, Position, Presence,
    Retention, SharedFeed,
};
use crate::event::Event;
use crate::presence::ActiveSubscription;

/// Stream ids are `ms-seq`; a position packs them as `ms << SEQ_BITS | seq`.
const SEQ_BITS: u32 = 20;
const READ_BATCH: usize = 512;
/// How long one `XREAD` blocks before it looks again (it returns at once when events arrive).
const BLOCK_MS: u64 = 1000;
/// The feed's read timeout: an `XREAD` answers within `BLOCK_MS`, so silence beyond this margin
/// means a dead or paused connection.
const FEED_READ_TIMEOUT: Duration = Duration::from_millis(BLOCK_MS + 2000);
/// Read and write timeout of the short requests (a trimming append may take a while).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often, and how patiently, the health thread asks Redis whether it answers.
const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// TCP keepalive: probes after 5 s of silence, every 2 s, 3 times, so a peer that vanished
/// (host lost, NAT entry dropped) is detected in about 11 s even on an idle socket.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
const KEEPALIVE_PROBES: u32 = 3;
/// The feed's reconnection backoff: doubles from the first to the last.
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_LAST: Duration = Duration::from_secs(2);
/// How long a node's presence list outlives its last renewal.
const PRESENCE_TTL: Duration = Duration::from_secs(30);
const PRESENCE_RENEWAL: Duration = Duration::from_secs(10);
/// Threads running publishes' round trips, and how many requests may wait for one; beyond that
/// a publish is refused at once (503) instead of queueing without bound behind a stalled Redis.
const IO_THREADS: usize = 4;
const IO_QUEUE: usize = 4096;
/// Presence changes and subscription events waiting for the presence thread; beyond that they
/// are dropped with a warning (presence is best effort while Redis is unreachable).
const PRESENCE_QUEUE: usize = 4096;

/// KEYS: stream, index key of this id, last-id. ARGV: record, id, max events, max age (ms),
/// index key prefix. Trimmed entries leave the index too (each entry carries its id in `i`), so
/// the index never outgrows the stream.
const APPEND: &str = r#"
local function unindex(entries)
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    for i = 1, #fields, 2 do
      if fields[i] == 'i' then
        local key = ARGV[5] .. fields[i + 1]
        if redis.call('GET', key) == entry[1] then redis.call('DEL', key) end
      end
    end
  end
end
local sid = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1], 'i', ARGV[2])
redis.call('SET', KEYS[2], sid, 'NX')
local max_events = tonumber(ARGV[3])
if max_events > 0 then
  local excess = redis.call('XLEN', KEYS[1]) - max_events
  if excess > 0 then
    unindex(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess))
    redis.call('XTRIM', KEYS[1], 'MAXLEN', max_events)
  end
end
local max_age_ms = tonumber(ARGV[4])
if max_age_ms > 0 then
  local now = redis.call('TIME')
  local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - max_age_ms
  if oldest > 0 then
    local expired
    repeat
      expired = redis.call('XRANGE', KEYS[1], '-', '(' .. oldest .. '-0', 'COUNT', 1000)
      unindex(expired)
      redis.call('XTRIM', KEYS[1], 'MINID', oldest)
    until #expired < 1000
  end
end
redis.call('SET', KEYS[3], ARGV[2])
return sid
"#;

/// The history shared by every node of a cluster through one Redis (`transport = "redis"`):
/// events, the last event id and the presence list, with a feed of other nodes' publishes.
pub struct RedisLog {
    shared: Arc<Shared>,
    /// Publishes' round trips, on `IO_THREADS` threads.
    io: SyncSender<Job>,
    /// Presence changes and subscription events, in the order they were made, on one thread.
    presence: SyncSender<Job>,
}

/// What the log's threads share.
struct Shared {
    client: redis::Client,
    /// Idle connections for short requests, with the `Link::epoch` they were made in; one is
    /// opened when none is free.
    pool: Mutex<Vec<(u64, redis::Connection)>>,
    prefix: String,
    retention: Retention,
    append: redis::Script,
    /// This node's presence hash.
    presence_key: String,
    link: Arc<Link>,
}

/// The state of the link to Redis, kept fresh by the background threads and read without I/O.
#[derive(Debug)]
struct Link {
    /// The last health probe got an answer.
    answering: AtomicBool,
    /// The feed lost its connection and has not read again since.
    feed_interrupted: AtomicBool,
    /// Times the feed connected again after losing its connection.
    reconnects: AtomicU64,
    /// `XLEN` of the stream at the last health probe.
    retained: AtomicU64,
    /// Raised when a connection is found dead: idle pooled connections of an older epoch are
    /// dropped instead of failing one request each after a Redis restart.
    epoch: AtomicU64,
}

type Job = Box<dyn FnOnce() + Send>;

type Entry = (String, Vec<Vec<u8>>);

/// What the log was doing when Redis failed: the `op` of `LogError::Storage`.
const READ: &str = "read";
const APPEND_OP: &str = "append";
const INDEX_LOOKUP: &str = "index lookup";
const PRESENCE_UPDATE: &str = "presence update";
const PRESENCE_READ: &str = "presence read";
const FEED_READ: &str = "feed read";
const THREAD_START: &str = "thread start";

/// `ms-seq` → position.
fn position_of(stream_id: &str) -> Result<Position, Corrupt> {
    let (ms, seq) = stream_id
        .split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?)))
        .ok_or_else(|| Corrupt::StreamId(stream_id.to_owned()))?;
    if seq >= 1 << SEQ_BITS || ms >= 1 << (64 - SEQ_BITS) {
        return Err(Corrupt::StreamIdRange(stream_id.to_owned()));
    }
    Ok(Position(ms << SEQ_BITS | seq))
}

fn stream_id(position: Position) -> String {
    format!(
        "{}-{}",
        position.0 >> SEQ_BITS,
        position.0 & ((1 << SEQ_BITS) - 1)
    )
}

fn decode(entry: &Entry) -> Result<(Position, Arc<Event>), Corrupt> {
    let position = position_of(&entry.0)?;
    let bytes = match entry.1.as_slice() {
        [field, value, ..] if field.as_slice() == b"e" => value,
        _ => return Err(Corrupt::EntryWithoutEvent),
    };
    let update = codec::decode(bytes)?;
    Ok((position, Arc::new(Event::new(update))))
}

/// A client whose sockets send TCP keepalive probes, so an idle connection to a vanished peer
/// fails instead of waiting forever.
fn client(url: &str) -> Result<redis::Client, LogError> {
    let info = url
        .into_connection_info()
        .map_err(LogError::storage("connect"))?;
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    let tcp = info.tcp_settings().clone().set_keepalive(keepalive);
    redis::Client::open(info.set_tcp_settings(tcp)).map_err(LogError::storage("connect"))
}

/// A new connection whose requests fail after `timeout` without an answer (the handshake too).
fn connect(client: &redis::Client, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let connection = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    connection.set_read_timeout(Some(timeout))?;
    connection.set_write_timeout(Some(timeout))?;
    Ok(connection)
}

/// Starts `threads` threads running the jobs sent to the returned sender, until it is dropped.
fn spawn_workers(name: &str, threads: usize, queue: usize) -> Result<SyncSender<Job>, LogError> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(queue);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..threads {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || loop {
                // The lock is held while waiting: the idle threads queue on it, one takes a job.
                let job = receiver.lock().recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .map_err(LogError::storage(THREAD_START))?;
    }
    Ok(sender)
}

impl RedisLog {
    /// Connects to `url` (`redis://…`) and checks that the server answers.
    pub fn open(url: &str, prefix: &str, retention: Retention) -> Result<Self, LogError> {
        let presence_key = format!("{prefix}:presence:{}", uuid::Uuid::new_v4());
        let shared = Arc::new(Shared {
            client: client(url)?,
            pool: Mutex::new(Vec::new()),
            prefix: prefix.to_owned(),
            retention,
            append: redis::Script::new(APPEND),
            presence_key,
            link: Arc::new(Link {
                answering: AtomicBool::new(true),
                feed_interrupted: AtomicBool::new(false),
                reconnects: AtomicU64::new(0),
                retained: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
            }),
        });
        let retained = shared.count()?;
        shared.link.retained.store(retained, Ordering::Relaxed);
        let io = spawn_workers("quicksilver-redis-io", IO_THREADS, IO_QUEUE)?;
        let (presence, presence_jobs) = std::sync::mpsc::sync_channel(PRESENCE_QUEUE);
        start_thread("quicksilver-presence", {
            let shared = Arc::downgrade(&shared);
            move || run_presence(&shared, &presence_jobs)
        })?;
        start_thread("quicksilver-redis-health", {
            let shared = Arc::downgrade(&shared);
            move || probe_health(&shared)
        })?;
        Ok(Self {
            shared,
            io,
            presence,
        })
    }

    /// Runs `work` on an I/O thread; the future resolves with its result. A Redis that stalls
    /// holds that thread (up to `COMMAND_TIMEOUT`), never the caller's.
    fn on_io_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, LogError> + Send + 'static,
    ) -> BoxFuture<T> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let shared = self.shared.clone();
        let queued = self.io.try_send(Box::new(move || {
            let _ = sender.send(work(&shared));
        }));
        match queued {
            Ok(()) => Box::pin(answer(receiver)),
            Err(_) => Box::pin(std::future::ready(Err(LogError::Unavailable(
                "too many requests are waiting for Redis",
            )))),
        }
    }

    /// Runs `work` on the presence thread, after the presence changes and subscription events
    /// queued before it, and waits for its result (so this node reads its own changes).
    fn on_presence_thread<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, LogError> + Send + 'static,
    ) -> Result<T, LogError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let shared = self.shared.clone();
        self.presence
            .try_send(Box::new(move || {
                let _ = sender.send(work(&shared));
            }))
            .map_err(|_| {
                LogError::Unavailable("too many presence changes are waiting for Redis")
            })?;
        // Bounded: at worst one slow request ahead of this one, then this one.
        receiver
            .recv_timeout(COMMAND_TIMEOUT * 2 + CONNECT_TIMEOUT)
            .map_err(|_| LogError::Unavailable("no answer in time"))?
    }

    /// Queues `job` on the presence thread, or drops it with a warning when too many wait.
    fn in_presence_order(&self, what: &str, job: Job) {
        if let Err(error) = self.presence.try_send(job) {
            let reason = match error {
                TrySendError::Full(_) => "too many are waiting",
                TrySendError::Disconnected(_) => "its thread stopped",
            };
            tracing::warn!("cannot record {what}: {reason}");
        }
    }
}

fn start_thread(name: &str, run: impl FnOnce() + Send + 'static) -> Result<(), LogError> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(run)
        .map(|_| ())
        .map_err(LogError::storage(THREAD_START))
}

/// Runs presence jobs in order and keeps this node's presence hash alive, until the log is
/// dropped.
fn run_presence(shared: &Weak<Shared>, jobs: &Receiver<Job>) {
    let mut renew_at = Instant::now() + PRESENCE_RENEWAL;
    loop {
        match jobs.recv_timeout(renew_at.saturating_duration_since(Instant::now())) {
            Ok(job) => job(),
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if let Err(error) = shared.renew_presence() {
                    tracing::warn!(error = %ErrorChain(&error), "cannot renew this node's presence list");
                }
                renew_at = Instant::now() + PRESENCE_RENEWAL;
            }
        }
    }
}

/// Asks Redis every `HEALTH_INTERVAL` whether it answers (and how long the stream is), on a
/// connection of its own, until the log is dropped.
fn probe_health(shared: &Weak<Shared>) {
    let mut connection = None;
    loop {
        std::thread::sleep(HEALTH_INTERVAL);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let stream = shared.key("stream");
        let counted = connection
            .take()
            .map_or_else(|| connect(&shared.client, HEALTH_TIMEOUT), Ok)
            .and_then(|mut c| {
                let length = redis::cmd("XLEN").arg(&stream).query::<u64>(&mut c)?;
                Ok((c, length))
            });
        let link = &shared.link;
        match counted {
            Ok((c, length)) => {
                connection = Some(c);
                link.retained.store(length, Ordering::Relaxed);
                if !link.answering.swap(true, Ordering::Relaxed) {
                    tracing::info!("redis answers again");
                }
            }
            Err(error) => {
                link.epoch.fetch_add(1, Ordering::Relaxed);
                if link.answering.swap(false, Ordering::Relaxed) {
                    tracing::warn!(%error, "redis does not answer");
                }
            }
        }
    }
}

impl Shared {
    fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }

    /// Runs `work` on a pooled connection, or a new one; a connection that failed is dropped.
    /// The error says whether the connection came from the pool.
    fn run_once<T>(
        &self,
        work: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, (redis::RedisError, bool)> {
        let epoch = self.link.epoch.load(Ordering::Relaxed);
        let pooled = {
            let mut pool = self.pool.lock();
            pool.retain(|(made_in, _)| *made_in == epoch);
            pool.pop()
        };
        let (mut connection, was_pooled) = match pooled {
            Some((_, connection)) => (connection, true),
            None => (
                connect(&self.client, COMMAND_TIMEOUT).map_err(|e| (e, false))?,
                false,
            ),
        };
        match work(&mut connection) {
            Ok(value) => {
                self.pool.lock().push((epoch, connection));
                Ok(value)
            }
            Err(error) => {
                if error.is_connection_dropped() || error.is_timeout() {
                    // The other idle connections are likely as dead as this one.
                    self.link.epoch.fetch_add(1, Ordering::Relaxed);
                }
                Err((error, was_pooled))
            }
        }
    }

    /// For requests that may run twice (reads and idempotent writes): an idle connection found
    /// dropped (Redis restarted since it was last used) is replaced once.
    fn with_connection<T>(
        &self,
        op: &'static str,
        mut work: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, LogError> {
        match self.run_once(&mut work) {
            Ok(value) => Ok(value),
            Err((error, true)) if error.is_connection_dropped() => self
                .run_once(&mut work)
                .map_err(|(error, _)| LogError::storage(op)(error)),
            Err((error, _)) => Err(LogError::storage(op)(error)),
        }
    }

    fn range(&self, start: &str, end: &str, count: usize) -> Result<Vec<Entry>, LogError> {
        let stream = self.key("stream");
        self.with_connection(READ, |c| {
            redis::cmd("XRANGE")
                .arg(&stream)
                .arg(start)
                .arg(end)
                .arg("COUNT")
                .arg(count)
                .query(c)
        })
    }

    fn count(&self) -> Result<u64, LogError> {
        let stream = self.key("stream");
        self.with_connection(READ, |c| redis::cmd("XLEN").arg(&stream).query::<u64>(c))
    }

    fn append(&self, event: &Event) -> Result<Position, LogError> {
        let record = codec::encode(&event.update, 0);
        let id = event.update.id();
        let keys = [
            self.key("stream"),
            self.key(&format!("id:{id}")),
            self.key("last-id"),
        ];
        let max_age_ms = self.retention.max_age.as_millis() as u64;
        // Never sent twice: an append whose answer was lost may have been stored.
        let stream_id: String = self
            .run_once(|c| {
                self.append
                    .key(&keys[0])
                    .key(&keys[1])
                    .key(&keys[2])
                    .arg(record)
                    .arg(id)
                    .arg(self.retention.max_events)
                    .arg(max_age_ms)
                    .arg(self.key("id:"))
                    .invoke(c)
            })
            .map_err(|(error, _)| LogError::storage(APPEND_OP)(error))?;
        position_of(&stream_id).map_err(LogError::storage(APPEND_OP))
    }

    fn find(&self, id: &str) -> Result<Option<Position>, LogError> {
        let key = self.key(&format!("id:{id}"));
        let Some(sid) = self.with_connection(INDEX_LOOKUP, |c| {
            redis::cmd("GET").arg(&key).query::<Option<String>>(c)
        })?
        else {
            return Ok(None);
        };
        // The index may outlive its entry (count-based trimming): check it is still there.
        let found = self.range(&sid, &sid, 1)?;
        found
            .first()
            .map(|entry| position_of(&entry.0))
            .transpose()
            .map_err(LogError::storage(INDEX_LOOKUP))
    }

    fn renew_presence(&self) -> Result<(), LogError> {
        self.with_connection(PRESENCE_UPDATE, |c| {
            redis::cmd("PEXPIRE")
                .arg(&self.presence_key)
                .arg(PRESENCE_TTL.as_millis() as u64)
                .query::<i64>(c)
        })
        .map(|_| ())
    }

    fn presence_add(&self, field: &str, document: &str) -> Result<(), LogError> {
        self.with_connection(PRESENCE_UPDATE, |c| {
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(&self.presence_key)
                .arg(field)
                .arg(document)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&self.presence_key)
                .arg(PRESENCE_TTL.as_millis() as u64)
                .ignore()
                .query::<()>(c)
        })
    }

    fn presence_remove(&self, field: &str) -> Result<(), LogError> {
        self.with_connection(PRESENCE_UPDATE, |c| {
            redis::cmd("HDEL")
                .arg(&self.presence_key)
                .arg(field)
                .query::<i64>(c)
        })
        .map(|_| ())
    }

    fn presence_list(&self) -> Result<Vec<ActiveSubscription>, LogError> {
        let pattern = format!("{}:presence:*", self.prefix);
        let keys: Vec<String> = self.with_connection(PRESENCE_READ, |c| {
            let keys: redis::Iter<String> = redis::cmd("SCAN")
                .cursor_arg(0)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .clone()
                .iter(c)?;
            keys.collect()
        })?;
        let mut all = Vec::new();
        for key in keys {
            let entries: Vec<(String, String)> =
                self.with_connection(PRESENCE_READ, |c| redis::cmd("HGETALL").arg(&key).query(c))?;
            let mut entries: Vec<_> = entries
                .into_iter()
                .filter_map(|(field, json)| Some((field, serde_json::from_str(&json).ok()?)))
                .collect();
            // `{subscriber} {index}`: keep each connection's selectors in order.
            entries.sort_by(|a: &(String, ActiveSubscription), b| a.0.cmp(&b.0));
            all.extend(entries.into_iter().map(|(_, subscription)| subscription));
        }
        Ok(all)
    }
}

/// Waits for the answer of a job another thread runs.
async fn answer<T>(
    receiver: tokio::sync::oneshot::Receiver<Result<T, LogError>>,
) -> Result<T, LogError> {
    receiver
        .await
        .map_err(|_| LogError::Stopped("the request was dropped"))?
}

fn presence_field(subscriber: &str, index: usize) -> String {
    format!("{subscriber} {index}")
}

impl EventLog for RedisLog {
    fn append(&self, event: Arc<Event>) -> Result<Position, LogError> {
        self.shared.append(&event)
    }

    /// As of the last health probe (at most `HEALTH_INTERVAL` old while Redis answers).
    fn retained(&self) -> u64 {
        self.shared.link.retained.load(Ordering::Relaxed)
    }

    fn last_position(&self) -> Option<Position> {
        let stream = self.shared.key("stream");
        let last: Vec<Entry> = self
            .shared
            .with_connection(READ, |c| {
                redis::cmd("XREVRANGE")
                    .arg(&stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query(c)
            })
            .ok()?;
        last.first().and_then(|entry| position_of(&entry.0).ok())
    }

    /// Read on the presence thread, so that it includes this node's subscription events.
    fn last_event_id(&self) -> Option<String> {
        self.on_presence_thread(|shared| {
            let key = shared.key("last-id");
            shared.with_connection(READ, |c| {
                redis::cmd("GET").arg(&key).query::<Option<String>>(c)
            })
        })
        .ok()
        .flatten()
    }

    fn find(&self, id: &str) -> Result<Option<Position>, LogError> {
        self.shared.find(id)
    }

    fn read_after(
        &self,
        after: Option<Position>,
        upto: Position,
        max: usize,
    ) -> Result<Vec<(Position, Arc<Event>)>, LogError> {
        let start = after.map_or_else(|| "-".to_owned(), |p| format!("({}", stream_id(p)));
        self.shared
            .range(&start, &stream_id(upto), max)?
            .iter()
            .map(|entry| decode(entry).map_err(LogError::storage(READ)))
            .collect()
    }

    fn feed(&self) -> Option<&dyn SharedFeed> {
        Some(self)
    }

    fn presence(&self) -> Option<&dyn Presence> {
        Some(self)
    }

    fn health(&self) -> Option<&dyn Health> {
        Some(self)
    }
}

impl SharedFeed for RedisLog {
    fn start_feed(&self, from: Option<Position>, deliver: Deliver) -> Result<(), LogError> {
        let reader = Reader {
            client: self.shared.client.clone(),
            stream: self.shared.key("stream"),
            after: from.map_or_else(|| "0-0".to_owned(), stream_id),
            deliver,
            link: self.shared.link.clone(),
            log: Arc::downgrade(&self.shared),
        };
        start_thread("quicksilver-redis-feed", move || reader.run())
    }

    fn append_async(&self, event: Arc<Event>) -> BoxFuture<Position> {
        self.on_io_thread(move |shared| shared.append(&event))
    }

    fn find_async(&self, id: &str) -> BoxFuture<Option<Position>> {
        let id = id.to_owned();
        self.on_io_thread(move |shared| shared.find(&id))
    }

    /// On the presence thread, after the presence changes made before it.
    fn append_detached(&self, event: Arc<Event>) {
        let shared = self.shared.clone();
        self.in_presence_order(
            "a subscription event",
            Box::new(move || {
                if let Err(error) = shared.append(&event) {
                    tracing::warn!(error = %ErrorChain(&error), "cannot publish a subscription event");
                }
            }),
        );
    }

    fn settle(&self, timeout: Duration) {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        // The presence thread runs its jobs in order: when this one runs, the others are done.
        let queued = self.presence.try_send(Box::new(move || {
            let _ = sender.send(());
        }));
        if queued.is_err() || receiver.recv_timeout(timeout).is_err() {
            tracing::warn!(
                "some presence changes or subscription events were not written to Redis"
            );
        }
    }

    fn feed_reconnects(&self) -> u64 {
        self.shared.link.reconnects.load(Ordering::Relaxed)
    }
}

impl Presence for RedisLog {
    /// Queued on the presence thread: connecting never waits for Redis.
    fn presence_add(
        &self,
        subscriber: &str,
        index: usize,
        subscription: &ActiveSubscription,
    ) -> Result<(), LogError> {
        let document =
            serde_json::to_string(subscription).map_err(LogError::storage(PRESENCE_UPDATE))?;
        let field = presence_field(subscriber, index);
        let shared = self.shared.clone();
        self.in_presence_order(
            "a subscription in the presence list",
            Box::new(move || {
                if let Err(error) = shared.presence_add(&field, &document) {
                    tracing::warn!(error = %ErrorChain(&error), "cannot update the presence list");
                }
            }),
        );
        Ok(())
    }

    /// Queued on the presence thread, after the matching `presence_add`.
    fn presence_remove(&self, subscriber: &str, index: usize) -> Result<(), LogError> {
        let field = presence_field(subscriber, index);
        let shared = self.shared.clone();
        self.in_presence_order(
            "the end of a subscription in the presence list",
            Box::new(move || {
                if let Err(error) = shared.presence_remove(&field) {
                    tracing::warn!(error = %ErrorChain(&error), "cannot update the presence list");
                }
            }),
        );
        Ok(())
    }

    /// Read on the presence thread, so that it includes this node's earlier changes.
    fn presence_list(&self) -> Result<Vec<ActiveSubscription>, LogError> {
        self.on_presence_thread(Shared::presence_list)
    }
}

impl Health for RedisLog {
    /// No I/O: the health thread and the feed keep the state fresh.
    fn check(&self) -> Result<(), LogError> {
        let link = &self.shared.link;
        if link.feed_interrupted.load(Ordering::Relaxed) {
            return Err(LogError::Unavailable("the feed lost its connection"));
        }
        if !link.answering.load(Ordering::Relaxed) {
            return Err(LogError::Unavailable("no answer"));
        }
        Ok(())
    }
}

/// Compares stream ids numerically (`ms-seq`).
fn stream_id_before(a: &str, b: &str) -> bool {
    match (position_of(a), position_of(b)) {
        (Ok(a), Ok(b)) => a < b,
        _ => false,
    }
}

/// One node's dedicated reader of the shared stream.
struct Reader {
    client: redis::Client,
    stream: String,
    /// The last entry delivered: reading resumes after it, whatever happened in between.
    after: String,
    deliver: Deliver,
    link: Arc<Link>,
    /// The reader stops once its log is dropped.
    log: Weak<Shared>,
}

impl Reader {
    /// A reader that was away longer than the stream keeps events (Redis down, node paused)
    /// cannot deliver what retention trimmed meanwhile; say so loudly.
    fn warn_about_trimmed_gap(&self, connection: &mut redis::Connection) -> Result<(), LogError> {
        if self.after == "0-0" {
            return Ok(());
        }
        let oldest: Vec<Entry> = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query(connection)
            .map_err(LogError::storage(FEED_READ))?;
        if let Some((first, _)) = oldest.first() {
            if stream_id_before(&self.after, first) && self.after_was_trimmed(connection)? {
                tracing::error!(
                    last_delivered = %self.after,
                    oldest_retained = %first,
                    "redis feed gap: retention may have trimmed events before this node could deliver them; raise history_size or history_max_age"
                );
            }
        }
        Ok(())
    }

    /// True when the last delivered entry is gone, so entries after it may be gone too.
    fn after_was_trimmed(&self, connection: &mut redis::Connection) -> Result<bool, LogError> {
        let still_there: Vec<Entry> = redis::cmd("XRANGE")
            .arg(&self.stream)
            .arg(&self.after)
            .arg(&self.after)
            .query(connection)
            .map_err(LogError::storage(FEED_READ))?;
        Ok(still_there.is_empty())
    }

    /// Follows the stream until the log is dropped, reconnecting with a backoff.
    fn run(mut self) {
        let mut backoff = BACKOFF_FIRST;
        while self.log.strong_count() > 0 {
            let interrupted = self.link.feed_interrupted.load(Ordering::Relaxed);
            if let Err(error) = self.follow(interrupted, &mut backoff) {
                self.link.epoch.fetch_add(1, Ordering::Relaxed);
                if !self.link.feed_interrupted.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %ErrorChain(&error), "redis feed interrupted; reconnecting");
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF_LAST);
            }
        }
    }

    /// Reads and delivers until the connection fails or the log is dropped; resumes after the
    /// last delivered entry, so an outage leaves no gap and delivers nothing twice.
    fn follow(&mut self, interrupted: bool, backoff: &mut Duration) -> Result<(), LogError> {
        let mut connection =
            connect(&self.client, FEED_READ_TIMEOUT).map_err(LogError::storage(FEED_READ))?;
        if interrupted {
            self.link.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        self.warn_about_trimmed_gap(&mut connection)?;
        while self.log.strong_count() > 0 {
            let reply: Option<Vec<(String, Vec<Entry>)>> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_BATCH)
                .arg("BLOCK")
                .arg(BLOCK_MS)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(&self.after)
                .query(&mut connection)
                .map_err(LogError::storage(FEED_READ))?;
            if self.link.feed_interrupted.swap(false, Ordering::Relaxed) {
                tracing::info!(after = %self.after, "redis feed reading again");
            }
            *backoff = BACKOFF_FIRST;
            for (_, entries) in reply.unwrap_or_default() {
                for entry in &entries {
                    self.after.clone_from(&entry.0);
                    match decode(entry) {
                        Ok((position, event)) => (self.deliver)(position, event),
                        Err(error) => {
                            tracing::error!(%error, "skipping an unreadable stream entry")
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::log::suite::Fixture;

    fn make_certificate(dir: &std::path::Path) {
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args([
                "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1",
            ])
            .args(["-subj", "/CN=127.0.0.1"])
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(made, "openssl could not make a test certificate");
    }

    /// A real `redis-server` on a free loopback port, stopped on drop.
    pub(crate) struct TestRedis {
        child: std::process::Child,
        dir: std::path::PathBuf,
        pub url: String,
    }

    impl Drop for TestRedis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl TestRedis {
        /// `None`, after a loud message, when `redis-server` is not installed.
        pub(crate) fn start() -> Option<Self> {
            Self::start_with(false)
        }

        /// The same, serving TLS only (a self-signed certificate made with `openssl`).
        pub(crate) fn start_tls() -> Option<Self> {
            Self::start_with(true)
        }

        fn start_with(tls: bool) -> Option<Self> {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .ok()?;
            let dir = std::env::temp_dir().join(format!("qs-redis-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).ok()?;
            let port_text = port.to_string();
            let mut args = vec!["--bind", "127.0.0.1", "--save", ""];
            if tls {
                make_certificate(&dir);
                args.extend(["--port", "0", "--tls-port", &port_text]);
                args.extend(["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"]);
                args.extend(["--tls-auth-clients", "no"]);
            } else {
                args.extend(["--port", &port_text]);
            }
            let spawned = std::process::Command::new("redis-server")
                .args(&args)
                .current_dir(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            let Ok(child) = spawned else {
                eprintln!("SKIP: redis-server is not installed (bash .ci/run installs it)");
                return None;
            };
            let scheme = if tls { "rediss" } else { "redis" };
            let fragment = if tls { "#insecure" } else { "" };
            let redis = Self {
                child,
                dir,
                url: format!("{scheme}://127.0.0.1:{port}/{fragment}"),
            };
            let client = redis::Client::open(redis.url.as_str()).ok()?;
            for _ in 0..200 {
                if let Ok(mut c) = client.get_connection() {
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                        return Some(redis);
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("redis-server did not start on port {port}");
        }
    }

    /// One key prefix per test on its own `redis-server`; every `open` shares it, like the
    /// nodes of a cluster.
    struct Redis {
        redis: TestRedis,
        prefix: String,
    }

    impl Fixture for Redis {
        fn open(&self, retention: Retention) -> Box<dyn EventLog> {
            Box::new(RedisLog::open(&self.redis.url, &self.prefix, retention).expect("open"))
        }

        fn persists(&self) -> bool {
            true
        }

        /// Redis trims by its own server clock, which no test can move: time must pass.
        fn advance(&self, by: Duration) {
            std::thread::sleep(by);
        }
    }

    crate::log::suite::contract_suite!(
        contract,
        TestRedis::start().map(|redis| Redis {
            redis,
            prefix: format!("test-{}", uuid::Uuid::new_v4()),
        })
    );

    #[test]
    fn works_over_tls() {
        let Some(redis) = TestRedis::start_tls() else {
            return;
        };
        let unlimited = Retention {
            max_events: 0,
            max_age: Duration::ZERO,
        };
        let log = RedisLog::open(&redis.url, "tls", unlimited).expect("open over TLS");
        let update = crate::event::Update::example("over-tls", &["t"], "");
        let position = log.append(Arc::new(Event::new(update))).expect("append");
        assert_eq!(log.find("over-tls").expect("find"), Some(position));
    }

    #[test]
    fn trimming_removes_index_entries() {
        let Some(redis) = TestRedis::start() else {
            return;
        };
        let prefix = format!("trim-{}", uuid::Uuid::new_v4());
        let retention = Retention {
            max_events: 2,
            max_age: Duration::ZERO,
        };
        let log = RedisLog::open(&redis.url, &prefix, retention).expect("open");
        for i in 0..5 {
            let update = crate::event::Update::example(format!("id-{i}"), &["t"], "");
            log.append(Arc::new(Event::new(update))).expect("append");
        }
        let client = redis::Client::open(redis.url.as_str()).expect("client");
        let mut connection = client.get_connection().expect("connection");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:id:*"))
            .query(&mut connection)
            .expect("keys");
        let mut keys: Vec<_> = keys
            .iter()
            .map(|k| k.rsplit(':').next().unwrap_or_default())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["id-3", "id-4"],
            "the index holds only retained events"
        );
    }

    fn update(id: &str) -> Arc<Event> {
        Arc::new(Event::new(crate::event::Update::example(id, &["t"], "")))
    }

    const UNLIMITED: Retention = Retention {
        max_events: 0,
        max_age: Duration::ZERO,
    };

    #[test]
    fn background_writes_keep_their_order_and_this_node_reads_them() {
        let Some(redis) = TestRedis::start() else {
            return;
        };
        let prefix = format!("presence-{}", uuid::Uuid::new_v4());
        let log = RedisLog::open(&redis.url, &prefix, UNLIMITED).expect("open");
        let subscription = ActiveSubscription {
            subscriber: "urn:uuid:one".into(),
            topic: "https://example.com/t".into(),
            match_type: None,
            payload: None,
        };
        log.presence_add("urn:uuid:one", 0, &subscription)
            .expect("queued");
        log.append_detached(update("active"));
        // Queued after the add: the node reads its own change.
        assert_eq!(log.presence_list().expect("list"), vec![subscription]);
        assert_eq!(log.last_event_id().as_deref(), Some("active"));
        log.presence_remove("urn:uuid:one", 0).expect("queued");
        log.append_detached(update("inactive"));
        log.settle(Duration::from_secs(5));
        assert_eq!(log.presence_list().expect("list"), vec![]);
        assert!(log.find("inactive").expect("find").is_some());
        assert!(log.find("active").expect("find") < log.find("inactive").expect("find"));
    }

    #[test]
    fn append_async_and_find_async_answer_off_the_caller_thread() {
        let Some(redis) = TestRedis::start() else {
            return;
        };
        let prefix = format!("async-{}", uuid::Uuid::new_v4());
        let log = RedisLog::open(&redis.url, &prefix, UNLIMITED).expect("open");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let position = runtime
            .block_on(log.append_async(update("a")))
            .expect("append");
        let found = runtime.block_on(log.find_async("a")).expect("find");
        assert_eq!(found, Some(position));
        assert_eq!(
            runtime.block_on(log.find_async("none")).expect("find"),
            None
        );
    }

    #[test]
    fn check_fails_once_redis_is_gone() {
        let Some(mut redis) = TestRedis::start() else {
            return;
        };
        let prefix = format!("check-{}", uuid::Uuid::new_v4());
        let log = RedisLog::open(&redis.url, &prefix, UNLIMITED).expect("open");
        log.start_feed(None, Arc::new(|_, _| {})).expect("feed");
        assert!(log.check().is_ok());
        assert_eq!(log.feed_reconnects(), 0);
        let _ = redis.child.kill();
        let _ = redis.child.wait();
        let deadline = Instant::now() + Duration::from_secs(20);
        while log.check().is_ok() {
            assert!(
                Instant::now() < deadline,
                "check still passes without Redis"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn positions_round_trip_stream_ids() {
        for sid in ["0-0", "1700000000000-0", "1700000000000-17", "1-1048575"] {
            assert_eq!(stream_id(position_of(sid).expect("valid")), sid);
        }
        assert!(position_of("1-1048576").is_err());
        assert!(position_of("nonsense").is_err());
        let at = |sid| position_of(sid).expect("valid");
        assert!(at("1700000000000-1") > at("1700000000000-0"));
        assert!(at("1700000000001-0") > at("1700000000000-5"));
    }
}
