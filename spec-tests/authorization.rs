//! A.6 Authorization: token formats, sources, verification and claims (A-AUTH-1…9, 16, 17)
//! and the X-11 challenges. Rights and private delivery are in `access.rs`.

use serde_json::{json, Value};

use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, send, send_sub, Resp};
use crate::tokens::{now, openssl_keypair, publish_claims, raw_jwt, sign_hs, sign_pem};

/// Publishes on a fresh topic with `token` in the Authorization header.
async fn publish_as(hub: &Hub, token: &str) -> Resp {
    send(hub.pub_req(Some(token), &[("topic", &uniq("auth"))])).await
}

/// Subscribes on a fresh topic with `token` in the Authorization header (status only).
async fn subscribe_as(hub: &Hub, token: &str) -> Resp {
    send_sub(hub.sub_req(&[&uniq("auth")]).bearer_auth(token)).await
}

/// A-AUTH-1, A-AUTH-17: non-JWS tokens (garbage, JWE shape, `alg: none`, non-object payloads) → 401.
#[tokio::test]
async fn a_auth_1_malformed_tokens_are_401() {
    let hub = Hub::start_default().await;
    let claims = r#"{"mercure":{"publish":["*"],"subscribe":["*"]}}"#;
    let good = hub.publisher_token_all();
    let sig = good.rsplit('.').next().unwrap();
    let bad = [
        "x".repeat(60),
        format!("{good}.{sig}.{sig}"),
        good.splitn(3, '.').take(2).collect::<Vec<_>>().join("."),
        raw_jwt(r#"{"alg":"none","typ":"JWT"}"#, claims, ""),
        raw_jwt(r#"{"alg":"none"}"#, claims, sig),
        raw_jwt(r#"{"alg":"HS256","typ":"JWT"}"#, claims, sig),
        sign_hs("HS256", &hub.publisher_key, &json!([1, 2, 3])),
        sign_hs(
            "HS256",
            &hub.publisher_key,
            &json!("a string payload that is long"),
        ),
    ];
    for t in &bad {
        asserts::unauthorized(&publish_as(&hub, t).await);
        asserts::unauthorized(&subscribe_as(&hub, t).await);
    }
}

/// A-AUTH-2, X-6: the first token source present (header, query, cookie) is the only one used.
#[tokio::test]
async fn a_auth_2_token_source_precedence_subscribe() {
    let hub = Hub::start_default().await;
    let good = hub.subscriber_token(&json!({}));
    let bad = hub.publisher_token_all();
    let topic = uniq("a-auth-2");
    let req = |header: Option<&str>, query: Option<&str>, cookie: Option<&str>| {
        let mut pairs = vec![("topic", topic.as_str())];
        if let Some(q) = query {
            pairs.push(("authorization", q));
        }
        let mut rb = hub.hub_req(reqwest::Method::GET, &form_encode(&pairs));
        if let Some(h) = header {
            rb = rb.bearer_auth(h);
        }
        if let Some(c) = cookie {
            rb = rb.header("Cookie", format!("mercureAuthorization={c}"));
        }
        send_sub(rb)
    };
    let cases = [
        (Some(&bad), Some(&good), None, 401),
        (Some(&good), Some(&bad), Some(&bad), 200),
        (None, Some(&bad), Some(&good), 401),
        (None, Some(&good), Some(&bad), 200),
        (Some(&bad), None, Some(&good), 401),
        (None, None, Some(&bad), 401),
        (None, None, Some(&good), 200),
    ];
    for (h, q, c, status) in cases {
        let r = req(
            h.map(|s| s.as_str()),
            q.map(|s| s.as_str()),
            c.map(|s| s.as_str()),
        )
        .await;
        assert_eq!(
            r.status,
            status,
            "header ok={:?} query ok={:?} cookie ok={:?}: {r:?}",
            h.map(|t| t == &good),
            q.map(|t| t == &good),
            c.map(|t| t == &good)
        );
    }
}

/// A-AUTH-2: precedence on publish (header before query parameter).
#[tokio::test]
async fn a_auth_2_token_source_precedence_publish() {
    let hub = Hub::start_default().await;
    let good = hub.publisher_token_all();
    let bad = hub.subscriber_token(&publish_claims(json!(["*"])));
    let post = |header: &str, query: &str| {
        let q = form_encode(&[("authorization", query)]);
        send(
            hub.hub_req(reqwest::Method::POST, &q)
                .bearer_auth(header)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_encode(&[("topic", &uniq("a-auth-2"))])),
        )
    };
    asserts::unauthorized(&post(&bad, &good).await);
    assert_eq!(post(&good, &bad).await.status, 200);
}

/// A-AUTH-3: one `Bearer <token>` header (scheme case-insensitive in QS); anything else → 401.
#[tokio::test]
async fn a_auth_3_authorization_header_format() {
    let hub = Hub::start_default().await;
    let good = hub.publisher_token_all();
    let fields = form_encode(&[("topic", &uniq("a-auth-3"))]);
    let post = |values: Vec<String>| {
        let mut rb = hub
            .hub_req(reqwest::Method::POST, "")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(fields.clone());
        for v in values {
            rb = rb.header("Authorization", v);
        }
        send(rb)
    };
    assert_eq!(post(vec![format!("Bearer {good}")]).await.status, 200);
    assert_eq!(
        post(vec![format!("bearer {good}")]).await.status,
        200,
        "scheme is case-insensitive"
    );
    for v in [
        vec![format!("Basic {good}")],
        vec![format!("Bearer  {good}")],
        vec![good.clone()],
        vec!["Bearer abc".into()],
        vec![format!("Bearer {good}"), format!("Bearer {good}")],
    ] {
        asserts::unauthorized(&post(v).await);
    }
    // A malformed header on an anonymous subscription is still a 401.
    let r = send_sub(
        hub.sub_req(&["x"])
            .header("Authorization", format!("Basic {good}")),
    )
    .await;
    asserts::unauthorized(&r);
}

/// A-AUTH-4: the `authorization` query parameter (once, ≥ 41 chars) on GET and POST.
#[tokio::test]
async fn a_auth_4_query_parameter() {
    let hub = Hub::start_default().await;
    let good = hub.publisher_token_all();
    let topic = uniq("a-auth-4");
    let post = |auths: &[&str]| {
        let mut pairs: Vec<(&str, &str)> = auths.iter().map(|a| ("authorization", *a)).collect();
        pairs.push(("topic", "ignored"));
        send(
            hub.hub_req(reqwest::Method::POST, &form_encode(&pairs))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form_encode(&[("topic", &topic)])),
        )
    };
    assert_eq!(post(&[&good]).await.status, 200);
    asserts::unauthorized(&post(&[&good, &good]).await);
    asserts::unauthorized(&post(&["tooshort"]).await);
    // GET: the query token grants private access.
    let st = hub.subscriber_token(&json!({ "mercure": { "subscribe": [topic] } }));
    let q = form_encode(&[("topic", &topic), ("authorization", &st)]);
    let mut sub = crate::sse::SseStream::open(hub.hub_req(reqwest::Method::GET, &q)).await;
    let id = hub
        .publish_ok(&[("topic", &topic), ("private", "on")])
        .await;
    sub.expect_event(&id).await;
    let q = form_encode(&[
        ("topic", &topic),
        ("authorization", &st),
        ("authorization", &st),
    ]);
    asserts::unauthorized(&send_sub(hub.hub_req(reqwest::Method::GET, &q)).await);
}

/// A-AUTH-5: the `mercureAuthorization` cookie authenticates; an invalid one is a 401
/// even on an anonymous hub.
#[tokio::test]
async fn a_auth_5_cookie() {
    let hub = Hub::start_default().await;
    let topic = uniq("a-auth-5");
    let st = hub.subscriber_token_for(&[&topic]);
    let rb = hub
        .sub_req(&[&topic])
        .header("Cookie", format!("other=1; mercureAuthorization={st}"));
    let mut sub = crate::sse::SseStream::open(rb).await;
    let id = hub
        .publish_ok(&[("topic", &topic), ("private", "on")])
        .await;
    sub.expect_event(&id).await;
    let expired = hub.subscriber_token(&json!({ "exp": now() - 10 }));
    for c in [
        expired.as_str(),
        "garbage-garbage-garbage-garbage-garbage-garbage",
    ] {
        let rb = hub
            .sub_req(&[&topic])
            .header("Cookie", format!("mercureAuthorization={c}"));
        asserts::unauthorized(&send_sub(rb).await);
    }
}

/// A-AUTH-5, X-6: a configured `cookie_name` replaces the default cookie.
#[tokio::test]
async fn a_auth_5_custom_cookie_name() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_COOKIE_NAME", "qsAuth")
        .start()
        .await
    else {
        return;
    };
    let topic = uniq("a-auth-5");
    let st = hub.subscriber_token_for(&[&topic]);
    let rb = hub
        .sub_req(&[&topic])
        .header("Cookie", format!("qsAuth={st}"));
    let mut sub = crate::sse::SseStream::open(rb).await;
    let id = hub
        .publish_ok(&[("topic", &topic), ("private", "on")])
        .await;
    sub.expect_event(&id).await;
    let rb = hub
        .sub_req(&[&topic])
        .header("Cookie", "qsAuth=garbage-garbage-garbage-garbage-garbage");
    asserts::unauthorized(&send_sub(rb).await);
    let rb = hub.sub_req(&[&topic]).header(
        "Cookie",
        "mercureAuthorization=garbage-garbage-garbage-garbage",
    );
    assert_eq!(
        send_sub(rb).await.status,
        200,
        "default cookie must be ignored"
    );
}

