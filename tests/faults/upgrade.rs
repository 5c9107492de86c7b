//! R-ACK: the history written by the release before issue 18 opens and replays after the upgrade.

use reqwest::Method;

use crate::harness::{Hub, WAIT};
use crate::http::pct;
use crate::sse::SseStream;

/// A data directory written by the release before issue 18's storage changes (three small
/// events and one of 140,000 bytes, which sled keeps in a blob file).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/faults/fixtures/data-before-issue-18"
);
const TOPIC: &str = "https://example.com/upgrade";

/// R-ACK: what an earlier release stored is still there, in order, after the upgrade, and the
/// history takes new events after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_written_by_the_previous_release_opens_and_replays() {
    let data = std::env::temp_dir().join(format!("quicksilver-upgrade-{}", uuid::Uuid::new_v4()));
    copy_dir(FIXTURE.as_ref(), &data);
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DATA_DIR", &data.to_string_lossy())
        .start()
        .await
    else {
        return;
    };
    hub.publish_ok(&[("topic", TOPIC), ("id", "after-upgrade"), ("data", "new")])
        .await;
    let query = format!("topic={}&lastEventID=earliest", pct(TOPIC));
    let mut replay = SseStream::open(hub.hub_req(Method::GET, &query)).await;
    let mut events = Vec::new();
    while let Some(event) = replay.next_event(WAIT).await {
        let done = event.id.as_deref() == Some("after-upgrade");
        events.push(event);
        if done {
            break;
        }
    }
    let ids: Vec<&str> = events.iter().filter_map(|e| e.id.as_deref()).collect();
    assert_eq!(
        ids,
        [
            "release-1",
            "release-2",
            "release-3",
            "release-big",
            "after-upgrade"
        ]
    );
    assert_eq!(events[3].data(), "y".repeat(140_000), "the blob's value");
    let query = format!("topic={}&lastEventID=release-2", pct(TOPIC));
    let mut resumed = SseStream::open(hub.hub_req(Method::GET, &query)).await;
    let next = resumed.next_event(WAIT).await.expect("resumed");
    assert_eq!(
        next.id.as_deref(),
        Some("release-3"),
        "an old id is a cursor"
    );
    drop(hub);
    let _ = std::fs::remove_dir_all(&data);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("fixture") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
