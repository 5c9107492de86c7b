//! One behaviour suite that every `EventLog` implementation must pass.

use std::sync::Arc;
use std::time::Duration;

use super::{EventLog, Retention};
use crate::event::{Event, Update};

pub(crate) type Factory<'a> = &'a dyn Fn(Retention) -> Box<dyn EventLog>;

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

fn ids(log: &dyn EventLog, after: Option<super::Position>, max: usize) -> Vec<String> {
    let Some(upto) = log.last_position() else {
        return Vec::new();
    };
    log.read_after(after, upto, max)
        .expect("read")
        .into_iter()
        .map(|(_, e)| e.update.id().to_owned())
        .collect()
}

/// One `#[test]` per contract case for one engine, in a module of its own:
/// `contract_suite!(module, setup)`, where `setup` evaluates to `Option` of a factory closure
/// `Fn(Retention) -> Box<dyn EventLog>` (`None` skips: a tool the engine needs is missing). The
/// closure may own the engine's fixture (a `redis-server`), which lives as long as the test.
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
                retention_by_count,
                retention_by_age
            );
        }
    };
    (@cases $setup:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                let Some(factory) = $setup else {
                    return;
                };
                $crate::log::suite::$case(&factory);
            }
        )*
    };
}
pub(crate) use contract_suite;

pub(crate) fn empty_log(factory: Factory) {
    let log = factory(UNLIMITED);
    assert_eq!(log.last_position(), None);
    assert_eq!(log.last_event_id(), None);
    assert_eq!(log.find("x").expect("find"), None);
}

pub(crate) fn append_and_read_in_order(factory: Factory) {
    let log = factory(UNLIMITED);
    let a = log.append(event("a")).expect("append");
    let b = log.append(event("b")).expect("append");
    log.append(event("c")).expect("append");
    assert!(a < b);
    assert_eq!(log.last_event_id().as_deref(), Some("c"));
    assert_eq!(ids(log.as_ref(), None, 10), ["a", "b", "c"]);
    assert_eq!(ids(log.as_ref(), Some(a), 10), ["b", "c"]);
    assert_eq!(log.find("b").expect("find"), Some(b));
}

pub(crate) fn duplicate_ids_anchor_on_the_earliest(factory: Factory) {
    let log = factory(UNLIMITED);
    let first = log.append(event("dup")).expect("append");
    log.append(event("x")).expect("append");
    log.append(event("dup")).expect("append");
    assert_eq!(log.find("dup").expect("find"), Some(first));
    assert_eq!(ids(log.as_ref(), Some(first), 10), ["x", "dup"]);
}

pub(crate) fn read_is_bounded_by_upto_and_max(factory: Factory) {
    let log = factory(UNLIMITED);
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

pub(crate) fn retention_by_count(factory: Factory) {
    let log = factory(Retention {
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

pub(crate) fn retention_by_age(factory: Factory) {
    let log = factory(Retention {
        max_events: 0,
        max_age: Duration::from_millis(50),
    });
    log.append(event("old")).expect("append");
    std::thread::sleep(Duration::from_millis(80));
    log.append(event("new")).expect("append");
    assert_eq!(ids(log.as_ref(), None, 10), ["new"]);
    assert_eq!(log.find("old").expect("find"), None);
}
