//! Selector matching against the reference test vectors (A-SEL-4), and the caches' bounds.

use super::*;

/// protocol.md A-SEL-4, every row.
const VECTORS: &[(&str, &str, bool)] = &[
    (
        "https://example.com/books/{id}",
        "https://example.com/books/1",
        true,
    ),
    (
        "https://example.com/books/{id}",
        "https://example.com/books/",
        true,
    ),
    (
        "https://example.com/books/{id}",
        "https://example.com/books/a%20b",
        true,
    ),
    (
        "https://example.com/books/{id}",
        "https://example.com/books/1,2",
        true,
    ),
    (
        "https://example.com/books/{id}",
        "https://example.com/books/1/2",
        false,
    ),
    (
        "https://example.com/books/{id}",
        "https://example.com/books/1?x=y",
        false,
    ),
    (
        "https://example.com/books/{id}",
        "https://example.com/books/a=b",
        false,
    ),
    (
        "https://example.com/books/{id}",
        "https://example.com/books/é",
        false,
    ),
    (
        "https://example.com/{id}/bar",
        "https://example.com/foo/bar/baz",
        false,
    ),
    (
        "https://example.com/{fistname}/{lastname}",
        "https://example.com/kevin/dunglas",
        true,
    ),
    (
        "https://example.com/{+path}",
        "https://example.com/a/b?c=d#e",
        true,
    ),
    (
        "https://example.com/{+path}",
        "https://example.com/a b",
        false,
    ),
    (
        "https://example.com/books{/segments*}",
        "https://example.com/books",
        true,
    ),
    (
        "https://example.com/books{/segments*}",
        "https://example.com/books/a/b/c",
        true,
    ),
    (
        "https://example.com/books{/a,b}",
        "https://example.com/books/x/y",
        true,
    ),
    (
        "https://example.com/books{/a,b}",
        "https://example.com/books/x/y/z",
        false,
    ),
    (
        "https://example.com/file{.ext}",
        "https://example.com/file.tar.gz",
        true,
    ),
    (
        "https://example.com/search{?q}",
        "https://example.com/search",
        true,
    ),
    (
        "https://example.com/search{?q}",
        "https://example.com/search?anything=x",
        true,
    ),
    (
        "https://example.com/search{?q}",
        "https://example.com/search?q=x&r=y",
        false,
    ),
    (
        "https://example.com/search{?q,r}",
        "https://example.com/search?q=1&r=2",
        true,
    ),
    (
        "https://example.com/search{?list*}",
        "https://example.com/search?a=1&b=2&c=3",
        true,
    ),
    (
        "https://example.com/x{;p}",
        "https://example.com/x;zzz",
        true,
    ),
    (
        "https://example.com/page{#frag}",
        "https://example.com/page#a/b",
        true,
    ),
    (
        "https://example.com/{var:3}",
        "https://example.com/abcdef",
        true,
    ),
    (
        "https://example.com/users/foo/{?topic}",
        "https://example.com/users/foo/?topic=https%3A%2F%2Fexample.com%2Fbooks%2F1",
        true,
    ),
    (
        "{scheme}://{+host}/demo/books/{id}.jsonld",
        "https://localhost:8080/demo/books/1.jsonld",
        true,
    ),
    (
        "/.well-known/mercure/subscriptions{/topic}{/subscriber}",
        "/.well-known/mercure/subscriptions",
        true,
    ),
    (
        "/.well-known/mercure/subscriptions/{topic}/{subscriber}",
        "/.well-known/mercure/subscriptions/a+b/urn%3Auuid%3A1",
        false,
    ),
    (
        "https://example.com/hub?topic=faulty{iri",
        "https://example.com/hub?topic=faulty{iri",
        true,
    ),
    (
        "https://example.com/hub?topic=faulty{iri",
        "https://example.com/hub?topic=faultyX",
        false,
    ),
    ("*", "https://example.com/anything", true),
    ("*", "", true),
    ("https://example.com/*", "https://example.com/foo", false),
];

#[test]
fn reference_test_vectors() {
    let matcher = Matcher::default();
    for (selector, topic, expected) in VECTORS {
        let compiled = matcher.selector(selector);
        assert_eq!(
            matcher.matches(&compiled, topic),
            *expected,
            "{selector} vs {topic}"
        );
        // A second call is answered from the result cache and must agree.
        assert_eq!(matcher.matches(&compiled, topic), *expected);
    }
}

#[test]
fn exact_matching_is_byte_equality_without_normalisation() {
    let matcher = Matcher::default();
    let selector = matcher.selector("https://example.com/Books");
    assert!(matcher.matches(&selector, "https://example.com/Books"));
    assert!(!matcher.matches(&selector, "https://example.com/books"));
    assert!(!matcher.matches(&selector, "https://example.com/Books "));
    let empty = matcher.selector("");
    assert!(matcher.matches(&empty, ""));
    assert!(!matcher.matches(&empty, "x"));
}

#[test]
fn a_template_matches_itself() {
    let matcher = Matcher::default();
    let selector = matcher.selector("https://example.com/{a}/{b}");
    assert!(matcher.matches(&selector, "https://example.com/{a}/{b}"));
}

