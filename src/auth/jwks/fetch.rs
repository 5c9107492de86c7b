//! Fetching a JWK Set over https with an SSRF guard (protocol.md C-HARD-6, B-SEC-3):
//! https only; every address the host resolves to must be public (not loopback, private,
//! link-local, shared, multicast or reserved) unless the host is literally `localhost`; the
//! connection goes to the checked address; no redirects; 10 s timeout; at most 1 MiB.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use url::Url;

use super::JwksError;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BYTES: u64 = 1 << 20;

/// [`fetch`] on a thread of its own, so that it also works from inside an async runtime.
pub(super) fn fetch_in_thread(url: &Url) -> Result<String, JwksError> {
    let owned = url.clone();
    std::thread::spawn(move || fetch(&owned))
        .join()
        .unwrap_or_else(|_| Err(error(url, "the fetching thread failed".into())))
}

/// Fetches the document at `url` (blocking; never call it on an async runtime's thread).
pub(super) fn fetch(url: &Url) -> Result<String, JwksError> {
    let (host, addresses) = checked_addresses(url)?;
    let client = reqwest::blocking::Client::builder()
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .resolve_to_addrs(&host, &addresses)
        .build()
        .map_err(|e| error(url, e.to_string()))?;
    let response = client
        .get(url.clone())
        .header("Accept", "application/json")
        .send()
        .map_err(|e| error(url, e.to_string()))?;
    if !response.status().is_success() {
        return Err(error(url, format!("status {}", response.status())));
    }
    let mut body = String::new();
    response
        .take(MAX_BYTES + 1)
        .read_to_string(&mut body)
        .map_err(|e| error(url, e.to_string()))?;
    if body.len() as u64 > MAX_BYTES {
        return Err(error(url, "larger than 1 MiB".into()));
    }
    Ok(body)
}

fn error(url: &Url, reason: String) -> JwksError {
    JwksError::Fetch {
        url: url.to_string(),
        reason,
    }
}

/// The host and the addresses it may be reached at, after the SSRF checks.
pub(super) fn checked_addresses(url: &Url) -> Result<(String, Vec<SocketAddr>), JwksError> {
    if url.scheme() != "https" {
        return Err(error(url, "only https:// URLs are fetched".into()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| error(url, "no host".into()))?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup_host = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = (lookup_host, port)
        .to_socket_addrs()
        .map_err(|e| error(url, format!("cannot resolve {host}: {e}")))?
        .collect();
    if addresses.is_empty() {
        return Err(error(url, format!("{host} has no address")));
    }
    if host != "localhost" {
        if let Some(bad) = addresses.iter().find(|a| !is_public_address(a.ip())) {
            return Err(error(
                url,
                format!("refusing a non-public address ({}) for {host}", bad.ip()),
            ));
        }
    }
    Ok((host, addresses))
}

/// True for globally routable unicast addresses.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || ip.to_ipv4().is_some_and(|v4| !public_v4(v4)))
}
