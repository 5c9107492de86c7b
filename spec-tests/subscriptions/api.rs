//! A-SUBS-9…12, A-SUBS-14…16, X-9, B-SAPI-6: the subscription API — endpoints,
//! authorization, content type, ETag and `Link`, collections, single subscriptions.

use reqwest::Method;
use serde_json::json;

use super::{
    api_get, collection_pairs, enc, event_topic, json_ok, subs_hub, top_level_keys, wait_active,
    wait_sub_event, watch_token, watcher, API, NOT_FOUND, SUBS_TPL,
};
use crate::asserts;
use crate::harness::{uniq, Hub};
use crate::http::{form_encode, pct, send};
use crate::sse::{Probe, SseStream};

/// A-SUBS-9, X-9, A-EP-7: three GET endpoints — all, per selector (one segment, form-decoded:
/// `%2F` stays inside it, `+` and `%20` are spaces), one subscription; other methods → 405.
#[tokio::test]
async fn a_subs_9_three_get_endpoints() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    // A selector with a space: its event topic and API paths have a `+`, which SUBS_TPL does
    // not match (A-SUBS-8, A-SUBS-10): use `*` for routing and grants.
    let token = hub.subscriber_token_for(&["*"]);
    let mut w = Probe::open(&hub, Some(&token), &["*"]).await;
    let sel = format!("{}/a b", uniq("a-subs-9"));
    let _s = SseStream::open(hub.sub_req(&[&sel])).await;
    let sid = wait_active(&mut w.stream, &sel, true, None)
        .await
        .subscriber();
    let all = json_ok(&api_get(&hub, API, Some(&token)).await);
    assert!(collection_pairs(&all).contains(&(sid.clone(), sel.clone())));
    for seg in [enc(&sel), enc(&sel).replace('+', "%20"), pct(&sel)] {
        let one = json_ok(&api_get(&hub, &format!("{API}/{seg}"), Some(&token)).await);
        assert_eq!(
            collection_pairs(&one),
            vec![(sid.clone(), sel.clone())],
            "{seg}"
        );
        let path = format!("{API}/{seg}/{}", enc(&sid));
        let doc = json_ok(&api_get(&hub, &path, Some(&token)).await);
        assert_eq!(doc["subscriber"], json!(sid));
        assert_eq!(doc["topic"], json!(sel));
    }
    for path in [
        API.to_string(),
        format!("{API}/{}", enc(&sel)),
        format!("{API}/{}/{}", enc(&sel), enc(&sid)),
    ] {
        for m in ["POST", "PUT", "DELETE", "PATCH"] {
            let rb = hub
                .client
                .request(Method::from_bytes(m.as_bytes()).unwrap(), hub.url(&path))
                .bearer_auth(&token);
            assert_eq!(send(rb).await.status, 405, "{m} {path}");
        }
    }
}

/// A-SUBS-10, X-11, A-AUTH-17: the API needs a valid subscriber token whose `mercure.subscribe`
/// matches the raw request target (path plus `?query`); anonymous access is not enough; 401
/// `Unauthorized\n` otherwise. Without a subscriber key the API is open.
#[tokio::test]
async fn a_subs_10_api_authorization() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let sel_path = format!("{API}/{}", enc("https://example.com/a-subs-10"));
    let only_root = hub.subscriber_token_for(&[API]);
    let with_query = hub.subscriber_token_for(&[&format!("{API}?x=1")]);
    let tpl = watch_token(&hub);
    let star = hub.subscriber_token_for(&["*"]);
    let publisher = hub.publisher_token_all();
    let null = hub.subscriber_token(&json!({ "mercure": { "subscribe": null } }));
    let cases: Vec<(&str, Option<&str>, u16)> = vec![
        (API, None, 401),
        (API, Some(&publisher), 401),
        (API, Some(&null), 401),
        (
            API,
            Some("x.y.z-----------------------------------------"),
            401,
        ),
        (API, Some(&only_root), 200),
        (&sel_path, Some(&only_root), 401),
        (&sel_path, Some(&tpl), 200),
        (&sel_path, Some(&star), 200),
        (
            "/.well-known/mercure/subscriptions?x=1",
            Some(&only_root),
            401,
        ),
        ("/.well-known/mercure/subscriptions?x=1", Some(&tpl), 401),
        (
            "/.well-known/mercure/subscriptions?x=1",
            Some(&with_query),
            200,
        ),
        (
            "/.well-known/mercure/subscriptions?x=2",
            Some(&with_query),
            401,
        ),
        ("/.well-known/mercure/subscriptions?x=1", Some(&star), 200),
    ];
    for (path, tok, status) in cases {
        let r = api_get(&hub, path, tok).await;
        if status == 401 {
            asserts::unauthorized(&r);
        } else {
            assert_eq!(r.status, status, "{path} {tok:?}: {r:?}");
        }
    }
    // Token from the `authorization` query parameter: the parameter is part of the target.
    let q = form_encode(&[("authorization", &star)]);
    assert_eq!(api_get(&hub, &format!("{API}?{q}"), None).await.status, 200);
    let q = form_encode(&[("authorization", &only_root)]);
    asserts::unauthorized(&api_get(&hub, &format!("{API}?{q}"), None).await);
    // Cookie.
    let rb = hub
        .client
        .get(hub.url(API))
        .header("Cookie", format!("mercureAuthorization={only_root}"));
    assert_eq!(send(rb).await.status, 200);

    // No subscriber key: open to everyone.
    let Some(open) = Hub::builder()
        .anonymous(true)
        .subscriber_key(None, None)
        .env("QUICKSILVER_SUBSCRIPTIONS", "true")
        .start()
        .await
    else {
        return;
    };
    for path in [API.to_string(), sel_path.clone(), format!("{API}?x=1")] {
        assert_eq!(api_get(&open, &path, None).await.status, 200, "{path}");
    }
}