#[test]
fn level_four_operators() {
    let matcher = Matcher::default();
    let cases = [
        ("https://ex.com{/seg*}", "https://ex.com/a=b/c", true),
        ("https://ex.com{/seg}", "https://ex.com/a=b", false),
        ("https://ex.com/x{&a,b}", "https://ex.com/x&a=1&b=2", true),
        (
            "https://ex.com/x{&a,b}",
            "https://ex.com/x&a=1&b=2&c=3",
            false,
        ),
        ("https://ex.com/{.a,b}", "https://ex.com/.x.y", true),
        ("https://ex.com/{#a,b}", "https://ex.com/#x/y,z", true),
        ("https://ex.com/%41{x}", "https://ex.com/%41b", true),
        ("https://ex.com/%41{x}", "https://ex.com/%61b", false),
        ("https://ex.com/{x}", "https://ex.com/%zz", false),
    ];
    for (selector, topic, expected) in cases {
        let compiled = matcher.selector(selector);
        assert!(matches!(compiled, Selector::Template(_)), "{selector}");
        assert_eq!(
            matcher.matches(&compiled, topic),
            expected,
            "{selector} vs {topic}"
        );
    }
}

#[test]
fn caches_stay_bounded() {
    let matcher = Matcher::with_budgets(16 << 10, 64 << 10, 8 << 10);
    for i in 0..100 {
        let selector = matcher.selector(&format!("https://ex.com/{i}/{{id}}"));
        assert!(matcher.matches(&selector, &format!("https://ex.com/{i}/x")));
    }
    assert!(matcher.templates.bytes() <= 16 << 10);
    assert!(matcher.patterns.bytes() <= 64 << 10);
    assert!(matcher.results.bytes() <= 8 << 10);
    assert!(matcher.templates.len() < 100 && matcher.results.len() < 100);
}

/// R-BOUND: a flood of large distinct templates (what `max_selectors_size` lets 100 requests
/// carry) keeps every cache under its byte budget, while the templates, patterns and results in
/// use stay cached (evicted gradually, never cleared at once).
#[test]
fn a_flood_of_large_selectors_stays_in_budget_and_hot_entries_survive() {
    let (template_budget, pattern_budget, result_budget) = (256 << 10, 8 << 20, 1 << 20);
    let matcher = Matcher::with_budgets(template_budget, pattern_budget, result_budget);
    let hot_source = |i: usize| format!("https://example.com/hot/{i}/{{id}}");
    let hot_topic = |i: usize| format!("https://example.com/hot/{i}/42");
    let filler = "x".repeat(4 << 10);
    for round in 0..300 {
        // Distinct inner parts: each compiles to its own regex of some 200 KB.
        let flood = matcher.selector(&format!(
            "https://attacker.example/{{k}}/{round}{filler}/{{j}}"
        ));
        assert!(matches!(flood, Selector::Template(_)));
        assert!(!matcher.matches(&flood, "https://example.com/hot/0/42"));
        for i in 0..20 {
            // As new subscriptions with the same selectors would.
            let hot = matcher.selector(&hot_source(i));
            assert!(matcher.matches(&hot, &hot_topic(i)));
        }
        assert!(
            matcher.templates.bytes() <= template_budget,
            "round {round}"
        );
        assert!(matcher.patterns.bytes() <= pattern_budget, "round {round}");
        assert!(matcher.results.bytes() <= result_budget, "round {round}");
    }
    assert!(matcher.patterns.len() > 1, "evicted gradually, not cleared");
    for i in 0..20 {
        let source = hot_source(i);
        assert!(
            matcher.templates.read(source.as_str(), |_| ()).is_some(),
            "hot template {i} was evicted"
        );
        let key = matcher_key(&matcher, &source, &hot_topic(i));
        assert!(
            matcher.results.read(&key, |_| ()).is_some(),
            "hot result {i} was evicted"
        );
    }
}

/// The compiled regex lives only in the pattern cache: once evicted it is compiled again.
#[test]
fn templates_still_match_when_their_pattern_is_not_cached() {
    let matcher = Matcher::with_budgets(1 << 20, 0, 0);
    let selector = matcher.selector("https://ex.com/{id}/x");
    assert!(matches!(selector, Selector::Template(_)));
    assert_eq!(matcher.patterns.len(), 0);
    assert!(matcher.matches(&selector, "https://ex.com/42/x"));
    assert!(!matcher.matches(&selector, "https://ex.com/4/2/x"));
    assert!(!matcher.matches(&selector, "https://ex.com/42/y"));
    assert!(matcher.matches(&selector, "https://ex.com/{id}/x"));
}

/// Templates that differ only in their outer literals share one compiled regex.
#[test]
fn templates_share_the_regex_of_their_inner_part() {
    let matcher = Matcher::default();
    for i in 0..100 {
        let selector = matcher.selector(&format!("https://ex.com/{i}/{{id}}/{i}"));
        assert!(matcher.matches(&selector, &format!("https://ex.com/{i}/a/{i}")));
    }
    assert_eq!(matcher.patterns.len(), 1);
}

fn matcher_key(matcher: &Matcher, selector: &str, topic: &str) -> u64 {
    matcher.key(cache::Kind::Template, selector, topic)
}

#[test]
fn control_characters_are_detected() {
    assert!(has_control_chars("a\u{0}b"));
    assert!(has_control_chars("a\u{7f}"));
    assert!(has_control_chars("a\nb"));
    assert!(!has_control_chars("https://example.com/é"));
}
