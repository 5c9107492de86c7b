//! `idle`: the hub's memory per idle SSE connection.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::BenchError;
use crate::procfs::{self, Meter, Usage};
use crate::subscribe::{Kind, Request, Subscription};
use crate::{join_opened, pace, run_tag, seconds, topic_url, Target};

/// Also the command line's options (`quicksilver-bench idle`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Idle SSE connections to open.
    #[arg(short = 'n', long, default_value_t = 10_000)]
    pub connections: usize,
    /// Wait this long after the last connection opened before reading the hub's RSS.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub settle: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connections: 10_000,
            settle: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub connections: usize,
    pub connect_s: f64,
    pub hub_rss_before_kb: Option<u64>,
    pub hub_rss_after_kb: Option<u64>,
    /// (RSS after − RSS before) / connections, in bytes.
    pub rss_per_connection_bytes: Option<f64>,
    /// CPU figures are per connection (opening it included).
    pub usage: Usage,
}

pub async fn run(target: &Target, options: &Options) -> Result<Report, BenchError> {
    let before = target.hub_pid.and_then(procfs::sample);
    let meter = Meter::start(target.hub_pid);
    let start = Instant::now();
    let subscriptions = open_all(target, options.connections).await?;
    let connect = start.elapsed();
    tokio::time::sleep(options.settle).await;
    let after = target.hub_pid.and_then(procfs::sample);
    let usage = meter.finish(subscriptions.len() as u64);
    drop(subscriptions);
    let per_connection = match (before, after) {
        (Some(b), Some(a)) if options.connections > 0 => {
            Some((a.rss_kb as f64 - b.rss_kb as f64) * 1024.0 / options.connections as f64)
        }
        _ => None,
    };
    Ok(Report {
        connections: options.connections,
        connect_s: seconds(connect),
        hub_rss_before_kb: before.map(|s| s.rss_kb),
        hub_rss_after_kb: after.map(|s| s.rss_kb),
        rss_per_connection_bytes: per_connection,
        usage,
    })
}

async fn open_all(target: &Target, total: usize) -> Result<Vec<Subscription>, BenchError> {
    let topic = topic_url(&run_tag(), "idle");
    let start = Instant::now();
    let tasks: Vec<_> = (0..total)
        .map(|i| {
            let target = target.clone();
            let topic = topic.clone();
            tokio::task::spawn_local(async move {
                pace(&target, start, i).await;
                let topics = [topic.as_str()];
                let request = Request {
                    topics: &topics,
                    kind: Kind::Topic,
                    last_event_id: None,
                    accept_encoding: None,
                };
                Subscription::open(&target, request, i, total).await
            })
        })
        .collect();
    join_opened(tasks).await
}
