//! `quicksilver` processes: the command without inherited configuration, `serve` on a loopback
//! port with its log in its directory, health checks, and [`HubProcess`], a hub for the suites
//! that have no async runtime (the spec and fault suites use [`super::harness::Hub`]).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::ports::free_port;
use super::tempdir::TempDir;

/// How long a hub may take to answer `/healthz` on a busy machine.
const START: Duration = Duration::from_secs(20);

/// Whether a variable of the test's environment would configure the binary: its own settings and
/// the reference image's (C-ENV-1), which a developer's shell may well have set.
fn configures_the_hub(name: &str) -> bool {
    name.starts_with("QUICKSILVER_")
        || name.starts_with("MERCURE_")
        || matches!(
            name,
            "SERVER_NAME" | "GLOBAL_OPTIONS" | "CADDY_EXTRA_CONFIG"
        )
}

/// The `quicksilver` binary run in `dir`, with none of the test's configuration variables.
pub fn command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_quicksilver"));
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if configures_the_hub(&name) {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// `quicksilver serve --listen 127.0.0.1:{port}` in `dir`: data in `dir/data`, stdout and stderr
/// appended to `dir/hub.log` (kept across restarts), stdin closed.
pub fn serve(dir: &Path, port: u16) -> Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("hub.log"))
        .expect("open the hub log");
    let mut command = command(dir);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("QUICKSILVER_DATA_DIR", dir.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("clone the log")))
        .stderr(Stdio::from(log));
    command
}

/// Everything a hub started with [`serve`] in `dir` wrote so far.
pub fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("hub.log")).unwrap_or_default()
}

/// The last `lines` lines of that log.
pub fn log_tail(dir: &Path, lines: usize) -> String {
    let log = log(dir);
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The status of `GET /healthz` on `port`, with a raw HTTP/1.1 request; `None` while nothing
/// answers.
pub fn healthz(port: u16) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// Makes `cmd`'s process start with at most `limit` open descriptors (`RLIMIT_NOFILE`).
pub fn limit_descriptors(cmd: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    let limit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: setrlimit is async-signal-safe and the closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A hub on a free port in a temporary directory of its own, started with `QUICKSILVER_LOG=warn`
/// and the given variables; it can be killed and started again on the same port and data, and is
/// killed on drop (its log tail is printed when the test fails).
pub struct HubProcess {
    dir: TempDir,
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl HubProcess {
    /// Starts one in a fresh directory `{temp}/{prefix}-{uuid}`.
    pub fn start(prefix: &str, env: &[(&str, &str)]) -> Self {
        Self::start_in(TempDir::new(prefix), env)
    }

    /// Starts one in `dir` (which may hold its configuration files) and waits for `/healthz`.
    pub fn start_in(dir: TempDir, env: &[(&str, &str)]) -> Self {
        let mut hub = Self {
            dir,
            port: free_port(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
        };
        hub.spawn();
        hub
    }

    fn spawn(&mut self) {
        let mut child = serve(self.dir.path(), self.port)
            .env("QUICKSILVER_LOG", "warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .spawn()
            .expect("start the hub");
        let deadline = Instant::now() + START;
        while healthz(self.port) != Some(200) {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the hub exited with {status}:\n{}", self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the hub did not answer /healthz on port {} within {START:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn dir(&self) -> &TempDir {
        &self.dir
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> String {
        log(self.dir.path())
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills it (SIGKILL: acknowledged events must survive anything) and starts it again on the
    /// same port with the same data directory and variables.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- hub :{} log tail ---\n{}",
                self.port,
                log_tail(self.dir.path(), 40)
            );
        }
    }
}
