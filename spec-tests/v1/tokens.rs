//! B-TOK-1…8, X-3: 1.0 token validation — `typ`, issuers and their keys, algorithms, `exp`
//! and `nbf`, audience, optional claims — and how a token's payload picks its dialect.
//! A token is probed by publishing on a fresh topic: 200 = accepted (its grant is `*`).
//! B-SEC-2: keys and tokens stay out of the hub's log.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::{bearer, env_hub, issuers_hub, publish_fresh, ri_token, Issuers, ISS_A, ISS_B, RI};
use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, send_sub, Resp};
use crate::sse::SseStream;
use crate::tokens::{
    matcher, mercure_detail, now, openssl_keypair, raw_jwt, sign_at_jwt, sign_hs, sign_hs_typ,
    v1_claims, DEFAULT_ISSUER,
};

/// `publish` on `*`.
fn all() -> Value {
    json!([mercure_detail(&["publish"], vec![matcher("*", None)])])
}

/// 1.0 claims for `hub` granting `publish` on `*`, with `extra` members set (a `null` value
/// removes the member).
fn claims_with(hub: &Hub, extra: Value) -> Value {
    let mut c = v1_claims(DEFAULT_ISSUER, &hub.resource_identifier(), all());
    let obj = c.as_object_mut().expect("object");
    for (k, v) in extra.as_object().expect("object") {
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
    c
}

/// B-ERR-3: 401 with `error="invalid_token"`.
#[track_caller]
fn invalid_token(r: &Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    bearer(r, Some("invalid_token"), None);
}

/// B-TOK-2, B-TOK-1, B-ERR-3: header `typ` must be `at+jwt` or `application/at+jwt`, compared
/// case-insensitively; anything else, absence included, → 401 `invalid_token`.
#[tokio::test]
async fn b_tok_2_typ_header() {
    let hub = Hub::start_default().await;
    let claims = claims_with(&hub, json!({}));
    let key = hub.publisher_key.clone();
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/At+Jwt",
    ] {
        let r = publish_fresh(&hub, &sign_hs_typ("HS256", &key, Some(typ), &claims)).await;
        assert_eq!(r.status, 200, "typ {typ}: {r:?}");
    }
    for typ in [
        None,
        Some("JWT"),
        Some("at+jwt2"),
        Some("application/jwt"),
        Some("text/at+jwt"),
        Some(""),
    ] {
        let r = publish_fresh(&hub, &sign_hs_typ("HS256", &key, typ, &claims)).await;
        invalid_token(&r, &format!("typ {typ:?}"));
    }
}

/// B-TOK-4, B-ERR-3: `iss` is required and must equal a configured issuer id exactly (here the
/// default trusted issuer `https://localhost`, bound to the top-level keys).
#[tokio::test]
async fn b_tok_4_iss_required_and_exact() {
    let hub = Hub::start_default().await;
    let ok = hub.v1_publisher_raw(&claims_with(&hub, json!({})));
    assert_eq!(publish_fresh(&hub, &ok).await.status, 200);
    for iss in [
        Value::Null,
        json!("https://localhost/"),
        json!("HTTPS://localhost"),
        json!("https://evil.example"),
        json!(""),
        json!(["https://localhost"]),
    ] {
        let t = hub.v1_publisher_raw(&claims_with(&hub, json!({ "iss": iss })));
        invalid_token(&publish_fresh(&hub, &t).await, &format!("iss {iss}"));
    }
}

