//! R-REPLAY: replays of a long history that match nothing do not stall the other streams of
//! their worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::Hub;
use crate::http::{pct, send};
use crate::sse::SseStream;

/// Events in the history the scans read (all of it, matching nothing).
const HISTORY: usize = 200_000;
/// Connections the history is published over, each sequentially (keep-alive).
const PUBLISHERS: usize = 8;
/// Concurrent `lastEventID=earliest` scans, each reopened once a second (a new full scan).
const SCANNERS: usize = 4;
/// Live events, one every `LIVE_EVERY`, published while the scans run.
const LIVE_EVENTS: usize = 120;
const LIVE_EVERY: Duration = Duration::from_millis(50);
/// How late a live event may be while scans run: generous, a loaded machine must not fail it;
/// a worker that scans 200,000 events in one poll holds every event for longer.
const LIVE_DEADLINE: Duration = Duration::from_secs(5);

const LIVE_TOPIC: &str = "https://example.com/live";

/// R-REPLAY: with one actix worker (the hub is started on one CPU), a long history and several
/// anonymous `lastEventID=earliest` replays whose selector matches nothing, a live subscriber
/// on the same worker still receives every live event, in order, each within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replays_that_match_nothing_do_not_stall_live_streams() {
    let Some(hub) = start_on_one_cpu().await else {
        return;
    };
    let hub = Arc::new(hub);
    let started = Instant::now();
    fill_history(&hub, HISTORY).await;
    eprintln!("{HISTORY} events published in {:?}", started.elapsed());

    let mut live = SseStream::open(hub.sub_req(&[LIVE_TOPIC])).await;
    let scanning = Arc::new(AtomicBool::new(true));
    let scans: Vec<_> = (0..SCANNERS)
        .map(|_| tokio::spawn(scan_repeatedly(hub.clone(), scanning.clone())))
        .collect();
    // Let the scans start before the first live event.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let publisher = tokio::spawn(publish_live(hub.clone(), started));
    let mut latencies = Vec::with_capacity(LIVE_EVENTS);
    for n in 0..LIVE_EVENTS {
        let event = live
            .next_event(LIVE_DEADLINE + Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("live event {n} never arrived"));
        let arrived = Instant::now();
        assert_eq!(event.id.as_deref(), Some(format!("live-{n}").as_str()));
        let sent: u128 = event.data().parse().expect("send time");
        let sent = Duration::from_micros(u64::try_from(sent).expect("micros"));
        latencies.push(arrived.duration_since(started).saturating_sub(sent));
    }
    publisher.await.expect("live publisher");
    scanning.store(false, Ordering::SeqCst);
    let mut opened = 0;
    for scan in scans {
        opened += scan.await.expect("scanner");
    }

    latencies.sort_unstable();
    let median = latencies[latencies.len() / 2];
    let max = latencies[latencies.len() - 1];
    eprintln!("live latency during {opened} scans: median {median:?}, max {max:?}");
    assert!(opened >= SCANNERS, "the scans did not run");
    assert!(
        max < LIVE_DEADLINE,
        "a live event waited {max:?} behind the replays (median {median:?})"
    );
}

/// Starts an anonymous hub restricted to one CPU, so that actix starts one worker: every
/// stream shares it. The child inherits the affinity of the thread that spawns it.
async fn start_on_one_cpu() -> Option<Hub> {
    let restore = pin_this_thread_to_one_cpu();
    let hub = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DURABILITY", "periodic")
        .start()
        .await;
    if let Some(mask) = restore {
        set_affinity(&mask);
    }
    hub
}

/// Pins the calling thread to the first CPU it may run on; returns the mask to restore.
fn pin_this_thread_to_one_cpu() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
    unsafe {
        let mut mask: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask) != 0 {
            eprintln!("cannot read the CPU affinity: the hub may start several workers");
            return None;
        }
        let first = (0..libc::CPU_SETSIZE as usize).find(|&cpu| libc::CPU_ISSET(cpu, &mask))?;
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(first, &mut one);
        set_affinity(&one);
        Some(mask)
    }
}

fn set_affinity(mask: &libc::cpu_set_t) {
    // SAFETY: `mask` is a valid cpu_set_t of the size given.
    let result =
        unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), mask) };
    assert_eq!(result, 0, "sched_setaffinity");
}

/// Publishes `count` small events over `PUBLISHERS` keep-alive connections.
async fn fill_history(hub: &Arc<Hub>, count: usize) {
    let token = Arc::new(hub.publisher_token_all());
    let tasks: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let hub = hub.clone();
            let token = token.clone();
            tokio::spawn(async move {
                for i in (p..count).step_by(PUBLISHERS) {
                    let topic = format!("https://example.com/history/{i}");
                    let response = send(hub.pub_req(Some(&token), &[("topic", &topic)])).await;
                    assert_eq!(response.status, 200, "{response:?}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("publisher");
    }
}

/// Opens a replay of the whole history that matches nothing, holds it a second, and starts
/// another, until told to stop; returns how many it opened.
async fn scan_repeatedly(hub: Arc<Hub>, scanning: Arc<AtomicBool>) -> usize {
    let query = format!(
        "topic={}&lastEventID=earliest",
        pct("https://nothing.example/{x}")
    );
    let mut opened = 0;
    while scanning.load(Ordering::SeqCst) {
        let scan = hub.hub_req(reqwest::Method::GET, &query).send();
        if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(30), scan).await {
            assert_eq!(response.status(), 200);
            opened += 1;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    opened
}

/// Publishes `LIVE_EVENTS` events, one every `LIVE_EVERY`, each carrying when it was sent
/// (microseconds since `started`).
async fn publish_live(hub: Arc<Hub>, started: Instant) {
    let token = hub.publisher_token_all();
    let mut every = tokio::time::interval(LIVE_EVERY);
    for n in 0..LIVE_EVENTS {
        every.tick().await;
        let sent = started.elapsed().as_micros().to_string();
        let id = format!("live-{n}");
        let fields = [
            ("topic", LIVE_TOPIC),
            ("id", id.as_str()),
            ("data", sent.as_str()),
        ];
        let response = send(hub.pub_req(Some(&token), &fields)).await;
        assert_eq!(response.status, 200, "{response:?}");
    }
}
