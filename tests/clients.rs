//! Real clients against the real hub binary: headless Chromium (native `EventSource`, restart and
//! resume, cookie, CORS, the debugger UI; the same as a Mercure 1.0 client; gzip and zstd
//! streams), Node's `eventsource` package, the Symfony Mercure component (PHP), and NGINX as a
//! reverse proxy in front of the hub (compressed streams included).
//!
//! Each test starts `quicksilver serve` on a free port in a temporary directory, then runs the
//! client as a child process (`node --test`, `php`, `nginx`) and asserts its exit status. A test
//! whose tool is not installed prints `SKIP: …` and passes: `bash .ci/run` installs everything.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use support::ports::free_port;
use support::process::HubProcess;
use support::tempdir::TempDir;

/// The shared secret of the test hubs (publisher and subscriber keys alike).
const KEY: &str = "clients-test-secret-0123456789abcdef0123456789";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn browser_dir() -> PathBuf {
    repo().join("tests").join("browser")
}

// ---- Skipping when a tool is absent -----------------------------------------------------------

fn skip(tool: &str) {
    // Written to the real stderr, past the test harness's output capture, so that a skipped
    // client test is visible in a plain `cargo test` run.
    let stars = "*".repeat(78);
    let message =
        format!("\n{stars}\nSKIP: {tool} not installed (bash .ci/run installs it)\n{stars}\n");
    let _ = std::io::stderr().write_all(message.as_bytes());
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// `node` and `tests/browser/node_modules/<package>`, or a SKIP message.
fn node_with(package: &str) -> bool {
    if !runs("node", &["--version"]) {
        skip("node");
        return false;
    }
    if !browser_dir().join("node_modules").join(package).exists() {
        skip(&format!(
            "tests/browser/node_modules/{package} (npm ci --prefix tests/browser)"
        ));
        return false;
    }
    true
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        Some(path)
    } else {
        skip("chromium");
        None
    }
}

fn nginx() -> Option<PathBuf> {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"] {
        if Path::new(candidate).exists() {
            return Some(PathBuf::from(candidate));
        }
    }
    if runs("nginx", &["-v"]) {
        return Some(PathBuf::from("nginx"));
    }
    skip("nginx");
    None
}

// ---- The hub and its restart control -----------------------------------------------------------

/// A hub with the test key, on a fixed port and data directory, restartable, killed on drop.
fn start_hub(env: &[(&str, &str)]) -> HubProcess {
    let mut all = vec![
        ("QUICKSILVER_PUBLISHER_JWT_KEY", KEY),
        ("QUICKSILVER_SUBSCRIBER_JWT_KEY", KEY),
    ];
    all.extend_from_slice(env);
    HubProcess::start("qs-clients-hub", &all)
}

/// A tiny HTTP control endpoint for the Node tests: `POST /restart` restarts the hub and answers
/// once it is healthy again.
struct Control {
    url: String,
    stop: Arc<Mutex<bool>>,
    port: u16,
}

impl Control {
    fn start(hub: Weak<Mutex<HubProcess>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the control port");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(Mutex::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if *stopped.lock().unwrap() {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let mut request_line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Skip the headers.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let hub = hub.upgrade();
                let status =
                    if let (true, Some(hub)) = (request_line.starts_with("POST /restart "), hub) {
                        hub.lock().unwrap().restart();
                        "204 No Content"
                    } else {
                        "404 Not Found"
                    };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            port,
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        *self.stop.lock().unwrap() = true;
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Waits until `child` listens on `port`; panics with its `log` file if it exits first or takes
/// longer than `limit`.
fn wait_listening(what: &str, child: &mut Child, port: u16, limit: Duration, log: &Path) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{what} exited with {status}:\n{log}");
        }
        assert!(Instant::now() < deadline, "{what} never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- Running the clients ------------------------------------------------------------------------

/// Runs a client to completion (bounded by `limit`) and panics with its output unless it succeeds.
fn run_client(mut command: Command, what: &str, limit: Duration, hub_log: impl Fn() -> String) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = Output {
        status: status.unwrap_or_else(|| child.wait().unwrap()),
        stdout: out.join().unwrap().into_bytes(),
        stderr: err.join().unwrap().into_bytes(),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if status.is_none() || !output.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- hub log ---\n{}",
            if status.is_none() {
                format!("killed after {limit:?}")
            } else {
                output.status.to_string()
            },
            hub_log()
        );
    }
    // Visible with --nocapture; the test runner's summary lines show what ran.
    println!("{stdout}{stderr}");
}

