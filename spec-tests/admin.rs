//! The command line and the official image's environment (C-CLI-1, C-CLI-2, C-ENV-1, C-ENV-2,
//! C-ENV-4). `tests/cli.rs` covers every subcommand in depth; these check the contract ids.

use std::process::{Output, Stdio};

use crate::harness::{uniq, Hub};
use crate::http::send;
use crate::sse::SseStream;
use crate::tokens::{publish_claims, sign_hs};

fn quicksilver(args: &[&str], env: &[(&str, &str)]) -> Output {
    crate::process::command(&std::env::temp_dir())
        .args(args)
        .stdin(Stdio::null())
        .envs(env.iter().copied())
        .output()
        .expect("run quicksilver")
}

/// C-CLI-1, C-CLI-2: `token issue` prints a JWS and a newline on stdout (exit 0) that the hub
/// accepts; a missing flag gives one line on stderr, nothing on stdout, exit 1.
#[tokio::test]
async fn c_cli_1_token_issue_mints_tokens_the_hub_accepts() {
    let Some(hub) = Hub::builder().anonymous(true).start().await else {
        return;
    };
    let topic = uniq("cli");
    let output = quicksilver(
        &[
            "token",
            "issue",
            "--key",
            &hub.publisher_key,
            "--publish",
            &topic,
            "--ttl",
            "1h",
        ],
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf8");
    assert!(
        stdout.ends_with('\n') && stdout.matches('\n').count() == 1,
        "{stdout:?}"
    );
    let token = stdout.trim_end();
    assert_eq!(token.split('.').count(), 3, "compact JWS");
    let mut stream = SseStream::open(hub.sub_req(&[&topic])).await;
    let response = send(hub.pub_req(Some(token), &[("topic", &topic), ("data", "minted")])).await;
    assert_eq!(response.status, 200, "{response:?}");
    stream.expect_event(&response.body).await;
    let refused = send(hub.pub_req(Some(token), &[("topic", &uniq("other"))])).await;
    assert_eq!(
        refused.status, 403,
        "the grant covers only the requested topic"
    );

    let failure = quicksilver(&["token", "issue", "--publish", "x"], &[]);
    assert_eq!(failure.status.code(), Some(1));
    assert!(failure.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&failure.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

/// C-ENV-1, C-ENV-2: the official image's variables configure the hub: keys from
/// `MERCURE_PUBLISHER_JWT_KEY`, settings from `MERCURE_EXTRA_DIRECTIVES`.
#[tokio::test]
async fn c_env_1_official_image_variables() {
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    // The harness always sets QUICKSILVER_ANONYMOUS, which beats an `anonymous` directive.
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .publisher_key(None, None)
        .subscriber_key(None, None)
        .env("MERCURE_PUBLISHER_JWT_KEY", &key)
        .env(
            "MERCURE_EXTRA_DIRECTIVES",
            "heartbeat 40s\ncors_origins https://app.example.com",
        )
        .start()
        .await
    else {
        return;
    };
    let topic = uniq("env");
    let mut stream = SseStream::open(hub.sub_req(&[&topic])).await;
    let token = sign_hs("HS256", &key, &publish_claims(serde_json::json!(["*"])));
    let response = send(hub.pub_req(Some(&token), &[("topic", &topic)])).await;
    assert_eq!(
        response.status, 200,
        "MERCURE_PUBLISHER_JWT_KEY verifies publishers: {response:?}"
    );
    stream.expect_event(&response.body).await;
    let preflight = hub
        .client
        .request(reqwest::Method::OPTIONS, hub.url("/.well-known/mercure"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 204, "cors_origins directive applied");
}

/// C-ENV-4, C-ENV-2: configuration errors stop the hub at startup with a clear message.
#[tokio::test]
async fn c_env_4_configuration_errors_stop_the_hub() {
    let cases: [(&str, &str, &str); 4] = [
        ("MERCURE_EXTRA_DIRECTIVES", "frobnicate on", "frobnicate"),
        ("QUICKSILVER_HEARTBEAT", "soon", "QUICKSILVER_HEARTBEAT"),
        (
            "QUICKSILVER_PUBLISH_ORIGINS",
            "not-an-origin",
            "publish_origins",
        ),
        ("QUICKSILVER_BATCH_WINDOW", "5s", "batch_window"),
    ];
    for (variable, value, mentioned) in cases {
        let Some((status, log)) = Hub::builder()
            .anonymous(true)
            .env(variable, value)
            .start_expect_failure()
            .await
        else {
            return;
        };
        assert!(!status.success(), "{variable}={value} must stop the hub");
        assert!(
            log.contains(mentioned),
            "{variable}: the message names {mentioned:?}: {log}"
        );
    }
    let Some((status, log)) = Hub::builder()
        .publisher_key(None, None)
        .anonymous(true)
        .start_expect_failure()
        .await
    else {
        return;
    };
    assert!(!status.success());
    assert!(
        log.contains("publisher"),
        "a missing publisher key is named: {log}"
    );
}
