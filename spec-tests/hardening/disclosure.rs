//! C-HDR-1, C-HARD-4, C-HARD-9: security headers everywhere, error bodies that are fixed texts
//! revealing nothing internal, and no token or key in the logs.

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::json;

use crate::asserts;
use crate::harness::{uniq, Hub, HUB_PATH};
use crate::http::{form_encode, send, send_sub};
use crate::sse::SseStream;
use crate::tokens::{b64, now, publish_claims, sign_hs, sign_raw_hs};

use super::raw_exchange;

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

// ---------------------------------------------------------------------------------------
// Nothing internal in responses or logs (C-HARD-4, C-HARD-9)
// ---------------------------------------------------------------------------------------

/// The fixed error texts of protocol.md (A-SUB, A-PUB, A-AUTH, C-LIM, C-HARD).
const FIXED_TEXTS: [&str; 16] = [
    "Unauthorized\n",
    "Forbidden\n",
    "Bad Request\n",
    "Missing \"topic\" parameter\n",
    "Missing \"topic\" parameter.\n",
    "Too many \"topic\" parameters.\n",
    "too many topics in update\n",
    "Invalid \"topic\" parameter\n",
    "Invalid \"topic\" parameter.\n",
    "Invalid \"retry\" parameter\n",
    "\"id\" field contains a forbidden control character\n",
    "\"id\" field uses the reserved value \"earliest\"\n",
    "\"type\" field contains a forbidden control character\n",
    "\"type\" field uses the reserved value \"mercure\"\n",
    "Request Entity Too Large\n",
    "Service Unavailable\n",
];

const RESERVED_SUFFIX: &str =
    "\": topic value references the reserved \"/.well-known/mercure\" namespace\n";

/// Substrings that reveal internals (compared case-insensitively).
const LEAKS: [&str; 26] = [
    "/work",
    "/home",
    "/root",
    "/tmp",
    "/usr/",
    "src/",
    ".rs",
    "sled",
    "panick",
    "thread '",
    "::",
    "utf8error",
    "parseint",
    "jsonwebtoken",
    "invalidsignature",
    "expiredsignature",
    "base64",
    "serde",
    "actix",
    "regex",
    "backtrace",
    "at line",
    "column",
    "-----begin",
    "stack",
    "error {",
];

/// Asserts that `body` (answer to `what`) reveals nothing in `secrets` or `LEAKS`, and that
/// a status protocol.md defines carries one of its fixed texts.
#[track_caller]
fn no_leak(what: &str, status: u16, body: &str, secrets: &[&str]) {
    no_leak_in(what, status, body, secrets, true);
}

/// `no_leak`; with `fixed` false, an empty body is also accepted for 400 (answers of the HTTP
/// parser to malformed requests, before any hub code runs).
#[track_caller]
fn no_leak_in(what: &str, status: u16, body: &str, secrets: &[&str], fixed: bool) {
    assert!(status != 500, "{what}: 500 {body:?}");
    let lower = body.to_lowercase();
    for leak in LEAKS {
        assert!(
            !lower.contains(leak),
            "{what}: body reveals {leak:?}: {body:?}"
        );
    }
    for s in secrets {
        assert!(!body.contains(s), "{what}: body reveals a secret: {body:?}");
    }
    if matches!(status, 400 | 401 | 403 | 413) && (fixed || !body.is_empty()) {
        let fixed = FIXED_TEXTS.contains(&body)
            || (status == 403 && body.starts_with('"') && body.ends_with(RESERVED_SUFFIX));
        assert!(
            fixed,
            "{what}: {status} with a body that is not a fixed text: {body:?}"
        );
    }
}

