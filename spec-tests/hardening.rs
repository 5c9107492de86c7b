//! C-HDR-1 security headers, C-HARD-1/2/3/5 hardening, X-13 form decoding.

use reqwest::Method;
use serde_json::json;

use crate::asserts;
use crate::harness::{send, send_sub, uniq, Hub, HUB_PATH};
use crate::sse::{Probe, SseStream};
use crate::tokens::publish_claims;

/// C-HDR-1: security headers on healthz, errors and publish answers.
#[tokio::test]
async fn c_hdr_1_security_headers_everywhere() {
    let hub = Hub::start_default().await;
    let r = send(hub.client.get(hub.url("/healthz"))).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""), "{r:?}");
    asserts::security_headers(&r.headers, "healthz");
    let r = send(hub.hub_req(Method::GET, "")).await;
    assert_eq!(r.status, 400);
    asserts::security_headers(&r.headers, "400");
    let r = send(hub.pub_req(None, &[("topic", "x")])).await;
    assert_eq!(r.status, 401);
    asserts::security_headers(&r.headers, "401");
    let narrow = hub.publisher_token(&publish_claims(json!(["urn:a"])));
    let r = send(hub.pub_req(Some(&narrow), &[("topic", "urn:b")])).await;
    assert_eq!(r.status, 403);
    asserts::security_headers(&r.headers, "403");
    let r = send(hub.client.get(hub.url(&format!("{HUB_PATH}/x")))).await;
    asserts::security_headers(&r.headers, "404");
}

/// C-HARD-2: C0 and DEL in published topics → 400, before the grant check.
#[tokio::test]
async fn c_hard_2_control_characters_in_published_topics() {
    let hub = Hub::start_default().await;
    let narrow = hub.publisher_token(&publish_claims(json!(["urn:only"])));
    for c in ["\0", "\x01", "\t", "\n", "\r", "\x1f", "\x7f"] {
        let topic = format!("https://example.com/a{c}b");
        hub.publish(&[("topic", &topic)])
            .await
            .expect(400, "Invalid \"topic\" parameter\n");
        let alt = [("topic", "urn:only"), ("topic", topic.as_str())];
        send(hub.pub_req(Some(&narrow), &alt))
            .await
            .expect(400, "Invalid \"topic\" parameter\n");
    }
}

/// C-HARD-2: C0 and DEL in subscription selectors → 400 (with a period).
#[tokio::test]
async fn c_hard_2_control_characters_in_selectors() {
    let hub = Hub::start_default().await;
    for c in ["\0", "\x01", "\t", "\n", "\x7f"] {
        let sel = format!("https://example.com/{{id}}{c}");
        send(hub.sub_req(&["https://example.com/ok", &sel]))
            .await
            .expect(400, "Invalid \"topic\" parameter.\n");
    }
}

/// C-HARD-3, X-13: invalid UTF-8 after decoding → 400 `Bad Request\n`.
#[tokio::test]
async fn c_hard_3_invalid_utf8() {
    let hub = Hub::start_default().await;
    for q in ["topic=%FF", "topic=ok&x%C3=1", "topic=%C3%28"] {
        send(hub.hub_req(Method::GET, q))
            .await
            .expect(400, "Bad Request\n");
    }
    let token = hub.publisher_token_all();
    for body in ["topic=%FF", "topic=ok&data=%E2%82", "topic=ok&%FF=1"] {
        let rb = hub
            .hub_req(Method::POST, "")
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        send(rb).await.expect(400, "Bad Request\n");
    }
    let rb = hub.sub_req(&["x"]).header(
        "Last-Event-ID",
        reqwest::header::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
    );
    send_sub(rb).await.expect(400, "Bad Request\n");
}

/// C-HARD-5: `type=mercure` and `id=earliest` are reserved.
#[tokio::test]
async fn c_hard_5_reserved_values() {
    let hub = Hub::start_default().await;
    let t = uniq("c-hard-5");
    hub.publish(&[("topic", &t), ("type", "mercure")])
        .await
        .expect(400, "\"type\" field uses the reserved value \"mercure\"\n");
    hub.publish(&[("topic", &t), ("id", "earliest")])
        .await
        .expect(400, "\"id\" field uses the reserved value \"earliest\"\n");
    let mut p = Probe::open(&hub, None, &[&t]).await;
    assert!(
        p.receives(&hub, &[("topic", &t), ("type", "Mercure")])
            .await
    );
    assert!(
        p.receives(
            &hub,
            &[
                ("topic", &t),
                ("id", &format!("earliest-{}", uuid::Uuid::new_v4()))
            ]
        )
        .await
    );
}

/// X-13: one WHATWG form decoder: `+` is a space, `;` is ordinary, a bad `%` is literal,
/// a name without `=` has an empty value — in query strings and in publish bodies.
#[tokio::test]
async fn x_13_form_decoding() {
    let hub = Hub::start_default().await;
    let token = hub.publisher_token_all();
    let base = uniq("x-13");
    // Each case: raw query/body text for the topic, and the decoded topic.
    let cases = [
        (format!("topic={base}/a+b"), format!("{base}/a b")),
        (format!("topic={base}/a;b"), format!("{base}/a;b")),
        (format!("topic={base}/100%"), format!("{base}/100%")),
        (format!("topic={base}/%zz%4"), format!("{base}/%zz%4")),
        (format!("topic={base}/%41%2B"), format!("{base}/A+")),
    ];
    for (raw, decoded) in &cases {
        let q = format!(
            "{raw}&topic={}",
            crate::harness::pct(&uniq("x-13-sentinel"))
        );
        let mut sub = SseStream::open(hub.hub_req(Method::GET, &q)).await;
        let rb = hub
            .hub_req(Method::POST, "")
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(raw.clone());
        let r = send(rb).await;
        assert_eq!(r.status, 200, "publishing {raw:?}: {r:?}");
        let ev = sub.expect_event(&r.body).await;
        assert_eq!(ev.id.as_deref(), Some(r.body.as_str()), "{decoded}");
        // the decoded topic is also reachable with an encoded exact selector
        let mut p = Probe::open(&hub, None, &[decoded]).await;
        assert!(p.receives(&hub, &[("topic", decoded)]).await, "{decoded}");
    }
    // a bare name has an empty value: `topic` alone is the empty topic
    let mut p = Probe::open(&hub, None, &[""]).await;
    let rb = hub
        .hub_req(Method::POST, "")
        .bearer_auth(&token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("topic&data=x");
    let r = send(rb).await;
    assert_eq!(r.status, 200, "{r:?}");
    let evs = p.drain(&hub).await;
    assert!(
        evs.iter().any(|e| e.id.as_deref() == Some(r.body.as_str())),
        "{evs:?}"
    );
}
