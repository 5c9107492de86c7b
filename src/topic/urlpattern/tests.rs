use std::time::{Duration, Instant};

use super::*;
use crate::topic::{Matcher, Selector};

const HUB: &str = "https://localhost/.well-known/mercure";

fn hub() -> Url {
    Url::parse(HUB).expect("hub URL")
}

fn matches(pattern: &str, topic: &str) -> bool {
    let matcher = Matcher::default();
    let selector = matcher.url_pattern(pattern, &hub()).expect("compiles");
    matcher.matches(&selector, topic)
}

/// B-MT-4: the WHATWG semantics (search and hash are wildcards when the pattern names neither,
/// hosts are case-insensitive, other components case-sensitive, default ports dropped).
#[test]
fn absolute_patterns_follow_the_standard() {
    let pattern = "https://example.com/books/:id";
    for (topic, expected) in [
        ("https://example.com/books/1", true),
        ("https://example.com/books/1?x=y", true),
        ("https://example.com/books/1#f", true),
        ("https://EXAMPLE.com/books/1", true),
        ("https://example.com:443/books/1", true),
        ("https://example.com/Books/1", false),
        ("https://example.com/books/1/2", false),
        ("https://example.com/books/", false),
        ("http://example.com/books/1", false),
        ("https://example.com:8443/books/1", false),
        ("https://example.org/books/1", false),
        // Percent-encoded forms are compared as they are (no decoding, no IRI normalisation).
        ("https://example.com/b%6Foks/1", false),
    ] {
        assert_eq!(matches(pattern, topic), expected, "{topic}");
    }
}

/// B-MT-4: regex groups, wildcards, optional and repeated groups, non-ASCII paths.
#[test]
fn pattern_syntax() {
    for (pattern, topic, expected) in [
        (
            "https://example.com/books/(\\d+)",
            "https://example.com/books/12",
            true,
        ),
        (
            "https://example.com/books/(\\d+)",
            "https://example.com/books/x",
            false,
        ),
        ("https://example.com/*", "https://example.com/a/b?c#d", true),
        (
            "https://example.com/books/:id?",
            "https://example.com/books",
            true,
        ),
        (
            "https://example.com/books/:id+",
            "https://example.com/books/1/2",
            true,
        ),
        (
            "https://example.com/books/:id.json",
            "https://example.com/books/7.json",
            true,
        ),
        (
            "https://example.com/books/:id.json",
            "https://example.com/books/7.xml",
            false,
        ),
        ("https://*.example.com/x", "https://a.example.com/x", true),
        (
            "https://example.com/books{/:id}?",
            "https://example.com/books",
            true,
        ),
        (
            "https://example.com/books{/:id}?",
            "https://example.com/books/",
            false,
        ),
        (
            "https://example.com/bööks/:id",
            "https://example.com/bööks/1",
            true,
        ),
        (
            "https://example.com/x?q=:v",
            "https://example.com/x?q=1",
            true,
        ),
        (
            "https://example.com/x?q=:v",
            "https://example.com/x?r=1",
            false,
        ),
        ("*://*/*", "mailto:someone", false),
    ] {
        assert_eq!(matches(pattern, topic), expected, "{pattern} {topic}");
    }
}

/// B-MT-5: relative patterns and relative topics are resolved against the hub URL.
#[test]
fn relative_patterns_and_topics_resolve_against_the_base() {
    for (pattern, topic, expected) in [
        ("/books/:id", "/books/1", true),
        ("/books/:id", "https://localhost/books/1", true),
        ("/books/:id", "https://other.example/books/1", false),
        ("https://localhost/books/:id", "/books/1", true),
        ("books/:id", "books/1", true),
        ("books/:id", "/.well-known/books/1", true),
        (
            "/.well-known/mercure/subscriptions/exact/:topic/:subscriber",
            "/.well-known/mercure/subscriptions/exact/a%2Fb/urn%3Auuid%3A1",
            true,
        ),
    ] {
        assert_eq!(matches(pattern, topic), expected, "{pattern} {topic}");
    }
}

/// B-MT-5: the base is always given, as `new URLPattern(pattern, base)` and the reference hub
/// do; by the standard a relative pathname is then joined to the base's path even when the
/// pattern names another scheme, so `urn:*` is `urn:` + `/.well-known/*`.
#[test]
fn the_base_applies_as_in_the_standard() {
    assert!(!matches("urn:example:*", "urn:example:1"));
    assert!(matches("urn:*", "urn:/.well-known/x"));
    assert!(matches("urn://*", "urn://a/b"));
}

