//! R-TOKEN: no token claim can make the hub panic, and a PEM key file path with an `HS*`
//! algorithm is refused at start-up (docs/reliability.md).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{uniq, Hub};
use crate::http::send;
use crate::sse::SseStream;
use crate::support::skip_unless;
use crate::tokens::{now, openssl_keypair, publish_claims, sign_pem};

/// `exp` values at the extremes a JSON number can carry (all far in the future): each used to
/// overflow `Duration::from_secs_f64` or `Instant + Duration` in the stream's deadline.
const EXTREME_EXPS: [&str; 5] = [
    "1e300",
    "9223372036854775807",
    "18446744073709551615",
    "1.7976931348623157e308",
    "1e19",
];

/// R-TOKEN: subscriber tokens whose `exp` is huge, with `write_timeout` at its default and at
/// its maximum (`500000000000y`, about `u64::MAX` seconds), open streams that receive updates;
/// a subscriber with an ordinary token and the publisher keep being served, and the hub never
/// panics.
#[tokio::test]
async fn extreme_exp_and_write_timeout_cannot_panic_the_hub() {
    for write_timeout in ["600s", "500000000000y"] {
        let Some(hub) = Hub::builder()
            .env("QUICKSILVER_WRITE_TIMEOUT", write_timeout)
            .start()
            .await
        else {
            return;
        };
        let topic = uniq("token-exp");
        let mut streams = Vec::new();
        for exp in EXTREME_EXPS {
            let claims: Value = serde_json::from_str(&format!(
                r#"{{"exp": {exp}, "mercure": {{"subscribe": ["{topic}"]}}}}"#
            ))
            .expect("claims");
            let token = hub.subscriber_token(&claims);
            streams.push(SseStream::open(hub.sub_req(&[&topic]).bearer_auth(token)).await);
        }
        let ordinary = hub.subscriber_token(&json!({
            "exp": now() + 3600,
            "mercure": {"subscribe": [&topic]}
        }));
        let mut bystander = SseStream::open(hub.sub_req(&[&topic]).bearer_auth(ordinary)).await;
        for round in 0..2 {
            let public = hub
                .publish_ok(&[("topic", &topic), ("data", &format!("public {round}"))])
                .await;
            let private = hub
                .publish_ok(&[("topic", &topic), ("data", "private"), ("private", "on")])
                .await;
            for stream in streams.iter_mut().chain(std::iter::once(&mut bystander)) {
                stream.expect_event(&public).await;
                stream.expect_event(&private).await;
            }
        }
        let log = hub.log().unwrap_or_default();
        assert!(
            !log.contains("panicked"),
            "write_timeout {write_timeout}: the hub panicked: {log}"
        );
    }
}

/// A PEM public key in a file of its own; `None` (after a SKIP line) without `openssl`.
fn pem_file(test: &str) -> Option<(PathBuf, String)> {
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if skip_unless(openssl, test, "the openssl command is missing") {
        return None;
    }
    let (private, public) =
        openssl_keypair(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    let dir = std::env::temp_dir().join(format!("qs-faults-pem-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("publisher.pem");
    std::fs::write(&path, public).expect("write the PEM file");
    Some((path, private))
}

/// R-TOKEN: `publisher_jwt_key` or `subscriber_jwt_key` naming a PEM file while its algorithm
/// is the default `HS256` stops the hub at start-up (non-zero exit) with a message naming the
/// key to set, instead of using the path's text as the HMAC secret; `config check` says the
/// same; with `RS256` the same file verifies tokens.
#[tokio::test]
async fn pem_file_path_with_hmac_is_refused_at_startup() {
    let Some((path, private)) = pem_file("pem_file_path_with_hmac_is_refused_at_startup") else {
        return;
    };
    let path_text = path.to_str().expect("utf-8 path").to_owned();
    for role in ["publisher", "subscriber"] {
        let builder = Hub::builder().anonymous(true);
        let builder = match role {
            "publisher" => builder.publisher_key(Some(&path_text), None),
            _ => builder.subscriber_key(Some(&path_text), None),
        };
        let Some((status, log)) = builder.start_expect_failure().await else {
            return;
        };
        assert!(!status.success(), "{role}: exit status {status}");
        let expected = format!(
            "{role}_jwt_key names the PEM file {path_text} but {role}_jwt_alg is HS256: \
             set {role}_jwt_alg to the key's algorithm"
        );
        assert!(log.contains(&expected), "{role}: {log}");

        let empty = std::env::temp_dir().join(format!("qs-faults-check-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&empty).expect("temp dir");
        let mut check = Command::new(env!("CARGO_BIN_EXE_quicksilver"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("QUICKSILVER_") || name.starts_with("MERCURE_") {
                check.env_remove(name);
            }
        }
        let output = check
            .args(["config", "check"])
            .current_dir(&empty)
            .env("QUICKSILVER_ANONYMOUS", "true")
            .env("QUICKSILVER_PUBLISHER_JWT_KEY", "a-shared-secret")
            .env(
                format!("QUICKSILVER_{}_JWT_KEY", role.to_uppercase()),
                &path_text,
            )
            .output()
            .expect("run config check");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{role}: {stderr}");
        assert!(stderr.contains(&expected), "{role}: {stderr}");
        std::fs::remove_dir_all(&empty).ok();
    }

    let Some(hub) = Hub::builder()
        .anonymous(true)
        .publisher_key(Some(&path_text), Some("RS256"))
        .start()
        .await
    else {
        return;
    };
    let token = sign_pem("RS256", &private, &publish_claims(json!(["*"])));
    let topic = uniq("pem");
    let answer = send(hub.pub_req(Some(&token), &[("topic", &topic), ("data", "x")])).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    if let Some(dir) = path.parent() {
        std::fs::remove_dir_all(dir).ok();
    }
}
