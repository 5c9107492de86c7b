//! Power loss: the hub's `data_dir` on the lazy filesystem (`lazyfs.rs`), many concurrent
//! publishers, a `kill -9` and a power cut at a random moment, a restart, and a full replay.
//!
//! `kill -9` alone proves little: the page cache survives a crashed process. The cut drops
//! everything the hub did not sync, as a power loss does.
//!
//! The moments of the cuts are random but seeded: the seed is printed, and
//! `POWER_LOSS_SEED=<seed>` replays the same schedule.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::harness::{uniq, Hub, WAIT};
use crate::http::pct;
use crate::lazyfs::{self, LazyFs};
use crate::sse::SseStream;

/// Concurrent publishers.
const PUBLISHERS: usize = 16;
/// Every this many events of a publisher, one carries a large payload, so that sled writes the
/// group holding it to a blob file of its own.
const BIG_EVERY: usize = 8;
/// Size of a large payload (sled moves values over ~128 KiB to blob files; the default body
/// limit is 1 MiB).
const BIG: usize = 200 * 1024;
/// How long a sync takes on the lazy filesystem, as on a real disk: a window between a write and
/// the moment it is durable for a cut to fall into (with instant syncs, a bug that acknowledges
/// or delivers an event before its sync completes is caught only by luck).
const SYNC_LATENCY: Duration = Duration::from_millis(4);
/// With `periodic`, how old an acknowledged event may be and still be lost: the store is
/// flushed every 500 ms and the writer gathers for 20 ms (docs/history.md#durability).
const PERIODIC_WINDOW: Duration = Duration::from_millis(520);
/// Slack for a shared, loaded machine on top of that window: a flush is scheduled every 500 ms
/// but starts late and takes long when the machine is busy.
const PERIODIC_MARGIN: Duration = Duration::from_secs(2);

/// One publish answered `200`.
#[derive(Clone, Debug)]
struct Acked {
    id: String,
    tag: String,
    big: bool,
    /// When the request was sent and when its answer arrived.
    sent: Instant,
    acked: Instant,
    /// The round (cut) during which it was published.
    round: usize,
}

impl Acked {
    fn data(tag: &str, big: bool) -> String {
        if big {
            format!("{tag} {}", "x".repeat(BIG))
        } else {
            tag.to_string()
        }
    }
}

/// What the publishers of one round share.
#[derive(Clone)]
struct Load {
    client: reqwest::Client,
    url: String,
    token: String,
    topic: String,
    round: usize,
    /// Set when the power fails.
    stop: Arc<AtomicBool>,
    /// Publishes acknowledged so far in this round, by every publisher.
    acks: Arc<AtomicUsize>,
}

/// Publishes `publisher`'s events one after the other until `stop` or until the hub is gone;
/// returns those answered `200`.
async fn publisher(load: Load, publisher: usize) -> Vec<Acked> {
    let Load {
        client: hub_client,
        url,
        token,
        topic,
        round,
        stop,
        acks,
    } = load;
    let mut acked = Vec::new();
    for seq in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let tag = format!("r{round}-p{publisher}-{seq}");
        let big = seq % BIG_EVERY == BIG_EVERY - 1;
        let body = format!(
            "topic={}&data={}",
            pct(&topic),
            pct(&Acked::data(&tag, big))
        );
        let request = hub_client
            .post(&url)
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        let sent = Instant::now();
        let answer = tokio::time::timeout(WAIT, async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        })
        .await;
        match answer {
            Ok(Ok((200, id))) => {
                acked.push(Acked {
                    id,
                    tag,
                    big,
                    sent,
                    acked: Instant::now(),
                    round,
                });
                acks.fetch_add(1, Ordering::Relaxed);
            }
            // Refused (503 while the disk catches up): not acknowledged, nothing promised.
            Ok(Ok(_)) => tokio::time::sleep(Duration::from_millis(5)).await,
            // The hub is gone (killed) or hangs: this publisher's round is over.
            Ok(Err(_)) | Err(_) => break,
        }
    }
    acked
}

