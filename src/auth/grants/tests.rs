use super::*;
use serde_json::json;

/// The hub URL relative patterns and topics resolve against (B-MT-5).
const HUB: &str = "https://example.com/.well-known/mercure";

/// What a request gives the grants: the hub's matcher and its base URL.
struct Hub {
    matcher: Matcher,
    base: Url,
}

impl Hub {
    fn new() -> Self {
        Self {
            matcher: Matcher::default(),
            base: Url::parse(HUB).expect("hub URL"),
        }
    }

    fn cx(&self) -> GrantContext<'_> {
        GrantContext::new(&self.matcher, &self.base)
    }
}

fn entry(actions: Value, topics: Value) -> Value {
    json!({"type": MERCURE_DETAIL_TYPE, "actions": actions, "topics": topics})
}

fn parse(details: Value) -> Result<Grants, DetailError> {
    Grants::from_authorization_details(Some(&details))
}

fn exact(source: &str) -> GrantSelector {
    GrantSelector::new(MatchType::Exact, source)
}

// B-AD-1, B-AD-2, B-AD-3: entries of other types are ignored, actions and default match_type.
#[test]
fn reads_mercure_entries_and_ignores_others() {
    let grants = parse(json!([
        {"type": "https://other.example/detail", "actions": 5, "topics": "x"},
        {"no_type": true},
        {"type": "https://mercure.rocks/authorization-detail/", "actions": ["publish"],
         "topics": [{"match": "ignored"}]},
        entry(json!(["publish", "read", "subscribe"]), json!([{"match": "https://a/1"},
            {"match": "https://a/:id", "match_type": "urlpattern"}])),
        entry(json!(["subscribe"]), json!([{"match": "https://b", "match_type": "exact"}])),
    ]))
    .expect("valid");
    assert_eq!(grants.dialect, Dialect::V1);
    let pattern = GrantSelector::new(MatchType::UrlPattern, "https://a/:id");
    assert_eq!(grants.publish, vec![exact("https://a/1"), pattern.clone()]);
    assert_eq!(
        grants.subscribe,
        vec![exact("https://a/1"), pattern, exact("https://b")]
    );
}

// B-AD-1: a token without Mercure entries grants nothing but is valid.
#[test]
fn no_mercure_entry_grants_nothing() {
    for details in [None, Some(json!(null)), Some(json!([]))] {
        let grants = Grants::from_authorization_details(details.as_ref()).expect("valid");
        assert!(grants.publish.is_empty() && grants.subscribe.is_empty());
        assert!(!grants.may_subscribe(["https://a"].into_iter(), &Hub::new().cx()));
    }
    // Unknown actions only: valid, grants nothing (B-AD-2).
    let grants = parse(json!([entry(json!(["read"]), json!([{"match": "*"}]))])).expect("valid");
    assert!(!grants.may_publish(["x"].into_iter(), &Hub::new().cx()));
}

// B-AD-2, B-AD-3: each malformed Mercure entry rejects the whole token.
#[test]
fn malformed_entries_reject_the_token() {
    let ok_topics = json!([{"match": "https://a"}]);
    let cases = [
        (json!({}), DetailError::NotAnArray),
        (json!("x"), DetailError::NotAnArray),
        (json!([1]), DetailError::EntryNotAnObject),
        (json!([{"type": 7}]), DetailError::TypeNotAString),
        (
            json!([{"type": MERCURE_DETAIL_TYPE, "topics": ok_topics}]),
            DetailError::NoActions,
        ),
        (
            json!([entry(json!([]), ok_topics.clone())]),
            DetailError::NoActions,
        ),
        (
            json!([entry(json!("publish"), ok_topics.clone())]),
            DetailError::NoActions,
        ),
        (
            json!([entry(json!(["publish", 1]), ok_topics.clone())]),
            DetailError::ActionNotAString,
        ),
        (
            json!([entry(json!(["publish", null]), ok_topics.clone())]),
            DetailError::ActionNotAString,
        ),
        (
            json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["publish"]}]),
            DetailError::NoTopics,
        ),
        (
            json!([entry(json!(["publish"]), json!([]))]),
            DetailError::NoTopics,
        ),
        (
            json!([entry(json!(["publish"]), json!({"match": "a"}))]),
            DetailError::NoTopics,
        ),
        (
            json!([entry(json!(["publish"]), json!(["https://a"]))]),
            DetailError::BadTopic,
        ),
        (
            json!([entry(json!(["publish"]), json!([1]))]),
            DetailError::BadTopic,
        ),
        (
            json!([entry(json!(["publish"]), json!([{}]))]),
            DetailError::BadTopic,
        ),
        (
            json!([entry(json!(["publish"]), json!([{"match": null}]))]),
            DetailError::BadTopic,
        ),
        (
            json!([entry(json!(["publish"]), json!([{"match": ""}]))]),
            DetailError::BadTopic,
        ),
        (
            json!([entry(json!(["publish"]), json!([{"match": 3}]))]),
            DetailError::BadTopic,
        ),
        (
            json!([entry(
                json!(["publish"]),
                json!([{"match": "a", "match_type": "Exact"}])
            )]),
            DetailError::UnsupportedMatchType("\"Exact\"".into()),
        ),
        (
            json!([entry(
                json!(["publish"]),
                json!([{"match": "a", "match_type": "uritemplate"}])
            )]),
            DetailError::UnsupportedMatchType("\"uritemplate\"".into()),
        ),
        (
            json!([entry(
                json!(["publish"]),
                json!([{"match": "a", "match_type": 1}])
            )]),
            DetailError::UnsupportedMatchType("1".into()),
        ),
    ];
    for (details, expected) in cases {
        assert_eq!(parse(details.clone()), Err(expected), "{details}");
    }
    // One bad entry after a good one: no partial acceptance (B-AD-4).
    let mixed = json!([
        entry(json!(["publish"]), json!([{"match": "*"}])),
        entry(json!(["subscribe"]), json!(["bare"])),
    ]);
    assert_eq!(parse(mixed), Err(DetailError::BadTopic));
}

