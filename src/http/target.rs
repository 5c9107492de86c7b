//! Whom a request is from and which hub it is for (protocol.md B-TOK-6, B-MT-5, B-PRM-1,
//! C-LIM-3): the client address and the scheme and host the client used — read from
//! `Forwarded` / `X-Forwarded-*` only when the direct peer is in `trusted_proxies` — and from
//! them the resource identifier (the `aud` of 1.0 tokens), the base URL of relative patterns, the
//! protected resource metadata URL, and the `public_urls` check (421).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use actix_web::http::header;
use actix_web::HttpRequest;
use url::Url;

use crate::auth::metadata::metadata_url;
use crate::settings::{Settings, TrustedProxies};
use crate::topic::request::base_url;

/// Most forwarding elements read from one request: a longer chain is hostile or broken, and
/// its oldest hops are not worth the work.
const MAX_HOPS: usize = 64;

/// Why a request cannot be served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TargetError {
    /// The origin is not one of `public_urls` (421).
    Misdirected,
    /// No usable host to derive the resource identifier from (400).
    BadHost,
}

/// The trusted-proxy-aware view of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RequestTarget {
    /// The client's address: the peer, or the first untrusted hop it forwarded for.
    pub client: Option<IpAddr>,
    /// The resource identifier (B-TOK-6): configured, else derived from scheme and host.
    pub resource: String,
    /// The base URL of relative patterns and topics (B-MT-5).
    pub base: Url,
    /// Where the metadata of `resource` is served, when the hub serves it (B-PRM-1, X-11).
    pub metadata_url: Option<String>,
}

impl RequestTarget {
    pub(super) fn of(request: &HttpRequest, settings: &Settings) -> Result<Self, TargetError> {
        let peer = request.peer_addr().map(|address| address.ip());
        let forwarded = Forwarded::read(request, peer, &settings.requests.trusted_proxies);
        let scheme = forwarded
            .proto
            .unwrap_or_else(|| direct_scheme(request, settings));
        // A client that names no usable host (HTTP/1.0 without `Host`, a hostile value) is
        // not refused for it: classic requests never needed one. The listener's own address
        // stands in, so only what depends on the identifier (1.0 `aud`) can fail.
        let host = forwarded
            .host
            .or_else(|| direct_host(request))
            .unwrap_or_default();
        let derived = Derived::memoized(&scheme, &host, settings)
            .or_else(|| {
                // A client that names no usable host (HTTP/1.0 without `Host`, a hostile
                // value) is not refused for it: classic requests never needed one. The
                // listener's own address stands in, so only what depends on the identifier
                // (1.0 `aud`) can fail.
                let listener = request.app_config().local_addr().to_string();
                Derived::memoized(&scheme, &listener, settings)
            })
            .ok_or(TargetError::BadHost)?;
        if !settings.requests.public_urls.allows(&scheme, &derived.host) {
            return Err(TargetError::Misdirected);
        }
        Ok(Self {
            client: forwarded.client.or(peer),
            resource: derived.resource.clone(),
            base: derived.base.clone(),
            metadata_url: derived.metadata_url.clone(),
        })
    }
}

/// What a scheme and host make of the hub: a few URL parses (with IDNA host processing), the
/// same for nearly every request of a deployment, so each worker thread keeps the last one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Derived {
    scheme: String,
    host: String,
    /// What of the settings the rest depends on.
    configured: Option<String>,
    metadata: bool,
    base: Url,
    resource: String,
    metadata_url: Option<String>,
}

thread_local! {
    /// One entry: bounded whatever hosts clients name, and hit by every request of a
    /// deployment reached under one name.
    static LAST_DERIVED: std::cell::RefCell<Option<std::rc::Rc<Derived>>> =
        const { std::cell::RefCell::new(None) };
}

impl Derived {
    /// `None` when `host` does not make a URL with `scheme`.
    fn memoized(scheme: &str, host: &str, settings: &Settings) -> Option<std::rc::Rc<Derived>> {
        let configured = settings.auth.resource_identifier.as_deref();
        let metadata = serves_metadata(settings);
        let hit = LAST_DERIVED.with_borrow(|last| {
            last.as_ref()
                .filter(|d| {
                    d.scheme == scheme
                        && d.host == host
                        && d.configured.as_deref() == configured
                        && d.metadata == metadata
                })
                .cloned()
        });
        if hit.is_some() {
            return hit;
        }
        let derived = std::rc::Rc::new(Self::compute(scheme, host, configured, metadata)?);
        LAST_DERIVED.set(Some(derived.clone()));
        Some(derived)
    }