/// B-TOK-4, B-AUTH-8, X-3: the unverified `iss` selects one issuer and only that issuer's key for
/// the request's role is tried (no pooled keys); an issuer without a key for the role cannot
/// authenticate that role; issuers come from `QUICKSILVER_ISSUERS`.
#[tokio::test]
async fn b_tok_4_issuer_selects_its_own_keys() {
    let Some((
        hub,
        Issuers {
            a_pub,
            a_sub,
            b_pub,
        },
    )) = issuers_hub(false, &[]).await
    else {
        return;
    };
    let top = hub.publisher_key.clone();
    let b512 = |iss: &str, key: &str| sign_at_jwt("HS512", key, &v1_claims(iss, RI, all()));
    assert_eq!(
        publish_fresh(&hub, &ri_token(&a_pub, Some(ISS_A), all()))
            .await
            .status,
        200
    );
    assert_eq!(publish_fresh(&hub, &b512(ISS_B, &b_pub)).await.status, 200);
    assert_eq!(
        publish_fresh(&hub, &ri_token(&top, None, all()))
            .await
            .status,
        200
    );
    for (what, t) in [
        (
            "A signed with B's key",
            ri_token(&b_pub, Some(ISS_A), all()),
        ),
        (
            "A signed with the top-level key",
            ri_token(&top, Some(ISS_A), all()),
        ),
        (
            "A signed with A's subscriber key",
            ri_token(&a_sub, Some(ISS_A), all()),
        ),
        ("B signed with A's key", b512(ISS_B, &a_pub)),
        (
            "localhost signed with A's key",
            ri_token(&a_pub, None, all()),
        ),
    ] {
        invalid_token(&publish_fresh(&hub, &t).await, what);
    }
    let sub = |t: String| {
        send_sub(
            hub.hub_req(
                reqwest::Method::GET,
                &format!("match={}", crate::http::pct(&uniq("b-tok-4"))),
            )
            .bearer_auth(t),
        )
    };
    assert_eq!(
        sub(ri_token(&a_sub, Some(ISS_A), json!([]))).await.status,
        200
    );
    invalid_token(
        &sub(ri_token(&a_pub, Some(ISS_A), json!([]))).await,
        "A's publisher key on subscribe",
    );
    invalid_token(&sub(b512(ISS_B, &b_pub)).await, "B has no subscriber key");
}

