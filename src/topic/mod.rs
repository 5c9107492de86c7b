//! Topic selectors and matching (protocol.md A-SEL): `*`, exact strings and URI templates.

mod cache;
mod index;
pub mod reserved;
mod template;

use std::sync::Arc;

use regex::Regex;

pub use cache::Matcher;
pub use index::TemplateIndex;

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

#[derive(Debug)]
pub struct Template {
    pub source: String,
    regex: Regex,
    shape: template::Shape,
}

impl Template {
    /// Compiles `source`; `None` when it is not a valid template (or too large to compile).
    pub fn compile(source: &str) -> Option<Self> {
        let (pattern, shape) = template::pattern(source)?;
        let regex = regex::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .ok()?;
        Some(Self {
            source: source.to_owned(),
            regex,
            shape,
        })
    }

    /// False when `topic` cannot match, from the template's literal text alone (no regex);
    /// true when it may.
    pub fn may_match(&self, topic: &str) -> bool {
        self.shape.may_match(topic)
    }

    /// A path segment every topic the template matches holds whole, if there is one (see
    /// `Shape::segment`).
    pub fn segment(&self) -> Option<&str> {
        self.shape.segment()
    }

    /// Every topic the template matches starts with this literal text.
    pub fn prefix(&self) -> &str {
        &self.shape.prefix
    }

    /// Whether `topic` matches: byte equality first, then the pattern (A-SEL-1).
    pub fn is_match(&self, topic: &str) -> bool {
        topic == self.source || self.regex.is_match(topic)
    }
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
