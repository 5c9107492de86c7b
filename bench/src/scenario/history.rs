//! `history`: how fast one subscriber receives a replay of N stored events.

use std::cell::Cell;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::BenchError;
use crate::payload;
use crate::procfs::{Meter, Usage};
use crate::progress::Progress;
use crate::stats::{Integrity, Tracker};
use crate::subscribe::{Kind, Request, Subscription};
use crate::{per_second, run_tag, seconds, topic_url, Target};

/// Also the command line's options (`quicksilver-bench history`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Events to publish first and then expect in the replay.
    #[arg(short = 'n', long, default_value_t = 200_000)]
    pub events: u64,
    /// Publishers used to fill the history.
    #[arg(short = 'c', long, default_value_t = 64)]
    pub publishers: usize,
    /// Payload size in bytes.
    #[arg(short = 'b', long, default_value_t = 100)]
    pub payload: usize,
    /// The events exist already: do not publish them.
    #[arg(long)]
    pub skip_fill: bool,
    /// Topic selector to fill and replay (default: a fresh topic; `*` with --skip-fill).
    #[arg(long)]
    pub topic: Option<String>,
    /// Last-Event-ID to replay from.
    #[arg(long, default_value = "earliest")]
    pub from: String,
    /// Give up when no event arrives for this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub idle_timeout: Duration,
    /// Pause between filling and replaying (lets the hub finish background flushing).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub settle: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            events: 200_000,
            publishers: 64,
            payload: 100,
            skip_fill: false,
            topic: None,
            from: "earliest".into(),
            idle_timeout: Duration::from_secs(10),
            settle: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The fill phase, unless skipped.
    pub fill: Option<super::publish::Report>,
    pub topic: String,
    /// From the request to the first replayed event.
    pub first_event_ms: f64,
    /// From the request to the N-th replayed event.
    pub elapsed_s: f64,
    pub events_per_s: f64,
    pub integrity: Integrity,
    /// CPU figures are per replayed event.
    pub usage: Usage,
}

pub async fn run(target: &Target, options: &Options) -> Result<Report, BenchError> {
    let topic = options
        .topic
        .clone()
        .unwrap_or_else(|| match options.skip_fill {
            true => "*".to_string(),
            false => topic_url(&run_tag(), "history"),
        });
    let (fill, expected) = match options.skip_fill {
        true => (None, options.events),
        false => {
            let report = super::publish::fill(
                target,
                &topic,
                options.events,
                options.publishers,
                options.payload,
            )
            .await?;
            let published = report.published;
            tokio::time::sleep(options.settle).await;
            (Some(report), published)
        }
    };
    let meter = Meter::start(target.hub_pid);
    let replay = replay(target, &topic, options, expected).await?;
    let usage = meter.finish(replay.integrity.received);
    Ok(Report {
        fill,
        topic,
        first_event_ms: seconds(replay.first_event) * 1_000.0,
        elapsed_s: seconds(replay.elapsed),
        events_per_s: per_second(replay.integrity.received, replay.elapsed),
        integrity: replay.integrity,
        usage,
    })
}

struct Replay {
    first_event: Duration,
    elapsed: Duration,
    integrity: Integrity,
}

async fn replay(
    target: &Target,
    topic: &str,
    options: &Options,
    expected: u64,
) -> Result<Replay, BenchError> {
    let counter = Rc::new(Cell::new(0u64));
    let _progress = Progress::start(target.progress, "history", "replayed", counter.clone());
    let mut tracker = Tracker::new(options.events, options.publishers.max(1) as u32);
    let mut first_event = None;
    let start = Instant::now();
    let topics = [topic];
    let request = Request {
        topics: &topics,
        kind: Kind::Topic,
        last_event_id: Some(&options.from),
        accept_encoding: None,
    };
    let mut subscription = Subscription::open(target, request, 0, 1).await?;
    while tracker.finish(expected).received < expected {
        let read = subscription.read::<()>(|event| {
            first_event.get_or_insert_with(|| start.elapsed());
            tracker.record(payload::decode(event.data));
            ControlFlow::Continue(())
        });
        match tokio::time::timeout(options.idle_timeout, read).await {
            Ok(result) => {
                let _ = result?;
            }
            Err(_) => break,
        }
        counter.set(tracker.finish(expected).received);
    }
    Ok(Replay {
        first_event: first_event.unwrap_or_default(),
        elapsed: start.elapsed(),
        integrity: tracker.finish(expected),
    })
}
