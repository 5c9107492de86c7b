//! A.3 Topic selectors and matching, checked through real delivery: each row subscribes
//! with the selector (plus a sentinel topic), publishes the topic, and checks whether it
//! arrived before the sentinel.

use crate::harness::Hub;
use crate::sse::Probe;

/// (selector, topic, should match)
type Row<'a> = (&'a str, &'a str, bool);

/// Runs every row through the hub and fails listing all rows that disagree.
async fn check_rows(rows: &[Row<'_>]) {
    let hub = Hub::start_default().await;
    let mut wrong = Vec::new();
    for &(selector, topic, expected) in rows {
        let mut probe = Probe::open(&hub, None, &[selector]).await;
        let got = probe.receives(&hub, &[("topic", topic)]).await;
        if got != expected {
            wrong.push(format!(
                "selector {selector:?} topic {topic:?}: expected match={expected}, got {got}"
            ));
        }
    }
    assert!(wrong.is_empty(), "mismatches:\n{}", wrong.join("\n"));
}

/// A-SEL-4: the test-vector table of protocol.md, row by row. The two rows whose topics
/// live in the reserved `/.well-known/mercure` namespace cannot be published (A-PUB-13);
/// they are checked with the same template structure under `https://example.com`.
#[tokio::test]
async fn a_sel_4_test_vectors() {
    check_rows(&[
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
            "https://example.com/subscriptions{/topic}{/subscriber}",
            "https://example.com/subscriptions",
            true,
        ),
        (
            "https://example.com/subscriptions/{topic}/{subscriber}",
            "https://example.com/subscriptions/a+b/urn%3Auuid%3A1",
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
        ("*", "", true),
        ("*", "https://example.com/anything", true),
        ("*", "not a URI at all", true),
        ("https://example.com/*", "https://example.com/foo", false),
    ])
    .await;
}

/// A-SEL-1: `*`, then byte equality (case-sensitive, no normalisation), then templates.
#[tokio::test]
async fn a_sel_1_exact_matching_is_bytewise() {
    check_rows(&[
        ("https://example.com/Foo", "https://example.com/Foo", true),
        ("https://example.com/Foo", "https://example.com/foo", false),
        (
            "https://example.com/a%20b",
            "https://example.com/a b",
            false,
        ),
        ("https://example.com/a%7E", "https://example.com/a~", false),
        ("HTTPS://EXAMPLE.COM/x", "https://example.com/x", false),
        ("https://example.com/x ", "https://example.com/x", false),
        ("https://example.com/./x", "https://example.com/x", false),
        ("/relative", "https://example.com/relative", false),
        ("urn:isbn:0451450523", "urn:isbn:0451450523", true),
        // a template matches itself byte for byte
        (
            "https://example.com/b/{id}",
            "https://example.com/b/{id}",
            true,
        ),
    ])
    .await;
}

/// A-SEL-2: selectors that are not valid RFC 6570 templates are exact strings.
#[tokio::test]
async fn a_sel_2_invalid_templates_are_exact() {
    let invalid = [
        "https://example.com/{}",
        "https://example.com/{=x}",
        "https://example.com/{|x}",
        "https://example.com/{x:0}",
        "https://example.com/{x:3*}",
        "https://example.com/{x..y}",
        "https://example.com/{.x.}",
        "https://example.com/{x,}",
        "https://example.com/a b/{x}",
        "https://example.com/a\"b/{x}",
        "https://example.com/a%zz/{x}",
        "https://example.com/a}/{x}",
        "https://example.com/{x",
    ];
    let mut rows = Vec::new();
    for sel in &invalid {
        rows.push((*sel, *sel, true));
    }
    let probes: Vec<String> = invalid
        .iter()
        .map(|s| s.split('{').next().unwrap().to_string() + "v")
        .collect();
    for (sel, topic) in invalid.iter().zip(&probes) {
        rows.push((*sel, topic.as_str(), false));
    }
    check_rows(&rows).await;
}

/// A-SEL-2: valid templates, including `%HH` names, prefixes up to 9999, dotted names and
/// non-ASCII literals.
#[tokio::test]
async fn a_sel_2_valid_template_forms() {
    check_rows(&[
        (
            "https://example.com/{x:9999}",
            "https://example.com/abc",
            true,
        ),
        ("https://example.com/{a.b}", "https://example.com/abc", true),
        (
            "https://example.com/{a%20b}",
            "https://example.com/abc",
            true,
        ),
        (
            "https://example.com/é/{x}",
            "https://example.com/é/abc",
            true,
        ),
        ("https://example.com/{x}{y}", "https://example.com/ab", true),
    ])
    .await;
}

/// A-SEL-3: fully anchored patterns, escaped literals, exact `%HH` literals, operators.
#[tokio::test]
async fn a_sel_3_template_compilation() {
    check_rows(&[
        (
            "https://example.com/books/{id}",
            "xhttps://example.com/books/1",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/1x/",
            false,
        ),
        (
            "https://example.com/a.c/{id}",
            "https://example.com/abc/1",
            false,
        ),
        (
            "https://example.com/a%2Fb/{id}",
            "https://example.com/a%2Fb/1",
            true,
        ),
        (
            "https://example.com/a%2Fb/{id}",
            "https://example.com/a%2fb/1",
            false,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a%2Fb",
            true,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/a%2",
            false,
        ),
        (
            "https://example.com/books/{id*}",
            "https://example.com/books/a=b",
            true,
        ),
        (
            "https://example.com/books/{id}",
            "https://example.com/books/~-._",
            true,
        ),
        ("https://example.com/{x}", "https://example.com/a:b", false),
        (
            "https://example.com/{+x}",
            "https://example.com/a:b@c!$&'()*+,;=",
            true,
        ),
        ("https://example.com/{#x}", "https://example.com/#a", true),
        ("https://example.com/{#x}", "https://example.com/a", false),
        (
            "https://example.com/f{.x}",
            "https://example.com/f.a,b",
            true,
        ),
        (
            "https://example.com/f{.x}",
            "https://example.com/f.a/b",
            false,
        ),
        (
            "https://example.com/f{.x,y}",
            "https://example.com/f.a.b",
            true,
        ),
        (
            "https://example.com/p{;x}",
            "https://example.com/p;x=1",
            true,
        ),
        (
            "https://example.com/p{;x,y}",
            "https://example.com/p;x=1;y=2",
            true,
        ),
        (
            "https://example.com/p{;x,y}",
            "https://example.com/p;x=1;y=2;z=3",
            false,
        ),
        (
            "https://example.com/q{&x}",
            "https://example.com/q&x=1",
            true,
        ),
        (
            "https://example.com/q{?x}",
            "https://example.com/q?x=a/b",
            false,
        ),
        (
            "https://example.com/q{?x*}",
            "https://example.com/q?x=1&y=2&z=3&w=4",
            true,
        ),
        (
            "https://example.com/s{/x}",
            "https://example.com/s/a/b",
            false,
        ),
        (
            "https://example.com/s{/x*}",
            "https://example.com/s/a/b",
            true,
        ),
    ])
    .await;
}
