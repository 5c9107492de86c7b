//! R-DISK: a full disk refuses publishes, keeps streams, fails readiness, and heals by itself.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::{uniq, Hub};
use crate::ports::free_port;
use crate::sse::SseStream;
use crate::support::{admin_status, is_root, skip_unless, Tmpfs};

/// R-DISK, R-DISPATCH, R-ACK: on a full disk publishes get `503` with `Retry-After`, the
/// readiness check fails while liveness and `/healthz` stay up, a subscriber keeps its stream;
/// once space is back writing resumes by itself, and after a `kill -9` and a restart the
/// history replays every acknowledged event once, in order, and nothing that was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_publishes_then_heals_without_losing_an_acknowledged_event() {
    full_disk_then_heal("fsync").await;
}

/// R-DISK: with `durability = "periodic"`, events acknowledged before the failed write are
/// retried until written: none is lost, through the full disk, a `kill -9` and a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_events_acknowledged_before_a_full_disk_are_written_once_space_is_back() {
    full_disk_then_heal("periodic").await;
}

async fn full_disk_then_heal(durability: &str) {
    if skip_unless(is_root(), "disk_full", "needs root to mount a tmpfs") {
        return;
    }
    let disk = Tmpfs::mount("24m");
    let admin = format!("127.0.0.1:{}", free_port());
    let data = disk.path().join("data");
    let mut hub = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DATA_DIR", &data.to_string_lossy())
        .env("QUICKSILVER_DURABILITY", durability)
        .env("QUICKSILVER_ADMIN_LISTEN", &admin)
        .env("QUICKSILVER_METRICS", "true")
        .start()
        .await
        .expect("hub");
    let topic = uniq("disk-full");
    let mut stream = SseStream::open(hub.sub_req(&[&topic])).await;
    let mut acked = Vec::new();
    let payload = "x".repeat(64 * 1024);
    let publish = |id: String| {
        let fields = [
            ("topic", topic.as_str()),
            ("id", id.as_str()),
            ("data", payload.as_str()),
        ];
        let request = hub.pub_req(Some(&hub.publisher_token_all()), &fields);
        async move { (id, crate::http::send(request).await) }
    };
    for i in 0..3 {
        let (id, response) = publish(format!("before-{i}")).await;
        assert_eq!(response.status, 200, "{response:?}");
        acked.push(id);
    }

    let filler = disk.fill();
    let mut refusal = None;
    for i in 0..400 {
        let (id, response) = publish(format!("full-{i}")).await;
        match response.status {
            200 => acked.push(id),
            _ => {
                refusal = Some(response);
                break;
            }
        }
    }
    let refusal = refusal.expect("a publish is refused once the disk is full");
    eprintln!(
        "{durability}: {} publishes acknowledged before the refusal",
        acked.len()
    );
    assert_eq!(refusal.status, 503, "{refusal:?}");
    assert!(refusal.header("retry-after").is_some(), "{refusal:?}");
    assert_eq!(
        admin_status(&hub.client, &admin, "/mercure/health/ready").await,
        503
    );
    assert_eq!(
        admin_status(&hub.client, &admin, "/mercure/health/live").await,
        200
    );
    let healthz = crate::http::send(hub.client.get(hub.url("/healthz"))).await;
    assert_eq!(healthz.status, 200);
    let metrics = crate::http::send(hub.client.get(hub.url("/metrics"))).await;
    let failures = metric(&metrics.body, "quicksilver_history_write_failures_total");
    assert!(failures >= 1, "counted: {}", metrics.body);

    std::fs::remove_file(&filler).expect("free the space");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 0;
    loop {
        let (id, response) = publish(format!("after-{i}")).await;
        i += 1;
        if response.status == 200 {
            acked.push(id);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writing resumed by itself: {response:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        admin_status(&hub.client, &admin, "/mercure/health/ready").await,
        200
    );

    let last = acked.last().expect("acked").clone();
    let live = ids_until(&mut stream, &last).await;
    assert_eq!(
        live, acked,
        "the stream stayed open and saw exactly the acknowledged events"
    );

    if durability == "periodic" {
        // Its promise covers what was acknowledged more than a write window ago.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    hub.kill9().await;
    hub.restart().await;
    let query = format!("topic={}&lastEventID=earliest", crate::http::pct(&topic));
    let mut replay = SseStream::open(hub.hub_req(Method::GET, &query)).await;
    let replayed = ids_until(&mut replay, &last).await;
    assert_eq!(replayed, acked, "every acknowledged event once, in order");
    drop(hub);
    drop(disk);
}

/// The ids a stream receives up to `last`; on a timeout, fails with those it got (the
/// events themselves are too large to print).
async fn ids_until(stream: &mut SseStream, last: &str) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(event) = stream.next_event(crate::harness::WAIT).await {
        let id = event.id.unwrap_or_default();
        let done = id == last;
        ids.push(id);
        if done {
            return ids;
        }
    }
    panic!("{last} not received; got {ids:?}");
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}
