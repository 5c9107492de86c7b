//! X-11, B-ERR-1…5, X-6, B-AUTH-3, B-AUTH-4, B-AUTH-6, B-AUTH-9: RFC 6750 challenges in both
//! dialects (with `resource_metadata` when metadata is served), one `invalid_token` for every
//! token failure, malformed presentation (400 `invalid_request` on 1.0-only requests), token
//! sources and cookies, and no 1.0 token in the URL.

use serde_json::json;

use super::{
    bearer, env_hub, get, issuers_hub, no_challenge, probe_v1, publish_as, ri_token, META_URL,
};
use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, send, send_sub, Resp};
use crate::sse::Probe;
use crate::tokens::{matcher, mercure_detail, now, publish_claims, v1_claims, DEFAULT_ISSUER};

/// X-11, B-ERR-1…5, B-PRM-1, A-AUTH-17: with metadata served (issuers and a resource
/// identifier configured) every 401 and authorization 403, in both dialects, carries
/// `WWW-Authenticate: Bearer` with `resource_metadata`; no token → a bare challenge (B-ERR-2's
/// exact example); classic bodies stay `Unauthorized\n` / `Forbidden\n`; a malformed header on a
/// 1.0-only request → 400 `invalid_request`; other 400s carry no challenge.
#[tokio::test]
async fn x_11_challenges_in_both_dialects() {
    let Some((hub, _)) = issuers_hub(false, &[]).await else {
        return;
    };
    let t = uniq("x-11");
    let exact_bare = format!("Bearer resource_metadata=\"{META_URL}\"");
    let no_token = [
        send(hub.pub_req(None, &[("topic", &t)])).await,
        send_sub(hub.sub_req(&[&t])).await,
        send_sub(get(&hub, &[("match", &t)])).await,
    ];
    for (i, r) in no_token.iter().enumerate() {
        assert_eq!(r.status, 401, "{r:?}");
        if i < 2 {
            asserts::unauthorized(r);
        }
        assert_eq!(
            r.header("www-authenticate"),
            Some(exact_bare.clone()),
            "{r:?}"
        );
    }
    let key = hub.publisher_key.clone();
    let sub_key = hub.subscriber_key.clone().expect("subscriber key");
    let mut expired = v1_claims(DEFAULT_ISSUER, super::RI, json!([]));
    expired["exp"] = json!(now() - 5);
    let expired_sub = crate::tokens::sign_at_jwt("HS256", &sub_key, &expired);
    let invalid = [
        publish_as(&hub, &hub.subscriber_token(&json!({})), &[("topic", &t)]).await,
        publish_as(
            &hub,
            &crate::tokens::sign_at_jwt("HS256", &key, &expired),
            &[("topic", &t)],
        )
        .await,
        send_sub(hub.sub_req(&[&t]).bearer_auth(&expired_sub)).await,
        send_sub(get(&hub, &[("match", &t)]).bearer_auth(&expired_sub)).await,
        send_sub(get(&hub, &[("match", &t)]).bearer_auth(hub.publisher_token_all())).await,
    ];
    asserts::unauthorized(&invalid[0]);
    for r in &invalid {
        assert_eq!(r.status, 401, "{r:?}");
        bearer(r, Some("invalid_token"), Some(META_URL));
    }
    let r = publish_as(
        &hub,
        &hub.publisher_token(&publish_claims(json!(["urn:only"]))),
        &[("topic", &t)],
    )
    .await;
    asserts::forbidden(&r);
    bearer(&r, Some("insufficient_scope"), Some(META_URL));
    let narrow = ri_token(
        &key,
        None,
        json!([mercure_detail(
            &["publish"],
            vec![matcher("urn:only", None)]
        )]),
    );
    let r = publish_as(&hub, &narrow, &[("topic", &t)]).await;
    assert_eq!(r.status, 403, "{r:?}");
    bearer(&r, Some("insufficient_scope"), Some(META_URL));
    let r = send_sub(get(&hub, &[("match", &t)]).header("Authorization", "Bearer short")).await;
    assert_eq!(r.status, 400, "{r:?}");
    bearer(&r, Some("invalid_request"), Some(META_URL));
    let classic_sub = hub.subscriber_token(&json!({}));
    for r in [
        send_sub(
            hub.hub_req(reqwest::Method::GET, "")
                .bearer_auth(&classic_sub),
        )
        .await,
        send_sub(get(&hub, &[("match", &t), ("matchx", "1")]).bearer_auth(&classic_sub)).await,
        send_sub(
            get(&hub, &[("match_urlpattern", "https://example.com/(")]).bearer_auth(&classic_sub),
        )
        .await,
    ] {
        assert_eq!(r.status, 400, "{r:?}");
        no_challenge(&r);
    }
}

