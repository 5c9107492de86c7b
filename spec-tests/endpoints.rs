//! A.1 Endpoints and methods.

use reqwest::Method;

use crate::asserts;
use crate::harness::{uniq, Hub, HUB_PATH};
use crate::http::{form_encode, raw_http, send};
use crate::sse::SseStream;

/// A-EP-1, A-EP-2, A-EP-4: subscribe (GET) and publish (POST) live on `/.well-known/mercure`.
#[tokio::test]
async fn a_ep_1_2_4_hub_url_serves_get_and_post() {
    let hub = Hub::start_default().await;
    let topic = uniq("a-ep-1");
    let mut sub = SseStream::open(hub.sub_req(&[&topic])).await;
    let id = hub.publish_ok(&[("topic", &topic), ("data", "x")]).await;
    assert_eq!(sub.expect_event(&id).await.data(), "x");
}

/// A-EP-3: HEAD answers like GET (status and headers) without a body.
#[tokio::test]
async fn a_ep_3_head_is_like_get_without_body() {
    let hub = Hub::start_default().await;
    let q = form_encode(&[("topic", &uniq("a-ep-3"))]);
    let r = send(hub.hub_req(Method::HEAD, &q)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("private, no-cache, no-store, must-revalidate, max-age=0")
    );
}

/// A-EP-3, A-SUB-1: HEAD is validated like GET (missing topic → 400).
#[tokio::test]
async fn a_ep_3_head_without_topic_is_400() {
    let hub = Hub::start_default().await;
    let r = send(hub.hub_req(Method::HEAD, "")).await;
    assert_eq!((r.status, r.body.as_str()), (400, ""), "{r:?}");
}

/// A-EP-3, A-AUTH-11: HEAD is authorized like GET (no token, anonymous off → 401).
#[tokio::test]
async fn a_ep_3_head_is_authorized_like_get() {
    let Some(hub) = Hub::builder().start().await else {
        return;
    };
    let q = form_encode(&[("topic", &uniq("a-ep-3"))]);
    let r = send(hub.hub_req(Method::HEAD, &q)).await;
    assert_eq!((r.status, r.body.as_str()), (401, ""), "{r:?}");
    let token = hub.subscriber_token(&serde_json::json!({}));
    let r = send(hub.hub_req(Method::HEAD, &q).bearer_auth(token)).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
}

/// A-EP-5: other methods on the hub URL → 405 with an empty body.
#[tokio::test]
async fn a_ep_5_other_methods_are_405() {
    let hub = Hub::start_default().await;
    let q = form_encode(&[("topic", &uniq("a-ep-5"))]);
    for m in ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"] {
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let r = send(hub.hub_req(method, &q)).await;
        assert_eq!((r.status, r.body.as_str()), (405, ""), "{m}: {r:?}");
        if let Some(allow) = r.header("allow") {
            assert!(!allow.contains(m), "{m} listed in Allow: {allow}");
        }
    }
}

/// A-EP-6: unserved paths below `/.well-known/mercure/` → 404 `404 page not found\n`.
#[tokio::test]
async fn a_ep_6_unknown_subpaths_are_404() {
    let hub = Hub::start_default().await;
    let paths = [
        format!("{HUB_PATH}/"),
        format!("{HUB_PATH}/foo"),
        format!("{HUB_PATH}/subscriptions"),
        format!("{HUB_PATH}/subscriptions/foo"),
        format!("{HUB_PATH}/foo?topic=x"),
    ];
    for p in &paths {
        for m in [Method::GET, Method::POST] {
            let r = send(hub.client.request(m.clone(), hub.url(p))).await;
            r.expect(404, "404 page not found\n");
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("text/plain; charset=utf-8"),
                "{m} {p}"
            );
        }
    }
}

/// A-EP-7: routing uses the raw path: no dot-segment removal, no slash merging, no decoding.
#[tokio::test]
async fn a_ep_7_routing_uses_the_raw_path() {
    let hub = Hub::start_default().await;
    let host = hub.authority();
    let get = |path: &str| {
        format!("GET {path}?topic=x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
    };
    let (status, text) = raw_http(&hub, &get("/.well-known/mercure/../mercure")).await;
    assert_eq!(status, 404, "dot segments must not be removed: {text}");
    assert!(text.ends_with("404 page not found\n"), "{text}");
    for path in [
        "/.well-known/%6Dercure",
        "/.well-known//mercure",
        "//.well-known/mercure",
        "/.well-known/mercure%2F",
    ] {
        let (status, text) = raw_http(&hub, &get(path)).await;
        assert_eq!(status, 404, "{path} must not reach the hub: {text}");
    }
}

/// C-HDR-1 on 404 and 405 answers.
#[tokio::test]
async fn c_hdr_1_on_404_and_405() {
    let hub = Hub::start_default().await;
    let r = send(hub.client.get(hub.url(&format!("{HUB_PATH}/nope")))).await;
    assert_eq!(r.status, 404);
    asserts::security_headers(&r.headers, "404");
    let r = send(hub.hub_req(Method::PUT, "topic=x")).await;
    assert_eq!(r.status, 405);
    asserts::security_headers(&r.headers, "405");
}
