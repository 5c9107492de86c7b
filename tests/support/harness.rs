//! The spec and fault suites' hub: started by the test (or an external one, `SPEC_HUB_URL`),
//! stopped, killed and restarted on the same port and data, with small async HTTP helpers.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};

use super::http::{form_encode, send, Resp};

use super::ports::free_port;
use super::process::{limit_descriptors, log_tail, serve};
use super::tempdir::TempDir;

/// Generous timeout for anything that is expected to happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// The hub URL path (A-EP-1).
pub const HUB_PATH: &str = "/.well-known/mercure";

/// Name of the running test (libtest names the test thread after the test).
pub fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unknown-test")
        .to_string()
}

/// A topic nobody else uses: `https://example.com/{label}/{uuid}`.
pub fn uniq(label: &str) -> String {
    format!("https://example.com/{label}/{}", uuid::Uuid::new_v4())
}

fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn external_url() -> Option<String> {
    std::env::var("SPEC_HUB_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/').to_string())
}

/// A running hub: either a child process owned by this test or the external hub.
pub struct Hub {
    pub base: String,
    pub publisher_key: String,
    pub publisher_alg: String,
    pub subscriber_key: Option<String>,
    pub subscriber_alg: String,
    pub client: reqwest::Client,
    process: Option<HubProcess>,
}

/// A hub child process; the temp directory and port survive `stop`/`kill9`/`restart`.
struct HubProcess {
    /// `None` while stopped.
    child: Option<Child>,
    /// Kept, with `hub.log`, when the test fails.
    dir: TempDir,
    port: u16,
    /// The configuration it was started with, for restarts.
    spec: HubBuilder,
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("hub log kept in {}", self.dir.join("hub.log").display());
            eprintln!("--- hub log tail ---\n{}", log_tail(self.dir.path(), 40));
        }
    }
}

/// Configuration of a hub started by a test.
#[derive(Clone)]
pub struct HubBuilder {
    anonymous: bool,
    env: Vec<(String, String)>,
    publisher_key: Option<String>,
    subscriber_key: Option<String>,
    publisher_alg: Option<String>,
    subscriber_alg: Option<String>,
    custom_keys: bool,
    /// The hub process's `RLIMIT_NOFILE` (soft and hard), when set.
    nofile: Option<u64>,
}

impl HubBuilder {
    pub fn anonymous(mut self, on: bool) -> Self {
        self.anonymous = on;
        self
    }