fn node_test(files: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new("node");
    command
        .current_dir(browser_dir())
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(files);
    for (name, _) in std::env::vars() {
        if name.starts_with("QUICKSILVER_") || name.starts_with("MERCURE_") {
            command.env_remove(name);
        }
    }
    command.env("HUB_KEY", KEY);
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

// ---- The tests ----------------------------------------------------------------------------------

/// Chromium: native EventSource, resume across a hub restart, cookie authorization, CORS from
/// another origin, and the debugger UI clicked through (screenshots in target/browser-results/).
#[test]
fn browser() {
    if !node_with("playwright-core") {
        return;
    }
    let Some(chromium) = chromium() else { return };
    let static_port = free_port();
    let static_origin = format!("http://127.0.0.1:{static_port}");
    let hub = start_hub(&[
        ("QUICKSILVER_UI", "true"),
        ("QUICKSILVER_ANONYMOUS", "true"),
        ("QUICKSILVER_SUBSCRIPTIONS", "true"),
        ("QUICKSILVER_CORS_ORIGINS", &static_origin),
        ("QUICKSILVER_HEARTBEAT", "5s"),
    ]);
    let hub_url = hub.url();
    let hub = Arc::new(Mutex::new(hub));
    let control = Control::start(Arc::downgrade(&hub));
    let results = repo().join("target").join("browser-results");
    std::fs::create_dir_all(&results).expect("create target/browser-results");
    let command = node_test(
        &["browser.test.js", "ui.test.js", "restart.test.js"],
        &[
            ("HUB_URL", hub_url),
            ("CONTROL_URL", control.url.clone()),
            ("STATIC_PORT", static_port.to_string()),
            ("CHROMIUM_PATH", chromium.display().to_string()),
            ("RESULTS_DIR", results.display().to_string()),
        ],
    );
    let log_hub = hub.clone();
    run_client(
        command,
        "node --test (Chromium)",
        Duration::from_secs(150),
        || log_hub.lock().map(|h| h.log()).unwrap_or_default(),
    );
}

/// The development key of the reference hub (also the debugger's pre-filled token's key).
const DEV_KEY: &str = "!ChangeThisMercureHubJWTSecretKey!";

/// Chromium as a Mercure 1.0 client (issue #19, ../shared/protocol.md Part B), against a hub
/// configured with nothing but the development key for both roles, anonymous subscribers and the
/// resource identifier: 1.0 tokens come from the default trusted issuer `https://localhost`
/// . `tests/browser/v1.test.js`: a `match_urlpattern` EventSource authorized by the
/// `__Secure-mercure_access_token` cookie (B-AUTH-5) receives private updates published with a
/// 1.0 token and catches up exactly across a hub restart with `Last-Event-ID` (B-HIST-2, X-7);
/// `fetch` reads `Mercure-Last-Event-ID` (B-HIST-7, X-8); the reference's browser conformance
/// cases in the 1.0 dialect (B-MT) next to classic `topic` subscribers on the same hub.
#[test]
fn browser_v1() {
    if !node_with("playwright-core") {
        return;
    }
    let Some(chromium) = chromium() else { return };
    let resource = "https://localhost/.well-known/mercure";
    let hub = HubProcess::start(
        "qs-clients-v1",
        &[
            ("QUICKSILVER_PUBLISHER_JWT_KEY", DEV_KEY),
            ("QUICKSILVER_SUBSCRIBER_JWT_KEY", DEV_KEY),
            ("QUICKSILVER_ANONYMOUS", "true"),
            ("QUICKSILVER_RESOURCE_IDENTIFIER", resource),
        ],
    );
    let hub_url = hub.url();
    let hub = Arc::new(Mutex::new(hub));
    let control = Control::start(Arc::downgrade(&hub));
    let mut command = node_test(
        &["v1.test.js"],
        &[
            ("HUB_URL", hub_url),
            ("CONTROL_URL", control.url.clone()),
            ("RESOURCE_IDENTIFIER", resource.to_owned()),
            ("CHROMIUM_PATH", chromium.display().to_string()),
        ],
    );
    command.env("HUB_KEY", DEV_KEY);
    let log_hub = hub.clone();
    run_client(
        command,
        "node --test (Chromium, Mercure 1.0)",
        Duration::from_secs(150),
        || log_hub.lock().map(|h| h.log()).unwrap_or_default(),
    );
}

// ---- Compressed streams in Chromium ------------------------------------------------------------

/// The settings of the compressed-stream hubs: `compression = "auto"`, and streams that end on
/// their own after a few seconds so that Chromium reconnects and resumes from compressed history.
const COMPRESSED: [(&str, &str); 2] = [
    ("QUICKSILVER_COMPRESSION", "auto"),
    ("QUICKSILVER_WRITE_TIMEOUT", "8s"),
];

/// `tests/browser/compression.test.js` against the hub at `hub_url`, expecting `encoding`.
fn compressed_in_chromium(
    chromium: &Path,
    hub_url: String,
    encoding: &str,
    hub_log: impl Fn() -> String,
) {
    let mut command = node_test(
        &["compression.test.js"],
        &[
            ("HUB_URL", hub_url.clone()),
            ("ENCODING", encoding.to_owned()),
            ("CHROMIUM_PATH", chromium.display().to_string()),
        ],
    );
    if hub_url.starts_with("https:") {
        // The test's own publishes (Node's fetch) trust the hub's self-signed certificate.
        command.env("NODE_TLS_REJECT_UNAUTHORIZED", "0");
    }
    run_client(
        command,
        &format!("node --test (Chromium, {encoding})"),
        Duration::from_secs(120),
        hub_log,
    );
}

/// C-HDR-3, issue 21: Chromium's native `EventSource` over plain HTTP, where Chromium offers
/// `gzip, deflate` (no `br`, no `zstd`; on a loopback address it offers all four, so the page
/// reaches the hub by a name mapped to 127.0.0.1), receives a gzip stream from a hub with
/// `compression = "auto"`: small, large (deflated) and cookie-authorized private events intact
/// and in order, and after the stream's end (its trailer) a resume with `Last-Event-ID` replayed
/// from compressed history. `Content-Encoding: gzip` on every answer, fewer bytes on the wire than
/// decoded (Chromium's network events).
#[test]
fn browser_gzip_stream() {
    if !node_with("playwright-core") {
        return;
    }
    let Some(chromium) = chromium() else { return };
    let hub = start_hub(&COMPRESSED);
    compressed_in_chromium(&chromium, hub.url(), "gzip", || hub.log());
}

/// A hub serving HTTPS only (self-signed for 127.0.0.1), killed on drop.
struct TlsHub {
    child: Child,
    dir: TempDir,
    port: u16,
}

impl TlsHub {
    /// `None` (after a SKIP line) when `openssl` cannot make the certificate.
    fn start(env: &[(&str, &str)]) -> Option<Self> {
        let dir = TempDir::new("qs-clients-tls");
        let Some((cert, key)) = support::tls::self_signed(dir.path(), "hub") else {
            skip("openssl");
            return None;
        };
        let port = free_port();
        let mut command = support::process::serve(dir.path(), port);
        command
            .env("QUICKSILVER_LOG", "warn")
            .env("QUICKSILVER_PUBLISHER_JWT_KEY", KEY)
            .env("QUICKSILVER_SUBSCRIBER_JWT_KEY", KEY)
            .env("QUICKSILVER_TLS_CERT", cert)
            .env("QUICKSILVER_TLS_KEY", key)
            .envs(env.iter().copied());
        let child = command.spawn().expect("start the TLS hub");
        let mut hub = Self { child, dir, port };
        // Listening is enough: the plain-HTTP health check cannot speak TLS, and the hub binds
        // its port once it is ready to serve.
        let log = hub.dir.join("hub.log");
        let limit = Duration::from_secs(20);
        wait_listening("the TLS hub", &mut hub.child, port, limit, &log);
        Some(hub)
    }

    fn log(&self) -> String {
        support::process::log(self.dir.path())
    }
}

impl Drop for TlsHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// C-HDR-3, issue 21: over HTTPS (HTTP/2, the hub's portable path), where Chromium offers
/// `zstd`, the same as [`browser_gzip_stream`] with a zstd stream.
#[test]
fn browser_zstd_stream_over_https() {
    if !node_with("playwright-core") {
        return;
    }
    let Some(chromium) = chromium() else { return };
    let Some(hub) = TlsHub::start(&COMPRESSED) else {
        return;
    };
    let url = format!("https://127.0.0.1:{}", hub.port);
    compressed_in_chromium(&chromium, url, "zstd", || hub.log());
}

/// Node's `eventsource` package with an `Authorization` header, private updates and resume.
#[test]
fn node_eventsource() {
    if !node_with("eventsource") {
        return;
    }
    let hub = start_hub(&[("QUICKSILVER_TRANSPORT", "memory")]);
    let command = node_test(&["node.test.js"], &[("HUB_URL", hub.url())]);
    run_client(
        command,
        "node --test (eventsource)",
        Duration::from_secs(60),
        || hub.log(),
    );
}

/// The Symfony Mercure component publishes with its own token handling, as a Symfony app would.
#[test]
fn php_symfony_mercure() {
    if !runs("php", &["--version"]) {
        return skip("php");
    }
    if !Path::new("/usr/share/php/Symfony/Component/Mercure/autoload.php").exists() {
        return skip("php-symfony-mercure");
    }
    let hub = start_hub(&[("QUICKSILVER_TRANSPORT", "memory")]);
    let mut command = Command::new("php");
    command
        .arg(repo().join("tests").join("php").join("symfony_mercure.php"))
        .env("HUB_URL", hub.url())
        .env("HUB_KEY", KEY);
    run_client(
        command,
        "php symfony_mercure.php",
        Duration::from_secs(60),
        || hub.log(),
    );
}

// ---- NGINX in front ------------------------------------------------------------------------------

/// The `location` block of docs/nginx.md, as tested (the doc must contain each of these lines).
const NGINX_LOCATION: &str = "
        location /.well-known/mercure {
            proxy_pass http://quicksilver;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 3s;
        }
";

struct Nginx {
    child: Child,
    dir: TempDir,
    port: u16,
}

impl Nginx {
    /// NGINX proxying to the hub on `hub_port`, with `listen` more parameters of its `listen`
    /// (e.g. `ssl http2`) and `server` more directives in its `server`.
    fn start(binary: &Path, hub_port: u16, listen: &str, server: &str) -> Self {
        let dir = TempDir::new("qs-clients-nginx");
        let port = free_port();
        let root = dir.path().display();
        // proxy_read_timeout is 3 s here and the hub's heartbeat 1 s: only the heartbeats keep
        // an idle stream open (docs/nginx.md uses 1h/40s).
        let config = format!(
            "daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream quicksilver {{
        server 127.0.0.1:{hub_port};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port} {listen};
        server_name localhost;
{NGINX_LOCATION}
        location / {{ return 404; }}
{server}
    }}
}}
"
        );
        let config_path = dir.join("nginx.conf");
        std::fs::write(&config_path, config).expect("write nginx.conf");
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&config_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let mut nginx = Self { child, dir, port };
        let log = nginx.dir.join("error.log");
        let limit = Duration::from_secs(10);
        wait_listening("nginx", &mut nginx.child, port, limit, &log);
        nginx
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of a chunked HTTP/1.1 response (RFC 9112 §7.1), handed on as each chunk arrives.
struct Dechunked<R> {
    inner: R,
    /// Bytes left in the current chunk.
    left: usize,
    /// The last chunk was read: the connection may stay open, but the body is over.
    done: bool,
}

