//! `fanout`: N subscribers over T topics, M events published at a fixed rate.

use std::cell::{Cell, RefCell};
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::decode::Encoding;
use crate::error::BenchError;
use crate::payload::{self, Stamp};
use crate::procfs::{Meter, Usage};
use crate::progress::Progress;
use crate::publish::Publisher;
use crate::stats::{self, Integrity, Latency, Tracker};
use crate::subscribe::{Kind, Request, Subscription};
use crate::{join_opened, pace, per_second, run_tag, seconds, topic_url, Clock, Target};

/// How subscribers select their topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Selector {
    /// The topic URL itself.
    Exact,
    /// A URI template that matches only the subscriber's topic.
    Template,
    /// `*`: every subscriber receives every event.
    Wildcard,
    /// A 1.0 `match_urlpattern` selector equivalent to the template one
    /// (`…/t/{k}/{rest}` ↔ `…/t/{k}/:rest`), with the 1.0 subscriber token if any.
    Urlpattern,
}

impl Selector {
    fn kind(self) -> Kind {
        match self {
            Selector::Urlpattern => Kind::UrlPattern,
            _ => Kind::Topic,
        }
    }
}

/// Also the command line's options (`quicksilver-bench fanout`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Subscribers (one SSE connection each).
    #[arg(short = 's', long, default_value_t = 1_000)]
    pub subscribers: usize,
    /// Topics, spread evenly over the subscribers.
    #[arg(short = 't', long, default_value_t = 10)]
    pub topics: usize,
    /// How subscribers select their topic.
    #[arg(long, value_enum, default_value_t = Selector::Exact)]
    pub selector: Selector,
    /// Events to publish in all.
    #[arg(short = 'n', long, default_value_t = 1_000)]
    pub events: u64,
    /// Events per second, all topics together.
    #[arg(short = 'r', long, default_value_t = 100.0)]
    pub rate: f64,
    /// Payload size in bytes (padded payloads).
    #[arg(short = 'b', long, default_value_t = 100)]
    pub payload: usize,
    /// What payloads carry after their stamp: `x` padding to `--payload` bytes, or a ~1 KB
    /// JSON-LD document that compresses like real updates.
    #[arg(long, value_enum, default_value_t = payload::Kind::Padded)]
    pub payload_kind: payload::Kind,
    /// Subscribers ask for a compressed stream (`Accept-Encoding`; gzip when no coding is given)
    /// and decode every event.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "gzip")]
    pub compressed: Option<Encoding>,
    /// Publishing connections (each sends its events in order, one at a time).
    #[arg(short = 'c', long, default_value_t = 4)]
    pub publishers: usize,
    /// After the last publish, wait at most this long without progress for deliveries.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub drain_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            subscribers: 1_000,
            topics: 10,
            selector: Selector::Exact,
            events: 1_000,
            rate: 100.0,
            payload: 100,
            payload_kind: payload::Kind::Padded,
            compressed: None,
            publishers: 4,
            drain_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub subscribers: usize,
    pub topics: usize,
    pub selector: Selector,
    pub published: u64,
    pub publish_errors: u64,
    pub deliveries: u64,
    /// From the first publish to the last delivery.
    pub elapsed_s: f64,
    pub deliveries_per_s: f64,
    /// Publish request sent → event parsed by the subscriber.
    pub latency: Latency,
    pub integrity: Integrity,
    /// Subscriber streams that ended or failed before the end.
    pub disconnects: u64,
    pub first_error: Option<String>,
    /// The coding subscribers asked for (`--compressed`), if any.
    pub compressed: Option<Encoding>,
    /// Subscriptions the hub answered with a compressed stream.
    pub compressed_streams: u64,
    /// Body bytes subscribers read from their sockets (chunk framing and heartbeats included),
    /// over the whole run.
    pub wire_bytes: u64,
    pub wire_bytes_per_delivery: f64,
    /// CPU figures are per delivery.
    pub usage: Usage,
}

struct State {
    clock: Clock,
    options: Options,
    topic_names: Vec<String>,
    next_seq: Cell<u64>,
    publish_start_ns: Cell<u64>,
    published_ok: RefCell<Vec<bool>>,
    publish_errors: Cell<u64>,
    deliveries: Rc<Cell<u64>>,
    last_delivery_ns: Cell<u64>,
    trackers: RefCell<Vec<Tracker>>,
    latency: RefCell<Histogram<u64>>,
    disconnects: Cell<u64>,
    first_error: RefCell<Option<String>>,
    compressed_streams: Cell<u64>,
    wire_bytes: Cell<u64>,
}

