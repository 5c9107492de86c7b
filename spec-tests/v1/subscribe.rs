//! X-2, B-SUB-1, B-SUB-3…7, B-MT-1…5, B-T-1: 1.0 subscription requests — dialect selection,
//! the three matcher parameters and their matching, the reserved `match` namespace, matcher
//! validation and limits.

use reqwest::Method;

use super::{env_hub, expect_routes, get, no_challenge, probe_v1, RI, UNCLEAN};
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, send, send_sub};
use crate::sse::SseStream;

/// X-2, A-SUB-1, B-SUB-1, B-SUB-10: the selector parameters choose the dialect — `match*` alone is
/// a 1.0 request (GET and HEAD answer 200 `text/event-stream`), `topic` plus `match*` a mixed one,
/// neither a classic one refused with 400 `Missing "topic" parameter.\n`.
#[tokio::test]
async fn x_2_dialect_from_selector_parameters() {
    let hub = Hub::start_default().await;
    let t = uniq("x-2");
    for q in ["", "last_event_id=x", "lastEventID=x", "other=x"] {
        send_sub(hub.hub_req(Method::GET, q))
            .await
            .expect(400, "Missing \"topic\" parameter.\n");
    }
    for pairs in [
        vec![("match", t.as_str())],
        vec![("match_exact", t.as_str())],
        vec![("match_urlpattern", "https://example.com/x-2/:id")],
        vec![("topic", t.as_str()), ("match", t.as_str())],
    ] {
        let r = send_sub(get(&hub, &pairs)).await;
        assert_eq!(r.status, 200, "{pairs:?}: {r:?}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/event-stream"),
            "{pairs:?}"
        );
        let head = send(hub.hub_req(Method::HEAD, &form_encode(&pairs))).await;
        assert_eq!(
            (head.status, head.body.as_str()),
            (200, ""),
            "HEAD {pairs:?}"
        );
    }
}

/// on a mixed request every `topic` value is a classic subscription and every
/// `match*` value a 1.0 one, on the same connection: updates for either arrive, once each.
#[tokio::test]
async fn x_2_mixed_request_subscribes_both() {
    let hub = Hub::start_default().await;
    let (a, b) = (uniq("x-2-a"), uniq("x-2-b"));
    let tpl = format!("{}/{{id}}", uniq("x-2-tpl"));
    let q = form_encode(&[("topic", &a), ("topic", &tpl), ("match", &b), ("match", &a)]);
    let mut s = SseStream::open(hub.hub_req(Method::GET, &q)).await;
    let ida = hub.publish_ok(&[("topic", &a)]).await;
    let idb = hub.publish_ok(&[("topic", &b)]).await;
    let idt = hub
        .publish_ok(&[("topic", &tpl.replace("{id}", "7"))])
        .await;
    let evs = s.events_until(&idt).await;
    let ids: Vec<_> = evs.iter().filter_map(|e| e.id.clone()).collect();
    assert_eq!(ids, vec![ida, idb, idt], "each update once, in order");
}

/// B-SUB-3, B-MT-1, B-MT-3: `match`, `match_exact` and `match_urlpattern` route by logical OR;
/// `exact` is a case-sensitive byte comparison with no normalisation; an update matching several
/// matchers arrives once.
#[tokio::test]
async fn b_sub_3_matchers_route_by_logical_or() {
    let hub = Hub::start_default().await;
    let a = uniq("b-sub-3-a");
    let b = uniq("b-sub-3-b");
    let base = uniq("b-sub-3-books");
    let pattern = format!("{base}/:id");
    let mut p = probe_v1(
        &hub,
        None,
        &[
            ("match", &a),
            ("match_exact", &b),
            ("match_urlpattern", &pattern),
            ("match", &format!("{base}/1")),
        ],
    )
    .await;
    let cases = [
        (a.clone(), true),
        (b.clone(), true),
        (format!("{base}/7"), true),
        (format!("{base}/1"), true),
        (a.to_uppercase(), false),
        (format!("{a}/"), false),
        (
            a.replace("https://example.com", "https://example.com:443"),
            false,
        ),
        (b.replacen("example.com/", "example.com%2F", 1), false),
    ];
    expect_routes(&hub, &mut p, &cases).await;
}

