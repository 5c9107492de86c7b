//! C-LIM-1, A-LIM-4: 413 for oversized bodies however they are framed.

use crate::harness::{uniq, Hub, HUB_PATH};
use crate::http::send;

use super::raw_exchange;

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
