//! B-PUB-1…11, B-T-1, B-AD-5, X-5 and the publish rows of §0.2: publishing with a 1.0 token —
//! the success response, clean strings, reserved values, ids, types, `retry`, size limits, the
//! check order, and the same requests answered per the token's dialect.

use serde_json::json;

use super::{bearer, probe_v1, publish_as, publish_raw, UNCLEAN};
use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{pct, Resp};
use crate::tokens::{matcher, mercure_detail, now};

/// Publishes `fields` with a 1.0 token granting `publish` on `*`.
async fn pub_v1(hub: &Hub, fields: &[(&str, &str)]) -> Resp {
    publish_as(hub, &hub.v1_publisher_token_all(), fields).await
}

/// A 1.0 token granting `publish` on the given exact topics only.
pub(super) fn narrow(hub: &Hub, topics: &[&str]) -> String {
    let topics = topics.iter().map(|t| matcher(t, None)).collect();
    hub.v1_publisher_token(json!([mercure_detail(&["publish"], topics)]))
}

/// 403 `insufficient_scope` (B-ERR-4).
#[track_caller]
pub(super) fn scope(r: &Resp, what: &str) {
    assert_eq!(r.status, 403, "{what}: {r:?}");
    bearer(r, Some("insufficient_scope"), None);
}

