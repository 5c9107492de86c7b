//! The load generator behind `quicksilver-bench` (see docs/benchmarks.md).
//!
//! It speaks to any Mercure hub over plain HTTP/1.1 with a hand-rolled client (`http`, `sse`):
//! one current-thread runtime, reused buffers and no allocation per received event, so that it
//! costs less CPU per delivery than the hub it measures. Each scenario returns a serializable
//! report; `Report::to_text` renders it as `key: value` lines.

pub mod cli;
pub mod decode;
pub mod error;
pub mod floor;
pub mod http;
pub mod payload;
pub mod procfs;
mod progress;
pub mod publish;
pub mod scenario;
pub mod sse;
pub mod stats;
pub mod subscribe;
pub mod target;
pub mod token;

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use error::BenchError;
pub use scenario::{fanout, history, idle, publish as publish_scenario, resume};
pub use target::{raise_fd_limit, Flavor, Target};

/// A scenario and its options.
#[derive(Debug, Clone)]
pub enum Scenario {
    Publish(publish_scenario::Options),
    History(history::Options),
    Resume(resume::Options),
    Fanout(fanout::Options),
    Idle(idle::Options),
}

/// The report of one scenario run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "scenario", rename_all = "lowercase")]
pub enum Report {
    Publish(publish_scenario::Report),
    History(history::Report),
    Resume(resume::Report),
    Fanout(fanout::Report),
    Idle(idle::Report),
}

/// Runs a scenario on the current runtime (the binary uses a current-thread runtime).
pub async fn run(target: &Target, scenario: &Scenario) -> Result<Report, BenchError> {
    check_flavor(target, scenario)?;
    local(async {
        Ok(match scenario {
            Scenario::Publish(o) => Report::Publish(publish_scenario::run(target, o).await?),
            Scenario::History(o) => Report::History(history::run(target, o).await?),
            Scenario::Resume(o) => Report::Resume(resume::run(target, o).await?),
            Scenario::Fanout(o) => Report::Fanout(fanout::run(target, o).await?),
            Scenario::Idle(o) => Report::Idle(idle::run(target, o).await?),
        })
    })
    .await
}

/// Nchan has no event ids in publish responses and no selectors: only some scenarios fit
/// (`resume` identifies events by their payload and resumes from the ids its streams carry).
fn check_flavor(target: &Target, scenario: &Scenario) -> Result<(), BenchError> {
    let fits = match scenario {
        Scenario::Publish(_) | Scenario::Idle(_) | Scenario::Resume(_) => true,
        Scenario::Fanout(o) => o.selector == fanout::Selector::Exact,
        Scenario::History(_) => false,
    };
    if target.flavor == Flavor::Nchan && !fits {
        return Err(BenchError::Options(
            "with --flavor nchan only publish, idle, resume and fanout --selector exact run".into(),
        ));
    }
    Ok(())
}

/// Runs `future` inside a `LocalSet`, so that scenarios can `spawn_local` tasks sharing `Rc` state.
async fn local<T>(future: impl Future<Output = T>) -> T {
    tokio::task::LocalSet::new().run_until(future).await
}

impl Report {
    /// The delivery check of the scenario, when it has one.
    pub fn integrity(&self) -> Option<&stats::Integrity> {
        match self {
            Report::History(r) => Some(&r.integrity),
            Report::Resume(r) => Some(&r.integrity),
            Report::Fanout(r) => Some(&r.integrity),
            Report::Publish(_) | Report::Idle(_) => None,
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as `key: value` lines, nested keys joined with dots.
    pub fn to_text(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        let mut out = String::new();
        flatten(&mut out, "", &value);
        out
    }
}

fn flatten(out: &mut String, prefix: &str, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(out, &name, v);
            }
        }
        Value::Null => {}
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => out.push_str(&format!("{prefix}: {f:.2}\n")),
            _ => out.push_str(&format!("{prefix}: {n}\n")),
        },
        Value::String(s) => out.push_str(&format!("{prefix}: {s}\n")),
        other => out.push_str(&format!("{prefix}: {other}\n")),
    }
}

/// Nanoseconds since the start of a run; payloads carry these so receivers can compute latency.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            base: Instant::now(),
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    pub fn instant(&self, ns: u64) -> Instant {
        self.base + Duration::from_nanos(ns)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// A tag that keeps this run's topics apart from earlier runs' (hubs keep history).
pub fn run_tag() -> String {
    format!("{:08x}", fastrand::u32(..))
}

/// The URL of topic `name` for run `tag`.
pub fn topic_url(tag: &str, name: &str) -> String {
    format!("https://quicksilver.bench/{tag}/{name}")
}

/// Waits for connection slot `index`, so that connections open at `target.connect_rate`.
async fn pace(target: &Target, start: Instant, index: usize) {
    let at = start + target.connect_interval().mul_f64(index as f64);
    tokio::time::sleep_until(at.into()).await;
}

/// Awaits connection tasks in order; fails with the first connection that could not be opened.
async fn join_opened<T>(
    tasks: Vec<tokio::task::JoinHandle<Result<T, error::BenchError>>>,
) -> Result<Vec<T>, error::BenchError> {
    let mut opened = Vec::with_capacity(tasks.len());
    for task in tasks {
        let result = task
            .await
            .map_err(|e| error::BenchError::Options(format!("connect task: {e}")))?;
        opened.push(result?);
    }
    Ok(opened)
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        count as f64 / elapsed.as_secs_f64()
    }
}
