//! B-SUB-2 (the `QUERY` method with a form body), B-SUB-4 and X-13 (one WHATWG form decoder,
//! strict UTF-8) on 1.0 requests.

use reqwest::Method;

use super::{publish_raw, query_req};
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, pct, send, send_sub};
use crate::sse::{Probe, SseStream};

/// Escaped byte sequences that are not UTF-8 (overlong, surrogate, > U+10FFFF, truncated).
const NOT_UTF8: [&str; 5] = ["%FF", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "%E2%82"];

/// B-SUB-2, X-2, B-SUB-3: a `QUERY` request carries its parameters in a form body; query and
/// body pairs form one list (a `topic` in the query and a `match` in the body make a mixed
/// request; QS accepts `topic` in the body too).
#[tokio::test]
async fn b_sub_2_query_method_with_form_body() {
    let hub = Hub::start_default().await;
    let (a, b, c, d) = (
        uniq("b-sub-2-a"),
        uniq("b-sub-2-b"),
        uniq("b-sub-2-c"),
        uniq("b-sub-2-d"),
    );
    let body = form_encode(&[("match", &a), ("match_urlpattern", &format!("{d}/:id"))]);
    let mut s = SseStream::open(query_req(&hub, &[], &body)).await;
    assert_eq!(
        s.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    let id1 = hub.publish_ok(&[("topic", &a)]).await;
    let id2 = hub.publish_ok(&[("topic", &format!("{d}/1"))]).await;
    let evs = s.events_until(&id2).await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(evs[0].id.as_deref(), Some(id1.as_str()));
    let sentinel = uniq("sentinel");
    let q = [("topic", b.as_str()), ("topic", sentinel.as_str())];
    let s = SseStream::open(query_req(&hub, &q, &form_encode(&[("match", &c)]))).await;
    let mut p = Probe {
        stream: s,
        sentinel,
    };
    assert!(p.receives(&hub, &[("topic", &b)]).await, "query topic");
    assert!(p.receives(&hub, &[("topic", &c)]).await, "body match");
    let mut s = SseStream::open(query_req(&hub, &[], &form_encode(&[("topic", &d)]))).await;
    let id = hub.publish_ok(&[("topic", &d)]).await;
    s.expect_event(&id).await;
}

/// B-SUB-2, A-SUB-1, B-SUB-5, B-SUB-6, B-SUB-7: every validation rule applies to body pairs
/// exactly as to query pairs.
#[tokio::test]
async fn b_sub_2_query_body_validated_like_query() {
    let hub = Hub::start_default().await;
    send_sub(query_req(&hub, &[], ""))
        .await
        .expect(400, "Missing \"topic\" parameter.\n");
    let t = uniq("b-sub-2");
    let r = send_sub(query_req(
        &hub,
        &[],
        &form_encode(&[("match", &t), ("matchfoo", "1")]),
    ))
    .await;
    assert_eq!(r.status, 400, "reserved name in the body: {r:?}");
    let r = send_sub(query_req(&hub, &[("match", &t)], "Match_urlpattern=x")).await;
    assert_eq!(
        r.status, 400,
        "reserved name in the body of a 1.0 query: {r:?}"
    );
    let r = send_sub(query_req(
        &hub,
        &[],
        &form_encode(&[("match_urlpattern", "https://example.com/(")]),
    ))
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.body.trim_end_matches('\n'),
        "invalid topic matcher pattern"
    );
    let many: Vec<String> = (0..101).map(|i| format!("{t}/{i}")).collect();
    let pairs: Vec<(&str, &str)> = many.iter().map(|v| ("match", v.as_str())).collect();
    let r = send_sub(query_req(&hub, &[], &form_encode(&pairs[..50]))).await;
    assert_eq!(r.status, 200, "{r:?}");
    // 50 in the query and 51 in the body: 101 in the union.
    let r = send_sub(query_req(&hub, &pairs[..50], &form_encode(&pairs[50..]))).await;
    assert_eq!(r.status, 400, "101 matchers across query and body: {r:?}");
    let long = format!("match={}", "a".repeat(4097));
    let r = send_sub(query_req(&hub, &[], &long)).await;
    assert_eq!(r.status, 400, "{r:?}");
}

/// B-SUB-2, C-LIM-1: a `QUERY` body over `max_request_body_size` (1 MiB) → 413.
#[tokio::test]
async fn b_sub_2_query_body_size_limit() {
    let hub = Hub::start_default().await;
    let body = format!("match={}&x={}", pct(&uniq("b-sub-2")), "a".repeat(1 << 20));
    send_sub(query_req(&hub, &[], &body))
        .await
        .expect(413, "Request Entity Too Large\n");
}

/// X-13, B-SUB-4, C-HARD-3: after decoding, every name and value must be UTF-8, else 400
/// `Bad Request\n` — in 1.0 query strings (values and names), `QUERY` bodies and 1.0 publish
/// bodies.
#[tokio::test]
async fn x_13_strict_utf8_in_1_0_requests() {
    let hub = Hub::start_default().await;
    let token = hub.v1_publisher_token_all();
    let t = pct(&uniq("x-13"));
    for bad in NOT_UTF8 {
        for q in [
            format!("match={t}{bad}"),
            format!("match_urlpattern={t}{bad}"),
            format!("match={t}&x{bad}=1"),
            format!("match={t}&last_event_id={bad}"),
        ] {
            send_sub(hub.hub_req(Method::GET, &q))
                .await
                .expect(400, "Bad Request\n");
        }
        send_sub(query_req(&hub, &[], &format!("match_exact={t}{bad}")))
            .await
            .expect(400, "Bad Request\n");
        for body in [
            format!("topic={t}{bad}"),
            format!("topic={t}&data={bad}"),
            format!("topic={t}&{bad}=1"),
        ] {
            publish_raw(&hub, Some(&token), &body)
                .await
                .expect(400, "Bad Request\n");
        }
    }
}

/// X-13, B-SUB-4: matcher values are decoded as WHATWG forms — `+` is a space, `;` ordinary, a
/// `%` not followed by two hex digits kept literally — in the query and in a `QUERY` body.
#[tokio::test]
async fn x_13_whatwg_decoding_of_matchers() {
    let hub = Hub::start_default().await;
    let base = uniq("x-13");
    let raw = format!("match={}/a;b%zz+c%2B%4", pct(&base));
    let decoded = format!("{base}/a;b%zz c+%4");
    let sentinel = uniq("sentinel");
    let q = format!("{raw}&match={}", pct(&sentinel));
    let mut p = Probe {
        stream: SseStream::open(hub.hub_req(Method::GET, &q)).await,
        sentinel,
    };
    assert!(
        p.receives(&hub, &[("topic", &decoded)]).await,
        "query: {decoded}"
    );
    let sentinel = uniq("sentinel");
    let body = format!("{raw}&match={}", pct(&sentinel));
    let mut p = Probe {
        stream: SseStream::open(query_req(&hub, &[], &body)).await,
        sentinel,
    };
    assert!(
        p.receives(&hub, &[("topic", &decoded)]).await,
        "body: {decoded}"
    );
    // The same decoding for a 1.0 publish body.
    let token = hub.v1_publisher_token_all();
    let mut s =
        SseStream::open(hub.hub_req(Method::GET, &form_encode(&[("match", &decoded)]))).await;
    let r = send(
        hub.hub_req(Method::POST, "")
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("topic={}/a;b%zz+c%2B%4", pct(&base))),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    s.expect_event(&r.body).await;
}