// B-AD-4: 100 entries, 100 matchers summed, 4096 bytes per match.
#[test]
fn limits_are_enforced() {
    let one = || entry(json!(["subscribe"]), json!([{"match": "a"}]));
    let other = json!({"type": "other"});
    let mut at_limit: Vec<Value> = (0..MAX_DETAIL_ENTRIES).map(|_| one()).collect();
    // Entries of other resource servers do not count.
    at_limit.extend((0..50).map(|_| other.clone()));
    assert!(parse(Value::Array(at_limit.clone())).is_ok());
    at_limit.push(one());
    assert_eq!(
        parse(Value::Array(at_limit)),
        Err(DetailError::TooManyEntries)
    );

    let matchers = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"match": format!("t{i}")}))
            .collect::<Vec<_>>()
            .into()
    };
    let split = json!([
        entry(json!(["publish"]), matchers(60)),
        entry(json!(["subscribe"]), matchers(40)),
    ]);
    assert!(parse(split).is_ok());
    let over = json!([
        entry(json!(["publish"]), matchers(60)),
        entry(json!(["subscribe"]), matchers(41)),
    ]);
    assert_eq!(parse(over), Err(DetailError::TooManyMatchers));

    let longest = "a".repeat(MAX_MATCH_BYTES);
    assert!(parse(json!([entry(
        json!(["publish"]),
        json!([{"match": longest}])
    )]))
    .is_ok());
    let too_long = "é".repeat(MAX_MATCH_BYTES / 2 + 1);
    assert_eq!(
        parse(json!([entry(
            json!(["publish"]),
            json!([{"match": too_long}])
        )])),
        Err(DetailError::MatchTooLong)
    );
}

// B-AD-5: publish needs a grant on every topic; B-AD-3: `*` is the wildcard whatever its type.
#[test]
fn publish_needs_every_topic() {
    let grants = parse(json!([entry(
        json!(["publish"]),
        json!([{"match": "https://a/1"}, {"match": "https://b/:id", "match_type": "urlpattern"}])
    )]))
    .expect("valid");
    let hub = Hub::new();
    let m = hub.cx();
    assert!(grants.may_publish(["https://a/1", "https://b/7"].into_iter(), &m));
    assert!(!grants.may_publish(["https://a/1", "https://c"].into_iter(), &m));
    assert!(!grants.may_publish(["https://b/7/x"].into_iter(), &m));
    // An exact 1.0 grant is not a URI template.
    let literal = parse(json!([entry(
        json!(["publish"]),
        json!([{"match": "https://a/{id}"}])
    )]))
    .expect("valid");
    assert!(!literal.may_publish(["https://a/1"].into_iter(), &m));
    assert!(literal.may_publish(["https://a/{id}"].into_iter(), &m));
    for match_type in ["exact", "urlpattern"] {
        let any = parse(json!([entry(
            json!(["publish"]),
            json!([{"match": "*", "match_type": match_type}])
        )]))
        .expect("valid");
        assert!(any.may_publish(["x", "https://y/z"].into_iter(), &m));
        assert!(!any.may_subscribe(["x"].into_iter(), &m));
    }
}

