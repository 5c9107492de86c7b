//! `publish`: the sustained durable publish rate of C concurrent keep-alive publishers.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::error::BenchError;
use crate::payload::{self, Stamp};
use crate::procfs::{Meter, Usage};
use crate::progress::Progress;
use crate::publish::Publisher;
use crate::stats::{self, Latency};
use crate::{pace, per_second, run_tag, seconds, topic_url, Clock, Target};

/// A publisher gives up after this many failures in a row.
const MAX_CONSECUTIVE_ERRORS: u32 = 10;

#[derive(Debug, Clone)]
pub struct Options {
    /// Concurrent publishers (one connection each).
    pub publishers: usize,
    /// Stop after this many publishes in all...
    pub events: Option<u64>,
    /// ...or after this long (whichever comes first; at least one must be set).
    pub duration: Option<Duration>,
    /// Payload size in bytes.
    pub payload: usize,
    /// Topics to spread publishes over (`None`: one per publisher, under a fresh run tag).
    pub topics: Option<Vec<String>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            publishers: 64,
            events: None,
            duration: Some(Duration::from_secs(10)),
            payload: 100,
            topics: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub publishers: usize,
    pub published: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed_s: f64,
    pub publishes_per_s: f64,
    pub latency: Latency,
    /// CPU figures are per publish.
    pub usage: Usage,
}

/// Shared by the publisher tasks of one run.
struct State {
    clock: Clock,
    next: Cell<u64>,
    limit: u64,
    deadline: Cell<Option<Instant>>,
    published: Rc<Cell<u64>>,
    errors: Cell<u64>,
    first_error: RefCell<Option<String>>,
    latency: RefCell<Histogram<u64>>,
    topics: Vec<String>,
    payload: usize,
}

pub async fn run(target: &Target, options: &Options) -> Result<Report, BenchError> {
    if options.events.is_none() && options.duration.is_none() {
        return Err(BenchError::Options(
            "publish needs a count or a duration".into(),
        ));
    }
    let publishers = connect_publishers(target, options.publishers.max(1)).await?;
    let state = Rc::new(new_state(options));
    let _progress = Progress::start(
        target.progress,
        "publish",
        "published",
        state.published.clone(),
    );
    let meter = Meter::start(target.hub_pid);
    let start = Instant::now();
    let state = drive(state, publishers, start, options.duration).await;
    let elapsed = start.elapsed();
    let published = state.published.get();
    let latency = Latency::from_histogram(&state.latency.borrow());
    let first_error = state.first_error.borrow().clone();
    if published == 0 {
        // Nothing to measure: say why rather than report a rate of zero.
        if let Some(error) = first_error {
            return Err(BenchError::NothingPublished(error));
        }
    }
    Ok(Report {
        publishers: options.publishers.max(1),
        published,
        errors: state.errors.get(),
        first_error,
        elapsed_s: seconds(elapsed),
        publishes_per_s: per_second(published, elapsed),
        latency,
        usage: meter.finish(published),
    })
}

/// Publishes `events` stamped events (seq 0..events) to `topic` with `publishers` connections;
/// used to fill history. Returns the report of the fill.
pub async fn fill(
    target: &Target,
    topic: &str,
    events: u64,
    publishers: usize,
    payload: usize,
) -> Result<Report, BenchError> {
    let options = Options {
        publishers,
        events: Some(events),
        duration: None,
        payload,
        topics: Some(vec![topic.to_string()]),
    };
    run(target, &options).await
}

fn new_state(options: &Options) -> State {
    let topics = options.topics.clone().unwrap_or_else(|| {
        let tag = run_tag();
        (0..options.publishers.max(1))
            .map(|i| topic_url(&tag, &format!("publish/{i}")))
            .collect()
    });
    State {
        clock: Clock::new(),
        next: Cell::new(0),
        limit: options.events.unwrap_or(u64::MAX),
        deadline: Cell::new(None),
        published: Rc::new(Cell::new(0)),
        errors: Cell::new(0),
        first_error: RefCell::new(None),
        latency: RefCell::new(stats::histogram()),
        topics,
        payload: options.payload,
    }
}

async fn connect_publishers(target: &Target, count: usize) -> Result<Vec<Publisher>, BenchError> {
    let start = Instant::now();
    let mut publishers = Vec::with_capacity(count);
    for i in 0..count {
        pace(target, start, i).await;
        let mut publisher = Publisher::new(target, i, count);
        publisher.connect().await?;
        publishers.push(publisher);
    }
    Ok(publishers)
}

async fn drive(
    state: Rc<State>,
    publishers: Vec<Publisher>,
    start: Instant,
    duration: Option<Duration>,
) -> Rc<State> {
    state.deadline.set(duration.map(|d| start + d));
    let tasks: Vec<_> = publishers
        .into_iter()
        .enumerate()
        .map(|(i, p)| tokio::task::spawn_local(publish_loop(state.clone(), p, i as u32)))
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    state
}

/// One publisher: claims the next sequence number and publishes, back to back.
async fn publish_loop(state: Rc<State>, mut publisher: Publisher, index: u32) {
    let mut data = Vec::with_capacity(state.payload + 32);
    let mut failures = 0;
    while let Some(seq) = claim(&state) {
        let topic = &state.topics[seq as usize % state.topics.len()];
        let sent_ns = state.clock.now_ns();
        let stamp = Stamp {
            seq,
            publisher: index,
            sent_ns,
        };
        payload::encode(&mut data, stamp, state.payload);
        match publisher.publish(topic, &data).await {
            Ok(_) => {
                failures = 0;
                state.published.set(state.published.get() + 1);
                stats::record(
                    &mut state.latency.borrow_mut(),
                    state.clock.now_ns() - sent_ns,
                );
            }
            Err(e) => {
                failures += 1;
                note_error(&state, e);
                if failures >= MAX_CONSECUTIVE_ERRORS {
                    return;
                }
            }
        }
    }
}

fn claim(state: &State) -> Option<u64> {
    let seq = state.next.get();
    let late = state.deadline.get().is_some_and(|d| Instant::now() >= d);
    if seq >= state.limit || late {
        return None;
    }
    state.next.set(seq + 1);
    Some(seq)
}

fn note_error(state: &State, error: BenchError) {
    state.errors.set(state.errors.get() + 1);
    let mut first = state.first_error.borrow_mut();
    if first.is_none() {
        *first = Some(error.to_string());
    }
}
