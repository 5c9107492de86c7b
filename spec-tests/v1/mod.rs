//! Part B, the 1.0 dialect (draft-08), and §0, the cross-dialect rules X-1…X-13, of
//! `../shared/protocol.md`. One file per family; the helpers they share (1.0 subscription
//! requests, `QUERY`, challenges, hubs with configured issuers, 1.0 subscription events) are
//! here. 1.0 tokens are minted by `tests/support/tokens.rs` (`sign_at_jwt`, `v1_claims`,
//! `Hub::v1_publisher_token`…).

mod access;
mod api;
mod challenges;
mod configuration;
mod cursors;
mod details;
mod events;
mod metadata;
mod publish;
mod query;
mod rights;
mod subscribe;
mod tokens;

use std::fmt;

use reqwest::{Method, RequestBuilder};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::harness::{uniq, Hub, WAIT};
use crate::http::{form_encode, pct, send, Resp};
use crate::sse::{Event, Probe, SseStream};
use crate::tokens::{sign_at_jwt, v1_claims, DEFAULT_ISSUER};

/// A configured resource identifier (B-TOK-6, B-MT-5) used by the hubs that set one.
const RI: &str = "https://hub.example.com/.well-known/mercure";
/// Where protected resource metadata is served (B-PRM-1).
const META_PATH: &str = "/.well-known/oauth-protected-resource/.well-known/mercure";
/// The metadata URL of [`RI`] (RFC 9728 §3.1; B-ERR-2's example).
const META_URL: &str =
    "https://hub.example.com/.well-known/oauth-protected-resource/.well-known/mercure";
/// The subscription API root (B-SAPI-2, X-9).
const API: &str = "/.well-known/mercure/subscriptions";
/// Two issuers configured through `QUICKSILVER_ISSUERS` by [`issuers_hub`].
const ISS_A: &str = "https://issuer-a.example";
const ISS_B: &str = "https://issuer-b.example";

/// Characters 1.0 strings must not hold (B-T-1, B-SEC-1): C0 (NUL, CR and LF among them), DEL,
/// C1 and `Cf` (format) characters — bidi controls, zero-width characters, the BOM, a tag
/// character, U+0600.
const UNCLEAN: [&str; 15] = [
    "\0",
    "\r",
    "\n",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "\u{9f}",
    "\u{200b}",
    "\u{200f}",
    "\u{202e}",
    "\u{2066}",
    "\u{feff}",
    "\u{e0001}",
    "\u{600}",
];

/// The `QUERY` method (B-SUB-2).
fn query_method() -> Method {
    Method::from_bytes(b"QUERY").expect("QUERY is a valid method token")
}

/// A `GET` on the hub URL with these query pairs (form-encoded).
fn get(hub: &Hub, pairs: &[(&str, &str)]) -> RequestBuilder {
    hub.hub_req(Method::GET, &form_encode(pairs))
}

/// A `QUERY` on the hub URL: `query` pairs in the URL, `body` as a raw form body.
fn query_req(hub: &Hub, query: &[(&str, &str)], body: &str) -> RequestBuilder {
    hub.hub_req(query_method(), &form_encode(query))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string())
}

/// A 1.0-only subscription (`pairs` should hold `match*` selectors and cursors only) with a
/// sentinel `match` value, so the request stays 1.0-only and absences are decided by the
/// sentinel (A-SUB-7, X-12: the classic-token sentinel publish reaches a 1.0 subscriber).
async fn probe_v1(hub: &Hub, token: Option<&str>, pairs: &[(&str, &str)]) -> Probe {
    let sentinel = uniq("sentinel");
    let mut all = pairs.to_vec();
    all.push(("match", &sentinel));
    let mut rb = get(hub, &all);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    Probe {
        stream: SseStream::open(rb).await,
        sentinel,
    }
}

/// Publishes the form `fields` with `token` in the Authorization header.
async fn publish_as(hub: &Hub, token: &str, fields: &[(&str, &str)]) -> Resp {
    send(hub.pub_req(Some(token), fields)).await
}

/// Publishes on a fresh topic with `token`: 200 tells the token was accepted with a publish
/// grant on `*`-like rights, 401 that it was refused (B-ERR-3), 403 that it grants nothing.
async fn publish_fresh(hub: &Hub, token: &str) -> Resp {
    publish_as(hub, token, &[("topic", &uniq("v1-token"))]).await
}

/// A raw publish body (for invalid UTF-8 and hand-made encodings) with `token`.
async fn publish_raw(hub: &Hub, token: Option<&str>, body: &str) -> Resp {
    let mut rb = hub
        .hub_req(Method::POST, "")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    send(rb).await
}

/// The auth-params of the single `WWW-Authenticate: Bearer …` header (asserted single and
/// `Bearer`), quoted values unquoted.
#[track_caller]
fn bearer_params(r: &Resp) -> Vec<(String, String)> {
    let values: Vec<_> = r.headers.get_all("www-authenticate").iter().collect();
    assert_eq!(values.len(), 1, "expected one WWW-Authenticate: {r:?}");
    let v = values[0].to_str().expect("ascii challenge");
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    assert_eq!(scheme, "Bearer", "challenge {v:?}");
    let (mut params, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    let mut push = |cur: &mut String| {
        let item = std::mem::take(cur);
        if let Some((k, v)) = item.trim().split_once('=') {
            params.push((k.trim().to_string(), v.trim().to_string()));
        }
    };
    for c in rest.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                cur.push(c);
            }
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => push(&mut cur),
            _ => cur.push(c),
        }
    }
    push(&mut cur);
    params
}

