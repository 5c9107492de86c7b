//! R-TEMPLATES: subscribed templates that cannot match a topic cost its publishes nothing.

use std::time::{Duration, Instant};

use crate::harness::Hub;
use crate::http::pct;
use crate::sse::SseStream;

/// Anonymous attacker connections, each subscribing with `TEMPLATES_EACH` distinct templates,
/// split over subscriptions of `PER_REQUEST` selectors (under the 1,000-selector limit and
/// the request head size).
const ATTACKERS: usize = 5;
const TEMPLATES_EACH: usize = 1_000;
const PER_REQUEST: usize = 250;
/// Sequential publishes measured with and without the attack.
const PUBLISHES: usize = 300;

/// R-TEMPLATES: 5 connections carrying 1,000 distinct templates each
/// (`https://attacker.example/{k}/{j}/{xN}`) do not stop a sequential publisher: every publish
/// succeeds, a subscriber whose template matches still gets every event in order, and the
/// attackers' templates still match what they ask for. The hub CPU per publish with and without
/// them is printed (figures in docs/benchmarks.md, measured with a release build).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_templates_that_cannot_match_do_not_slow_publishing() {
    let Some(hub) = Hub::builder().anonymous(true).start().await else {
        return;
    };
    let mut reader = SseStream::open(hub.sub_req(&["https://example.com/books/{id}"])).await;

    let alone = publish_sequentially(&hub, &mut reader, "alone").await;
    let mut attackers = Vec::new();
    for attacker in 0..ATTACKERS {
        for first in (0..TEMPLATES_EACH).step_by(PER_REQUEST) {
            let selectors: Vec<String> = (first..first + PER_REQUEST)
                .map(|n| format!("https://attacker.example/{{k}}/{{j}}/{{x{attacker}n{n}}}"))
                .collect();
            let query: Vec<String> = selectors
                .iter()
                .map(|s| format!("topic={}", pct(s)))
                .collect();
            let request = hub.hub_req(reqwest::Method::GET, &query.join("&"));
            attackers.push(SseStream::open(request).await);
        }
    }
    let attacked = publish_sequentially(&hub, &mut reader, "attacked").await;
    eprintln!(
        "hub CPU per publish (debug build): {alone} alone, {attacked} with {} templates",
        ATTACKERS * TEMPLATES_EACH
    );

    // The index drops no match: a topic every attacker template matches reaches each of them.
    hub.publish_ok(&[
        ("topic", "https://attacker.example/1/2/3"),
        ("id", "attack"),
    ])
    .await;
    for stream in &mut attackers {
        stream.expect_event("attack").await;
    }
}

/// Publishes `PUBLISHES` events one after the other to topics `reader` matches, checks that it
/// receives them all in order, and returns the hub CPU per publish (µs, as text; "unknown"
/// without /proc).
async fn publish_sequentially(hub: &Hub, reader: &mut SseStream, label: &str) -> String {
    let token = hub.publisher_token_all();
    let pid = hub.pid();
    let cpu_before = pid.and_then(cpu_us);
    let started = Instant::now();
    for n in 0..PUBLISHES {
        let topic = format!("https://example.com/books/{label}-{n}");
        let id = format!("{label}-{n}");
        let fields = [("topic", topic.as_str()), ("id", id.as_str())];
        let response = crate::http::send(hub.pub_req(Some(&token), &fields)).await;
        assert_eq!(response.status, 200, "{response:?}");
    }
    let elapsed = started.elapsed();
    let cpu_after = pid.and_then(cpu_us);
    for n in 0..PUBLISHES {
        let event = reader
            .next_event(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{label}-{n} not received"));
        assert_eq!(event.id, Some(format!("{label}-{n}")));
    }
    eprintln!("{PUBLISHES} sequential publishes ({label}) in {elapsed:?}");
    match (cpu_before, cpu_after) {
        (Some(before), Some(after)) => {
            format!("{} µs", after.saturating_sub(before) / PUBLISHES as u64)
        }
        _ => "unknown".into(),
    }
}

/// The CPU time (user + system) the process has used, in µs, from `/proc/PID/stat`.
fn cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the command: state is field 3, utime and stime are fields 14 and 15.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).ok()?;
    Some(ticks * 1_000_000 / per_second.max(1))
}
