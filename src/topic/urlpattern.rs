//! WHATWG URL Pattern selectors of the 1.0 dialect (protocol.md B-MT-4…B-MT-6), on the
//! `urlpattern` crate (the one Deno uses).
//!
//! Patterns and topics are resolved against a base URL, the hub URL (B-MT-5); a topic that does
//! not parse as a URL reference against it never matches. `ignoreCase` is never enabled. Every
//! component regex is built by `compile_pattern` (the `regex` engine, linear-time, with a bounded
//! automaton size), so evaluation is linear in the topic and compilation is bounded (B-MT-6).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use regex_automata::meta::Regex;
use thiserror::Error;
use url::Url;
use urlpattern::component::Component;
use urlpattern::matcher::InnerMatcher;
use urlpattern::regexp::RegExp;
use urlpattern::{RegexSyntax, UrlPatternInit, UrlPatternOptions};

use super::compile_pattern;

/// The longest pattern compiled (B-SUB-7: matcher values are at most 4096 bytes).
pub const MAX_PATTERN_BYTES: usize = 4096;

/// Why a URL pattern does not compile. The text is for logs only: clients get the fixed body of
/// B-SUB-6, never this (C-HARD-4).
#[derive(Debug, Error)]
pub enum PatternError {
    /// Over [`MAX_PATTERN_BYTES`] bytes (B-SUB-7).
    #[error("URL pattern of {0} bytes, over {MAX_PATTERN_BYTES}")]
    TooLong(usize),
    /// Refused by the URL Pattern compiler (B-MT-4).
    #[error("invalid URL pattern")]
    Invalid(#[source] urlpattern::Error),
    /// The compiler failed in a way it does not report; kept as a refusal, not a crash.
    #[error("the URL pattern compiler panicked")]
    Panicked,
}

/// The base a token's URL Pattern grant is compiled against when the token is read (B-AD-3):
/// the request's hub URL is not known then. Every hub URL is an http(s) origin with the path
/// `/.well-known/mercure` (`request::base_url`), and whether a pattern compiles does not depend
/// on which one; `.invalid` (RFC 6761) names no real host.
const CHECK_BASE: &str = "https://mercure.invalid/.well-known/mercure";

/// Whether `source` compiles as a URL Pattern (B-AD-3, B-MT-4): the check of a token's
/// `urlpattern` grant, which the reference hub also makes when it reads the token. `*` is the
/// wildcard, never compiled (B-MT-2). The compiled pattern is not kept: matching compiles it
/// again against the request's base, through the matcher's cache.
pub fn check_url_pattern(source: &str) -> Result<(), PatternError> {
    if source == "*" {
        return Ok(());
    }
    let base =
        Url::parse(CHECK_BASE).map_err(|e| PatternError::Invalid(urlpattern::Error::Url(e)))?;
    Compiled::compile(source, &base).map(drop)
}

/// A `match_urlpattern` selector: its text and the base it is resolved against. The compiled
/// pattern lives in the matcher's cache (like a template's regex), keyed by `key`.
#[derive(Debug)]
pub struct UrlPattern {
    /// The pattern as given: what the index files it under and the cache compiles.
    pub source: String,
    base: Url,
    key: Arc<str>,
    literals: Literals,
}

/// What the compiled pattern requires byte for byte of a resolved topic's components (the very
/// strings `Compiled::matches` hands its matchers), so that the index can file the pattern
/// under them: a topic whose components differ cannot match, whatever the rest of the pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Literals {
    /// The whole scheme (`Url::scheme`), when the protocol component is a literal.
    pub(crate) protocol: Option<Box<str>>,
    /// The whole host (`Url::host_str`, empty without one), when the hostname is a literal.
    pub(crate) hostname: Option<Box<str>>,
    /// Text every matching pathname (`url::quirks::pathname`) starts with; may be empty.
    pub(crate) pathname: Box<str>,
}