/// B-ERR-1…5, X-11: one `Bearer` challenge with exactly this `error` (`None` = bare) and, when
/// `metadata` is given, `resource_metadata` equal to it.
#[track_caller]
fn bearer(r: &Resp, error: Option<&str>, metadata: Option<&str>) {
    let params = bearer_params(r);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("error"), error, "challenge params {params:?} in {r:?}");
    if let Some(m) = metadata {
        assert_eq!(get("resource_metadata"), Some(m), "{params:?}");
    }
}

/// B-ERR-5: a 400 that is not about the token carries no challenge.
#[track_caller]
fn no_challenge(r: &Resp) {
    assert!(
        r.headers.get("www-authenticate").is_none(),
        "no challenge expected: {r:?}"
    );
}

/// A fresh random HMAC secret.
fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The keys of the issuers of [`issuers_hub`].
struct Issuers {
    /// Issuer A's publisher secret (HS256).
    a_pub: String,
    /// Issuer A's subscriber secret (HS256).
    a_sub: String,
    /// Issuer B's publisher secret (HS512); B has no subscriber key.
    b_pub: String,
}

/// A hub with `resource_identifier` = [`RI`] and two issuers in `QUICKSILVER_ISSUERS`: A (both
/// roles, flagged `authorization_server`) and B (publisher only, `HS512`); the top-level keys
/// stay bound to `https://localhost` (`trusted_issuers` default). `None` in external mode.
async fn issuers_hub(anonymous: bool, extra: &[(&str, &str)]) -> Option<(Hub, Issuers)> {
    let keys = Issuers {
        a_pub: secret(),
        a_sub: secret(),
        b_pub: secret(),
    };
    let issuers = serde_json::json!([
        { "id": ISS_A, "publisher_jwt_key": keys.a_pub, "publisher_jwt_alg": "HS256",
          "subscriber_jwt_key": keys.a_sub, "subscriber_jwt_alg": "HS256",
          "authorization_server": true },
        { "id": ISS_B, "publisher_jwt_key": keys.b_pub, "publisher_jwt_alg": "HS512" },
    ]);
    let mut b = Hub::builder()
        .anonymous(anonymous)
        .env("QUICKSILVER_RESOURCE_IDENTIFIER", RI)
        .env("QUICKSILVER_ISSUERS", &issuers.to_string());
    for (k, v) in extra {
        b = b.env(k, v);
    }
    b.start().await.map(|hub| (hub, keys))
}

/// A 1.0 token for a hub whose resource identifier is [`RI`]: `secret` (HS256), issuer
/// `https://localhost` unless `iss` is given.
fn ri_token(secret: &str, iss: Option<&str>, details: Value) -> String {
    sign_at_jwt(
        "HS256",
        secret,
        &v1_claims(iss.unwrap_or(DEFAULT_ISSUER), RI, details),
    )
}

/// A hub with anonymous subscribers and these settings; `None` in external mode.
async fn env_hub(env: &[(&str, &str)]) -> Option<Hub> {
    env.iter()
        .fold(Hub::builder().anonymous(true), |b, (k, v)| b.env(k, v))
        .start()
        .await
}

/// A hub with `subscriptions` on (anonymous subscribers allowed).
async fn subs_hub() -> Option<Hub> {
    env_hub(&[("QUICKSILVER_SUBSCRIPTIONS", "true")]).await
}

/// Whether each `(topic, delivered)` case reaches the probe as expected (a public update each).
async fn expect_routes(hub: &Hub, p: &mut Probe, cases: &[(String, bool)]) {
    for (topic, want) in cases {
        assert_eq!(p.receives(hub, &[("topic", topic)]).await, *want, "{topic}");
    }
}

/// B-SE-2's encoding of one variable: every byte but `A-Z a-z 0-9 - _ . ~` → `%HH` (upper
/// case), so a space is `%20` and an existing `%` is `%25` — the suite's form escaping with the
/// three characters where the two differ fixed up.
fn enc1(s: &str) -> String {
    pct(s)
        .replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// The 1.0 subscription-event topic of B-SE-2.
fn v1_event_topic(match_type: &str, value: &str, subscriber: &str) -> String {
    format!("{API}/{match_type}/{}/{}", enc1(value), enc1(subscriber))
}

/// Reads events until a 1.0 subscription event (`event: mercure`, JSON `type: subscription`)
/// satisfies `pred`; panics after WAIT.
async fn wait_v1_event(s: &mut SseStream, pred: impl Fn(&Value) -> bool) -> (Event, Value) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(ev) = s.next_event(left).await else {
            panic!(
                "expected 1.0 subscription event not received; raw: {}",
                s.raw()
            );
        };
        if ev.event.as_deref() != Some("mercure") {
            continue;
        }
        if let Ok(doc) = serde_json::from_str::<Value>(&ev.data()) {
            if doc["type"] == "subscription" && pred(&doc) {
                return (ev, doc);
            }
        }
    }
}

/// The member names of a JSON object text, in document order (top level only).
fn object_keys(text: &str) -> Vec<String> {
    struct Keys(Vec<String>);
    struct KeysVisitor;
    impl<'de> Visitor<'de> for KeysVisitor {
        type Value = Keys;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
            let mut keys = Vec::new();
            while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                keys.push(k);
            }
            Ok(Keys(keys))
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    match de.deserialize_map(KeysVisitor) {
        Ok(Keys(keys)) => keys,
        Err(e) => panic!("not a JSON object ({e}): {text:?}"),
    }
}

/// A 200 response parsed as JSON.
#[track_caller]
fn json_ok(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", r.body))
}
