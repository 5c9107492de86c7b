//! The selector and cursor parameters of a subscription request, in both dialects
//! (protocol.md, A-SUB-1…A-SUB-3, B-SUB-2…B-SUB-7, B-HIST-7).
//!
//! Two steps keep A-SUB-9's order (token 401 before selector 400): `SubscriptionRequest::read`
//! runs before authentication — it refuses only what is `Bad Request\n` today (the reserved
//! `match` namespace, a `Last-Event-ID` header that is not UTF-8) and tells the dialect, on
//! which the token sources depend; `SubscriptionRequest::selectors` runs after it and
//! validates and compiles the selectors.

use std::str::Utf8Error;

use thiserror::Error;
use url::Url;

use super::{is_clean, Matcher, PatternError, Selector, MAX_PATTERN_BYTES};
use crate::form::Pairs;

/// Most `topic` parameters per subscription (A-SUB-3).
pub const MAX_TOPICS: usize = 1000;
/// Most `match*` parameters per subscription (B-SUB-7).
pub const MAX_MATCHERS: usize = 100;
/// Longest `match*` value, in bytes (B-SUB-7).
pub const MAX_MATCHER_BYTES: usize = MAX_PATTERN_BYTES;

/// The parameter names in the `match` namespace that are supported (B-SUB-3, B-SUB-5).
const MATCHER_PARAMETERS: [(&str, MatchType); 3] = [
    ("match", MatchType::Exact),
    ("match_exact", MatchType::Exact),
    ("match_urlpattern", MatchType::UrlPattern),
];

/// Which dialect a subscription request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `topic` parameters only, or no selector at all (then refused as classic, A-SUB-1).
    Classic,
    /// `match*` parameters only.
    V1,
    /// Both: each parameter is a subscription of its own dialect.
    Mixed,
}

/// A 1.0 matcher type (B-MT-1); serialized by its canonical name (a shared log's presence list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// `match` or `match_exact`: byte equality (B-MT-3).
    Exact,
    /// `match_urlpattern`: a WHATWG URL Pattern (B-MT-4).
    UrlPattern,
}

impl MatchType {
    /// The canonical lower-case name (B-SE-2, B-SE-4, B-AD-*).
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::UrlPattern => "urlpattern",
        }
    }
}

/// One `match`, `match_exact` or `match_urlpattern` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Matcher {
    /// Which parameter gave it, hence how it is compiled.
    pub match_type: MatchType,
    /// The value as given, also shown in subscription events (B-SE-2).
    pub value: String,
}

/// Where the cursor was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorSource {
    /// The `Last-Event-ID` request header.
    Header,
    /// A parameter of the query string.
    Query(CursorParameter),
    /// A parameter of a `QUERY` body (B-SUB-2).
    Body(CursorParameter),
}

/// The cursor parameters, in precedence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorParameter {
    /// `last_event_id` (1.0, B-HIST-2).
    LastEventId,
    /// `lastEventID` (classic, A-HIST-2).
    LastEventIdCamel,
    /// The legacy `Last-Event-ID` query parameter (classic, A-HIST-2); never read from a body.
    LegacyLastEventId,
}

impl CursorParameter {
    const IN_ORDER: [Self; 3] = [
        Self::LastEventId,
        Self::LastEventIdCamel,
        Self::LegacyLastEventId,
    ];

    /// The parameter's name as it appears in a request.
    pub fn name(self) -> &'static str {
        match self {
            Self::LastEventId => "last_event_id",
            Self::LastEventIdCamel => "lastEventID",
            Self::LegacyLastEventId => "Last-Event-ID",
        }
    }
}

/// The cursor of a request (X-7, B-HIST-7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CursorRequest {
    /// The first non-empty value in X-7 order, and where it was found; `None` when there is
    /// none. `earliest` is kept as text: the hub reads it (A-HIST-4).
    pub found: Option<(String, CursorSource)>,
    /// A `Last-Event-ID` header or a `last_event_id` parameter was present but empty: a 1.0
    /// response still carries `Mercure-Last-Event-ID` (B-HIST-7).
    pub empty_presented: bool,
}

