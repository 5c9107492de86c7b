//! What a request says about the hub it reached: the resource identifier a 1.0 token must name
//! (B-TOK-6), the base URL relative topics and patterns resolve against (B-MT-5, B-PUB-3), and
//! the protected resource metadata URL its challenges point at (X-11, B-PRM-1). Forwarding
//! headers count only from a trusted proxy.

use actix_web::http::header;
use actix_web::HttpRequest;
use url::Url;

use super::respond::Refusal;
use super::AppState;
use crate::auth::{metadata, Refused, TokenError};
use crate::topic::request::base_url;

/// The hub as one request sees it.
pub(super) struct RequestResource {
    /// The configured `resource_identifier`, else `<scheme>://<host>/.well-known/mercure`;
    /// empty when the request's host does not make a URL (no 1.0 token can then name it).
    pub identifier: String,
    /// `None` when the request's host does not make a URL.
    pub base: Option<Url>,
    /// Set when the hub serves protected resource metadata (it knows a 1.0 issuer).
    pub metadata_url: Option<String>,
}

impl RequestResource {
    pub(super) fn of(request: &HttpRequest, state: &AppState) -> Self {
        let auth = &state.settings.auth;
        let configured = auth.resource_identifier.as_deref();
        let (scheme, host) = scheme_and_host(request, state);
        let base = base_url(
            configured.and_then(|c| Url::parse(c).ok()).as_ref(),
            scheme,
            &host,
        );
        let derived = || {
            Url::parse(&format!("{scheme}://{host}{}", super::HUB_PATH))
                .map(String::from)
                .unwrap_or_default()
        };
        let identifier = configured.map_or_else(derived, str::to_owned);
        let metadata_url = auth
            .issuers
            .has_issuers()
            .then(|| metadata::metadata_url(&identifier))
            .flatten();
        Self {
            identifier,
            base,
            metadata_url,
        }
    }

    /// a refused token answered in its dialect (B-ERR), pointing at the metadata.
    pub(super) fn refusal(&self, refused: &Refused) -> Refusal {
        tracing::info!(reason = %refused.error, "token refused");
        Refusal::Challenged(
            refused
                .to_challenge()
                .resource_metadata(self.metadata_url.as_deref()),
        )
    }

    /// X-11, B-ERR-4: 403 `insufficient_scope` for a valid token without the needed grant.
    pub(super) fn insufficient_scope(&self, why: &'static str) -> Refusal {
        self.refusal(&Refused {
            error: TokenError::InsufficientScope(why),
            dialect: crate::auth::Dialect::Classic,
        })
    }
}

/// B-TOK-6: the scheme and host of the request, from `Forwarded` (first element) or
/// `X-Forwarded-Proto`/`X-Forwarded-Host` when the peer is a trusted proxy, else from the
/// connection and the `Host` header (HTTP/2: the URI's authority).
fn scheme_and_host(request: &HttpRequest, state: &AppState) -> (&'static str, String) {
    let trusted = request
        .peer_addr()
        .is_some_and(|peer| state.settings.requests.trusted_proxies.contains(peer.ip()));
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let forwarded = trusted.then(|| header("forwarded")).flatten();
    let forwarded_param = |name| forwarded.and_then(|f| forwarded_param(f, name));
    let proto = trusted
        .then(|| forwarded_param("proto").or_else(|| first(header("x-forwarded-proto"))))
        .flatten();
    let scheme = match proto.map(str::to_ascii_lowercase).as_deref() {
        Some("https") => "https",
        Some("http") => "http",
        _ if request.app_config().secure() => "https",
        _ => "http",
    };
    let host = trusted
        .then(|| forwarded_param("host").or_else(|| first(header("x-forwarded-host"))))
        .flatten()
        .or_else(|| header(header::HOST.as_str()))
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    (scheme, host)
}

/// The first value of a comma-separated header.
fn first(value: Option<&str>) -> Option<&str> {
    value
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// RFC 7239: `name` of the first element of a `Forwarded` header, unquoted.
fn forwarded_param<'a>(forwarded: &'a str, name: &str) -> Option<&'a str> {
    forwarded
        .split(',')
        .next()?
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    // B-TOK-6: RFC 7239 parameters of the first element only, quoted or not; hostile input is
    // no parameter.
    #[test]
    fn forwarded_parameters() {
        let f = "for=1.2.3.4;Proto=https;host=\"hub.example.org\", host=evil";
        assert_eq!(forwarded_param(f, "proto"), Some("https"));
        assert_eq!(forwarded_param(f, "host"), Some("hub.example.org"));
        assert_eq!(forwarded_param("host=", "host"), None);
        for hostile in ["", ";;;", "=", "host", ",,", "\"", "host=\""] {
            assert_eq!(forwarded_param(hostile, "host"), None, "{hostile:?}");
        }
        assert_eq!(first(Some(" a , b")), Some("a"));
        assert_eq!(first(Some(",b")), None);
    }
}