pub async fn run(target: &Target, options: &Options) -> Result<Report, BenchError> {
    let state = Rc::new(State::new(options));
    let subscriptions = connect_all(target, &state).await?;
    let readers: Vec<_> = subscriptions
        .into_iter()
        .enumerate()
        .map(|(i, s)| tokio::task::spawn_local(read_loop(state.clone(), s, i)))
        .collect();
    let _progress = Progress::start(
        target.progress,
        "fanout",
        "deliveries",
        state.deliveries.clone(),
    );
    let meter = Meter::start(target.hub_pid).with_proxy(target.proxy_pid);
    let start_ns = state.clock.now_ns();
    state.publish_start_ns.set(start_ns);
    publish_all(target, &state).await?;
    drain(&state).await;
    let usage = meter.finish(state.deliveries.get());
    for reader in readers {
        reader.abort();
    }
    Ok(state.report(start_ns, usage))
}

impl State {
    fn new(options: &Options) -> State {
        let tag = run_tag();
        let topics = options.topics.max(1);
        let subscribers = options.subscribers;
        State {
            clock: Clock::new(),
            options: Options {
                topics,
                publishers: options.publishers.max(1),
                ..options.clone()
            },
            topic_names: (0..topics)
                .map(|k| topic_url(&tag, &format!("t/{k}/updates")))
                .collect(),
            next_seq: Cell::new(0),
            publish_start_ns: Cell::new(0),
            published_ok: RefCell::new(vec![false; options.events as usize]),
            publish_errors: Cell::new(0),
            deliveries: Rc::new(Cell::new(0)),
            last_delivery_ns: Cell::new(0),
            trackers: RefCell::new(
                (0..subscribers)
                    .map(|_| Tracker::new(options.events, options.publishers.max(1) as u32))
                    .collect(),
            ),
            latency: RefCell::new(stats::histogram()),
            disconnects: Cell::new(0),
            first_error: RefCell::new(None),
            compressed_streams: Cell::new(0),
            wire_bytes: Cell::new(0),
        }
    }

    /// The selector of subscriber `i`.
    fn selector(&self, i: usize) -> String {
        let topic = &self.topic_names[i % self.options.topics];
        match self.options.selector {
            Selector::Exact => topic.clone(),
            Selector::Template => format!("{}{{rest}}", topic.trim_end_matches("updates")),
            Selector::Urlpattern => format!("{}:rest", topic.trim_end_matches("updates")),
            Selector::Wildcard => "*".to_string(),
        }
    }

    /// Events subscriber `i` should receive, given which publishes succeeded.
    fn expected(&self, i: usize, per_topic: &[u64], total: u64) -> u64 {
        match self.options.selector {
            Selector::Wildcard => total,
            _ => per_topic[i % self.options.topics],
        }
    }

    fn expected_total(&self) -> u64 {
        let (per_topic, total) = self.published_per_topic();
        (0..self.options.subscribers)
            .map(|i| self.expected(i, &per_topic, total))
            .sum()
    }

    fn published_per_topic(&self) -> (Vec<u64>, u64) {
        let mut per_topic = vec![0; self.options.topics];
        let mut total = 0;
        for (seq, _) in self
            .published_ok
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, ok)| **ok)
        {
            per_topic[seq % self.options.topics] += 1;
            total += 1;
        }
        (per_topic, total)
    }

    fn note_error(&self, error: &BenchError) {
        let mut first = self.first_error.borrow_mut();
        if first.is_none() {
            *first = Some(error.to_string());
        }
    }

    fn report(&self, start_ns: u64, usage: Usage) -> Report {
        let (per_topic, total) = self.published_per_topic();
        let mut integrity = Integrity::default();
        for (i, tracker) in self.trackers.borrow().iter().enumerate() {
            integrity.add(&tracker.finish(self.expected(i, &per_topic, total)));
        }
        let deliveries = self.deliveries.get();
        let elapsed = Duration::from_nanos(self.last_delivery_ns.get().saturating_sub(start_ns));
        Report {
            subscribers: self.options.subscribers,
            topics: self.options.topics,
            selector: self.options.selector,
            published: total,
            publish_errors: self.publish_errors.get(),
            deliveries,
            elapsed_s: seconds(elapsed),
            deliveries_per_s: per_second(deliveries, elapsed),
            latency: Latency::from_histogram(&self.latency.borrow()),
            integrity,
            disconnects: self.disconnects.get(),
            first_error: self.first_error.borrow().clone(),
            compressed: self.options.compressed,
            compressed_streams: self.compressed_streams.get(),
            wire_bytes: self.wire_bytes.get(),
            wire_bytes_per_delivery: if deliveries == 0 {
                0.0
            } else {
                self.wire_bytes.get() as f64 / deliveries as f64
            },
            usage,
        }
    }
}

