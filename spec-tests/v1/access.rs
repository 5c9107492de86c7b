//! B-AD-6, B-AD-7, B-SUB-3, B-T-2, B-AUTH-1: both dialects on one default hub,
//! private delivery under 1.0 grants, routing and authorization mixing dialects, one history.

use serde_json::json;

use super::{env_hub, get, probe_v1, publish_as};
use crate::harness::{uniq, Hub, WAIT};
use crate::sse::{Probe, SseStream};
use crate::tokens::{matcher, mercure_detail, now, subscribe_claims, v1_claims, DEFAULT_ISSUER};

/// B-AUTH-1: a hub started with only the classic keys serves both dialects on the
/// hub URL: a classic and a 1.0 subscriber (anonymous) both receive updates published with a
/// classic token and with a 1.0 token of the default trusted issuer.
#[tokio::test]
async fn x_1_both_dialects_by_default() {
    let hub = Hub::start_default().await;
    let t = uniq("x-1");
    let mut classic = SseStream::open(hub.sub_req(&[&t])).await;
    let mut v1 = SseStream::open(get(&hub, &[("match", &t)])).await;
    let id1 = hub.publish_ok(&[("topic", &t)]).await;
    let r = publish_as(&hub, &hub.v1_publisher_token_all(), &[("topic", &t)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    for s in [&mut classic, &mut v1] {
        let evs = s.events_until(&r.body).await;
        let ids: Vec<_> = evs.iter().filter_map(|e| e.id.clone()).collect();
        assert_eq!(ids, vec![id1.clone(), r.body.clone()]);
    }
}

/// B-AD-6, B-SUB-3, B-T-2, B-AUTH-1: a private update needs `subscribe` on at least one of its
/// topics; routing matchers never widen access (the draft's example: routing by
/// `…/books/:id`, grants on `books/1` and `books/7`).
#[tokio::test]
async fn b_ad_6_private_needs_a_subscribe_grant() {
    let hub = Hub::start_default().await;
    let books = uniq("b-ad-6");
    let (b1, b2, b7) = (
        format!("{books}/1"),
        format!("{books}/2"),
        format!("{books}/7"),
    );
    let token = hub.v1_subscriber_token(json!([
        mercure_detail(
            &["subscribe"],
            vec![matcher(&b1, None), matcher(&b7, Some("exact"))]
        ),
        mercure_detail(&["publish"], vec![matcher("*", None)]),
    ]));
    let pattern = format!("{books}/:id");
    let mut p = probe_v1(&hub, Some(&token), &[("match_urlpattern", &pattern)]).await;
    let private = |t: &str| vec![("topic", t.to_string()), ("private", "on".into())];
    for (fields, want) in [
        (private(&b1), true),
        (private(&b2), false),
        (private(&b7), true),
        (vec![("topic", b2.clone())], true),
        (
            vec![
                ("topic", b2.clone()),
                ("topic", b7.clone()),
                ("private", "".into()),
            ],
            true,
        ),
    ] {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(p.receives(&hub, &f).await, want, "{f:?}");
    }
    // `match=*` routes everything and grants nothing; a publish-only entry grants no reading.
    let publish_only = hub.v1_subscriber_token(json!([mercure_detail(
        &["publish"],
        vec![matcher("*", None)]
    )]));
    for token in [None, Some(publish_only.as_str())] {
        let mut p = probe_v1(&hub, token, &[("match", "*")]).await;
        assert!(!p.receives(&hub, &[("topic", &b1), ("private", "on")]).await);
        assert!(p.receives(&hub, &[("topic", &b1)]).await);
    }
}

/// X-4, A-AUTH-12, B-AD-6: a classic subscription (URI template) authorized by a 1.0 token —
/// the protocol's example: `topic=…/books/{id}` with `subscribe` on
/// `{"match":"…/books/:id","match_type":"urlpattern"}` receives the private `…/books/7`.
#[tokio::test]
async fn x_4_classic_subscription_with_a_1_0_token() {
    let hub = Hub::start_default().await;
    let books = uniq("x-4");
    let token = hub.v1_subscriber_token_for(&[(&format!("{books}/:id"), Some("urlpattern"))]);
    let other = uniq("x-4-other");
    let tpl = format!("{books}/{{id}}");
    let mut p = Probe::open(&hub, Some(&token), &[&tpl, &other]).await;
    assert!(
        p.receives(&hub, &[("topic", &format!("{books}/7")), ("private", "on")])
            .await
    );
    assert!(
        !p.receives(&hub, &[("topic", &other), ("private", "on")])
            .await
    );
    assert!(p.receives(&hub, &[("topic", &other)]).await);
}

/// X-4, A-AUTH-12: a 1.0 subscription authorized by a classic token — routing by URL pattern,
/// private access by the `mercure.subscribe` selectors (URI template).
#[tokio::test]
async fn x_4_1_0_subscription_with_a_classic_token() {
    let hub = Hub::start_default().await;
    let books = uniq("x-4");
    let pattern = format!("{books}/:id");
    let private = |n: u32| [("topic", format!("{books}/{n}")), ("private", "on".into())];
    // (classic `mercure.subscribe`, private update number, delivered)
    for (grant, n, want) in [("{id}", 7, true), ("1", 2, false), ("1", 1, true)] {
        let token = hub.subscriber_token(&subscribe_claims(json!([format!("{books}/{grant}")])));
        let mut p = probe_v1(&hub, Some(&token), &[("match_urlpattern", &pattern)]).await;
        let fields = private(n);
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(p.receives(&hub, &f).await, want, "grant {grant}, books/{n}");
    }
}

/// B-HIST-2: one history and one id space — updates published with either kind of
/// token reach subscribers of either dialect in the same order, and an id published in one
/// dialect is a cursor in the other.
#[tokio::test]
async fn x_12_one_history_across_dialects() {
    let hub = Hub::start_default().await;
    let t = uniq("x-12");
    let v1_token = hub.v1_publisher_token_all();
    let mut classic = SseStream::open(hub.sub_req(&[&t])).await;
    let mut v1 = SseStream::open(get(&hub, &[("match", &t)])).await;
    let e1 = hub.publish_ok(&[("topic", &t)]).await;
    let r = publish_as(&hub, &v1_token, &[("topic", &t)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    let e2 = r.body;
    let e3 = hub.publish_ok(&[("topic", &t)]).await;
    let want = vec![e1.clone(), e2.clone(), e3.clone()];
    for s in [&mut classic, &mut v1] {
        assert_eq!(ids_until(s, &e3).await, want);
    }
    let mut s = SseStream::open(get(&hub, &[("match", &t), ("last_event_id", &e1)])).await;
    let resumed = vec![e2.clone(), e3.clone()];
    assert_eq!(
        ids_until(&mut s, &e3).await,
        resumed,
        "1.0 after a classic id"
    );
    let mut s = SseStream::open(get(&hub, &[("topic", &t), ("lastEventID", &e2)])).await;
    assert_eq!(
        ids_until(&mut s, &e3).await,
        vec![e3],
        "classic after a 1.0 id"
    );
}

/// The ids of the events received up to and including the one with id `last`.
async fn ids_until(s: &mut SseStream, last: &str) -> Vec<String> {
    let evs = s.events_until(last).await;
    evs.into_iter().filter_map(|e| e.id).collect()
}

/// B-AD-7, A-AUTH-14: a connection authorized by a 1.0 token ends no later than its `exp`.
#[tokio::test]
async fn b_ad_7_connection_ends_at_exp() {
    let hub = Hub::start_default().await;
    let mut claims = v1_claims(DEFAULT_ISSUER, &hub.resource_identifier(), json!([]));
    claims["exp"] = json!(now() + 3);
    let token = hub.v1_subscriber_raw(&claims);
    let mut s = SseStream::open(get(&hub, &[("match", &uniq("b-ad-7"))]).bearer_auth(token)).await;
    assert!(
        s.wait_end(WAIT).await.is_some(),
        "stream still open after exp"
    );
}

/// B-SUB-9, A-CORS-5: a credentialed cross-origin 1.0 subscription from an allowed origin gets
/// that origin echoed (never `*`) with `Access-Control-Allow-Credentials: true`; another origin
/// is not reflected.
#[tokio::test]
async fn b_sub_9_cors_for_credentialed_subscribers() {
    let Some(hub) = env_hub(&[("QUICKSILVER_CORS_ORIGINS", "https://app.example.com")]).await
    else {
        return;
    };
    let t = uniq("b-sub-9");
    let token = hub.v1_subscriber_token(json!([]));
    let open = |origin: &str| {
        let rb = get(&hub, &[("match", &t)])
            .header("Origin", origin)
            .header("Cookie", format!("__Secure-mercure_access_token={token}"));
        crate::http::send_sub(rb)
    };
    let r = open("https://app.example.com").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        r.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    let r = open("https://evil.example").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");
}