    /// Any other `QUICKSILVER_*` setting.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn publisher_key(mut self, key: Option<&str>, alg: Option<&str>) -> Self {
        self.publisher_key = key.map(str::to_string);
        self.publisher_alg = alg.map(str::to_string);
        self.custom_keys = true;
        self
    }

    pub fn subscriber_key(mut self, key: Option<&str>, alg: Option<&str>) -> Self {
        self.subscriber_key = key.map(str::to_string);
        self.subscriber_alg = alg.map(str::to_string);
        self.custom_keys = true;
        self
    }

    /// Starts the hub with at most `limit` open descriptors (`RLIMIT_NOFILE`).
    #[allow(dead_code)] // used by the fault suite (tests/faults), which shares this harness
    pub fn nofile(mut self, limit: u64) -> Self {
        self.nofile = Some(limit);
        self
    }

    fn external_compatible(&self) -> bool {
        self.anonymous && self.env.is_empty() && !self.custom_keys && self.nofile.is_none()
    }

    /// Starts the hub; `None` (after printing a SKIP line) in external mode when this
    /// configuration differs from the one an external hub is assumed to have.
    pub async fn start(self) -> Option<Hub> {
        if let Some(base) = external_url() {
            if !self.external_compatible() {
                skip_external();
                return None;
            }
            return Some(Hub::external(base));
        }
        for _ in 0..3 {
            match self.spawn().await {
                Ok(hub) => return Some(hub),
                Err(SpawnError::PortInUse) => continue,
                Err(SpawnError::Failed(msg)) => panic!("{msg}"),
            }
        }
        panic!("could not find a free port for the hub");
    }

    /// Starts the hub expecting it to refuse to start. `None` in external mode.
    pub async fn start_expect_failure(self) -> Option<(ExitStatus, String)> {
        if external_url().is_some() {
            skip_external();
            return None;
        }
        let (mut child, dir, port) = self.spawn_child();
        let client = http_client();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some((status, super::process::log(dir.path())));
            }
            if healthy(&client, port).await {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "hub started although it should have refused to; log: {}",
                    log_tail(dir.path(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("hub neither started nor exited within 15 s");
    }

    fn spawn_child(&self) -> (Child, TempDir, u16) {
        let port = free_port();
        let dir = TempDir::new("quicksilver-spec");
        let child = self.spawn_at(&dir, port);
        (child, dir, port)
    }

    /// Starts the binary on `port` in `dir` (data in `dir/data`, log appended to `dir/hub.log`).
    fn spawn_at(&self, dir: &TempDir, port: u16) -> Child {
        let mut cmd = serve(dir.path(), port);
        cmd.env("QUICKSILVER_ANONYMOUS", self.anonymous.to_string());
        // Optional: run the whole suite on another history transport.
        if let Ok(t) = std::env::var("SPEC_TRANSPORT") {
            if t == "redis" {
                // A shared Redis (SPEC_REDIS_URL) with one key prefix per hub, derived from its
                // temporary directory so that a restart finds the same history.
                if let Ok(url) = std::env::var("SPEC_REDIS_URL") {
                    cmd.env("QUICKSILVER_REDIS_URL", url);
                }
                let name = dir
                    .path()
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
                cmd.env(
                    "QUICKSILVER_REDIS_KEY_PREFIX",
                    name.unwrap_or_else(|| "quicksilver-spec".into()),
                );
            }
            cmd.env("QUICKSILVER_TRANSPORT", t);
        }
        let pairs = [
            ("QUICKSILVER_PUBLISHER_JWT_KEY", &self.publisher_key),
            ("QUICKSILVER_PUBLISHER_JWT_ALG", &self.publisher_alg),
            ("QUICKSILVER_SUBSCRIBER_JWT_KEY", &self.subscriber_key),
            ("QUICKSILVER_SUBSCRIBER_JWT_ALG", &self.subscriber_alg),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(limit) = self.nofile {
            limit_descriptors(&mut cmd, limit);
        }
        cmd.spawn().expect("spawn quicksilver")
    }

    async fn spawn(&self) -> Result<Hub, SpawnError> {
        let (mut child, dir, port) = self.spawn_child();
        let client = http_client();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                let tail = log_tail(dir.path(), 40);
                if tail.to_lowercase().contains("in use") {
                    return Err(SpawnError::PortInUse);
                }
                return Err(SpawnError::Failed(format!(
                    "hub exited during startup ({status}); log {}:\n{tail}",
                    dir.join("hub.log").display()
                )));
            }
            if healthy(&client, port).await {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SpawnError::Failed(format!(
                    "hub did not answer /healthz within 15 s; log {}:\n{}",
                    dir.join("hub.log").display(),
                    log_tail(dir.path(), 40)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Hub {
            base: format!("http://127.0.0.1:{port}"),
            publisher_key: self.publisher_key.clone().unwrap_or_default(),
            publisher_alg: self.publisher_alg.clone().unwrap_or("HS256".into()),
            subscriber_key: self.subscriber_key.clone(),
            subscriber_alg: self.subscriber_alg.clone().unwrap_or("HS256".into()),
            client,
            process: Some(HubProcess {
                child: Some(child),
                dir,
                port,
                spec: self.clone(),
            }),
        })
    }
}

enum SpawnError {
    PortInUse,
    Failed(String),
}

fn skip_external() {
    eprintln!(
        "SKIP {}: needs its own hub configuration (external mode)",
        test_name()
    );
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn healthy(client: &reqwest::Client, port: u16) -> bool {
    let req = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(1));
    matches!(req.send().await, Ok(r) if r.status() == StatusCode::OK)
}

impl Hub {
    pub fn builder() -> HubBuilder {
        HubBuilder {
            anonymous: false,
            env: Vec::new(),
            publisher_key: Some(random_secret()),
            subscriber_key: Some(random_secret()),
            publisher_alg: None,
            subscriber_alg: None,
            custom_keys: false,
            nofile: None,
        }
    }

    /// The configuration every external hub has: anonymous on, defaults otherwise.
    pub async fn start_default() -> Hub {
        Hub::builder()
            .anonymous(true)
            .start()
            .await
            .expect("default hub")
    }

    fn external(base: String) -> Hub {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.is_empty());
        Hub {
            base,
            publisher_key: var("SPEC_PUBLISHER_JWT_KEY").expect("SPEC_PUBLISHER_JWT_KEY"),
            publisher_alg: var("SPEC_PUBLISHER_JWT_ALG").unwrap_or("HS256".into()),
            subscriber_key: var("SPEC_SUBSCRIBER_JWT_KEY"),
            subscriber_alg: var("SPEC_SUBSCRIBER_JWT_ALG").unwrap_or("HS256".into()),
            client: http_client(),
            process: None,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    /// `host:port` of the hub.
    pub fn authority(&self) -> String {
        self.base
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }

    /// A request on the hub URL with an already encoded query string (may be empty).
    pub fn hub_req(&self, method: Method, query: &str) -> RequestBuilder {
        let sep = if query.is_empty() { "" } else { "?" };
        self.client
            .request(method, self.url(&format!("{HUB_PATH}{sep}{query}")))
    }

    /// `GET` on the hub URL with `topic` parameters.
    pub fn sub_req(&self, topics: &[&str]) -> RequestBuilder {
        let pairs: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", *t)).collect();
        self.hub_req(Method::GET, &form_encode(&pairs))
    }

    /// A publish request with the given form fields and token (header), not yet sent.
    pub fn pub_req(&self, token: Option<&str>, fields: &[(&str, &str)]) -> RequestBuilder {
        let mut rb = self
            .hub_req(Method::POST, "")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(fields));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    /// Publishes with a token allowed to publish everywhere.
    pub async fn publish(&self, fields: &[(&str, &str)]) -> Resp {
        let token = self.publisher_token_all();
        send(self.pub_req(Some(&token), fields)).await
    }

    /// Publishes and asserts success; returns the id.
    pub async fn publish_ok(&self, fields: &[(&str, &str)]) -> String {
        let r = self.publish(fields).await;
        assert_eq!(r.status, 200, "publish {fields:?} failed: {r:?}");
        r.body
    }
}

/// Whether this run targets an external hub (`SPEC_HUB_URL`).
pub fn external_mode() -> bool {
    external_url().is_some()
}

/// Prints the SKIP line and returns true in external mode (for tests that restart the hub or
/// need a configuration an external hub does not have).
pub fn skip_if_external() -> bool {
    if external_mode() {
        skip_external();
        return true;
    }
    false
}

/// Restarting, stopping and killing a hub started by the test (not available in external mode).
/// The temporary directory (so the data dir and `hub.log`) and the port are kept.
impl Hub {
    fn proc_mut(&mut self) -> &mut HubProcess {
        self.process
            .as_mut()
            .expect("stop/kill/restart need a hub started by the test")
    }

    /// Everything the hub wrote to stdout/stderr so far (`None` for an external hub).
    pub fn log(&self) -> Option<String> {
        self.process
            .as_ref()
            .map(|p| super::process::log(p.dir.path()))
    }

    /// The process id of the running hub.
    pub fn pid(&self) -> Option<u32> {
        self.process
            .as_ref()
            .and_then(|p| p.child.as_ref())
            .map(Child::id)
    }

    fn signal(&mut self, sig: libc::c_int) {
        let pid = self.pid().expect("hub is not running");
        // SAFETY: plain kill(2) on our own child process id.
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// Waits for the child to exit (at most `timeout`) and returns its status.
    async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let p = self.proc_mut();
        let child = p.child.as_mut().expect("hub is not running");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                p.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "hub did not exit within {timeout:?}; log {}:\n{}",
                    p.dir.join("hub.log").display(),
                    log_tail(p.dir.path(), 40)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Graceful stop: SIGTERM, then waits (up to 30 s) for the process to exit.
    /// Open event streams keep a hub alive until their own deadline (C-SHUT-1), so close them
    /// first or start the hub with `QUICKSILVER_WRITE_TIMEOUT=0s`.
    pub async fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(30)).await
    }

    /// SIGTERM without waiting: the hub starts its graceful stop (C-SHUT-1) and may still be
    /// draining open streams when this returns.
    pub fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
    }

    /// Crash: SIGKILL, then reaps the process.
    pub async fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(10)).await;
    }

    /// Starts the hub again (after `stop` or `kill9`; a running hub is stopped first) with the
    /// same configuration, keys, data directory and port, and waits until `/healthz` answers.
    pub async fn restart(&mut self) {
        if self.pid().is_some() {
            self.stop().await;
        }
        let client = self.client.clone();
        let p = self.proc_mut();
        // The port was ours a moment ago; retry for a while if the kernel still holds it.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut child = p.spec.spawn_at(&p.dir, p.port);
            loop {
                if let Some(status) = child.try_wait().expect("try_wait") {
                    let tail = log_tail(p.dir.path(), 40);
                    if tail.to_lowercase().contains("in use") && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                    panic!("restarted hub exited ({status}); log:\n{tail}");
                }
                if healthy(&client, p.port).await {
                    p.child = Some(child);
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "restarted hub did not answer /healthz; log:\n{}",
                        log_tail(p.dir.path(), 40)
                    );
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
