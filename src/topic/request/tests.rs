use super::*;
use crate::form;

fn pairs(input: &str) -> Pairs {
    form::parse(input.as_bytes()).expect("valid form")
}

fn read(query: &str) -> Result<SubscriptionRequest, RequestError> {
    SubscriptionRequest::read(&pairs(query), None, None)
}

fn cursor(query: &str, body: Option<&str>, header: Option<&[u8]>) -> CursorRequest {
    let body = body.map(pairs);
    SubscriptionRequest::read(&pairs(query), body.as_ref(), header)
        .expect("readable")
        .cursor
}

fn hub() -> Url {
    Url::parse("https://localhost/.well-known/mercure").expect("hub URL")
}

fn selectors(query: &str) -> Result<Selectors, SelectorError> {
    read(query)
        .expect("readable")
        .selectors(&Matcher::default(), &hub(), Limits::default())
}

fn body_of(query: &str) -> &'static str {
    selectors(query).expect_err("refused").body()
}

/// the dialect comes from the selector parameters of query and body together.
#[test]
fn dialect_follows_the_selector_parameters() {
    let dialect = |q: &str| read(q).expect("readable").dialect;
    assert_eq!(dialect("topic=a"), Dialect::Classic);
    assert_eq!(dialect("match=a"), Dialect::V1);
    assert_eq!(dialect("match_exact=a&match_urlpattern=/b"), Dialect::V1);
    assert_eq!(dialect("topic=a&match=b"), Dialect::Mixed);
    assert_eq!(dialect(""), Dialect::Classic);
    assert_eq!(dialect("lastEventID=x"), Dialect::Classic);
    let body = pairs("match_urlpattern=/books/:id&topic=t");
    let request =
        SubscriptionRequest::read(&pairs("topic=a"), Some(&body), None).expect("readable");
    assert_eq!(request.dialect, Dialect::Mixed);
    assert_eq!(request.topics, ["a", "t"]);
    assert_eq!(
        request.matchers,
        [V1Matcher {
            match_type: MatchType::UrlPattern,
            value: "/books/:id".into()
        }]
    );
}

/// B-SUB-3: `match` and `match_exact` are exact, `match_urlpattern` a URL pattern; any number
/// in any combination, in order.
#[test]
fn matcher_parameters_and_types() {
    let request = read("match=a&match_urlpattern=/b/:c&match_exact=d").expect("readable");
    let types: Vec<(MatchType, &str)> = request
        .matchers
        .iter()
        .map(|m| (m.match_type, m.value.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            (MatchType::Exact, "a"),
            (MatchType::UrlPattern, "/b/:c"),
            (MatchType::Exact, "d")
        ]
    );
    let compiled =
        selectors("match=a&match_urlpattern=/b/:c&match_exact=*&topic=x/{y}").expect("valid");
    assert!(matches!(compiled.classic[..], [Selector::Template(_)]));
    assert!(matches!(
        compiled.v1.iter().map(|(_, s)| s).collect::<Vec<_>>()[..],
        [Selector::Exact(_), Selector::UrlPattern(_), Selector::Any]
    ));
    assert_eq!(MatchType::UrlPattern.name(), "urlpattern");
}

/// B-SUB-5, X-2: every other name of the `match` namespace is refused, case-insensitively, in
/// query and body, whatever the dialect; the supported names are case-sensitive.
#[test]
fn the_match_namespace_is_reserved() {
    for name in [
        "MATCH",
        "Match",
        "Match_urlpattern",
        "match_URLPattern",
        "matchfoo",
        "match_regex",
        "matchurlpattern",
        "match_",
        "mAtCh_exact",
    ] {
        let error = read(&format!("topic=a&{name}=x")).expect_err(name);
        assert!(matches!(&error, RequestError::ReservedName(n) if n == name));
        assert_eq!(error.body(), "Bad Request\n");
        let body = pairs(&format!("{name}=x"));
        assert!(SubscriptionRequest::read(&pairs("topic=a"), Some(&body), None).is_err());
    }
    for name in ["matc", "topic_match", "xmatch", "mätch", "m"] {
        assert!(read(&format!("topic=a&{name}=x")).is_ok(), "{name}");
    }
}

/// A-SUB-1, X-2: neither kind → the classic 400; classic bodies are Part A's exactly.
#[test]
fn classic_errors_keep_their_bodies() {
    assert_eq!(body_of(""), "Missing \"topic\" parameter.\n");
    assert_eq!(body_of("lastEventID=1"), "Missing \"topic\" parameter.\n");
    let many = "topic=a&".repeat(MAX_TOPICS + 1);
    assert_eq!(body_of(&many), "Too many \"topic\" parameters.\n");
    assert!(selectors(&"topic=a&".repeat(MAX_TOPICS)).is_ok());
    assert_eq!(body_of("topic=a%00b"), "Invalid \"topic\" parameter.\n");
    assert_eq!(body_of("topic=a%7F"), "Invalid \"topic\" parameter.\n");
    let request = read("topic=abcdef").expect("readable");
    let limits = Limits {
        max_selector_length: 5,
        max_selectors_size: 0,
    };
    let error = request
        .selectors(&Matcher::default(), &hub(), limits)
        .expect_err("too long");
    assert_eq!(error.body(), "Invalid \"topic\" parameter.\n");
}

