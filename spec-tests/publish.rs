//! A.5 Publication.

use serde_json::json;

use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::send;
use crate::sse::{Probe, SseStream};
use crate::tokens::publish_claims;

const MISSING: &str = "Missing \"topic\" parameter\n";

/// Sends a POST with a raw body and an optional Content-Type (publisher token, all topics).
async fn post_raw(hub: &Hub, content_type: Option<&str>, body: &str) -> crate::http::Resp {
    let mut rb = hub
        .hub_req(reqwest::Method::POST, "")
        .bearer_auth(hub.publisher_token_all())
        .body(body.to_string());
    if let Some(ct) = content_type {
        rb = rb.header("Content-Type", ct);
    }
    send(rb).await
}

/// A-PUB-1: form bodies with Content-Type parameters are accepted.
#[tokio::test]
async fn a_pub_1_content_type_parameters_accepted() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-1");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    let body = format!("topic={}&data=hi", crate::http::pct(&t));
    for ct in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
    ] {
        let r = post_raw(&hub, Some(ct), &body).await;
        assert_eq!(r.status, 200, "{ct}: {r:?}");
        assert_eq!(sub.expect_event(&r.body).await.data(), "hi");
    }
}

/// A-PUB-1: fields in the query string are ignored.
#[tokio::test]
async fn a_pub_1_query_fields_ignored() {
    let hub = Hub::start_default().await;
    let q = crate::http::form_encode(&[("topic", &uniq("a-pub-1"))]);
    let rb = hub
        .hub_req(reqwest::Method::POST, &q)
        .bearer_auth(hub.publisher_token_all())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("data=x");
    send(rb).await.expect(400, MISSING);
}

/// A-PUB-2: bodies of other media types carry no fields; an unparsable type is 400.
#[tokio::test]
async fn a_pub_2_other_media_types() {
    let hub = Hub::start_default().await;
    let body = format!("topic={}", crate::http::pct(&uniq("a-pub-2")));
    for ct in [
        Some("text/plain"),
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        post_raw(&hub, ct, &body).await.expect(400, MISSING);
    }
    post_raw(&hub, Some("invalid"), &body)
        .await
        .expect(400, "Bad Request\n");
}

/// A-PUB-3: no topic → 400 without a final period; empty and `*` topics are valid.
#[tokio::test]
async fn a_pub_3_missing_topic_is_400() {
    let hub = Hub::start_default().await;
    let r = hub.publish(&[("data", "x")]).await;
    r.expect(400, MISSING);
    hub.publish(&[]).await.expect(400, MISSING);
    post_raw(&hub, Some("application/x-www-form-urlencoded"), "")
        .await
        .expect(400, MISSING);
    let mut p = Probe::open(&hub, None, &["", "*"]).await;
    assert!(p.receives(&hub, &[("topic", "")]).await);
    assert!(p.receives(&hub, &[("topic", "*")]).await);
}

/// A-PUB-4: alternates reach their subscribers; duplicates are allowed.
#[tokio::test]
async fn a_pub_4_alternates_and_duplicates() {
    let hub = Hub::start_default().await;
    let (a, b) = (uniq("a-pub-4"), uniq("a-pub-4"));
    let mut pa = Probe::open(&hub, None, &[&a]).await;
    let mut pb = Probe::open(&hub, None, &[&b]).await;
    let id = hub
        .publish_ok(&[("topic", &a), ("topic", &b), ("topic", &b)])
        .await;
    for p in [&mut pa, &mut pb] {
        let evs = p.drain(&hub).await;
        let n = evs.iter().filter(|e| e.id.as_deref() == Some(&id)).count();
        assert_eq!(n, 1, "{evs:?}");
    }
}

/// A-PUB-5, A-PUB-10: data is opaque and delivered byte for byte; the first value counts.
#[tokio::test]
async fn a_pub_5_data_is_opaque_first_counts() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-5");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    let data = "a=b&c+d %41 é 😀 \"q\" \\ {json: [1,2]} \t end";
    let id = hub
        .publish_ok(&[("topic", &t), ("data", data), ("data", "second")])
        .await;
    assert_eq!(sub.expect_event(&id).await.data(), data);
}

/// A-PUB-6: any `private` field makes the update private; absent → public.
#[tokio::test]
async fn a_pub_6_private_flag_any_value() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-6");
    let token = hub.subscriber_token_for(&["*"]);
    let mut anon = Probe::open(&hub, None, &[&t]).await;
    let mut authed = Probe::open(&hub, Some(&token), &[&t]).await;
    for v in ["on", "true", "0", "false", ""] {
        let f = [("topic", t.as_str()), ("private", v)];
        let id = hub.publish_ok(&f).await;
        let seen = |evs: Vec<crate::sse::Event>| evs.iter().any(|e| e.id.as_deref() == Some(&id));
        assert!(
            !seen(anon.drain(&hub).await),
            "private={v:?} reached an anonymous subscriber"
        );
        assert!(
            seen(authed.drain(&hub).await),
            "private={v:?} not delivered to an authorized one"
        );
    }
    assert!(
        anon.receives(&hub, &[("topic", &t)]).await,
        "public update not delivered"
    );
}

