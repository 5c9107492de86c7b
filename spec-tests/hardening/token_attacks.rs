//! C-HARD-6, A-AUTH-1, A-AUTH-7, A-AUTH-8: JWT attacks (`jwk`/`jku`/`x5u`/`x5c`/`kid` headers,
//! `none`, exact `alg`, HS/RS key confusion, relabelled signatures, expiry and `nbf`); A-AUTH-2,
//! A-AUTH-6, X-6: tokens in several places at once and cookie CSRF.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, send, send_sub, Resp};
use crate::tokens::{
    b64, now, openssl_keypair, pem_der, publish_claims, raw_jwt, sign_hs, sign_pem, sign_raw_hs,
};

// ---------------------------------------------------------------------------------------
// JWT hardening (C-HARD-6, A-AUTH-1, A-AUTH-7, A-AUTH-8)
// ---------------------------------------------------------------------------------------

const ALL_RIGHTS: &str = r#"{"mercure":{"publish":["*"],"subscribe":["*"]}}"#;

/// Publishes on a fresh topic with `token` in the Authorization header.
async fn publish_with(hub: &Hub, token: &str) -> Resp {
    send(hub.pub_req(Some(token), &[("topic", &uniq("c-hard-6"))])).await
}

/// Subscribes on a fresh topic with `token` in the Authorization header (status only).
async fn subscribe_with(hub: &Hub, token: &str) -> Resp {
    send_sub(hub.sub_req(&[&uniq("c-hard-6")]).bearer_auth(token)).await
}

/// C-HARD-6, A-AUTH-1, A-AUTH-7, A-AUTH-17: on an HS256 hub, keys are never taken from token
/// headers (`jwk`, `jku`, `x5u`, `x5c`), `kid` is not a file name, `alg: none` is refused in
/// any spelling, the algorithm is matched exactly (`hs256` is not `HS256`), and a JWK Set URL
/// named by a token is never fetched (no SSRF). Publish and subscribe alike.
#[tokio::test]
async fn c_hard_6_no_keys_from_token_headers() {
    let hub = Hub::start_default().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap = format!("http://{}", listener.local_addr().unwrap());
    let attacker = format!("attacker-secret-{}", uuid::Uuid::new_v4());
    let a = attacker.as_bytes();
    let jwk = json!({ "kty": "oct", "k": b64(&attacker), "alg": "HS256" });
    let headers_signed_by_attacker = [
        json!({ "alg": "HS256", "typ": "JWT", "jwk": jwk }),
        json!({ "alg": "HS256", "jku": format!("{trap}/jwks.json"), "kid": "k" }),
        json!({ "alg": "HS256", "x5u": format!("{trap}/cert.pem") }),
        json!({ "alg": "HS256", "x5c": [b64(&attacker)] }),
        json!({ "alg": "HS256", "kid": "' OR 1=1 --" }),
    ];
    let mut bad: Vec<String> = headers_signed_by_attacker
        .iter()
        .map(|h| sign_raw_hs("HS256", a, &h.to_string(), ALL_RIGHTS))
        .collect();
    // `kid` naming files whose content (empty) would be the key. HMAC-SHA256 pads keys
    // with zeros to 64 bytes, so 64 zero bytes sign exactly as the empty key does.
    for kid in [
        "../../../../../../../../dev/null",
        "/dev/null",
        "file:///dev/null",
    ] {
        let h = json!({ "alg": "HS256", "kid": kid }).to_string();
        bad.push(sign_raw_hs("HS256", &[0u8; 64], &h, ALL_RIGHTS));
    }
    // `none` in any spelling, with and without a signature segment.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({ "alg": alg, "typ": "JWT" }).to_string();
        bad.push(raw_jwt(&h, ALL_RIGHTS, ""));
        bad.push(raw_jwt(&h, ALL_RIGHTS, "c2lnbmF0dXJl"));
    }
    // The algorithm name must match exactly, even with the right key.
    for (role_key, alg) in [
        (hub.publisher_key.clone(), "hs256"),
        (hub.publisher_key.clone(), "HS256 "),
        (hub.subscriber_key.clone().unwrap(), "hs256"),
    ] {
        let h = json!({ "alg": alg, "typ": "JWT" }).to_string();
        let real = sign_raw_hs("HS256", role_key.as_bytes(), &h, ALL_RIGHTS);
        bad.push(real);
    }
    for t in &bad {
        let r = publish_with(&hub, t).await;
        asserts::unauthorized(&r);
        asserts::challenge(&r, Some("invalid_token"));
        asserts::unauthorized(&subscribe_with(&hub, t).await);
    }
    // Nothing ever connected to the URLs named in `jku` / `x5u`.
    let accepted = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
    assert!(
        accepted.is_err(),
        "C-HARD-6: the hub fetched a URL taken from a token header"
    );
    // Control: the same header shapes signed with the real key are fine (extra header
    // members are ignored, not refused).
    let h = json!({ "alg": "HS256", "typ": "JWT", "kid": "whatever" }).to_string();
    let ok = sign_raw_hs("HS256", hub.publisher_key.as_bytes(), &h, ALL_RIGHTS);
    assert_eq!(publish_with(&hub, &ok).await.status, 200);
}