/// B-MT-2: the value `*` matches every topic, for every matcher parameter.
#[tokio::test]
async fn b_mt_2_star_matches_every_topic() {
    let hub = Hub::start_default().await;
    for name in ["match", "match_exact", "match_urlpattern"] {
        let mut p = probe_v1(&hub, None, &[(name, "*")]).await;
        for topic in [
            uniq("b-mt-2"),
            "urn:b-mt-2:x".to_string(),
            "/relative".into(),
        ] {
            assert!(
                p.receives(&hub, &[("topic", &topic)]).await,
                "{name}=* on {topic}"
            );
        }
    }
}

/// B-MT-4: `urlpattern` follows WHATWG URL Pattern without `ignoreCase` — the host is
/// case-insensitive, the path case-sensitive, `:id` is one non-empty segment, `*` spans segments.
#[tokio::test]
async fn b_mt_4_urlpattern_semantics() {
    let hub = Hub::start_default().await;
    let u = uuid::Uuid::new_v4();
    let mut p = probe_v1(
        &hub,
        None,
        &[
            (
                "match_urlpattern",
                &format!("https://example.com/{u}/books/:id"),
            ),
            (
                "match_urlpattern",
                &format!("https://example.com/{u}/files/*"),
            ),
        ],
    )
    .await;
    let cases = [
        (format!("https://example.com/{u}/books/1"), true),
        (format!("https://EXAMPLE.com/{u}/books/2"), true),
        (format!("https://example.com/{u}/Books/3"), false),
        (format!("https://example.com/{u}/books/1/2"), false),
        (format!("https://example.com/{u}/books/"), false),
        (format!("http://example.com/{u}/books/4"), false),
        (format!("https://example.org/{u}/books/5"), false),
        (format!("https://example.com/{u}/files/a/b/c"), true),
    ];
    expect_routes(&hub, &mut p, &cases).await;
}

/// B-MT-5, B-MT-3: relative patterns and relative topics are resolved against the hub URL
/// (here the configured resource identifier); `exact` matchers are never resolved.
#[tokio::test]
async fn b_mt_5_relative_patterns_resolved_against_hub_url() {
    let Some(hub) = env_hub(&[("QUICKSILVER_RESOURCE_IDENTIFIER", RI)]).await else {
        return;
    };
    let u = uuid::Uuid::new_v4();
    let mut p = probe_v1(
        &hub,
        None,
        &[
            ("match_urlpattern", &format!("/{u}/books/:id")),
            (
                "match_urlpattern",
                &format!("https://hub.example.com/{u}/items/:id"),
            ),
            ("match", &format!("/{u}/exact")),
        ],
    )
    .await;
    let cases = [
        (format!("/{u}/books/1"), true),
        (format!("https://hub.example.com/{u}/books/2"), true),
        (format!("https://other.example.com/{u}/books/3"), false),
        (format!("/{u}/items/4"), true),
        (format!("/{u}/exact"), true),
        (format!("https://hub.example.com/{u}/exact"), false),
    ];
    expect_routes(&hub, &mut p, &cases).await;
}

/// B-SUB-5, X-2, A-SUB-6, B-ERR-5: any parameter named `match` or starting with `match`
/// (ASCII case-insensitively) that is not a supported matcher parameter → 400 without a
/// challenge, on 1.0, classic and mixed requests alike; other unknown names are ignored.
#[tokio::test]
async fn b_sub_5_reserved_match_namespace() {
    let hub = Hub::start_default().await;
    let t = uniq("b-sub-5");
    let reserved = [
        "MATCH",
        "Match",
        "Match_urlpattern",
        "MATCH_EXACT",
        "matchfoo",
        "match_regex",
        "match_",
        "matches",
    ];
    for name in reserved {
        for sel in ["match", "topic"] {
            let r = send_sub(get(&hub, &[(sel, &t), (name, "x")])).await;
            assert_eq!(r.status, 400, "{sel} with {name}: {r:?}");
            no_challenge(&r);
        }
        let r = send_sub(get(&hub, &[("topic", &t), ("match", &t), (name, "")])).await;
        assert_eq!(r.status, 400, "mixed with {name}: {r:?}");
    }
    for ignored in ["matc", "xmatch", "topics", "Topic_match"] {
        let r = send_sub(get(&hub, &[("match", &t), (ignored, "x")])).await;
        assert_eq!(r.status, 200, "{ignored} is not reserved: {r:?}");
    }
}

