//! Smoke test of every `quicksilver-bench` scenario, with tiny numbers, against the real hub binary.
//! Asserts exact delivery (no loss, duplicate or reordering), never timings.

mod support;

use std::process::Command;
use std::time::Duration;

use quicksilver_bench::decode::Encoding;
use quicksilver_bench::{
    self as bench, fanout, history, idle, payload, publish_scenario, resume, Report, Scenario,
    Target,
};

use support::ports::free_port;
use support::process::HubProcess;

const KEY: &str = "bench-smoke-secret-0123456789abcdef";

fn start_hub() -> HubProcess {
    HubProcess::start(
        "qs-bench-smoke",
        &[
            ("QUICKSILVER_PUBLISHER_JWT_KEY", KEY),
            ("QUICKSILVER_SUBSCRIBER_JWT_KEY", KEY),
            ("QUICKSILVER_ANONYMOUS", "true"),
        ],
    )
}

async fn target(hub: &HubProcess) -> Target {
    let mut target = Target::new(&hub.url())
        .await
        .expect("hub URL")
        .with_keys(Some(KEY), None)
        .expect("sign tokens");
    target.hub_pid = hub.pid();
    target
}

async fn run(hub: &HubProcess, scenario: Scenario) -> Report {
    let target = target(hub).await;
    let report = bench::run(&target, &scenario).await.expect("scenario runs");
    println!("{}", report.to_text());
    if let Some(integrity) = report.integrity() {
        assert!(integrity.is_exact(), "delivery not exact: {integrity:?}");
        assert!(integrity.expected > 0 && integrity.received >= integrity.expected);
    }
    report
}

#[tokio::test]
async fn publish_scenario() {
    let hub = start_hub();
    let options = publish_scenario::Options {
        publishers: 3,
        events: Some(60),
        duration: None,
        ..Default::default()
    };
    let Report::Publish(report) = run(&hub, Scenario::Publish(options)).await else {
        panic!("wrong report kind");
    };
    assert_eq!(
        (report.published, report.errors),
        (60, 0),
        "{:?}",
        report.first_error
    );
    assert!(report.usage.hub_cpu_us.is_some());
}

#[tokio::test]
async fn history_scenario() {
    let hub = start_hub();
    let options = history::Options {
        events: 300,
        publishers: 3,
        ..Default::default()
    };
    let Report::History(report) = run(&hub, Scenario::History(options)).await else {
        panic!("wrong report kind");
    };
    assert_eq!(report.integrity.received, 300);
}

