//! A.10 CORS.

use reqwest::Method;

use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, send, send_sub, Resp};

const VARY_PREFLIGHT: &str =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

async fn cors_hub(origins: &str) -> Option<Hub> {
    Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_CORS_ORIGINS", origins)
        .start()
        .await
}

async fn preflight(hub: &Hub, origin: &str, method: &str, headers: Option<&str>) -> Resp {
    let mut rb = hub
        .hub_req(Method::OPTIONS, "")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method);
    if let Some(h) = headers {
        rb = rb.header("Access-Control-Request-Headers", h);
    }
    send(rb).await
}

/// A subscription request from `origin` (status and headers only).
async fn get_from(hub: &Hub, origin: &str) -> Resp {
    send_sub(hub.sub_req(&[&uniq("cors")]).header("Origin", origin)).await
}

fn vary_has_origin(r: &Resp) -> bool {
    r.headers
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

#[track_caller]
fn no_cors_headers(r: &Resp) {
    for h in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
    ] {
        assert!(r.header(h).is_none(), "unexpected {h}: {r:?}");
    }
}

#[track_caller]
fn allowed(r: &Resp, origin: &str, credentials: bool) {
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some(origin),
        "{r:?}"
    );
    let cred = r.header("access-control-allow-credentials");
    assert_eq!(cred.as_deref(), credentials.then_some("true"), "{r:?}");
}

/// A-CORS-1, A-EP-5: without `cors_origins`, no CORS processing: preflight 405, no headers.
#[tokio::test]
async fn a_cors_1_disabled_by_default() {
    let hub = Hub::start_default().await;
    let r = preflight(&hub, "https://app.example.com", "GET", None).await;
    assert_eq!((r.status, r.body.as_str()), (405, ""), "{r:?}");
    no_cors_headers(&r);
    let r = get_from(&hub, "https://app.example.com").await;
    assert_eq!(r.status, 200);
    no_cors_headers(&r);
}

/// A-CORS-2, A-CORS-5: an allowed preflight gets 204 with the full set of headers.
#[tokio::test]
async fn a_cors_2_allowed_preflight() {
    let Some(hub) = cors_hub("https://app.example.com").await else {
        return;
    };
    for (method, headers) in [
        ("GET", Some("authorization, Last-Event-ID")),
        ("POST", Some("Authorization")),
        ("HEAD", Some("cache-control")),
        ("GET", None),
    ] {
        let r = preflight(&hub, "https://app.example.com", method, headers).await;
        assert_eq!(r.status, 204, "{method}: {r:?}");
        assert_eq!(r.header("vary").as_deref(), Some(VARY_PREFLIGHT));
        allowed(&r, "https://app.example.com", true);
        assert_eq!(
            r.header("access-control-allow-methods").as_deref(),
            Some(method)
        );
        let got = r
            .header("access-control-allow-headers")
            .map(|h| h.to_lowercase());
        assert_eq!(got, headers.map(str::to_lowercase), "{r:?}");
        asserts::security_headers(&r.headers, "preflight");
    }
}

/// A-CORS-2: disallowed origin, method or header → 204 with `Vary` only.
#[tokio::test]
async fn a_cors_2_refused_preflights() {
    let Some(hub) = cors_hub("https://app.example.com").await else {
        return;
    };
    for (origin, method, headers) in [
        ("https://evil.example.com", "GET", None),
        ("https://app.example.com", "PUT", None),
        ("https://app.example.com", "DELETE", None),
        ("https://app.example.com", "GET", Some("x-custom")),
        (
            "https://app.example.com",
            "GET",
            Some("authorization, x-custom"),
        ),
    ] {
        let r = preflight(&hub, origin, method, headers).await;
        assert_eq!(r.status, 204, "{origin} {method} {headers:?}: {r:?}");
        assert_eq!(r.header("vary").as_deref(), Some(VARY_PREFLIGHT));
        no_cors_headers(&r);
    }
    // OPTIONS without Access-Control-Request-Method is not a preflight: A-EP-5 applies.
    let rb = hub
        .hub_req(Method::OPTIONS, "")
        .header("Origin", "https://app.example.com");
    let r = send(rb).await;
    assert_eq!(r.status, 405, "{r:?}");
}