impl<R: BufRead> Read for Dechunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut size_line = String::new();
            if self.inner.read_line(&mut size_line)? == 0 {
                return Ok(0);
            }
            let size = size_line.trim_end().split(';').next().unwrap_or_default();
            self.left = usize::from_str_radix(size, 16).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{size:?}: {e}"))
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let wanted = buf.len().min(self.left);
        let read = self.inner.read(&mut buf[..wanted])?;
        self.left -= read;
        if self.left == 0 && read > 0 {
            // The CRLF that ends each chunk's data.
            self.inner.read_line(&mut String::new())?;
        }
        Ok(read)
    }
}

/// An event stream read line by line on a thread, de-chunked and, when the answer says
/// `Content-Encoding: gzip`, decoded.
struct Stream {
    /// Each line, or the error that ended the stream (a bad chunk or an invalid gzip stream).
    lines: mpsc::Receiver<Result<String, String>>,
    status: u16,
    headers: String,
}

impl Stream {
    /// `GET target` on `port` with more request header lines (`Name: value`).
    fn open(port: u16, target: &str, headers: &[&str]) -> Self {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        write!(
            socket,
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n{extra}\r\n"
        )
        .expect("send the request");
        let mut reader = BufReader::new(socket);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read the head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let lower = head.to_ascii_lowercase();
        let body: Box<dyn Read + Send> = if lower.contains("transfer-encoding: chunked") {
            Box::new(Dechunked {
                inner: reader,
                left: 0,
                done: false,
            })
        } else {
            Box::new(reader)
        };
        let body: Box<dyn Read + Send> = if lower.contains("content-encoding: gzip") {
            Box::new(flate2::read::GzDecoder::new(body))
        } else {
            body
        };
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut body = BufReader::new(body);
            let mut line = String::new();
            loop {
                let message = match body.read_line(&mut line) {
                    Ok(0) => return,
                    Ok(_) => Ok(line.trim_end_matches(['\r', '\n']).to_owned()),
                    Err(e) => Err(e.to_string()),
                };
                line.clear();
                let failed = message.is_err();
                if sender.send(message).is_err() || failed {
                    return;
                }
            }
        });
        Self {
            lines,
            status,
            headers: head,
        }
    }

    /// The next line, `None` after `timeout` or when the stream ended.
    fn line(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()?.ok()
    }

    /// Waits (up to `timeout`) for the stream to end; `Err` if it failed or did not end.
    fn end(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e),
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Timeout) => return Err("still open".into()),
            }
        }
    }

    /// The ids of the next `count` events (skipping comments), within `timeout`.
    fn ids(&self, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut ids = Vec::new();
        while ids.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.line(left) {
                Some(line) => {
                    if let Some(id) = line.strip_prefix("id: ") {
                        ids.push(id.to_owned());
                    }
                }
                None => break,
            }
        }
        ids
    }
}

