//! The debugging UI and the response headers around it (C-UI-1, C-UI-2, C-UI-4, C-HDR-2,
//! C-HDR-3). Clicking through the page in a real browser is `tests/browser/ui.test.js`.

use crate::harness::{uniq, Hub};
use crate::http::send;
use crate::sse::SseStream;

/// C-UI-1, C-UI-2, C-HDR-2: with `ui` the page is served at both paths, offers the settings,
/// subscribe, publish, active-subscriptions and discover panels, loads nothing from elsewhere,
/// and the CSP stays `default-src 'self'` (nothing needs widening).
#[tokio::test]
async fn c_ui_1_page_served_at_both_paths_with_its_panels() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_UI", "true")
        .start()
        .await
    else {
        return;
    };
    for path in ["/.well-known/mercure/ui/", "/.well-known/mercure/debug/"] {
        let page = send(hub.client.get(hub.url(path))).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"));
        assert_eq!(
            page.header("content-security-policy").as_deref(),
            Some("default-src 'self'")
        );
        for panel in [
            "settings-panel",
            "subscribe-panel",
            "publish-panel",
            "subscriptions-panel",
            "discover-panel",
        ] {
            assert!(
                page.body.contains(&format!("id=\"{panel}\"")),
                "{path} lacks {panel}"
            );
        }
        for remote in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(
                !page.body.contains(remote),
                "the page must work offline: {remote}"
            );
        }
    }
    let config = send(
        hub.client
            .get(hub.url("/.well-known/mercure/debug/config.json")),
    )
    .await;
    assert_eq!(config.status, 200);
    assert_eq!(config.header("cache-control").as_deref(), Some("no-store"));
    let json: serde_json::Value = serde_json::from_str(&config.body).expect("json");
    assert_eq!(json["anonymous"], true);
    assert_eq!(json["cookieName"], "mercureAuthorization");
}

/// C-UI-1, C-UI-4 with issue #19: the `debugger` setting serves the same page, which offers the
/// 1.0 selector kinds (`match`, `match_urlpattern`, B-MT) next to `topic`, and its configuration
/// names the 1.0 cookie (B-AUTH-5) besides the classic one.
#[tokio::test]
async fn c_ui_1_debugger_offers_the_1_0_parameters() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DEBUGGER", "true")
        .start()
        .await
    else {
        return;
    };
    let page = send(hub.client.get(hub.url("/.well-known/mercure/debug/"))).await;
    assert_eq!(page.status, 200);
    for (id, kind) in [
        ("topic", "topic"),
        ("match", "match"),
        ("urlpattern", "match_urlpattern"),
    ] {
        let radio = format!("name=\"selector\" id=\"sel-{id}\" value=\"{kind}\"");
        assert!(page.body.contains(&radio), "selector kind {kind}");
    }
    let app = send(hub.client.get(hub.url("/.well-known/mercure/debug/app.js"))).await;
    assert_eq!(app.status, 200);
    assert!(
        app.body.contains("last_event_id"),
        "the 1.0 cursor parameter"
    );
    let config = send(
        hub.client
            .get(hub.url("/.well-known/mercure/debug/config.json")),
    )
    .await;
    let json: serde_json::Value = serde_json::from_str(&config.body).expect("json");
    assert_eq!(json["cookieName"], "mercureAuthorization");
    assert_eq!(json["v1CookieName"], "__Secure-mercure_access_token");
}

/// C-UI-1: without `ui` the UI paths do not exist (A-EP-6).
#[tokio::test]
async fn c_ui_1_off_by_default() {
    let Some(hub) = Hub::builder().anonymous(true).start().await else {
        return;
    };
    send(hub.client.get(hub.url("/.well-known/mercure/ui/")))
        .await
        .expect(404, "404 page not found\n");
}

/// C-HDR-3, A-SSE-8: with the default `compression = "off"` an event stream is never
/// compressed, even when the client accepts it (`compression.rs` covers `"auto"`).
#[tokio::test]
async fn c_hdr_3_event_streams_are_not_compressed() {
    let hub = Hub::start_default().await;
    let topic = uniq("compression");
    let request = hub
        .sub_req(&[&topic])
        .header("Accept-Encoding", "gzip, deflate, br, zstd");
    let mut stream = SseStream::open(request).await;
    assert!(
        stream.header("content-encoding").is_none(),
        "compressed stream"
    );
    let id = hub
        .publish_ok(&[("topic", &topic), ("data", "plain")])
        .await;
    assert_eq!(stream.expect_event(&id).await.data(), "plain");
}

/// C-UI-4, C-ENV-3: in playground mode only, `GET /.well-known/mercure/debug/playground-token`
/// mints an all-access development token (`text/plain`, `Cache-Control: no-store`) that the hub
/// accepts for publishing; without `playground` the path is not served (404).
#[tokio::test]
async fn c_ui_4_playground_token_only_in_playground_mode() {
    let Some(hub) = Hub::builder()
        .env("QUICKSILVER_PLAYGROUND", "true")
        .start()
        .await
    else {
        return;
    };
    let r = send(
        hub.client
            .get(hub.url("/.well-known/mercure/debug/playground-token")),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let topic = format!("https://example.com/{}", uniq("playground"));
    let published =
        send(hub.pub_req(Some(r.body.trim()), &[("topic", &topic), ("data", "x")])).await;
    assert_eq!(
        published.status, 200,
        "the playground token publishes: {published:?}"
    );

    let Some(plain) = Hub::builder()
        .env("QUICKSILVER_DEBUGGER", "true")
        .start()
        .await
    else {
        return;
    };
    let r = send(
        plain
            .client
            .get(plain.url("/.well-known/mercure/debug/playground-token")),
    )
    .await;
    assert_eq!(r.status, 404, "{r:?}");
}