#[tokio::test]
async fn resume_scenario() {
    let hub = start_hub();
    let options = resume::Options {
        rounds: 5,
        events: 4,
        ..Default::default()
    };
    let Report::Resume(report) = run(&hub, Scenario::Resume(options)).await else {
        panic!("wrong report kind");
    };
    assert_eq!(report.reconnect_to_first_event.count, 5);
    assert_eq!(report.pause_us, 0);

    // `--pause` waits between a round's publishes and its reconnect, outside the measured span.
    let pause = std::time::Duration::from_millis(30);
    let options = resume::Options {
        rounds: 3,
        events: 2,
        pause,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let Report::Resume(report) = run(&hub, Scenario::Resume(options)).await else {
        panic!("wrong report kind");
    };
    assert!(started.elapsed() >= pause * 3, "{:?}", started.elapsed());
    assert_eq!(report.pause_us, 30_000);
    assert_eq!(report.reconnect_to_first_event.count, 3);
}

/// Every selector, URI templates (A-SEL-2) and 1.0 URL patterns (B-MT-4) among them, delivers
/// exactly the events of the subscriber's topic.
#[tokio::test]
async fn fanout_scenarios() {
    let hub = start_hub();
    for selector in [
        fanout::Selector::Exact,
        fanout::Selector::Template,
        fanout::Selector::Wildcard,
        fanout::Selector::Urlpattern,
    ] {
        let options = fanout::Options {
            subscribers: 12,
            topics: 3,
            selector,
            events: 30,
            rate: 500.0,
            publishers: 2,
            ..Default::default()
        };
        let Report::Fanout(report) = run(&hub, Scenario::Fanout(options)).await else {
            panic!("wrong report kind");
        };
        assert_eq!(report.published, 30);
        assert_eq!(report.disconnects, 0, "{:?}", report.first_error);
        let per_subscriber = if selector == fanout::Selector::Wildcard {
            30
        } else {
            10
        };
        assert_eq!(report.deliveries, 12 * per_subscriber, "{selector:?}");
    }
}

/// `fanout --selector urlpattern` with `--subscriber-key` on a hub without anonymous
/// subscribers: each subscriber presents the bench's 1.0 access token (B-TOK-2 `at+jwt`, the
/// default trusted issuer, B-TOK-6 `aud` = the derived resource identifier, B-AD-1 a subscribe
/// grant on `*`), and `match_urlpattern` (B-MT-4) delivers exactly its own topic's events.
#[tokio::test]
async fn fanout_urlpattern_with_a_1_0_subscriber_token() {
    let hub = HubProcess::start(
        "qs-bench-smoke",
        &[
            ("QUICKSILVER_PUBLISHER_JWT_KEY", KEY),
            ("QUICKSILVER_SUBSCRIBER_JWT_KEY", KEY),
            ("QUICKSILVER_ANONYMOUS", "false"),
        ],
    );
    let mut target = Target::new(&hub.url())
        .await
        .expect("hub URL")
        .with_keys(Some(KEY), Some(KEY))
        .expect("sign tokens");
    target.hub_pid = hub.pid();
    let options = fanout::Options {
        subscribers: 6,
        topics: 2,
        selector: fanout::Selector::Urlpattern,
        events: 20,
        rate: 500.0,
        publishers: 2,
        ..Default::default()
    };
    let report = bench::run(&target, &Scenario::Fanout(options))
        .await
        .expect("scenario runs");
    let Report::Fanout(report) = report else {
        panic!("wrong report kind");
    };
    assert_eq!(report.disconnects, 0, "{:?}", report.first_error);
    assert!(report.integrity.is_exact(), "{:?}", report.integrity);
    assert_eq!(report.deliveries, 6 * 10);
}

/// `fanout --compressed` against a hub with `compression = "auto"`: every subscriber gets the
/// coding it asked for and decodes every event, compressed (~1 KB JSON-LD, above
/// `compression_min_size`) or stored (100-byte padded payloads, below it), so the integrity check
/// sees them all; bytes on the wire are reported either way.
#[tokio::test]
async fn fanout_compressed_decodes_every_event() {
    let hub = HubProcess::start(
        "qs-bench-smoke",
        &[
            ("QUICKSILVER_PUBLISHER_JWT_KEY", KEY),
            ("QUICKSILVER_ANONYMOUS", "true"),
            ("QUICKSILVER_COMPRESSION", "auto"),
        ],
    );
    let cases = [
        (Some(Encoding::Gzip), payload::Kind::JsonLd),
        (Some(Encoding::Zstd), payload::Kind::JsonLd),
        (Some(Encoding::Gzip), payload::Kind::Padded),
        (Some(Encoding::Zstd), payload::Kind::Padded),
        (None, payload::Kind::JsonLd),
    ];
    let mut wire = Vec::new();
    for (compressed, payload_kind) in cases {
        let options = fanout::Options {
            subscribers: 6,
            topics: 2,
            events: 20,
            rate: 500.0,
            publishers: 2,
            compressed,
            payload_kind,
            ..Default::default()
        };
        let Report::Fanout(report) = run(&hub, Scenario::Fanout(options)).await else {
            panic!("wrong report kind");
        };
        let case = format!("{compressed:?} {payload_kind:?}");
        assert_eq!(report.disconnects, 0, "{case}: {:?}", report.first_error);
        assert_eq!(report.deliveries, 6 * 10, "{case}");
        let expected_streams = if compressed.is_some() { 6 } else { 0 };
        assert_eq!(report.compressed_streams, expected_streams, "{case}");
        assert!(report.wire_bytes_per_delivery > 0.0, "{case}");
        wire.push(report.wire_bytes_per_delivery);
    }
    // Not a ratio goal (timing-free, tiny runs): only that compressed JSON-LD is smaller.
    assert!(wire[0] < wire[4] && wire[1] < wire[4], "{wire:?}");
}

#[tokio::test]
async fn idle_scenario() {
    let hub = start_hub();
    let options = idle::Options {
        connections: 20,
        settle: Duration::from_millis(100),
    };
    let Report::Idle(report) = run(&hub, Scenario::Idle(options)).await else {
        panic!("wrong report kind");
    };
    assert_eq!(report.connections, 20);
    assert!(report.rss_per_connection_bytes.is_some());
}

#[test]
fn floor_command_reports_every_batch_size_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_quicksilver-bench"))
        .args([
            "floor",
            "-n",
            "2000",
            "-s",
            "8",
            "--batches",
            "1,4",
            "--json",
        ])
        .output()
        .expect("run quicksilver-bench floor");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["scenario"], "floor");
    let rows = report["floor"]["rows"].as_array().expect("rows");
    let batches: Vec<u64> = rows
        .iter()
        .map(|row| row["events_per_write"].as_u64().expect("batch"))
        .collect();
    assert_eq!(batches, [1, 4]);
    assert_eq!(rows[1]["writes"], 500);
    assert!(rows.iter().all(|row| row["cpu_us_per_event"].is_number()));
}

