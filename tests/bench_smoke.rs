//! Smoke test of every `quicksilver-bench` scenario, with tiny numbers, against the real hub binary.
//! Asserts exact delivery (no loss, duplicate or reordering), never timings.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use quicksilver_bench::{
    self as bench, fanout, history, idle, publish_scenario, resume, Report, Scenario, Target,
};

const KEY: &str = "bench-smoke-secret-0123456789abcdef";

/// The hub process, killed on drop.
struct Hub {
    child: Child,
    url: String,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn temp_dir() -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "qs-bench-smoke-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    TempDir(dir)
}

/// The hub's log, kept in its temp dir (and printed if it does not start).
fn log_file(dir: &TempDir) -> Stdio {
    std::fs::File::create(dir.0.join("hub.log"))
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn start_hub() -> Hub {
    let dir = temp_dir();
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_quicksilver"));
    for (name, _) in std::env::vars() {
        if name.starts_with("QUICKSILVER_") || name.starts_with("MERCURE_") {
            command.env_remove(name);
        }
    }
    let child = command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(&dir.0)
        .env("QUICKSILVER_PUBLISHER_JWT_KEY", KEY)
        .env("QUICKSILVER_SUBSCRIBER_JWT_KEY", KEY)
        .env("QUICKSILVER_ANONYMOUS", "true")
        .env("QUICKSILVER_DATA_DIR", dir.0.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file(&dir))
        .spawn()
        .expect("start the quicksilver binary");
    let hub = Hub {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    if !healthy(port) {
        let log = std::fs::read_to_string(hub._dir.0.join("hub.log")).unwrap_or_default();
        panic!("the hub did not answer /healthz within 20 s; its log:\n{log}");
    }
    hub
}

fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ =
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

async fn target(hub: &Hub) -> Target {
    let mut target = Target::new(&hub.url)
        .await
        .expect("hub URL")
        .with_keys(Some(KEY), None)
        .expect("sign tokens");
    target.hub_pid = Some(hub.child.id());
    target
}

async fn run(hub: &Hub, scenario: Scenario) -> Report {
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
}

#[tokio::test]
async fn fanout_scenarios() {
    let hub = start_hub();
    for selector in [
        fanout::Selector::Exact,
        fanout::Selector::Template,
        fanout::Selector::Wildcard,
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
    let pid = hub.child.id().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_quicksilver"))
        .args(["bench", "fanout", "--hub", &hub.url, "--publisher-key", KEY])
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
            "publish", "--hub", &hub.url, "-n", "3", "-c", "1", "--quiet",
        ])
        .args(["--publisher-key", "not-the-hub-secret-0123456789abcdef"])
        .output()
        .expect("run quicksilver-bench publish");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(stderr.contains("--publisher-key"), "{stderr}");
}
