//! B-SAPI-2…6, X-9, B-AUTH-9: the 1.0 subscription API — routing by path shape, the 1.0
//! envelope and item shapes beside the classic ones, authorization by a `subscribe` grant on the
//! path (403 `insufficient_scope`), `application/json`, and the `Link` cursor header.

use serde_json::{json, Value};

use super::{bearer, enc1, get, json_ok, subs_hub, v1_event_topic, wait_v1_event, API};
use crate::harness::{uniq, Hub, WAIT};
use crate::http::{form_encode, send, Resp};
use crate::sse::{Probe, SseStream};
use crate::tokens::{matcher, mercure_detail};

/// `GET` on an API path with an optional bearer token.
async fn api_get(hub: &Hub, path: &str, token: Option<&str>) -> Resp {
    let mut rb = hub.client.get(hub.url(path));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    send(rb).await
}

/// A 1.0 token granting `subscribe` on everything.
fn v1_all(hub: &Hub) -> String {
    hub.v1_subscriber_token_for(&[("*", None)])
}

/// A hub with a 1.0 subscription (`match=m`, `match_urlpattern=p`) and a classic one
/// (`topic=t`) on one connection; returns the hub, the connection, `(m, p, t)` and its
/// subscriber id (learnt from its subscription event).
async fn setup() -> Option<(Hub, SseStream, [String; 3], String)> {
    let hub = subs_hub().await?;
    let mut w = Probe::open(&hub, Some(&hub.subscriber_token_for(&["*"])), &["*"]).await;
    let u = uuid::Uuid::new_v4();
    let names = [
        format!("https://example.com/{u}/a+b c"),
        format!("https://example.com/{u}/:id"),
        uniq("api-t"),
    ];
    let conn = SseStream::open(get(
        &hub,
        &[
            ("match", &names[0]),
            ("match_urlpattern", &names[1]),
            ("topic", &names[2]),
        ],
    ))
    .await;
    let (_, doc) = wait_v1_event(&mut w.stream, |d| d["match"] == names[0].as_str()).await;
    let sid = doc["subscriber"].as_str().expect("subscriber").to_string();
    Some((hub, conn, names, sid))
}

/// Finds the item of `collection` with this `match` (1.0 items) or `topic` (classic items).
fn item<'a>(collection: &'a Value, key: &str, value: &str) -> &'a Value {
    collection["subscriptions"]
        .as_array()
        .expect("subscriptions array")
        .iter()
        .find(|s| s[key] == value)
        .unwrap_or_else(|| panic!("no item with {key}={value} in {collection}"))
}

/// B-SAPI-5, B-SAPI-3, X-9, B-SE-4, A-SUBS-12: with a 1.0 token the root collection is the 1.0
/// envelope (`id` = the path, `type: subscriptions`) in `application/json`; with a classic token
/// it is the classic envelope; in both each subscription keeps its own dialect's item shape.
#[tokio::test]
async fn b_sapi_5_collections_and_item_shapes() {
    let Some((hub, _conn, [m, _p, t], sid)) = setup().await else {
        return;
    };
    let r = api_get(&hub, API, Some(&v1_all(&hub))).await;
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json"),
        "{r:?}"
    );
    let doc = json_ok(&r);
    assert_eq!(
        (&doc["id"], &doc["type"]),
        (&json!(API), &json!("subscriptions"))
    );
    let one = item(&doc, "match", &m);
    assert_eq!(
        one,
        &json!({ "id": v1_event_topic("exact", &m, &sid), "type": "subscription", "subscriber": sid,
                 "match": m, "match_type": "exact", "active": true })
    );
    let classic = item(&doc, "topic", &t);
    assert_eq!(
        (&classic["type"], &classic["subscriber"]),
        (&json!("Subscription"), &json!(sid))
    );
    assert!(classic.get("@context").is_none(), "{classic}");
    let doc = json_ok(&api_get(&hub, API, Some(&hub.subscriber_token_for(&["*"]))).await);
    assert_eq!(
        doc["type"],
        json!("Subscriptions"),
        "classic envelope for a classic token"
    );
    assert!(doc["lastEventID"].is_string());
    assert_eq!(item(&doc, "match", &m)["type"], json!("subscription"));
}