/// A-AUTH-7: the token's `alg` must equal the configured one; keys are per role.
#[tokio::test]
async fn a_auth_7_algorithm_and_key_pinned() {
    let hub = Hub::start_default().await;
    let all = json!({ "mercure": { "publish": ["*"], "subscribe": ["*"] } });
    for alg in ["HS384", "HS512"] {
        asserts::unauthorized(&publish_as(&hub, &sign_hs(alg, &hub.publisher_key, &all)).await);
    }
    // a subscriber-key token cannot publish
    asserts::unauthorized(&publish_as(&hub, &hub.subscriber_token(&all)).await);
    // a publisher-key token cannot subscribe
    asserts::unauthorized(&subscribe_as(&hub, &hub.publisher_token(&all)).await);
    assert_eq!(
        publish_as(&hub, &hub.publisher_token(&all)).await.status,
        200
    );
    assert_eq!(
        subscribe_as(&hub, &hub.subscriber_token(&all)).await.status,
        200
    );
}

/// A-AUTH-7: a configured HMAC algorithm other than HS256 is honoured and pinned.
#[tokio::test]
async fn a_auth_7_hs512_configured() {
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .publisher_key(Some(&key), Some("HS512"))
        .start()
        .await
    else {
        return;
    };
    let claims = publish_claims(json!(["*"]));
    assert_eq!(
        publish_as(&hub, &sign_hs("HS512", &key, &claims))
            .await
            .status,
        200
    );
    asserts::unauthorized(&publish_as(&hub, &sign_hs("HS256", &key, &claims)).await);
}

