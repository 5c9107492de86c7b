//! Dialect-neutral grants (protocol.md B.7, X-4, X-10): classic `mercure` claims and 1.0
//! `authorization_details` both become one [`Grants`], and one authorization path reads it.

use std::sync::Arc;

use serde_json::{Map, Value};
use thiserror::Error;
use url::Url;

use super::Claims;
use crate::topic::{check_url_pattern, Matcher, Selector};

/// The `type` of a Mercure authorization detail, compared byte for byte (B-AD-1).
pub const MERCURE_DETAIL_TYPE: &str = "https://mercure.rocks/authorization-detail";
/// Most Mercure entries in `authorization_details` (B-AD-4).
pub const MAX_DETAIL_ENTRIES: usize = 100;
/// Most `topics` matcher objects summed over the Mercure entries (B-AD-4).
pub const MAX_DETAIL_MATCHERS: usize = 100;
/// Most bytes of one `match` (B-AD-4).
pub const MAX_MATCH_BYTES: usize = 4096;

/// Why `authorization_details` was refused; the whole token is then invalid (B-AD-4).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DetailError {
    /// `authorization_details` is present but not a JSON array (B-AD-1).
    #[error("authorization_details is not an array")]
    NotAnArray,
    /// An entry is not a JSON object (B-AD-1).
    #[error("an authorization_details entry is not an object")]
    EntryNotAnObject,
    /// An entry's `type` is present but not a string: RFC 9396 makes the entry malformed (B-AD-1).
    #[error("an authorization_details type is not a string")]
    TypeNotAString,
    /// A Mercure entry without a non-empty `actions` array (B-AD-2).
    #[error("a Mercure entry has no non-empty actions array")]
    NoActions,
    /// A Mercure entry's `actions` holds a non-string (B-AD-2).
    #[error("a Mercure entry's action is not a string")]
    ActionNotAString,
    /// A Mercure entry without a non-empty `topics` array (B-AD-2).
    #[error("a Mercure entry has no non-empty topics array")]
    NoTopics,
    /// A `topics` item is not `{match, match_type?}` with a non-empty string `match` (B-AD-3).
    #[error("a topics entry is not an object with a non-empty string match")]
    BadTopic,
    /// A `match_type` other than `exact` or `urlpattern` (B-AD-3, B-MT-1).
    #[error("unsupported match_type {0:?}")]
    UnsupportedMatchType(String),
    /// Over [`MAX_DETAIL_ENTRIES`] Mercure entries (B-AD-4).
    #[error("more than {MAX_DETAIL_ENTRIES} Mercure entries")]
    TooManyEntries,
    /// Over [`MAX_DETAIL_MATCHERS`] matchers summed over the entries (B-AD-4).
    #[error("more than {MAX_DETAIL_MATCHERS} topics matchers")]
    TooManyMatchers,
    /// A `match` over [`MAX_MATCH_BYTES`] bytes (B-AD-4).
    #[error("a match is longer than {MAX_MATCH_BYTES} bytes")]
    MatchTooLong,
    /// A `urlpattern` match that does not compile (B-AD-3, B-MT-1; the reference hub refuses
    /// it too). The compiler's message, for logs only: this enum is compared and cloned with
    /// the token verdict, which `topic::PatternError` cannot be.
    #[error("a urlpattern match does not compile: {0}")]
    InvalidPattern(String),
}

/// The dialect a token was read in: decides status codes and messages, not rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A Part A token: rights from the `mercure` claim (A-AUTH-9).
    Classic,
    /// A Part B token: rights from `authorization_details` (B-AD-1).
    V1,
}

/// How a grant's text is matched against a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    /// A classic topic selector (A-SEL): `*`, an exact string or an RFC 6570 URI template.
    Topic,
    /// 1.0 `exact`: byte equality, never a template (B-AD-3).
    Exact,
    /// 1.0 `urlpattern`: a WHATWG URL Pattern (B-MT).
    UrlPattern,
}

impl MatchType {
    /// The 1.0 `match_type` name (B-AD-3); `selector` for a classic one.
    pub fn name(self) -> &'static str {
        match self {
            Self::Topic => "selector",
            Self::Exact => "exact",
            Self::UrlPattern => "urlpattern",
        }
    }
}