/// B-PUB-9, B-PUB-1, B-PUB-2, B-PUB-4, B-PUB-5, B-PUB-7, B-PUB-8, B-HIST-1, B-ENC-1, B-SEC-1,
/// success is 200 `text/plain; charset=utf-8` with the id as the body (generated
/// `urn:uuid:` ids, provided ids verbatim); alternates reach their subscribers; `data` is split
/// per line (so no line can inject an SSE field) and otherwise opaque; `type` and `retry` become
/// SSE fields; any `private` value makes the update private; unknown fields are ignored.
#[tokio::test]
async fn b_pub_9_success_and_delivery() {
    let hub = Hub::start_default().await;
    let (canonical, alternate) = (uniq("b-pub-9-c"), uniq("b-pub-9-a"));
    let mut p = probe_v1(&hub, None, &[("match", &alternate)]).await;
    let r = pub_v1(
        &hub,
        &[
            ("topic", &canonical),
            ("topic", &alternate),
            ("data", "a\rb\r\nc\nd"),
            ("type", "book"),
            ("retry", "1500"),
            ("unknown", "x"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    asserts::plain_text(&r);
    assert!(r.body.starts_with("urn:uuid:"), "{r:?}");
    let ev = p.stream.expect_event(&r.body).await;
    assert_eq!(ev.data_lines, ["a", "b", "c", "d"]);
    assert_eq!(ev.event.as_deref(), Some("book"));
    assert_eq!(ev.retry.as_deref(), Some("1500"));
    let jwe = "eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0..x+/=.é.\nid: forged";
    let r = pub_v1(&hub, &[("topic", &alternate), ("data", jwe)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    let ev = p.stream.expect_event(&r.body).await;
    assert_eq!(ev.data(), jwe, "data is opaque");
    assert_eq!(ev.id.as_deref(), Some(r.body.as_str()), "no injected id");
    let id = format!("{canonical}#v1");
    let r = pub_v1(&hub, &[("topic", &alternate), ("id", &id)]).await;
    r.expect(200, &id);
    p.stream.expect_event(&id).await;
    for private in ["", "on", "false"] {
        let r = pub_v1(&hub, &[("topic", &alternate), ("private", private)]).await;
        assert_eq!(r.status, 200, "{r:?}");
        let evs = p.drain(&hub).await;
        assert!(
            evs.iter().all(|e| e.id.as_deref() != Some(&r.body)),
            "private={private:?} reached an anonymous subscriber"
        );
    }
}

/// B-T-1, B-PUB-11, C-HARD-2: with a 1.0 token every topic (canonical and alternates) must be
/// clean UTF-8 — no C0, DEL, C1 or `Cf` — else 400; RTL letters are valid. A classic token still
/// accepts C1 and `Cf` (C-HARD-2 refuses only C0 and DEL).
#[tokio::test]
async fn b_t_1_clean_topics() {
    let hub = Hub::start_default().await;
    let base = uniq("b-t-1");
    for c in UNCLEAN {
        let dirty = format!("{base}/a{c}b");
        let r = pub_v1(&hub, &[("topic", &dirty)]).await;
        assert_eq!(
            r.status,
            400,
            "U+{:04X}: {r:?}",
            c.chars().next().unwrap() as u32
        );
        let r = pub_v1(&hub, &[("topic", &base), ("topic", &dirty)]).await;
        assert_eq!(r.status, 400, "alternate: {r:?}");
        if c.chars().all(|ch| ch > '\u{7f}') {
            assert_eq!(
                hub.publish(&[("topic", &dirty)]).await.status,
                200,
                "classic token"
            );
        }
    }
    let rtl = format!("{base}/שלום/مرحبا");
    let mut p = probe_v1(&hub, None, &[("match", &rtl)]).await;
    let r = pub_v1(&hub, &[("topic", &rtl)]).await;
    assert_eq!(r.status, 200, "{r:?}");
    p.stream.expect_event(&r.body).await;
}

/// B-PUB-3: with a 1.0 token a topic whose path, resolved against the hub URL with dot segments
/// removed and unreserved escapes decoded, is `/.well-known/mercure` or below it → 400 whatever
/// the grant, on any scheme and host; a topic exactly `*` → 400; a path that only contains the
/// string elsewhere is not reserved.
#[tokio::test]
async fn b_pub_3_reserved_namespace_and_star() {
    let hub = Hub::start_default().await;
    let u = uuid::Uuid::new_v4();
    let reserved = [
        "*".to_string(),
        "/.well-known/mercure".into(),
        format!("/.well-known/mercure/{u}"),
        format!("https://example.com/.well-known/mercure/{u}"),
        "https://other.example/.well-known/mercure".into(),
        format!("/.well-known/mercure/subscriptions/exact/{u}/urn%3Auuid%3A1"),
        format!("/.well-known/%6Dercure/{u}"),
        format!("/%2Ewell-known/mercure/{u}"),
        format!("/.well-known/mercure/../mercure/{u}"),
        format!("https://example.com/x/../.well-known/mercure/{u}"),
        format!("../.well-known/mercure/{u}"),
    ];
    for topic in &reserved {
        let r = pub_v1(&hub, &[("topic", topic)]).await;
        assert_eq!(r.status, 400, "{topic}: {r:?}");
        let r = pub_v1(&hub, &[("topic", &uniq("b-pub-3")), ("topic", topic)]).await;
        assert_eq!(r.status, 400, "alternate {topic}: {r:?}");
        let granted = narrow(&hub, &[topic]);
        let r = publish_as(&hub, &granted, &[("topic", topic)]).await;
        assert_eq!(r.status, 400, "{topic} with an exact grant: {r:?}");
    }
    for topic in [
        format!("https://example.com/{u}/.well-known/mercure"),
        format!("https://example.com/{u}?q=/.well-known/mercure/x"),
        format!("https://example.com/.well-known/mercurex/{u}"),
        format!("https://example.com/{u}#/.well-known/mercure/x"),
    ] {
        let r = pub_v1(&hub, &[("topic", &topic)]).await;
        assert_eq!(r.status, 200, "{topic} is not reserved in 1.0: {r:?}");
    }
}

/// B-PUB-6, B-T-1, B-SEC-1, C-HARD-5: a 1.0 id must not start with `#`, equal `earliest` or hold C0, DEL,
/// C1 or `Cf` characters (400); an empty id means a generated one. Classic tokens keep `#` ids.
#[tokio::test]
async fn b_pub_6_ids() {
    let hub = Hub::start_default().await;
    let t = uniq("b-pub-6");
    let unclean = UNCLEAN.iter().map(|c| format!("a{c}b"));
    let reserved = ["#frag", "#", "earliest"].map(String::from);
    for id in reserved.into_iter().chain(unclean) {
        let r = pub_v1(&hub, &[("topic", &t), ("id", &id)]).await;
        assert_eq!(r.status, 400, "id {id:?}: {r:?}");
    }
    let unique = uuid::Uuid::new_v4();
    for id in [
        format!("urn:b-pub-6:{unique}"),
        format!("a#{unique}"),
        format!("earliest-{unique}"),
        format!("שלום-{unique}"),
    ] {
        pub_v1(&hub, &[("topic", &t), ("id", &id)])
            .await
            .expect(200, &id);
    }
    let r = pub_v1(&hub, &[("topic", &t), ("id", "")]).await;
    assert!(r.status == 200 && r.body.starts_with("urn:uuid:"), "{r:?}");
    let classic = format!("#classic-{unique}");
    hub.publish(&[("topic", &t), ("id", &classic)])
        .await
        .expect(200, &classic);
}

/// B-PUB-7, B-SEC-1, C-HARD-1, C-HARD-5: a 1.0 `type` must not be `mercure` nor hold C0, DEL, C1 or
/// `Cf` characters (400).
#[tokio::test]
async fn b_pub_7_type() {
    let hub = Hub::start_default().await;
    let t = uniq("b-pub-7");
    let unclean = UNCLEAN.iter().map(|c| format!("a{c}"));
    for ty in std::iter::once("mercure".to_string()).chain(unclean) {
        let r = pub_v1(&hub, &[("topic", &t), ("type", &ty)]).await;
        assert_eq!(r.status, 400, "type {ty:?}: {r:?}");
    }
    assert_eq!(
        pub_v1(&hub, &[("topic", &t), ("type", "update")])
            .await
            .status,
        200
    );
}

/// B-PUB-8: `retry` is ASCII digits fitting in 64 bits, else 400.
#[tokio::test]
async fn b_pub_8_retry() {
    let hub = Hub::start_default().await;
    let t = uniq("b-pub-8");
    for retry in [
        "+1",
        "-1",
        " 1",
        "1 ",
        "0x10",
        "1.5",
        "1e3",
        "18446744073709551616",
        "１",
    ] {
        let r = pub_v1(&hub, &[("topic", &t), ("retry", retry)]).await;
        assert_eq!(r.status, 400, "retry {retry:?}: {r:?}");
    }
    for retry in ["", "0", "18446744073709551615"] {
        let r = pub_v1(&hub, &[("topic", &t), ("retry", retry)]).await;
        assert_eq!(r.status, 200, "retry {retry:?}: {r:?}");
    }
}

/// B-PUB-10, B-PUB-1, C-LIM-1: with a 1.0 token a body over 1 MiB and more than 1000 `topic`
/// fields → 413 (a classic token gets 400 `too many topics in update\n`); no topic → 400
/// `Missing "topic" parameter\n`.
#[tokio::test]
async fn b_pub_10_size_limits() {
    let hub = Hub::start_default().await;
    let token = hub.v1_publisher_token_all();
    let t = pct(&uniq("b-pub-10"));
    let big = format!("topic={t}&data={}", "a".repeat(1 << 20));
    publish_raw(&hub, Some(&token), &big)
        .await
        .expect(413, "Request Entity Too Large\n");
    let topics = |n: usize| {
        (0..n)
            .map(|i| format!("topic={t}{i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert_eq!(
        publish_raw(&hub, Some(&token), &topics(1000)).await.status,
        200
    );
    assert_eq!(
        publish_raw(&hub, Some(&token), &topics(1001)).await.status,
        413
    );
    let classic = hub.publisher_token_all();
    publish_raw(&hub, Some(&classic), &topics(1001))
        .await
        .expect(400, "too many topics in update\n");
    publish_raw(&hub, Some(&token), "data=x")
        .await
        .expect(400, "Missing \"topic\" parameter\n");
}

/// B-PUB-11, B-AD-5: the 1.0 checks run in order — token (401), body size (413), decoding
/// (400), `topic` present (400), topic count (413), topic strings (400), `retry` (400), publish
/// grant (403), reserved namespace and `*` (400), `id`/`type`/`data` (400).
#[tokio::test]
async fn b_pub_11_check_order() {
    let hub = Hub::start_default().await;
    let all = hub.v1_publisher_token_all();
    let granted = uniq("b-pub-11");
    let narrow_t = narrow(&hub, &[&granted]);
    let nothing = hub.v1_publisher_token(json!([mercure_detail(
        &["subscribe"],
        vec![matcher("*", None)]
    )]));
    let mut expired_claims = crate::tokens::v1_claims(
        crate::tokens::DEFAULT_ISSUER,
        &hub.resource_identifier(),
        json!([]),
    );
    expired_claims["exp"] = json!(now() - 5);
    let expired = hub.v1_publisher_raw(&expired_claims);
    let t = pct(&uniq("b-pub-11"));
    let big_bad = format!("topic={t}&data=%FF{}", "a".repeat(1 << 20));
    let many_dirty = format!(
        "{}&topic=%C2%85",
        (0..1001)
            .map(|i| format!("topic={t}{i}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let dirty_other = format!("topic={}%C2%85", t);
    let g = pct(&granted);
    let reserved = pct("/.well-known/mercure/x");
    let cases: Vec<(&str, Option<&str>, String, u16)> = vec![
        ("no token before body checks", None, big_bad.clone(), 401),
        (
            "bad token before body checks",
            Some(&expired),
            "data=x".into(),
            401,
        ),
        ("size before decoding", Some(&all), big_bad, 413),
        ("decoding before topic", Some(&all), "data=%FF".into(), 400),
        ("topic before grant", Some(&nothing), "data=x".into(), 400),
        ("count before strings", Some(&all), many_dirty, 413),
        ("strings before grant", Some(&narrow_t), dirty_other, 400),
        (
            "retry before grant",
            Some(&narrow_t),
            format!("topic={t}&retry=x"),
            400,
        ),
        (
            "grant before reserved",
            Some(&narrow_t),
            format!("topic={reserved}"),
            403,
        ),
        ("grant before star", Some(&narrow_t), "topic=*".into(), 403),
        (
            "grant before id",
            Some(&narrow_t),
            format!("topic={t}&id=%23x"),
            403,
        ),
        (
            "grant before type",
            Some(&nothing),
            format!("topic={g}&type=mercure"),
            403,
        ),
        (
            "reserved with a grant",
            Some(&all),
            format!("topic={reserved}&id=ok"),
            400,
        ),
        (
            "id after grant",
            Some(&narrow_t),
            format!("topic={g}&id=earliest"),
            400,
        ),
        (
            "data after grant",
            Some(&narrow_t),
            format!("topic={g}&data=%E2%82"),
            400,
        ),
        ("valid", Some(&narrow_t), format!("topic={g}"), 200),
    ];
    for (what, token, body, want) in cases {
        let r = publish_raw(&hub, token, &body).await;
        assert_eq!(r.status, want, "{what}: {r:?}");
    }
}
