//! Bursts of publishes from several connections at once, and the checks on what they were
//! acknowledged (used by the replay, restart and concurrency tests).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::harness::{Hub, HUB_PATH};
use crate::http::form_encode;

/// One publisher connection of a burst.
#[derive(Default, Debug)]
pub(super) struct Worker {
    /// Ids answered 200, in acknowledgement order.
    pub(super) acked: Vec<String>,
    /// The id of the request that failed (only with custom ids), if any.
    pub(super) failed: Option<String>,
    pub(super) error: Option<String>,
}

/// Publishes on `topic` from one HTTP/1.1 connection (its own client), sequentially, until
/// `max` updates are acknowledged or a request fails. With `id_prefix`, ids are
/// `{prefix}-{n}`; otherwise the hub generates them.
async fn run_worker(
    url: String,
    token: String,
    topic: String,
    id_prefix: Option<String>,
    max: usize,
    acked_total: Arc<AtomicUsize>,
) -> Worker {
    let client = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut w = Worker::default();
    for n in 0..max {
        let custom = id_prefix.as_ref().map(|p| format!("{p}-{n}"));
        let mut fields = vec![("topic", topic.as_str())];
        if let Some(id) = &custom {
            fields.push(("id", id));
        }
        let r = client
            .post(&url)
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(&fields))
            .send()
            .await;
        let result = match r {
            Ok(r) if r.status() == 200 => r.text().await.map_err(|e| e.to_string()),
            Ok(r) => Err(format!("status {}", r.status())),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(id) => {
                if let Some(c) = &custom {
                    assert_eq!(&id, c, "a provided id is used verbatim (A-PUB-7)");
                }
                w.acked.push(id);
                acked_total.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => {
                w.failed = custom;
                w.error = Some(e);
                break;
            }
        }
    }
    w
}

/// Starts `workers` publisher connections on `topic`.
pub(super) fn spawn_workers(
    hub: &Hub,
    topic: &str,
    workers: usize,
    per_worker: usize,
    id_prefix: Option<&str>,
    acked_total: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Worker>> {
    (0..workers)
        .map(|k| {
            tokio::spawn(run_worker(
                hub.url(HUB_PATH),
                hub.publisher_token_all(),
                topic.to_string(),
                id_prefix.map(|p| format!("{p}{k}")),
                per_worker,
                acked_total.clone(),
            ))
        })
        .collect()
}

/// Asserts that each worker's acknowledged ids appear in `order` in acknowledgement order.
#[track_caller]
pub(super) fn assert_ack_order(order: &[String], workers: &[Worker]) {
    let pos: HashMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    for (k, w) in workers.iter().enumerate() {
        let mut last = None;
        for id in &w.acked {
            let p = *pos
                .get(id.as_str())
                .unwrap_or_else(|| panic!("acknowledged id {id} (worker {k}) missing"));
            assert!(
                last.is_none_or(|l| l < p),
                "worker {k}: {id} acknowledged after its predecessor but stored before it"
            );
            last = Some(p);
        }
    }
}

#[track_caller]
pub(super) fn assert_no_duplicates(order: &[String]) {
    let mut seen = HashSet::new();
    for id in order {
        assert!(seen.insert(id), "id {id} delivered twice");
    }
}
