//! Topic selectors and matching (protocol.md A-SEL): `*`, exact strings and URI templates.

mod bounded;
mod cache;
pub mod reserved;
mod template;

use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::MatchKind;

pub use cache::Matcher;

/// A compiled topic selector.
#[derive(Debug, Clone)]
pub enum Selector {
    /// `*`: matches every topic.
    Any,
    /// A plain string (also every selector that is not a valid template).
    Exact(Arc<str>),
    /// A valid URI template, compiled to an anchored, linear-time regex.
    Template(Arc<Template>),
}

/// A URI template: its outer literals compared as bytes, the rest by an anchored, linear-time
/// regex shared by every template with the same inner part (see `template::Split`).
#[derive(Debug)]
pub struct Template {
    pub source: String,
    prefix: Box<str>,
    suffix: Box<str>,
    regex: Arc<Regex>,
}

impl Template {
    /// Compiles `source`; `None` when it is not a valid template (or too large to compile).
    pub fn compile(source: &str) -> Option<Self> {
        Self::compile_with(source, |middle| compile_pattern(middle).map(Arc::new))
    }

    /// Compiles `source`, getting the regex of its inner part from `regex_for` (a cache).
    pub(crate) fn compile_with(
        source: &str,
        regex_for: impl FnOnce(&str) -> Option<Arc<Regex>>,
    ) -> Option<Self> {
        let split = template::split(source)?;
        Some(Self {
            source: source.to_owned(),
            prefix: split.prefix.into(),
            suffix: split.suffix.into(),
            regex: regex_for(&split.middle)?,
        })
    }

    /// Heap bytes of the compiled inner regex (not counting the search caches it grows when
    /// used), shared with the other templates that have the same inner part.
    pub fn compiled_size(&self) -> usize {
        self.regex.memory_usage()
    }

    /// Whether `topic` matches: byte equality first, then the pattern (A-SEL-1).
    pub fn is_match(&self, topic: &str) -> bool {
        topic == self.source
            || topic
                .strip_prefix(&*self.prefix)
                .and_then(|rest| rest.strip_suffix(&*self.suffix))
                .is_some_and(|middle| self.regex.is_match(middle))
    }
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
        }
    }
}

/// True when `value` contains a C0 control character or DEL (protocol.md C-HARD-2).
pub fn has_control_chars(value: &str) -> bool {
    value.bytes().any(|b| b < 0x20 || b == 0x7F)
}

#[cfg(test)]
mod tests;