/// R-BOUND: all selectors together, `topic` and `match*` alike, are bounded.
#[test]
fn total_selector_size_is_bounded() {
    let limits = Limits {
        max_selector_length: 0,
        max_selectors_size: 10,
    };
    let check = |q: &str| {
        read(q)
            .expect("readable")
            .selectors(&Matcher::default(), &hub(), limits)
    };
    assert!(check("topic=aaaaa&match=bbbbb&lastEventID=cccccccccccc").is_ok());
    let error = check("topic=aaaaa&match=bbbbbb").expect_err("over");
    assert!(matches!(error, SelectorError::TooLarge(11)));
    assert_eq!(error.body(), "Invalid \"topic\" parameter.\n");
}

/// B-SUB-7: at most 100 matchers and 4096 bytes per value.
#[test]
fn matcher_count_and_length_are_bounded() {
    assert!(selectors(&"match=a&".repeat(MAX_MATCHERS)).is_ok());
    let many = "match=a&".repeat(MAX_MATCHERS + 1);
    assert_eq!(body_of(&many), "too many matchers (max 100)\n");
    let mixed = format!("{}match_urlpattern=/x", "match=a&".repeat(MAX_MATCHERS));
    assert!(matches!(
        selectors(&mixed),
        Err(SelectorError::TooManyMatchers)
    ));
    let longest = format!("match=/{}", "a".repeat(MAX_MATCHER_BYTES - 1));
    assert!(selectors(&longest).is_ok());
    let longest = format!("match_urlpattern=/{}", "a".repeat(MAX_MATCHER_BYTES - 1));
    assert!(selectors(&longest).is_ok());
    for name in ["match", "match_urlpattern"] {
        let over = format!("{name}=/{}", "a".repeat(MAX_MATCHER_BYTES));
        assert!(matches!(
            selectors(&over),
            Err(SelectorError::MatcherTooLong(4097))
        ));
        assert_eq!(body_of(&over), "pattern too long (max 4096 bytes)\n");
    }
    // A huge value is refused by its length, before anything looks inside it.
    let huge = format!("match_urlpattern={}", "(".repeat(1 << 20));
    assert!(matches!(
        selectors(&huge),
        Err(SelectorError::MatcherTooLong(_))
    ));
}

/// B-SUB-6, B-T-1: values with C0, DEL, C1 or `Cf` characters are refused, in both types.
#[test]
fn matcher_values_are_clean_text() {
    for value in [
        "a%00",
        "a%0A",
        "%7F",
        "%C2%80",
        "%C2%9F",
        "%E2%80%8B",
        "%E2%80%AE",
        "%EF%BB%BF",
    ] {
        for name in ["match", "match_exact", "match_urlpattern"] {
            let query = format!("{name}={value}");
            assert!(
                matches!(selectors(&query), Err(SelectorError::UncleanMatcher)),
                "{query}"
            );
            assert_eq!(
                body_of(&query),
                "topic matcher values must be valid UTF-8 without control characters\n"
            );
        }
    }
    assert!(
        selectors("match=%D8%B4%D9%85%D8%B3").is_ok(),
        "RTL letters stay valid"
    );
    assert!(selectors("match_urlpattern=/%D7%A9/:id").is_ok());
}

/// B-SUB-6, C-HARD-4: a pattern that does not compile gets the fixed body, never compiler text.
#[test]
fn invalid_patterns_get_the_generic_body() {
    for pattern in [
        "/books/(",
        "{",
        "/a/(?<x>b)",
        "/(%5C",
        "https://exa%20mple.com/x",
    ] {
        let query = format!("match_urlpattern={pattern}");
        let error = selectors(&query).expect_err(&query);
        assert!(matches!(error, SelectorError::InvalidPattern(_)), "{query}");
        assert_eq!(error.body(), "invalid topic matcher pattern\n");
    }
    // The same text is a valid exact matcher and a valid classic selector.
    assert!(selectors("match=/books/(&topic=/books/(").is_ok());
}