impl UrlPattern {
    pub(crate) fn new(source: &str, base: &Url, key: Arc<str>, compiled: &Compiled) -> Self {
        Self {
            source: source.to_owned(),
            base: base.clone(),
            key,
            literals: compiled.literals(),
        }
    }

    /// What a topic's resolved components must be for the pattern to match (see `Literals`).
    pub(crate) fn literals(&self) -> &Literals {
        &self.literals
    }

    /// The base URL relative patterns and topics are resolved against (B-MT-5).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// What identifies the compiled pattern: the base and the text (see `cache_key`).
    pub(crate) fn key(&self) -> &Arc<str> {
        &self.key
    }

    /// `topic` as the pattern sees it, resolved against the base; `None` when it is not a URL
    /// reference (then it never matches, B-MT-4).
    pub(crate) fn resolve(&self, topic: &str) -> Option<Url> {
        self.base.join(topic).ok()
    }
}

/// The cache key of a pattern compiled against `base`: the base's length first, so that no two
/// (base, pattern) pairs give the same key.
pub(crate) fn cache_key(source: &str, base: &Url) -> String {
    let base = base.as_str();
    format!("{}:{base}{source}", base.len())
}

/// A compiled URL pattern.
#[derive(Debug)]
pub(crate) struct Compiled(urlpattern::UrlPattern<Bounded>);

impl Compiled {
    /// Compiles `source` against `base` (B-MT-4, B-MT-5), never with `ignoreCase`.
    pub(crate) fn compile(source: &str, base: &Url) -> Result<Self, PatternError> {
        if source.len() > MAX_PATTERN_BYTES {
            return Err(PatternError::TooLong(source.len()));
        }
        let options = UrlPatternOptions {
            regex_syntax: RegexSyntax::Rust,
            ignore_case: false,
        };
        // Defence in depth: the crate asserts on some internal invariants; a pattern that trips
        // one is refused like any invalid pattern instead of taking the worker down.
        catch_unwind(AssertUnwindSafe(|| {
            UrlPatternInit::parse_constructor_string::<Bounded>(source, Some(base.clone()))
                .and_then(|init| urlpattern::UrlPattern::parse(init, options))
        }))
        .map_err(|_| PatternError::Panicked)?
        .map(|mut pattern| {
            for component in components_mut(&mut pattern) {
                if let Ok(unused) = &mut component.regexp {
                    unused.regex = None;
                }
            }
            Self(pattern)
        })
        .map_err(PatternError::Invalid)
    }

    /// True when `url` matches every component, checked in the crate's order but stopping at
    /// the first mismatch (`UrlPattern::test` would run all eight and copy each component).
    pub(crate) fn matches(&self, url: &Url) -> bool {
        let p = &self.0;
        let parts: [(&Component<Bounded>, &str); 8] = [
            (&p.protocol, url.scheme()),
            (&p.username, url.username()),
            (&p.password, url.password().unwrap_or_default()),
            (&p.hostname, url.host_str().unwrap_or_default()),
            (&p.port, url::quirks::port(url)),
            (&p.pathname, url::quirks::pathname(url)),
            (&p.search, url.query().unwrap_or_default()),
            (&p.hash, url.fragment().unwrap_or_default()),
        ];
        catch_unwind(AssertUnwindSafe(|| {
            parts
                .iter()
                .all(|(component, input)| component.matcher.matches(input).is_some())
        }))
        .unwrap_or(false)
    }