/// B-ERR-3, B-TOK-8, X-11: every 1.0 token failure — signature, expiry, `nbf`, `typ`, issuer,
/// audience, bad or oversized `authorization_details` — gets the same 401, body and challenge.
#[tokio::test]
async fn b_err_3_one_answer_for_every_token_failure() {
    let hub = Hub::start_default().await;
    let good = v1_claims(
        DEFAULT_ISSUER,
        &hub.resource_identifier(),
        json!([mercure_detail(&["publish"], vec![matcher("*", None)])]),
    );
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good.clone();
        c[k] = v;
        hub.v1_publisher_raw(&c)
    };
    let huge: Vec<_> = (0..101)
        .map(|i| matcher(&format!("urn:{i}"), None))
        .collect();
    let bad = [
        crate::tokens::sign_at_jwt("HS256", "some-other-secret-some-other-secret", &good),
        with("exp", json!(now() - 5)),
        with("nbf", json!(now() + 600)),
        crate::tokens::sign_hs("HS256", &hub.publisher_key, &good),
        with("iss", json!("https://unknown.example")),
        with("aud", json!("https://unknown.example/.well-known/mercure")),
        with(
            "authorization_details",
            json!([{ "type": crate::tokens::MERCURE_DETAIL }]),
        ),
        with(
            "authorization_details",
            json!([mercure_detail(&["publish"], huge)]),
        ),
    ];
    let answers: Vec<Resp> = publish_each(&hub, &bad).await;
    // The bad signature gets the classic body; no other failure may differ from it.
    asserts::unauthorized(&answers[0]);
    for r in &answers {
        bearer(r, Some("invalid_token"), None);
        assert_eq!((r.status, &r.body), (401, &answers[0].body), "{r:?}");
        assert_eq!(
            r.header("www-authenticate"),
            answers[0].header("www-authenticate")
        );
    }
}

/// Publishes on a fresh topic with each token in turn.
async fn publish_each(hub: &Hub, tokens: &[String]) -> Vec<Resp> {
    let mut out = Vec::new();
    for t in tokens {
        out.push(publish_as(hub, t, &[("topic", &uniq("b-err-3"))]).await);
    }
    out
}

/// B-AUTH-4, B-ERR-5, §0.2, A-AUTH-3: on a 1.0-only subscription request two `Authorization`
/// headers, another scheme or a token under 41 characters → 400 `invalid_request`; the scheme is
/// case-insensitive. Everywhere else (classic and mixed subscriptions, publishing) the classic
/// 401 applies.
#[tokio::test]
async fn b_auth_4_malformed_authorization_header() {
    let hub = Hub::start_default().await;
    let t = uniq("b-auth-4");
    let tok = hub.v1_subscriber_token(json!([]));
    let malformed: Vec<Vec<String>> = vec![
        vec![format!("Bearer {tok}"), format!("Bearer {tok}")],
        vec![format!("Basic {tok}")],
        vec!["Bearer abc".into()],
        vec![format!("Bearer {}", "a".repeat(40))],
        vec![tok.clone()],
    ];
    let with = |rb: reqwest::RequestBuilder, values: &[String]| {
        values
            .iter()
            .fold(rb, |rb, v| rb.header("Authorization", v))
    };
    for values in &malformed {
        let r = send_sub(with(get(&hub, &[("match", &t)]), values)).await;
        assert_eq!(r.status, 400, "1.0 {values:?}: {r:?}");
        bearer(&r, Some("invalid_request"), None);
        for rb in [
            hub.sub_req(&[&t]),
            get(&hub, &[("topic", &t), ("match", &t)]),
            hub.pub_req(None, &[("topic", &t)]),
        ] {
            asserts::unauthorized(&send(with(rb, values)).await);
        }
    }
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let r = send_sub(
            get(&hub, &[("match", &t)]).header("Authorization", format!("{scheme} {tok}")),
        )
        .await;
        assert_eq!(r.status, 200, "{scheme}: {r:?}");
    }
}

