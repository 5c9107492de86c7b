//! Operating the hub (issue 6): metrics, health checks, connection limits, selector length,
//! graceful shutdown, TLS with HTTP/2 and certificate reload. Protocol ids: C-MET-*, C-HEALTH-*,
//! C-LIM-3, C-SHUT-1, A-SUB-10.

use std::process::Child;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::harness::{uniq, Hub, WAIT};
use crate::http::send;
use crate::ports::free_port;
use crate::process;
use crate::sse::{End, SseStream};
use crate::tempdir::TempDir;

async fn metrics(hub: &Hub) -> String {
    let response = send(hub.client.get(hub.url("/metrics"))).await;
    assert_eq!(response.status, 200, "{response:?}");
    response.body
}

/// The value of an unlabelled sample in a Prometheus text exposition.
fn sample(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

/// Waits until `/metrics` shows `name` at `value`.
async fn wait_for_sample(hub: &Hub, name: &str, value: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = metrics(hub).await;
        if sample(&text, name) == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// C-MET-1, C-MET-2: the reference names and types; connections counted; successful publishes
/// only; subscription events not counted.
#[tokio::test]
async fn c_met_1_metrics_names_types_and_semantics() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_METRICS", "true")
        .env("QUICKSILVER_SUBSCRIPTIONS", "true")
        .start()
        .await
    else {
        return;
    };
    let text = metrics(&hub).await;
    for (name, kind) in [
        ("mercure_subscribers_connected", "gauge"),
        ("mercure_subscribers_total", "counter"),
        ("mercure_updates_total", "counter"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}: {text}"
        );
        assert_eq!(sample(&text, name), 0);
    }
    let topic = uniq("metrics");
    let mut stream = SseStream::open(hub.sub_req(&[&topic])).await;
    wait_for_sample(&hub, "mercure_subscribers_connected", 1).await;
    let id = hub.publish_ok(&[("topic", &topic)]).await;
    stream.expect_event(&id).await;
    let refused = hub.publish(&[("topic", "/.well-known/mercure/x")]).await;
    assert_eq!(refused.status, 403);
    let text = metrics(&hub).await;
    assert_eq!(sample(&text, "mercure_subscribers_total"), 1);
    assert_eq!(
        sample(&text, "mercure_updates_total"),
        1,
        "subscription events and refusals are not counted"
    );
    assert!(!text.contains(&topic), "no per-topic labels");
    drop(stream);
    wait_for_sample(&hub, "mercure_subscribers_connected", 0).await;
    assert_eq!(sample(&metrics(&hub).await, "mercure_subscribers_total"), 1);
}

/// C-MET-1: `/metrics` is served on the main listener only when `metrics` is on.
#[tokio::test]
async fn c_met_1_metrics_off_by_default() {
    let Some(hub) = Hub::builder().anonymous(true).start().await else {
        return;
    };
    send(hub.client.get(hub.url("/metrics")))
        .await
        .expect(404, "404 page not found\n");
}

/// C-HEALTH-1, C-MET-1: the admin listener serves health checks and metrics.
#[tokio::test]
async fn c_health_1_admin_listener() {
    let admin = format!("127.0.0.1:{}", free_port());
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_ADMIN_LISTEN", &admin)
        .start()
        .await
    else {
        return;
    };
    let get = |path: &str| send(hub.client.get(format!("http://{admin}{path}")));
    for path in [
        "/mercure/health/ready",
        "/mercure/health/live",
        "/mercure/health/default/ready",
        "/mercure/health/live/",
    ] {
        let response = get(path).await;
        response.expect(200, r#"{"status":"ok"}"#);
        assert_eq!(
            response.header("content-type").as_deref(),
            Some("application/json")
        );
    }
    get("/mercure/health/other/ready")
        .await
        .expect(404, "404 page not found\n");
    let post = send(
        hub.client
            .post(format!("http://{admin}/mercure/health/ready")),
    )
    .await;
    assert_eq!(post.status, 405);
    let metrics = get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .body
        .contains("# TYPE mercure_updates_total counter"));
}