// B-AD-6: one subscribe grant on one topic of a private update is enough; routing does not
// widen access.
#[test]
fn private_updates_need_subscribe_on_one_topic() {
    let grants = parse(json!([entry(
        json!(["subscribe"]),
        json!([{"match": "https://example.com/books/1"}, {"match": "https://example.com/books/7"}])
    )]))
    .expect("valid");
    let hub = Hub::new();
    let m = hub.cx();
    assert!(grants.may_subscribe(["https://example.com/books/1"].into_iter(), &m));
    assert!(grants.may_subscribe(["https://x", "https://example.com/books/7"].into_iter(), &m));
    assert!(!grants.may_subscribe(["https://example.com/books/2"].into_iter(), &m));
    assert!(!grants.may_publish(["https://example.com/books/1"].into_iter(), &m));
}

// A-AUTH-9, A-AUTH-10, A-AUTH-12, X-4: classic claims go through the same path, templates
// included.
#[test]
fn classic_claims_become_grants() {
    let claims = Claims::from_payload(&json!({"mercure": {
        "publish": ["https://a/{id}"],
        "subscribe": ["https://b/1", "*"],
        "payload": {"user": 1},
    }}))
    .expect("claims");
    let grants = Grants::from_claims(&claims);
    assert_eq!(grants.dialect, Dialect::Classic);
    let hub = Hub::new();
    let m = hub.cx();
    assert!(grants.may_publish(["https://a/7"].into_iter(), &m));
    assert!(!grants.may_publish(["https://b/1"].into_iter(), &m));
    assert!(grants.may_subscribe(["anything"].into_iter(), &m));
    // the whole classic payload for every subscription.
    assert_eq!(grants.payload_for("x", &m), Some(&json!({"user": 1})));
    let none = Grants::from_claims(&Claims::default());
    assert!(none.publish.is_empty() && none.payload_for("x", &m).is_none());
}

// B-AD-8, X-10: the first subscribe entry whose topics match the subscription's own matcher
// value gives the payload; `*` acts as the default; publish-only entries do not count.
#[test]
fn payload_comes_from_the_first_matching_subscribe_entry() {
    let grants = parse(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["publish"],
         "topics": [{"match": "*"}], "payload": "publisher"},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
         "topics": [{"match": "https://example.com/bar/:id", "match_type": "urlpattern"}],
         "payload": {"p": "pattern"}},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
         "topics": [{"match": "https://example.com/foo"}], "payload": null},
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
         "topics": [{"match": "*"}], "payload": "default"},
    ]))
    .expect("valid");
    let hub = Hub::new();
    let m = hub.cx();
    // The pattern grant matches its own literal text, read as a topic.
    assert_eq!(
        grants.payload_for("https://example.com/bar/:id", &m),
        Some(&json!({"p": "pattern"}))
    );
    // The first match decides, even without a payload.
    assert_eq!(grants.payload_for("https://example.com/foo", &m), None);
    assert_eq!(
        grants.payload_for("https://other", &m),
        Some(&json!("default"))
    );
    let without_default = parse(json!([
        {"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
         "topics": [{"match": "https://a"}], "payload": 1},
    ]))
    .expect("valid");
    assert_eq!(without_default.payload_for("https://b", &m), None);
    assert_eq!(
        without_default.payload_for("https://a", &m),
        Some(&json!(1))
    );
}

// The hub's compiled form: exact stays exact, classic selectors compile, URL Patterns compile
// against the request's base (B-MT-5).
#[test]
fn grants_compile_to_hub_selectors() {
    let hub = Hub::new();
    let selectors = |grants: &Grants| -> Vec<String> {
        grants
            .subscribe_selectors(hub.cx())
            .iter()
            .map(|s| format!("{s:?}").chars().take(5).collect())
            .collect()
    };
    let v1 = parse(json!([entry(
        json!(["subscribe"]),
        json!([{"match": "https://a/{id}"}, {"match": "*", "match_type": "urlpattern"},
               {"match": "https://a/:id", "match_type": "urlpattern"}])
    )]))
    .expect("valid");
    assert_eq!(selectors(&v1), ["Exact", "Any", "UrlPa"]);
    let compiled = v1.subscribe_selectors(hub.cx());
    let m = &hub.matcher;
    assert!(m.matches_any(&compiled[2], ["https://a/1"].into_iter()));
    assert!(!m.matches_any(&compiled[2], ["https://a/1/2"].into_iter()));
    let classic = Grants::from_claims(
        &Claims::from_payload(&json!({"mercure": {"subscribe": ["https://a/{id}", "x"]}}))
            .expect("claims"),
    );
    assert_eq!(selectors(&classic), ["Templ", "Exact"]);
}