/// X-6, B-AUTH-9, B-AUTH-3, B-AUTH-5: a 1.0 token in the `authorization` query parameter is
/// rejected (401 `invalid_token`) where the parameter is read; on 1.0-only requests it is not
/// read at all; the RFC 6750 `access_token` parameter is never read; both cookie names carry 1.0
/// tokens; a header wins and the cookie is then ignored, not rejected.
#[tokio::test]
async fn x_6_token_sources_for_1_0() {
    let hub = Hub::start_default().await;
    let t = uniq("x-6");
    let v1_pub = hub.v1_publisher_token_all();
    let v1_sub = hub.v1_subscriber_token_for(&[(&t, None)]);
    let q = |pairs: &[(&str, &str)]| hub.hub_req(reqwest::Method::GET, &form_encode(pairs));
    for rb in [
        q(&[("topic", &t), ("authorization", &v1_sub)]),
        q(&[("topic", &t), ("match", &t), ("authorization", &v1_sub)]),
    ] {
        let r = send_sub(rb).await;
        assert_eq!(r.status, 401, "{r:?}");
        bearer(&r, Some("invalid_token"), None);
    }
    let post = hub
        .hub_req(
            reqwest::Method::POST,
            &form_encode(&[("authorization", &v1_pub)]),
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_encode(&[("topic", &t)]));
    let r = send(post).await;
    assert_eq!(r.status, 401, "{r:?}");
    bearer(&r, Some("invalid_token"), None);
    // 1.0-only: the parameter is not looked at (garbage is harmless, a good token grants nothing).
    let garbage = "g".repeat(60);
    assert_eq!(
        send_sub(q(&[("match", &t), ("authorization", &garbage)]))
            .await
            .status,
        200
    );
    let classic = hub.subscriber_token_for(&[&t]);
    for (name, value) in [("authorization", &classic), ("access_token", &v1_sub)] {
        let mut p = probe_v1(&hub, None, &[("match", &t), (name, value)]).await;
        assert!(
            !p.receives(&hub, &[("topic", &t), ("private", "on")]).await,
            "{name} must not be read"
        );
    }
    for cookie in ["__Secure-mercure_access_token", "mercureAuthorization"] {
        let sentinel = uniq("sentinel");
        let rb = get(&hub, &[("match", &t), ("match", &sentinel)])
            .header("Cookie", format!("{cookie}={v1_sub}"));
        let mut p = Probe {
            stream: crate::sse::SseStream::open(rb).await,
            sentinel,
        };
        assert!(
            p.receives(&hub, &[("topic", &t), ("private", "on")]).await,
            "{cookie}"
        );
    }
    let rb = get(&hub, &[("match", &t)])
        .bearer_auth(&v1_sub)
        .header("Cookie", format!("__Secure-mercure_access_token={garbage}"));
    assert_eq!(
        send_sub(rb).await.status,
        200,
        "header wins, cookie ignored"
    );
}

/// B-AUTH-9: on a hub without anonymous access, a token in `access_token` does not authenticate.
#[tokio::test]
async fn b_auth_9_access_token_parameter_never_read() {
    let Some(hub) = Hub::builder().start().await else {
        return;
    };
    let t = uniq("b-auth-9");
    let tok = hub.v1_subscriber_token(json!([]));
    let r = send_sub(get(&hub, &[("match", &t), ("access_token", &tok)])).await;
    assert_eq!(r.status, 401, "{r:?}");
    bearer(&r, None, None);
    assert_eq!(
        send_sub(get(&hub, &[("match", &t)]).bearer_auth(&tok))
            .await
            .status,
        200
    );
}

