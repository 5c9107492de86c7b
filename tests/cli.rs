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
use support::tokens::{now, sign_hs, sign_raw_hs};

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

/// `quicksilver token inspect TOKEN EXTRA…` in `dir` with `env`.
fn inspect_token(dir: &Path, env: &[(&str, &str)], token: &str, extra: &[&str]) -> Output {
    let mut args = vec!["token", "inspect", token];
    args.extend_from_slice(extra);
    run(dir, env, &args)
}

/// C-CLI-2: one compact JWS and a newline.
fn assert_jws_line(text: &str) {
    assert!(
        text.ends_with('\n') && text.matches('.').count() == 2,
        "{text}"
    );
}

fn claims_of(token: &str) -> Value {
    segment_of(token, 1)
}

fn header_of(token: &str) -> Value {
    segment_of(token, 0)
}

fn segment_of(token: &str, index: usize) -> Value {
    let segment = token.trim().split('.').nth(index).expect("segment");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
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
    assert_jws_line(&text);
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
            &["token", "issue", "--dev", "--dialect", "2.0"],
            "unknown --dialect",
        ),
        (
            &["token", "issue", "--dev", "--subscribe-urlpattern", "/a/:b"],
            "belong to the 1.0 dialect",
        ),
        (
            &["token", "issue", "--dev", "--client-id", "c"],
            "belongs to the 1.0 dialect",
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

// C-CLI-1, B-TOK-1, B-TOK-2, B-TOK-7, B-AD-1 … B-AD-3, B-AD-8: a 1.0 access token with exact and
// URL Pattern grants, the payload on the subscribe entry.
#[test]
fn token_issue_v1_prints_an_access_token() {
    let dir = temp_dir();
    let env = [("MY_KEY", PUBLISHER_KEY)];
    let issue = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "issue",
            "--dialect",
            "1.0",
            "--key-env",
            "MY_KEY",
            "--iss",
            "https://auth.example",
            "--aud",
            "https://hub.example/.well-known/mercure",
        ];
        args.extend_from_slice(extra);
        let output = run(dir.path(), &env, &args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        stdout(&output)
    };
    let text = issue(&[
        "--publish",
        "https://example.com/books/1",
        "--publish-urlpattern",
        "https://example.com/authors/:id",
        "--subscribe-urlpattern",
        "https://example.com/books/:id",
        "--subscribe",
        "*",
        "--kid",
        "k1",
        "--sub",
        "me",
        "--payload",
        "{\"user\":1}",
        "--ttl",
        "10m",
    ]);
    assert_jws_line(&text);
    assert_eq!(
        header_of(&text),
        json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
    );
    let claims = claims_of(&text);
    assert_eq!(claims["iss"], "https://auth.example");
    assert_eq!(claims["aud"], "https://hub.example/.well-known/mercure");
    assert_eq!(claims["sub"], "me");
    assert_eq!(claims["client_id"], "https://auth.example");
    assert!(claims["jti"]
        .as_str()
        .expect("jti")
        .starts_with("urn:uuid:"));
    assert!(claims.get("mercure").is_none(), "{claims}");
    let lifetime = claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat");
    assert_eq!(lifetime, 600);
    let detail = "https://mercure.rocks/authorization-detail";
    assert_eq!(
        claims["authorization_details"],
        json!([
            {"type": detail, "actions": ["publish"], "topics": [
                {"match": "https://example.com/books/1"},
                {"match": "https://example.com/authors/:id", "match_type": "urlpattern"}]},
            {"type": detail, "actions": ["subscribe"], "payload": {"user": 1}, "topics": [
                {"match": "*"},
                {"match": "https://example.com/books/:id", "match_type": "urlpattern"}]},
        ])
    );
    // `sub` defaults to a random urn:uuid, `client_id` can be given.
    let first = claims_of(&issue(&["--subscribe", "a", "--client-id", "app"]));
    let second = claims_of(&issue(&["--subscribe", "a"]));
    assert_eq!(first["client_id"], "app");
    assert!(first["sub"].as_str().expect("sub").starts_with("urn:uuid:"));
    assert_ne!(first["sub"], second["sub"]);
    assert_ne!(first["jti"], second["jti"]);
    assert_eq!(
        first["authorization_details"],
        json!([{"type": detail, "actions": ["subscribe"], "topics": [{"match": "a"}]}])
    );
}