/// B-SAPI-4, B-SAPI-2, X-9, A-SUBS-14: `…/{match_type}/{match}` lists one matcher's
/// subscriptions (segments percent-decoded, `+` kept; `%65xact` is `exact`), `…/{match_type}/
/// {match}/{subscriber}` is the event document, unknown → 404, gone → 404; three segments with
/// an unknown type or a bad escape → 400; two segments that are not a 1.0 type are the classic
/// single subscription, whatever the token.
#[tokio::test]
async fn b_sapi_4_paths_by_shape() {
    let Some((hub, conn, [m, p, t], sid)) = setup().await else {
        return;
    };
    let token = v1_all(&hub);
    let plus_kept = enc1(&m).replace("%2B", "+");
    for seg in [enc1(&m), plus_kept] {
        for ty in ["exact", "%65xact"] {
            let path = format!("{API}/{ty}/{seg}");
            let doc = json_ok(&api_get(&hub, &path, Some(&token)).await);
            assert_eq!(
                (&doc["id"], &doc["type"]),
                (&json!(path), &json!("subscriptions"))
            );
            let subs = doc["subscriptions"].as_array().expect("array");
            assert_eq!(subs.len(), 1, "{doc}");
            assert_eq!(subs[0]["match"], json!(m));
        }
    }
    let doc = json_ok(
        &api_get(
            &hub,
            &format!("{API}/urlpattern/{}", enc1(&p)),
            Some(&token),
        )
        .await,
    );
    assert_eq!(doc["subscriptions"][0]["match_type"], json!("urlpattern"));
    let single = format!("{API}/exact/{}/{}", enc1(&m), enc1(&sid));
    let doc = json_ok(&api_get(&hub, &single, Some(&token)).await);
    assert_eq!(doc["id"], json!(v1_event_topic("exact", &m, &sid)));
    assert_eq!(
        (&doc["active"], &doc["subscriber"]),
        (&json!(true), &json!(sid))
    );
    assert_eq!(
        api_get(
            &hub,
            &format!("{API}/exact/{}/urn%3Auuid%3A0", enc1(&m)),
            Some(&token)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        api_get(
            &hub,
            &format!("{API}/urlpattern/{}/{}", enc1(&m), enc1(&sid)),
            Some(&token)
        )
        .await
        .status,
        404
    );
    for bad in [
        format!("{API}/regex/x/{}", enc1(&sid)),
        format!("{API}/exact/%zz/{}", enc1(&sid)),
    ] {
        assert_eq!(api_get(&hub, &bad, Some(&token)).await.status, 400, "{bad}");
    }
    let classic = format!("{API}/{}/{}", enc1(&t), enc1(&sid));
    let doc = json_ok(&api_get(&hub, &classic, Some(&token)).await);
    assert_eq!(
        (&doc["type"], &doc["topic"]),
        (&json!("Subscription"), &json!(t))
    );
    assert_eq!(
        api_get(&hub, &format!("{API}/regex/{}", enc1(&sid)), Some(&token))
            .await
            .status,
        404
    );
    drop(conn);
    let deadline = tokio::time::Instant::now() + WAIT;
    while api_get(&hub, &single, Some(&token)).await.status != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ended subscription still served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// B-SAPI-2, B-ERR-2…4, B-AUTH-9, X-11, §0.2: the 1.0 API needs a 1.0 token granting
/// `subscribe` on the request path (relative, still encoded, query excluded): none → 401 bare,
/// invalid → 401 `invalid_token`, no grant → 403 `insufficient_scope`; a classic token without
/// the grant → 401; the `authorization` query parameter is not read on 1.0 API paths.
#[tokio::test]
async fn b_sapi_2_api_authorization() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let sel = format!("{API}/exact/{}", enc1("https://example.com/a"));
    let token = |topics: Vec<Value>| {
        hub.v1_subscriber_token(json!([mercure_detail(&["subscribe"], topics)]))
    };
    let root = token(vec![matcher(API, None)]);
    let exact_sel = token(vec![matcher(&sel, None)]);
    let pattern = token(vec![matcher(&format!("{API}/exact/*"), Some("urlpattern"))]);
    let publish_only = hub.v1_subscriber_token(json!([mercure_detail(
        &["publish"],
        vec![matcher("*", None)]
    )]));
    let with_query = format!("{API}?x=1");
    let cases: Vec<(&str, &str, u16)> = vec![
        (API, &root, 200),
        (&with_query, &root, 200),
        (&sel, &root, 403),
        (&sel, &exact_sel, 200),
        (API, &exact_sel, 403),
        (&sel, &pattern, 200),
        (API, &pattern, 403),
        (&sel, &publish_only, 403),
    ];
    for (path, tok, want) in cases {
        let r = api_get(&hub, path, Some(tok)).await;
        assert_eq!(r.status, want, "{path}: {r:?}");
        if want == 403 {
            bearer(&r, Some("insufficient_scope"), None);
        }
    }
    let r = api_get(&hub, &sel, None).await;
    assert_eq!(r.status, 401, "{r:?}");
    bearer(&r, None, None);
    let r = api_get(
        &hub,
        &sel,
        Some("x.y.z-----------------------------------------"),
    )
    .await;
    assert_eq!(r.status, 401, "{r:?}");
    bearer(&r, Some("invalid_token"), None);
    let r = api_get(
        &hub,
        &sel,
        Some(&hub.subscriber_token_for(&["urn:nothing"])),
    )
    .await;
    assert_eq!(r.status, 401, "classic token without the grant: {r:?}");
    let all = hub.subscriber_token_for(&["*"]);
    for q in [
        form_encode(&[("authorization", &all)]),
        form_encode(&[("authorization", &v1_all(&hub))]),
    ] {
        let r = api_get(&hub, &format!("{sel}?{q}"), None).await;
        assert_eq!(r.status, 401, "token in the query of a 1.0 API path: {r:?}");
    }
}

/// B-SAPI-6, X-9, C-HARD-8, A-SUBS-11: every API response carries
/// `Link: </.well-known/mercure>; rel="mercure"; last-event-id="…"; type="mercure";
/// content-type="application/json"` with the last stored id (`"` and `\` escaped), in the 1.0
/// and in the classic envelope; ETag and `If-None-Match` → 304.
#[tokio::test]
async fn b_sapi_6_link_header_and_etag() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let id = format!("urn:q\"b\\s:{}", uuid::Uuid::new_v4());
    hub.publish_ok(&[("topic", &uniq("b-sapi-6")), ("id", &id)])
        .await;
    let escaped = id.replace('\\', "\\\\").replace('"', "\\\"");
    let want = format!(
        "</.well-known/mercure>; rel=\"mercure\"; last-event-id=\"{escaped}\"; type=\"mercure\"; content-type=\"application/json\""
    );
    let v1 = v1_all(&hub);
    let classic = hub.subscriber_token_for(&["*"]);
    for tok in [&v1, &classic] {
        let r = api_get(&hub, API, Some(tok)).await;
        assert_eq!(r.status, 200, "{r:?}");
        let links: Vec<_> = r
            .headers
            .get_all("link")
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .collect();
        assert!(
            links.iter().any(|l| l == &want),
            "Link {links:?}, want {want}"
        );
    }
    let r = api_get(&hub, API, Some(&v1)).await;
    let etag = r.header("etag").expect("ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let rb = hub
        .client
        .get(hub.url(API))
        .bearer_auth(&v1)
        .header("If-None-Match", &etag);
    let r = send(rb).await;
    assert_eq!((r.status, r.body.as_str()), (304, ""), "{r:?}");
}