/// B-AUTH-6, A-AUTH-6, §0.2: a POST authenticated by a 1.0 token in a cookie needs an allowed
/// `Origin` (else `Referer`) — otherwise 400 `invalid_request`; a classic cookie token gets the
/// classic 401.
#[tokio::test]
async fn b_auth_6_cookie_publish_needs_allowed_origin() {
    let Some(hub) = env_hub(&[("QUICKSILVER_PUBLISH_ORIGINS", "https://app.example.com")]).await
    else {
        return;
    };
    let v1 = hub.v1_publisher_token_all();
    let cookie_post = |token: &str, headers: &[(&str, &str)]| {
        let mut rb = hub
            .pub_req(None, &[("topic", &uniq("b-auth-6"))])
            .header("Cookie", format!("__Secure-mercure_access_token={token}"));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        send(rb)
    };
    for h in [
        vec![],
        vec![("Origin", "https://evil.example")],
        vec![("Referer", "https://evil.example/x")],
    ] {
        let r = cookie_post(&v1, &h).await;
        assert_eq!(r.status, 400, "{h:?}: {r:?}");
        bearer(&r, Some("invalid_request"), None);
        asserts::unauthorized(&cookie_post(&hub.publisher_token_all(), &h).await);
    }
    for h in [
        vec![("Origin", "https://app.example.com")],
        vec![("Referer", "https://app.example.com/page")],
    ] {
        assert_eq!(cookie_post(&v1, &h).await.status, 200, "{h:?}");
    }
}

/// B-ERR-2, X-11: a subscription without a token on a hub without anonymous access → 401 with a
/// bare challenge, in both dialects.
#[tokio::test]
async fn b_err_2_bare_challenge_on_subscribe() {
    let Some(hub) = Hub::builder().start().await else {
        return;
    };
    let t = uniq("b-err-2");
    let r = send_sub(get(&hub, &[("match", &t)])).await;
    assert_eq!(r.status, 401, "{r:?}");
    bearer(&r, None, None);
    let r = send_sub(hub.sub_req(&[&t])).await;
    asserts::unauthorized(&r);
    bearer(&r, None, None);
}

/// A refusal to check: what was sent, the answer, its status, challenge error and classic body.
type Case<'a> = (&'a str, Resp, u16, Option<&'a str>, Option<&'a str>);

