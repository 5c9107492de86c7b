//! C-HDR-1 security headers, C-HARD-1…9 hardening, X-13 form decoding; JWT attacks
//! (C-HARD-6), token sources under attack (A-AUTH-2, A-AUTH-6), oversized bodies however they
//! are framed (C-LIM-1), error bodies and logs that leak nothing (C-HARD-4, C-HARD-9).

use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Value};

use crate::asserts;
use crate::harness::{uniq, Hub, HUB_PATH, WAIT};
use crate::http::{form_encode, send, send_sub, Resp};
use crate::sse::{Probe, RawSse, SseStream};
use crate::tokens::{
    b64, now, openssl_keypair, pem_der, publish_claims, raw_jwt, sign_hs, sign_pem, sign_raw_hs,
};

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

/// C-HARD-2: C0 and DEL in published topics → 400, before the grant check.
#[tokio::test]
async fn c_hard_2_control_characters_in_published_topics() {
    let hub = Hub::start_default().await;
    let narrow = hub.publisher_token(&publish_claims(json!(["urn:only"])));
    for c in ["\0", "\x01", "\t", "\n", "\r", "\x1f", "\x7f"] {
        let topic = format!("https://example.com/a{c}b");
        hub.publish(&[("topic", &topic)])
            .await
            .expect(400, "Invalid \"topic\" parameter\n");
        let alt = [("topic", "urn:only"), ("topic", topic.as_str())];
        send(hub.pub_req(Some(&narrow), &alt))
            .await
            .expect(400, "Invalid \"topic\" parameter\n");
    }
}

/// C-HARD-2: C0 and DEL in subscription selectors → 400 (with a period).
#[tokio::test]
async fn c_hard_2_control_characters_in_selectors() {
    let hub = Hub::start_default().await;
    for c in ["\0", "\x01", "\t", "\n", "\x7f"] {
        let sel = format!("https://example.com/{{id}}{c}");
        send(hub.sub_req(&["https://example.com/ok", &sel]))
            .await
            .expect(400, "Invalid \"topic\" parameter.\n");
    }
}

/// C-HARD-3, X-13: invalid UTF-8 after decoding → 400 `Bad Request\n`.
#[tokio::test]
async fn c_hard_3_invalid_utf8() {
    let hub = Hub::start_default().await;
    for q in ["topic=%FF", "topic=ok&x%C3=1", "topic=%C3%28"] {
        send(hub.hub_req(Method::GET, q))
            .await
            .expect(400, "Bad Request\n");
    }
    let token = hub.publisher_token_all();
    for body in ["topic=%FF", "topic=ok&data=%E2%82", "topic=ok&%FF=1"] {
        let rb = hub
            .hub_req(Method::POST, "")
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        send(rb).await.expect(400, "Bad Request\n");
    }
    let rb = hub.sub_req(&["x"]).header(
        "Last-Event-ID",
        reqwest::header::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
    );
    send_sub(rb).await.expect(400, "Bad Request\n");
}

/// C-HARD-5: `type=mercure` and `id=earliest` are reserved.
#[tokio::test]
async fn c_hard_5_reserved_values() {
    let hub = Hub::start_default().await;
    let t = uniq("c-hard-5");
    hub.publish(&[("topic", &t), ("type", "mercure")])
        .await
        .expect(400, "\"type\" field uses the reserved value \"mercure\"\n");
    hub.publish(&[("topic", &t), ("id", "earliest")])
        .await
        .expect(400, "\"id\" field uses the reserved value \"earliest\"\n");
    let mut p = Probe::open(&hub, None, &[&t]).await;
    assert!(
        p.receives(&hub, &[("topic", &t), ("type", "Mercure")])
            .await
    );
    assert!(
        p.receives(
            &hub,
            &[
                ("topic", &t),
                ("id", &format!("earliest-{}", uuid::Uuid::new_v4()))
            ]
        )
        .await
    );
}