/// `quicksilver bench` is the same load generator as `quicksilver-bench`, from the hub's binary.
#[test]
fn the_hub_binary_runs_a_scenario_as_quicksilver_bench() {
    let hub = start_hub();
    let pid = hub.pid().expect("the hub runs").to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_quicksilver"))
        .args([
            "bench",
            "fanout",
            "--hub",
            &hub.url(),
            "--publisher-key",
            KEY,
        ])
        .args([
            "--hub-pid",
            &pid,
            "-s",
            "3",
            "-t",
            "1",
            "-n",
            "10",
            "-r",
            "500",
        ])
        .args(["--json", "--quiet"])
        .output()
        .expect("run quicksilver bench");
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["scenario"], "fanout");
    assert_eq!(report["deliveries"], 30);
    assert_eq!(report["integrity"]["lost"], 0);
    assert!(report["usage"]["hub_cpu_us_per_op"].is_number(), "{report}");
}

#[test]
fn an_unreachable_hub_is_one_clear_line_and_status_1() {
    let port = free_port();
    let output = Command::new(env!("CARGO_BIN_EXE_quicksilver"))
        .args([
            "bench",
            "publish",
            "--hub",
            &format!("http://127.0.0.1:{port}"),
        ])
        .args(["--publisher-key", KEY, "-n", "1", "--quiet"])
        .output()
        .expect("run quicksilver bench");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("quicksilver bench: "), "{stderr}");
    assert_eq!(stderr.matches("refused").count(), 1, "{stderr}");
}

#[test]
fn a_wrong_publisher_key_fails_the_run_and_names_the_option() {
    let hub = start_hub();
    let output = Command::new(env!("CARGO_BIN_EXE_quicksilver-bench"))
        .args([
            "publish",
            "--hub",
            &hub.url(),
            "-n",
            "3",
            "-c",
            "1",
            "--quiet",
        ])
        .args(["--publisher-key", "not-the-hub-secret-0123456789abcdef"])
        .output()
        .expect("run quicksilver-bench publish");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(stderr.contains("--publisher-key"), "{stderr}");
}
