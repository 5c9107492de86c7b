//! R-FLOOD: connections that never complete a request head are closed after `request_timeout`,
//! and a flood of them beyond the descriptor limit does not lock publishers and subscribers
//! out: the hub sheds the oldest incomplete connections and keeps accepting.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{form_encode, send, uniq, Hub, HUB_PATH, WAIT};
use crate::sse::SseStream;

/// The environment variable that makes the `flooder` test a flooder, holding the hub's address.
const FLOOD_TARGET: &str = "QUICKSILVER_TEST_FLOOD_TARGET";
/// How long the test publishes while the flood holds its connections.
const CHECK_FOR: Duration = Duration::from_secs(6);
/// The longest a flooder holds its connections when nobody tells it to stop. Longer than any
/// request's timeout (`WAIT`), so that a request the flood locked out fails instead of going
/// through once the flood is over.
const FLOOD_AT_MOST: Duration = Duration::from_secs(40);
/// The hub's descriptor limit in the flood test: low, so that a flood is cheap.
const HUB_NOFILE: u64 = 1024;
/// Connections each flooder opens and holds until the flood ends: each alone far beyond
/// `HUB_NOFILE`. (A flooder that closed its own connections would give the hub its descriptors
/// back, which is not the attack.)
const FLOODER_OPENS: usize = 3000;

/// Reads until the peer closes (or `limit` passes); the bytes read and whether it closed.
async fn read_until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return (received, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (received, true),
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
}

async fn metric(hub: &Hub, name: &str) -> u64 {
    let text = send(hub.client.get(hub.url("/metrics"))).await.body;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
}

/// R-FLOOD: with `request_timeout = 1s`, a connection that sends nothing is closed without an
/// answer, one that sent part of a request head gets `408` and is closed; both are counted.
#[tokio::test]
async fn r_flood_incomplete_request_heads_are_closed_after_request_timeout() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_REQUEST_TIMEOUT", "1s")
        .env("QUICKSILVER_METRICS", "true")
        .start()
        .await
    else {
        return;
    };
    let mut silent = tokio::net::TcpStream::connect(hub.authority())
        .await
        .expect("connect");
    let mut partial = tokio::net::TcpStream::connect(hub.authority())
        .await
        .expect("connect");
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: loc")
        .await
        .expect("write");

    let (said, closed) = read_until_closed(&mut silent, WAIT).await;
    assert!(closed, "a silent connection is closed");
    assert!(said.is_empty(), "and gets no answer: {said:?}");
    let (said, closed) = read_until_closed(&mut partial, WAIT).await;
    let said = String::from_utf8_lossy(&said);
    assert!(closed, "a partial request head is closed");
    assert!(said.starts_with("HTTP/1.1 408"), "after a 408: {said:?}");

    assert!(metric(&hub, "quicksilver_connections_timed_out_total").await >= 2);
}

