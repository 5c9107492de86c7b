//! C-HDR-3 with `compression = "auto"` (issue 21): compressed event streams, each event
//! compressed once by the hub and decodable by any gzip or zstd reader.
//!
//! Every stream here ends on its own (a short `write_timeout`), so that the whole body is read
//! and decoded at once: a gzip body must then end with a valid trailer (CRC-32 and length of
//! everything sent), which `GzDecoder` checks when it reads to the end.

use std::io::Read;
use std::time::Duration;

use crate::harness::{uniq, Hub};

/// Long enough to publish a few events, short enough to keep the suite fast: the stream ends
/// between 80 % and 100 % of it.
const LIFETIME: &str = "3s";

/// A hub with `compression` set (`None`: the default) and streams ending after `LIFETIME`.
async fn hub(compression: Option<&str>) -> Option<Hub> {
    let mut builder = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_WRITE_TIMEOUT", LIFETIME)
        .env("QUICKSILVER_HEARTBEAT", "0s");
    if let Some(mode) = compression {
        builder = builder.env("QUICKSILVER_COMPRESSION", mode);
    }
    builder.start().await
}

/// A body above the default `compression_min_size` (512), compressible, and one below it.
fn payloads() -> Vec<String> {
    let large = format!(
        "{{\"@context\":\"https://schema.org\",\"@type\":\"Book\",\"items\":[{}]}}",
        (0..40)
            .map(|i| format!("{{\"@id\":\"/books/{i}\",\"title\":\"Title {i}\"}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(large.len() > 1024);
    vec!["small one".into(), large, "small two".into()]
}

/// Subscribes with `accept_encoding`, publishes the payloads, and returns the response's
/// `Content-Encoding`, `Vary` and whole body once the stream ended (its write_timeout), with
/// the ids published.
async fn stream(
    hub: &Hub,
    accept_encoding: Option<&str>,
) -> (Option<String>, Option<String>, Vec<u8>, Vec<String>) {
    let topic = uniq("compression");
    // The hub closes a stream's connection when its write_timeout ends it (as the reference
    // does, after the `Connection: keep-alive` A-SSE-2 asks for): the client must not pool it
    // for the next request, which would then race the close.
    let mut request = hub.sub_req(&[&topic]).header("Connection", "close");
    if let Some(value) = accept_encoding {
        request = request.header("Accept-Encoding", value);
    }
    let response = request.send().await.expect("subscribe");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_owned())
    };
    let (encoding, vary) = (header("content-encoding"), header("vary"));
    let mut ids = Vec::new();
    for data in payloads() {
        ids.push(hub.publish_ok(&[("topic", &topic), ("data", &data)]).await);
    }
    let body = tokio::time::timeout(Duration::from_secs(10), response.bytes())
        .await
        .expect("the stream ends with its write_timeout")
        .expect("the whole body");
    (encoding, vary, body.to_vec(), ids)
}

/// The exact uncompressed stream the hub sends for `ids` with `payloads()`.
fn plain(ids: &[String]) -> String {
    let mut text = String::from(":\n");
    for (id, data) in ids.iter().zip(payloads()) {
        text.push_str(&format!("id: {id}\ndata: {data}\n\n"));
    }
    text
}

/// C-HDR-3, issue 21: `compression = "auto"` and `Accept-Encoding: gzip` give a gzip stream
/// (`Content-Encoding: gzip`, `Vary: Accept-Encoding`) that decodes to exactly the uncompressed
/// stream, events above and below `compression_min_size` alike; ended by `write_timeout`, it
/// carries a valid trailer (GzDecoder reads to the end without error).
#[tokio::test]
async fn c_hdr_3_gzip_stream_decodes_to_the_plain_stream() {
    let Some(hub) = hub(Some("auto")).await else {
        return;
    };
    let (encoding, vary, body, ids) = stream(&hub, Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(vary.as_deref(), Some("Accept-Encoding"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut decoded)
        .expect("a complete gzip stream, trailer included");
    assert_eq!(decoded, plain(&ids));
    assert!(body.len() < decoded.len(), "the large event is compressed");
}

/// C-HDR-3, issue 21: `Accept-Encoding` with q-values picks zstd over gzip, and the zstd stream
/// decodes to exactly the uncompressed stream.
#[tokio::test]
async fn c_hdr_3_zstd_stream_decodes_to_the_plain_stream() {
    let Some(hub) = hub(Some("auto")).await else {
        return;
    };
    let (encoding, _, body, ids) = stream(&hub, Some("gzip;q=0.5, zstd")).await;
    assert_eq!(encoding.as_deref(), Some("zstd"));
    let decoded = zstd::stream::decode_all(&body[..]).expect("a valid zstd stream");
    assert_eq!(String::from_utf8(decoded).expect("utf-8"), plain(&ids));
}

/// C-HDR-3, issue 21: with `compression = "auto"`, a request without `Accept-Encoding` (or
/// refusing both codings) gets the plain stream.
#[tokio::test]
async fn c_hdr_3_auto_without_accept_encoding_is_identity() {
    let Some(hub) = hub(Some("auto")).await else {
        return;
    };
    for accept in [None, Some("identity"), Some("gzip;q=0, zstd;q=0, br")] {
        let (encoding, vary, body, ids) = stream(&hub, accept).await;
        assert_eq!(encoding, None, "{accept:?}");
        assert_eq!(vary.as_deref(), Some("Accept-Encoding"), "{accept:?}");
        assert_eq!(String::from_utf8(body).expect("utf-8"), plain(&ids));
    }
}

/// C-HDR-3: with the default `compression = "off"`, nothing is compressed, even when asked.
#[tokio::test]
async fn c_hdr_3_off_is_identity_even_when_asked() {
    let Some(hub) = hub(None).await else {
        return;
    };
    let (encoding, vary, body, ids) = stream(&hub, Some("gzip, zstd, br")).await;
    assert_eq!(encoding, None);
    assert_eq!(vary, None);
    assert_eq!(String::from_utf8(body).expect("utf-8"), plain(&ids));
}

/// C-HDR-3, issue 21: an invalid `compression` stops the hub at startup, naming the setting.
#[tokio::test]
async fn c_hdr_3_invalid_compression_is_a_startup_error() {
    if crate::harness::skip_if_external() {
        return;
    }
    let Some((status, log)) = Hub::builder()
        .anonymous(true)
        .env("QUICKSILVER_COMPRESSION", "gzip")
        .start_expect_failure()
        .await
    else {
        return;
    };
    assert!(!status.success());
    assert!(
        log.contains("compression: expected \"off\" or \"auto\", got \"gzip\""),
        "{log}"
    );
}

/// C-HDR-3, issue 21: over HTTPS with HTTP/2 (the portable path, not the direct writer), a gzip
/// stream and a zstd stream decode to the plain stream, the gzip one with its trailer after
/// `write_timeout`.
#[tokio::test]
async fn c_hdr_3_compressed_streams_over_tls_and_http2() {
    if crate::harness::skip_if_external() {
        return;
    }
    let key = format!("{}", uuid::Uuid::new_v4().simple()).repeat(2);
    let settings = [
        ("QUICKSILVER_COMPRESSION", "auto"),
        ("QUICKSILVER_WRITE_TIMEOUT", LIFETIME),
        ("QUICKSILVER_HEARTBEAT", "0s"),
    ];
    let hub = crate::operations::start_tls_hub_with(&key, &settings).await;
    let token = crate::tokens::sign_hs(
        "HS256",
        &key,
        &crate::tokens::publish_claims(serde_json::json!(["*"])),
    );
    for coding in ["gzip", "zstd"] {
        let topic = uniq("compression-tls");
        let url = format!(
            "{}/.well-known/mercure?topic={}",
            hub.base,
            crate::http::pct(&topic)
        );
        let response = (hub.client.get(&url).header("Accept-Encoding", coding))
            .send()
            .await
            .expect("subscribe");
        assert_eq!(response.version(), reqwest::Version::HTTP_2);
        let encoding = response.headers().get("content-encoding").cloned();
        assert_eq!(
            encoding.as_ref().map(|v| v.as_bytes()),
            Some(coding.as_bytes())
        );
        let mut ids = Vec::new();
        for data in payloads() {
            let published = (hub.client.post(format!("{}/.well-known/mercure", hub.base)))
                .bearer_auth(&token)
                .form(&[("topic", topic.as_str()), ("data", data.as_str())])
                .send()
                .await
                .expect("publish");
            ids.push(published.text().await.expect("id"));
        }
        let body = tokio::time::timeout(Duration::from_secs(10), response.bytes())
            .await
            .expect("the stream ends with its write_timeout")
            .expect("the whole body");
        let decoded = match coding {
            "gzip" => {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_string(&mut text)
                    .expect("a complete gzip stream, trailer included");
                text
            }
            _ => String::from_utf8(zstd::stream::decode_all(&body[..]).expect("zstd"))
                .expect("utf-8"),
        };
        assert_eq!(decoded, plain(&ids), "{coding}");
    }
}