/// Opens every subscription at the target's connect rate; fails if any cannot be opened.
async fn connect_all(target: &Target, state: &Rc<State>) -> Result<Vec<Subscription>, BenchError> {
    let total = state.options.subscribers;
    let publishers = state.options.publishers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..total)
        .map(|i| {
            let target = target.clone();
            let selector = state.selector(i);
            let kind = state.options.selector.kind();
            let accept_encoding = state.options.compressed.map(Encoding::token);
            tokio::task::spawn_local(async move {
                pace(&target, start, i).await;
                let topics = [selector.as_str()];
                let request = Request {
                    topics: &topics,
                    kind,
                    last_event_id: None,
                    accept_encoding,
                };
                Subscription::open(&target, request, i, total + publishers).await
            })
        })
        .collect();
    join_opened(tasks).await
}

async fn read_loop(state: Rc<State>, mut subscription: Subscription, index: usize) {
    if subscription.is_compressed() {
        state
            .compressed_streams
            .set(state.compressed_streams.get() + 1);
    }
    let mut counted = 0;
    loop {
        let read = subscription
            .read::<()>(|event| {
                on_event(&state, index, event.data);
                ControlFlow::Continue(())
            })
            .await;
        let wire = subscription.wire_bytes();
        state
            .wire_bytes
            .set(state.wire_bytes.get() + (wire - counted));
        counted = wire;
        if let Err(e) = read {
            state.disconnects.set(state.disconnects.get() + 1);
            state.note_error(&e);
            return;
        }
    }
}

fn on_event(state: &State, index: usize, data: &[u8]) {
    let now = state.clock.now_ns();
    let stamp = payload::decode(data);
    if let Some(s) = stamp {
        stats::record(
            &mut state.latency.borrow_mut(),
            now.saturating_sub(s.sent_ns),
        );
    }
    if let Some(tracker) = state.trackers.borrow_mut().get_mut(index) {
        tracker.record(stamp);
    }
    state.deliveries.set(state.deliveries.get() + 1);
    state.last_delivery_ns.set(now);
}

/// Publishes every event on schedule (event `seq` at `seq / rate` seconds).
async fn publish_all(target: &Target, state: &Rc<State>) -> Result<(), BenchError> {
    let count = state.options.publishers;
    let total = state.options.subscribers + count;
    let mut tasks = Vec::with_capacity(count);
    for p in 0..count {
        let mut publisher = Publisher::new(target, state.options.subscribers + p, total);
        publisher.connect().await?;
        tasks.push(tokio::task::spawn_local(publish_loop(
            state.clone(),
            publisher,
            p as u32,
        )));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

async fn publish_loop(state: Rc<State>, mut publisher: Publisher, index: u32) {
    let mut data = Vec::with_capacity(state.options.payload + 32);
    let interval_ns = 1e9 / state.options.rate.max(0.001);
    loop {
        let seq = state.next_seq.get();
        if seq >= state.options.events {
            return;
        }
        state.next_seq.set(seq + 1);
        let due = state
            .clock
            .instant(state.publish_start_ns.get() + (seq as f64 * interval_ns) as u64);
        tokio::time::sleep_until(due.into()).await;
        let stamp = Stamp {
            seq,
            publisher: index,
            sent_ns: state.clock.now_ns(),
        };
        payload::encode_kind(
            &mut data,
            stamp,
            state.options.payload_kind,
            state.options.payload,
        );
        let topic = &state.topic_names[seq as usize % state.options.topics];
        match publisher.publish(topic, &data).await {
            Ok(_) => state.published_ok.borrow_mut()[seq as usize] = true,
            Err(e) => {
                state.publish_errors.set(state.publish_errors.get() + 1);
                state.note_error(&e);
            }
        }
    }
}

/// Waits until every expected delivery arrived, or deliveries stop for `drain_timeout`.
async fn drain(state: &State) {
    let expected = state.expected_total();
    let mut last = state.deliveries.get();
    let mut quiet_since = Instant::now();
    while state.deliveries.get() < expected {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = state.deliveries.get();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= state.options.drain_timeout {
            return;
        }
    }
}