/// Reads a live subscription until the hub dies; returns the ids received, in order.
async fn listen(mut stream: SseStream, killed: Arc<AtomicBool>) -> Vec<String> {
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match stream.next_event(Duration::from_millis(200)).await {
            Some(event) => ids.extend(event.id),
            None if killed.load(Ordering::Relaxed) => break,
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    ids
}

/// The whole history of `topic`, in order, as (id, data): subscribes with
/// `lastEventID=earliest`, then publishes a marker and reads until it arrives.
async fn replay(hub: &Hub, topic: &str) -> Vec<(String, String)> {
    let query = format!("topic={}&lastEventID=earliest", pct(topic));
    let mut stream = SseStream::open(hub.hub_req(Method::GET, &query)).await;
    let marker = hub
        .publish_ok(&[("topic", topic), ("data", "marker")])
        .await;
    let mut events = Vec::new();
    loop {
        let Some(event) = stream.next_event(WAIT).await else {
            panic!(
                "the replay stopped after {} events without reaching the marker {marker}",
                events.len()
            );
        };
        let id = event.id.clone().unwrap_or_default();
        if id == marker {
            return events;
        }
        events.push((id, event.data()));
    }
}

/// What one round found wrong; empty when every promise held.
#[derive(Default)]
struct Findings {
    lost: Vec<Acked>,
    problems: Vec<String>,
}

/// Checks a replay against what was acknowledged.
///
/// - no id twice;
/// - every acknowledged event that is replayed carries its data;
/// - log order respects real time: an event acknowledged before another was sent comes first
///   (this includes each publisher's own sequence, and earlier rounds before later ones);
/// - the durable history is a prefix of the log: no event survives that was sent after an
///   acknowledged event that was lost.
///
/// Returns the acknowledged events that are missing, and the violations.
fn check(replayed: &[(String, String)], acked: &[Acked]) -> Findings {
    let mut findings = Findings::default();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (i, (id, _)) in replayed.iter().enumerate() {
        if position.insert(id.as_str(), i).is_some() {
            findings.problems.push(format!("event {id} replayed twice"));
        }
    }
    // The acknowledged events in replay order, the missing ones apart.
    let mut present: Vec<(usize, &Acked)> = Vec::new();
    for a in acked {
        match position.get(a.id.as_str()) {
            Some(&i) => {
                let data = &replayed[i].1;
                if *data != Acked::data(&a.tag, a.big) {
                    findings.problems.push(format!(
                        "event {} ({}) replayed with other data ({} bytes, starting {:?})",
                        a.id,
                        a.tag,
                        data.len(),
                        &data[..data.len().min(40)]
                    ));
                }
                present.push((i, a));
            }
            None => findings.lost.push(a.clone()),
        }
    }
    present.sort_by_key(|(i, _)| *i);
    // Real-time order: walking the replay backwards, the earliest acknowledgement among the
    // events after this one must not precede this one's sending.
    let mut earliest_after: Option<&Acked> = None;
    for (_, a) in present.iter().rev() {
        if let Some(later) = earliest_after {
            if later.acked < a.sent {
                findings.problems.push(format!(
                    "out of order: {} ({}) was acknowledged before {} ({}) was sent, \
                     but is replayed after it",
                    later.id, later.tag, a.id, a.tag
                ));
            }
        }
        if earliest_after.is_none_or(|e| a.acked < e.acked) {
            earliest_after = Some(a);
        }
    }
    // Prefix: a lost event must not be followed (in real time) by a surviving one.
    if let Some(first_lost) = findings.lost.iter().min_by_key(|a| a.acked) {
        if let Some(survivor) = present.iter().find(|(_, a)| a.sent > first_lost.acked) {
            findings.problems.push(format!(
                "{} ({}) was lost although {} ({}), sent after it was acknowledged, survived",
                first_lost.id, first_lost.tag, survivor.1.id, survivor.1.tag
            ));
        }
    }
    findings
}

/// A seed from `POWER_LOSS_SEED` or the clock, printed so that a failing schedule can be rerun.
fn seed() -> u64 {
    let seed = std::env::var("POWER_LOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    eprintln!("power loss: POWER_LOSS_SEED={seed}");
    seed
}

/// What a scenario checks after each cut.
#[derive(Clone, Copy, PartialEq)]
enum Promise {
    /// R-ACK with `fsync`: nothing acknowledged is lost; what is replayed is whole, once, in
    /// order.
    Acknowledged,
    /// R-DISPATCH: every event a live subscriber received is replayed.
    Dispatched,
    /// `periodic`: what is replayed is whole, once, in order, and a prefix of the history; the
    /// losses are returned to the test.
    Prefix,
}

/// How a run is configured and what it expects.
struct Scenario {
    name: &'static str,
    durability: &'static str,
    /// The promise checked after each cut.
    promise: Promise,
    /// Nominal load durations before each cut, in milliseconds, counted from the round's first
    /// acknowledgement (each drawn between 50 % and 150 % of it).
    cuts_ms: &'static [u64],
}

/// Runs the rounds of `scenario`: load, `kill -9`, power cut, restart, replay, check. Returns
/// per round the acknowledged events lost, with the moment of the kill.
async fn run(scenario: &Scenario) -> Option<Vec<(Vec<Acked>, Instant)>> {
    if !lazyfs::available(scenario.name) {
        return None;
    }
    let mut rng = fastrand::Rng::with_seed(seed());
    // Declared before the hub, so dropped after it: the hub must be gone before the unmount.
    let mut fs = LazyFs::mount().expect("mount the lazy filesystem");
    fs.set_sync_latency(SYNC_LATENCY);
    let data_dir = fs.path().join("data");
    let mut builder = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DATA_DIR", &data_dir.to_string_lossy());
    // `fsync` is the default: left unset, so that the default is what is tested.
    if scenario.durability != "fsync" {
        builder = builder.env("QUICKSILVER_DURABILITY", scenario.durability);
    }
    let mut hub = builder.start().await?;
    let topic = uniq("power-loss");
    // Every event acknowledged and not yet found lost.
    let mut expected: Vec<Acked> = Vec::new();
    let mut losses = Vec::new();
    for (round, nominal) in scenario.cuts_ms.iter().enumerate() {
        let load = Duration::from_millis(*nominal).mul_f64(0.5 + rng.f64());
        let killed = Arc::new(AtomicBool::new(false));
        let live = SseStream::open(hub.sub_req(&[&topic])).await;
        let listener = tokio::spawn(listen(live, Arc::clone(&killed)));
        let shared = Load {
            client: hub.client.clone(),
            url: hub.url(crate::harness::HUB_PATH),
            token: hub.publisher_token_all(),
            topic: topic.clone(),
            round,
            stop: Arc::new(AtomicBool::new(false)),
            acks: Arc::new(AtomicUsize::new(0)),
        };
        let tasks: Vec<_> = (0..PUBLISHERS)
            .map(|p| tokio::spawn(publisher(shared.clone(), p)))
            .collect();
        // The load is counted from the first acknowledgement, not from the first request: a
        // busy machine may take a while to answer the first publishes of a restarted hub.
        let started = Instant::now();
        while shared.acks.load(Ordering::Relaxed) == 0 {
            assert!(
                started.elapsed() < WAIT,
                "round {round}: no publish acknowledged within {WAIT:?}; log:\n{}",
                hub.log().unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(load).await;
        // The power fails for the disk and the hub at once: a sync the filesystem receives
        // after this instant (already requested by the hub) makes nothing durable.
        fs.power_off();
        hub.kill9().await;
        let kill = Instant::now();
        killed.store(true, Ordering::Relaxed);
        shared.stop.store(true, Ordering::Relaxed);
        let mut acked_now = Vec::new();
        for task in tasks {
            acked_now.extend(task.await.expect("publisher task"));
        }
        let received_live = listener.await.expect("listener task");
        let before = fs.stats();
        let files_at_cut = fs.listing();
        fs.cut().expect("power cut (unmount, drop unsynced, mount)");
        hub.restart().await;
        let replayed = replay(&hub, &topic).await;

        let big = acked_now.iter().filter(|a| a.big).count();
        eprintln!(
            "power loss [{}] round {round}: {load:?} of load, {} acknowledged ({big} of {BIG} \
             bytes), {} received live, {} replayed after the cut; the hub had issued {} file \
             syncs and {} directory syncs so far",
            scenario.durability,
            acked_now.len(),
            received_live.len(),
            replayed.len(),
            before.file_syncs,
            before.dir_syncs,
        );
        expected.extend(acked_now);
        let findings = check(&replayed, &expected);
        let mut problems = match scenario.promise {
            Promise::Dispatched => Vec::new(),
            Promise::Acknowledged | Promise::Prefix => findings.problems,
        };
        if scenario.promise == Promise::Dispatched {
            // R-DISPATCH: what a subscriber saw was on stable storage, so it is replayed.
            let replayed_ids: HashSet<&str> = replayed.iter().map(|(id, _)| id.as_str()).collect();
            let unstable: Vec<&String> = received_live
                .iter()
                .filter(|id| !replayed_ids.contains(id.as_str()))
                .collect();
            if !unstable.is_empty() {
                problems.push(format!(
                    "R-DISPATCH: {} events were delivered live but are not on disk after the \
                     cut (first: {})",
                    unstable.len(),
                    unstable[0]
                ));
            }
        }
        let lost_ids: HashSet<String> = findings.lost.iter().map(|a| a.id.clone()).collect();
        if !findings.lost.is_empty() {
            eprintln!(
                "power loss [{}] round {round}: {} acknowledged events lost (oldest acknowledged \
                 {:?} before the kill)",
                scenario.durability,
                findings.lost.len(),
                findings
                    .lost
                    .iter()
                    .map(|a| kill.duration_since(a.acked))
                    .max()
                    .unwrap_or_default()
            );
        }
        if scenario.promise == Promise::Acknowledged && !findings.lost.is_empty() {
            let rounds: HashSet<usize> = findings.lost.iter().map(|a| a.round).collect();
            problems.push(format!(
                "R-ACK: {} of {} acknowledged events lost (from rounds {rounds:?}; e.g. {} ({}))",
                findings.lost.len(),
                expected.len(),
                findings.lost[0].id,
                findings.lost[0].tag,
            ));
        }
        assert!(
            problems.is_empty(),
            "power loss [{}] round {round} (seed printed above):\n{}\n\n\
             files at the moment of the cut (size, size synced, whether the name is synced):\n{}",
            scenario.durability,
            problems.join("\n"),
            files_at_cut
        );
        expected.retain(|a| !lost_ids.contains(&a.id));
        losses.push((findings.lost, kill));
    }
    Some(losses)
}

/// R-ACK: with `durability = "fsync"` (the default), every event answered `200` before a
/// power cut at a random moment is replayed after it, exactly once, whole, in the order it was
/// acknowledged. Three cuts on the same growing history, during publishes of small and large
/// (blob) payloads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn power_loss_with_fsync_loses_no_acknowledged_event() {
    let scenario = Scenario {
        name: "power_loss::power_loss_with_fsync_loses_no_acknowledged_event",
        durability: "fsync",
        promise: Promise::Acknowledged,
        cuts_ms: &[50, 300, 1000],
    };
    if let Some(losses) = run(&scenario).await {
        assert!(losses.iter().all(|(lost, _)| lost.is_empty()));
    }
}

/// R-DISPATCH: with `durability = "fsync"`, every event a live subscriber received before a
/// power cut at a random moment is replayed after it: subscribers are sent only events that
/// are on stable storage. Six cuts, most of them early, while publishes are at their densest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn power_loss_with_fsync_loses_no_event_a_subscriber_received() {
    let scenario = Scenario {
        name: "power_loss::power_loss_with_fsync_loses_no_event_a_subscriber_received",
        durability: "fsync",
        promise: Promise::Dispatched,
        // The window between a live delivery and the end of its sync is short: more cuts,
        // more chances to fall into it.
        cuts_ms: &[30, 60, 100, 200, 300, 1000],
    };
    if let Some(losses) = run(&scenario).await {
        assert_eq!(losses.len(), scenario.cuts_ms.len(), "every round ran");
    }
}

/// R-ACK (periodic): with `durability = "periodic"` a power cut loses at most the events
/// acknowledged within the documented window before it (store flushed every 500 ms, writer
/// groups of 20 ms; checked with a margin for a loaded machine), and what survives is a prefix
/// of the history: no duplicate, no reordering, no event kept after a lost one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn power_loss_with_periodic_loses_only_the_last_moments() {
    let scenario = Scenario {
        name: "power_loss::power_loss_with_periodic_loses_only_the_last_moments",
        durability: "periodic",
        promise: Promise::Prefix,
        cuts_ms: &[300, 1000, 4000],
    };
    let Some(losses) = run(&scenario).await else {
        return;
    };
    let limit = PERIODIC_WINDOW + PERIODIC_MARGIN;
    for (round, (lost, kill)) in losses.iter().enumerate() {
        eprintln!(
            "power loss [periodic] round {round}: {} acknowledged events lost",
            lost.len()
        );
        for a in lost {
            let age = kill.duration_since(a.acked);
            assert!(
                age <= limit,
                "round {round}: {} ({}) was acknowledged {age:?} before the power cut and lost; \
                 periodic durability promises at most the last {PERIODIC_WINDOW:?} \
                 (checked with {PERIODIC_MARGIN:?} of slack)",
                a.id,
                a.tag
            );
        }
    }
}
