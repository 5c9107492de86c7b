//! Hardening: C-HDR-1 security headers, C-HARD-1…9, X-13 form decoding; JWT attacks
//! (C-HARD-6), token sources under attack (A-AUTH-2, A-AUTH-6), oversized bodies however they
//! are framed (C-LIM-1), error bodies and logs that leak nothing (C-HARD-4, C-HARD-9). One file
//! per family; the raw-connection helper two of them share is here.

mod bodies;
mod characters;
mod disclosure;
mod token_attacks;

use crate::harness::{Hub, WAIT};

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
