//! Topic selectors and matching (protocol.md A-SEL, B-MT): `*`, exact strings, URI templates
//! and WHATWG URL patterns.

pub(crate) mod bounded;
mod cache;
mod clean;
mod index;
pub mod request;
pub mod reserved;
mod template;
mod urlpattern;

use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::MatchKind;

pub use cache::Matcher;
pub use clean::is_clean;
pub use index::{Candidate, TemplateIndex};
pub use urlpattern::{check_url_pattern, PatternError, UrlPattern, MAX_PATTERN_BYTES};

/// A compiled topic selector.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `*`: matches every topic.
    Any,
    /// A plain string (also every selector that is not a valid template).
    Exact(Arc<str>),
    /// A valid URI template, compiled to an anchored, linear-time regex.
    Template(Arc<Template>),
    /// A 1.0 `match_urlpattern` value with the base it resolves against (B-MT-4, B-MT-5).
    UrlPattern(Arc<UrlPattern>),
}

/// A URI template: its outer literals compared as bytes, the rest by an anchored, linear-time
/// regex (see `template::Split`). The compiled regex is not held here but in the matcher's
/// pattern cache, shared by every template with the same inner part and bounded in bytes, so a
/// subscription costs about the bytes of its selectors, however many distinct templates it has.
#[derive(Debug)]
pub struct Template {
    /// The selector as the subscriber wrote it.
    pub source: String,
    prefix: Box<str>,
    suffix: Box<str>,
    /// The anchored regex source of the inner part.
    middle: Arc<str>,
    /// The literal texts of the inner part, in order (see `TemplateIndex`).
    pieces: Box<[Box<str>]>,
}

impl Template {
    /// Parses `source` and checks that its inner part compiles (`compiles` answers, usually
    /// from a cache); `None` when it is not a valid template or too large to compile.
    pub(crate) fn parse(source: &str, compiles: impl FnOnce(&str) -> bool) -> Option<Self> {
        let split = template::split(source)?;
        if !compiles(&split.middle) {
            return None;
        }
        Some(Self {
            source: source.to_owned(),
            prefix: split.prefix.into(),
            suffix: split.suffix.into(),
            middle: split.middle.into(),
            pieces: split
                .pieces
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
        })
    }

    /// The anchored regex source of the inner part, the key of the compiled pattern.
    pub(crate) fn middle(&self) -> &Arc<str> {
        &self.middle
    }

    /// Every topic the template matches (but its own text) starts with this literal text.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A path segment every topic the template matches (but its own text) holds whole, if
    /// there is one (see `template::segment`).
    pub fn segment(&self) -> Option<&str> {
        template::segment(&self.pieces, &self.suffix)
    }

    /// False when `topic` cannot match, from the template's literal text alone (no regex);
    /// true when it may.
    pub fn may_match(&self, topic: &str) -> bool {
        match self.inner(topic) {
            Inner::Matches => true,
            Inner::Fails => false,
            Inner::Check(middle) => template::holds_in_order(middle, &self.pieces),
        }
    }

    /// What the inner regex must match for `topic` to match, when the outer literals agree.
    /// Byte equality with the template text is tried first (A-SEL-1).
    pub(crate) fn inner<'t>(&self, topic: &'t str) -> Inner<'t> {
        if topic == self.source {
            return Inner::Matches;
        }
        match topic
            .strip_prefix(&*self.prefix)
            .and_then(|rest| rest.strip_suffix(&*self.suffix))
        {
            Some(middle) => Inner::Check(middle),
            None => Inner::Fails,
        }
    }
}

/// How a topic fares against a template's outer literals.
pub(crate) enum Inner<'t> {
    Matches,
    Fails,
    /// The part of the topic between the literals, for the inner regex.
    Check(&'t str),
}

/// What `regex::RegexBuilder::new(pattern).size_limit(1 << 20).build()` builds, kept as the
/// underlying engine because it reports its heap size (for the cache's byte budget).
pub(crate) fn compile_pattern(pattern: &str) -> Option<Regex> {
    meta::Builder::new()
        .configure(
            meta::Config::new()
                .nfa_size_limit(Some(1 << 20))
                .hybrid_cache_capacity(2 << 20)
                .match_kind(MatchKind::LeftmostFirst)
                .utf8_empty(true),
        )
        .syntax(syntax::Config::new().utf8(true))
        .build(pattern)
        .ok()
}

impl Selector {
    /// The selector text as the client sent it.
    pub fn source(&self) -> &str {
        match self {
            Self::Any => "*",
            Self::Exact(text) => text,
            Self::Template(template) => &template.source,
            Self::UrlPattern(pattern) => &pattern.source,
        }
    }
}

/// True when `value` contains a C0 control character or DEL (protocol.md C-HARD-2).
pub fn has_control_chars(value: &str) -> bool {
    value.bytes().any(|b| b < 0x20 || b == 0x7F)
}

#[cfg(test)]
mod tests;