/// Publishes (`role` = "publish") or subscribes with `token`.
async fn call_as(hub: &Hub, role: &str, token: &str) -> Resp {
    if role == "publish" {
        publish_with(hub, token).await
    } else {
        subscribe_with(hub, token).await
    }
}

/// Replaces the header segment of `token`, keeping payload and signature.
fn relabel(token: &str, header: &Value) -> String {
    let mut parts = token.splitn(3, '.');
    let (_, p, s) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    format!("{}.{p}.{s}", b64(&header.to_string()))
}

/// C-HARD-6, A-AUTH-7, A-AUTH-8, A-AUTH-11, A-AUTH-17: an RS256 hub (both roles, anonymous
/// off), on publish and on subscribe: HS256 tokens "signed" with the public key (PEM text,
/// PEM without its final newline, DER bytes — the key-confusion attack), a token signed by
/// another RSA key, the genuine signature under another `alg` (RS384, PS256, HS256, none), a
/// stripped signature, the other role's key, an expired token and one whose `nbf` is in the
/// future → 401 `Unauthorized\n`; the genuine token → 200.
#[tokio::test]
async fn c_hard_6_rs256_key_confusion_and_time_claims() {
    let rsa: &[&str] = &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
    let (pub_priv, pub_pem) = openssl_keypair(rsa);
    let (sub_priv, sub_pem) = openssl_keypair(rsa);
    let (other_priv, _) = openssl_keypair(rsa);
    let Some(hub) = Hub::builder()
        .anonymous(false)
        .publisher_key(Some(&pub_pem), Some("RS256"))
        .subscriber_key(Some(&sub_pem), Some("RS256"))
        .start()
        .await
    else {
        return;
    };
    let claims: Value = serde_json::from_str(ALL_RIGHTS).unwrap();
    let n = now();
    let with = |extra: Value| {
        let mut c = claims.clone();
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    for (role, private, public, other_role_private) in [
        ("publish", &pub_priv, &pub_pem, &sub_priv),
        ("subscribe", &sub_priv, &sub_pem, &pub_priv),
    ] {
        let genuine = sign_pem("RS256", private, &claims);
        let r = call_as(&hub, role, &genuine).await;
        assert_eq!(r.status, 200, "{role}: genuine token refused: {r:?}");
        let hs_header = r#"{"alg":"HS256","typ":"JWT"}"#;
        let attacks = [
            (
                "HS256 with the PEM text",
                sign_raw_hs("HS256", public.as_bytes(), hs_header, ALL_RIGHTS),
            ),
            (
                "HS256 with the trimmed PEM",
                sign_raw_hs("HS256", public.trim_end().as_bytes(), hs_header, ALL_RIGHTS),
            ),
            (
                "HS256 with the DER bytes",
                sign_raw_hs("HS256", &pem_der(public), hs_header, ALL_RIGHTS),
            ),
            (
                "HS512 with the PEM text",
                sign_raw_hs("HS512", public.as_bytes(), r#"{"alg":"HS512"}"#, ALL_RIGHTS),
            ),
            ("another RSA key", sign_pem("RS256", &other_priv, &claims)),
            (
                "the other role's key",
                sign_pem("RS256", other_role_private, &claims),
            ),
            (
                "relabelled RS384",
                relabel(&genuine, &json!({ "alg": "RS384", "typ": "JWT" })),
            ),
            (
                "relabelled PS256",
                relabel(&genuine, &json!({ "alg": "PS256", "typ": "JWT" })),
            ),
            (
                "relabelled HS256",
                relabel(&genuine, &json!({ "alg": "HS256", "typ": "JWT" })),
            ),
            (
                "relabelled none",
                relabel(&genuine, &json!({ "alg": "none" })),
            ),
            (
                "stripped signature",
                format!("{}.", genuine.rsplit_once('.').unwrap().0),
            ),
            (
                "expired",
                sign_pem("RS256", private, &with(json!({ "exp": n - 1 }))),
            ),
            (
                "nbf in the future",
                sign_pem("RS256", private, &with(json!({ "nbf": n + 60 }))),
            ),
            (
                "exp as a string",
                sign_pem("RS256", private, &with(json!({ "exp": "never" }))),
            ),
        ];
        for (what, t) in attacks {
            let r = call_as(&hub, role, &t).await;
            assert_eq!(
                (r.status, r.body.as_str()),
                (401, "Unauthorized\n"),
                "{role}: {what}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Token sources under attack (A-AUTH-2, A-AUTH-5, A-AUTH-6, X-6)
// ---------------------------------------------------------------------------------------

/// A-AUTH-2, A-AUTH-6, X-6: publishing with tokens in several places at once, on a hub with
/// `publish_origins` set. The first source present is the only one used: a bad or malformed
/// header with a good cookie (and an allowed origin) → 401, a bad query token with a good
/// cookie → 401, a good header or query token with a bad cookie and no origin → 200. CSRF: a
/// good cookie alone needs an allowed `Origin`/`Referer` (none, `null`, another origin → 401);
/// an invalid cookie token with an allowed origin → 401. Subscriptions (GET) need no origin.
#[tokio::test]
async fn a_auth_2_publish_token_sources_and_csrf() {
    let allowed = "https://app.example.com";
    let Some(hub) = Hub::builder()
        .anonymous(false)
        .env("QUICKSILVER_PUBLISH_ORIGINS", allowed)
        .start()
        .await
    else {
        return;
    };
    let good = hub.publisher_token_all();
    let bad = sign_hs("HS256", "not-the-key", &publish_claims(json!(["*"])));
    let expired =
        hub.publisher_token(&json!({ "mercure": { "publish": ["*"] }, "exp": now() - 5 }));
    let post = |header: Option<String>,
                query: Option<&str>,
                cookie: Option<&str>,
                origin: Option<&str>| {
        let q = query
            .map(|t| form_encode(&[("authorization", t)]))
            .unwrap_or_default();
        let mut rb = hub
            .hub_req(Method::POST, &q)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_encode(&[("topic", &uniq("a-auth-2-csrf"))]));
        if let Some(h) = header {
            rb = rb.header("Authorization", h);
        }
        if let Some(c) = cookie {
            rb = rb.header("Cookie", format!("mercureAuthorization={c}"));
        }
        if let Some(o) = origin {
            rb = rb.header("Origin", o);
        }
        send(rb)
    };
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let cases: Vec<(&str, _, u16)> = vec![
        (
            "good cookie, allowed origin",
            post(None, None, Some(&good), Some(allowed)),
            200,
        ),
        (
            "good cookie, no origin (CSRF)",
            post(None, None, Some(&good), None),
            401,
        ),
        (
            "good cookie, Origin null",
            post(None, None, Some(&good), Some("null")),
            401,
        ),
        (
            "good cookie, other origin",
            post(None, None, Some(&good), Some("https://evil.example")),
            401,
        ),
        (
            "expired cookie, allowed origin",
            post(None, None, Some(&expired), Some(allowed)),
            401,
        ),
        (
            "bad cookie, allowed origin",
            post(None, None, Some(&bad), Some(allowed)),
            401,
        ),
        (
            "bad header + good cookie",
            post(bearer(&bad), None, Some(&good), Some(allowed)),
            401,
        ),
        (
            "malformed header + good cookie",
            post(
                Some("Bearer short".into()),
                None,
                Some(&good),
                Some(allowed),
            ),
            401,
        ),
        (
            "other scheme + good cookie",
            post(
                Some(format!("Basic {good}")),
                None,
                Some(&good),
                Some(allowed),
            ),
            401,
        ),
        (
            "bad query + good cookie",
            post(None, Some(&bad), Some(&good), Some(allowed)),
            401,
        ),
        (
            "bad header + good query",
            post(bearer(&bad), Some(&good), None, None),
            401,
        ),
        (
            "good header + bad cookie, no origin",
            post(bearer(&good), None, Some(&bad), None),
            200,
        ),
        (
            "good query + bad cookie, no origin",
            post(None, Some(&good), Some(&bad), None),
            200,
        ),
        (
            "good header + bad query",
            post(bearer(&good), Some(&bad), None, None),
            200,
        ),
    ];
    for (what, fut, status) in cases {
        let r = fut.await;
        assert_eq!(r.status, status, "{what}: {r:?}");
        if status == 401 {
            asserts::unauthorized(&r);
        }
    }
    // A cookie-authenticated subscription (GET) needs no Origin (A-AUTH-6 is POST-only).
    let st = hub.subscriber_token_for(&["*"]);
    let rb = hub
        .sub_req(&[&uniq("a-auth-2-csrf")])
        .header("Cookie", format!("mercureAuthorization={st}"));
    assert_eq!(send_sub(rb).await.status, 200);
}
