//! The hub's reserved namespace `/.well-known/mercure` (protocol.md A-PUB-13, B-PUB-3) and the
//! 1.0 subscription-event topics in it (B-SE-2).

use url::Url;

use super::request::MatchType;
use crate::form::escape_component;

const NAMESPACE: &str = "/.well-known/mercure";

/// True when publishing to `topic` could forge hub-generated events.
///
/// The reference's substring test, plus the normalised-path test (dot segments removed,
/// unreserved `%HH` decoded) for absolute URLs and absolute paths. Purely relative topics such
/// as `""` stay publishable, as classic clients expect (A-PUB-3).
pub fn is_reserved(topic: &str) -> bool {
    if !could_name_the_namespace(topic) {
        return false;
    }
    topic.contains(NAMESPACE) || normalised_path(topic).is_some_and(|path| in_namespace(&path))
}

/// B-PUB-3 (1.0 publishes): `topic` resolved against the hub URL with the WHATWG parser, its
/// path — dot segments removed, unreserved `%HH` decoded — is `/.well-known/mercure` or below,
/// whatever the scheme and host. Relative topics count (`""` is the hub URL itself); a topic
/// that does not parse, or whose path is opaque (`urn:…`), is not reserved.
pub fn is_reserved_v1(topic: &str, hub: &Url) -> bool {
    hub.join(topic).is_ok_and(|url| {
        let path = url.path();
        path.starts_with('/') && in_namespace(&remove_dot_segments(&decode_unreserved(path)))
    })
}

/// B-SE-2: the topic of a 1.0 subscription event,
/// `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}`, each variable
/// percent-encoded exactly once as a whole string (an existing `%` included), only
/// `A-Z a-z 0-9 - _ . ~` left as they are.
pub fn subscription_topic_v1(match_type: MatchType, matcher: &str, subscriber: &str) -> String {
    format!(
        "{NAMESPACE}/subscriptions/{}/{}/{}",
        match_type.name(),
        encode_once(matcher),
        encode_once(subscriber)
    )
}

/// Form-style escaping (A-SUBS-4) with the space as `%20`: the form escape writes `+` only
/// for a space (a `+` itself becomes `%2B`), so replacing it afterwards is exact.
fn encode_once(value: &str) -> String {
    escape_component(value).replace('+', "%20")
}

/// Cheap pre-check on every published topic: without `well-known` spelled out, a `%` escape, or
/// the tab and newlines that URL parsing strips, no normalisation can reach the namespace.
fn could_name_the_namespace(topic: &str) -> bool {
    topic.contains("well-known") || topic.contains(['%', '\t', '\n', '\r'])
}

/// The classic 403 body for a reserved topic.
pub fn refusal(topic: &str) -> String {
    let escaped = topic.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\": topic value references the reserved \"{NAMESPACE}\" namespace\n")
}

fn in_namespace(path: &str) -> bool {
    path == NAMESPACE || path.starts_with("/.well-known/mercure/")
}

fn normalised_path(topic: &str) -> Option<String> {
    let absolute = topic.starts_with('/') || url::Url::parse(topic).is_ok();
    if !absolute {
        return None;
    }
    let base = url::Url::parse("http://hub.invalid/.well-known/mercure").ok()?;
    let url = base.join(topic).ok()?;
    Some(remove_dot_segments(&decode_unreserved(url.path())))
}

fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
        match decoded {
            Some(byte) => {
                out.push(byte as char);
                i += 3;
            }
            None => {
                let ch = path[i..].chars().next().unwrap_or_default();
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    out
}

/// RFC 3986 §5.2.4 on a path that starts with `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    for (index, segment) in parts.iter().enumerate() {
        let last = index + 1 == parts.len();
        match *segment {
            "." => {
                if last {
                    segments.push("");
                }
            }
            ".." => {
                segments.pop();
                if last {
                    segments.push("");
                }
            }
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_and_normalised_forms_are_reserved() {
        for topic in [
            "https://example.com/.well-known/mercure/x",
            "/.well-known/mercure/subscriptions/foo",
            "foo/.well-known/mercure/bar",
            "/.well-known/%6Dercure/x",
            "https://example.com/.well-known/%6dercure",
            "/.well-known/mercure/../mercure/x",
            "https://h/a/../.well-known/./mercure/x",
            "/.well-kn\town/mercure/x",
        ] {
            assert!(is_reserved(topic), "{topic}");
        }
    }

    #[test]
    fn ordinary_topics_are_not_reserved() {
        for topic in [
            "",
            "*",
            "mercure",
            "https://example.com/books/1",
            "urn:x:/.well-known",
        ] {
            assert!(!is_reserved(topic), "{topic}");
        }
    }

    fn hub() -> Url {
        Url::parse("https://localhost/.well-known/mercure").expect("hub URL")
    }

    /// B-PUB-3: the normalised path is in the namespace, whatever the scheme and host,
    /// relative topics included.
    #[test]
    fn v1_reserved_topics() {
        for topic in [
            "/.well-known/mercure",
            "/.well-known/mercure/",
            "/.well-known/mercure/subscriptions/exact/a/b",
            "https://other.example/.well-known/mercure/x",
            "ftp://x/.well-known/mercure",
            "mailto:/.well-known/mercure/x",
            "/.well-known/%6Dercure/x",
            "/.well-known/%6dercure",
            "/%2Ewell-known/mercure",
            "/.well-known/mercure/../mercure/x",
            "/a/b/../../.well-known/./mercure/x",
            "/.well-known/mercure/%2E%2E/mercure",
            "/.well-kn\town/mercure/x",
            "HTTPS://LOCALHOST/.well-known/mercure",
            "",
            "?x",
            "#x",
            "mercure/x",
            "./mercure",
            "//evil.example/.well-known/mercure",
        ] {
            assert!(is_reserved_v1(topic, &hub()), "{topic:?}");
        }
    }

    /// B-PUB-3: other paths, opaque paths and topics that do not parse are not reserved.
    #[test]
    fn v1_ordinary_topics() {
        for topic in [
            "https://example.com/books/1",
            "/.well-known/mercurex",
            "/.well-known/Mercure/x",
            "/.well-known/%2Fmercure",
            "/.well-known%2Fmercure",
            "foo",
            "subscriptions/x",
            "urn:x:/.well-known/mercure",
            "urn:x/.well-known/mercure",
            "https://[::1",
            "http://a b/.well-known/mercure",
            "*",
        ] {
            assert!(!is_reserved_v1(topic, &hub()), "{topic:?}");
        }
    }

    /// B-SE-2: each variable is encoded once as a whole string, only unreserved characters
    /// left, the space as `%20`, an existing `%` encoded again.
    #[test]
    fn v1_subscription_topics() {
        assert_eq!(
            subscription_topic_v1(
                MatchType::UrlPattern,
                "https://example.com/books/:id",
                "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6"
            ),
            "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2Fbooks%2F%3Aid/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6"
        );
        assert_eq!(
            subscription_topic_v1(MatchType::Exact, "a b+c%20~._-é/?#*", "s"),
            "/.well-known/mercure/subscriptions/exact/a%20b%2Bc%2520~._-%C3%A9%2F%3F%23%2A/s"
        );
        assert_eq!(
            subscription_topic_v1(MatchType::Exact, "", ""),
            "/.well-known/mercure/subscriptions/exact//"
        );
    }

    #[test]
    fn refusal_escapes_quotes_and_backslashes() {
        assert_eq!(
            refusal("a\"b\\c"),
            "\"a\\\"b\\\\c\": topic value references the reserved \"/.well-known/mercure\" namespace\n"
        );
    }
}