fn publish(hub_port: u16, token: &str, topic: &str, id: &str) {
    publish_data(hub_port, token, topic, id, &format!("hello+{id}"));
}

/// Publishes `data`, already form-encoded.
fn publish_data(hub_port: u16, token: &str, topic: &str, id: &str, data: &str) {
    let body = format!("topic={topic}&id={id}&data={data}");
    let mut socket = TcpStream::connect(("127.0.0.1", hub_port)).expect("connect to publish");
    write!(
        socket,
        "POST /.well-known/mercure HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("publish");
    let mut answer = String::new();
    socket.read_to_string(&mut answer).expect("publish answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "publish: {answer}");
}

fn publisher_token() -> String {
    let claims = serde_json::json!({"mercure": {"publish": ["*"], "subscribe": ["*"]}});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(KEY.as_bytes()).expect("an HMAC key"),
    )
    .expect("sign a token")
}

/// NGINX in front, configured as docs/nginx.md says: events stream through unbuffered, the
/// hub's heartbeats keep idle streams open past `proxy_read_timeout`, and `Last-Event-ID`
/// reaches the hub so that a reconnecting client resumes without loss.
#[test]
fn nginx_reverse_proxy() {
    let Some(binary) = nginx() else { return };
    let doc = std::fs::read_to_string(repo().join("docs").join("nginx.md")).expect("docs/nginx.md");
    for line in NGINX_LOCATION
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        if line.starts_with("proxy_read_timeout") {
            continue; // shortened here so that the test is quick
        }
        assert!(
            doc.contains(line),
            "docs/nginx.md lacks the tested line {line:?}"
        );
    }
    let hub = start_hub(&[
        ("QUICKSILVER_TRANSPORT", "memory"),
        ("QUICKSILVER_HEARTBEAT", "1s"),
        ("QUICKSILVER_ANONYMOUS", "true"),
    ]);
    let nginx = Nginx::start(&binary, hub.port(), "", "");
    let token = publisher_token();
    let topic = "https://example.com/proxied";
    let target = "/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fproxied";

    // Streaming: each event arrives through the proxy on its own, promptly.
    let stream = Stream::open(nginx.port, target, &[]);
    assert_eq!(
        stream.status,
        200,
        "{}\n{}\n{}",
        stream.headers,
        nginx.log(),
        hub.log()
    );
    assert!(
        stream
            .headers
            .to_ascii_lowercase()
            .contains("text/event-stream"),
        "{}",
        stream.headers
    );
    // The opening comment, flushed at once.
    assert_eq!(
        stream.line(Duration::from_secs(5)).as_deref(),
        Some(":"),
        "the stream's opening comment must pass through unbuffered"
    );
    for id in ["p-1", "p-2"] {
        let sent = Instant::now();
        publish(hub.port(), &token, topic, id);
        assert_eq!(stream.ids(1, Duration::from_secs(2)), vec![id.to_owned()]);
        assert!(
            sent.elapsed() < Duration::from_millis(1500),
            "the proxy held the event back"
        );
    }

    // Heartbeats: idle for longer than proxy_read_timeout (3 s), the stream stays open.
    let idle_until = Instant::now() + Duration::from_secs(4);
    let mut heartbeats = 0;
    while Instant::now() < idle_until {
        match stream.line(Duration::from_millis(500)) {
            Some(line) if line.starts_with(':') => heartbeats += 1,
            Some(_) => {}
            None => {}
        }
    }
    assert!(
        heartbeats >= 2,
        "expected heartbeats through the proxy, got {heartbeats}"
    );
    publish(hub.port(), &token, topic, "p-3");
    assert_eq!(
        stream.ids(1, Duration::from_secs(3)),
        vec!["p-3".to_owned()],
        "the idle stream survived proxy_read_timeout thanks to heartbeats\n{}",
        nginx.log()
    );
    drop(stream);

    // Resume: events published while disconnected are replayed after Last-Event-ID.
    publish(hub.port(), &token, topic, "p-4");
    publish(hub.port(), &token, topic, "p-5");
    let resumed = Stream::open(nginx.port, target, &["Last-Event-ID: p-3"]);
    assert_eq!(resumed.status, 200);
    assert!(
        resumed.headers.contains("p-3"),
        "Last-Event-ID echoed back through the proxy: {}",
        resumed.headers
    );
    assert_eq!(
        resumed.ids(2, Duration::from_secs(3)),
        vec!["p-4".to_owned(), "p-5".to_owned()]
    );
}