// C-CLI-1: `--dev` 1.0 tokens: https://localhost issuer and audience, 2100 expiry, `*` grants;
// the hub's default trusted issuer accepts them with the top-level key.
#[test]
fn token_issue_v1_dev_is_accepted_by_the_default_trusted_issuer() {
    let dir = temp_dir();
    let output = run(
        dir.path(),
        &[],
        &["token", "issue", "--dialect", "1.0", "--dev", "--pretty"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("\"typ\": \"at+jwt\""),
        "{}",
        stderr(&output)
    );
    let token = stdout(&output);
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], "https://localhost");
    assert_eq!(claims["aud"], "https://localhost/.well-known/mercure");
    assert_eq!(claims["exp"], json!(4_102_444_800u64));
    let detail = "https://mercure.rocks/authorization-detail";
    assert_eq!(
        claims["authorization_details"],
        json!([
            {"type": detail, "actions": ["publish"], "topics": [{"match": "*"}]},
            {"type": detail, "actions": ["subscribe"], "topics": [{"match": "*"}]},
        ])
    );
    let accepted = run(
        dir.path(),
        &[(
            "QUICKSILVER_PUBLISHER_JWT_KEY",
            "!ChangeThisMercureHubJWTSecretKey!",
        )],
        &["token", "inspect", token.trim(), "--role", "publisher"],
    );
    assert_eq!(accepted.status.code(), Some(0), "{}", stdout(&accepted));
    assert!(stdout(&accepted).contains("publisher: accepted"));
}