/// C-HARD-4, A-AUTH-17, C-LIM-2, C-HARD-7: a sweep of bad requests (broken and hostile tokens
/// — deeply nested JSON, huge numbers, wrong claim types, non-base64 —, bad media types,
/// invalid fields, bad encodings, reserved topics, path tricks, unknown methods, malformed
/// HTTP, 2 MiB headers, request-smuggling framing). Every answer has a defined status (no
/// 500, no dropped connection), statuses protocol.md defines carry its fixed texts, no body
/// reveals a path, `sled`, a Rust type or module, a parser message, a key or a token, and the
/// hub survives and logs no panic.
#[tokio::test]
async fn c_hard_4_error_bodies_reveal_nothing() {
    let hub = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_MAX_REQUEST_BODY_SIZE", "64KiB")
        .start()
        .await;
    let Some(hub) = hub else { return };
    let pk = hub.publisher_key.clone();
    let sk = hub.subscriber_key.clone().unwrap();
    let good = hub.publisher_token_all();
    let nested = format!("{}{}", "[".repeat(2_000), "]".repeat(2_000));
    let deep_obj = format!(
        r#"{{"mercure":{{"publish":["*"],"payload":{}1{}}}}}"#,
        r#"{"a":"#.repeat(1_000),
        "}".repeat(1_000)
    );
    let hostile_tokens: Vec<String> = vec![
        sign_hs("HS256", &pk, &json!({ "mercure": { "publish": "*" } })),
        sign_hs("HS256", &pk, &json!({ "mercure": { "publish": [1, 2] } })),
        sign_hs("HS256", &pk, &json!({ "mercure": "everything" })),
        sign_hs("HS256", &pk, &json!({ "exp": -1, "mercure": { "publish": ["*"] } })),
        sign_raw_hs("HS256", pk.as_bytes(), r#"{"alg":"HS256"}"#, &nested),
        sign_raw_hs("HS256", pk.as_bytes(), r#"{"alg":"HS256"}"#, &deep_obj),
        sign_raw_hs("HS256", pk.as_bytes(), r#"{"alg":"HS256"}"#, r#"{"mercure":{"publish":["*"]}"#),
        sign_raw_hs("HS256", pk.as_bytes(), r#"{"alg":"HS256","#, r#"{"mercure":{"publish":["*"]}}"#),
        sign_raw_hs("HS256", pk.as_bytes(), &nested, r#"{"mercure":{"publish":["*"]}}"#),
        format!("{}.{}.{}", "!!!!not-base64!!!!", "%%%%%%%%%%%%%%", "~~~~~~~~~~~~~~~~~"),
        format!("{}.{}.", b64(r#"{"alg":"HS256"}"#), "A".repeat(6_000)),
        "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7fX0.\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}".into(),
    ];
    // Far-future or infinite dates: protocol.md does not say whether they are valid, only
    // that the answer is defined and reveals nothing.
    let odd_dates = [
        sign_raw_hs(
            "HS256",
            pk.as_bytes(),
            r#"{"alg":"HS256"}"#,
            r#"{"exp":1e400,"mercure":{"publish":["*"]}}"#,
        ),
        sign_raw_hs(
            "HS256",
            pk.as_bytes(),
            r#"{"alg":"HS256"}"#,
            r#"{"exp":18446744073709551616,"mercure":{"publish":["*"]}}"#,
        ),
        sign_raw_hs(
            "HS256",
            pk.as_bytes(),
            r#"{"alg":"HS256"}"#,
            r#"{"nbf":-1e400,"mercure":{"publish":["*"]}}"#,
        ),
    ];
    let mut secrets: Vec<&str> = vec![pk.as_str(), sk.as_str(), good.as_str()];
    secrets.extend(hostile_tokens.iter().map(String::as_str));
    let topic = uniq("c-hard-4");

    let mut checked = 0;
    for t in &odd_dates {
        let r = send(hub.pub_req(Some(t), &[("topic", &topic)])).await;
        assert!(matches!(r.status, 200 | 401), "odd date: {r:?}");
        no_leak("odd date", r.status, &r.body, &secrets);
        checked += 1;
    }
    for t in &hostile_tokens {
        // The header value must be valid for reqwest; fall back to the query parameter.
        let r = match HeaderValue::from_str(&format!("Bearer {t}")) {
            Ok(v) => {
                send(
                    hub.pub_req(None, &[("topic", &topic)])
                        .header("Authorization", v),
                )
                .await
            }
            Err(_) => {
                let q = form_encode(&[("authorization", t)]);
                send(
                    hub.hub_req(Method::POST, &q)
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .body(form_encode(&[("topic", &topic)])),
                )
                .await
            }
        };
        assert_eq!(r.status, 401, "hostile token {t:.60}…: {r:?}");
        no_leak("hostile publish token", r.status, &r.body, &secrets);
        let q = form_encode(&[("topic", &topic), ("authorization", t)]);
        let r = send_sub(hub.hub_req(Method::GET, &q)).await;
        assert_eq!(r.status, 401, "hostile token in query {t:.60}…: {r:?}");
        no_leak("hostile subscribe token", r.status, &r.body, &secrets);
        // Only tokens that are valid cookie values (RFC 6265 cookie-octets): a hub may
        // ignore a cookie it cannot parse (so does the reference, with Go's cookie parser).
        let cookie_octets = t
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && !b"\";,".contains(&b));
        let rb = hub
            .sub_req(&[&topic])
            .header("Cookie", format!("mercureAuthorization={t}"));
        if let (true, Ok(rb)) = (cookie_octets, rb.build()) {
            let r = send_sub(reqwest::RequestBuilder::from_parts(hub.client.clone(), rb)).await;
            assert_eq!(r.status, 401, "hostile cookie {t:.60}…: {r:?}");
            no_leak("hostile cookie", r.status, &r.body, &secrets);
        }
        checked += 3;
    }

    let post_body = |ct: &str, body: String| {
        hub.hub_req(Method::POST, "")
            .bearer_auth(&good)
            .header("Content-Type", ct)
            .body(body)
    };
    let form = "application/x-www-form-urlencoded";
    let t = crate::http::pct(&topic);
    let requests = vec![
        ("no topic", hub.hub_req(Method::GET, "")),
        (
            "1001 selectors",
            hub.hub_req(Method::GET, &vec!["topic=x"; 1001].join("&")),
        ),
        (
            "selector with NUL",
            hub.hub_req(Method::GET, &format!("topic={t}%00")),
        ),
        ("query not UTF-8", hub.hub_req(Method::GET, "topic=%FF%FE")),
        (
            "cursor not UTF-8",
            hub.sub_req(&[&topic])
                .header("Last-Event-ID", HeaderValue::from_bytes(b"\xff").unwrap()),
        ),
        (
            "match namespace",
            hub.hub_req(Method::GET, &format!("topic={t}&matchx=1")),
        ),
        (
            "unparsable content type",
            post_body("text/plain;;;=\"", format!("topic={t}")),
        ),
        (
            "content type without subtype",
            post_body("application", format!("topic={t}")),
        ),
        (
            "multipart without boundary",
            post_body("multipart/form-data", format!("topic={t}")),
        ),
        (
            "json body",
            post_body("application/json", format!(r#"{{"topic":"{topic}"}}"#)),
        ),
        (
            "retry not a number",
            post_body(form, format!("topic={t}&retry=-1")),
        ),
        (
            "retry overflow",
            post_body(form, format!("topic={t}&retry=99999999999999999999999")),
        ),
        ("topic with DEL", post_body(form, format!("topic={t}%7F"))),
        ("id with LF", post_body(form, format!("topic={t}&id=a%0Ab"))),
        (
            "type with CR",
            post_body(form, format!("topic={t}&type=a%0Db")),
        ),
        (
            "id earliest",
            post_body(form, format!("topic={t}&id=earliest")),
        ),
        (
            "type mercure",
            post_body(form, format!("topic={t}&type=mercure")),
        ),
        (
            "reserved topic",
            post_body(
                form,
                "topic=%2F.well-known%2Fmercure%2Fsubscriptions%2F%22%5C".into(),
            ),
        ),
        (
            "1001 topics",
            post_body(form, vec![format!("topic={t}"); 1001].join("&")),
        ),
        (
            "body not UTF-8",
            post_body(form, format!("topic={t}&data=%C0%AF")),
        ),
        (
            "body over the limit",
            post_body(form, format!("topic={t}&data={}", "x".repeat(70_000))),
        ),
        ("no token", hub.pub_req(None, &[("topic", &topic)])),
        (
            "subscriber token publishing",
            hub.pub_req(
                Some(&hub.subscriber_token_for(&["*"])),
                &[("topic", &topic)],
            ),
        ),
        (
            "narrow token",
            hub.pub_req(
                Some(&hub.publisher_token(&publish_claims(json!(["urn:x"])))),
                &[("topic", &topic)],
            ),
        ),
        ("PUT", hub.hub_req(Method::PUT, "").body("x")),
        ("DELETE", hub.hub_req(Method::DELETE, "")),
        ("PATCH", hub.hub_req(Method::PATCH, "").body("x")),
        (
            "subscriptions API off",
            hub.client
                .get(hub.url(&format!("{HUB_PATH}/subscriptions/%FF/%00"))),
        ),
        (
            "encoded traversal",
            hub.client.get(hub.url("/%2e%2e/%2e%2e/etc/passwd")),
        ),
        (
            "traversal under the hub",
            hub.client
                .get(hub.url(&format!("{HUB_PATH}/..%2F..%2F..%2Fetc%2Fpasswd"))),
        ),
        ("unknown path", hub.client.get(hub.url("/.env"))),
    ];
    for (what, rb) in requests {
        let r = send_sub(rb).await;
        assert!(r.status >= 400, "{what}: {r:?}");
        no_leak(what, r.status, &r.body, &secrets);
        checked += 1;
    }

    let host = hub.authority();
    let raw_requests = [
        ("garbage request line", "GARBAGE\r\n\r\n".to_string()),
        ("HTTP/9.9", format!("GET {HUB_PATH} HTTP/9.9\r\nHost: {host}\r\nConnection: close\r\n\r\n")),
        ("raw traversal", format!("GET /../../../../etc/passwd HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")),
        ("absolute-form to another host", format!("GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")),
        ("bad content length", format!("POST {HUB_PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Length: abc\r\nConnection: close\r\n\r\n")),
        ("two content lengths", format!("POST {HUB_PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {good}\r\nContent-Type: {form}\r\nContent-Length: 5\r\nContent-Length: 7\r\nConnection: close\r\n\r\ntopic=x")),
        ("content length and chunked", format!("POST {HUB_PATH} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {good}\r\nContent-Type: {form}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\ntopic=x\r\n0\r\n\r\n")),
        ("2 MiB header", format!("GET {HUB_PATH}?topic=x HTTP/1.1\r\nHost: {host}\r\nX-Big: {}\r\nConnection: close\r\n\r\n", "a".repeat(2 << 20))),
        ("NUL in a header", format!("GET {HUB_PATH}?topic=x HTTP/1.1\r\nHost: {host}\r\nX-Nul: a\0b\r\nConnection: close\r\n\r\n")),
        ("obs-fold header", format!("GET {HUB_PATH}?topic=x HTTP/1.1\r\nHost: {host}\r\nX-Fold: a\r\n b\r\nConnection: close\r\n\r\n")),
    ];
    for (what, req) in raw_requests {
        let r = raw_exchange(&hub, &req, b"").await;
        let (status, text) = r.unwrap_or_else(|| panic!("{what}: no response (dropped or hung)"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        if what == "60 KiB query" {
            assert_eq!(status, 200, "C-LIM-2, A-LIM-5: {what}");
        }
        if what == "2 MiB header" {
            assert!(matches!(status, 414 | 431), "C-LIM-2: {what}: {status}");
        }
        if what.contains("length") {
            assert_eq!(status, 400, "{what}: {text}");
        }
        no_leak_in(what, status, body, &secrets, false);
        checked += 1;
    }
    assert!(checked > 60, "{checked}");

    let r = send(hub.client.get(hub.url("/healthz"))).await;
    assert_eq!(r.status, 200, "the hub must survive the sweep");
    if let Some(log) = hub.log() {
        assert!(
            !log.contains("panicked"),
            "C-HARD-4: the hub panicked:\n{log}"
        );
    }
}

/// C-HARD-9, A-AUTH-4: tokens (in the header, the `authorization` query parameter and the
/// cookie, valid or not) and keys never appear in the logs, even at debug level; at the
/// default level update data is not logged either.
#[tokio::test]
async fn c_hard_9_secrets_stay_out_of_logs() {
    for level in ["debug", "info"] {
        let mut b = Hub::builder().anonymous(false);
        if level == "debug" {
            b = b.env("QUICKSILVER_LOG", "debug");
        } else {
            b = b.env("QUICKSILVER_LOG", "info");
        }
        let Some(hub) = b.start().await else { return };
        let topic = uniq("c-hard-9");
        let marker = format!("secret-data-{}", uuid::Uuid::new_v4());
        let good_pub = hub.publisher_token_all();
        let good_sub = hub.subscriber_token_for(&["*"]);
        let bad = sign_hs(
            "HS256",
            "wrong-key-wrong-key",
            &publish_claims(json!(["*"])),
        );
        let expired =
            hub.publisher_token(&json!({ "mercure": { "publish": ["*"] }, "exp": now() - 5 }));
        let mut sub = SseStream::open(hub.sub_req(&[&topic]).bearer_auth(&good_sub)).await;
        let q = form_encode(&[("topic", &topic), ("authorization", &good_sub)]);
        let mut sub_q = SseStream::open(hub.hub_req(Method::GET, &q)).await;
        let id = hub
            .publish_ok(&[("topic", &topic), ("data", &marker)])
            .await;
        sub.expect_event(&id).await;
        sub_q.expect_event(&id).await;
        for t in [&bad, &expired] {
            assert_eq!(
                send(hub.pub_req(Some(t), &[("topic", &topic)]))
                    .await
                    .status,
                401
            );
            let q = form_encode(&[("topic", &topic), ("authorization", t)]);
            assert_eq!(send_sub(hub.hub_req(Method::GET, &q)).await.status, 401);
            let rb = hub
                .sub_req(&[&topic])
                .header("Cookie", format!("mercureAuthorization={t}"));
            assert_eq!(send_sub(rb).await.status, 401);
        }
        let q = form_encode(&[("authorization", &good_pub)]);
        let rb = hub
            .hub_req(Method::POST, &q)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(&[("topic", &topic), ("data", &marker)]));
        assert_eq!(send(rb).await.status, 200);
        drop(sub);
        drop(sub_q);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(log) = hub.log() else { return };
        let sig = |t: &str| t.rsplit('.').next().unwrap().to_string();
        let secrets = [
            ("publisher key", hub.publisher_key.clone()),
            ("subscriber key", hub.subscriber_key.clone().unwrap()),
            ("publisher token signature", sig(&good_pub)),
            ("subscriber token signature", sig(&good_sub)),
            ("bad token signature", sig(&bad)),
            ("expired token signature", sig(&expired)),
        ];
        for (what, s) in secrets {
            assert!(
                !log.contains(&s),
                "C-HARD-9 ({level}): the log contains the {what}:\n{log}"
            );
        }
        if level == "info" {
            assert!(
                !log.contains(&marker),
                "C-HARD-9: update data logged at info level:\n{log}"
            );
        }
    }
}
