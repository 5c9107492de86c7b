//! C-HARD-1, C-HARD-2, C-HARD-3, C-HARD-5, C-HARD-8, X-13: what classic requests refuse (C0
//! and DEL, invalid UTF-8, reserved values) and what they accept and deliver intact (C1, bidi and
//! zero-width characters), in topics, selectors, ids, types, cursors, query and body.

use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::json;

use crate::asserts;
use crate::harness::{uniq, Hub, HUB_PATH};
use crate::http::{form_encode, send, send_sub};
use crate::sse::{Probe, RawSse, SseStream};
use crate::tokens::publish_claims;

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
