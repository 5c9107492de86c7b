//! What only the sled history does: restarts, the on-disk layout and its upgrade, retention on
//! disk, and recovery from failed writes.

use std::sync::atomic::Ordering;

use super::*;
use crate::log::suite::{block_on, Fixture};
use crate::log::ManualClock;

fn temp_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("qs-sled-{}", uuid::Uuid::new_v4()))
}

/// Opens the history in `dir`, waiting for a log dropped just before to let go of it: sled's own
/// threads may hold the directory's lock for a moment after its last handle is dropped.
fn reopen(
    dir: &Path,
    retention: Retention,
    durability: Durability,
    clock: Arc<dyn Clock>,
) -> SledLog {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match SledLog::open_with_clock(dir, retention, durability, 8 << 20, clock.clone()) {
            Ok(log) => return log,
            Err(LogError::Open { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(error) => panic!("reopen: {}", ErrorChain(&error)),
        }
    }
}

/// One directory per test, removed with the fixture.
struct Sled {
    dir: std::path::PathBuf,
    durability: Durability,
    clock: Arc<ManualClock>,
}

impl Sled {
    fn new(durability: Durability) -> Self {
        Self {
            dir: temp_dir(),
            durability,
            clock: Arc::default(),
        }
    }
}

impl Fixture for Sled {
    fn open(&self, retention: Retention) -> Box<dyn EventLog> {
        let clock = self.clock.clone();
        Box::new(reopen(&self.dir, retention, self.durability, clock))
    }

    fn persists(&self) -> bool {
        true
    }

    fn advance(&self, by: std::time::Duration) {
        self.clock.advance(by);
    }
}

impl Drop for Sled {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

crate::log::suite::contract_suite!(contract_periodic, Some(Sled::new(Durability::Periodic)));

crate::log::suite::contract_suite!(contract_fsync, Some(Sled::new(Durability::Fsync)));

#[test]
fn the_last_id_survives_a_restart_after_retention_emptied_the_history() {
    let sled = Sled::new(Durability::Fsync);
    let short = Retention {
        max_events: 0,
        max_age: std::time::Duration::from_millis(30),
    };
    sled.open(short)
        .append(Arc::new(Event::new(update("the-last"))))
        .expect("append");
    sled.advance(std::time::Duration::from_millis(60));
    assert_eq!(sled.open(short).retained(), 0, "expired at start-up");
    let log = sled.open(short);
    assert_eq!(log.last_event_id().as_deref(), Some("the-last"));
}

#[test]
fn a_locked_data_dir_is_a_clear_error() {
    let dir = temp_dir();
    let unlimited = Retention {
        max_events: 0,
        max_age: std::time::Duration::ZERO,
    };
    let _first = SledLog::open(&dir, unlimited, Durability::Periodic, 8 << 20).expect("open");
    let second = SledLog::open(&dir, unlimited, Durability::Periodic, 8 << 20);
    let Err(error) = second else {
        panic!("a second open of a locked directory succeeded");
    };
    assert!(matches!(&error, LogError::Open { dir: d, .. } if *d == dir));
    let chain = ErrorChain(&error).to_string();
    assert!(chain.starts_with("cannot open the history in"), "{chain}");
    assert!(
        chain.len() > error.to_string().len(),
        "sled's cause is kept: {chain}"
    );
}

fn update(id: &str) -> crate::event::Update {
    crate::event::Update::example(id, &["t"], format!("data of {id}"))
}

const UNLIMITED: Retention = Retention {
    max_events: 0,
    max_age: std::time::Duration::ZERO,
};

/// Waits until `position` is on disk.
fn settle(log: &SledLog, position: Position) {
    block_on(log.durable(position)).expect("durable");
}

fn keys_with_prefix(log: &SledLog, prefix: u8) -> usize {
    log.shared.db().expect("open").scan_prefix([prefix]).count()
}

/// Issue 21: once written, the newest events are read and found from memory (the very events
/// appended, nothing decoded), older ones from disk, and after a restart all from disk.
#[test]
fn the_newest_written_events_are_replayed_from_memory() {
    let dir = temp_dir();
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::default());
    let appended: Vec<(Position, Arc<Event>)> = {
        let log = reopen(&dir, UNLIMITED, Durability::Fsync, clock.clone());
        let appended: Vec<(Position, Arc<Event>)> = (0..100)
            .map(|i| {
                let event = Arc::new(Event::new(update(&format!("e{i}"))));
                (log.append(event.clone()).expect("append"), event)
            })
            .collect();
        settle(&log, appended[99].0);
        let read = log.read_after(None, appended[99].0, 1000).expect("read");
        assert_eq!(read.len(), 100);
        let from_memory: Vec<bool> = read
            .iter()
            .zip(&appended)
            .map(|((p, got), (q, sent))| {
                assert_eq!((p, got.update.id()), (q, sent.update.id()));
                Arc::ptr_eq(got, sent)
            })
            .collect();
        let held = from_memory.iter().filter(|&&m| m).count();
        assert!(
            held > 0 && held < 100,
            "{held} held: the test tail holds some"
        );
        assert!(from_memory[100 - held..].iter().all(|&m| m), "the newest");
        assert_eq!(log.find("e99").expect("find"), Some(appended[99].0));
        assert_eq!(log.find("e0").expect("find"), Some(appended[0].0));
        appended
    };
    let log = reopen(&dir, UNLIMITED, Durability::Fsync, clock);
    let read = log
        .read_after(Some(appended[97].0), appended[99].0, 10)
        .expect("read");
    let ids: Vec<&str> = read.iter().map(|(_, e)| e.update.id()).collect();
    assert_eq!(ids, ["e98", "e99"]);
    assert!(!Arc::ptr_eq(&read[0].1, &appended[98].1));
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ids_are_found_in_stored_index_runs_after_a_restart() {
    let dir = temp_dir();
    let count = index::RUN_SIZE * 4 + 10;
    let positions: Vec<Position> = {
        let log = SledLog::open(&dir, UNLIMITED, Durability::Fsync, 8 << 20).expect("open");
        let positions: Vec<Position> = (0..count)
            .map(|i| {
                // Every tenth id repeats an earlier one: lookups must anchor on the earliest.
                let id = if i % 10 == 9 {
                    format!("id-{}", i - 5)
                } else {
                    format!("id-{i}")
                };
                log.append(Arc::new(Event::new(update(&id))))
                    .expect("append")
            })
            .collect();
        settle(&log, positions[positions.len() - 1]);
        assert!(keys_with_prefix(&log, layout::RUN) >= 3, "runs were stored");
        positions
    };
    let log = reopen(&dir, UNLIMITED, Durability::Fsync, Arc::new(SystemClock));
    for i in (0..count).filter(|i| i % 10 != 9) {
        let found = log.find(&format!("id-{i}")).expect("find");
        assert_eq!(found, Some(positions[i as usize]), "id-{i}");
    }
    assert_eq!(log.find("id-unknown").expect("find"), None);
    let last = log.last_position().expect("not empty");
    let replay = log
        .read_after(Some(positions[100]), last, 1000)
        .expect("read");
    assert_eq!(replay.len() as u64, count - 101);
    assert_eq!(replay[0].0, positions[101]);
    assert!(replay.windows(2).all(|w| w[0].0 < w[1].0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retention_deletes_old_chunks_and_runs_from_disk() {
    let dir = temp_dir();
    let keep_ten = Retention {
        max_events: 10,
        max_age: std::time::Duration::ZERO,
    };
    let log = SledLog::open(&dir, keep_ten, Durability::Fsync, 8 << 20).expect("open");
    let mut last = Position(0);
    for i in 0..index::RUN_SIZE * 5 {
        last = log
            .append(Arc::new(Event::new(update(&format!("e{i}")))))
            .expect("append");
        if i % 50 == 0 {
            settle(&log, last);
        }
    }
    settle(&log, last);
    // One more write so the writer deletes what the last append expired.
    settle(
        &log,
        log.append(Arc::new(Event::new(update("final"))))
            .expect("append"),
    );
    assert_eq!(log.retained(), 10);
    assert!(keys_with_prefix(&log, layout::CHUNK) <= 11);
    assert!(keys_with_prefix(&log, layout::RUN) <= 1);
    let newest = log.last_position().expect("not empty");
    let ids: Vec<String> = log
        .read_after(None, newest, 100)
        .expect("read")
        .into_iter()
        .map(|(_, e)| e.update.id().to_owned())
        .collect();
    assert_eq!(ids.len(), 10);
    assert_eq!(ids.last().map(String::as_str), Some("final"));
    assert_eq!(log.find("e0").expect("find"), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_history_in_the_old_one_key_per_event_layout_is_upgraded() {
    let dir = temp_dir();
    {
        let db = sled::open(&dir).expect("sled");
        for (position, id) in [(5u64, "a"), (6, "b"), (7, "c")] {
            let mut key = vec![b'e'];
            key.extend_from_slice(&position.to_be_bytes());
            db.insert(key, codec::encode(&update(id), SystemClock.now_ms()))
                .expect("insert");
            let mut index = vec![b'i'];
            index.extend_from_slice(id.as_bytes());
            index.push(0);
            index.extend_from_slice(&position.to_be_bytes());
            db.insert(index, &[][..]).expect("insert");
        }
        db.flush().expect("flush");
    }
    let log = SledLog::open(&dir, UNLIMITED, Durability::Fsync, 8 << 20).expect("open");
    assert_eq!(log.find("b").expect("find"), Some(Position(6)));
    assert_eq!(log.last_event_id().as_deref(), Some("c"));
    let replay = log
        .read_after(Some(Position(5)), Position(7), 10)
        .expect("read");
    let ids: Vec<&str> = replay.iter().map(|(_, e)| e.update.id()).collect();
    assert_eq!(ids, ["b", "c"]);
    assert_eq!(
        keys_with_prefix(&log, b'e') + keys_with_prefix(&log, b'i'),
        0
    );
    let next = log
        .append(Arc::new(Event::new(update("d"))))
        .expect("append");
    assert_eq!(next, Position(8));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_write_fails_the_waiting_publishes_only() {
    let dir = temp_dir();
    let log = SledLog::open(&dir, UNLIMITED, Durability::Fsync, 8 << 20).expect("open");
    let first = log
        .append(Arc::new(Event::new(update("ok"))))
        .expect("append");
    settle(&log, first);
    log.shared
        .durable
        .send_modify(|d| d.failed(first.0 + 1, first.0 + 1));
    let second = log
        .append(Arc::new(Event::new(update("lost"))))
        .expect("append");
    let outcome = block_on(log.durable(second));
    assert!(outcome.is_err());
    settle(&log, first);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits, woken by the writer, until everything up to `position` is written (in both
/// durability modes the writer announces each write it made).
fn until_written(log: &SledLog, position: Position) {
    let mut written = log.shared.durable.subscribe();
    let waited = block_on(async {
        let wait = written.wait_for(|d| d.decided >= position.0);
        tokio::time::timeout(std::time::Duration::from_secs(10), wait)
            .await
            .map(|state| state.map(|d| d.stored(position.0)))
    });
    assert!(matches!(waited, Ok(Ok(true))), "written in time");
}

/// Waits until the writer has reopened the database and accepts appends again.
fn until_writable(log: &SledLog) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.shared.state.lock().refusing {
        assert!(std::time::Instant::now() < deadline, "writes resumed");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// R-DISK, R-DISPATCH: a failed write with `fsync` fails every waiting publish, refuses appends
/// until the database was reopened, and leaves nothing of the refused events behind.
#[test]
fn a_failed_fsync_write_refuses_until_reopened_and_leaves_no_trace() {
    let dir = temp_dir();
    let log = SledLog::open(&dir, UNLIMITED, Durability::Fsync, 8 << 20).expect("open");
    let kept = log
        .append(Arc::new(Event::new(update("kept"))))
        .expect("append");
    block_on(log.durable(kept)).expect("stored");
    log.shared.fail_writes.store(1, Ordering::Relaxed);
    let refused = log
        .append(Arc::new(Event::new(update("refused"))))
        .expect("append");
    assert!(block_on(log.durable(refused)).is_err(), "its publish fails");
    let gate = log.gate().expect("fsync gates dispatch");
    assert!(gate.decided() >= refused && !gate.stored(refused));
    assert!(gate.stored(kept));
    assert!(
        log.check().is_err_and(|e| e.recovers()),
        "not ready meanwhile"
    );
    until_writable(&log);
    log.check().expect("ready again");
    let after = log
        .append(Arc::new(Event::new(update("after"))))
        .expect("accepted");
    block_on(log.durable(after)).expect("stored");
    let ids: Vec<String> = log
        .read_after(None, after, 10)
        .expect("read")
        .into_iter()
        .map(|(_, e)| e.update.id().to_owned())
        .collect();
    assert_eq!(ids, ["kept", "after"]);
    assert_eq!(log.find("refused").expect("find"), None);
    assert_eq!(log.faults().write_failures, 1);
    drop(log);
    let reopened = reopen(&dir, UNLIMITED, Durability::Fsync, Arc::new(SystemClock));
    let last = reopened.last_position().expect("not empty");
    let ids: Vec<String> = reopened
        .read_after(None, last, 10)
        .expect("read")
        .into_iter()
        .map(|(_, e)| e.update.id().to_owned())
        .collect();
    assert_eq!(ids, ["kept", "after"]);
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}

/// R-DISK: with `periodic`, events acknowledged before a failed write are written once the
/// disk works again; nothing is lost.
#[test]
fn a_failed_periodic_write_is_retried_until_written() {
    let dir = temp_dir();
    let log = SledLog::open(&dir, UNLIMITED, Durability::Periodic, 8 << 20).expect("open");
    log.shared.fail_writes.store(2, Ordering::Relaxed);
    let acked = log
        .append(Arc::new(Event::new(update("acked"))))
        .expect("append");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.faults().write_failures < 2 {
        assert!(std::time::Instant::now() < deadline, "two failed writes");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    until_writable(&log);
    until_written(&log, acked);
    drop(log);
    let reopened = reopen(&dir, UNLIMITED, Durability::Periodic, Arc::new(SystemClock));
    let ids: Vec<String> = reopened
        .read_after(None, acked, 10)
        .expect("read")
        .into_iter()
        .map(|(_, e)| e.update.id().to_owned())
        .collect();
    assert_eq!(ids, ["acked"]);
    assert_eq!(reopened.faults().events_lost, 0);
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn periodic_durability_writes_a_burst_of_appends_as_one_group() {
    let dir = temp_dir();
    let log = SledLog::open(&dir, UNLIMITED, Durability::Periodic, 8 << 20).expect("open");
    let appends = 200;
    let append = |i: u64| {
        log.append(Arc::new(Event::new(update(&format!("id-{i}")))))
            .expect("append")
    };
    append(0);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(
        log.shared.state.lock().written,
        0,
        "the writer waits for more"
    );
    for i in 1..appends {
        append(i);
    }
    until_written(&log, Position(appends));
    // One per publish was the cost this avoids; a preempted test thread may split the burst.
    let chunks = keys_with_prefix(&log, layout::CHUNK);
    assert!(chunks <= 2, "{chunks} chunks for {appends} appends");
    let replay = log.read_after(None, Position(appends), 1000).expect("read");
    assert_eq!(replay.len() as u64, appends);
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls `future` once: whether it is already done.
fn ready_now<F: std::future::Future>(future: F) -> bool {
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::pin!(future)
        .as_mut()
        .poll(&mut context)
        .is_ready()
}

/// docs/reliability.md: with `periodic`, a power cut loses at most the last moments, even on a
/// disk slower than the publishers: once the oldest unwritten event is `PERIODIC_MAX_LAG` old,
/// an append waits for its write as with `fsync`.
#[test]
fn periodic_appends_wait_for_the_writer_once_it_lags_behind() {
    let dir = temp_dir();
    let clock = Arc::new(ManualClock::default());
    let log = reopen(&dir, UNLIMITED, Durability::Periodic, clock.clone());
    // Queued without waking the writer: it stays unwritten, like an event behind a slow disk.
    let stalled = Queued {
        stored_at: clock.now_ms(),
        event: Arc::new(Event::new(update("stalled"))),
    };
    log.shared.state.lock().pending.push_back(stalled);
    let next = Position(log.shared.state.lock().next);
    assert!(!log.shared.lagging());
    assert!(ready_now(log.durable(next)), "acknowledged at once");
    clock.advance(writer::PERIODIC_MAX_LAG + std::time::Duration::from_millis(1));
    assert!(log.shared.lagging());
    assert!(!ready_now(log.durable(next)), "waits for the writer");
    log.shared.state.lock().pending.clear();
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}
