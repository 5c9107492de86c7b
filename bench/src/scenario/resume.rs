//! `resume`: disconnect, publish M events, reconnect with `Last-Event-ID`; the catch-up must be exact.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::error::BenchError;
use crate::payload::{self, Stamp};
use crate::procfs::{Meter, Usage};
use crate::publish::Publisher;
use crate::stats::{self, Integrity, Latency};
use crate::subscribe::{Kind, Request, Subscription};
use crate::{run_tag, topic_url, Clock, Target};

/// Also the command line's options (`quicksilver-bench resume`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Disconnect / publish / reconnect rounds.
    #[arg(short = 'r', long, default_value_t = 200)]
    pub rounds: usize,
    /// Events published while disconnected, per round.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub events: usize,
    /// Payload size in bytes.
    #[arg(short = 'b', long, default_value_t = 100)]
    pub payload: usize,
    /// Give up on a round when no event arrives for this long.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub idle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rounds: 200,
            events: 10,
            payload: 100,
            idle_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rounds: usize,
    pub events_per_round: usize,
    /// From starting the reconnect (TCP connect) to the first replayed event.
    pub reconnect_to_first_event: Latency,
    /// From starting the reconnect to the last missed event.
    pub reconnect_to_caught_up: Latency,
    /// Missed events plus one live event per round that must follow the replay directly.
    pub integrity: Integrity,
    /// CPU figures are per replayed event.
    pub usage: Usage,
}

/// Per-run state: the subscriber's topic, a publisher, and the measurements.
struct Run<'a> {
    target: &'a Target,
    options: &'a Options,
    topic: String,
    publisher: Publisher,
    clock: Clock,
    data: Vec<u8>,
    seq: u64,
    first: Histogram<u64>,
    caught_up: Histogram<u64>,
    integrity: Integrity,
}

pub async fn run(target: &Target, options: &Options) -> Result<Report, BenchError> {
    let mut run = Run {
        target,
        options,
        topic: topic_url(&run_tag(), "resume"),
        publisher: Publisher::new(target, 1, 2),
        clock: Clock::new(),
        data: Vec::with_capacity(options.payload + 32),
        seq: 0,
        first: stats::histogram(),
        caught_up: stats::histogram(),
        integrity: Integrity::default(),
    };
    let meter = Meter::start(target.hub_pid);
    let mut last_id = run.anchor().await?;
    for _ in 0..options.rounds {
        last_id = run.round(&last_id).await?;
    }
    Ok(Report {
        rounds: options.rounds,
        events_per_round: options.events,
        reconnect_to_first_event: Latency::from_histogram(&run.first),
        reconnect_to_caught_up: Latency::from_histogram(&run.caught_up),
        integrity: run.integrity,
        usage: meter.finish((options.rounds * options.events) as u64),
    })
}

impl Run<'_> {
    /// Subscribes live, publishes one event and returns its id as it was received.
    async fn anchor(&mut self) -> Result<String, BenchError> {
        let mut subscription = self.subscribe(None).await?;
        let id = self.publish().await?;
        let received = self.next_id(&mut subscription).await?;
        if received.as_deref() != Some(id.as_str()) {
            return Err(BenchError::Options(format!(
                "the topic {} received {received:?} where {id:?} was expected: is it used by someone else?",
                self.topic
            )));
        }
        Ok(id)
    }

    /// One disconnected round; returns the id to resume from next.
    async fn round(&mut self, last_id: &str) -> Result<String, BenchError> {
        let mut expected = Vec::with_capacity(self.options.events);
        for _ in 0..self.options.events {
            expected.push(self.publish().await?);
        }
        let start = Instant::now();
        let mut subscription = self.subscribe(Some(last_id)).await?;
        let mut check = Check::new(&expected);
        while check.received < expected.len() {
            let Some(id) = self.next_id(&mut subscription).await? else {
                break;
            };
            if check.received == 0 {
                stats::record(&mut self.first, start.elapsed().as_nanos() as u64);
            }
            check.record(&id);
        }
        stats::record(&mut self.caught_up, start.elapsed().as_nanos() as u64);
        let live = self.publish().await?;
        check.live(&live, &mut subscription, self).await?;
        self.integrity.add(&check.finish());
        Ok(live)
    }

    async fn subscribe(&self, last_id: Option<&str>) -> Result<Subscription, BenchError> {
        let topics = [self.topic.as_str()];
        let request = Request {
            topics: &topics,
            kind: Kind::Topic,
            last_event_id: last_id,
            accept_encoding: None,
        };
        Subscription::open(self.target, request, 0, 2).await
    }

    async fn publish(&mut self) -> Result<String, BenchError> {
        let stamp = Stamp {
            seq: self.seq,
            publisher: 0,
            sent_ns: self.clock.now_ns(),
        };
        self.seq += 1;
        payload::encode(&mut self.data, stamp, self.options.payload);
        Ok(self
            .publisher
            .publish(&self.topic, &self.data)
            .await?
            .to_string())
    }

    /// The id of the next event on `subscription`; `None` when none comes within the idle timeout.
    async fn next_id(&self, subscription: &mut Subscription) -> Result<Option<String>, BenchError> {
        let read = subscription.read_until(|event| {
            ControlFlow::Break(String::from_utf8_lossy(event.id.unwrap_or_default()).into_owned())
        });
        match tokio::time::timeout(self.options.idle_timeout, read).await {
            Ok(id) => id.map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// Compares received ids with the published ones.
struct Check<'a> {
    index: HashMap<&'a str, usize>,
    seen: Vec<bool>,
    last: Option<usize>,
    received: usize,
    live_seen: bool,
    counts: Integrity,
}

impl<'a> Check<'a> {
    fn new(expected: &'a [String]) -> Check<'a> {
        Check {
            index: expected
                .iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i))
                .collect(),
            seen: vec![false; expected.len()],
            last: None,
            received: 0,
            live_seen: false,
            counts: Integrity {
                expected: expected.len() as u64 + 1,
                ..Integrity::default()
            },
        }
    }

    fn record(&mut self, id: &str) {
        self.received += 1;
        self.counts.received += 1;
        let Some(&i) = self.index.get(id) else {
            self.counts.foreign += 1;
            return;
        };
        if self.seen[i] {
            self.counts.duplicates += 1;
            return;
        }
        self.seen[i] = true;
        if self.last.is_some_and(|last| i < last) {
            self.counts.out_of_order += 1;
        }
        self.last = Some(self.last.map_or(i, |last| last.max(i)));
    }

    /// The live event published after catch-up must be the very next event.
    async fn live(
        &mut self,
        live: &str,
        subscription: &mut Subscription,
        run: &Run<'_>,
    ) -> Result<(), BenchError> {
        while let Some(id) = run.next_id(subscription).await? {
            self.counts.received += 1;
            if id == live {
                self.live_seen = true;
                return Ok(());
            }
            match self.index.get(id.as_str()) {
                Some(_) => self.counts.duplicates += 1,
                None => self.counts.foreign += 1,
            }
        }
        Ok(())
    }

    fn finish(&self) -> Integrity {
        let unique = self.seen.iter().filter(|&&s| s).count() as u64 + u64::from(self.live_seen);
        Integrity {
            lost: self.counts.expected - unique,
            ..self.counts
        }
    }
}
