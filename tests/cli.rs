//! The command line against real hub processes: `token issue`, `token inspect`, `publish`,
//! `subscribe`, `config check`, and `serve` with the configuration layers.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use support::ports::free_port;
use support::process::{self, HubProcess};
use support::tempdir::TempDir;
use support::tokens::sign_hs;

const PUBLISHER_KEY: &str = "cli-test-publisher-secret-0123456789abcdef";
const SUBSCRIBER_KEY: &str = "cli-test-subscriber-secret-0123456789abcdef";

/// `quicksilver ARGS` in `dir`, with only the given configuration variables.
fn quicksilver(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = process::command(dir);
    command.env("QUICKSILVER_LOG", "warn");
    command.envs(env.iter().copied());
    command
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    quicksilver(dir, env)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run quicksilver")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts exit 1 with a one-line reason on stderr and nothing on stdout (C-CLI-2).
fn assert_refused(output: &Output, reason: &str) {
    assert_eq!(output.status.code(), Some(1), "{}", stderr(output));
    assert!(
        stderr(output).contains(reason),
        "{reason:?} not in {}",
        stderr(output)
    );
    assert_eq!(stdout(output), "", "nothing on stdout");
}

fn temp_dir() -> TempDir {
    TempDir::new("qs-cli-test")
}

/// A hub process on a free port, killed on drop.
struct Hub(HubProcess);

fn hub_env(dir: &TempDir) -> Vec<(String, String)> {
    vec![
        ("QUICKSILVER_PUBLISHER_JWT_KEY".into(), PUBLISHER_KEY.into()),
        (
            "QUICKSILVER_SUBSCRIBER_JWT_KEY".into(),
            SUBSCRIBER_KEY.into(),
        ),
        ("QUICKSILVER_TRANSPORT".into(), "memory".into()),
        (
            "QUICKSILVER_DATA_DIR".into(),
            dir.join("data").display().to_string(),
        ),
    ]
}

impl Hub {
    /// Starts `serve --listen 127.0.0.1:PORT` with the test keys plus `env`.
    fn start(env: &[(&str, &str)]) -> Self {
        let dir = temp_dir();
        let mut all = hub_env(&dir);
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let borrowed: Vec<(&str, &str)> =
            all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Self::start_with(dir, &borrowed)
    }

    /// Starts `serve` in `dir` with exactly `env` (no test keys).
    fn start_with(dir: TempDir, env: &[(&str, &str)]) -> Self {
        Self(HubProcess::start_in(dir, env))
    }

    fn dir(&self) -> &Path {
        self.0.dir().path()
    }

    /// The variables that point the CLI at this hub with the hub's keys.
    fn client_env(&self) -> Vec<(String, String)> {
        let mut env = hub_env(self.0.dir());
        env.push(("QUICKSILVER_HUB_URL".into(), self.0.url()));
        env
    }

    fn run(&self, args: &[&str]) -> Output {
        let env = self.client_env();
        let borrowed: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(self.dir(), &borrowed, args)
    }

    fn publish(&self, args: &[&str]) -> String {
        let mut all = vec!["publish"];
        all.extend_from_slice(args);
        let output = self.run(&all);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output).trim().to_owned()
    }
}

