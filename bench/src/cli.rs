//! The load generator's command line, shared by `quicksilver-bench` and `quicksilver bench`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::{fanout, history, idle, publish_scenario, resume, Flavor, Report, Scenario, Target};

/// A scenario against a hub, or the floor measurement.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    #[command(flatten)]
    Hub(HubCommand),
    /// The floor: CPU of one loopback write() of N SSE frames, measured on this machine
    /// without a hub (the lower bound of CPU per delivery).
    Floor {
        #[command(flatten)]
        options: crate::floor::Options,
        /// Print JSON instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
}

/// The scenarios that run against a hub.
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Max durable publish rate with C concurrent keep-alive publishers.
    Publish {
        #[command(flatten)]
        common: Common,
        /// Concurrent publishers (one connection each).
        #[arg(short = 'c', long, default_value_t = 64)]
        publishers: usize,
        /// Total publishes (stops at whichever of --events and --duration comes first).
        #[arg(short = 'n', long)]
        events: Option<u64>,
        /// Run for this long, e.g. 10s (default 10s when --events is not given).
        #[arg(short = 'd', long, value_parser = humantime::parse_duration)]
        duration: Option<Duration>,
        /// Payload size in bytes.
        #[arg(short = 'b', long, default_value_t = 100)]
        payload: usize,
    },
    /// Replay of N stored events to one subscriber (Last-Event-ID: earliest).
    History {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        options: history::Options,
    },
    /// Disconnect, publish M events, reconnect with Last-Event-ID; R rounds.
    Resume {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        options: resume::Options,
    },
    /// N subscribers over T topics; M events at R events/s.
    Fanout {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        options: fanout::Options,
    },
    /// N idle SSE connections: hub RSS per connection.
    Idle {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        options: idle::Options,
    },
}

#[derive(Debug, Args)]
pub struct Common {
    /// Hub URL, e.g. http://127.0.0.1:3000/.well-known/mercure (path defaults to that).
    #[arg(long)]
    hub: String,
    /// HS256 secret to sign the publisher token with.
    #[arg(long, env = "QUICKSILVER_PUBLISHER_JWT_KEY", hide_env_values = true)]
    publisher_key: Option<String>,
    /// HS256 secret to sign a subscriber token with (anonymous subscribers otherwise).
    #[arg(long)]
    subscriber_key: Option<String>,
    /// The hub's process id: adds hub CPU per operation and RSS.
    #[arg(long)]
    hub_pid: Option<u32>,
    /// Another process serving the same load, e.g. a proxy in front of the hub: fanout reports
    /// its CPU per delivery too (`proxy_cpu_us_per_op`).
    #[arg(long, value_name = "PID")]
    proxy_pid: Option<u32>,
    /// New connections per second.
    #[arg(long, default_value_t = 5_000)]
    connect_rate: u32,
    /// The hub's API: mercure, or nchan (Nginx + Nchan, for comparison).
    #[arg(long, value_enum, default_value_t = Flavor::Mercure)]
    flavor: Flavor,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Runs `command`; `program` prefixes the messages on stderr. Exit status 0, 1 when the run
/// failed, 3 when events were lost, duplicated or reordered.
pub fn run(command: BenchCommand, program: &str) -> ExitCode {
    match run_job(command, program) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_job(command: BenchCommand, program: &str) -> anyhow::Result<ExitCode> {
    if let Err(e) = crate::raise_fd_limit() {
        eprintln!("{program}: cannot raise the open-file limit: {e}");
    }
    let (common, scenario) = match command {
        BenchCommand::Floor { options, json } => return floor(&options, json),
        BenchCommand::Hub(hub) => scenario(hub),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(async {
        let target = target(&common).await?;
        crate::run(&target, &scenario)
            .await
            .context("benchmark failed")
    })?;
    if common.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(exit_code(&report, program))
}

fn floor(options: &crate::floor::Options, json: bool) -> anyhow::Result<ExitCode> {
    let report = crate::floor::run(options).context("floor measurement failed")?;
    let value = serde_json::to_value(&report).context("encoding the report")?;
    if json {
        println!(
            "{}",
            serde_json::json!({"scenario": "floor", "floor": value})
        );
    } else {
        for row in &report.rows {
            print!(
                "{} events per write: {:.2} µs CPU per event, {:.2} µs per write ({} writes, {:.0} events/s)",
                row.events_per_write, row.cpu_us_per_event, row.cpu_us_per_write, row.writes, row.events_per_s
            );
            match &row.latency {
                Some(l) => println!(
                    "; round start → read: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
                    l.p50_us, l.p99_us, l.max_us
                ),
                None => println!(),
            }
        }
        println!("frame: {} bytes", report.frame_bytes);
    }
    Ok(ExitCode::SUCCESS)
}

async fn target(common: &Common) -> anyhow::Result<Target> {
    let mut target = Target::new(&common.hub).await?.with_keys(
        common.publisher_key.as_deref(),
        common.subscriber_key.as_deref(),
    )?;
    target.hub_pid = common.hub_pid;
    target.proxy_pid = common.proxy_pid;
    target.connect_rate = common.connect_rate;
    target.progress = !common.quiet;
    target.flavor = common.flavor;
    Ok(target)
}

/// Exit status 3 when events were lost, duplicated or reordered.
fn exit_code(report: &Report, program: &str) -> ExitCode {
    if report.integrity().is_none_or(|i| i.is_exact()) {
        ExitCode::SUCCESS
    } else {
        eprintln!("{program}: delivery was not exact (see integrity)");
        ExitCode::from(3)
    }
}

fn scenario(command: HubCommand) -> (Common, Scenario) {
    match command {
        HubCommand::Publish {
            common,
            publishers,
            events,
            duration,
            payload,
        } => {
            let duration = duration.or(if events.is_none() {
                Some(Duration::from_secs(10))
            } else {
                None
            });
            let options = publish_scenario::Options {
                publishers,
                events,
                duration,
                payload,
                topics: None,
            };
            (common, Scenario::Publish(options))
        }
        HubCommand::History { common, options } => (common, Scenario::History(options)),
        HubCommand::Resume { common, options } => (common, Scenario::Resume(options)),
        HubCommand::Fanout { common, options } => (common, Scenario::Fanout(options)),
        HubCommand::Idle { common, options } => (common, Scenario::Idle(options)),
    }
}