    fn compute(scheme: &str, host: &str, configured: Option<&str>, metadata: bool) -> Option<Self> {
        let derived = base_url(None, scheme, host)?;
        let configured_url = configured.and_then(|text| Url::parse(text).ok());
        let base = match &configured_url {
            Some(url) => base_url(Some(url), scheme, host)?,
            None => derived.clone(),
        };
        let resource = match configured {
            Some(configured) => configured.to_owned(),
            None => String::from(derived),
        };
        let metadata_url = metadata.then(|| metadata_url(&resource)).flatten();
        Some(Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            configured: configured.map(str::to_owned),
            metadata,
            base,
            resource,
            metadata_url,
        })
    }
}

/// Whether a request is for an origin outside `public_urls` (421), for the handlers that need
/// nothing else of its target. A request without a usable host is left to them.
pub(super) fn misdirected(request: &HttpRequest, settings: &Settings) -> bool {
    !settings.requests.public_urls.allows_any()
        && RequestTarget::of(request, settings) == Err(TargetError::Misdirected)
}

/// B-PRM-1: the metadata is served whenever a 1.0 token can be verified: an `[[issuer]]` or a
/// `trusted_issuers` id bound to the top-level keys.
pub(super) fn serves_metadata(settings: &Settings) -> bool {
    settings.auth.issuers.has_issuers()
}

/// The scheme of the connection itself.
fn direct_scheme(request: &HttpRequest, settings: &Settings) -> String {
    let tls = settings.listener.tls.is_some();
    request
        .uri()
        .scheme_str()
        .unwrap_or(if tls { "https" } else { "http" })
        .to_owned()
}

/// The `Host` header, else the HTTP/2 `:authority`.
fn direct_host(request: &HttpRequest) -> Option<String> {
    request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()))
        .filter(|host| !host.is_empty())
}

/// What trusted proxies said about the request.
#[derive(Debug, Default, PartialEq, Eq)]
struct Forwarded {
    client: Option<IpAddr>,
    proto: Option<String>,
    host: Option<String>,
}

impl Forwarded {
    /// Nothing unless `peer` is a trusted proxy. RFC 7239 `Forwarded` wins over the
    /// `X-Forwarded-*` headers when present.
    fn read(request: &HttpRequest, peer: Option<IpAddr>, proxies: &TrustedProxies) -> Self {
        if !peer.is_some_and(|peer| proxies.contains(peer)) {
            return Self::default();
        }
        let all = |name| {
            request
                .headers()
                .get_all(name)
                .filter_map(|value| value.to_str().ok())
                .collect::<Vec<&str>>()
                .join(",")
        };
        let forwarded = all(header::FORWARDED);
        if !forwarded.trim().is_empty() {
            return from_forwarded(&forwarded, proxies);
        }
        let first = |name| {
            let joined = all(name);
            joined
                .split(',')
                .map(str::trim)
                .find(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Self {
            client: client_from_chain(
                all(header::X_FORWARDED_FOR)
                    .split(',')
                    .map(|hop| node_address(hop.trim())),
                proxies,
            ),
            proto: first(header::X_FORWARDED_PROTO).and_then(|p| scheme(&p)),
            host: first(header::X_FORWARDED_HOST),
        }
    }
}

/// RFC 7239: walking from the nearest hop, trusted proxies are skipped; the first other hop is
/// the client, and its element says how the client reached the edge proxy.
fn from_forwarded(value: &str, proxies: &TrustedProxies) -> Forwarded {
    let elements: Vec<Vec<(String, String)>> = value
        .split(',')
        .rev()
        .filter(|element| !element.trim().is_empty())
        .take(MAX_HOPS)
        .map(forwarded_pairs)
        .collect();
    let get = |element: &[(String, String)], name: &str| {
        element
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    let edge = elements
        .iter()
        .position(|element| {
            !get(element, "for")
                .and_then(|node| node_address(&node))
                .is_some_and(|address| proxies.contains(address))
        })
        .or(elements.len().checked_sub(1));
    let Some(element) = edge.and_then(|index| elements.get(index)) else {
        return Forwarded::default();
    };
    Forwarded {
        client: get(element, "for").and_then(|node| node_address(&node)),
        proto: get(element, "proto").and_then(|p| scheme(&p)),
        host: get(element, "host").filter(|h| !h.is_empty()),
    }
}

/// The `name=value` pairs of one element, quoted values unquoted (`\` escapes dropped).
fn forwarded_pairs(element: &str) -> Vec<(String, String)> {
    element
        .split(';')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let value = value.trim();
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(quoted) => quoted.replace('\\', ""),
                None => value.to_owned(),
            };
            Some((name.trim().to_owned(), value))
        })
        .collect()
}