// C-CLI-1, C-CLI-2, B-TOK-5, B-AD-3: 1.0 flag mistakes are one line on stderr, exit 1.
#[test]
fn token_issue_v1_refuses_bad_flags_with_one_line() {
    let dir = temp_dir();
    let v1 = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["token", "issue", "--dialect", "1.0", "--key", "k"];
        args.extend_from_slice(extra);
        args
    };
    let full = ["--iss", "https://i", "--aud", "https://a"];
    let with = |more: &[&'static str]| -> Vec<&'static str> {
        let mut args = full.to_vec();
        args.extend_from_slice(more);
        v1(&args)
    };
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["token", "issue", "--dialect", "1.0", "--dev", "--ttl", "0"],
            "--ttl 0 makes a token without exp",
        ),
        (
            v1(&["--aud", "https://a", "--publish", "x"]),
            "--iss is required",
        ),
        (
            v1(&["--iss", "https://i", "--publish", "x"]),
            "--aud is required",
        ),
        (
            v1(&["--iss", "", "--aud", "https://a", "--publish", "x"]),
            "--iss is empty",
        ),
        (with(&[]), "give at least one --publish"),
        (
            with(&["--publish", "x", "--payload", "1"]),
            "--payload belongs to a subscribe grant",
        ),
        (
            with(&["--subscribe-urlpattern", "https://example.com/("]),
            "does not compile",
        ),
        (with(&["--subscribe", ""]), "authorization_details"),
    ];
    for (args, reason) in cases {
        let output = run(dir.path(), &[], &args);
        assert_refused(&output, reason);
        assert_eq!(
            stderr(&output).trim().lines().count(),
            1,
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

// ---------------------------------------------------------------- token inspect

// C-CLI-1, X-3, B-TOK-2, B-TOK-4, B-TOK-5, B-TOK-6, B-AD-3, B-AD-5, B-MT-4: a 1.0 token is
// explained (issuer, audience, grants with match types, payload) and each refusal says why.
#[test]
fn token_inspect_explains_a_v1_token() {
    let dir = temp_dir();
    let env = [("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY)];
    let inspect = |token: &str, extra: &[&str]| {
        let mut args = vec!["--role", "publisher"];
        args.extend_from_slice(extra);
        inspect_token(dir.path(), &env, token, &args)
    };
    let now = now();
    let detail = "https://mercure.rocks/authorization-detail";
    let claims = |iss: &str, exp: Option<u64>, topics: Value| -> String {
        let mut claims = json!({
            "iss": iss,
            "aud": "https://localhost/.well-known/mercure",
            "authorization_details": [
                {"type": detail, "actions": ["publish"], "topics": topics},
                {"type": detail, "actions": ["subscribe"], "payload": {"u": 1},
                 "topics": [{"match": "*"}]},
            ],
        });
        if let Some(exp) = exp {
            claims["exp"] = json!(exp);
        }
        claims.to_string()
    };
    let books = json!([{"match": "https://example.com/books/:id", "match_type": "urlpattern"}]);
    let good = claims("https://localhost", Some(now + 600), books.clone());
    let at_jwt = r#"{"alg":"HS256","typ":"at+jwt"}"#;
    let sign = |header: &str, key: &str, payload: &str| {
        sign_raw_hs("HS256", key.as_bytes(), header, payload)
    };
    let valid = sign(at_jwt, PUBLISHER_KEY, &good);
    let output = inspect(&valid, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    for line in [
        "dialect: 1.0",
        "issuer: https://localhost",
        "audience: https://localhost/.well-known/mercure",
        "publish \"https://example.com/books/:id\" (urlpattern)",
        "subscribe \"*\" (exact)",
        "payload {\"u\":1} for subscriptions matching \"*\" (exact)",
        "publisher: accepted",
    ] {
        assert!(
            stdout(&output).contains(line),
            "{line:?} not in {}",
            stdout(&output)
        );
    }
    let covered = inspect(&valid, &["--topic", "https://example.com/books/7"]);
    assert_eq!(covered.status.code(), Some(0), "{}", stdout(&covered));
    assert!(stdout(&covered).contains(
        "topic https://example.com/books/7: covered by \"https://example.com/books/:id\" (urlpattern)"
    ));
    let uncovered = inspect(&valid, &["--topic", "https://example.com/books/7/x"]);
    assert_eq!(uncovered.status.code(), Some(1));
    assert!(stderr(&uncovered).contains("may not publish to https://example.com/books/7/x"));
    let cases = [
        (
            sign(r#"{"alg":"HS256","typ":"JWT"}"#, PUBLISHER_KEY, &good),
            "header typ \"JWT\" is not at+jwt",
        ),
        (
            sign(
                at_jwt,
                PUBLISHER_KEY,
                &claims("https://localhost", None, books.clone()),
            ),
            "no exp claim",
        ),
        (
            sign(
                at_jwt,
                PUBLISHER_KEY,
                &claims("https://localhost", Some(now + 600), json!(["bare"])),
            ),
            "not an object with a non-empty string match",
        ),
        (
            sign(
                at_jwt,
                PUBLISHER_KEY,
                &claims("https://unknown.example", Some(now + 600), books.clone()),
            ),
            "not a configured issuer",
        ),
        (
            sign(at_jwt, "another-key-another-key-another-key", &good),
            "wrong key",
        ),
    ];
    for (token, expected) in cases {
        let output = inspect(&token, &[]);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(1), "{expected}: {all}");
        assert!(all.contains(expected), "{expected:?} not in {all}");
    }
    let elsewhere = inspect(
        &valid,
        &["--resource", "https://hub.example/.well-known/mercure"],
    );
    assert_eq!(elsewhere.status.code(), Some(1));
    assert!(stderr(&elsewhere).contains("aud does not contain the resource identifier"));
}

// X-3, B-TOK-2: token inspect checks a 1.0 token with the configured issuers, as `serve` would:
// `QUICKSILVER_ISSUERS` and `trusted_issuers` (here from the image's `MERCURE_TRUSTED_ISSUERS`).
#[test]
fn token_inspect_uses_the_configured_issuers() {
    const ISSUER_KEY: &str = "cli-test-issuer-secret-0123456789abcdef";
    let dir = temp_dir();
    let issuers =
        format!(r#"[{{"id": "https://auth.example", "publisher_jwt_key": "{ISSUER_KEY}"}}]"#);
    let env = [
        ("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
        ("QUICKSILVER_ISSUERS", issuers.as_str()),
        ("MERCURE_TRUSTED_ISSUERS", "https://app.example"),
    ];
    let token = |iss: &str, key: &str| {
        let claims = json!({
            "iss": iss,
            "aud": "https://localhost/.well-known/mercure",
            "exp": now() + 600,
            "authorization_details": [{"type": "https://mercure.rocks/authorization-detail",
                "actions": ["publish"], "topics": [{"match": "*"}]}],
        });
        let header = r#"{"alg":"HS256","typ":"at+jwt"}"#;
        sign_raw_hs("HS256", key.as_bytes(), header, &claims.to_string())
    };
    let verdict = |token: &str| {
        let output = inspect_token(dir.path(), &env, token, &["--role", "publisher"]);
        (
            output.status.code(),
            format!("{}{}", stdout(&output), stderr(&output)),
        )
    };
    for accepted in [
        token("https://auth.example", ISSUER_KEY),
        token("https://app.example", PUBLISHER_KEY),
    ] {
        let (code, all) = verdict(&accepted);
        assert_eq!(code, Some(0), "{all}");
        assert!(all.contains("publisher: accepted"), "{all}");
    }
    for (refused, reason) in [
        (token("https://auth.example", PUBLISHER_KEY), "wrong key"),
        (
            token("https://localhost", PUBLISHER_KEY),
            "not a configured issuer",
        ),
    ] {
        let (code, all) = verdict(&refused);
        assert_eq!(code, Some(1), "{all}");
        assert!(all.contains(reason), "{reason:?} not in {all}");
    }
}

#[test]
fn token_inspect_says_why_a_token_is_refused() {
    let dir = temp_dir();
    let env = [
        ("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
        ("QUICKSILVER_SUBSCRIBER_JWT_KEY", SUBSCRIBER_KEY),
    ];
    let inspect = |token: &str, extra: &[&str]| inspect_token(dir.path(), &env, token, extra);
    let now = now();
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

/// `child`'s stdout, line by line as it is printed.
fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Reads `count` lines of `child`'s stdout, failing after `timeout`.
fn read_lines(child: &mut Child, count: usize, timeout: Duration) -> Vec<String> {
    let receiver = stdout_lines(child);
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

/// The `Content-Encoding` a hub answers a subscription that accepts gzip and zstd with (read
/// from the raw response head, which the CLI does not print).
fn content_encoding(hub: &Hub, topic: &str) -> Option<String> {
    let token = sign_hs(
        "HS256",
        SUBSCRIBER_KEY,
        &json!({"mercure": {"subscribe": ["*"]}, "exp": now() + 600}),
    );
    let address = hub.0.url().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).expect("connect to the hub");
    write!(
        stream,
        "GET /.well-known/mercure?topic={topic} HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nAccept-Encoding: gzip, zstd\r\n\r\n"
    )
    .expect("send the request");
    let head: Vec<String> = BufReader::new(stream)
        .lines()
        .map_while(Result::ok)
        .take_while(|line| !line.is_empty())
        .collect();
    head.iter().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-encoding")
            .then(|| value.trim().to_owned())
    })
}

/// `subscribe --compressed` decodes a compressed stream as it arrives, for events compressed
/// (above `compression_min_size`) and stored (below it), from the history and live; against a
/// hub that does not compress, it reads the plain stream.
#[test]
fn subscribe_compressed_decodes_the_stream_as_it_arrives() {
    let hub = Hub::start(&[
        ("QUICKSILVER_COMPRESSION", "auto"),
        ("QUICKSILVER_COMPRESSION_MIN_SIZE", "512"),
    ]);
    assert_eq!(content_encoding(&hub, "t").as_deref(), Some("zstd"));
    let big = format!(
        "{{\"@type\":\"Product\",\"offers\":[{}]}}",
        "{\"price\":\"9.99\"},".repeat(60) + "{}"
    );
    assert!(big.len() > 1_000);
    let first = hub.publish(&["--topic", "t", "--data", &big]);
    let env = hub.client_env();
    let mut subscriber = quicksilver(hub.dir(), &[])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["subscribe", "--topic", "t", "--json", "--compressed"])
        .args(["--last-event-id", "earliest", "--max-events", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the subscriber");
    let receiver = stdout_lines(&mut subscriber);
    let next = || {
        let line = receiver
            .recv_timeout(Duration::from_secs(15))
            .expect("an event printed while the stream is still open");
        serde_json::from_str::<Value>(&line).expect("one JSON object per line")
    };
    assert_eq!(next()["data"], json!(big), "replayed, compressed");
    // Each live event is printed before the next one is published: decoding does not wait for
    // more of the stream.
    let small = hub.publish(&["--topic", "t", "--data", "small"]);
    assert_eq!(
        next(),
        json!({"id": small, "type": null, "data": "small", "retry": null})
    );
    let last = hub.publish(&["--topic", "t", "--data", &big, "--type", "book"]);
    let event = next();
    assert_eq!((&event["id"], &event["data"]), (&json!(last), &json!(big)));
    let output = subscriber.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_ne!(first, last);

    let plain = Hub::start(&[]);
    assert_eq!(content_encoding(&plain, "t"), None);
    let id = plain.publish(&["--topic", "t", "--data", &big]);
    let output = plain.run(&[
        "subscribe",
        "--topic",
        "t",
        "--compressed",
        "--json",
        "--last-event-id",
        "earliest",
        "--max-events",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let event: Value = serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!((&event["id"], &event["data"]), (&json!(id), &json!(big)));
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

/// `config check` over a valid file refuses each environment with its reason (C-ENV-4).
fn config_check_refuses(dir: &TempDir, cases: &[(&[(&str, &str)], &str)]) {
    let ok = dir.file("ok.toml", "anonymous = true\npublisher_jwt_key = 'k'\n");
    let ok = ok.to_str().expect("utf-8 path");
    for (env, reason) in cases {
        assert_refused(
            &run(dir.path(), env, &["config", "check", "--config", ok]),
            reason,
        );
    }
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
        // C-HDR-3, issue 21: a compression other than off or auto.
        (
            &[("QUICKSILVER_COMPRESSION", "brotli")],
            "compression: expected \"off\" or \"auto\", got \"brotli\"",
        ),
        (
            &[("QUICKSILVER_COMPRESSION_MIN_SIZE", "big")],
            "QUICKSILVER_COMPRESSION_MIN_SIZE",
        ),
        (
            &[(
                "QUICKSILVER_PUBLISHER_JWKS_URL",
                "file:///nonexistent/jwks.json",
            )],
            "cannot read the JWK Set file",
        ),
    ];
    config_check_refuses(&dir, cases);
}

/// The 1.0 settings (../shared/design.md "Configuration names", protocol.md C-ENV-1, C-ENV-2):
/// issuers from `QUICKSILVER_ISSUERS` and from `issuer` blocks, `trusted_issuers` from the
/// image's variable, each shown with its keys masked.
#[test]
fn config_check_shows_the_1_0_settings_masked() {
    let dir = temp_dir();
    let issuers = r#"[{"id": "https://auth.example.com", "publisher_jwt_key": "json-issuer-secret", "authorization_server": true}]"#;
    let output = run(
        dir.path(),
        &[
            ("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
            ("QUICKSILVER_ANONYMOUS", "true"),
            ("QUICKSILVER_ISSUERS", issuers),
            ("MERCURE_TRUSTED_ISSUERS", "https://app.example.com"),
            ("QUICKSILVER_TRUSTED_PROXIES", "10.0.0.0/8 ::1"),
            (
                "MERCURE_EXTRA_DIRECTIVES",
                "resource_identifier https://hub.example.com/.well-known/mercure\npublic_urls https://Hub.example.com\ndebugger",
            ),
        ],
        &["config", "check"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains("json-issuer-secret"), "{text}");
    for expected in [
        r#"issuer = [{ authorization_server = true, id = "https://auth.example.com", publisher_jwt_key = "***" }]"#,
        r#"trusted_issuers = ["https://app.example.com"]"#,
        r#"resource_identifier = "https://hub.example.com/.well-known/mercure""#,
        r#"public_urls = ["https://Hub.example.com"]"#,
        r#"trusted_proxies = ["10.0.0.0/8", "::1"]"#,
        "debugger = true",
        "playground = false",
    ] {
        assert!(text.contains(expected), "{expected} not in\n{text}");
    }

    let blocks = "playground\nissuer https://auth.example.com {\n  subscriber {\n    jwt \"block-issuer-secret\" HS512\n  }\n}";
    let output = run(
        dir.path(),
        &[
            ("QUICKSILVER_PUBLISHER_JWT_KEY", PUBLISHER_KEY),
            ("MERCURE_EXTRA_DIRECTIVES", blocks),
        ],
        &["config", "check"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.contains("block-issuer-secret"), "{text}");
    assert!(
        text.contains(r#"issuer = [{ authorization_server = false, id = "https://auth.example.com", subscriber_jwt_alg = "HS512", subscriber_jwt_key = "***" }]"#),
        "{text}"
    );
    assert!(text.contains("# playground = true also turns on"), "{text}");
}

/// C-ENV-4: 1.0 configuration mistakes stop `config check` (as `serve`) with a clear message.
#[test]
fn config_check_refuses_1_0_mistakes() {
    let dir = temp_dir();
    let twice = r#"[{"id": "https://a.example", "publisher_jwt_key": "k1"}, {"id": "https://a.example", "subscriber_jwt_key": "k2"}]"#;
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("QUICKSILVER_ISSUERS", twice)],
            "issuer \"https://a.example\" is configured twice",
        ),
        (
            &[(
                "QUICKSILVER_ISSUERS",
                r#"[{"id": "https://localhost", "publisher_jwt_key": "k"}]"#,
            )],
            "is both configured and in trusted_issuers",
        ),
        (
            &[("QUICKSILVER_ISSUERS", "not json")],
            "QUICKSILVER_ISSUERS: expected a JSON array of objects",
        ),
        (
            &[("QUICKSILVER_ISSUERS", r#"[{"id": "x", "jwks": "y"}]"#)],
            "QUICKSILVER_ISSUERS: issuer: unknown field `jwks`",
        ),
        (
            &[(
                "MERCURE_EXTRA_DIRECTIVES",
                "anonymous\nissuer x {\n  audience y\n}",
            )],
            "MERCURE_EXTRA_DIRECTIVES line 3: issuer: audience: unknown issuer directive",
        ),
        (
            &[(
                "MERCURE_EXTRA_DIRECTIVES",
                "issuer x {\n  publisher {\n    jwt k\n  }",
            )],
            "MERCURE_EXTRA_DIRECTIVES line 1: the block of issuer is never closed",
        ),
        (
            &[(
                "QUICKSILVER_ISSUERS",
                r#"[{"id": "https://a.example", "subscriber_jwks_url": "file:///nonexistent/jwks.json"}]"#,
            )],
            "issuer \"https://a.example\", subscriber key: cannot read the JWK Set file",
        ),
        (
            &[("QUICKSILVER_TRUSTED_PROXIES", "10.0.0.0/33")],
            "trusted_proxies: \"10.0.0.0/33\" is neither an IP address nor a CIDR range",
        ),
        (
            &[("QUICKSILVER_PUBLIC_URLS", "https://hub.example.com/path")],
            "public_urls: \"https://hub.example.com/path\" is not an origin",
        ),
        (
            &[("QUICKSILVER_RESOURCE_IDENTIFIER", "/.well-known/mercure")],
            "resource_identifier \"/.well-known/mercure\": not an absolute URL",
        ),
    ];
    config_check_refuses(&dir, cases);
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
