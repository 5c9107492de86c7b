//! A real `redis-server` for the test suites (`tests/redis_cluster.rs`, `tests/faults/`): on a
//! free loopback port, with a data directory of its own; it can be paused, killed and started
//! again on the same port and data.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ports::free_port;
use super::tempdir::TempDir;

/// How long a start may take on a busy machine.
const START: Duration = Duration::from_secs(20);

/// What the server keeps across a kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing: a kill empties it.
    None,
    /// `appendonly yes`, `appendfsync always`: every acknowledged write survives a kill.
    AppendAlways,
}

/// A `redis-server` child process, killed (and its directory removed, unless the test failed)
/// on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Its data and `redis.log`, kept when the test fails.
    dir: TempDir,
    persistence: Persistence,
}

impl RedisServer {
    /// Starts one; `None` after a `SKIP:` line naming `test` when `redis-server` is not
    /// installed (`bash .ci/run` installs it).
    pub fn start(test: &str, persistence: Persistence) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            eprintln!("SKIP: {test}: redis-server is not installed (bash .ci/run installs it)");
            return None;
        }
        let mut redis = RedisServer {
            child: None,
            port: free_port(),
            dir: TempDir::new("qs-redis"),
            persistence,
        };
        redis.restart();
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server (again) on its port with its data, and waits until it answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let deadline = Instant::now() + START;
        loop {
            let mut child = self.spawn();
            while Instant::now() < deadline {
                if self.answers() {
                    self.child = Some(child);
                    return;
                }
                if child.try_wait().expect("try_wait").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}: {}",
                self.port,
                std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
            );
            // The port may be held for a moment after a kill: try again.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn spawn(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("redis.log"))
            .expect("redis log");
        let persistence: &[&str] = match self.persistence {
            Persistence::None => &["--appendonly", "no"],
            Persistence::AppendAlways => &["--appendonly", "yes", "--appendfsync", "always"],
        };
        Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(persistence)
            .arg("--dir")
            .arg(self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().expect("clone log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start redis-server")
    }

    /// A connection with one-second timeouts, `None` while the server does not answer.
    pub fn connection(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(self.url().as_str()).ok()?;
        let connection = client
            .get_connection_with_timeout(Duration::from_secs(1))
            .ok()?;
        connection
            .set_read_timeout(Some(Duration::from_secs(1)))
            .ok()?;
        Some(connection)
    }

    pub fn answers(&self) -> bool {
        self.connection()
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok())
            .is_some()
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.as_ref().expect("redis-server is running").id();
        // SAFETY: kill(2) on our own child's process id.
        let sent = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal})");
    }

    /// SIGSTOP: connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// SIGKILL: what it keeps depends on its `Persistence`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A stopped process must be continued to die from SIGKILL promptly on every kernel.
            self.resume();
        }
        self.kill();
    }
}