/// NGINX's own compression, switched on for event streams as a careless configuration would: it
/// must leave the hub's compressed stream alone. `/probe` shows that it does compress a plain one.
const NGINX_GZIP: &str = "
        gzip on;
        gzip_types text/event-stream;
        gzip_min_length 1;
        location = /probe {
            default_type text/event-stream;
            return 200 \"data: an uncompressed event stream that NGINX compresses itself\\n\\n\";
        }
";

/// A form-encoded event body of about 1.5 KB, compressible: above `compression_min_size`.
fn large_data(n: usize) -> String {
    (0..60)
        .map(|i| format!("book-{n}-{i}+title+{i}+"))
        .collect()
}

/// C-HDR-3, issue 21: NGINX in front (the tested `location` of docs/nginx.md, with its `gzip` on
/// for `text/event-stream`) passes the hub's gzip stream through: the client that sends
/// `Accept-Encoding: gzip` gets `Content-Encoding: gzip` once (NGINX never compresses a response
/// that has a `Content-Encoding`), each event arrives and decodes before the next is published,
/// small and large alike, and when the hub ends the stream its gzip trailer is valid.
#[test]
fn nginx_passes_compressed_streams_through() {
    let Some(binary) = nginx() else { return };
    let hub = start_hub(&[
        ("QUICKSILVER_TRANSPORT", "memory"),
        ("QUICKSILVER_ANONYMOUS", "true"),
        ("QUICKSILVER_COMPRESSION", "auto"),
        // Heartbeats keep the stream open past proxy_read_timeout (3 s) until the hub ends it.
        ("QUICKSILVER_HEARTBEAT", "1s"),
        ("QUICKSILVER_WRITE_TIMEOUT", "5s"),
    ]);
    let nginx = Nginx::start(&binary, hub.port(), "", NGINX_GZIP);
    let probe = Stream::open(nginx.port, "/probe", &["Accept-Encoding: gzip"]);
    assert!(
        probe.headers.contains("Content-Encoding: gzip"),
        "NGINX's gzip is on for event streams: {}",
        probe.headers
    );

    let token = publisher_token();
    let topic = "https://example.com/compressed";
    let target = "/.well-known/mercure?topic=https%3A%2F%2Fexample.com%2Fcompressed";
    let stream = Stream::open(nginx.port, target, &["Accept-Encoding: gzip"]);
    assert_eq!(stream.status, 200, "{}\n{}", stream.headers, nginx.log());
    let encodings = stream
        .headers
        .to_ascii_lowercase()
        .matches("content-encoding: gzip")
        .count();
    assert_eq!(encodings, 1, "compressed once: {}", stream.headers);
    assert_eq!(stream.line(Duration::from_secs(5)).as_deref(), Some(":"));
    let events = [
        ("z-1", "small".to_owned()),
        ("z-2", large_data(2)),
        ("z-3", "small+again".to_owned()),
        ("z-4", large_data(4)),
    ];
    for (id, data) in &events {
        publish_data(hub.port(), &token, topic, id, data);
        let lines: Vec<String> = std::iter::from_fn(|| stream.line(Duration::from_secs(3)))
            .filter(|line| !line.starts_with(':'))
            .take(3)
            .collect();
        let expected = [
            format!("id: {id}"),
            format!("data: {}", data.replace('+', " ")),
            String::new(),
        ];
        assert_eq!(
            lines, expected,
            "{id} arrives decoded before the next is published"
        );
    }
    // The hub ends the stream (write_timeout): GzDecoder checks the trailer's CRC-32 and length.
    assert_eq!(
        stream.end(Duration::from_secs(10)),
        Ok(()),
        "a valid gzip end through NGINX\n{}",
        nginx.log()
    );
}

