//! Whom the hub believes and whom it answers: `trusted_proxies`, the reverse proxies whose
//! forwarding headers count, and `public_urls`, the origins a request may be for
//! (../shared/design.md "Configuration names").

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use thiserror::Error;
use url::Url;

/// A `trusted_proxies` entry that is neither an IP address nor a CIDR range; holds the entry.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("trusted_proxies: {0:?} is neither an IP address nor a CIDR range (e.g. 10.0.0.7, 10.0.0.0/8, fd00::/8)")]
pub struct ProxyError(pub String);

/// A `public_urls` entry that is not a `scheme://host[:port]` origin.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("public_urls: {entry:?} is not an origin ({reason}); write scheme://host[:port], e.g. https://hub.example.com")]
pub struct PublicUrlError {
    /// The entry as configured.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The reverse proxies whose `Forwarded` and `X-Forwarded-*` headers are believed. Empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<IpNet>,
}

impl TrustedProxies {
    /// Reads addresses (a range of one) and CIDR ranges.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, ProxyError> {
        let ranges = entries
            .iter()
            .map(|entry| {
                let text = entry.as_ref().trim();
                IpNet::from_str(text)
                    .map(|range| canonical_range(range.trunc()))
                    .or_else(|_| IpAddr::from_str(text).map(|ip| IpNet::from(ip.to_canonical())))
                    .map_err(|_| ProxyError(entry.as_ref().to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { ranges })
    }

    /// True when no proxy is trusted: forwarding headers are then ignored.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether a peer at `address` is a trusted proxy. An IPv4 peer seen on an IPv6 socket
    /// (`::ffff:10.0.0.7`) is its IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.ranges.iter().any(|range| range.contains(&address))
    }
}

/// `::ffff:10.0.0.0/104` is `10.0.0.0/8`, so that it matches canonical peer addresses.
fn canonical_range(range: IpNet) -> IpNet {
    match range {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => IpNet::new(IpAddr::V4(v4), v6.prefix_len() - 96).unwrap_or(range),
            None => range,
        },
        _ => range,
    }
}

/// The origins the hub answers for (another origin → 421). Empty: any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicUrls {
    /// ASCII-serialized origins: lower-case host, default port left out.
    origins: Vec<String>,
}

impl PublicUrls {
    /// Reads `scheme://host[:port]` entries (`http` or `https`; a trailing `/` is allowed).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, PublicUrlError> {
        let origins = entries
            .iter()
            .map(|entry| origin_of(entry.as_ref()))
            .collect::<Result<_, _>>()?;
        Ok(Self { origins })
    }

    /// True when no origin is configured: every request is for this hub.
    pub fn allows_any(&self) -> bool {
        self.origins.is_empty()
    }

    /// The configured origins, normalized (`https://hub.example.com`), in configuration order.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// Whether a request for `scheme://host` is for this hub; `host` as a `Host` header or a
    /// forwarded host writes it, with its port when it has one. A host that does not parse is
    /// refused (unless any origin is allowed).
    pub fn allows(&self, scheme: &str, host: &str) -> bool {
        if self.allows_any() {
            return true;
        }
        let Ok(url) = Url::parse(&format!("{scheme}://{host}")) else {
            return false;
        };
        let origin = url.origin().ascii_serialization();
        // The host must be the whole authority: `a.com/x` or `a.com?x` is not a host.
        url.path() == "/" && url.query().is_none() && self.origins.contains(&origin)
    }
}

fn origin_of(entry: &str) -> Result<String, PublicUrlError> {
    let error = |reason| PublicUrlError {
        entry: entry.to_owned(),
        reason,
    };
    let url = Url::parse(entry.trim()).map_err(|_| error("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(error("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(error("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(error("user information is not allowed"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(error("an origin has no path, query or fragment"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn proxies_are_addresses_and_ranges() {
        let proxies = TrustedProxies::parse(&[
            "10.0.0.0/8",
            " 192.168.1.7 ",
            "fd00::/8",
            "::1",
            "10.1.2.3/16",
        ])
        .expect("valid");
        for inside in [
            "10.200.0.1",
            "192.168.1.7",
            "fd12::1",
            "::1",
            "::ffff:10.0.0.9",
        ] {
            assert!(proxies.contains(ip(inside)), "{inside}");
        }
        for outside in [
            "11.0.0.1",
            "192.168.1.8",
            "fe80::1",
            "127.0.0.1",
            "::ffff:11.0.0.1",
        ] {
            assert!(!proxies.contains(ip(outside)), "{outside}");
        }
        let mapped =
            TrustedProxies::parse(&["::ffff:10.0.0.0/104", "::ffff:1.2.3.4"]).expect("valid");
        assert!(mapped.contains(ip("10.9.9.9")) && mapped.contains(ip("1.2.3.4")));
        assert!(TrustedProxies::parse::<&str>(&[])
            .expect("empty")
            .is_empty());
        assert!(!TrustedProxies::default().contains(ip("127.0.0.1")));
    }

    /// A bad entry is a startup error naming it (C-ENV-4).
    #[test]
    fn bad_cidr_is_refused() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0",
            "localhost",
            "",
            "fd00::/129",
            "10.0.0.0/-1",
            "1.2.3.4/8/8",
            "\u{0}",
        ] {
            let error = TrustedProxies::parse(&[bad]).expect_err(bad);
            assert_eq!(error, ProxyError(bad.to_owned()));
            assert!(error.to_string().starts_with("trusted_proxies: "));
        }
    }

    #[test]
    fn public_urls_are_normalized_origins() {
        let urls = PublicUrls::parse(&[
            "https://Hub.Example.com",
            "http://localhost:3000/",
            "https://h.example.com:443",
        ])
        .expect("valid");
        assert_eq!(
            urls.origins(),
            [
                "https://hub.example.com",
                "http://localhost:3000",
                "https://h.example.com"
            ]
        );
        assert!(urls.allows("https", "HUB.example.com"));
        assert!(urls.allows("https", "hub.example.com:443"));
        assert!(urls.allows("http", "localhost:3000"));
        assert!(
            !urls.allows("http", "hub.example.com"),
            "the scheme is pinned"
        );
        assert!(!urls.allows("http", "localhost:3001"));
        assert!(!urls.allows("https", "evil.example.com"));
        for hostile in [
            "hub.example.com/x",
            "hub.example.com?x",
            "",
            "a b",
            "hub.example.com@evil.com",
            "\u{0}",
        ] {
            assert!(!urls.allows("https", hostile), "{hostile:?}");
        }
        let any = PublicUrls::parse::<&str>(&[]).expect("empty");
        assert!(any.allows_any() && any.allows("http", "anything"));
    }

    /// A bad origin is a startup error naming it (C-ENV-4).
    #[test]
    fn bad_origin_is_refused() {
        for bad in [
            "hub.example.com",
            "https://hub.example.com/.well-known/mercure",
            "https://u:p@hub.example.com",
            "ftp://hub.example.com",
            "https://hub.example.com?x",
            "https://hub.example.com#x",
            "*",
            "",
        ] {
            let error = PublicUrls::parse(&[bad]).expect_err(bad);
            assert_eq!(error.entry, bad);
            assert!(error.to_string().starts_with("public_urls: "), "{error}");
        }
    }
}