/// B-TOK-3, C-HARD-6: the algorithm is bound to the key by configuration, never taken from the
/// token — another HMAC size, `none`, or an HMAC made with a public key → 401; a PEM key with
/// its algorithm works.
#[tokio::test]
async fn b_tok_3_algorithm_pinned_to_the_key() {
    let hub = Hub::start_default().await;
    let claims = claims_with(&hub, json!({}));
    for alg in ["HS384", "HS512"] {
        let t = sign_hs_typ(alg, &hub.publisher_key, Some("at+jwt"), &claims);
        invalid_token(&publish_fresh(&hub, &t).await, alg);
    }
    let payload = claims.to_string();
    for header in [
        r#"{"alg":"none","typ":"at+jwt"}"#,
        r#"{"alg":"None","typ":"at+jwt"}"#,
    ] {
        let t = raw_jwt(header, &payload, "");
        invalid_token(&publish_fresh(&hub, &t).await, header);
    }
    let (private, public) =
        openssl_keypair(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let issuers =
        json!([{ "id": ISS_A, "publisher_jwt_key": public, "publisher_jwt_alg": "ES256" }]);
    let Some(hub) = env_hub(&[
        ("QUICKSILVER_RESOURCE_IDENTIFIER", RI),
        ("QUICKSILVER_ISSUERS", &issuers.to_string()),
    ])
    .await
    else {
        return;
    };
    let claims = v1_claims(ISS_A, RI, all());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some("at+jwt".into());
    let key = jsonwebtoken::EncodingKey::from_ec_pem(private.as_bytes()).expect("pem");
    let t = jsonwebtoken::encode(&header, &claims, &key).expect("sign");
    assert_eq!(
        publish_fresh(&hub, &t).await.status,
        200,
        "ES256 with the issuer's PEM key"
    );
    let confused = sign_hs_typ("HS256", &public, Some("at+jwt"), &claims);
    invalid_token(
        &publish_fresh(&hub, &confused).await,
        "HS256 keyed with the public PEM",
    );
}

/// B-TOK-5, B-ERR-3: `exp` is required and enforced, `nbf` enforced when present (a classic
/// token without `exp` is still accepted, A-AUTH-8).
#[tokio::test]
async fn b_tok_5_exp_required_nbf_enforced() {
    let hub = Hub::start_default().await;
    let n = now();
    for extra in [
        json!({}),
        json!({ "nbf": n - 10 }),
        json!({ "exp": n + 60, "nbf": n }),
    ] {
        let r = publish_fresh(
            &hub,
            &hub.v1_publisher_raw(&claims_with(&hub, extra.clone())),
        )
        .await;
        assert_eq!(r.status, 200, "{extra}: {r:?}");
    }
    for extra in [
        json!({ "exp": null }),
        json!({ "exp": n - 5 }),
        json!({ "exp": "tomorrow" }),
        json!({ "nbf": n + 60 }),
    ] {
        let r = publish_fresh(
            &hub,
            &hub.v1_publisher_raw(&claims_with(&hub, extra.clone())),
        )
        .await;
        invalid_token(&r, &extra.to_string());
    }
    let classic = sign_hs(
        "HS256",
        &hub.publisher_key,
        &json!({ "mercure": { "publish": ["*"] } }),
    );
    assert_eq!(publish_fresh(&hub, &classic).await.status, 200);
}

/// B-TOK-6, B-ERR-3: `aud` (string or array) must contain the hub's resource identifier —
/// derived from the request when none is configured, else exactly the configured one.
#[tokio::test]
async fn b_tok_6_audience() {
    let hub = Hub::start_default().await;
    let ri = hub.resource_identifier();
    for aud in [json!(ri), json!(["https://other.example", ri])] {
        let r = publish_fresh(
            &hub,
            &hub.v1_publisher_raw(&claims_with(&hub, json!({ "aud": aud }))),
        )
        .await;
        assert_eq!(r.status, 200, "aud {aud}: {r:?}");
    }
    for aud in [
        Value::Null,
        json!("https://other.example/.well-known/mercure"),
        json!(format!("{ri}/")),
        json!(ri.replace("127.0.0.1", "localhost")),
        json!([]),
        json!(hub.base),
    ] {
        let r = publish_fresh(
            &hub,
            &hub.v1_publisher_raw(&claims_with(&hub, json!({ "aud": aud }))),
        )
        .await;
        invalid_token(&r, &format!("aud {aud}"));
    }
    let Some(hub) = env_hub(&[("QUICKSILVER_RESOURCE_IDENTIFIER", RI)]).await else {
        return;
    };
    let key = hub.publisher_key.clone();
    assert_eq!(
        publish_fresh(&hub, &ri_token(&key, None, all()))
            .await
            .status,
        200
    );
    let derived = sign_at_jwt(
        "HS256",
        &key,
        &v1_claims(DEFAULT_ISSUER, &hub.resource_identifier(), all()),
    );
    invalid_token(
        &publish_fresh(&hub, &derived).await,
        "derived audience beside a configured one",
    );
}

/// B-TOK-7: `sub`, `client_id`, `iat` and `jti` are not required (the helpers never set them).
#[tokio::test]
async fn b_tok_7_optional_claims_not_required() {
    let hub = Hub::start_default().await;
    let bare = claims_with(&hub, json!({}));
    for k in ["sub", "client_id", "iat", "jti"] {
        assert!(bare.get(k).is_none());
    }
    assert_eq!(
        publish_fresh(&hub, &hub.v1_publisher_raw(&bare))
            .await
            .status,
        200
    );
    let full = claims_with(
        &hub,
        json!({ "sub": "s", "client_id": "c", "iat": now(), "jti": "j" }),
    );
    assert_eq!(
        publish_fresh(&hub, &hub.v1_publisher_raw(&full))
            .await
            .status,
        200
    );
}

/// X-3, X-5, B-ERR-3, B-ERR-4: a payload with a top-level `authorization_details` member is a
/// 1.0 token (its `mercure` claim is ignored; `null` details are invalid; a missing `typ` fails);
/// any other payload is a classic token (`typ`, `iss`, `aud` ignored, no `exp` needed).
#[tokio::test]
async fn x_3_token_dialect_from_payload() {
    let hub = Hub::start_default().await;
    let key = hub.publisher_key.clone();
    let mercure = json!({ "publish": ["*"] });
    // 1.0, no Mercure entry: a valid token that grants nothing, whatever `mercure` says.
    let t = hub.v1_publisher_raw(&claims_with(
        &hub,
        json!({ "authorization_details": [], "mercure": mercure }),
    ));
    let r = publish_fresh(&hub, &t).await;
    assert_eq!(r.status, 403, "{r:?}");
    bearer(&r, Some("insufficient_scope"), None);
    let t = sign_hs(
        "HS256",
        &key,
        &claims_with(&hub, json!({ "mercure": mercure })),
    );
    invalid_token(&publish_fresh(&hub, &t).await, "1.0 payload with typ JWT");
    let t = sign_hs(
        "HS256",
        &key,
        &json!({ "authorization_details": null, "mercure": mercure }),
    );
    invalid_token(
        &publish_fresh(&hub, &t).await,
        "authorization_details: null",
    );
    // Classic: typ at+jwt and foreign iss/aud do not make a 1.0 token.
    let t = sign_at_jwt(
        "HS256",
        &key,
        &json!({ "iss": "https://evil.example", "aud": "x", "mercure": mercure }),
    );
    assert_eq!(publish_fresh(&hub, &t).await.status, 200);
    // A 1.0 token signed with the subscriber key is no publisher token.
    let t = hub.v1_subscriber_raw(&claims_with(&hub, json!({})));
    invalid_token(&publish_fresh(&hub, &t).await, "subscriber key on publish");
    asserts::unauthorized(
        &publish_fresh(
            &hub,
            &raw_jwt(r#"{"alg":"HS256","typ":"at+jwt"}"#, "[1]", "c2ln"),
        )
        .await,
    );
}

/// B-SEC-2, C-HARD-9: keys and tokens stay confidential on the hub's side — with debug logging,
/// 1.0 issuer keys and 1.0 tokens (accepted, refused, expired, presented in the header, in the
/// cookie or in the refused `authorization` query parameter) never appear in the hub's log.
#[tokio::test]
async fn b_sec_2_issuer_keys_and_tokens_stay_out_of_logs() {
    let Some((
        hub,
        Issuers {
            a_pub,
            a_sub,
            b_pub,
        },
    )) = issuers_hub(false, &[("QUICKSILVER_LOG", "debug")]).await
    else {
        return;
    };
    let topic = uniq("b-sec-2");
    let subscribe = json!([mercure_detail(&["subscribe"], vec![matcher("*", None)])]);
    let good_pub = ri_token(&a_pub, Some(ISS_A), all());
    let good_b = sign_at_jwt("HS512", &b_pub, &v1_claims(ISS_B, RI, all()));
    let good_sub = ri_token(&a_sub, Some(ISS_A), subscribe);
    let bad = ri_token(&super::secret(), Some(ISS_A), all());
    let mut expired_claims = v1_claims(ISS_A, RI, all());
    expired_claims["exp"] = json!(now() - 5);
    let expired = sign_at_jwt("HS256", &a_pub, &expired_claims);
    let sub_req = || super::get(&hub, &[("match", &topic)]);

    let mut by_header = SseStream::open(sub_req().bearer_auth(&good_sub)).await;
    let mut by_cookie = SseStream::open(sub_req().header(
        "Cookie",
        format!("__Secure-mercure_access_token={good_sub}"),
    ))
    .await;
    let r = super::publish_as(&hub, &good_pub, &[("topic", &topic), ("private", "on")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    by_header.expect_event(&r.body).await;
    by_cookie.expect_event(&r.body).await;
    assert_eq!(publish_fresh(&hub, &good_b).await.status, 200);
    for t in [&bad, &expired] {
        invalid_token(&publish_fresh(&hub, t).await, "publish");
        invalid_token(&send_sub(sub_req().bearer_auth(t)).await, "subscribe");
        let cookie = format!("__Secure-mercure_access_token={t}");
        assert_eq!(
            send_sub(sub_req().header("Cookie", cookie)).await.status,
            401
        );
    }
    // B-AUTH-9: a 1.0 token in the `authorization` query parameter is refused, and not logged.
    let q = form_encode(&[("topic", &topic), ("authorization", &good_sub)]);
    assert_eq!(send_sub(hub.hub_req(Method::GET, &q)).await.status, 401);
    drop(by_header);
    drop(by_cookie);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Some(log) = hub.log() else { return };
    let sig = |t: &str| t.rsplit('.').next().expect("signature").to_string();
    for (what, s) in [
        ("issuer A's publisher key", a_pub.clone()),
        ("issuer A's subscriber key", a_sub.clone()),
        ("issuer B's publisher key", b_pub.clone()),
        ("the top-level publisher key", hub.publisher_key.clone()),
        ("a publisher token", sig(&good_pub)),
        ("issuer B's token", sig(&good_b)),
        ("a subscriber token", sig(&good_sub)),
        ("a refused token", sig(&bad)),
        ("an expired token", sig(&expired)),
    ] {
        assert!(
            !log.contains(&s),
            "B-SEC-2: the log contains {what}:\n{log}"
        );
    }
}