/// X-13: one WHATWG form decoder: `+` is a space, `;` is ordinary, a bad `%` is literal,
/// a name without `=` has an empty value — in query strings and in publish bodies.
#[tokio::test]
async fn x_13_form_decoding() {
    let hub = Hub::start_default().await;
    let token = hub.publisher_token_all();
    let base = uniq("x-13");
    // Each case: raw query/body text for the topic, and the decoded topic.
    let cases = [
        (format!("topic={base}/a+b"), format!("{base}/a b")),
        (format!("topic={base}/a;b"), format!("{base}/a;b")),
        (format!("topic={base}/100%"), format!("{base}/100%")),
        (format!("topic={base}/%zz%4"), format!("{base}/%zz%4")),
        (format!("topic={base}/%41%2B"), format!("{base}/A+")),
    ];
    for (raw, decoded) in &cases {
        let q = format!("{raw}&topic={}", crate::http::pct(&uniq("x-13-sentinel")));
        let mut sub = SseStream::open(hub.hub_req(Method::GET, &q)).await;
        let rb = hub
            .hub_req(Method::POST, "")
            .bearer_auth(&token)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(raw.clone());
        let r = send(rb).await;
        assert_eq!(r.status, 200, "publishing {raw:?}: {r:?}");
        let ev = sub.expect_event(&r.body).await;
        assert_eq!(ev.id.as_deref(), Some(r.body.as_str()), "{decoded}");
        // the decoded topic is also reachable with an encoded exact selector
        let mut p = Probe::open(&hub, None, &[decoded]).await;
        assert!(p.receives(&hub, &[("topic", decoded)]).await, "{decoded}");
    }
    // a bare name has an empty value: `topic` alone is the empty topic
    let mut p = Probe::open(&hub, None, &[""]).await;
    let rb = hub
        .hub_req(Method::POST, "")
        .bearer_auth(&token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("topic&data=x");
    let r = send(rb).await;
    assert_eq!(r.status, 200, "{r:?}");
    let evs = p.drain(&hub).await;
    assert!(
        evs.iter().any(|e| e.id.as_deref() == Some(r.body.as_str())),
        "{evs:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Characters that classic requests accept (C-HARD-1, C-HARD-2 refuse only C0 and DEL)
// ---------------------------------------------------------------------------------------

/// C1 controls, bidi controls, zero-width characters, the BOM and the Unicode line separator:
/// none of them is C0 or DEL, so classic requests accept them (1.0 would refuse C1 and `Cf`,
/// B-T-1).
const ODD_BUT_ALLOWED: [&str; 10] = [
    "\u{80}", "\u{85}", "\u{9b}", "\u{9f}", "\u{200b}", "\u{200d}", "\u{202e}", "\u{2066}",
    "\u{2028}", "\u{feff}",
];

/// C-HARD-1, C-HARD-2, A-PUB-7, A-PUB-8, A-PUB-5, A-SEL-1, A-HIST-8, C-HARD-8: C1, bidi,
/// zero-width, BOM and U+2028 characters are accepted in topics, exact selectors, ids, types
/// and data of classic requests and delivered byte for byte; such an id works as a cursor
/// (query parameter and `Last-Event-ID` header) and is echoed byte for byte.
#[tokio::test]
async fn c_hard_2_c1_bidi_zero_width_accepted_intact() {
    let hub = Hub::start_default().await;
    let common = uniq("c-hard-2-common");
    let mut all = SseStream::open(hub.sub_req(&[&common])).await;
    let mut ids = Vec::new();
    for c in ODD_BUT_ALLOWED {
        let topic = format!("{}/a{c}b", uniq("c-hard-2-odd"));
        let id = format!("id{c}{}", uuid::Uuid::new_v4());
        let ty = format!("t{c}y");
        let data = format!("d{c}x");
        let mut sub = SseStream::open(hub.sub_req(&[&topic])).await;
        let fields = [
            ("topic", topic.as_str()),
            ("topic", common.as_str()),
            ("id", id.as_str()),
            ("type", ty.as_str()),
            ("data", data.as_str()),
        ];
        let r = hub.publish(&fields).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, id.as_str()),
            "{c:?}: {r:?}"
        );
        let ev = sub.expect_event(&id).await;
        assert_eq!(ev.event.as_deref(), Some(ty.as_str()), "{c:?}");
        assert_eq!(ev.data(), data, "{c:?}");
        assert_eq!(ev.raw, format!("event: {ty}\nid: {id}\ndata: {data}\n\n"));
        ids.push(id);
    }
    let evs = all.events_until(ids.last().unwrap()).await;
    let got: Vec<_> = evs.iter().filter_map(|e| e.id.clone()).collect();
    assert_eq!(got, ids);

    // Resume from the first odd id, as a query cursor and as a header cursor.
    let q = form_encode(&[("topic", &common), ("lastEventID", &ids[0])]);
    let by_header = hub.sub_req(&[&common]).header(
        "Last-Event-ID",
        HeaderValue::from_bytes(ids[0].as_bytes()).unwrap(),
    );
    for rb in [hub.hub_req(Method::GET, &q), by_header] {
        let mut s = SseStream::open(rb).await;
        let echoed = s
            .headers
            .get("last-event-id")
            .map(|v| v.as_bytes().to_vec());
        assert_eq!(
            echoed.as_deref(),
            Some(ids[0].as_bytes()),
            "A-HIST-8: a found cursor is echoed as is"
        );
        let evs = s.events_until(ids.last().unwrap()).await;
        let got: Vec<_> = evs.iter().filter_map(|e| e.id.clone()).collect();
        assert_eq!(got, ids[1..]);
    }
}

/// C-HARD-8, A-HIST-5, A-HIST-8, X-7: a cursor that cannot be a stored id (NUL, DEL, CR/LF
/// header-injection attempts) in any query cursor parameter is answered `earliest`, never
/// echoed, and injects no header.
#[tokio::test]
async fn c_hard_8_control_characters_in_cursor_never_echoed() {
    let hub = Hub::start_default().await;
    let topic = uniq("c-hard-8");
    hub.publish_ok(&[("topic", &topic)]).await;
    for name in ["lastEventID", "last_event_id", "Last-Event-ID"] {
        for cursor in [
            "\r\nX-Injected: yes",
            "a\0b",
            "\u{7f}",
            "x\ny",
            "\rX-Injected: 1",
        ] {
            let q = form_encode(&[("topic", &topic), (name, cursor)]);
            let raw = RawSse::open(&hub, &format!("{HUB_PATH}?{q}"), &[]).await;
            let head = raw.head.to_lowercase();
            assert!(!head.contains("x-injected"), "{name}={cursor:?}: {head}");
            assert!(
                head.contains("\r\nlast-event-id: earliest\r\n")
                    || head.ends_with("\r\nlast-event-id: earliest"),
                "{name}={cursor:?}: {head}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invalid UTF-8 (C-HARD-3, X-13)
// ---------------------------------------------------------------------------------------

/// Escaped byte sequences that are not UTF-8: overlong forms, a surrogate, a code point above
/// U+10FFFF, a lone continuation byte, truncated sequences, bytes never used in UTF-8.
const NOT_UTF8: [&str; 9] = [
    "%C0%AF",
    "%E0%80%AF",
    "%ED%A0%80",
    "%F4%90%80%80",
    "%80",
    "%F0%9F%98",
    "%C3",
    "%FE",
    "%F8%88%80%80%80",
];

/// C-HARD-3, X-13, A-PUB-12: every kind of invalid UTF-8 (see `NOT_UTF8`) → 400
/// `Bad Request\n` in query names and values (selectors, cursors, the `authorization`
/// parameter, unknown parameters), in publish bodies, and raw in the `Last-Event-ID` header;
/// a publish without a token is refused with 401 first (step 1 before step 3).
#[tokio::test]
async fn c_hard_3_invalid_utf8_edge_cases() {
    let hub = Hub::start_default().await;
    let token = hub.publisher_token_all();
    let topic = crate::http::pct(&uniq("c-hard-3"));
    for bad in NOT_UTF8 {
        for q in [
            format!("topic={topic}{bad}"),
            format!("topic={topic}&lastEventID={bad}"),
            format!("topic={topic}&last_event_id=x{bad}"),
            format!("topic={topic}&authorization={bad}"),
            format!("topic={topic}&unknown{bad}=1"),
        ] {
            let r = send_sub(hub.hub_req(Method::GET, &q)).await;
            assert_eq!((r.status, r.body.as_str()), (400, "Bad Request\n"), "{q}");
        }
        for body in [
            format!("topic={topic}{bad}"),
            format!("topic={topic}&data={bad}"),
            format!("topic={topic}&id={bad}"),
            format!("topic={topic}&{bad}=x"),
        ] {
            let post = |auth: bool| {
                let mut rb = hub
                    .hub_req(Method::POST, "")
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(body.clone());
                if auth {
                    rb = rb.bearer_auth(&token);
                }
                send(rb)
            };
            let r = post(true).await;
            assert_eq!(
                (r.status, r.body.as_str()),
                (400, "Bad Request\n"),
                "{body}"
            );
            asserts::unauthorized(&post(false).await);
        }
    }
    for raw in [
        &b"\xc0\xaf"[..],
        b"\xed\xa0\x80",
        b"caf\xe9",
        b"\xf4\x90\x80\x80",
        b"ok\x80",
    ] {
        let rb = hub
            .sub_req(&[&uniq("c-hard-3")])
            .header("Last-Event-ID", HeaderValue::from_bytes(raw).unwrap());
        let r = send_sub(rb).await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (400, "Bad Request\n"),
            "{raw:?}"
        );
    }
}

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

// ---------------------------------------------------------------------------------------
// Oversized bodies (C-LIM-1, A-LIM-4)
// ---------------------------------------------------------------------------------------

/// Writes `head` (and `body`) on a raw connection and reads one response (head plus its
/// Content-Length body, or until EOF), without closing the write side. `None` if nothing
/// complete arrives within `WAIT`.
async fn raw_exchange(hub: &Hub, head: &str, body: &[u8]) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(hub.authority()).await.ok()?;
    s.write_all(head.as_bytes()).await.ok()?;
    // The hub may answer (and close) before taking the body: ignore write errors.
    let _ = s.write_all(body).await;
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return;
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(WAIT, read).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    Some((status, text))
}

/// C-LIM-1, A-LIM-4, A-PUB-12: with a 1 KiB limit, an oversized publish body is refused with
/// 413 `Request Entity Too Large\n` however it is framed, without reading further: a declared
/// Content-Length of 100 MiB is answered before the body is sent; a chunked body without a
/// length is answered once the limit is passed, even if it never ends. The hub keeps serving.
#[tokio::test]
async fn c_lim_1_oversized_bodies_any_framing() {
    let Some(hub) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_MAX_REQUEST_BODY_SIZE", "1KiB")
        .start()
        .await
    else {
        return;
    };
    let token = hub.publisher_token_all();
    let head = |framing: &str| {
        format!(
            "POST {HUB_PATH} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n{framing}\r\n",
            hub.authority()
        )
    };
    let topic = crate::http::pct(&uniq("c-lim-1"));
    let start = format!("topic={topic}&data=");

    // Declared 100 MiB, only the first bytes sent.
    let r = raw_exchange(
        &hub,
        &head("Content-Length: 104857600\r\n"),
        start.as_bytes(),
    )
    .await;
    let (status, text) =
        r.expect("C-LIM-1: no answer to a 100 MiB Content-Length (the hub waited for the body)");
    assert_eq!(status, 413, "{text}");
    assert!(
        text.ends_with("\r\n\r\nRequest Entity Too Large\n"),
        "{text}"
    );

    // Chunked, complete, 4 KiB.
    let data = "x".repeat(4096);
    let chunk = format!("{start}{data}");
    let body = format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
    let r = raw_exchange(
        &hub,
        &head("Transfer-Encoding: chunked\r\n"),
        body.as_bytes(),
    )
    .await;
    let (status, text) = r.expect("no answer to a chunked 4 KiB body");
    assert_eq!(status, 413, "{text}");
    assert!(
        text.ends_with("\r\n\r\nRequest Entity Too Large\n"),
        "{text}"
    );

    // Chunked, 2 KiB sent, never terminated.
    let chunk = format!("{start}{}", "y".repeat(2048));
    let body = format!("{:x}\r\n{chunk}\r\n", chunk.len());
    let r = raw_exchange(
        &hub,
        &head("Transfer-Encoding: chunked\r\n"),
        body.as_bytes(),
    )
    .await;
    let (status, text) =
        r.expect("C-LIM-1: no answer to an unterminated chunked body past the limit");
    assert_eq!(status, 413, "{text}");

    // A small chunked body is fine.
    let chunk = format!("topic={topic}&data=small");
    let body = format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
    let r = raw_exchange(
        &hub,
        &head("Transfer-Encoding: chunked\r\n"),
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.map(|(s, _)| s), Some(200));
    let r = send(hub.client.get(hub.url("/healthz"))).await;
    assert_eq!(r.status, 200);
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