impl CursorRequest {
    /// The cursor value, if any.
    pub fn value(&self) -> Option<&str> {
        self.found.as_ref().map(|(value, _)| value.as_str())
    }

    /// B-HIST-7: a 1.0 response carries `Mercure-Last-Event-ID` (the cursor when found, else
    /// `earliest`) when the request carried a cursor, even an empty one.
    pub fn echo_v1(&self) -> bool {
        self.found.is_some() || self.empty_presented
    }
}

/// What `read` refuses, before authentication: always `Bad Request\n` (X-13, C-HARD-3, B-SUB-5).
#[derive(Debug, Error)]
pub enum RequestError {
    /// The header is not UTF-8 (C-HARD-3).
    #[error("the Last-Event-ID header is not UTF-8")]
    HeaderNotUtf8(#[source] Utf8Error),
    /// An unsupported name in the reserved `match` namespace (B-SUB-5).
    #[error("parameter {0:?} is in the reserved match namespace")]
    ReservedName(String),
}

impl RequestError {
    /// The response body (400).
    pub fn body(&self) -> &'static str {
        "Bad Request\n"
    }
}

/// What `selectors` refuses, after authentication (400). The text is for logs; `body` is what
/// the client gets, never a compiler message (C-HARD-4).
#[derive(Debug, Error)]
pub enum SelectorError {
    /// No `topic` and no `match*` parameter (A-SUB-1).
    #[error("no topic nor match parameter")]
    MissingTopic,
    /// Over [`MAX_TOPICS`] `topic` parameters (A-SUB-3).
    #[error("more than {MAX_TOPICS} topic parameters")]
    TooManyTopics,
    /// A `topic` over `max_selector_length` or holding a control character (C-HARD-2).
    #[error("a topic selector is too long or holds a control character")]
    InvalidTopic,
    /// Selectors over `max_selectors_size` in all.
    #[error("selectors of {0} bytes in all, over max_selectors_size")]
    TooLarge(u64),
    /// Over [`MAX_MATCHERS`] `match*` parameters (B-SUB-7).
    #[error("more than {MAX_MATCHERS} matcher parameters")]
    TooManyMatchers,
    /// A `match*` value over [`MAX_MATCHER_BYTES`] (B-SUB-7).
    #[error("a matcher value of {0} bytes, over {MAX_MATCHER_BYTES}")]
    MatcherTooLong(usize),
    /// A `match*` value with a control or `Cf` character (B-SUB-6).
    #[error("a matcher value holds a control or format character")]
    UncleanMatcher,
    /// A `match_urlpattern` value that does not compile (B-MT-4, B-MT-6).
    #[error("a match_urlpattern value does not compile")]
    InvalidPattern(#[source] PatternError),
}

impl SelectorError {
    /// The response body (400): Part A's texts for classic checks, the reference 1.0 hub's for
    /// the 1.0 ones (B-SUB-6, B-SUB-7).
    pub fn body(&self) -> &'static str {
        match self {
            Self::MissingTopic => "Missing \"topic\" parameter.\n",
            Self::TooManyTopics => "Too many \"topic\" parameters.\n",
            Self::InvalidTopic | Self::TooLarge(_) => "Invalid \"topic\" parameter.\n",
            Self::TooManyMatchers => "too many matchers (max 100)\n",
            Self::MatcherTooLong(_) => "pattern too long (max 4096 bytes)\n",
            Self::UncleanMatcher => {
                "topic matcher values must be valid UTF-8 without control characters\n"
            }
            Self::InvalidPattern(_) => "invalid topic matcher pattern\n",
        }
    }
}

/// Settings that bound classic selectors (`0` = no limit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// `max_selector_length`: bytes of one `topic` value.
    pub max_selector_length: usize,
    /// `max_selectors_size`: bytes of all `topic` and `match*` values together (R-BOUND).
    pub max_selectors_size: u64,
}

