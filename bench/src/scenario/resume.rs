//! `resume`: disconnect, publish M events, reconnect with `Last-Event-ID`; the catch-up must be exact.

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
    /// Wait this long after the round's publishes before reconnecting (e.g. `20ms`), to measure a
    /// resume that reaches a hub whose CPU has gone idle.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub pause: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rounds: 200,
            events: 10,
            payload: 100,
            idle_timeout: Duration::from_secs(5),
            pause: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rounds: usize,
    pub events_per_round: usize,
    /// The `--pause` between a round's publishes and its reconnect, in microseconds.
    pub pause_us: u64,
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
///
/// Events are identified by their payload stamp's `seq`, and the id to resume from is the one the
/// subscriber received: Nchan's publish responses carry no event id, its event streams do.
struct Run<'a> {
    options: &'a Options,
    topic: String,
    publisher: Publisher,
    subscriber: Subscriber<'a>,
    clock: Clock,
    data: Vec<u8>,
    seq: u64,
    first: Histogram<u64>,
    caught_up: Histogram<u64>,
    integrity: Integrity,
}

/// Opens resuming subscriptions and reads `(seq, id)` from them.
struct Subscriber<'a> {
    target: &'a Target,
    topic: String,
    idle_timeout: Duration,
}

/// One received event: its payload's sequence number (`None` for foreign data) and its id.
struct Received {
    seq: Option<u64>,
    id: String,
}

pub async fn run(target: &Target, options: &Options) -> Result<Report, BenchError> {
    let topic = topic_url(&run_tag(), "resume");
    let mut run = Run {
        options,
        subscriber: Subscriber {
            target,
            topic: topic.clone(),
            idle_timeout: options.idle_timeout,
        },
        topic,
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
        pause_us: u64::try_from(options.pause.as_micros()).unwrap_or(u64::MAX),
        reconnect_to_first_event: Latency::from_histogram(&run.first),
        reconnect_to_caught_up: Latency::from_histogram(&run.caught_up),
        integrity: run.integrity,
        usage: meter.finish((options.rounds * options.events) as u64),
    })
}

impl Run<'_> {
    /// Subscribes live, publishes one event and returns its id as it was received.
    async fn anchor(&mut self) -> Result<String, BenchError> {
        let mut subscription = self.subscriber.open(None).await?;
        let seq = self.publish().await?;
        match self.subscriber.next(&mut subscription).await? {
            Some(received) if received.seq == Some(seq) => Ok(received.id),
            other => Err(BenchError::Options(format!(
                "the topic {} received seq {:?} where {seq} was expected: is it used by someone else?",
                self.topic,
                other.map(|r| r.seq)
            ))),
        }
    }

    /// One disconnected round; returns the id to resume from next.
    async fn round(&mut self, last_id: &str) -> Result<String, BenchError> {
        let first_seq = self.seq;
        for _ in 0..self.options.events {
            self.publish().await?;
        }
        if !self.options.pause.is_zero() {
            tokio::time::sleep(self.options.pause).await;
        }
        let start = Instant::now();
        let mut subscription = self.subscriber.open(Some(last_id)).await?;
        let mut check = Check::new(first_seq, self.options.events);
        while check.received < self.options.events {
            let Some(received) = self.subscriber.next(&mut subscription).await? else {
                break;
            };
            if check.received == 0 {
                stats::record(&mut self.first, start.elapsed().as_nanos() as u64);
            }
            check.record(received.seq);
        }
        stats::record(&mut self.caught_up, start.elapsed().as_nanos() as u64);
        let live = self.publish().await?;
        let live_id = check
            .live(live, &mut subscription, &self.subscriber)
            .await?;
        self.integrity.add(&check.finish());
        // A lost live event leaves nothing newer to resume from: the next round then replays
        // this round's events again, which its check counts as foreign.
        Ok(live_id.unwrap_or_else(|| last_id.to_owned()))
    }

    /// Publishes the next stamped payload; returns its sequence number.
    async fn publish(&mut self) -> Result<u64, BenchError> {
        let stamp = Stamp {
            seq: self.seq,
            publisher: 0,
            sent_ns: self.clock.now_ns(),
        };
        self.seq += 1;
        payload::encode(&mut self.data, stamp, self.options.payload);
        self.publisher.publish(&self.topic, &self.data).await?;
        Ok(stamp.seq)
    }
}

impl Subscriber<'_> {
    async fn open(&self, last_id: Option<&str>) -> Result<Subscription, BenchError> {
        let topics = [self.topic.as_str()];
        let request = Request {
            topics: &topics,
            kind: Kind::Topic,
            last_event_id: last_id,
            accept_encoding: None,
        };
        Subscription::open(self.target, request, 0, 2).await
    }

    /// The next event on `subscription`; `None` when none comes within the idle timeout.
    async fn next(&self, subscription: &mut Subscription) -> Result<Option<Received>, BenchError> {
        let read = subscription.read_until(|event| {
            ControlFlow::Break(Received {
                seq: payload::decode(event.data).map(|stamp| stamp.seq),
                id: String::from_utf8_lossy(event.id.unwrap_or_default()).into_owned(),
            })
        });
        match tokio::time::timeout(self.idle_timeout, read).await {
            Ok(received) => received.map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// Compares received sequence numbers with the published range `first..first + count`.
struct Check {
    first: u64,
    seen: Vec<bool>,
    last: Option<usize>,
    received: usize,
    live_seen: bool,
    counts: Integrity,
}

impl Check {
    fn new(first: u64, count: usize) -> Check {
        Check {
            first,
            seen: vec![false; count],
            last: None,
            received: 0,
            live_seen: false,
            counts: Integrity {
                expected: count as u64 + 1,
                ..Integrity::default()
            },
        }
    }

    /// The index of `seq` in this round's published events.
    fn index(&self, seq: Option<u64>) -> Option<usize> {
        let offset = usize::try_from(seq?.checked_sub(self.first)?).ok()?;
        (offset < self.seen.len()).then_some(offset)
    }

    fn record(&mut self, seq: Option<u64>) {
        self.received += 1;
        self.counts.received += 1;
        let Some(i) = self.index(seq) else {
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

    /// The live event published after catch-up must be the very next event; returns its id.
    async fn live(
        &mut self,
        live: u64,
        subscription: &mut Subscription,
        subscriber: &Subscriber<'_>,
    ) -> Result<Option<String>, BenchError> {
        while let Some(received) = subscriber.next(subscription).await? {
            self.counts.received += 1;
            if received.seq == Some(live) {
                self.live_seen = true;
                return Ok(Some(received.id));
            }
            match self.index(received.seq) {
                Some(_) => self.counts.duplicates += 1,
                None => self.counts.foreign += 1,
            }
        }
        Ok(None)
    }

    fn finish(&self) -> Integrity {
        let unique = self.seen.iter().filter(|&&s| s).count() as u64 + u64::from(self.live_seen);
        Integrity {
            lost: self.counts.expected - unique,
            ..self.counts
        }
    }
}