fn claims_of(token: &str) -> Value {
    let payload = token.trim().split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

// ---------------------------------------------------------------- token issue

#[test]
fn token_issue_prints_a_jws_on_stdout() {
    let dir = temp_dir();
    let env = [("MY_KEY", PUBLISHER_KEY)];
    let output = run(
        dir.path(),
        &env,
        &[
            "token",
            "issue",
            "--key-env",
            "MY_KEY",
            "--publish",
            "https://example.com/{id}",
            "--subscribe",
            "a",
            "--subscribe",
            "b",
            "--payload",
            "{\"user\":1}",
            "--ttl",
            "10m",
            "--kid",
            "k1",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.ends_with('\n') && text.matches('.').count() == 2,
        "{text}"
    );
    let claims = claims_of(&text);
    assert_eq!(
        claims["mercure"],
        json!({"publish": ["https://example.com/{id}"], "subscribe": ["a", "b"], "payload": {"user": 1}})
    );
    let lifetime = claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat");
    assert_eq!(lifetime, 600);
}

#[test]
fn token_issue_reads_keys_from_files_and_stdin() {
    let dir = temp_dir();
    let key_file = dir.file("secret.txt", &format!("{PUBLISHER_KEY}\n"));
    let key_file = key_file.to_str().expect("utf-8 path");
    let from_file = run(
        dir.path(),
        &[],
        &[
            "token",
            "issue",
            "--key-file",
            key_file,
            "--publish",
            "*",
            "--ttl",
            "0",
        ],
    );
    let at_file = run(
        dir.path(),
        &[],
        &[
            "token",
            "issue",
            "--key",
            &format!("@{key_file}"),
            "--publish",
            "*",
            "--ttl",
            "0",
        ],
    );
    let mut child = quicksilver(dir.path(), &[])
        .args([
            "token",
            "issue",
            "--key",
            "@-",
            "--publish",
            "*",
            "--ttl",
            "0",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(PUBLISHER_KEY.as_bytes())
        .expect("write the key");
    let from_stdin = child.wait_with_output().expect("wait");
    for output in [&from_file, &at_file, &from_stdin] {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(output));
        let claims = claims_of(&stdout(output));
        assert!(claims.get("exp").is_none(), "--ttl 0 omits exp: {claims}");
    }
    // The file's trailing newline is not part of the secret: every token verifies.
    let env = [
        ("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
        ("QUICKSILVER_ANONYMOUS", "true"),
    ];
    for output in [&from_file, &at_file, &from_stdin] {
        let token = stdout(output);
        let verify = run(
            dir.path(),
            &env,
            &["token", "inspect", token.trim(), "--role", "publisher"],
        );
        assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
    }
}

#[test]
fn token_issue_dev_uses_the_development_key_and_wildcards() {
    let dir = temp_dir();
    let output = run(dir.path(), &[], &["token", "issue", "--dev", "--pretty"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let claims = claims_of(&stdout(&output));
    assert_eq!(
        claims["mercure"],
        json!({"publish": ["*"], "subscribe": ["*"]})
    );
    assert_eq!(claims["exp"], json!(4_102_444_800u64));
    assert!(
        stderr(&output).contains("\"alg\": \"HS256\""),
        "{}",
        stderr(&output)
    );
    let accepted = run(
        dir.path(),
        &[
            (
                "QUICKSILVER_PUBLISHER_JWT_KEY",
                "!ChangeThisMercureHubJWTSecretKey!",
            ),
            ("QUICKSILVER_ANONYMOUS", "1"),
        ],
        &[
            "token",
            "inspect",
            stdout(&output).trim(),
            "--role",
            "publisher",
        ],
    );
    assert_eq!(accepted.status.code(), Some(0), "{}", stdout(&accepted));
}

#[test]
fn token_issue_refuses_bad_flags_with_one_line() {
    let dir = temp_dir();
    let pem = dir.file("key.pem", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFtJMuNQd7pfzFKS580OhJm+YEnfyWzBC8aZEaitqBAV\n-----END PRIVATE KEY-----\n");
    let pem = pem.to_str().expect("utf-8 path");
    let cases: &[(&[&str], &str)] = &[
        (
            &["token", "issue", "--key", "k"],
            "--publish or --subscribe",
        ),
        (
            &["token", "issue", "--publish", "*"],
            "signing key is required",
        ),
        (
            &["token", "issue", "--dev", "--dialect", "1.0"],
            "not supported yet",
        ),
        (
            &["token", "issue", "--dev", "--no-such-flag"],
            "--no-such-flag",
        ),
        (&["token", "issue", "--dev", "--ttl", "soon"], "--ttl"),
        (
            &["token", "issue", "--dev", "--payload", "{nope"],
            "--payload",
        ),
        (
            &["token", "issue", "--dev", "--alg", "none"],
            "unsupported --alg",
        ),
        (
            &["token", "issue", "--key-file", pem, "--publish", "*"],
            "--alg is required",
        ),
        (
            &[
                "token",
                "issue",
                "--key-file",
                pem,
                "--alg",
                "HS256",
                "--publish",
                "*",
            ],
            "PEM key cannot",
        ),
        (
            &[
                "token",
                "issue",
                "--key-env",
                "UNSET_VARIABLE_X",
                "--publish",
                "*",
            ],
            "UNSET_VARIABLE_X",
        ),
    ];
    for (args, reason) in cases {
        let output = run(dir.path(), &[], args);
        assert_refused(&output, reason);
        assert_eq!(
            stderr(&output).trim().lines().count(),
            1,
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let eddsa = run(
        dir.path(),
        &[],
        &[
            "token",
            "issue",
            "--key-file",
            pem,
            "--alg",
            "EdDSA",
            "--publish",
            "*",
        ],
    );
    assert_eq!(eddsa.status.code(), Some(0), "{}", stderr(&eddsa));
}

// ---------------------------------------------------------------- token inspect

#[test]
fn token_inspect_says_why_a_token_is_refused() {
    let dir = temp_dir();
    let env = [
        ("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
        ("QUICKSILVER_SUBSCRIBER_JWT_KEY", SUBSCRIBER_KEY),
    ];
    let inspect = |token: &str, extra: &[&str]| {
        let mut args = vec!["token", "inspect", token];
        args.extend_from_slice(extra);
        run(dir.path(), &env, &args)
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let publish = json!({"mercure": {"publish": ["https://example.com/{id}"]}});
    let cases = [
        (
            sign_hs("HS256", PUBLISHER_KEY, &publish),
            "publisher: accepted",
            0,
        ),
        (
            sign_hs("HS256", "another-key-another-key-another-key", &publish),
            "wrong key",
            1,
        ),
        (
            sign_hs("HS512", PUBLISHER_KEY, &publish),
            "wrong algorithm: the token is signed with HS512",
            1,
        ),
        (
            sign_hs(
                "HS256",
                PUBLISHER_KEY,
                &json!({"exp": now - 10, "mercure": {"publish": ["*"]}}),
            ),
            "expired",
            1,
        ),
        (
            sign_hs(
                "HS256",
                PUBLISHER_KEY,
                &json!({"nbf": now + 600, "mercure": {"publish": ["*"]}}),
            ),
            "not valid yet",
            1,
        ),
        (
            sign_hs(
                "HS256",
                PUBLISHER_KEY,
                &json!({"mercure": {"publish": "*"}}),
            ),
            "ill-typed mercure claim",
            1,
        ),
        (
            sign_hs(
                "HS256",
                PUBLISHER_KEY,
                &json!({"mercure": {"subscribe": ["*"]}}),
            ),
            "no mercure.publish claim",
            1,
        ),
        ("not-a-token".to_owned(), "malformed token", 1),
    ];
    for (token, expected, code) in cases {
        let output = inspect(&token, &["--role", "publisher"]);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(code), "{expected}: {all}");
        assert!(all.contains(expected), "{expected:?} not in {all}");
    }
    let token = sign_hs("HS256", PUBLISHER_KEY, &publish);
    let covered = inspect(
        &token,
        &["--role", "publisher", "--topic", "https://example.com/1"],
    );
    assert_eq!(covered.status.code(), Some(0), "{}", stdout(&covered));
    assert!(stdout(&covered).contains("covered by \"https://example.com/{id}\""));
    let uncovered = inspect(
        &token,
        &["--role", "publisher", "--topic", "https://other.org/1"],
    );
    assert_eq!(uncovered.status.code(), Some(1));
    assert!(stderr(&uncovered).contains("may not publish to https://other.org/1"));
    // Without --role: accepted when one configured role accepts it.
    let subscriber = sign_hs(
        "HS256",
        SUBSCRIBER_KEY,
        &json!({"mercure": {"subscribe": ["*"]}}),
    );
    let output = inspect(&subscriber, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("subscriber: accepted"));
    assert!(stdout(&output).contains("publisher: refused: wrong key"));
}

// ---------------------------------------------------------------- publish and subscribe

/// Reads `count` lines of `child`'s stdout, failing after `timeout`.
fn read_lines(child: &mut Child, count: usize, timeout: Duration) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + timeout;
    let mut lines = Vec::new();
    while lines.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    lines
}

#[test]
fn publish_and_subscribe_resume_after_a_disconnect() {
    // Connections last about one second, so the subscriber reconnects twice meanwhile.
    let hub = Hub::start(&[("QUICKSILVER_WRITE_TIMEOUT", "1s")]);
    let first = hub.publish(&["--topic", "https://example.com/books/1", "--data", "one"]);
    let env = hub.client_env();
    let mut subscriber = quicksilver(hub.dir(), &[])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args([
            "subscribe",
            "--topic",
            "https://example.com/books/{id}",
            "--json",
            "--last-event-id",
            "earliest",
            "--max-events",
            "3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the subscriber");
    std::thread::sleep(Duration::from_millis(1500));
    let second = hub.publish(&[
        "--topic",
        "https://example.com/books/2",
        "--data",
        "two\nlines",
        "--private",
        "--type",
        "book",
        "--retry",
        "200",
    ]);
    std::thread::sleep(Duration::from_millis(1200));
    let third = hub.publish(&["--topic", "https://example.com/books/3", "--id", "third"]);
    assert_eq!(third, "third");
    let lines = read_lines(&mut subscriber, 3, Duration::from_secs(15));
    let _ = subscriber.kill();
    let output = subscriber.wait_with_output().expect("wait");
    let events: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    assert_eq!(events.len(), 3, "{lines:?}\nstderr: {}", stderr(&output));
    assert_eq!(
        events[0],
        json!({"id": first, "type": null, "data": "one", "retry": null})
    );
    // Private: delivered because the minted subscriber token grants the selector.
    assert_eq!(
        events[1],
        json!({"id": second, "type": "book", "data": "two\nlines", "retry": 200})
    );
    assert_eq!(events[2]["id"], json!("third"));
    assert!(
        stderr(&output).contains("reconnecting"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn subscribe_prints_a_human_format_and_stops_on_refusal() {
    let hub = Hub::start(&[]);
    let id = hub.publish(&["--topic", "t", "--data", "hello"]);
    let output = hub.run(&[
        "subscribe",
        "--topic",
        "t",
        "--last-event-id",
        "earliest",
        "--max-events",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!("id:   {id}\ntype: message\ndata: hello\n\n")
    );
    let refused = hub.run(&[
        "subscribe",
        "--topic",
        "t",
        "--token",
        "x.y.z-not-a-valid-token-not-a-valid-token",
    ]);
    assert_refused(&refused, "401");
}

#[test]
fn publish_reports_the_hubs_refusal() {
    let hub = Hub::start(&[]);
    let other_key = sign_hs(
        "HS256",
        SUBSCRIBER_KEY,
        &json!({"mercure": {"publish": ["*"]}}),
    );
    assert_refused(
        &hub.run(&["publish", "--topic", "t", "--token", &other_key]),
        "the hub answered 401 Unauthorized: Unauthorized",
    );
    let narrow = sign_hs(
        "HS256",
        PUBLISHER_KEY,
        &json!({"mercure": {"publish": ["a"]}}),
    );
    let dir = temp_dir();
    let token_file = dir.file("token", &format!("{narrow}\n"));
    let token_file = token_file.to_str().expect("utf-8 path");
    assert_refused(
        &hub.run(&["publish", "--topic", "b", "--token-file", token_file]),
        "403",
    );
    assert!(hub
        .publish(&["--topic", "a", "--token-file", token_file])
        .starts_with("urn:uuid:"));
    let unreachable = run(
        dir.path(),
        &[("QUICKSILVER_TOKEN", &narrow)],
        &["publish", "--topic", "a", "--hub", "http://127.0.0.1:9"],
    );
    assert_refused(&unreachable, "cannot reach the hub");
}

// ---------------------------------------------------------------- config check

#[test]
fn config_check_prints_the_effective_configuration_masked() {
    let dir = temp_dir();
    dir.file("config.toml", "publisher_jwt_key = 'file-secret'\nanonymous = true\nheartbeat = '15s'\ntransport = 'memory'\n");
    let output = run(
        dir.path(),
        &[
            ("QUICKSILVER_HEARTBEAT", "20s"),
            ("MERCURE_EXTRA_DIRECTIVES", "cookie_name jar"),
        ],
        &["config", "check"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("File: config.toml"), "{text}");
    assert!(text.contains("publisher_jwt_key = \"***\""), "{text}");
    assert!(!text.contains("file-secret"), "{text}");
    assert!(text.contains("heartbeat = \"20s\""), "{text}");
    assert!(text.contains("cookie_name = \"jar\""), "{text}");
}

#[test]
fn config_check_names_the_error_location() {
    let dir = temp_dir();
    let bad = dir.file(
        "bad.toml",
        "anonymous = true\npublisher_jwt_key = 'k'\n\nhartbeat = '5s'\n",
    );
    let bad = bad.to_str().expect("utf-8 path");
    assert_refused(
        &run(dir.path(), &[], &["config", "check", "--config", bad]),
        "bad.toml:4: key `hartbeat`: unknown key",
    );
    let ok = dir.file("ok.toml", "anonymous = true\npublisher_jwt_key = 'k'\n");
    let ok = ok.to_str().expect("utf-8 path");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("QUICKSILVER_WRITE_TIMEOUT", "later")],
            "QUICKSILVER_WRITE_TIMEOUT: write_timeout: invalid duration",
        ),
        (
            &[("MERCURE_EXTRA_DIRECTIVES", "anonymous\nmystery 1")],
            "MERCURE_EXTRA_DIRECTIVES line 2: mystery: unknown directive",
        ),
        (
            &[("MERCURE_EXTRA_DIRECTIVES", "name other")],
            "name: not supported by Quicksilver yet",
        ),
        (
            &[(
                "QUICKSILVER_PUBLISHER_JWT_KEY",
                "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----",
            )],
            "PEM key cannot be used",
        ),
        (
            &[("QUICKSILVER_CORS_ORIGINS", "https://a.com/path")],
            "cors_origins",
        ),
        (&[("QUICKSILVER_ANONYMOUS", "false")], "no subscriber key"),
        (
            &[(
                "QUICKSILVER_PUBLISHER_JWKS_URL",
                "file:///nonexistent/jwks.json",
            )],
            "cannot read the JWK Set file",
        ),
    ];
    for (env, reason) in cases {
        assert_refused(
            &run(dir.path(), env, &["config", "check", "--config", ok]),
            reason,
        );
    }
}

// ---------------------------------------------------------------- serve and its layers

#[test]
fn serve_honours_the_reference_image_variables_and_flags_win() {
    let dir = temp_dir();
    let data = dir.join("data").display().to_string();
    let unused_port = format!(":{}", free_port());
    let env = [
        ("MERCURE_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
        (
            "MERCURE_EXTRA_DIRECTIVES",
            "anonymous\nheartbeat 5s\ntopic_selector_cache 100",
        ),
        ("MERCURE_TRANSPORT_URL", "local://local"),
        ("SERVER_NAME", unused_port.as_str()),
        ("QUICKSILVER_DATA_DIR", data.as_str()),
    ];
    // --listen (a flag) beats SERVER_NAME; publishing with the MERCURE_ key works.
    let hub = Hub::start_with(dir, &env);
    let token = sign_hs(
        "HS256",
        PUBLISHER_KEY,
        &json!({"mercure": {"publish": ["*"]}}),
    );
    let output = hub.run(&["publish", "--topic", "x", "--data", "d", "--token", &token]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn serve_verifies_publishers_with_a_jwk_set_file() {
    let dir = temp_dir();
    let secret = "jwks-oct-secret-for-the-cli-tests-0123456789";
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let jwks = dir.file(
        "jwks.json",
        &json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": k}]}).to_string(),
    );
    let url = format!("file://{}", jwks.display());
    let data = dir.join("data").display().to_string();
    let env = [
        ("QUICKSILVER_PUBLISHER_JWKS_URL", url.as_str()),
        ("QUICKSILVER_ANONYMOUS", "true"),
        ("QUICKSILVER_TRANSPORT", "memory"),
        ("QUICKSILVER_DATA_DIR", data.as_str()),
    ];
    let hub = Hub::start_with(dir, &env);
    let issue = |kid: &str| {
        let output = run(
            hub.dir(),
            &[("K", secret)],
            &[
                "token",
                "issue",
                "--key-env",
                "K",
                "--kid",
                kid,
                "--publish",
                "*",
            ],
        );
        stdout(&output).trim().to_owned()
    };
    let publish = |token: &str| hub.run(&["publish", "--topic", "x", "--token", token]);
    assert_eq!(publish(&issue("k1")).status.code(), Some(0));
    assert_refused(&publish(&issue("k2")), "401");
}
