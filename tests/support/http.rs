//! Small async HTTP helpers for the spec and fault suites: whole responses, form encoding,
//! subscription heads, and raw TCP requests for what reqwest would normalise.

use reqwest::header::HeaderMap;
use reqwest::RequestBuilder;

use super::harness::{Hub, WAIT};

/// A fully read response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// Asserts the status and the exact body.
    #[track_caller]
    pub fn expect(&self, status: u16, body: &str) {
        assert_eq!(
            (self.status, self.body.as_str()),
            (status, body),
            "unexpected response: {self:?}"
        );
    }
}

/// Sends a request and reads the whole body (with a timeout).
pub async fn send(rb: RequestBuilder) -> Resp {
    let fut = async {
        let r = rb.send().await.expect("request failed");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("reading body failed");
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("request timed out")
}

/// `application/x-www-form-urlencoded` encoding (unreserved kept, space as `+`).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", pct(k), pct(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Sends raw bytes over TCP (for requests reqwest would normalise) and returns the
/// status code and the whole response text (the request must ask for `Connection: close`).
pub async fn raw_http(hub: &Hub, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(hub.authority())
            .await
            .expect("connect");
        s.write_all(request.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        (status, text)
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("raw request timed out")
}

/// Sends a subscription request; the body is read only when the status is not 200
/// (a 200 event stream never ends, so it is dropped right after the head).
pub async fn send_sub(rb: RequestBuilder) -> Resp {
    let fut = async {
        let r = rb.send().await.expect("request failed");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = if status == 200 {
            String::new()
        } else {
            r.text().await.expect("reading body failed")
        };
        Resp {
            status,
            headers,
            body,
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("request timed out")
}