/// X-11, B-ERR-1, B-PRM-1, A-PUB-13, A-SUBS-10, B-SAPI-2: on a default hub (it serves metadata:
/// `trusted_issuers` defaults to `https://localhost`) every 401 and every 403 for missing rights
/// carries `resource_metadata` with the metadata URL of the request's resource — publish (no
/// token, bad token, no publish right, a topic not covered, a reserved topic with a classic
/// token, a 1.0 token without the grant), subscribe (no token, bad token, in both dialects) and
/// the subscription API (no token, bad token, a classic token without the right: 401; a 1.0
/// token without the grant: 403). Classic statuses and bodies are unchanged.
#[tokio::test]
async fn x_11_every_refusal_points_at_the_metadata() {
    let Some(hub) = Hub::builder()
        .env("QUICKSILVER_SUBSCRIPTIONS", "true")
        .start()
        .await
    else {
        return;
    };
    let meta = hub.url(super::META_PATH);
    let t = uniq("x-11-sweep");
    let reserved = "/.well-known/mercure/subscriptions/a/b";
    let bad = "x.y.z-----------------------------------------";
    let v1_narrow_pub = hub.v1_publisher_token(json!([mercure_detail(
        &["publish"],
        vec![matcher("urn:only", None)]
    )]));
    let v1_narrow_sub = hub.v1_subscriber_token_for(&[("urn:only", None)]);
    let classic_narrow_sub = hub.subscriber_token_for(&["urn:only"]);
    let api = |path: &str, token: Option<&str>| {
        let rb = hub.client.get(hub.url(path));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    };
    let api_v1 = format!("{}/exact/{}", super::API, super::enc1(&t));
    // (what, response, status, error, classic body)
    let cases: Vec<Case> = vec![
        (
            "publish, no token",
            send(hub.pub_req(None, &[("topic", &t)])).await,
            401,
            None,
            Some("Unauthorized\n"),
        ),
        (
            "publish, bad token",
            publish_as(&hub, bad, &[("topic", &t)]).await,
            401,
            Some("invalid_token"),
            Some("Unauthorized\n"),
        ),
        (
            "publish, classic token without publish rights",
            publish_as(&hub, &hub.publisher_token(&json!({ "mercure": {} })), &[("topic", &t)])
                .await,
            401,
            Some("invalid_token"),
            Some("Unauthorized\n"),
        ),
        (
            "publish, classic topic not covered",
            publish_as(
                &hub,
                &hub.publisher_token(&publish_claims(json!(["urn:only"]))),
                &[("topic", &t)],
            )
            .await,
            403,
            Some("insufficient_scope"),
            Some("Forbidden\n"),
        ),
        (
            "publish, classic reserved topic",
            publish_as(&hub, &hub.publisher_token_all(), &[("topic", reserved)]).await,
            403,
            Some("insufficient_scope"),
            Some("\"/.well-known/mercure/subscriptions/a/b\": topic value references the reserved \"/.well-known/mercure\" namespace\n"),
        ),
        (
            "publish, 1.0 topic not covered",
            publish_as(&hub, &v1_narrow_pub, &[("topic", &t)]).await,
            403,
            Some("insufficient_scope"),
            None,
        ),
        (
            "classic subscribe, no token",
            send_sub(hub.sub_req(&[&t])).await,
            401,
            None,
            Some("Unauthorized\n"),
        ),
        (
            "classic subscribe, bad token",
            send_sub(hub.sub_req(&[&t]).bearer_auth(bad)).await,
            401,
            Some("invalid_token"),
            Some("Unauthorized\n"),
        ),
        (
            "1.0 subscribe, no token",
            send_sub(get(&hub, &[("match", &t)])).await,
            401,
            None,
            None,
        ),
        (
            "1.0 subscribe, bad token",
            send_sub(get(&hub, &[("match", &t)]).bearer_auth(hub.publisher_token_all())).await,
            401,
            Some("invalid_token"),
            None,
        ),
        (
            "API root, no token",
            send(api(super::API, None)).await,
            401,
            None,
            Some("Unauthorized\n"),
        ),
        (
            "API root, bad token",
            send(api(super::API, Some(bad))).await,
            401,
            Some("invalid_token"),
            Some("Unauthorized\n"),
        ),
        (
            "API root, classic token without the right",
            send(api(super::API, Some(&classic_narrow_sub))).await,
            401,
            Some("insufficient_scope"),
            Some("Unauthorized\n"),
        ),
        (
            "API 1.0 path, classic token without the right",
            send(api(&api_v1, Some(&classic_narrow_sub))).await,
            401,
            Some("insufficient_scope"),
            Some("Unauthorized\n"),
        ),
        (
            "API root, 1.0 token without the grant",
            send(api(super::API, Some(&v1_narrow_sub))).await,
            403,
            Some("insufficient_scope"),
            None,
        ),
        (
            "API 1.0 path, no token",
            send(api(&api_v1, None)).await,
            401,
            None,
            None,
        ),
        (
            "API 1.0 path, 1.0 token without the grant",
            send(api(&api_v1, Some(&v1_narrow_sub))).await,
            403,
            Some("insufficient_scope"),
            None,
        ),
    ];
    for (what, r, status, error, body) in cases {
        assert_eq!(r.status, status, "{what}: {r:?}");
        bearer(&r, error, Some(&meta));
        if let Some(body) = body {
            assert_eq!(r.body, body, "{what}");
            asserts::plain_text(&r);
        }
    }
}