// B-MT-5: a relative pattern grant resolves against the request's base, so the same token
// covers its own hub's topics only.
#[test]
fn relative_pattern_grants_resolve_against_the_base() {
    let grants = parse(json!([entry(
        json!(["subscribe"]),
        json!([{"match": "/books/:id", "match_type": "urlpattern"}])
    )]))
    .expect("valid");
    let hub = Hub::new();
    let m = hub.cx();
    assert!(grants.may_subscribe(["https://example.com/books/7"].into_iter(), &m));
    assert!(grants.may_subscribe(["/books/7"].into_iter(), &m));
    assert!(!grants.may_subscribe(["https://other.example/books/7"].into_iter(), &m));
    let other = Url::parse("https://other.example/.well-known/mercure").expect("base");
    let there = GrantContext::new(&hub.matcher, &other);
    assert!(grants.may_subscribe(["https://other.example/books/7"].into_iter(), &there));
    assert!(!grants.may_subscribe(["https://example.com/books/7"].into_iter(), &there));
}

// B-AD-3, B-MT-1, B-MT-4: a urlpattern match that does not compile rejects the token (as the
// reference hub does); `*` is never compiled; an exact match is never compiled.
#[test]
fn uncompilable_pattern_grants_reject_the_token() {
    for pattern in ["https://example.com/books/(", "/books/:", "{", "/(a{2,1})"] {
        let details = json!([entry(
            json!(["subscribe"]),
            json!([{"match": pattern, "match_type": "urlpattern"}])
        )]);
        assert!(
            matches!(parse(details), Err(DetailError::InvalidPattern(text)) if !text.is_empty()),
            "{pattern}"
        );
        let exact = json!([entry(json!(["subscribe"]), json!([{"match": pattern}]))]);
        assert!(parse(exact).is_ok(), "{pattern}");
    }
    // A grant built by hand (never from a token) that does not compile grants nothing.
    let hub = Hub::new();
    let broken = GrantSelector::new(MatchType::UrlPattern, "https://example.com/(");
    assert!(broken.to_selector(hub.cx()).is_none());
    assert!(!broken.matches("https://example.com/(", &hub.cx()));
}

// a classic subscription (URI template routing) authorized by a 1.0 URL Pattern grant
// receives the private update; routing alone never authorizes (B-AD-6).
#[test]
fn classic_routing_with_a_v1_pattern_grant() {
    let hub = Hub::new();
    let m = &hub.matcher;
    // `?topic=https://example.com/books/{id}`
    let routing = m.selector("https://example.com/books/{id}");
    let grants = parse(json!([entry(
        json!(["subscribe"]),
        json!([{"match": "https://example.com/books/:id", "match_type": "urlpattern"}])
    )]))
    .expect("valid");
    let allowed = grants.subscribe_selectors(hub.cx());
    let delivered = |topic: &str| {
        m.matches(&routing, topic) && allowed.iter().any(|grant| m.matches(grant, topic))
    };
    assert!(delivered("https://example.com/books/7"));
    assert!(grants.may_subscribe(["https://example.com/books/7"].into_iter(), &hub.cx()));
    // Routed but not granted, granted but not routed.
    let narrow = parse(json!([entry(
        json!(["subscribe"]),
        json!([{"match": "https://example.com/books/1"}])
    )]))
    .expect("valid");
    let narrow = narrow.subscribe_selectors(hub.cx());
    assert!(!narrow
        .iter()
        .any(|grant| m.matches(grant, "https://example.com/books/7")));
    assert!(!delivered("https://example.com/authors/7"));
}

// R-TOKEN: hostile shapes never panic.
#[test]
fn hostile_details_never_panic() {
    let hostile = [
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["publish"], "topics": [{"match": "\u{0}\u{202e}"}]}]),
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": [[]], "topics": [[]]}]),
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": {"0": "publish"}, "topics": {"0": {}}}]),
        json!([[], {}, null, true]),
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"], "topics": [
            {"match": "(((((((((((", "match_type": "urlpattern"},
            {"match": "\u{0}:a(\u{202e})*", "match_type": "urlpattern"},
            {"match": "https://[::1/{", "match_type": "urlpattern"},
            {"match": "/:a+/:b*/:c?/(.*)*", "match_type": "urlpattern"}]}]),
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
                "topics": [{"match": "a", "match_type": {"x": "y".repeat(10_000)}}]}]),
    ];
    let hub = Hub::new();
    let m = hub.cx();
    for details in hostile {
        if let Ok(grants) = parse(details) {
            let _ = grants.may_publish(["\u{0}"].into_iter(), &m);
            let _ = grants.payload_for("{", &m);
        }
    }
    let long_type = parse(
        json!([{"type": MERCURE_DETAIL_TYPE, "actions": ["subscribe"],
        "topics": [{"match": "a", "match_type": "x".repeat(10_000)}]}]),
    );
    assert!(
        matches!(long_type, Err(DetailError::UnsupportedMatchType(shown)) if shown.len() <= 64)
    );
}
