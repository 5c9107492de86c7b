//! The hub's reserved namespace `/.well-known/mercure` (protocol.md A-PUB-13, B-PUB-3).

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

    #[test]
    fn refusal_escapes_quotes_and_backslashes() {
        assert_eq!(
            refusal("a\"b\\c"),
            "\"a\\\"b\\\\c\": topic value references the reserved \"/.well-known/mercure\" namespace\n"
        );
    }
}