/// R-FLOOD: two processes flood the hub (limited to 1,024 descriptors, `request_timeout` far
/// longer than the flood) with silent connections, each holding more than the limit. Meanwhile
/// a subscriber keeps its stream and receives every event, a publisher keeps publishing, and
/// new clients (new connections) still publish; the hub counts the connections it shed.
#[tokio::test]
async fn r_flood_silent_connections_beyond_the_descriptor_limit_lock_nobody_out() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .nofile(HUB_NOFILE)
        .env("QUICKSILVER_REQUEST_TIMEOUT", "60s")
        .env("QUICKSILVER_METRICS", "true")
        .env("QUICKSILVER_TRANSPORT", "memory")
        .start()
        .await
    else {
        return;
    };
    let topic = uniq("https://example.com/flood");
    let mut stream = SseStream::open(hub.sub_req(&[&topic])).await;
    let id = hub
        .publish_ok(&[("topic", &topic), ("data", "before")])
        .await;
    stream.expect_event(&id).await;

    let mut flooders: Vec<Child> = (0..2).map(|_| spawn_flooder(&hub)).collect();
    let flood_ends = Instant::now() + CHECK_FOR;
    let token = hub.publisher_token_all();
    let mut published = 0;
    while Instant::now() < flood_ends {
        let data = format!("during {published}");
        let id = hub.publish_ok(&[("topic", &topic), ("data", &data)]).await;
        let event = stream.expect_event(&id).await;
        assert_eq!(event.data(), data);
        published += 1;
        if published % 10 == 0 {
            // A new client: its own, new connection.
            let fresh = fresh_client()
                .post(hub.url(HUB_PATH))
                .bearer_auth(&token)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_encode(&[("topic", &topic), ("data", "fresh")]));
            let answer = send(fresh).await;
            assert_eq!(answer.status, 200, "a new client publishes: {answer:?}");
            stream.expect_event(&answer.body).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Closing a flooder's stdin ends its flood.
    for flooder in &mut flooders {
        drop(flooder.stdin.take());
    }
    let mut opened = Vec::new();
    for flooder in &mut flooders {
        opened.push(wait_flooder(flooder));
    }
    eprintln!("flooders opened {opened:?} connections; {published} events published meanwhile");

    let shed = metric(&hub, "quicksilver_connections_shed_total").await;
    assert!(shed > 0, "the flood reached the limit and was shed");
    let id = hub
        .publish_ok(&[("topic", &topic), ("data", "after")])
        .await;
    stream.expect_event(&id).await;
}

fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .connect_timeout(WAIT)
        .build()
        .expect("client")
}

/// Runs this test binary's `flooder` test in a child process against `hub`.
fn spawn_flooder(hub: &Hub) -> Child {
    let binary = std::env::current_exe().expect("test binary");
    Command::new(binary)
        .args(["flood::flooder", "--exact", "--ignored", "--nocapture"])
        .env(FLOOD_TARGET, hub.authority())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a flooder")
}

/// Waits (bounded) for a flooder to end; the number of connections it opened.
fn wait_flooder(flooder: &mut Child) -> usize {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if flooder.try_wait().expect("try_wait").is_some() {
            let mut out = String::new();
            if let Some(mut stdout) = flooder.stdout.take() {
                let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
            }
            return out
                .lines()
                .find_map(|line| line.strip_prefix("flooder opened ")?.trim().parse().ok())
                .unwrap_or(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = flooder.kill();
    let _ = flooder.wait();
    panic!("a flooder did not end on its own");
}

/// Not a test: the flooder process of
/// `r_flood_silent_connections_beyond_the_descriptor_limit_lock_nobody_out`, run by it with
/// the hub's address in `QUICKSILVER_TEST_FLOOD_TARGET`. Opens silent connections as fast as it
/// can (at most `FLOODER_OPENS`) and holds them until its stdin is closed, at most
/// `FLOOD_AT_MOST`.
#[test]
#[ignore = "run by the flood test as a child process"]
fn flooder() {
    let Some(target) = std::env::var(FLOOD_TARGET).ok() else {
        eprintln!("SKIP: flooder: only runs as a child of the flood test");
        return;
    };
    let target: SocketAddr = target.parse().expect("flood target");
    let ends = Instant::now() + FLOOD_AT_MOST;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = stop.send(());
    });
    let mut held: Vec<TcpStream> = Vec::with_capacity(FLOODER_OPENS);
    while Instant::now() < ends && held.len() < FLOODER_OPENS && stopped.try_recv().is_err() {
        match TcpStream::connect_timeout(&target, Duration::from_millis(500)) {
            Ok(connection) => held.push(connection),
            // Out of descriptors ourselves: hold what we have.
            Err(error) if error.raw_os_error() == Some(libc::EMFILE) => break,
            Err(error) if error.kind() == ErrorKind::TimedOut => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let opened = held.len();
    // Hold them until told to stop.
    if let Some(left) = ends.checked_duration_since(Instant::now()) {
        let _ = stopped.recv_timeout(left);
    }
    println!("flooder opened {opened}");
}