/// From the nearest hop backwards, the first address that is not a trusted proxy.
fn client_from_chain(
    hops: impl DoubleEndedIterator<Item = Option<IpAddr>>,
    proxies: &TrustedProxies,
) -> Option<IpAddr> {
    hops.rev()
        .take(MAX_HOPS)
        .map_while(|hop| hop)
        .find(|address| !proxies.contains(*address))
}

/// An RFC 7239 node (`192.0.2.7`, `192.0.2.7:80`, `[2001:db8::1]:80`, `2001:db8::1`) as an
/// address; `unknown` and obfuscated identifiers are none.
fn node_address(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(address) = IpAddr::from_str(node) {
        return Some(address);
    }
    if let Ok(socket) = SocketAddr::from_str(node) {
        return Some(socket.ip());
    }
    let bracketed = node.strip_prefix('[')?;
    IpAddr::from_str(bracketed.split(']').next()?).ok()
}

/// Only `http` and `https` are schemes a hub is reached by.
fn scheme(value: &str) -> Option<String> {
    let lower = value.trim().to_ascii_lowercase();
    matches!(lower.as_str(), "http" | "https").then_some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list).expect("proxies")
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    // B-TOK-6, C-LIM-3: RFC 7239 nodes with and without ports, brackets and quotes.
    #[test]
    fn nodes() {
        assert_eq!(node_address("192.0.2.7"), Some(ip("192.0.2.7")));
        assert_eq!(node_address("192.0.2.7:8080"), Some(ip("192.0.2.7")));
        assert_eq!(
            node_address("\"[2001:db8::1]:80\""),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(node_address("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(node_address("2001:db8::1"), Some(ip("2001:db8::1")));
        for bad in ["unknown", "_hidden", "", "[", "[]", "]:1", "1.2.3", "\u{0}"] {
            assert_eq!(node_address(bad), None, "{bad:?}");
        }
    }

    // B-TOK-6: the element of the first untrusted hop decides; trusted hops are skipped.
    #[test]
    fn forwarded_walks_back_over_trusted_hops() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let single = from_forwarded("proto=https;host=hub.example.org", &trusted);
        assert_eq!(
            single,
            Forwarded {
                client: None,
                proto: Some("https".into()),
                host: Some("hub.example.org".into()),
            }
        );
        let chain = from_forwarded(
            "for=198.51.100.1;proto=http;host=evil.example, \
             for=203.0.113.9;proto=https;host=\"hub.example.org\", for=10.0.0.2;host=inner",
            &trusted,
        );
        assert_eq!(chain.client, Some(ip("203.0.113.9")));
        assert_eq!(chain.host.as_deref(), Some("hub.example.org"));
        assert_eq!(chain.proto.as_deref(), Some("https"));
        let spoofed = from_forwarded("for=10.0.0.9;host=spoofed, for=203.0.113.9", &trusted);
        assert_eq!(spoofed.client, Some(ip("203.0.113.9")));
        assert_eq!(
            spoofed.host, None,
            "an untrusted hop's claims are not read past"
        );
        let all_trusted = from_forwarded("for=10.0.0.1;host=a, for=10.0.0.2;host=b", &trusted);
        assert_eq!(all_trusted.host.as_deref(), Some("a"), "the oldest hop");
        assert_eq!(
            from_forwarded("proto=gopher", &trusted).proto,
            None,
            "only http(s)"
        );
    }

    // C-LIM-3: X-Forwarded-For from the nearest hop, trusted proxies skipped.
    #[test]
    fn forwarded_for_chain() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let chain = |text: &str| {
            client_from_chain(
                text.split(',').map(|hop| node_address(hop.trim())),
                &trusted,
            )
        };
        assert_eq!(
            chain("198.51.100.1, 203.0.113.9, 10.0.0.2"),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(chain("10.0.0.1, 10.0.0.2"), None);
        assert_eq!(
            chain("garbage, 10.0.0.2"),
            None,
            "an unreadable hop ends the walk"
        );
        assert_eq!(chain(""), None);
    }

    fn settings(config: impl FnOnce(&mut crate::config::Config)) -> Settings {
        let mut base = crate::config::Config {
            publisher_jwt_key: Some(crate::config::DEVELOPMENT_KEY.into()),
            subscriber_jwt_key: Some(crate::config::DEVELOPMENT_KEY.into()),
            ..crate::config::Config::default()
        };
        config(&mut base);
        Settings::try_from(&base).expect("settings")
    }

    fn request(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut builder = actix_web::test::TestRequest::get()
            .uri("/.well-known/mercure")
            .peer_addr(peer.parse().expect("peer"));
        for (name, value) in headers {
            builder = builder.insert_header((*name, *value));
        }
        builder.to_http_request()
    }

    const FORWARDING: [(&str, &str); 4] = [
        ("Host", "127.0.0.1:3000"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "hub.example.org"),
        ("X-Forwarded-For", "198.51.100.7, 10.0.0.2"),
    ];

    // B-TOK-6, B-PRM-1, C-LIM-3: forwarding headers count only from trusted proxies.
    #[test]
    fn derived_from_trusted_proxies_only() {
        let trusting =
            settings(|c| c.trusted_proxies = vec!["127.0.0.1/32".into(), "10.0.0.0/8".into()]);
        let target =
            RequestTarget::of(&request("127.0.0.1:5000", &FORWARDING), &trusting).expect("target");
        assert_eq!(
            target.resource,
            "https://hub.example.org/.well-known/mercure"
        );
        assert_eq!(target.base.as_str(), target.resource);
        assert_eq!(target.client, Some(ip("198.51.100.7")));
        assert_eq!(
            target.metadata_url.as_deref(),
            Some(
                "https://hub.example.org/.well-known/oauth-protected-resource/.well-known/mercure"
            )
        );
        let untrusting = settings(|_| {});
        let target = RequestTarget::of(&request("127.0.0.1:5000", &FORWARDING), &untrusting)
            .expect("target");
        assert_eq!(target.resource, "http://127.0.0.1:3000/.well-known/mercure");
        assert_eq!(target.client, Some(ip("127.0.0.1")));
        let outside =
            RequestTarget::of(&request("192.0.2.1:5000", &FORWARDING), &trusting).expect("target");
        assert_eq!(outside.client, Some(ip("192.0.2.1")), "an untrusted peer");
    }

    // B-TOK-6, B-MT-5: a configured resource identifier is the audience and the base URL.
    #[test]
    fn configured_resource_identifier() {
        let ri = "https://hub.example.com/.well-known/mercure";
        let configured = settings(|c| c.resource_identifier = Some(ri.into()));
        let target = RequestTarget::of(&request("127.0.0.1:5000", &[("Host", "x:1")]), &configured)
            .expect("target");
        assert_eq!((target.resource.as_str(), target.base.as_str()), (ri, ri));
    }

    // public_urls: another origin → 421; no usable host: the listener's address stands in, so
    // a classic request is not refused for it.
    #[test]
    fn misdirected_and_bad_hosts() {
        let public = settings(|c| c.public_urls = vec!["https://hub.example.com".into()]);
        let at = |host: &str| request("127.0.0.1:5000", &[("Host", host)]);
        assert_eq!(
            RequestTarget::of(&at("evil.example"), &public),
            Err(TargetError::Misdirected)
        );
        assert!(misdirected(&at("evil.example"), &public));
        assert!(!misdirected(&at("evil.example"), &settings(|_| {})));
        let any = settings(|_| {});
        for bad in ["a/b", "a@b", "a b", "[", ""] {
            let target = RequestTarget::of(&at(bad), &any).expect("served");
            assert!(
                !target.resource.contains(bad) || bad.is_empty(),
                "{bad:?} gave {}",
                target.resource
            );
        }
    }

    // R-BOUND: hostile forwarding headers never panic and stay bounded.
    #[test]
    fn hostile_headers() {
        let trusted = proxies(&["0.0.0.0/0", "::/0"]);
        let long = "for=10.0.0.1;host=x,".repeat(10_000);
        let read = from_forwarded(&long, &trusted);
        assert_eq!(read.host.as_deref(), Some("x"));
        for hostile in [
            ";;;",
            "=",
            "for=\"",
            "host=\"\"",
            ",,,",
            "for=[::1",
            "\u{0}=\u{0}",
        ] {
            let _ = from_forwarded(hostile, &trusted);
        }
    }
}