/// header, then `last_event_id` (query, body), `lastEventID` (query, body), then the
/// legacy query parameter; empty values count as absent.
#[test]
fn cursor_precedence() {
    let all = "topic=a&Last-Event-ID=legacy&lastEventID=camel&last_event_id=snake";
    assert_eq!(
        cursor(all, None, Some(b"header")).found,
        Some(("header".into(), CursorSource::Header))
    );
    assert_eq!(
        cursor(all, None, Some(b"")).found,
        Some((
            "snake".into(),
            CursorSource::Query(CursorParameter::LastEventId)
        ))
    );
    assert_eq!(
        cursor(
            "topic=a&lastEventID=camel",
            Some("last_event_id=body"),
            None
        )
        .found,
        Some((
            "body".into(),
            CursorSource::Body(CursorParameter::LastEventId)
        ))
    );
    assert_eq!(
        cursor(
            "topic=a&last_event_id=query",
            Some("last_event_id=body"),
            None
        )
        .value(),
        Some("query")
    );
    assert_eq!(
        cursor("topic=a&Last-Event-ID=legacy&lastEventID=", None, None).found,
        Some((
            "legacy".into(),
            CursorSource::Query(CursorParameter::LegacyLastEventId)
        ))
    );
    assert_eq!(
        cursor(
            "topic=a&Last-Event-ID=legacy",
            Some("lastEventID=camel"),
            None
        )
        .value(),
        Some("camel")
    );
    // The legacy name is a query parameter only.
    assert_eq!(
        cursor("topic=a", Some("Last-Event-ID=x"), None).value(),
        None
    );
    assert_eq!(
        cursor("topic=a&last_event_id=&last_event_id=second", None, None).value(),
        Some("second")
    );
    assert_eq!(
        cursor("topic=a&lastEventID=earliest", None, None).value(),
        Some("earliest")
    );
}

/// B-HIST-7: an empty `Last-Event-ID` header or `last_event_id` still asks for the 1.0 echo;
/// an empty `lastEventID` or legacy parameter does not.
#[test]
fn empty_cursors_are_recorded() {
    for (query, body, header) in [
        ("match=a", None, Some(&b""[..])),
        ("match=a&last_event_id=", None, None),
        ("match=a&last_event_id", None, None),
        ("match=a", Some("last_event_id="), None),
    ] {
        let found = cursor(query, body, header);
        assert!(found.empty_presented && found.echo_v1(), "{query} {body:?}");
        assert_eq!(found.value(), None);
    }
    for query in ["match=a", "match=a&lastEventID=", "match=a&Last-Event-ID="] {
        assert!(!cursor(query, None, None).echo_v1(), "{query}");
    }
    assert!(cursor("match=a&lastEventID=x", None, None).echo_v1());
}

/// C-HARD-3: a `Last-Event-ID` header that is not UTF-8 is a 400 `Bad Request`.
#[test]
fn a_header_cursor_that_is_not_utf8_is_refused() {
    let error = SubscriptionRequest::read(&pairs("topic=a"), None, Some(b"\xFF\xFE"))
        .expect_err("not UTF-8");
    assert!(matches!(error, RequestError::HeaderNotUtf8(_)));
    assert_eq!(error.body(), "Bad Request\n");
}

/// B-MT-5: the base is the resource identifier when it is the hub URL, else the request's.
#[test]
fn base_url_follows_the_resource_identifier_or_the_request() {
    let configured = Url::parse("https://hub.example/.well-known/mercure").expect("URL");
    assert_eq!(
        base_url(Some(&configured), "http", "ignored").as_ref(),
        Some(&configured)
    );
    let elsewhere = Url::parse("https://hub.example/other").expect("URL");
    assert_eq!(
        base_url(Some(&elsewhere), "http", "localhost:3000").map(String::from),
        Some("http://localhost:3000/.well-known/mercure".to_owned())
    );
    for hostile in ["", "a/b", "a?b", "a#b", "u@h", "a b", "[::1", "h:99999"] {
        assert_eq!(base_url(None, "https", hostile), None, "{hostile}");
    }
}

/// C-HARD-4: no input panics, whatever the pairs.
#[test]
fn hostile_requests_never_panic() {
    let names = [
        "topic",
        "match",
        "match_exact",
        "match_urlpattern",
        "last_event_id",
        "x",
    ];
    let values = [
        "",
        "*",
        "(",
        "{",
        "\u{0}",
        "\u{202E}",
        "/:a/:b",
        "%",
        "é",
        "https://[::1",
    ];
    let matcher = Matcher::default();
    for (i, name) in names.iter().enumerate() {
        for (j, value) in values.iter().enumerate() {
            let query: Pairs = vec![
                ((*name).to_owned(), (*value).to_owned()),
                (
                    names[(i + j) % names.len()].to_owned(),
                    values[(i * j) % values.len()].to_owned(),
                ),
            ];
            if let Ok(request) =
                SubscriptionRequest::read(&query, Some(&query), Some(value.as_bytes()))
            {
                let _ = request.selectors(&matcher, &hub(), Limits::default());
            }
        }
    }
}
