//! R-FLOOD: connections that never complete a request head are closed after `request_timeout`,
//! and a flood of them beyond the descriptor limit does not lock publishers and subscribers
//! out: the hub sheds the oldest incomplete connections and keeps accepting.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use serde_json::json;

use crate::harness::{uniq, Hub, HUB_PATH, WAIT};
use crate::http::{form_encode, pct, send};
use crate::ports::free_port;
use crate::process::limit_descriptors;
use crate::sse::SseStream;
use crate::tokens;

/// The environment variable that makes the `flooder` test a flooder, holding the hub's address.
const FLOOD_TARGET: &str = "QUICKSILVER_TEST_FLOOD_TARGET";
/// What each of the flooder's connections sends (nothing when unset).
const FLOOD_SENDS: &str = "QUICKSILVER_TEST_FLOOD_SENDS";
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
    let target = Target {
        base: hub.base.clone(),
        authority: hub.authority(),
        client: hub.client.clone(),
        new_client: Box::new(plain_client),
        token: hub.publisher_token_all(),
    };
    flood_while_publishing(&target, "").await;
}

/// R-FLOOD, slowloris: the same flood of connections that each send the first bytes of a
/// request head and nothing more; they are shed too once older than their grace time.
#[tokio::test]
async fn r_flood_partial_request_heads_beyond_the_descriptor_limit_lock_nobody_out() {
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
    let target = Target {
        base: hub.base.clone(),
        authority: hub.authority(),
        client: hub.client.clone(),
        new_client: Box::new(plain_client),
        token: hub.publisher_token_all(),
    };
    flood_while_publishing(&target, "GET /.well-known/mercure?topic=").await;
}

/// R-FLOOD, over TLS: the same flood against an HTTPS hub, whose silent connections are still
/// in their TLS handshake when they are shed.
#[tokio::test]
async fn r_flood_over_tls_silent_handshakes_beyond_the_descriptor_limit_lock_nobody_out() {
    let Some(hub) = TlsHub::start(&[
        ("QUICKSILVER_REQUEST_TIMEOUT", "60s"),
        ("QUICKSILVER_METRICS", "true"),
        ("QUICKSILVER_TRANSPORT", "memory"),
    ])
    .await
    else {
        return;
    };
    let pem = hub.certificate.clone();
    let target = Target {
        base: hub.base.clone(),
        authority: hub.authority.clone(),
        client: tls_client(&pem),
        new_client: Box::new(move || tls_client(&pem)),
        token: tokens::sign_hs(
            "HS256",
            &hub.publisher_key,
            &tokens::publish_claims(json!(["*"])),
        ),
    };
    flood_while_publishing(&target, "").await;
}

/// A hub under test, as the flood scenario uses it.
struct Target {
    base: String,
    authority: String,
    /// The client of the publisher and the subscriber: its connections are open before the flood.
    client: reqwest::Client,
    /// A client of its own, which opens new connections.
    new_client: Box<dyn Fn() -> reqwest::Client>,
    /// A publisher token for every topic.
    token: String,
}

