//! A.9 discovery and the `demo` echo endpoints (A-DISC-1, A-DISC-3, C-UI-3).

use crate::harness::Hub;
use crate::http::send;

fn links(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("link")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// A-DISC-3, C-UI-3: the echo endpoints answer with discovery links, the chosen body typed by the
/// extension, and the auth cookie.
#[tokio::test]
async fn a_disc_3_demo_echo_endpoints() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DEMO", "true")
        .start()
        .await
    else {
        return;
    };
    for prefix in ["/.well-known/mercure/ui/demo", "/playground"] {
        let path = format!("{prefix}/books/1.jsonld?body=%7B%22a%22%3A1%7D&jwt=abc.def.ghi");
        let response = hub
            .client
            .get(hub.url(&path))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or_default()),
            Some("application/ld+json")
        );
        let links = links(&response);
        assert!(
            links.contains(&"</.well-known/mercure>; rel=\"mercure\"".to_owned()),
            "{links:?}"
        );
        assert!(
            links.contains(&format!("<{path}>; rel=\"self\"")),
            "{links:?}"
        );
        let cookie = response
            .headers()
            .get("set-cookie")
            .expect("cookie")
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            cookie.starts_with("mercureAuthorization=abc.def.ghi"),
            "{cookie}"
        );
        assert!(cookie.contains("Path=/.well-known/mercure"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert!(
            !cookie.contains("HttpOnly"),
            "HttpOnly only over TLS: {cookie}"
        );
        assert_eq!(response.text().await.expect("body"), "{\"a\":1}");
    }
    let cleared = hub
        .client
        .get(hub.url("/playground/x"))
        .send()
        .await
        .expect("request");
    let cookie = cleared
        .headers()
        .get("set-cookie")
        .expect("cookie")
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        cookie.contains("1970"),
        "an absent jwt expires the cookie: {cookie}"
    );
    assert_eq!(
        cleared
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or_default()),
        Some("text/plain; charset=utf-8")
    );
    let root = hub.client.get(hub.url("/")).send().await.expect("request");
    assert_eq!(root.status(), 302, "GET / redirects to the UI");
    assert_eq!(
        root.headers()
            .get("location")
            .map(|v| v.to_str().unwrap_or_default()),
        Some("/.well-known/mercure/ui/")
    );
}

/// A-DISC-3: a non-default cookie name is advertised in the hub link.
#[tokio::test]
async fn a_disc_3_custom_cookie_name_is_advertised() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_DEMO", "true")
        .env("QUICKSILVER_COOKIE_NAME", "myCookie")
        .start()
        .await
    else {
        return;
    };
    let response = hub
        .client
        .get(hub.url("/playground/a"))
        .send()
        .await
        .expect("request");
    let links = links(&response);
    assert!(
        links.contains(
            &"</.well-known/mercure>; rel=\"mercure\"; cookie-name=\"myCookie\"".to_owned()
        ),
        "{links:?}"
    );
}

/// A-DISC-1, A-EP-6: without `demo` the echo endpoints do not exist.
#[tokio::test]
async fn a_disc_1_demo_is_off_by_default() {
    let Some(hub) = Hub::builder().anonymous(true).start().await else {
        return;
    };
    send(hub.client.get(hub.url("/.well-known/mercure/ui/demo/x")))
        .await
        .expect(404, "404 page not found\n");
    send(hub.client.get(hub.url("/playground/x")))
        .await
        .expect(404, "404 page not found\n");
}