/// A-AUTH-7, C-HARD-6: PEM public keys for RS256, ES256 and EdDSA; no algorithm confusion.
#[tokio::test]
async fn a_auth_7_asymmetric_keys() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "RS256",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ),
        (
            "ES256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        ("EdDSA", &["-algorithm", "ed25519"]),
    ];
    for (alg, args) in cases {
        let (private, public) = openssl_keypair(args);
        let Some(hub) = Hub::builder()
            .anonymous(true)
            .publisher_key(Some(&public), Some(alg))
            .start()
            .await
        else {
            return;
        };
        let claims = publish_claims(json!(["*"]));
        let r = publish_as(&hub, &sign_pem(alg, &private, &claims)).await;
        assert_eq!(r.status, 200, "{alg}: {r:?}");
        let (other, _) = openssl_keypair(args);
        asserts::unauthorized(&publish_as(&hub, &sign_pem(alg, &other, &claims)).await);
        asserts::unauthorized(&publish_as(&hub, &sign_hs("HS256", &public, &claims)).await);
    }
}

/// A-AUTH-8: only `exp` and `nbf` are checked, without leeway; other claims are ignored.
#[tokio::test]
async fn a_auth_8_time_and_ignored_claims() {
    let hub = Hub::start_default().await;
    let n = now();
    let with = |extra: Value| {
        let mut c = publish_claims(json!(["*"]));
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        hub.publisher_token(&c)
    };
    let accepted = [
        json!({}),
        json!({ "exp": n + 3600 }),
        json!({ "exp": n as f64 + 3600.5 }),
        json!({ "nbf": n - 10 }),
        json!({ "nbf": n as f64 - 10.5 }),
        json!({ "aud": "someone-else", "iss": "https://idp.example", "iat": n + 99999,
                "sub": "x", "jti": "y" }),
        json!({ "aud": ["a", "b"] }),
    ];
    for extra in accepted {
        let r = publish_as(&hub, &with(extra.clone())).await;
        assert_eq!(r.status, 200, "{extra}: {r:?}");
    }
    for extra in [
        json!({ "exp": n - 5 }),
        json!({ "exp": n as f64 - 5.5 }),
        json!({ "nbf": n + 30 }),
        json!({ "exp": "tomorrow" }),
    ] {
        let r = publish_as(&hub, &with(extra.clone())).await;
        assert_eq!(r.status, 401, "{extra}: {r:?}");
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("something/else".into());
    let key = jsonwebtoken::EncodingKey::from_secret(hub.publisher_key.as_bytes()).unwrap();
    let t = jsonwebtoken::encode(&header, &publish_claims(json!(["*"])), &key).unwrap();
    assert_eq!(
        publish_as(&hub, &t).await.status,
        200,
        "typ must be ignored"
    );
    let expired = hub.subscriber_token(&json!({ "exp": n - 5 }));
    asserts::unauthorized(&subscribe_as(&hub, &expired).await);
}

/// A-AUTH-9: `https://mercure.rocks/` replaces `mercure`; wrong JSON types → 401.
#[tokio::test]
async fn a_auth_9_claim_shapes() {
    let hub = Hub::start_default().await;
    let rocks = "https://mercure.rocks/";
    let ok = [
        json!({ rocks: { "publish": ["*"] } }),
        json!({ rocks: null, "mercure": { "publish": ["*"] } }),
        json!({ "mercure": { "publish": ["*"], "other": 1, "payload": {"a": [1]} } }),
        json!({ "mercure": { "publish": ["*"], "subscribe": null, "payload": "str" } }),
    ];
    for c in ok {
        let r = publish_as(&hub, &hub.publisher_token(&c)).await;
        assert_eq!(r.status, 200, "{c}: {r:?}");
    }
    let replaced = json!({ "mercure": { "publish": ["*"] }, rocks: { "publish": ["urn:other"] } });
    asserts::forbidden(&publish_as(&hub, &hub.publisher_token(&replaced)).await);
    for c in [
        json!({ "mercure": { "publish": "*" } }),
        json!({ "mercure": { "publish": [1] } }),
        json!({ "mercure": { "publish": ["*", null] } }),
        json!({ "mercure": "publish" }),
        json!({ "mercure": { "publish": ["*"], "subscribe": "*" } }),
        json!({ rocks: { "publish": "*" } }),
    ] {
        let r = publish_as(&hub, &hub.publisher_token(&c)).await;
        assert_eq!(r.status, 401, "{c}: {r:?}");
    }
    let c = json!({ "mercure": { "subscribe": "*" } });
    asserts::unauthorized(&subscribe_as(&hub, &hub.subscriber_token(&c)).await);
}

/// A-AUTH-11: anonymous off → no token 401, invalid 401, valid token 200.
#[tokio::test]
async fn a_auth_11_subscriber_token_required() {
    let Some(hub) = Hub::builder().start().await else {
        return;
    };
    asserts::unauthorized(&send_sub(hub.sub_req(&["x"])).await);
    asserts::unauthorized(&subscribe_as(&hub, &hub.publisher_token_all()).await);
    assert_eq!(
        subscribe_as(&hub, &hub.subscriber_token(&json!({})))
            .await
            .status,
        200
    );
}

/// A-AUTH-11: without a subscriber key (anonymous on) tokens are not read on subscriptions.
#[tokio::test]
async fn a_auth_11_no_subscriber_key_ignores_tokens() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .subscriber_key(None, None)
        .start()
        .await
    else {
        return;
    };
    let r = subscribe_as(&hub, "not-a-token-not-a-token-not-a-token-not-a-token").await;
    assert_eq!(r.status, 200, "{r:?}");
    let rb = hub.sub_req(&["x"]).header(
        "Cookie",
        "mercureAuthorization=garbage-garbage-garbage-garbage",
    );
    assert_eq!(send_sub(rb).await.status, 200);
    assert_eq!(
        publish_as(&hub, &hub.publisher_token_all()).await.status,
        200
    );
}

