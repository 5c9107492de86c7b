//! RFC 9728 protected resource metadata (protocol.md B-PRM-1) and its URL for challenges
//! (B-ERR-1, B-ERR-2).

use serde_json::{json, Map, Value};
use url::Url;

use super::grants::MERCURE_DETAIL_TYPE;

/// Where the hub serves its metadata (B-PRM-1): RFC 9728's well-known prefix before the hub
/// path.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/.well-known/mercure";
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What the document says about one hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata<'a> {
    /// The resource identifier (B-TOK-6): configured, or derived for the request.
    pub resource: &'a str,
    /// The issuers flagged `authorization_server` (`Issuers::authorization_servers`).
    pub authorization_servers: Vec<&'a str>,
    /// The 1.0 cookie name (`cookie_name`, default `__Secure-mercure_access_token`, B-AUTH-5).
    pub cookie_name: &'a str,
    /// Whether the subscription events and API are on (`subscriptions`).
    pub subscriptions: bool,
}

/// B-PRM-1: the JSON document. `authorization_servers` is omitted when empty,
/// `mercure_subscriptions` when off, `mercure_matcher_types_supported` always; only the header
/// is listed as a bearer method (the cookie is advertised as `mercure_cookie`).
pub fn protected_resource_metadata(metadata: &ResourceMetadata<'_>) -> Value {
    let mut document = Map::new();
    document.insert("resource".into(), json!(metadata.resource));
    if !metadata.authorization_servers.is_empty() {
        document.insert(
            "authorization_servers".into(),
            json!(metadata.authorization_servers),
        );
    }
    document.insert(
        "authorization_details_types_supported".into(),
        json!([MERCURE_DETAIL_TYPE]),
    );
    document.insert("bearer_methods_supported".into(), json!(["header"]));
    document.insert("mercure_cookie".into(), json!(metadata.cookie_name));
    if metadata.subscriptions {
        document.insert("mercure_subscriptions".into(), Value::Bool(true));
    }
    Value::Object(document)
}

/// RFC 9728 §3.1: the metadata URL of a resource identifier, the well-known prefix inserted
/// between its origin and its path (`https://h/.well-known/mercure` →
/// `https://h/.well-known/oauth-protected-resource/.well-known/mercure`). `None` when `resource`
/// is not an absolute http(s) URL with a host.
pub fn metadata_url(resource: &str) -> Option<String> {
    let url = Url::parse(resource).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let path = url.path().trim_end_matches('/');
    Some(format!("{origin}{WELL_KNOWN}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCE: &str = "https://localhost/.well-known/mercure";

    // B-PRM-1: every member, with and without authorization servers and subscriptions.
    #[test]
    fn document_members() {
        let full = protected_resource_metadata(&ResourceMetadata {
            resource: RESOURCE,
            authorization_servers: vec!["https://as.example", "https://as2.example"],
            cookie_name: "__Secure-mercure_access_token",
            subscriptions: true,
        });
        assert_eq!(
            full,
            json!({
                "resource": RESOURCE,
                "authorization_servers": ["https://as.example", "https://as2.example"],
                "authorization_details_types_supported": ["https://mercure.rocks/authorization-detail"],
                "bearer_methods_supported": ["header"],
                "mercure_cookie": "__Secure-mercure_access_token",
                "mercure_subscriptions": true,
            })
        );
        let bare = protected_resource_metadata(&ResourceMetadata {
            resource: RESOURCE,
            authorization_servers: Vec::new(),
            cookie_name: "custom",
            subscriptions: false,
        });
        let members: Vec<&str> = bare
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            members,
            [
                "authorization_details_types_supported",
                "bearer_methods_supported",
                "mercure_cookie",
                "resource"
            ]
        );
        assert_eq!(bare["mercure_cookie"], "custom");
    }

    // B-PRM-1, B-ERR-2: the metadata URL inserts the well-known prefix before the path.
    #[test]
    fn metadata_urls() {
        assert_eq!(
            metadata_url(RESOURCE).as_deref(),
            Some("https://localhost/.well-known/oauth-protected-resource/.well-known/mercure")
        );
        assert_eq!(
            metadata_url("http://hub.example:8080/.well-known/mercure/?x=1#f").as_deref(),
            Some(
                "http://hub.example:8080/.well-known/oauth-protected-resource/.well-known/mercure"
            )
        );
        assert_eq!(
            metadata_url("https://hub.example:443").as_deref(),
            Some("https://hub.example/.well-known/oauth-protected-resource")
        );
        assert!(metadata_url(RESOURCE).is_some_and(|url| url.ends_with(METADATA_PATH)));
        for bad in [
            "",
            "/.well-known/mercure",
            "urn:x:y",
            "file:///etc",
            "https://",
            "\u{0}",
        ] {
            assert_eq!(metadata_url(bad), None, "{bad:?}");
        }
    }
}
