//! One behaviour suite that every `EventLog` implementation must pass: one `#[test]` per
//! contract case per engine (`contract_suite!`), each on a fresh store of that engine.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::{EventLog, Position, Retention};
use crate::event::{Event, Update};

/// What the contract cases need of one engine, for one test. The store it opens lives as long
/// as the fixture (a temporary directory, a `redis-server` and a key prefix).
pub(crate) trait Fixture {
    /// Opens the test's store, the same one at every call, with this retention.
    fn open(&self, retention: Retention) -> Box<dyn EventLog>;

    /// Whether what one log stored is there when the store is opened again after that log was
    /// dropped (not for memory).
    fn persists(&self) -> bool;

    /// Lets `by` pass on the clock the logs' age retention reads.
    fn advance(&self, by: Duration);
}

const UNLIMITED: Retention = Retention {
    max_events: 0,
    max_age: Duration::ZERO,
};

fn event(id: &str) -> Arc<Event> {
    Arc::new(Event::new(Update::example(
        id,
        &["https://example.com/t"],
        format!("data of {id}"),
    )))
}

/// Everything retained (the cases keep fewer than 1000 events), with positions.
fn all(log: &dyn EventLog) -> Vec<(Position, String)> {
    let Some(upto) = log.last_position() else {
        return Vec::new();
    };
    log.read_after(None, upto, 1000)
        .expect("read")
        .into_iter()
        .map(|(position, e)| (position, e.update.id().to_owned()))
        .collect()
}

fn ids(log: &dyn EventLog, after: Option<Position>, max: usize) -> Vec<String> {
    let Some(upto) = log.last_position() else {
        return Vec::new();
    };
    log.read_after(after, upto, max)
        .expect("read")
        .into_iter()
        .map(|(_, e)| e.update.id().to_owned())
        .collect()
}

/// Runs a future of a log to its end on the test's thread.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

/// One `#[test]` per contract case for one engine, in a module of its own:
/// `contract_suite!(module, setup)`, where `setup` evaluates to `Option` of a `Fixture`, made
/// anew for each test (`None` skips: a tool the engine needs is missing).
macro_rules! contract_suite {
    ($module:ident, $setup:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::log::suite::contract_suite!(
                @cases $setup;
                empty_log,
                append_and_read_in_order,
                duplicate_ids_anchor_on_the_earliest,
                read_is_bounded_by_upto_and_max,
                a_long_history_is_read_from_any_cursor,
                retention_by_count,
                retention_by_age,
                reopen_keeps_ids_order_and_positions,
                durable_appends_are_read_after_reopen,
                the_gate_decides_in_order,
                the_feed_delivers_every_instance_appends_in_order
            );
        }
    };
    (@cases $setup:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let Some(fixture) = $setup else {
                    return;
                };
                $crate::log::suite::$case(&fixture);
            }
        )*
    };
}
pub(crate) use contract_suite;

pub(crate) fn empty_log(fixture: &dyn Fixture) {
    let log = fixture.open(UNLIMITED);
    assert_eq!(log.last_position(), None);
    assert_eq!(log.last_event_id(), None);
    assert_eq!(log.find("x").expect("find"), None);
}

pub(crate) fn append_and_read_in_order(fixture: &dyn Fixture) {
    let log = fixture.open(UNLIMITED);
    let a = log.append(event("a")).expect("append");
    let b = log.append(event("b")).expect("append");
    log.append(event("c")).expect("append");
    assert!(a < b);
    assert_eq!(log.last_event_id().as_deref(), Some("c"));
    assert_eq!(ids(log.as_ref(), None, 10), ["a", "b", "c"]);
    assert_eq!(ids(log.as_ref(), Some(a), 10), ["b", "c"]);
    assert_eq!(log.find("b").expect("find"), Some(b));
}

pub(crate) fn duplicate_ids_anchor_on_the_earliest(fixture: &dyn Fixture) {
    let log = fixture.open(UNLIMITED);
    let first = log.append(event("dup")).expect("append");
    log.append(event("x")).expect("append");
    log.append(event("dup")).expect("append");
    assert_eq!(log.find("dup").expect("find"), Some(first));
    assert_eq!(ids(log.as_ref(), Some(first), 10), ["x", "dup"]);
}

pub(crate) fn read_is_bounded_by_upto_and_max(fixture: &dyn Fixture) {
    let log = fixture.open(UNLIMITED);
    let positions: Vec<_> = (0..10)
        .map(|i| log.append(event(&i.to_string())).expect("append"))
        .collect();
    let read = log
        .read_after(Some(positions[1]), positions[5], 100)
        .expect("read");
    let got: Vec<_> = read.iter().map(|(_, e)| e.update.id()).collect();
    assert_eq!(got, ["2", "3", "4", "5"]);
    let page = log.read_after(None, positions[9], 3).expect("read");
    assert_eq!(page.len(), 3);
    let next = log
        .read_after(Some(page[2].0), positions[9], 100)
        .expect("read");
    assert_eq!(next.len(), 7);
}