/// A-AUTH-16: the hub refuses to start without a publisher key, or without a subscriber
/// key when anonymous is off; C-HARD-6: a PEM key with an HS algorithm is a startup error.
#[tokio::test]
async fn a_auth_16_required_keys() {
    let Some((status, _)) = Hub::builder()
        .anonymous(true)
        .publisher_key(None, None)
        .start_expect_failure()
        .await
    else {
        return;
    };
    assert!(!status.success(), "no publisher key must fail");
    let (status, _) = Hub::builder()
        .anonymous(false)
        .subscriber_key(None, None)
        .start_expect_failure()
        .await
        .unwrap();
    assert!(
        !status.success(),
        "no subscriber key without anonymous must fail"
    );
    let (_, public) = openssl_keypair(&["-algorithm", "ed25519"]);
    let (status, _) = Hub::builder()
        .anonymous(true)
        .publisher_key(Some(&public), Some("HS256"))
        .start_expect_failure()
        .await
        .unwrap();
    assert!(!status.success(), "PEM key with HS256 must fail");
}

/// A-AUTH-16: the two verifiers may share one key.
#[tokio::test]
async fn a_auth_16_same_key_for_both_roles() {
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let Some(hub) = Hub::builder()
        .publisher_key(Some(&key), None)
        .subscriber_key(Some(&key), None)
        .start()
        .await
    else {
        return;
    };
    let t = hub.publisher_token(&json!({ "mercure": { "publish": ["*"], "subscribe": ["*"] } }));
    assert_eq!(publish_as(&hub, &t).await.status, 200);
    assert_eq!(subscribe_as(&hub, &t).await.status, 200);
}