/// The compiled selectors of a request, each kept with its dialect (X-10: each subscription
/// emits subscription events in its own dialect).
#[derive(Debug)]
pub struct Selectors {
    /// One per `topic` value, in order (A-SUB-2).
    pub classic: Vec<Selector>,
    /// One per `match*` value, in order.
    pub v1: Vec<(V1Matcher, Selector)>,
}

/// The selector and cursor parameters of a subscription request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRequest {
    /// Which dialect the request speaks: decides the token sources and the cursor
    /// header.
    pub dialect: Dialect,
    /// Every `topic` value, query first, then body.
    pub topics: Vec<String>,
    /// Every `match*` value, query first, then body.
    pub matchers: Vec<V1Matcher>,
    /// The cursor, and whether a 1.0 cursor header is owed (X-7, B-HIST-7).
    pub cursor: CursorRequest,
}

impl SubscriptionRequest {
    /// Reads the decoded query pairs, the decoded body pairs of a `QUERY` request (B-SUB-2;
    /// decode both with `form::parse`, X-13) and the raw `Last-Event-ID` header.
    pub fn read(
        query: &Pairs,
        body: Option<&Pairs>,
        header: Option<&[u8]>,
    ) -> Result<Self, RequestError> {
        let body: &[(String, String)] = body.map_or(&[], Vec::as_slice);
        let all = || query.iter().chain(body);
        if let Some((name, _)) = all().find(|(name, _)| in_reserved_namespace(name)) {
            return Err(RequestError::ReservedName(name.clone()));
        }
        let topics: Vec<String> = all()
            .filter(|(name, _)| name == "topic")
            .map(|(_, value)| value.clone())
            .collect();
        let matchers: Vec<V1Matcher> = all()
            .filter_map(|(name, value)| {
                matcher_type(name).map(|match_type| V1Matcher {
                    match_type,
                    value: value.clone(),
                })
            })
            .collect();
        let dialect = match (topics.is_empty(), matchers.is_empty()) {
            (false, false) => Dialect::Mixed,
            (true, false) => Dialect::V1,
            _ => Dialect::Classic,
        };
        let cursor = cursor(header, query, body)?;
        Ok(Self {
            dialect,
            topics,
            matchers,
            cursor,
        })
    }

    /// Validates and compiles the selectors (A-SUB-1, A-SUB-3, C-HARD-2, R-BOUND, B-SUB-6,
    /// B-SUB-7, B-MT-*): URL patterns against `base`, the hub URL (B-MT-5, `base_url`).
    pub fn selectors(
        &self,
        matcher: &Matcher,
        base: &Url,
        limits: Limits,
    ) -> Result<Selectors, SelectorError> {
        if self.topics.is_empty() && self.matchers.is_empty() {
            return Err(SelectorError::MissingTopic);
        }
        check_topics(&self.topics, limits.max_selector_length)?;
        self.check_total_size(limits.max_selectors_size)?;
        if self.matchers.len() > MAX_MATCHERS {
            return Err(SelectorError::TooManyMatchers);
        }
        let v1 = self
            .matchers
            .iter()
            .map(|m| Ok((m.clone(), compile_matcher(matcher, m, base)?)))
            .collect::<Result<_, SelectorError>>()?;
        Ok(Selectors {
            classic: self.topics.iter().map(|t| matcher.selector(t)).collect(),
            v1,
        })
    }

    /// R-BOUND: every selector of the request together, `topic` and `match*` alike.
    fn check_total_size(&self, max_total: u64) -> Result<(), SelectorError> {
        if max_total == 0 {
            return Ok(());
        }
        let total = self
            .topics
            .iter()
            .map(String::len)
            .chain(self.matchers.iter().map(|m| m.value.len()))
            .fold(0u64, |sum, len| {
                sum.saturating_add(u64::try_from(len).unwrap_or(u64::MAX))
            });
        if total > max_total {
            return Err(SelectorError::TooLarge(total));
        }
        Ok(())
    }
}

