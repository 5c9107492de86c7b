//! A.2 Subscription requests.

use reqwest::Method;
use serde_json::json;

use crate::asserts;
use crate::harness::{uniq, Hub, WAIT};
use crate::http::{form_encode, send};
use crate::sse::{Probe, SseStream};

const MISSING: &str = "Missing \"topic\" parameter.\n";

/// A-SUB-1: no `topic` → 400 `Missing "topic" parameter.\n` (with a period).
#[tokio::test]
async fn a_sub_1_missing_topic_is_400_with_period() {
    let hub = Hub::start_default().await;
    send(hub.hub_req(Method::GET, ""))
        .await
        .expect(400, MISSING);
    send(hub.hub_req(Method::GET, "foo=bar&lastEventID=x"))
        .await
        .expect(400, MISSING);
}

/// A-SUB-1, A-SUB-9: the topic check runs after authentication.
#[tokio::test]
async fn a_sub_9_token_is_checked_before_topic() {
    let Some(hub) = Hub::builder().start().await else {
        return;
    };
    asserts::unauthorized(&send(hub.hub_req(Method::GET, "")).await);
    let bad = hub.publisher_token_all(); // wrong key for subscribers
    asserts::unauthorized(&send(hub.hub_req(Method::GET, "").bearer_auth(bad)).await);
    let good = hub.subscriber_token(&json!({}));
    send(hub.hub_req(Method::GET, "").bearer_auth(good))
        .await
        .expect(400, MISSING);
}

/// A-SUB-6: parameter names are case-sensitive; unknown parameters are ignored.
#[tokio::test]
async fn a_sub_6_names_case_sensitive_unknown_ignored() {
    let hub = Hub::start_default().await;
    let topic = uniq("a-sub-6");
    let q = form_encode(&[("Topic", &topic), ("TOPIC", &topic)]);
    send(hub.hub_req(Method::GET, &q))
        .await
        .expect(400, MISSING);
    let q = form_encode(&[("foo", "bar"), ("topic", &topic), ("x", "")]);
    let mut sub = SseStream::open(hub.hub_req(Method::GET, &q)).await;
    let id = hub.publish_ok(&[("topic", &topic)]).await;
    sub.expect_event(&id).await;
}

/// A-SUB-2: every `topic` value is a selector; an empty value matches only the empty topic.
#[tokio::test]
async fn a_sub_2_empty_selector_matches_only_empty_topic() {
    let hub = Hub::start_default().await;
    let mut p = Probe::open(&hub, None, &[""]).await;
    assert!(p.receives(&hub, &[("topic", "")]).await);
    assert!(!p.receives(&hub, &[("topic", &uniq("a-sub-2"))]).await);
}

/// A-SUB-2, A-SUB-5: duplicate selectors are allowed, the update still arrives once.
#[tokio::test]
async fn a_sub_5_duplicate_selectors_deliver_once() {
    let hub = Hub::start_default().await;
    let t = uniq("a-sub-5");
    let tpl = format!("{t}/{{x}}");
    let child = format!("{t}/1");
    let mut p = Probe::open(&hub, None, &[&t, &t, &tpl, "*", &child]).await;
    let n = p
        .count(&hub, &[("topic", &t), ("topic", &child), ("topic", &t)])
        .await;
    assert_eq!(n, 1, "update must be sent exactly once per connection");
}

/// A-SUB-3, A-LIM-1: more than 1000 `topic` values → 400; 1000 are fine.
#[tokio::test]
async fn a_sub_3_a_lim_1_too_many_topics() {
    let hub = Hub::start_default().await;
    let topics: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    send(hub.sub_req(&refs))
        .await
        .expect(400, "Too many \"topic\" parameters.\n");
    let sub = SseStream::open(hub.sub_req(&refs[..1000])).await;
    assert_eq!(sub.status, 200);
}

/// A-SUB-4: an update is delivered when any of its topics (alternates too) matches.
#[tokio::test]
async fn a_sub_4_alternate_topic_matches() {
    let hub = Hub::start_default().await;
    let mine = uniq("a-sub-4");
    let other = uniq("a-sub-4-other");
    let mut p = Probe::open(&hub, None, &[&mine]).await;
    assert!(
        p.receives(&hub, &[("topic", &other), ("topic", &mine)])
            .await
    );
    assert!(!p.receives(&hub, &[("topic", &other)]).await);
}

/// A-SUB-7: per connection, updates arrive in publication order.
#[tokio::test]
async fn a_sub_7_updates_arrive_in_order() {
    let hub = Hub::start_default().await;
    let t = uniq("a-sub-7");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(
            hub.publish_ok(&[("topic", &t), ("data", &i.to_string())])
                .await,
        );
    }
    let got: Vec<String> = sub
        .events_until(ids.last().unwrap())
        .await
        .into_iter()
        .filter_map(|e| e.id)
        .collect();
    assert_eq!(got, ids);
}

/// A-SUB-8, A-SSE-3: status, headers and the initial `:\n` are flushed before any update.
#[tokio::test]
async fn a_sub_8_headers_flushed_immediately() {
    let hub = Hub::start_default().await;
    // SseStream::open waits (with a timeout) for the response head only.
    let mut sub = SseStream::open(hub.sub_req(&[&uniq("a-sub-8")])).await;
    assert!(
        sub.wait_raw(WAIT, |r| r.starts_with(":\n")).await,
        "initial comment not flushed: {:?}",
        sub.raw()
    );
}
