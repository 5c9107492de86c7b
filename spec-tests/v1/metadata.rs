//! B-PRM-1, B-AUTH-5, B-TOK-6, B-MT-5, X-11: protected resource metadata (RFC 9728), the
//! resource identifier (configured, or derived from the request honouring only trusted proxies)
//! and its use as the tokens' audience and in challenges.

use reqwest::Method;
use serde_json::{json, Value};

use super::{bearer, env_hub, issuers_hub, json_ok, publish_fresh, ISS_A, META_PATH, RI};
use crate::harness::{uniq, Hub};
use crate::http::{send, send_sub, Resp};
use crate::tokens::{
    matcher, mercure_detail, sign_at_jwt, v1_claims, DEFAULT_ISSUER, MERCURE_DETAIL,
};

/// `GET` on the metadata path with extra headers.
async fn metadata(hub: &Hub, headers: &[(&str, &str)]) -> Resp {
    let mut rb = hub.client.get(hub.url(META_PATH));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    send(rb).await
}

/// Asserts the members every metadata document has (B-PRM-1, B-AUTH-5).
#[track_caller]
fn common_members(doc: &Value, resource: &str, cookie: &str) {
    assert_eq!(doc["resource"], json!(resource), "{doc}");
    assert_eq!(
        doc["authorization_details_types_supported"],
        json!([MERCURE_DETAIL])
    );
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert_eq!(doc["mercure_cookie"], json!(cookie));
    assert!(
        doc.get("mercure_matcher_types_supported").is_none(),
        "{doc}"
    );
}

/// B-PRM-1, B-SE-1, B-PRM-2: with issuers configured the document is served (GET and HEAD,
/// `application/json`): `resource` = the configured identifier, `authorization_servers` = the
/// flagged issuers only, the Mercure detail type, `["header"]`, `mercure_cookie`, and
/// `"mercure_subscriptions": true` when subscriptions are on.
#[tokio::test]
async fn b_prm_1_protected_resource_metadata() {
    let Some((hub, _)) = issuers_hub(true, &[("QUICKSILVER_SUBSCRIPTIONS", "true")]).await else {
        return;
    };
    let r = metadata(&hub, &[]).await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json"),
        "{r:?}"
    );
    let doc = json_ok(&r);
    common_members(&doc, RI, "__Secure-mercure_access_token");
    assert_eq!(doc["authorization_servers"], json!([ISS_A]));
    assert_eq!(doc["mercure_subscriptions"], json!(true));
    let head = send(hub.client.request(Method::HEAD, hub.url(META_PATH))).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""), "{head:?}");
}

/// B-PRM-1, B-AUTH-5, B-TOK-6, X-1, X-11: a hub with only the classic keys has the default
/// trusted issuer, so it serves the document too: `resource` derived from the request,
/// no `authorization_servers`, no `mercure_subscriptions`; challenges point at it. A
/// configured `cookie_name` is advertised as `mercure_cookie`.
#[tokio::test]
async fn b_prm_1_defaults_and_cookie_name() {
    let hub = Hub::start_default().await;
    let doc = json_ok(&metadata(&hub, &[]).await);
    common_members(
        &doc,
        &hub.resource_identifier(),
        "__Secure-mercure_access_token",
    );
    assert!(doc.get("authorization_servers").is_none(), "{doc}");
    assert!(doc.get("mercure_subscriptions").is_none(), "{doc}");
    let r = send(hub.pub_req(None, &[("topic", &uniq("b-prm-1"))])).await;
    let url = hub.url(META_PATH);
    bearer(&r, None, Some(&url));
    let Some(hub) = env_hub(&[("QUICKSILVER_COOKIE_NAME", "qsAuth")]).await else {
        return;
    };
    common_members(
        &json_ok(&metadata(&hub, &[]).await),
        &hub.resource_identifier(),
        "qsAuth",
    );
}

/// B-TOK-6, B-MT-5, B-PRM-1: the derived resource identifier follows `X-Forwarded-Proto` /
/// `X-Forwarded-Host` and `Forwarded` only from a trusted proxy — in the metadata and as the
/// audience 1.0 tokens must name.
#[tokio::test]
async fn b_tok_6_forwarded_headers_from_trusted_proxies_only() {
    let forwarded: [&[(&str, &str)]; 2] = [
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "hub.example.org"),
        ],
        &[("Forwarded", "proto=https;host=hub.example.org")],
    ];
    let proxied_ri = "https://hub.example.org/.well-known/mercure";
    let Some(trusting) = env_hub(&[("QUICKSILVER_TRUSTED_PROXIES", "127.0.0.1/32")]).await else {
        return;
    };
    let untrusting = Hub::start_default().await;
    for headers in forwarded {
        let doc = json_ok(&metadata(&trusting, headers).await);
        assert_eq!(doc["resource"], json!(proxied_ri), "{headers:?}");
        let doc = json_ok(&metadata(&untrusting, headers).await);
        assert_eq!(
            doc["resource"],
            json!(untrusting.resource_identifier()),
            "{headers:?}"
        );
    }
    let details = json!([mercure_detail(&["publish"], vec![matcher("*", None)])]);
    for (hub, want) in [(&trusting, 200), (&untrusting, 401)] {
        let token = sign_at_jwt(
            "HS256",
            &hub.publisher_key,
            &v1_claims(DEFAULT_ISSUER, proxied_ri, details.clone()),
        );
        let mut rb = hub.pub_req(Some(&token), &[("topic", &uniq("b-tok-6"))]);
        for (k, v) in forwarded[0] {
            rb = rb.header(*k, *v);
        }
        assert_eq!(
            send(rb).await.status,
            want,
            "trusted proxies: {}",
            want == 200
        );
    }
    // Without forwarding headers the derived audience is the request's own.
    assert_eq!(
        publish_fresh(&trusting, &trusting.v1_publisher_token(details))
            .await
            .status,
        200
    );
}

/// B-PRM-1, X-11, B-ERR-2: with a configured resource identifier, challenges on 1.0 subscription
/// requests point at its metadata URL.
#[tokio::test]
async fn b_prm_1_challenge_points_at_configured_metadata() {
    let Some((hub, _)) = issuers_hub(false, &[]).await else {
        return;
    };
    let r = send_sub(super::get(
        &hub,
        &[("match_urlpattern", "https://example.com/:id")],
    ))
    .await;
    assert_eq!(r.status, 401, "{r:?}");
    bearer(&r, None, Some(super::META_URL));
    let doc = json_ok(&metadata(&hub, &[]).await);
    assert_eq!(doc["resource"], json!(RI));
}