/// B-MT-5: the base URL of relative patterns and topics: the configured resource identifier
/// when it ends in `/.well-known/mercure`, else `<scheme>://<host>/.well-known/mercure` of the
/// request (the caller makes `scheme` and `host` trusted-proxy aware). `None` when they do
/// not make a URL (a malformed `Host`): the request is then refused (400).
pub fn base_url(resource_identifier: Option<&Url>, scheme: &str, host: &str) -> Option<Url> {
    if let Some(configured) = resource_identifier {
        if configured.path().ends_with("/.well-known/mercure") {
            return Some(configured.clone());
        }
    }
    let url = Url::parse(&format!("{scheme}://{host}/.well-known/mercure")).ok()?;
    // A `host` holding `/`, `?`, `#` or `@` would move the path or add credentials.
    (url.path() == "/.well-known/mercure"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none())
    .then_some(url)
}

/// B-SUB-5: names that start with `match` under an ASCII case-insensitive comparison but are
/// not a supported matcher parameter; applies to every request.
fn in_reserved_namespace(name: &str) -> bool {
    name.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("match"))
        && matcher_type(name).is_none()
}

/// The matcher type of a supported parameter name (case-sensitive).
fn matcher_type(name: &str) -> Option<MatchType> {
    MATCHER_PARAMETERS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, match_type)| *match_type)
}

/// A-SUB-3, C-HARD-2, `max_selector_length`: the classic checks, as `http::subscribe` runs
/// them.
fn check_topics(topics: &[String], max_length: usize) -> Result<(), SelectorError> {
    if topics.len() > MAX_TOPICS {
        return Err(SelectorError::TooManyTopics);
    }
    if topics
        .iter()
        .any(|t| super::has_control_chars(t) || (max_length > 0 && t.len() > max_length))
    {
        return Err(SelectorError::InvalidTopic);
    }
    Ok(())
}

/// B-SUB-6, B-SUB-7, B-MT-1…B-MT-5: one matcher value, checked then compiled.
fn compile_matcher(
    matcher: &Matcher,
    value: &V1Matcher,
    base: &Url,
) -> Result<Selector, SelectorError> {
    let text = value.value.as_str();
    if text.len() > MAX_MATCHER_BYTES {
        return Err(SelectorError::MatcherTooLong(text.len()));
    }
    if !is_clean(text) {
        return Err(SelectorError::UncleanMatcher);
    }
    match value.match_type {
        MatchType::Exact => Ok(matcher.exact(text)),
        MatchType::UrlPattern => matcher
            .url_pattern(text, base)
            .map_err(SelectorError::InvalidPattern),
    }
}

/// the non-empty `Last-Event-ID` header, then `last_event_id`, `lastEventID` (query, then
/// body), then the legacy `Last-Event-ID` query parameter; and B-HIST-7's empty presence.
fn cursor(
    header: Option<&[u8]>,
    query: &[(String, String)],
    body: &[(String, String)],
) -> Result<CursorRequest, RequestError> {
    let header = header
        .map(std::str::from_utf8)
        .transpose()
        .map_err(RequestError::HeaderNotUtf8)?;
    let empty_presented = header == Some("")
        || named(query, CursorParameter::LastEventId)
            .chain(named(body, CursorParameter::LastEventId))
            .any(str::is_empty);
    let from_header = header
        .filter(|h| !h.is_empty())
        .map(|h| (h.to_owned(), CursorSource::Header));
    let found = from_header.or_else(|| {
        CursorParameter::IN_ORDER.iter().find_map(|&parameter| {
            let first = |pairs| named(pairs, parameter).find(|v| !v.is_empty());
            first(query)
                .map(|v| (v.to_owned(), CursorSource::Query(parameter)))
                .or_else(|| {
                    let in_body = parameter != CursorParameter::LegacyLastEventId;
                    in_body
                        .then(|| first(body))
                        .flatten()
                        .map(|v| (v.to_owned(), CursorSource::Body(parameter)))
                })
        })
    });
    Ok(CursorRequest {
        found,
        empty_presented,
    })
}

/// The values of `parameter` in `pairs`, in order.
fn named(
    pairs: &[(String, String)],
    parameter: CursorParameter,
) -> impl Iterator<Item = &str> + '_ {
    let name = parameter.name();
    pairs
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests;