    /// What every URL this pattern matches has, byte for byte, in the components the index
    /// files patterns under. Read from each component's matcher, which `matches` runs on the
    /// same strings: an input must start with the matcher's prefix, and equal prefix, literal
    /// and suffix when the matcher is a literal (`ignoreCase` is never enabled).
    pub(crate) fn literals(&self) -> Literals {
        fn exact(component: &Component<Bounded>) -> Option<Box<str>> {
            let matcher = &component.matcher;
            match &matcher.inner {
                InnerMatcher::Literal { literal } if !matcher.ignore_case => Some(
                    [&*matcher.prefix, literal, &*matcher.suffix]
                        .concat()
                        .into(),
                ),
                _ => None,
            }
        }
        let pathname = &self.0.pathname;
        Literals {
            protocol: exact(&self.0.protocol),
            hostname: exact(&self.0.hostname),
            pathname: exact(pathname).unwrap_or_else(|| {
                if pathname.matcher.ignore_case {
                    Box::default()
                } else {
                    pathname.matcher.prefix.as_str().into()
                }
            }),
        }
    }

    /// The heap the pattern holds (for the cache's byte budget).
    pub(crate) fn memory_usage(&self) -> usize {
        let p = &self.0;
        [
            &p.protocol,
            &p.username,
            &p.password,
            &p.hostname,
            &p.port,
            &p.pathname,
            &p.search,
            &p.hash,
        ]
        .iter()
        .map(|component| {
            let own = component.regexp.as_ref().map_or(0, Bounded::memory_usage);
            let matcher = &component.matcher;
            let inner = match &matcher.inner {
                InnerMatcher::RegExp { regexp } => regexp.as_ref().map_or(0, Bounded::memory_usage),
                InnerMatcher::Literal { literal } => literal.len(),
                InnerMatcher::SingleCapture { .. } => 0,
            };
            [
                own,
                inner,
                component.pattern_string.len(),
                matcher.prefix.len(),
                matcher.suffix.len(),
            ]
            .into_iter()
            .fold(0, usize::saturating_add)
        })
        .fold(0, usize::saturating_add)
    }
}

/// The eight components, to drop the whole-component regexes after compilation: the crate
/// builds one per component for `exec`, but matching uses only each component's matcher (a
/// literal, a single capture, or a regex of its own), and the hub only tests. Dropping them
/// keeps a typical pattern at a few hundred bytes instead of some 50 KB.
fn components_mut(pattern: &mut urlpattern::UrlPattern<Bounded>) -> [&mut Component<Bounded>; 8] {
    [
        &mut pattern.protocol,
        &mut pattern.username,
        &mut pattern.password,
        &mut pattern.hostname,
        &mut pattern.port,
        &mut pattern.pathname,
        &mut pattern.search,
        &mut pattern.hash,
    ]
}

/// The regex behind each pattern component: `compile_pattern`'s engine (linear-time, automaton
/// size bounded), answering only whether it matches. Captures are never asked for: the hub
/// tests patterns, it never `exec`s them.
#[derive(Debug)]
pub(crate) struct Bounded {
    /// `None` once dropped as unused (`components_mut`): it then never matches.
    regex: Option<Regex>,
    source: Box<str>,
}

impl Bounded {
    fn memory_usage(&self) -> usize {
        // Search caches of the threads that use it grow to about its size (as for templates).
        self.regex
            .as_ref()
            .map_or(0, |regex| regex.memory_usage().saturating_mul(2))
            .saturating_add(self.source.len())
    }
}

impl RegExp for Bounded {
    fn syntax() -> RegexSyntax {
        RegexSyntax::Rust
    }

    fn parse(pattern: &str, _flags: &str, _force_eval: bool) -> Result<Self, ()> {
        // The flags are `u` (Unicode, the engine's default) or `ui` with `ignoreCase`, which
        // is never enabled (B-MT-4).
        compile_pattern(pattern)
            .map(|regex| Self {
                regex: Some(regex),
                source: pattern.into(),
            })
            .ok_or(())
    }

    fn matches<'a>(&self, text: &'a str) -> Option<Vec<Option<&'a str>>> {
        self.regex
            .as_ref()
            .is_some_and(|regex| regex.is_match(text))
            .then(Vec::new)
    }

    fn pattern_string(&self) -> &str {
        &self.source
    }
}

#[cfg(test)]
mod tests;