/// A replay may start anywhere in a long history: every retained cursor is found and reads the
/// rest in order, in pages, across what an engine keeps in memory and what it reads from its
/// store (the sled tail's start); a cursor retention dropped is not found.
pub(crate) fn a_long_history_is_read_from_any_cursor(fixture: &dyn Fixture) {
    let log = fixture.open(Retention {
        max_events: 150,
        max_age: Duration::ZERO,
    });
    let names: Vec<String> = (0..200).map(|i| format!("long-{i}")).collect();
    let positions: Vec<Position> = names
        .iter()
        .map(|id| log.append(event(id)).expect("append"))
        .collect();
    // Written by now (with `fsync`), so that the oldest have left an engine's in-memory tail.
    block_on(log.durable(positions[199])).expect("durable");
    assert_eq!(log.find(&names[49]).expect("find"), None);
    assert_eq!(ids(log.as_ref(), None, 1000), names[50..]);
    for i in (50..200).step_by(7) {
        let found = log.find(&names[i]).expect("find");
        assert_eq!(found, Some(positions[i]), "{}", names[i]);
        assert_eq!(ids(log.as_ref(), found, 1000), names[i + 1..]);
        let page = ids(log.as_ref(), found, 10);
        assert_eq!(page, names[i + 1..(i + 11).min(200)]);
    }
}

pub(crate) fn retention_by_count(fixture: &dyn Fixture) {
    let log = fixture.open(Retention {
        max_events: 3,
        max_age: Duration::ZERO,
    });
    for i in 0..5 {
        log.append(event(&i.to_string())).expect("append");
    }
    assert_eq!(ids(log.as_ref(), None, 10), ["2", "3", "4"]);
    assert_eq!(log.find("0").expect("find"), None);
    assert!(log.find("2").expect("find").is_some());
    assert_eq!(log.last_event_id().as_deref(), Some("4"));
}

pub(crate) fn retention_by_age(fixture: &dyn Fixture) {
    let log = fixture.open(Retention {
        max_events: 0,
        max_age: Duration::from_millis(50),
    });
    log.append(event("old")).expect("append");
    fixture.advance(Duration::from_millis(80));
    log.append(event("new")).expect("append");
    assert_eq!(ids(log.as_ref(), None, 10), ["new"]);
    assert_eq!(log.find("old").expect("find"), None);
}

/// What a persistent engine stored is read back after it was closed: the same ids, order and
/// positions, the same last id, and new appends go after them.
pub(crate) fn reopen_keeps_ids_order_and_positions(fixture: &dyn Fixture) {
    if !fixture.persists() {
        return;
    }
    let (stored, dup) = {
        let log = fixture.open(UNLIMITED);
        let dup = log.append(event("dup")).expect("append");
        for id in ["a", "dup", "b"] {
            log.append(event(id)).expect("append");
        }
        (all(log.as_ref()), dup)
    };
    let log = fixture.open(UNLIMITED);
    assert_eq!(all(log.as_ref()), stored);
    assert_eq!(log.last_position(), stored.last().map(|(p, _)| *p));
    assert_eq!(log.last_event_id().as_deref(), Some("b"));
    assert_eq!(log.find("dup").expect("find"), Some(dup));
    assert_eq!(log.find("a").expect("find"), Some(stored[1].0));
    let after = log.append(event("after")).expect("append");
    assert!(stored.iter().all(|(p, _)| *p < after));
}

/// An append the log reports durable is decided and stored, and is read after a reopen.
pub(crate) fn durable_appends_are_read_after_reopen(fixture: &dyn Fixture) {
    let positions = {
        let log = fixture.open(UNLIMITED);
        let positions: Vec<Position> = (0..5)
            .map(|i| log.append(event(&format!("d{i}"))).expect("append"))
            .collect();
        for &position in &positions {
            block_on(log.durable(position)).expect("durable");
        }
        if let Some(gate) = log.gate() {
            assert!(gate.decided() >= positions[4]);
            assert!(positions.iter().all(|&p| gate.stored(p)));
        }
        positions
    };
    if !fixture.persists() {
        return;
    }
    let log = fixture.open(UNLIMITED);
    let read: Vec<Position> = all(log.as_ref()).into_iter().map(|(p, _)| p).collect();
    assert_eq!(read, positions);
}

/// R-DISPATCH: a gate decides positions in append order, never skipping back, and every
/// decided append of a working store is stored.
pub(crate) fn the_gate_decides_in_order(fixture: &dyn Fixture) {
    let log = fixture.open(UNLIMITED);
    let Some(gate) = log.gate() else {
        return;
    };
    let mut seen = gate.decided();
    let positions: Vec<Position> = (0..20)
        .map(|i| log.append(event(&format!("g{i}"))).expect("append"))
        .collect();
    let last = positions[positions.len() - 1];
    while seen < last {
        block_on(gate.decided_after(seen)).expect("decided");
        let now = gate.decided();
        assert!(now > seen, "decided moved from {seen:?} to {now:?}");
        assert!(positions
            .iter()
            .filter(|&&p| p <= now)
            .all(|&p| gate.stored(p)));
        seen = now;
    }
}

/// Two instances on one shared store deliver every instance's appends, in the store's order,
/// through the feed (docs/scaling.md).
pub(crate) fn the_feed_delivers_every_instance_appends_in_order(fixture: &dyn Fixture) {
    let reader = fixture.open(UNLIMITED);
    let Some(feed) = reader.feed() else {
        return;
    };
    let other = fixture.open(UNLIMITED);
    let (sender, receiver) = mpsc::channel();
    feed.start_feed(
        None,
        Arc::new(move |position, e: Arc<Event>| {
            let _ = sender.send((position, e.update.id().to_owned()));
        }),
    )
    .expect("feed");
    let appended: Vec<(Position, String)> = (0..20)
        .map(|i| {
            let writer = if i % 2 == 0 { &reader } else { &other };
            let id = i.to_string();
            (writer.append(event(&id)).expect("append"), id)
        })
        .collect();
    let delivered: Vec<_> = appended
        .iter()
        .map(|_| {
            receiver
                .recv_timeout(Duration::from_secs(5))
                .expect("delivered")
        })
        .collect();
    assert_eq!(delivered, appended);
}