/// One grant: a matcher text and how to read it. `*` matches every topic whatever its type
/// (A-SEL-1, B-AD-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSelector {
    /// How [`Self::source`] is read.
    pub match_type: MatchType,
    /// The matcher text as the token gave it; `*` matches every topic.
    pub source: Arc<str>,
}

/// The matchers a grant needs beyond `*` and byte equality. A trait so that `auth` does not
/// own URL Pattern or URI template compilation; [`GrantContext`] is the hub's.
pub trait GrantMatcher {
    /// A classic topic selector (URI template or exact string) against a topic.
    fn topic_selector_matches(&self, selector: &str, topic: &str) -> bool;
    /// A URL Pattern against a topic.
    fn url_pattern_matches(&self, pattern: &str, topic: &str) -> bool;
}

/// What checking a grant needs: the hub's matcher (its bounded caches) and the base URL that
/// relative URL Patterns and topics resolve against (B-MT-5), known per request
/// (`topic::request::base_url`). A 1.0 grant means the same thing to every subscriber of a
/// request, whatever dialect routes it.
#[derive(Clone, Copy)]
pub struct GrantContext<'a> {
    /// The hub's matcher, whose bounded caches compile templates and patterns once (C-HARD-7).
    pub matcher: &'a Matcher,
    /// The request's hub URL, the base of relative URL Patterns and topics (B-MT-5).
    pub base: &'a Url,
}

impl<'a> GrantContext<'a> {
    /// Binds the hub's matcher to one request's base URL.
    pub fn new(matcher: &'a Matcher, base: &'a Url) -> Self {
        Self { matcher, base }
    }
}

impl GrantMatcher for GrantContext<'_> {
    fn topic_selector_matches(&self, selector: &str, topic: &str) -> bool {
        // `selector` reads the bounded template cache: no compilation per check.
        let matcher = self.matcher;
        matcher.matches(&matcher.selector(selector), topic)
    }

    fn url_pattern_matches(&self, pattern: &str, topic: &str) -> bool {
        // Compiled through the matcher's cache (keyed by base and pattern). A pattern that does
        // not compile against this base grants nothing: narrower, never wider. Token parsing
        // already refused every pattern that does not compile (`check_url_pattern`).
        let matcher = self.matcher;
        matcher
            .url_pattern(pattern, self.base)
            .is_ok_and(|selector| matcher.matches(&selector, topic))
    }
}

impl GrantSelector {
    /// A grant read from a token's `mercure` claim or `topics` entry.
    pub fn new(match_type: MatchType, source: &str) -> Self {
        Self {
            match_type,
            source: Arc::from(source),
        }
    }

    /// Whether the grant covers `topic`.
    pub fn matches(&self, topic: &str, matcher: &impl GrantMatcher) -> bool {
        if &*self.source == "*" {
            return true;
        }
        match self.match_type {
            MatchType::Exact => *self.source == *topic,
            MatchType::Topic => matcher.topic_selector_matches(&self.source, topic),
            MatchType::UrlPattern => matcher.url_pattern_matches(&self.source, topic),
        }
    }

    /// The grant as a hub selector, compiled once per token and request for per-delivery
    /// checks (`hub::Subscriber::private_access`); a URL Pattern is resolved against the
    /// context's base (B-MT-5). `None` for a pattern that does not compile against it: a
    /// dropped grant narrows access, never widens it.
    pub fn to_selector(&self, context: GrantContext<'_>) -> Option<Selector> {
        if &*self.source == "*" {
            return Some(Selector::Any);
        }
        match self.match_type {
            // A 1.0 exact grant is never read as a template (B-AD-3).
            MatchType::Exact => Some(Selector::Exact(self.source.clone())),
            MatchType::Topic => Some(context.matcher.selector(&self.source)),
            MatchType::UrlPattern => context.matcher.url_pattern(&self.source, context.base).ok(),
        }
    }
}

/// Where a subscription's `payload` comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadRule {
    /// Classic: the whole `mercure.payload` for every subscription (A-AUTH-15).
    Whole(Option<Value>),
    /// 1.0: the first entry with `subscribe` whose topics match the subscription's own matcher
    /// value, in token order (B-AD-8).
    PerEntry(Vec<PayloadEntry>),
}

/// One Mercure entry that grants `subscribe`, kept for B-AD-8.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadEntry {
    /// The entry's `topics`: the subscription's matcher value is checked against these (B-AD-8).
    pub topics: Vec<GrantSelector>,
    /// `None` when absent or null.
    pub payload: Option<Value>,
}

