//! R-BOUND, the selector part: what one subscription request can make the hub hold is bounded in
//! bytes (docs/reliability.md).

use std::time::Duration;

use crate::harness::{uniq, Hub, HUB_PATH};
use crate::http::{form_encode, raw_http};
use crate::sse::{RawSse, SseStream};
use crate::support::skip_unless;

/// `max_selectors_size` for this test. The default (1 MiB) cannot be reached by a `GET`: a
/// request target is at most 64 KiB (the `http` crate's `Uri`). 40 KB of selectors
/// percent-encode to some 52 KB, inside that.
const SELECTORS_SIZE: usize = 40_000;
/// Selectors per subscription (of 100 bytes each).
const SELECTORS: usize = 400;
const SUBSCRIPTIONS: usize = 100;

/// Selectors of subscription `k` whose lengths add up to exactly `total` bytes: distinct
/// templates, one in ten with an inner part of its own (its own compiled regex), the others
/// differing only in their literals.
fn selectors(k: usize, total: usize) -> Vec<String> {
    let each = total / SELECTORS;
    (0..SELECTORS)
        .map(|j| {
            let mut selector = if j % 10 == 0 {
                format!("https://attacker.example/{{k}}/{k}-{j}/{{j}}/")
            } else {
                format!("https://attacker.example/{{k}}/{{j}}/{k}-{j}/")
            };
            let length = if j == SELECTORS - 1 {
                total - each * (SELECTORS - 1)
            } else {
                each
            };
            while selector.len() < length {
                selector.push(char::from(b'a' + fastrand::u8(..26)));
            }
            selector
        })
        .collect()
}

fn query(selectors: &[String]) -> String {
    let pairs: Vec<(&str, &str)> = selectors.iter().map(|s| ("topic", s.as_str())).collect();
    form_encode(&pairs)
}

/// The resident memory of process `pid`, in bytes (`VmRSS` of `/proc/<pid>/status`).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// R-BOUND: 100 concurrent subscriptions each carrying 400 distinct templates totalling exactly
/// `max_selectors_size` are accepted and one byte more is refused with 400; while they are
/// open, the hub's resident memory stays under a bound linear in the selector bytes, and a
/// publish still reaches an ordinary subscriber.
#[tokio::test]
async fn memory_stays_bounded_under_maximal_selectors() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env(
            "QUICKSILVER_MAX_SELECTORS_SIZE",
            &SELECTORS_SIZE.to_string(),
        )
        .start()
        .await
    else {
        return;
    };
    let test = "memory_stays_bounded_under_maximal_selectors";
    let Some(pid) = hub.pid() else { return };
    let Some(baseline) = resident_bytes(pid) else {
        skip_unless(false, test, "no /proc/<pid>/status");
        return;
    };

    let over = selectors(SUBSCRIPTIONS, SELECTORS_SIZE + 1);
    let (status, answer) = raw_http(
        &hub,
        &format!(
            "GET {HUB_PATH}?{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            query(&over),
            hub.authority()
        ),
    )
    .await;
    assert_eq!(status, 400, "one byte over max_selectors_size");
    assert!(
        answer.ends_with("\r\n\r\nInvalid \"topic\" parameter.\n"),
        "{}",
        answer.lines().next().unwrap_or_default()
    );

    let topic = uniq("bounds");
    let mut ordinary = SseStream::open(hub.sub_req(&[&topic])).await;
    let mut open = Vec::new();
    let mut peak = baseline;
    for k in 0..SUBSCRIPTIONS {
        let path = format!("{HUB_PATH}?{}", query(&selectors(k, SELECTORS_SIZE)));
        open.push(RawSse::open(&hub, &path, &[]).await);
        peak = peak.max(resident_bytes(pid).unwrap_or(0));
    }
    let id = hub
        .publish_ok(&[("topic", &topic), ("data", "still here")])
        .await;
    ordinary.expect_event(&id).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    peak = peak.max(resident_bytes(pid).unwrap_or(0));

    // What the hub may hold: per subscription, its selector bytes a few times over (the
    // templates' text and outer literals, the registry's index, transient parsing) — 8× is
    // generous; plus the caches' fixed byte budgets (templates 16 MiB, compiled patterns 64 MiB,
    // match results 32 MiB). Compiling every template into its own regex, as the hub once did,
    // costs about 4 KiB + 50 bytes per literal byte each: over 300 MB here, against a bound of
    // some 144 MB above the baseline.
    let caches: u64 = (16 + 64 + 32) << 20;
    let bound = baseline + caches + (SUBSCRIPTIONS * 8 * SELECTORS_SIZE) as u64;
    eprintln!(
        "{test}: VmRSS baseline {} MiB, peak {} MiB, bound {} MiB",
        baseline >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(
        peak <= bound,
        "VmRSS {peak} over the bound {bound} (baseline {baseline})"
    );
    drop(open);
    let log = hub.log().unwrap_or_default();
    assert!(!log.contains("panicked"), "{log}");
}