/// B-MT-5: the same pattern against two bases is two selectors, compiled and cached apart.
#[test]
fn the_base_is_part_of_the_pattern() {
    let matcher = Matcher::default();
    let a = Url::parse("https://a.example/.well-known/mercure").expect("base");
    let b = Url::parse("https://b.example/.well-known/mercure").expect("base");
    let on_a = matcher.url_pattern("/books/:id", &a).expect("compiles");
    let on_b = matcher.url_pattern("/books/:id", &b).expect("compiles");
    assert!(matcher.matches(&on_a, "https://a.example/books/1"));
    assert!(!matcher.matches(&on_b, "https://a.example/books/1"));
    assert!(matcher.matches(&on_b, "/books/1"));
    assert_eq!(matcher.url_patterns.len(), 2);
    assert_ne!(cache_key("/x", &a), cache_key("/x", &b));
}

/// B-MT-4: a topic that is not a URL reference against the base never matches.
#[test]
fn topics_that_do_not_parse_never_match() {
    for topic in [
        "https://[::1",
        "http://exa mple.com/",
        "https://",
        "http://a:99999/",
    ] {
        assert!(!matches("*://*/*", topic), "{topic}");
        assert!(!matches("https://*", topic), "{topic}");
    }
}

/// B-MT-2: `*` matches every topic, even one that is not a URL; B-MT-3: `exact` is a byte
/// comparison, never a template nor a resolution.
#[test]
fn wildcard_and_exact() {
    let matcher = Matcher::default();
    let any = matcher.url_pattern("*", &hub()).expect("compiles");
    assert!(matches!(any, Selector::Any));
    assert!(matcher.matches(&any, "https://[::1"));
    assert!(matches!(matcher.exact("*"), Selector::Any));
    let exact = matcher.exact("https://example.com/{id}");
    assert!(matches!(exact, Selector::Exact(_)));
    assert!(matcher.matches(&exact, "https://example.com/{id}"));
    assert!(!matcher.matches(&exact, "https://example.com/1"));
    let relative = matcher.exact("/books/1");
    assert!(!matcher.matches(&relative, "https://localhost/books/1"));
    assert!(!matcher.matches(&matcher.exact("https://e.com/A"), "https://e.com/a"));
}

/// B-SUB-6: invalid patterns are refused, with an error for logs.
#[test]
fn invalid_patterns_are_refused() {
    let matcher = Matcher::default();
    for pattern in [
        "/books/(",
        "/books/:",
        "/books/(?<x>a)",
        "/books/(a(?=b))",
        "{",
        "/a/{b",
        "https://exa mple.com/x",
        "/(\\",
        "/(a)(b)(",
        "/(a{2,1})",
    ] {
        assert!(
            matches!(
                matcher.url_pattern(pattern, &hub()),
                Err(PatternError::Invalid(_))
            ),
            "{pattern}"
        );
    }
    let long = format!("/{}", "a".repeat(MAX_PATTERN_BYTES));
    assert!(matches!(
        matcher.url_pattern(&long, &hub()),
        Err(PatternError::TooLong(4097))
    ));
    assert_eq!(matcher.url_patterns.len(), 0, "failures are not cached");
}

/// The compiled pattern lives only in the cache: once evicted it is compiled again.
#[test]
fn patterns_still_match_when_not_cached() {
    let matcher = Matcher::with_budgets(1 << 20, 0, 0);
    let selector = matcher
        .url_pattern("https://example.com/books/:id", &hub())
        .expect("compiles");
    assert_eq!(matcher.url_patterns.len(), 0);
    assert!(matcher.matches(&selector, "https://example.com/books/1"));
    assert!(!matcher.matches(&selector, "https://example.com/books/1/2"));
}

/// A URI template and a URL pattern whose cache keys have the same text do not share cached
/// results (a subscriber could otherwise poison another's routing or grants).
#[test]
fn templates_and_url_patterns_do_not_share_results() {
    let matcher = Matcher::default();
    let base = hub();
    let pattern = matcher.url_pattern("/x/{a}", &base).expect("compiles");
    let Selector::UrlPattern(compiled) = &pattern else {
        panic!("a URL pattern");
    };
    let template = matcher.selector(compiled.key());
    assert!(matches!(template, Selector::Template(_)));
    let topic = format!(
        "{}/x/b",
        &compiled.key()[..compiled.key().len() - "/x/{a}".len()]
    );
    assert!(matcher.matches(&template, &topic));
    assert!(!matcher.matches(&pattern, &topic));
}

/// The matching shortcut gives what `UrlPattern::test` gives.
#[test]
fn component_matching_agrees_with_the_crate() {
    let base = hub();
    let patterns = [
        "https://example.com/books/:id",
        "/books/:id",
        "https://*.example.com/:p*",
        "https://example.com/x?q=:v#:h",
        "https://u\\:p@example.com/*",
        "http://example.com\\:8080/*",
        "urn:example:*",
        "/books/(\\d+)",
    ];
    let topics = [
        "https://example.com/books/1",
        "/books/7",
        "https://a.example.com/b/c",
        "https://example.com/x?q=1#frag",
        "https://u:p@example.com/z",
        "http://example.com:8080/y",
        "urn:example:1",
        "/books/x",
        "mailto:x@example.com",
    ];
    for pattern in patterns {
        let Ok(compiled) = Compiled::compile(pattern, &base) else {
            continue;
        };
        for topic in topics {
            let url = base.join(topic).expect("a URL");
            let expected = compiled
                .0
                .test(urlpattern::UrlPatternMatchInput::Url(url.clone()))
                .expect("tests");
            assert_eq!(compiled.matches(&url), expected, "{pattern} {topic}");
        }
    }
}