/// A-PUB-7, A-PUB-11, C-ID-1: generated ids are `urn:uuid:` + lower-case UUIDv7.
#[tokio::test]
async fn a_pub_7_generated_id_is_urn_uuid_v7() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-7");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    for fields in [
        vec![("topic", t.as_str())],
        vec![("topic", t.as_str()), ("id", "")],
    ] {
        let r = hub.publish(&fields).await;
        assert_eq!(r.status, 200, "{r:?}");
        let uuid = r.body.strip_prefix("urn:uuid:").expect("urn:uuid: prefix");
        let parsed = uuid::Uuid::parse_str(uuid).expect("uuid");
        assert_eq!(parsed.get_version_num(), 7, "{uuid}");
        assert_eq!(
            uuid,
            parsed.hyphenated().to_string(),
            "lower-case hyphenated"
        );
        sub.expect_event(&r.body).await;
    }
}

/// A-PUB-7, A-PUB-11: a provided id is used verbatim (body, SSE id); duplicates and `#` ids accepted.
#[tokio::test]
async fn a_pub_7_provided_id_verbatim() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-7");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    let custom = format!("#My Id/é?{}", uuid::Uuid::new_v4());
    for _ in 0..2 {
        let r = hub.publish(&[("topic", &t), ("id", &custom)]).await;
        r.expect(200, &custom);
        let ev = sub.next_event(crate::harness::WAIT).await.expect("event");
        assert_eq!(ev.id.as_deref(), Some(custom.as_str()));
    }
}

/// A-PUB-7, C-HARD-1: NUL, CR, LF (and other C0, DEL) in `id` → 400.
#[tokio::test]
async fn a_pub_7_control_characters_in_id() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-7");
    for c in ["\0", "\r", "\n", "\x01", "\t", "\x1f", "\x7f"] {
        let id = format!("a{c}b");
        hub.publish(&[("topic", &t), ("id", &id)])
            .await
            .expect(400, "\"id\" field contains a forbidden control character\n");
    }
}

/// A-PUB-8: `type` becomes `event:`; control characters → 400.
#[tokio::test]
async fn a_pub_8_type_field() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-8");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    let id = hub.publish_ok(&[("topic", &t), ("type", "my type")]).await;
    assert_eq!(
        sub.expect_event(&id).await.event.as_deref(),
        Some("my type")
    );
    for c in ["\0", "\r", "\n", "\x02", "\x7f"] {
        let ty = format!("a{c}b");
        hub.publish(&[("topic", &t), ("type", &ty)]).await.expect(
            400,
            "\"type\" field contains a forbidden control character\n",
        );
    }
}

/// A-PUB-9: `retry` must be decimal digits fitting in u64.
#[tokio::test]
async fn a_pub_9_retry_validation() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-9");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    for (v, line) in [
        ("18446744073709551615", Some("18446744073709551615")),
        ("007", Some("7")),
        ("", None),
    ] {
        let id = hub.publish_ok(&[("topic", &t), ("retry", v)]).await;
        assert_eq!(
            sub.expect_event(&id).await.retry.as_deref(),
            line,
            "retry={v:?}"
        );
    }
    for v in [
        "-1",
        "+1",
        " 1",
        "1 ",
        "0x10",
        "1.5",
        "abc",
        "18446744073709551616",
        "１",
    ] {
        hub.publish(&[("topic", &t), ("retry", v)])
            .await
            .expect(400, "Invalid \"retry\" parameter\n");
    }
}

/// A-PUB-10: unknown fields ignored; only the first `id`, `type`, `retry` count.
#[tokio::test]
async fn a_pub_10_first_occurrence_counts() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-10");
    let mut sub = SseStream::open(hub.sub_req(&[&t])).await;
    let id1 = format!("first-{}", uuid::Uuid::new_v4());
    let fields = [
        ("topic", t.as_str()),
        ("unknown", "x"),
        ("id", &id1),
        ("id", "second"),
        ("type", "t1"),
        ("type", "bad\n"),
        ("retry", "5"),
        ("retry", "bad"),
        ("data", "d1"),
        ("data", "d2"),
    ];
    hub.publish(&fields).await.expect(200, &id1);
    let ev = sub.expect_event(&id1).await;
    assert_eq!(
        (ev.event.as_deref(), ev.retry.as_deref(), ev.data().as_str()),
        (Some("t1"), Some("5"), "d1")
    );
}