/// B-SUB-6, B-T-1, C-HARD-4, B-ERR-5: a `match_urlpattern` value that does not compile → 400
/// with only the fixed text `invalid topic matcher pattern` (no compiler message); matcher
/// values with C0, DEL, C1 or `Cf` characters → 400 for every type; RTL letters are valid.
#[tokio::test]
async fn b_sub_6_matcher_values_validated() {
    let hub = Hub::start_default().await;
    for bad in [
        "https://example.com/(",
        "https://example.com/{a",
        "https://example.com/:id(",
        "https://example.com/(a|",
    ] {
        let r = send_sub(get(&hub, &[("match_urlpattern", bad)])).await;
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert_eq!(
            r.body.trim_end_matches('\n'),
            "invalid topic matcher pattern",
            "{bad}"
        );
        no_challenge(&r);
    }
    for name in ["match", "match_exact", "match_urlpattern"] {
        for c in UNCLEAN {
            let v = format!("https://example.com/b-sub-6/a{c}b");
            let r = send_sub(get(&hub, &[(name, &v)])).await;
            assert_eq!(
                r.status,
                400,
                "{name} with U+{:04X}: {r:?}",
                c.chars().next().unwrap() as u32
            );
        }
        let rtl = format!("{}/שלום/مرحبا", uniq("b-sub-6"));
        let r = send_sub(get(&hub, &[(name, &rtl)])).await;
        assert_eq!(r.status, 200, "{name} with RTL letters: {r:?}");
    }
    let rtl = format!("{}/שלום", uniq("b-sub-6"));
    let mut p = probe_v1(&hub, None, &[("match", &rtl)]).await;
    assert!(p.receives(&hub, &[("topic", &rtl)]).await);
}

/// B-SUB-7: at most 100 matcher parameters (all three names counted together; `topic` values
/// are not matchers) and 4096 bytes per value (bytes, not characters), else 400.
#[tokio::test]
async fn b_sub_7_matcher_limits() {
    let hub = Hub::start_default().await;
    let base = uniq("b-sub-7");
    let values: Vec<String> = (0..101).map(|i| format!("{base}/{i}")).collect();
    let names = ["match", "match_exact", "match_urlpattern"];
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (names[i % 3], v.as_str()))
        .collect();
    let r = send_sub(get(&hub, &pairs[..100])).await;
    assert_eq!(r.status, 200, "100 matchers: {r:?}");
    let r = send_sub(get(&hub, &pairs)).await;
    assert_eq!(r.status, 400, "101 matchers: {r:?}");
    let topics: Vec<String> = (0..300).map(|i| format!("{base}/t/{i}")).collect();
    let mut mixed: Vec<(&str, &str)> = topics.iter().map(|t| ("topic", t.as_str())).collect();
    mixed.extend_from_slice(&pairs[..100]);
    let r = send_sub(get(&hub, &mixed)).await;
    assert_eq!(r.status, 200, "100 matchers beside 300 topics: {r:?}");
    let prefix = "https://example.com/";
    let fit = format!("{prefix}{}", "a".repeat(4096 - prefix.len()));
    let over = format!("{fit}a");
    // 2049 two-byte characters: 4098 bytes although fewer than 4096 characters.
    let wide = "é".repeat(2049);
    for name in names {
        let r = send_sub(get(&hub, &[(name, &fit)])).await;
        assert_eq!(r.status, 200, "{name} of 4096 bytes: {r:?}");
        for v in [&over, &wide] {
            let r = send_sub(get(&hub, &[(name, v)])).await;
            assert_eq!(r.status, 400, "{name} of {} bytes: {r:?}", v.len());
        }
    }
}

/// B-MT-6, C-HARD-7: URL Pattern evaluation is linear-time or cost-bounded — a pattern that
/// would backtrack exponentially neither stalls the hub nor matches a long hostile topic, and
/// still matches what it should.
#[tokio::test]
async fn b_mt_6_pattern_evaluation_is_bounded() {
    let hub = Hub::start_default().await;
    let base = uniq("b-mt-6");
    let pattern = format!("{base}/((?:a+)+b)");
    let mut p = probe_v1(&hub, None, &[("match_urlpattern", &pattern)]).await;
    let cases = [
        (format!("{base}/{}c", "a".repeat(3000)), false),
        (format!("{base}/aab"), true),
    ];
    expect_routes(&hub, &mut p, &cases).await;
}