/// B-MT-6, C-HARD-7: hostile patterns compile or fail fast, and matching is linear-time.
#[test]
fn hostile_patterns_are_cheap() {
    let base = hub();
    let pad = |unit: &str| unit.repeat(MAX_PATTERN_BYTES / unit.len());
    // A path of at most MAX_PATTERN_BYTES (the units are ASCII).
    let path = |units: &str| format!("/{}", &units[..units.len() - 1]);
    let hostile = [
        pad("("),
        pad(")"),
        pad("{"),
        pad("{}"),
        pad("\\"),
        pad("%"),
        pad("%FF"),
        pad(":"),
        pad("*"),
        pad("?"),
        path(&pad("/:a")),
        path(&pad("{a}?")),
        path(&pad("(a*)*")),
        path(&pad("((a+)+)+")),
        "/(\\w{1000}){1000}".to_owned(),
        "/((((((((((a*)*)*)*)*)*)*)*)*)*)b".to_owned(),
        "/(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)(.*)x".to_owned(),
        "/(\\p{L}{100}){100}".to_owned(),
        format!("https://{}/x", "a.".repeat(2000)),
        format!("https://[{}]/x", "1:".repeat(1000)),
        format!("{}://x/", "a".repeat(4000)),
    ];
    let topics = [
        format!("/{}", "a".repeat(64 << 10)),
        format!("/{}b", "a/".repeat(32 << 10)),
        format!("https://localhost/{}", "é".repeat(16 << 10)),
    ];
    for pattern in &hostile {
        assert!(pattern.len() <= MAX_PATTERN_BYTES, "{}", pattern.len());
        let started = Instant::now();
        let compiled = Compiled::compile(pattern, &base);
        let compiling = started.elapsed();
        assert!(
            compiling < Duration::from_secs(2),
            "{compiling:?} {pattern:.40}"
        );
        let Ok(compiled) = compiled else { continue };
        assert!(compiled.memory_usage() < 64 << 20);
        for topic in &topics {
            let url = base.join(topic).expect("a URL");
            let started = Instant::now();
            compiled.matches(&url);
            let matching = started.elapsed();
            assert!(
                matching < Duration::from_secs(1),
                "{matching:?} {pattern:.40}"
            );
        }
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn piece() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "a", "/", ":", ":id", "*", "(", ")", "{", "}", "?", "+", "\\", "%", "%41", "%FF", "#",
            "@", "[", "]", ".", "é", "\u{202E}", "https://", "//", "\\d", "(.*)", "{a}?", "::",
        ])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// C-HARD-4: any pattern compiles or is refused, and any topic matches or not: no
        /// panic, whatever the bytes.
        #[test]
        fn never_panics(
            pattern in prop::collection::vec(piece(), 0..24),
            topic in prop::collection::vec(piece(), 0..24),
        ) {
            let matcher = Matcher::default();
            let base = hub();
            if let Ok(selector) = matcher.url_pattern(&pattern.concat(), &base) {
                matcher.matches(&selector, &topic.concat());
            }
        }
    }
}

/// B-AD-3: a token's grant is checked once, against a fixed base; the verdict is the one any
/// hub URL would give (relative and absolute patterns, other schemes, ports, IPv6 hosts).
#[test]
fn the_grant_check_agrees_with_every_hub_base() {
    let bases = [
        HUB,
        "http://localhost:8080/.well-known/mercure",
        "https://[::1]:8443/.well-known/mercure",
        "https://user-less.example.com/prefix/.well-known/mercure",
    ]
    .map(|base| Url::parse(base).expect("base"));
    let matcher = Matcher::default();
    for pattern in [
        "*",
        "https://example.com/books/:id",
        "/books/:id",
        "books/:id",
        "urn:*",
        "https://*.example.com/x?q=:v#*",
        "/books/(\\d+)",
        "/books/(",
        "/books/:",
        "{",
        "https://exa mple.com/x",
        "/(a{2,1})",
        "\u{0}",
        "%",
        "http://[::1/x",
    ] {
        let verdict = check_url_pattern(pattern).is_ok();
        for base in &bases {
            assert_eq!(
                matcher.url_pattern(pattern, base).is_ok(),
                verdict,
                "{pattern} against {base}"
            );
        }
    }
    let long = format!("/{}", "a".repeat(MAX_PATTERN_BYTES));
    assert!(matches!(
        check_url_pattern(&long),
        Err(PatternError::TooLong(_))
    ));
}