/// The rights of a verified token, whatever its dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct Grants {
    /// Which claim the grants came from: decides status codes and messages, not rights.
    pub dialect: Dialect,
    /// Topics the token may publish to: every topic of an update must match one (A-AUTH-10,
    /// B-AD-5).
    pub publish: Vec<GrantSelector>,
    /// Topics whose private updates the token may receive (A-AUTH-12, B-AD-6).
    pub subscribe: Vec<GrantSelector>,
    /// Where each subscription's `payload` comes from (A-AUTH-15, B-AD-8).
    pub payload: PayloadRule,
}

impl Grants {
    /// Classic claims as grants: every selector is a classic topic selector.
    pub fn from_claims(claims: &Claims) -> Self {
        let list = |sources: Option<&[String]>| -> Vec<GrantSelector> {
            sources
                .unwrap_or_default()
                .iter()
                .map(|source| GrantSelector::new(MatchType::Topic, source))
                .collect()
        };
        Self {
            dialect: Dialect::Classic,
            publish: list(claims.publish.as_deref()),
            subscribe: list(claims.subscribe.as_deref()),
            payload: PayloadRule::Whole(claims.payload.clone()),
        }
    }

    /// A 1.0 token's `authorization_details` as grants (B-AD-1 … B-AD-4); absent or null reads
    /// as no entry at all. Any invalid Mercure entry refuses the whole token.
    pub fn from_authorization_details(details: Option<&Value>) -> Result<Self, DetailError> {
        let entries = match details {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(entries)) => entries.as_slice(),
            Some(_) => return Err(DetailError::NotAnArray),
        };
        let mut grants = Self {
            dialect: Dialect::V1,
            publish: Vec::new(),
            subscribe: Vec::new(),
            payload: PayloadRule::PerEntry(Vec::new()),
        };
        let mut budget = Budget::default();
        for entry in entries {
            if let Some(detail) = mercure_entry(entry)? {
                budget.take_entry()?;
                grants.add(parse_entry(detail, &mut budget)?);
            }
        }
        Ok(grants)
    }

    fn add(&mut self, entry: Entry) {
        if entry.publish {
            self.publish.extend(entry.topics.iter().cloned());
        }
        if entry.subscribe {
            self.subscribe.extend(entry.topics.iter().cloned());
            if let PayloadRule::PerEntry(entries) = &mut self.payload {
                entries.push(PayloadEntry {
                    topics: entry.topics,
                    payload: entry.payload,
                });
            }
        }
    }

    /// A-AUTH-10, B-AD-5: every topic of an update (canonical and alternates) is covered by a
    /// publish grant.
    pub fn may_publish<'t>(
        &self,
        mut topics: impl Iterator<Item = &'t str>,
        matcher: &impl GrantMatcher,
    ) -> bool {
        topics.all(|topic| any_matches(&self.publish, topic, matcher))
    }

    /// A-AUTH-12, B-AD-6: a private update is readable when a subscribe grant covers at least
    /// one of its topics. Also the check of a subscription API target (A-SUBS-10, B-SAPI-2).
    pub fn may_subscribe<'t>(
        &self,
        mut topics: impl Iterator<Item = &'t str>,
        matcher: &impl GrantMatcher,
    ) -> bool {
        topics.any(|topic| any_matches(&self.subscribe, topic, matcher))
    }

    /// the `payload` of a subscription whose own matcher (or classic selector) text is
    /// `subscription`, read as a topic string (B-AD-8); the whole classic payload otherwise.
    pub fn payload_for(&self, subscription: &str, matcher: &impl GrantMatcher) -> Option<&Value> {
        match &self.payload {
            PayloadRule::Whole(payload) => payload.as_ref(),
            PayloadRule::PerEntry(entries) => entries
                .iter()
                .find(|entry| any_matches(&entry.topics, subscription, matcher))
                .and_then(|entry| entry.payload.as_ref()),
        }
    }

    /// The subscribe grants as hub selectors (see [`GrantSelector::to_selector`]).
    pub fn subscribe_selectors(&self, context: GrantContext<'_>) -> Vec<Selector> {
        self.subscribe
            .iter()
            .filter_map(|grant| grant.to_selector(context))
            .collect()
    }
}