/// The ETag of A-SUBS-11 for a `lastEventID`.
fn etag_of(id: &str) -> String {
    let mut out = String::from("\"");
    for b in id.bytes() {
        if b < 0x21 || b == b'"' || b == b'%' || b == 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out.push('"');
    out
}

/// The `Link` header of B-SAPI-6 for a `lastEventID`.
fn link_of(id: &str) -> String {
    let esc = id.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "</.well-known/mercure>; rel=\"mercure\"; last-event-id=\"{esc}\"; type=\"mercure\"; content-type=\"application/json\""
    )
}

/// A-SUBS-11, B-SAPI-6, X-9, C-HARD-8: `application/ld+json`, a quoted, percent-encoded ETag
/// derived from `lastEventID`; `If-None-Match` with the quoted or the raw value → 304 without a
/// body; the `Link` cursor header (with `"` and `\` escaped) on 200 and 304.
#[tokio::test]
async fn a_subs_11_content_type_etag_304_link() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    let sel = uniq("a-subs-11");
    let _s = SseStream::open(hub.sub_req(&[&sel])).await;
    let sid = wait_active(&mut w.stream, &sel, true, None)
        .await
        .subscriber();
    let last = format!("a b\"%c\\d/{}", uuid::Uuid::new_v4());
    hub.publish_ok(&[("topic", &uniq("a-subs-11-x")), ("id", &last)])
        .await;
    let paths = [
        API.to_string(),
        format!("{API}/{}", enc(&sel)),
        format!("{API}/{}/{}", enc(&sel), enc(&sid)),
    ];
    for path in &paths {
        let r = api_get(&hub, path, Some(&token)).await;
        let doc = json_ok(&r);
        assert_eq!(doc["lastEventID"], json!(last), "{path}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/ld+json"),
            "{path}"
        );
        assert_eq!(r.header("etag"), Some(etag_of(&last)), "{path}");
        let links: Vec<_> = r.headers.get_all("link").iter().collect();
        assert_eq!(links.len(), 1, "{path}: {r:?}");
        assert_eq!(
            links[0].to_str().ok(),
            Some(link_of(&last).as_str()),
            "{path}"
        );
        for inm in [etag_of(&last), last.clone()] {
            let rb = hub
                .client
                .get(hub.url(path))
                .bearer_auth(&token)
                .header("If-None-Match", inm.as_str());
            let r = send(rb).await;
            assert_eq!((r.status, r.body.as_str()), (304, ""), "{path} {inm}");
            assert_eq!(r.header("etag"), Some(etag_of(&last)), "{path}");
            assert_eq!(r.header("link"), Some(link_of(&last)), "{path} 304");
        }
        let rb = hub
            .client
            .get(hub.url(path))
            .bearer_auth(&token)
            .header("If-None-Match", "\"something-else\"");
        assert_eq!(send(rb).await.status, 200, "{path}");
    }
}

