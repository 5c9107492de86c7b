//! A-AUTH-6: cookie-authenticated publishing and `publish_origins`.

use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{send, Resp};

/// Publishes with the publisher token in the `mercureAuthorization` cookie and the given
/// extra headers (`Origin`, `Referer`, `Authorization`…).
async fn cookie_publish(hub: &Hub, headers: &[(&str, &str)]) -> Resp {
    let mut rb = hub.pub_req(None, &[("topic", &uniq("a-auth-6"))]).header(
        "Cookie",
        format!("mercureAuthorization={}", hub.publisher_token_all()),
    );
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    send(rb).await
}

async fn origins_hub(origins: &str) -> Option<Hub> {
    Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_PUBLISH_ORIGINS", origins)
        .start()
        .await
}

/// A-AUTH-6: without `publish_origins`, cookie publishing is refused.
#[tokio::test]
async fn a_auth_6_cookie_publish_off_by_default() {
    let hub = Hub::start_default().await;
    asserts::unauthorized(&cookie_publish(&hub, &[("Origin", "https://app.example.com")]).await);
    asserts::unauthorized(&cookie_publish(&hub, &[]).await);
}

/// A-AUTH-6: `Origin`, else the `Referer` origin, must be allowed.
#[tokio::test]
async fn a_auth_6_origin_and_referer() {
    let Some(hub) = origins_hub("https://App.Example.com https://*.example.org").await else {
        return;
    };
    let ok: [&[(&str, &str)]; 5] = [
        &[("Origin", "https://app.example.com")],
        &[("Origin", "https://a.example.org")],
        &[("Referer", "https://app.example.com/page?x=1#f")],
        &[("Origin", ""), ("Referer", "https://app.example.com/")],
        &[
            ("Origin", "https://app.example.com"),
            ("Referer", "https://evil.com/"),
        ],
    ];
    for h in ok {
        let r = cookie_publish(&hub, h).await;
        assert_eq!(r.status, 200, "{h:?}: {r:?}");
    }
    let refused: [&[(&str, &str)]; 7] = [
        &[],
        &[("Origin", "https://evil.com")],
        &[("Origin", "https://APP.example.com")],
        &[("Origin", "https://example.org")],
        &[("Referer", "https://evil.com/page")],
        &[("Referer", "::not a url::")],
        &[
            ("Origin", "https://evil.com"),
            ("Referer", "https://app.example.com/"),
        ],
    ];
    for h in refused {
        asserts::unauthorized(&cookie_publish(&hub, h).await);
    }
}

/// A-AUTH-6: `*` allows any origin, but an origin is still required; header tokens are
/// not subject to the origin check.
#[tokio::test]
async fn a_auth_6_star_and_header_tokens() {
    let Some(hub) = origins_hub("*").await else {
        return;
    };
    let r = cookie_publish(&hub, &[("Origin", "https://whatever.example")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    asserts::unauthorized(&cookie_publish(&hub, &[]).await);
    let token = hub.publisher_token_all();
    let rb = hub
        .pub_req(Some(&token), &[("topic", &uniq("a-auth-6"))])
        .header("Origin", "https://evil.com");
    assert_eq!(send(rb).await.status, 200);
}

/// A-AUTH-6: the origin check only applies to tokens taken from the cookie.
#[tokio::test]
async fn a_auth_6_header_token_wins_over_cookie() {
    let Some(hub) = origins_hub("https://app.example.com").await else {
        return;
    };
    let token = hub.publisher_token_all();
    let bearer = format!("Bearer {token}");
    let r = cookie_publish(
        &hub,
        &[("Authorization", &bearer), ("Origin", "https://evil.com")],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
}

/// A-AUTH-6: invalid `publish_origins` entries are startup errors.
#[tokio::test]
async fn a_auth_6_invalid_entries_refused_at_startup() {
    for bad in [
        "https://example.com/path",
        "example.com",
        "https://u@example.com",
        "https://example.com?q",
    ] {
        let Some((status, _)) = Hub::builder()
            .anonymous(true)
            .env("QUICKSILVER_PUBLISH_ORIGINS", bad)
            .start_expect_failure()
            .await
        else {
            return;
        };
        assert!(!status.success(), "{bad}");
    }
}