fn any_matches(grants: &[GrantSelector], topic: &str, matcher: &impl GrantMatcher) -> bool {
    grants.iter().any(|grant| grant.matches(topic, matcher))
}

/// The B-AD-4 counters, shared by every entry of one token.
#[derive(Default)]
struct Budget {
    entries: usize,
    matchers: usize,
}

impl Budget {
    fn take_entry(&mut self) -> Result<(), DetailError> {
        self.entries += 1;
        if self.entries > MAX_DETAIL_ENTRIES {
            return Err(DetailError::TooManyEntries);
        }
        Ok(())
    }

    fn take_matchers(&mut self, count: usize) -> Result<(), DetailError> {
        self.matchers = self.matchers.saturating_add(count);
        if self.matchers > MAX_DETAIL_MATCHERS {
            return Err(DetailError::TooManyMatchers);
        }
        Ok(())
    }
}

/// One parsed Mercure entry.
struct Entry {
    publish: bool,
    subscribe: bool,
    topics: Vec<GrantSelector>,
    payload: Option<Value>,
}

/// The entry when it is a Mercure one; other resource servers' entries are skipped (B-AD-1).
/// RFC 9396 makes every entry an object with a string `type`: anything else is malformed.
fn mercure_entry(entry: &Value) -> Result<Option<&Map<String, Value>>, DetailError> {
    let object = entry.as_object().ok_or(DetailError::EntryNotAnObject)?;
    match object.get("type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(kind)) => Ok((kind == MERCURE_DETAIL_TYPE).then_some(object)),
        Some(_) => Err(DetailError::TypeNotAString),
    }
}

fn parse_entry(detail: &Map<String, Value>, budget: &mut Budget) -> Result<Entry, DetailError> {
    let (publish, subscribe) = actions(detail.get("actions"))?;
    let topics = match detail.get("topics") {
        Some(Value::Array(topics)) if !topics.is_empty() => topics,
        _ => return Err(DetailError::NoTopics),
    };
    // Counted before parsing, so an oversized list costs nothing more.
    budget.take_matchers(topics.len())?;
    let topics = topics.iter().map(topic).collect::<Result<Vec<_>, _>>()?;
    Ok(Entry {
        publish,
        subscribe,
        topics,
        payload: detail.get("payload").filter(|p| !p.is_null()).cloned(),
    })
}

/// B-AD-2: `(publish, subscribe)`; unknown action strings grant nothing.
fn actions(actions: Option<&Value>) -> Result<(bool, bool), DetailError> {
    let actions = match actions {
        Some(Value::Array(actions)) if !actions.is_empty() => actions,
        _ => return Err(DetailError::NoActions),
    };
    let mut granted = (false, false);
    for action in actions {
        match action.as_str().ok_or(DetailError::ActionNotAString)? {
            "publish" => granted.0 = true,
            "subscribe" => granted.1 = true,
            _ => {}
        }
    }
    Ok(granted)
}

/// B-AD-3: `{match, match_type?}` with a non-empty `match`; `match_type` is case-sensitive;
/// a `urlpattern` match must compile (B-MT-1, B-MT-4), as the reference hub requires.
fn topic(value: &Value) -> Result<GrantSelector, DetailError> {
    let object = value.as_object().ok_or(DetailError::BadTopic)?;
    let source = match object.get("match") {
        Some(Value::String(source)) if !source.is_empty() => source,
        _ => return Err(DetailError::BadTopic),
    };
    if source.len() > MAX_MATCH_BYTES {
        return Err(DetailError::MatchTooLong);
    }
    let match_type = match object.get("match_type") {
        None | Some(Value::Null) => MatchType::Exact,
        Some(Value::String(kind)) if kind == "exact" => MatchType::Exact,
        Some(Value::String(kind)) if kind == "urlpattern" => MatchType::UrlPattern,
        Some(other) => {
            let shown = other.to_string().chars().take(64).collect();
            return Err(DetailError::UnsupportedMatchType(shown));
        }
    };
    if match_type == MatchType::UrlPattern {
        // Bounded: at most 100 matchers of 4096 bytes each (B-AD-4, B-MT-6), once per token.
        check_url_pattern(source).map_err(|e| DetailError::InvalidPattern(error_chain(&e)))?;
    }
    Ok(GrantSelector::new(match_type, source))
}

/// `error` and its sources in one bounded line, for `DetailError::InvalidPattern`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(256).collect()
}

#[cfg(test)]
mod tests;