/// A-SUBS-12, A-SUBS-13, A-SUBS-15: collections — members `@context`, `id` (raw target with
/// query), `type: Subscriptions`, `lastEventID` (`earliest` when nothing was stored), and
/// `subscriptions` (`[]` when empty) of documents without `@context`; only active
/// subscriptions; the per-selector collection matches selectors byte for byte (no template
/// matching).
#[tokio::test]
async fn a_subs_12_collections() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let star = hub.subscriber_token_for(&["*"]);
    let r = api_get(&hub, API, Some(&star)).await;
    let doc = json_ok(&r);
    assert_eq!(
        top_level_keys(&r.body),
        ["@context", "id", "type", "lastEventID", "subscriptions"]
    );
    assert_eq!(doc["@context"], "https://mercure.rocks/");
    assert_eq!(doc["id"], API);
    assert_eq!(doc["type"], "Subscriptions");
    assert_eq!(doc["lastEventID"], "earliest", "nothing stored yet");
    assert_eq!(doc["subscriptions"], json!([]));
    let r = api_get(&hub, &format!("{API}/nothing?a=1&b=%20"), Some(&star)).await;
    let doc = json_ok(&r);
    assert_eq!(doc["id"], format!("{API}/nothing?a=1&b=%20"));
    assert_eq!(doc["subscriptions"], json!([]));

    let mut w = watcher(&hub).await;
    let base = uniq("a-subs-12");
    let tpl = format!("{base}/{{id}}");
    let one = format!("{base}/1");
    let s1 = SseStream::open(hub.sub_req(&[&tpl, &one])).await;
    let sid1 = wait_active(&mut w.stream, &tpl, true, None)
        .await
        .subscriber();
    let s2 = SseStream::open(hub.sub_req(&[&one])).await;
    let sid2 = wait_active(&mut w.stream, &one, true, None).await;
    let sid2 = if sid2.subscriber() == sid1 {
        wait_active(&mut w.stream, &one, true, None)
            .await
            .subscriber()
    } else {
        sid2.subscriber()
    };
    let r = api_get(&hub, &format!("{API}/{}", enc(&one)), Some(&star)).await;
    let doc = json_ok(&r);
    let mut want = vec![(sid1.clone(), one.clone()), (sid2.clone(), one.clone())];
    want.sort();
    assert_eq!(collection_pairs(&doc), want, "byte-identical selector only");
    for item in doc["subscriptions"].as_array().unwrap() {
        assert!(item.get("@context").is_none(), "{item}");
        assert_eq!(item["type"], "Subscription");
        assert_eq!(
            item["id"],
            json!(event_topic(&one, item["subscriber"].as_str().unwrap()))
        );
    }
    let doc = json_ok(&api_get(&hub, &format!("{API}/{}", enc(&tpl)), Some(&star)).await);
    assert_eq!(collection_pairs(&doc), vec![(sid1.clone(), tpl.clone())]);
    drop(s1);
    wait_active(&mut w.stream, &one, false, Some(&sid1)).await;
    let doc = json_ok(&api_get(&hub, &format!("{API}/{}", enc(&one)), Some(&star)).await);
    assert_eq!(collection_pairs(&doc), vec![(sid2.clone(), one.clone())]);
    let all = collection_pairs(&json_ok(&api_get(&hub, API, Some(&star)).await));
    assert!(
        all.iter().all(|(s, _)| *s != sid1),
        "terminated still listed"
    );
    drop(s2);
}

/// A-SUBS-14, A-SUBS-15: a single subscription is the event document with `lastEventID`
/// after `active` (before `payload`); unknown subscriber, other selector or terminated → 404.
#[tokio::test]
async fn a_subs_14_single_subscription() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    let sel = uniq("a-subs-14");
    let other = uniq("a-subs-14-other");
    let tok = hub.subscriber_token(&json!({ "mercure": { "payload": { "p": 1 } } }));
    let s = SseStream::open(hub.sub_req(&[&sel, &other]).bearer_auth(tok)).await;
    // Both start events; the later one is the latest stored update.
    let e = wait_sub_event(&mut w.stream, |d| d["topic"] == sel || d["topic"] == other).await;
    let sid = e.subscriber();
    let second = if e.topic() == sel { &other } else { &sel };
    let last = wait_active(&mut w.stream, second, true, Some(&sid))
        .await
        .ev
        .id
        .unwrap();
    let path = format!("{API}/{}/{}", enc(&sel), enc(&sid));
    let r = api_get(&hub, &path, Some(&token)).await;
    let doc = json_ok(&r);
    assert_eq!(
        top_level_keys(&r.body),
        [
            "@context",
            "id",
            "type",
            "subscriber",
            "topic",
            "active",
            "lastEventID",
            "payload"
        ]
    );
    assert_eq!(doc["@context"], "https://mercure.rocks/");
    assert_eq!(doc["id"], json!(event_topic(&sel, &sid)));
    assert_eq!(doc["type"], "Subscription");
    assert_eq!(doc["subscriber"], json!(sid));
    assert_eq!(doc["topic"], json!(sel));
    assert_eq!(doc["active"], json!(true));
    assert_eq!(doc["lastEventID"], json!(last));
    assert_eq!(doc["payload"], json!({ "p": 1 }));
    let unknown = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let third = uniq("a-subs-14-none");
    for p in [
        format!("{API}/{}/{}", enc(&sel), enc(&unknown)),
        format!("{API}/{}/{}", enc(&third), enc(&sid)),
    ] {
        api_get(&hub, &p, Some(&token)).await.expect(404, NOT_FOUND);
    }
    drop(s);
    wait_active(&mut w.stream, &sel, false, Some(&sid)).await;
    api_get(&hub, &path, Some(&token))
        .await
        .expect(404, NOT_FOUND);
}

