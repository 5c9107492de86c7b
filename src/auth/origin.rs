//! Origin allow-lists for `publish_origins` and `cors_origins` (protocol.md A-AUTH-6, A-CORS-4).

use thiserror::Error;

/// A configured origin that is not `*`, `null` or `scheme://host[:port]`; holds the entry.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid origin {0:?}: expected *, null or scheme://host[:port] (one * wildcard allowed)")]
pub struct OriginError(pub String);

/// A validated, lower-cased list of allowed origins. Empty = nothing allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginList {
    entries: Vec<String>,
}

impl OriginList {
    /// Validates every entry at startup, so a typo is refused rather than silently never
    /// matching; the first invalid entry is the error.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, OriginError> {
        let entries = entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref();
                if valid_entry(entry) {
                    Ok(entry.to_ascii_lowercase())
                } else {
                    Err(OriginError(entry.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { entries })
    }

    /// No origin configured: no CORS processing at all (A-CORS-1), no cookie publishing (A-AUTH-6).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when `*` is configured (CORS then answers `*` without credentials, A-CORS-5).
    pub fn allows_all(&self) -> bool {
        self.entries.iter().any(|e| e == "*")
    }

    /// Whether `origin` is allowed; `case_insensitive` for CORS, exact for publish origins.
    pub fn allows(&self, origin: &str, case_insensitive: bool) -> bool {
        let lowered;
        let origin = if case_insensitive {
            lowered = origin.to_ascii_lowercase();
            lowered.as_str()
        } else {
            origin
        };
        self.entries
            .iter()
            .any(|entry| match entry.split_once('*') {
                _ if entry == "*" => true,
                Some((prefix, suffix)) => {
                    origin.len() >= prefix.len() + suffix.len()
                        && origin.starts_with(prefix)
                        && origin.ends_with(suffix)
                }
                None => entry == origin,
            })
    }
}

fn valid_entry(entry: &str) -> bool {
    if entry == "*" || entry == "null" {
        return true;
    }
    if entry.matches('*').count() > 1 {
        return false;
    }
    let Some((scheme, rest)) = entry.split_once("://") else {
        return false;
    };
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.' || b == b'*');
    let authority_ok = !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@'])
        && !rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control());
    scheme_ok && authority_ok
}

/// The request origin of a cookie-authenticated POST: `Origin`, else `scheme://host[:port]` of
/// `Referer` (A-AUTH-6). `None` when neither gives one.
pub fn request_origin(origin: Option<&str>, referer: Option<&str>) -> Option<String> {
    if let Some(origin) = origin.filter(|o| !o.is_empty()) {
        return Some(origin.to_owned());
    }
    let url = url::Url::parse(referer?).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_entries() {
        assert!(OriginList::parse(&[
            "*",
            "null",
            "https://a.example.com:8443",
            "https://*.example.com"
        ])
        .is_ok());
        for bad in [
            "example.com",
            "https://a.com/path",
            "https://u@a.com",
            "https://*.*.com",
            "https://",
        ] {
            assert!(OriginList::parse(&[bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn matches_exact_wildcard_and_star() {
        let list = OriginList::parse(&["https://App.example.com", "https://*.example.org"])
            .expect("valid");
        assert!(list.allows("https://app.example.com", false));
        assert!(!list.allows("https://APP.example.com", false));
        assert!(list.allows("https://APP.example.com", true));
        assert!(list.allows("https://x.y.example.org", false));
        assert!(!list.allows("https://example.org", false));
        assert!(!list.allows("http://evil.com", true));
        assert!(OriginList::parse(&["*"])
            .expect("valid")
            .allows("null", false));
    }

    #[test]
    fn origin_falls_back_to_referer() {
        assert_eq!(
            request_origin(Some("https://a.com"), Some("https://b.com/x")).as_deref(),
            Some("https://a.com")
        );
        assert_eq!(
            request_origin(Some(""), Some("https://b.com:8080/x?y")).as_deref(),
            Some("https://b.com:8080")
        );
        assert_eq!(request_origin(None, Some("not a url")), None);
        assert_eq!(request_origin(None, None), None);
    }
}