/// X-11, A-AUTH-17: `WWW-Authenticate` challenges on 401 and 403.
#[tokio::test]
async fn x_11_challenges() {
    let hub = Hub::start_default().await;
    let r = send(hub.pub_req(None, &[("topic", "x")])).await;
    asserts::unauthorized(&r);
    asserts::challenge(&r, None);
    let r = publish_as(&hub, &hub.subscriber_token(&json!({}))).await;
    asserts::unauthorized(&r);
    asserts::challenge(&r, Some("invalid_token"));
    let r = subscribe_as(&hub, &hub.publisher_token_all()).await;
    asserts::unauthorized(&r);
    asserts::challenge(&r, Some("invalid_token"));
    let narrow = hub.publisher_token(&publish_claims(json!(["urn:only-this"])));
    let r = publish_as(&hub, &narrow).await;
    asserts::forbidden(&r);
    asserts::challenge(&r, Some("insufficient_scope"));
}

/// X-11: bare challenge for a subscription without a token when anonymous is off.
#[tokio::test]
async fn x_11_bare_challenge_on_subscribe() {
    let Some(hub) = Hub::builder().start().await else {
        return;
    };
    let r = send_sub(hub.sub_req(&["x"])).await;
    asserts::unauthorized(&r);
    asserts::challenge(&r, None);
}

/// X-6, A-AUTH-5: without a configured `cookie_name`, `__Secure-mercure_access_token` is the
/// fallback cookie when `mercureAuthorization` is absent.
#[tokio::test]
async fn x_6_secure_cookie_fallback() {
    let hub = Hub::start_default().await;
    let topic = uniq("x-6");
    let st = hub.subscriber_token_for(&[&topic]);
    let rb = hub
        .sub_req(&[&topic])
        .header("Cookie", format!("__Secure-mercure_access_token={st}"));
    let mut sub = crate::sse::SseStream::open(rb).await;
    let id = hub
        .publish_ok(&[("topic", &topic), ("private", "on")])
        .await;
    sub.expect_event(&id).await;
    // mercureAuthorization comes first: an invalid one fails even with a valid fallback
    let cookie = format!("__Secure-mercure_access_token={st}; mercureAuthorization=bad-bad-bad-bad-bad-bad-bad-bad-bad");
    let rb = hub.sub_req(&[&topic]).header("Cookie", cookie);
    asserts::unauthorized(&send_sub(rb).await);
}

/// A-AUTH-7: a JWK Set (`file://` URL) as publisher verifier; the key is chosen by `kid`.
#[tokio::test]
async fn a_auth_7_jwks_file() {
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let dir = crate::tempdir::TempDir::new("qs-spec-jwks");
    let path = dir.join("jwks.json");
    let jwks = json!({ "keys": [
        { "kty": "oct", "kid": "k1", "alg": "HS256", "k": crate::tokens::b64(&secret) }
    ] });
    std::fs::write(&path, jwks.to_string()).unwrap();
    let url = format!("file://{}", path.display());
    let hub = Hub::builder()
        .anonymous(true)
        .publisher_key(None, None)
        .env("QUICKSILVER_PUBLISHER_JWKS_URL", &url)
        .start()
        .await;
    let Some(hub) = hub else {
        return;
    };
    let sign = |kid: Option<&str>, alg: jsonwebtoken::Algorithm| {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = kid.map(str::to_string);
        let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &publish_claims(json!(["*"])), &key).unwrap()
    };
    use jsonwebtoken::Algorithm::{HS256, HS512};
    assert_eq!(publish_as(&hub, &sign(Some("k1"), HS256)).await.status, 200);
    asserts::unauthorized(&publish_as(&hub, &sign(Some("k2"), HS256)).await);
    asserts::unauthorized(&publish_as(&hub, &sign(Some("k1"), HS512)).await);
}