/// A-SUBS-15: `lastEventID` is the id of the most recent stored update — any topic, private
/// updates and subscription events included.
#[tokio::test]
async fn a_subs_15_last_event_id_is_latest_stored() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let star = hub.subscriber_token_for(&["*"]);
    let last = |hub: &Hub| {
        let rb = hub.client.get(hub.url(API)).bearer_auth(&star);
        async move { json_ok(&send(rb).await)["lastEventID"].clone() }
    };
    assert_eq!(last(&hub).await, "earliest");
    let a = hub.publish_ok(&[("topic", &uniq("a-subs-15"))]).await;
    assert_eq!(last(&hub).await, json!(a));
    let p = hub
        .publish_ok(&[("topic", &uniq("a-subs-15")), ("private", "on")])
        .await;
    assert_eq!(last(&hub).await, json!(p));
    let mut w = watcher(&hub).await;
    // The watcher's two subscriptions (SUBS_TPL and its sentinel): the later event counts.
    let sentinel = w.sentinel.clone();
    let e = wait_sub_event(&mut w.stream, |d| {
        d["topic"] == SUBS_TPL || d["topic"] == sentinel
    })
    .await;
    let second = if e.topic() == SUBS_TPL {
        sentinel.as_str()
    } else {
        SUBS_TPL
    };
    let e = wait_active(&mut w.stream, second, true, Some(&e.subscriber())).await;
    assert_eq!(last(&hub).await, json!(e.ev.id.unwrap()));
}

/// A-SUBS-16 (SHOULD), A-SUBS-6: documents are pretty-printed with two-space indentation,
/// members in the documented order (the reference's bytes).
#[tokio::test]
async fn a_subs_16_pretty_printed_documents() {
    let Some(hub) = subs_hub().await else {
        return;
    };
    let token = watch_token(&hub);
    let mut w = watcher(&hub).await;
    let sel = uniq("a-subs-16");
    let tok = hub.subscriber_token(&json!({ "mercure": { "payload": { "user": "u1" } } }));
    let _s = SseStream::open(hub.sub_req(&[&sel]).bearer_auth(tok)).await;
    let e = wait_active(&mut w.stream, &sel, true, None).await;
    let sid = e.subscriber();
    let id = event_topic(&sel, &sid);
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let event = format!(
        "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": {},\n  \"type\": \"Subscription\",\n  \"subscriber\": {},\n  \"topic\": {},\n  \"active\": true,\n  \"payload\": {{\n    \"user\": \"u1\"\n  }}\n}}",
        q(&id),
        q(&sid),
        q(&sel)
    );
    assert_eq!(e.ev.data(), event, "event body bytes");
    assert!(
        e.ev.raw.contains("\ndata:   \"type\": \"Subscription\",\n"),
        "one data line per line"
    );
    let path = format!("{API}/{}/{}", enc(&sel), enc(&sid));
    let r = api_get(&hub, &path, Some(&token)).await;
    let last = json_ok(&r)["lastEventID"].as_str().unwrap().to_string();
    let single = format!(
        "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": {},\n  \"type\": \"Subscription\",\n  \"subscriber\": {},\n  \"topic\": {},\n  \"active\": true,\n  \"lastEventID\": {},\n  \"payload\": {{\n    \"user\": \"u1\"\n  }}\n}}",
        q(&id),
        q(&sid),
        q(&sel),
        q(&last)
    );
    assert_eq!(
        r.body.trim_end_matches('\n'),
        single,
        "single subscription bytes"
    );
    let cpath = format!("{API}/{}", enc(&sel));
    let r = api_get(&hub, &cpath, Some(&token)).await;
    let coll = format!(
        "{{\n  \"@context\": \"https://mercure.rocks/\",\n  \"id\": {},\n  \"type\": \"Subscriptions\",\n  \"lastEventID\": {},\n  \"subscriptions\": [\n    {{\n      \"id\": {},\n      \"type\": \"Subscription\",\n      \"subscriber\": {},\n      \"topic\": {},\n      \"active\": true,\n      \"payload\": {{\n        \"user\": \"u1\"\n      }}\n    }}\n  ]\n}}",
        q(&cpath),
        q(&last),
        q(&id),
        q(&sid),
        q(&sel)
    );
    assert_eq!(r.body.trim_end_matches('\n'), coll, "collection bytes");
}