/// C-HDR-3, issue 21: Chromium through NGINX terminating TLS (HTTP/2 to the browser, HTTP/1.1
/// to the hub, the tested `location` of docs/nginx.md): the browser's `Accept-Encoding` reaches
/// the hub, which answers in zstd, and NGINX passes the stream through: the same checks as
/// [`browser_zstd_stream_over_https`], publishes going through NGINX too.
#[test]
fn browser_zstd_stream_through_nginx() {
    if !node_with("playwright-core") {
        return;
    }
    let Some(chromium) = chromium() else { return };
    let Some(binary) = nginx() else { return };
    let hub = start_hub(&[
        COMPRESSED[0],
        COMPRESSED[1],
        // Heartbeats keep the stream open past the test's proxy_read_timeout (3 s).
        ("QUICKSILVER_HEARTBEAT", "1s"),
    ]);
    let Some((cert, key)) = support::tls::self_signed(hub.dir().path(), "nginx") else {
        return skip("openssl");
    };
    let certificates = format!(
        "ssl_certificate {};\n        ssl_certificate_key {};",
        cert.display(),
        key.display()
    );
    let nginx = Nginx::start(&binary, hub.port(), "ssl http2", &certificates);
    let url = format!("https://127.0.0.1:{}", nginx.port);
    compressed_in_chromium(&chromium, url, "zstd", || {
        format!("{}\n--- nginx ---\n{}", hub.log(), nginx.log())
    });
}