/// C-LIM-3, B-SUB-8: per-address and total connection limits answer 429 with Retry-After, and a
/// freed place can be taken again.
#[tokio::test]
async fn c_lim_3_connection_limits() {
    for (variable, limit) in [
        ("QUICKSILVER_MAX_CONNECTIONS_PER_IP", 2),
        ("QUICKSILVER_MAX_CONNECTIONS", 3),
    ] {
        let Some(hub) = Hub::builder()
            .anonymous(true)
            .env(variable, &limit.to_string())
            .start()
            .await
        else {
            return;
        };
        let topic = uniq("limits");
        let mut open = Vec::new();
        for _ in 0..limit {
            open.push(SseStream::open(hub.sub_req(&[&topic])).await);
        }
        let refused = send(hub.sub_req(&[&topic])).await;
        assert_eq!(refused.status, 429, "{variable}: {refused:?}");
        assert!(refused.header("retry-after").is_some(), "{refused:?}");
        open.pop();
        let deadline = Instant::now() + WAIT;
        loop {
            let again = hub.sub_req(&[&topic]).send().await.expect("request");
            if again.status() == StatusCode::OK {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{variable}: the freed place was never reused"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A-LIM-5, C-HARD-7: selectors longer than `max_selector_length` are refused with 400.
#[tokio::test]
async fn c_hard_7_selector_length_limit() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_MAX_SELECTOR_LENGTH", "64")
        .start()
        .await
    else {
        return;
    };
    let long = format!("https://example.com/{}", "x".repeat(64));
    send(hub.sub_req(&[&long]))
        .await
        .expect(400, "Invalid \"topic\" parameter.\n");
    let short = uniq("ok");
    SseStream::open(hub.sub_req(&[&short])).await;
}

/// C-SHUT-1: on SIGTERM open streams end cleanly, after a final `:` line (at once with
/// `write_timeout` 0, else no later than `shutdown_timeout`), and the hub exits successfully.
#[tokio::test]
async fn c_shut_1_graceful_shutdown_ends_streams_cleanly() {
    for (write_timeout, bound) in [
        ("0s", Duration::from_secs(3)),
        ("600s", Duration::from_secs(5)),
    ] {
        let Some(mut hub) = Hub::builder()
            .anonymous(true)
            .env("QUICKSILVER_WRITE_TIMEOUT", write_timeout)
            .env("QUICKSILVER_SHUTDOWN_TIMEOUT", "1s")
            .start()
            .await
        else {
            return;
        };
        let topic = uniq("shutdown");
        let mut stream = SseStream::open(hub.sub_req(&[&topic])).await;
        let started = Instant::now();
        let status = hub.stop().await;
        assert!(status.success(), "exit status {status}");
        assert_eq!(
            stream.wait_end(WAIT).await,
            Some(End::Clean),
            "write_timeout {write_timeout}"
        );
        assert!(started.elapsed() < bound, "took {:?}", started.elapsed());
        assert!(
            stream.raw().ends_with("\n:\n") || stream.raw().ends_with(":\n:\n"),
            "a final `:` line before the end: {:?}",
            stream.raw()
        );
    }
}

/// C-SHUT-1: from SIGTERM on, the hub accepts no new connection (a request sent on one gets no
/// answer), while a stream that was open drains on its own deadline; a second signal ends it.
#[tokio::test]
async fn c_shut_1_no_new_connections_while_draining() {
    let Some(mut hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_WRITE_TIMEOUT", "600s")
        .env("QUICKSILVER_SHUTDOWN_TIMEOUT", "20s")
        .start()
        .await
    else {
        return;
    };
    let topic = uniq("draining");
    let mut stream = SseStream::open(hub.sub_req(&[&topic])).await;
    hub.terminate();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        answer_on_new_connection(&hub.authority()).await,
        None,
        "a new connection was served while draining"
    );
    assert_eq!(
        stream.wait_end(Duration::from_millis(200)).await,
        None,
        "the open stream drains on its own deadline"
    );
    let status = hub.stop().await;
    assert!(status.success(), "exit status {status}");
    assert_eq!(stream.wait_end(WAIT).await, Some(End::Clean));
}

/// What a new connection to `authority` answers to `GET /healthz` within a second: `None` when
/// the connection is refused, reset, closed or left unanswered.
async fn answer_on_new_connection(authority: &str) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(authority).await.ok()?;
        let request =
            format!("GET /healthz HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut answer = vec![0; 256];
        let read = tcp.read(&mut answer).await.ok()?;
        answer.truncate(read);
        (read > 0).then_some(answer)
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}

/// A hub serving HTTPS, started directly (the harness polls plain HTTP).
pub(crate) struct TlsHub {
    child: Child,
    dir: TempDir,
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
}

impl Drop for TlsHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn self_signed(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    crate::support::tls::self_signed(dir, name).expect("openssl req")
}

async fn start_tls_hub(publisher_key: &str) -> TlsHub {
    start_tls_hub_with(publisher_key, &[]).await
}

/// A hub serving HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with more `QUICKSILVER_*` settings.
pub(crate) async fn start_tls_hub_with(publisher_key: &str, env: &[(&str, &str)]) -> TlsHub {
    let dir = TempDir::new("quicksilver-tls");
    let (cert, key) = self_signed(dir.path(), "first");
    std::fs::copy(&cert, dir.join("live.crt")).expect("copy");
    std::fs::copy(&key, dir.join("live.key")).expect("copy");
    let port = free_port();
    let mut command = process::serve(dir.path(), port);
    command
        .env("QUICKSILVER_PUBLISHER_JWT_KEY", publisher_key)
        .env("QUICKSILVER_ANONYMOUS", "true")
        .env("QUICKSILVER_TLS_CERT", dir.join("live.crt"))
        .env("QUICKSILVER_TLS_KEY", dir.join("live.key"));
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command.spawn().expect("spawn hub");
    let pem = std::fs::read(&cert).expect("cert");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .tls_info(true)
        .build()
        .expect("client");
    let hub = TlsHub {
        child,
        dir,
        base: format!("https://127.0.0.1:{port}"),
        client,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(response) = hub.client.get(format!("{}/healthz", hub.base)).send().await {
            if response.status() == StatusCode::OK {
                return hub;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "TLS hub did not answer; log:\n{}",
        process::log(hub.dir.path())
    );
}

fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
        .expect("TLS info")
}

/// A-SUB-10, A-SSE-3: HTTPS with HTTP/1.1 only (no ALPN h2): the stream is served by the
/// portable path (the direct socket writer handles plain TCP only) and delivers as usual.
#[tokio::test]
async fn a_sub_10_http1_over_tls_streams_events() {
    if crate::harness::skip_if_external() {
        return;
    }
    let key = format!("{}", uuid::Uuid::new_v4().simple()).repeat(2);
    let hub = start_tls_hub(&key).await;
    let pem = std::fs::read(hub.dir.join("live.crt")).expect("cert");
    let http1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .http1_only()
        .build()
        .expect("client");
    let topic = uniq("tls-h1");
    let url = format!(
        "{}/.well-known/mercure?topic={}",
        hub.base,
        crate::http::pct(&topic)
    );
    let mut stream = SseStream::open(http1.get(&url)).await;
    assert_eq!(stream.header("connection").as_deref(), Some("keep-alive"));
    let token = crate::tokens::sign_hs(
        "HS256",
        &key,
        &crate::tokens::publish_claims(serde_json::json!(["*"])),
    );
    for data in ["one", "two"] {
        let response = http1
            .post(format!("{}/.well-known/mercure", hub.base))
            .bearer_auth(&token)
            .form(&[("topic", topic.as_str()), ("data", data)])
            .send()
            .await
            .expect("publish");
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        let id = response.text().await.expect("id");
        assert_eq!(stream.expect_event(&id).await.data(), data);
    }
}

/// A-SUB-10, B-SUB-12: HTTPS with HTTP/2 (ALPN); subscribe and publish over h2; SIGHUP reloads
/// the certificate for new connections without dropping an open stream.
#[tokio::test]
async fn a_sub_10_tls_http2_and_certificate_reload() {
    if crate::harness::skip_if_external() {
        return;
    }
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let hub = start_tls_hub(&key).await;
    let topic = uniq("tls");
    let url = format!(
        "{}/.well-known/mercure?topic={}",
        hub.base,
        crate::http::pct(&topic)
    );
    let subscription = hub.client.get(&url);
    let mut stream = SseStream::open(subscription).await;
    let token = crate::tokens::sign_hs(
        "HS256",
        &key,
        &crate::tokens::publish_claims(serde_json::json!(["*"])),
    );
    let publish = |data: &'static str| {
        hub.client
            .post(format!("{}/.well-known/mercure", hub.base))
            .bearer_auth(&token)
            .form(&[("topic", topic.as_str()), ("data", data)])
            .send()
    };
    let first = publish("before reload").await.expect("publish");
    assert_eq!(
        first.version(),
        reqwest::Version::HTTP_2,
        "ALPN must select h2"
    );
    let old_certificate = peer_certificate(&first);
    let id = first.text().await.expect("id");
    assert_eq!(stream.expect_event(&id).await.data(), "before reload");

    let (cert, key_file) = self_signed(hub.dir.path(), "second");
    std::fs::copy(&cert, hub.dir.join("live.crt")).expect("copy");
    std::fs::copy(&key_file, hub.dir.join("live.key")).expect("copy");
    // SAFETY: kill(2) on our own child.
    let rc = unsafe { libc::kill(hub.child.id() as libc::pid_t, libc::SIGHUP) };
    assert_eq!(rc, 0);
    let pem = std::fs::read(&cert).expect("cert");
    let fresh_client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .tls_info(true)
        .build()
        .expect("client");
    let deadline = Instant::now() + WAIT;
    let new_certificate = loop {
        if let Ok(response) = fresh_client
            .get(format!("{}/healthz", hub.base))
            .send()
            .await
        {
            break peer_certificate(&response);
        }
        assert!(
            Instant::now() < deadline,
            "the reloaded certificate was never presented"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_ne!(new_certificate, old_certificate);
    let second = publish("after reload")
        .await
        .expect("publish on the old connection");
    let id = second.text().await.expect("id");
    assert_eq!(
        stream.expect_event(&id).await.data(),
        "after reload",
        "the open stream survives the reload"
    );
}