/// A-PUB-11: 200, `text/plain; charset=utf-8`, the id as the whole body (no newline).
#[tokio::test]
async fn a_pub_11_success_response() {
    let hub = Hub::start_default().await;
    let id = format!("urn:example:{}", uuid::Uuid::new_v4());
    let r = hub
        .publish(&[("topic", &uniq("a-pub-11")), ("id", &id)])
        .await;
    r.expect(200, &id);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    asserts::security_headers(&r.headers, "publish 200");
}

/// A-PUB-13: topics containing `/.well-known/mercure` are refused with 403, even with `*`.
#[tokio::test]
async fn a_pub_13_reserved_namespace() {
    let hub = Hub::start_default().await;
    for topic in [
        "https://example.com/.well-known/mercure/x",
        "https://example.com/.well-known/mercure",
        "/.well-known/mercure/subscriptions/foo",
        "foo/.well-known/mercure/bar",
        "https://example.com/\"q\"\\/.well-known/mercure",
    ] {
        let escaped = topic.replace('\\', "\\\\").replace('"', "\\\"");
        let body =
            format!("\"{escaped}\": topic value references the reserved \"/.well-known/mercure\" namespace\n");
        hub.publish(&[("topic", topic)]).await.expect(403, &body);
        let alt = [("topic", "https://example.com/ok"), ("topic", topic)];
        hub.publish(&alt).await.expect(403, &body);
    }
}

/// A-PUB-13 (QS): the normalised-path test also catches encoded and dotted forms.
#[tokio::test]
async fn a_pub_13_normalised_reserved_namespace() {
    let hub = Hub::start_default().await;
    for topic in [
        "https://example.com/.well-known/%6Dercure/x",
        "https://example.com/a/../.well-known/mercure/x",
        "https://example.com/%2Ewell-known/mercure/x",
    ] {
        let r = hub.publish(&[("topic", topic)]).await;
        assert_eq!(r.status, 403, "{topic}: {r:?}");
        assert!(r.body.ends_with("namespace\n"), "{topic}: {r:?}");
    }
}

/// A-PUB-14: 200 means the update was handed to every matching connected subscriber.
#[tokio::test]
async fn a_pub_14_dispatched_before_200() {
    let hub = Hub::start_default().await;
    let t = uniq("a-pub-14");
    let mut subs = Vec::new();
    for _ in 0..5 {
        subs.push(SseStream::open(hub.sub_req(&[&t])).await);
    }
    let id = hub.publish_ok(&[("topic", &t)]).await;
    for s in &mut subs {
        s.expect_event(&id).await;
    }
    let token = hub.publisher_token(&publish_claims(json!([t])));
    let r = send(hub.pub_req(Some(&token), &[("topic", &t)])).await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// A-PUB-12: classic publish checks run in a fixed order (steps 1, 3–10).
#[tokio::test]
async fn a_pub_12_check_order() {
    let hub = Hub::start_default().await;
    let ok = uniq("a-pub-12");
    let ctl = format!("{ok}\x01");
    let reserved = "https://example.com/.well-known/mercure/x";
    let reserved_body = format!(
        "\"{reserved}\": topic value references the reserved \"/.well-known/mercure\" namespace\n"
    );
    let many: Vec<String> = (0..1001).map(|i| format!("{ok}/{i}")).collect();
    let mut too_many: Vec<(&str, &str)> = many.iter().map(|t| ("topic", t.as_str())).collect();
    too_many.push(("topic", &ctl));
    // step 1 before 4
    asserts::unauthorized(&send(hub.pub_req(None, &[("data", "x")])).await);
    // step 3 before 4
    post_raw(&hub, Some("application/x-www-form-urlencoded"), "data=%FF")
        .await
        .expect(400, "Bad Request\n");
    // step 4 before 7
    hub.publish(&[("retry", "x")]).await.expect(400, MISSING);
    // step 5 before 6
    hub.publish(&too_many)
        .await
        .expect(400, "too many topics in update\n");
    // step 6 before 7
    hub.publish(&[("topic", &ctl), ("retry", "x")])
        .await
        .expect(400, "Invalid \"topic\" parameter\n");
    // step 7 before 8
    let narrow = hub.publisher_token(&publish_claims(json!(["https://example.com/allowed/{x}"])));
    let r = send(hub.pub_req(Some(&narrow), &[("topic", &ok), ("retry", "x")])).await;
    r.expect(400, "Invalid \"retry\" parameter\n");
    // step 8 before 9 and 10
    let r = send(hub.pub_req(Some(&narrow), &[("topic", reserved), ("id", "a\nb")])).await;
    asserts::forbidden(&r);
    // step 9 before 10
    hub.publish(&[("topic", reserved), ("id", "a\nb")])
        .await
        .expect(403, &reserved_body);
    // step 7 before 10
    hub.publish(&[("topic", &ok), ("retry", "x"), ("type", "a\nb")])
        .await
        .expect(400, "Invalid \"retry\" parameter\n");
}