impl Target {
    fn publish_with(
        &self,
        client: &reqwest::Client,
        topic: &str,
        data: &str,
    ) -> reqwest::RequestBuilder {
        client
            .post(format!("{}{HUB_PATH}", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(&[("topic", topic), ("data", data)]))
    }

    /// Publishes on `client`, asserting success; the event's id.
    async fn publish(&self, client: &reqwest::Client, topic: &str, data: &str) -> String {
        let answer = send(self.publish_with(client, topic, data)).await;
        assert_eq!(answer.status, 200, "publishing {data:?}: {answer:?}");
        answer.body
    }

    async fn metric(&self, name: &str) -> u64 {
        let text = send(self.client.get(format!("{}/metrics", self.base)))
            .await
            .body;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    }
}

/// The flood scenario: a subscriber and a publisher keep working, and new clients get in,
/// while two processes hold connections far beyond the hub's descriptor limit, each of which
/// sends `sends` (nothing: silent) and waits.
async fn flood_while_publishing(target: &Target, sends: &str) {
    let topic = uniq("https://example.com/flood");
    let subscribe = format!("{}{HUB_PATH}?topic={}", target.base, pct(&topic));
    let mut stream = SseStream::open(target.client.get(&subscribe)).await;
    let id = target.publish(&target.client, &topic, "before").await;
    stream.expect_event(&id).await;

    let mut flooders: Vec<Child> = (0..2)
        .map(|_| spawn_flooder(&target.authority, sends))
        .collect();
    let flood_ends = Instant::now() + CHECK_FOR;
    let mut published = 0;
    while Instant::now() < flood_ends {
        let data = format!("during {published}");
        let id = target.publish(&target.client, &topic, &data).await;
        let event = stream.expect_event(&id).await;
        assert_eq!(event.data(), data);
        published += 1;
        if published % 10 == 0 {
            // A new client: its own, new connection.
            let id = target
                .publish(&(target.new_client)(), &topic, "fresh")
                .await;
            stream.expect_event(&id).await;
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

    let shed = target.metric("quicksilver_connections_shed_total").await;
    assert!(shed > 0, "the flood reached the limit and was shed");
    let id = target.publish(&target.client, &topic, "after").await;
    stream.expect_event(&id).await;
}

fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .connect_timeout(WAIT)
        .build()
        .expect("client")
}

fn tls_client(certificate: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(certificate).expect("pem"))
        .connect_timeout(WAIT)
        .build()
        .expect("client")
}

/// An HTTPS hub (the harness starts plain ones) with a fresh self-signed certificate and
/// `HUB_NOFILE` descriptors.
struct TlsHub {
    child: Child,
    dir: std::path::PathBuf,
    base: String,
    authority: String,
    certificate: Vec<u8>,
    publisher_key: String,
}

impl TlsHub {
    /// `None` (after a SKIP line) without `openssl` to make the certificate.
    async fn start(env: &[(&str, &str)]) -> Option<TlsHub> {
        let dir = std::env::temp_dir().join(format!("quicksilver-flood-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let made = crate::test_support::tls::self_signed(&dir, "flood");
        if crate::support::skip_unless(
            made.is_some(),
            "r_flood_over_tls",
            "openssl cannot make a certificate",
        ) {
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
        let certificate = std::fs::read(dir.join("flood.crt")).expect("cert");
        let port = free_port();
        let publisher_key = uniq("key");
        let log = std::fs::File::create(dir.join("hub.log")).expect("log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_quicksilver"));
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log));
        for (name, _) in std::env::vars() {
            if name.starts_with("QUICKSILVER_") || name.starts_with("MERCURE_") {
                command.env_remove(name);
            }
        }
        command
            .env("QUICKSILVER_PUBLISHER_JWT_KEY", &publisher_key)
            .env("QUICKSILVER_ANONYMOUS", "true")
            .env("QUICKSILVER_DATA_DIR", dir.join("data"))
            .env("QUICKSILVER_TLS_CERT", dir.join("flood.crt"))
            .env("QUICKSILVER_TLS_KEY", dir.join("flood.key"))
            .envs(env.iter().copied());
        limit_descriptors(&mut command, HUB_NOFILE);
        let hub = TlsHub {
            child: command.spawn().expect("spawn hub"),
            base: format!("https://127.0.0.1:{port}"),
            authority: format!("127.0.0.1:{port}"),
            dir,
            certificate,
            publisher_key,
        };
        let client = tls_client(&hub.certificate);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let health = client.get(format!("{}/healthz", hub.base)).send().await;
            if matches!(health, Ok(answer) if answer.status() == 200) {
                return Some(hub);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(hub.dir.join("hub.log")).unwrap_or_default();
        panic!("the HTTPS hub did not start: {log}");
    }
}

impl Drop for TlsHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.join("hub.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- hub log tail ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        if std::thread::panicking() {
            eprintln!("hub log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs this test binary's `flooder` test in a child process against `authority`, each of its
/// connections sending `sends`.
fn spawn_flooder(authority: &str, sends: &str) -> Child {
    let binary = std::env::current_exe().expect("test binary");
    Command::new(binary)
        .args(["flood::flooder", "--exact", "--ignored", "--nocapture"])
        .env(FLOOD_TARGET, authority)
        .env(FLOOD_SENDS, sends)
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
/// can (at most `FLOODER_OPENS`), each sending `QUICKSILVER_TEST_FLOOD_SENDS` (if set), and holds
/// them until its stdin is closed, at most
/// `FLOOD_AT_MOST`.
#[test]
#[ignore = "run by the flood test as a child process"]
fn flooder() {
    let Some(target) = std::env::var(FLOOD_TARGET).ok() else {
        eprintln!("SKIP: flooder: only runs as a child of the flood test");
        return;
    };
    let target: SocketAddr = target.parse().expect("flood target");
    let sends = std::env::var(FLOOD_SENDS).unwrap_or_default();
    let ends = Instant::now() + FLOOD_AT_MOST;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = stop.send(());
    });
    let mut held: Vec<TcpStream> = Vec::with_capacity(FLOODER_OPENS);
    while Instant::now() < ends && held.len() < FLOODER_OPENS && stopped.try_recv().is_err() {
        match TcpStream::connect_timeout(&target, Duration::from_millis(500)) {
            Ok(mut connection) => {
                // A hub that shed the connection already may refuse the bytes: no matter.
                let _ = connection.write_all(sends.as_bytes());
                held.push(connection);
            }
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
    // The parent may be gone already (a failed test): nothing to report to then.
    let _ = writeln!(std::io::stdout(), "flooder opened {opened}");
}
