//! A.11 Limits and C-LIM-1 body size.

use serde_json::json;

use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{send, Resp};
use crate::tokens::{publish_claims, subscribe_claims};

const TOO_LARGE: &str = "Request Entity Too Large\n";

/// POSTs a form body of exactly `len` bytes (`topic=…&data=xxx…`).
async fn post_sized(hub: &Hub, token: Option<&str>, len: usize) -> Resp {
    let prefix = format!("topic={}&data=", crate::http::pct(&uniq("lim")));
    assert!(len > prefix.len());
    let body = prefix.clone() + &"x".repeat(len - prefix.len());
    let mut rb = hub
        .hub_req(reqwest::Method::POST, "")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    send(rb).await
}

/// A-LIM-2: more than 1000 `topic` fields → 400; 1000 are accepted.
#[tokio::test]
async fn a_lim_2_too_many_publish_topics() {
    let hub = Hub::start_default().await;
    let base = uniq("a-lim-2");
    let topics: Vec<String> = (0..1001).map(|i| format!("{base}/{i}")).collect();
    let fields: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", t.as_str())).collect();
    hub.publish(&fields)
        .await
        .expect(400, "too many topics in update\n");
    assert_eq!(hub.publish(&fields[..1000]).await.status, 200);
}

/// A-LIM-3: more than 1000 entries in `mercure.publish` / `mercure.subscribe` → 401.
#[tokio::test]
async fn a_lim_3_too_many_claim_entries() {
    let hub = Hub::start_default().await;
    let mut entries: Vec<String> = (0..999).map(|i| format!("urn:x:{i}")).collect();
    entries.push("*".into());
    let t1000 = hub.publisher_token(&publish_claims(json!(entries)));
    let fields = [("topic", "https://example.com/a-lim-3")];
    assert_eq!(send(hub.pub_req(Some(&t1000), &fields)).await.status, 200);
    entries.push("urn:x:last".into());
    let t1001 = hub.publisher_token(&publish_claims(json!(entries)));
    asserts::unauthorized(&send(hub.pub_req(Some(&t1001), &fields)).await);
    let st = hub.subscriber_token(&subscribe_claims(json!(entries)));
    let r = crate::http::send_sub(hub.sub_req(&["x"]).bearer_auth(st)).await;
    asserts::unauthorized(&r);
}

/// A-LIM-4, C-LIM-1: the default limit is 1 MiB → 413 `Request Entity Too Large\n`.
#[tokio::test]
async fn a_lim_4_default_body_limit_1mib() {
    let hub = Hub::start_default().await;
    let token = hub.publisher_token_all();
    assert_eq!(
        post_sized(&hub, Some(&token), 1024 * 1024).await.status,
        200
    );
    post_sized(&hub, Some(&token), 1024 * 1024 + 1)
        .await
        .expect(413, TOO_LARGE);
}

/// C-LIM-1, A-PUB-12: a configured limit; the token is checked first (step 1 before 2).
#[tokio::test]
async fn c_lim_1_configured_limit_and_order() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_MAX_REQUEST_BODY_SIZE", "1000B")
        .start()
        .await
    else {
        return;
    };
    let token = hub.publisher_token_all();
    assert_eq!(post_sized(&hub, Some(&token), 1000).await.status, 200);
    post_sized(&hub, Some(&token), 1001)
        .await
        .expect(413, TOO_LARGE);
    asserts::unauthorized(&post_sized(&hub, None, 1001).await);
    // step 2 before 3 and 4: an oversized body without topic, with bad encoding
    let body = format!("data=%FF{}", "x".repeat(1200));
    let rb = hub
        .hub_req(reqwest::Method::POST, "")
        .bearer_auth(&token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    send(rb).await.expect(413, TOO_LARGE);
}

/// C-LIM-1: `0` disables the limit.
#[tokio::test]
async fn c_lim_1_zero_disables() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_MAX_REQUEST_BODY_SIZE", "0")
        .start()
        .await
    else {
        return;
    };
    let token = hub.publisher_token_all();
    let r = post_sized(&hub, Some(&token), 3 * 1024 * 1024).await;
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(200)]);
}
