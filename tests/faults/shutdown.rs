//! R-SHUTDOWN: a SIGTERM right after acknowledged publishes loses nothing.

use reqwest::Method;

use crate::harness::{uniq, Hub, WAIT};
use crate::http::pct;
use crate::sse::SseStream;

/// R-SHUTDOWN: with `durability = "periodic"` the acknowledgement comes before the write; a
/// SIGTERM at once after the last `200` still writes and syncs every acknowledged event before
/// the process exits, and the restarted hub replays them all, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_periodic_publishes_loses_nothing() {
    sigterm_after_publishes("periodic").await;
}

/// R-SHUTDOWN: the same with `fsync` (the default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_right_after_fsync_publishes_loses_nothing() {
    sigterm_after_publishes("fsync").await;
}

async fn sigterm_after_publishes(durability: &str) {
    let Some(mut hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DURABILITY", durability)
        .start()
        .await
    else {
        return;
    };
    let topic = uniq("shutdown");
    let (hub_ref, topic_ref) = (&hub, &topic);
    let publishers = (0..8).map(|p| {
        let (hub, topic) = (hub_ref, topic_ref);
        let request = move |i: usize| {
            let id = format!("p{p}-{i}");
            let fields = [
                ("topic", topic.as_str()),
                ("id", id.as_str()),
                ("data", "x"),
            ];
            hub.pub_req(Some(&hub.publisher_token_all()), &fields)
        };
        async move {
            let mut acked = Vec::new();
            for i in 0..50 {
                let response = crate::http::send(request(i)).await;
                assert_eq!(response.status, 200, "{response:?}");
                acked.push(response.body);
            }
            acked
        }
    });
    let acked: Vec<Vec<String>> = futures_util::future::join_all(publishers).await;
    let status = hub.stop().await;
    assert!(status.success(), "clean exit: {status}");
    hub.restart().await;
    let query = format!("topic={}&lastEventID=earliest", pct(&topic));
    let mut replay = SseStream::open(hub.hub_req(Method::GET, &query)).await;
    let total: usize = acked.iter().map(Vec::len).sum();
    let mut replayed = Vec::new();
    while replayed.len() < total {
        match replay.next_event(WAIT).await {
            Some(event) => replayed.push(event.id.unwrap_or_default()),
            None => break,
        }
    }
    assert_eq!(
        replayed.len(),
        total,
        "every acknowledged event was replayed"
    );
    for ids in &acked {
        let order: Vec<&String> = replayed.iter().filter(|id| ids.contains(id)).collect();
        assert_eq!(order.len(), ids.len(), "each once");
        assert!(
            order.iter().zip(ids).all(|(a, b)| *a == b),
            "in publish order"
        );
    }
}

/// R-SHUTDOWN: `shutdown_timeout` bounds the whole stop. With streams that would live for ten
/// minutes and an idle keep-alive connection open, a SIGTERM ends the process (cleanly) within
/// the budget, plus slack for a loaded machine; the streams get their last `:` line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_stop_fits_in_shutdown_timeout() {
    let Some(mut hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_SHUTDOWN_TIMEOUT", "2s")
        .env("QUICKSILVER_WRITE_TIMEOUT", "600s")
        .start()
        .await
    else {
        return;
    };
    let topic = uniq("stop");
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(SseStream::open(hub.sub_req(&[&topic])).await);
    }
    let idle = std::net::TcpStream::connect(hub.authority()).expect("an idle connection");
    hub.publish_ok(&[("topic", &topic), ("data", "before the stop")])
        .await;
    let started = std::time::Instant::now();
    let status = hub.stop().await;
    let took = started.elapsed();
    assert!(status.success(), "clean exit: {status}");
    assert!(
        took < std::time::Duration::from_millis(4_500),
        "stopped in {took:?}, budget 2 s"
    );
    for stream in &mut streams {
        assert!(stream.wait_end(WAIT).await.is_some(), "the stream ended");
    }
    drop(idle);
}