/// A-CORS-3, A-CORS-6: allowed actual requests get origin, credentials and exposed headers;
/// every request gets `Vary: Origin`; a disallowed origin is still served.
#[tokio::test]
async fn a_cors_3_actual_requests() {
    let Some(hub) = cors_hub("https://app.example.com").await else {
        return;
    };
    let r = get_from(&hub, "https://app.example.com").await;
    assert_eq!(r.status, 200);
    allowed(&r, "https://app.example.com", true);
    assert!(vary_has_origin(&r), "{r:?}");
    let exposed: Vec<String> = r
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .split(',')
        .map(|h| h.trim().to_lowercase())
        .collect();
    for h in ["last-event-id", "mercure-last-event-id", "link"] {
        assert!(exposed.contains(&h.to_string()), "{h} not exposed: {r:?}");
    }
    let r = get_from(&hub, "https://evil.example.com").await;
    assert_eq!(r.status, 200);
    no_cors_headers(&r);
    assert!(vary_has_origin(&r), "{r:?}");
    let r = send_sub(hub.sub_req(&["x"])).await;
    assert!(
        vary_has_origin(&r),
        "Vary: Origin without an Origin header: {r:?}"
    );
}

/// A-CORS-3: publishing from an allowed origin gets the CORS headers.
#[tokio::test]
async fn a_cors_3_publish_response() {
    let Some(hub) = cors_hub("https://app.example.com").await else {
        return;
    };
    let token = hub.publisher_token_all();
    let rb = hub
        .pub_req(Some(&token), &[("topic", &uniq("a-cors-3"))])
        .header("Origin", "https://app.example.com");
    let r = send(rb).await;
    assert_eq!(r.status, 200);
    allowed(&r, "https://app.example.com", true);
}

/// A-CORS-4: case-insensitive comparison, one `*` wildcard, `null`.
#[tokio::test]
async fn a_cors_4_origin_matching() {
    let Some(hub) = cors_hub("https://App.Example.com https://*.example.org null").await else {
        return;
    };
    for origin in [
        "https://app.example.com",
        "https://APP.example.COM",
        "https://a.b.example.org",
        "null",
    ] {
        let r = get_from(&hub, origin).await;
        allowed(&r, origin, true);
    }
    for origin in [
        "https://example.org",
        "https://app.example.com.evil",
        "http://app.example.com",
    ] {
        no_cors_headers(&get_from(&hub, origin).await);
    }
}

/// A-CORS-5: `*` allows every origin and is sent without credentials.
#[tokio::test]
async fn a_cors_5_star_without_credentials() {
    let Some(hub) = cors_hub("*").await else {
        return;
    };
    let r = get_from(&hub, "https://anything.example").await;
    allowed(&r, "*", false);
    let r = preflight(&hub, "https://anything.example", "GET", None).await;
    assert_eq!(r.status, 204);
    allowed(&r, "*", false);
}

/// A-CORS-7: CORS headers are on error responses too.
#[tokio::test]
async fn a_cors_7_errors_carry_cors_headers() {
    let Some(hub) = cors_hub("https://app.example.com").await else {
        return;
    };
    let origin = "https://app.example.com";
    let r = send(hub.hub_req(Method::GET, "").header("Origin", origin)).await;
    assert_eq!(r.status, 400);
    allowed(&r, origin, true);
    let r = send(
        hub.pub_req(None, &[("topic", "x")])
            .header("Origin", origin),
    )
    .await;
    assert_eq!(r.status, 401);
    allowed(&r, origin, true);
    let q = form_encode(&[("topic", "x\u{1}")]);
    let r = send(hub.hub_req(Method::GET, &q).header("Origin", origin)).await;
    assert_eq!(r.status, 400);
    allowed(&r, origin, true);
}

/// A-CORS-4: entries are validated at startup.
#[tokio::test]
async fn a_cors_4_invalid_entries_refused_at_startup() {
    for bad in [
        "https://example.com/path",
        "example.com",
        "https://user@example.com",
    ] {
        let Some((status, _)) = Hub::builder()
            .anonymous(true)
            .env("QUICKSILVER_CORS_ORIGINS", bad)
            .start_expect_failure()
            .await
        else {
            return;
        };
        assert!(!status.success(), "{bad}");
    }
}
