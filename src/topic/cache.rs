//! Bounded caches of compiled templates and of template match results (protocol.md A-SEL-5).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use super::bounded::BoundedCache;
use regex_automata::meta::Regex;

use super::{compile_pattern, Inner, Selector, Template};

/// Default budgets, in bytes. Templates: 10,000 of some 100 bytes of text (the reference hub's
/// count) take about 5 MB. Patterns: the compiled inner parts (about 4 KiB for one expression,
/// some 50 bytes more per byte of literal between expressions), shared by the templates that
/// have the same one; thousands of distinct ones fit. Results: 100,000 matches of two typical
/// URLs. A flood of large distinct selectors evicts cold entries, never the ones in use
/// (docs/operations.md "Caches").
pub(super) const TEMPLATE_CACHE_BYTES: usize = 16 << 20;
pub(super) const PATTERN_CACHE_BYTES: usize = 64 << 20;
pub(super) const RESULT_CACHE_BYTES: usize = 32 << 20;

/// What an entry costs beyond its strings: the map slot, the eviction queue's copy of the key,
/// reference counts and allocator rounding.
const ENTRY_OVERHEAD: usize = 128;

/// Compiles selectors and matches topics against them, remembering all three in caches bounded
/// in bytes.
pub struct Matcher {
    /// selector text → template, or `None` for "not a template".
    pub(super) templates: BoundedCache<Arc<str>, Option<Arc<Template>>>,
    /// a template's inner regex source → its compiled regex (`None`: too large to compile).
    pub(super) patterns: BoundedCache<Arc<str>, Option<Arc<Regex>>>,
    /// hash of (selector, topic) → (selector, topic, result); the key is a hash so lookups
    /// need no allocation; the stored strings guard against collisions.
    pub(super) results: BoundedCache<u64, (Arc<str>, Box<str>, bool)>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Matcher {
    fn default() -> Self {
        Self::with_budgets(
            TEMPLATE_CACHE_BYTES,
            PATTERN_CACHE_BYTES,
            RESULT_CACHE_BYTES,
        )
    }
}

impl Matcher {
    /// A matcher whose caches hold at most these many bytes each (as estimated per entry).
    pub fn with_budgets(template_bytes: usize, pattern_bytes: usize, result_bytes: usize) -> Self {
        Self {
            templates: BoundedCache::new(template_bytes),
            patterns: BoundedCache::new(pattern_bytes),
            results: BoundedCache::new(result_bytes),
            hasher: Default::default(),
        }
    }

    /// Compiles one selector (A-SEL-1/A-SEL-2). Never fails: an invalid template is exact.
    pub fn selector(&self, source: &str) -> Selector {
        if source == "*" {
            return Selector::Any;
        }
        if !source.contains('{') {
            return Selector::Exact(Arc::from(source));
        }
        let compiled = match self.templates.read(source, Clone::clone) {
            Some(known) => known,
            None => {
                let compiled =
                    Template::parse(source, |middle| self.pattern(middle).is_some()).map(Arc::new);
                // The text four times: the key, the template's copy, its outer literals and its
                // inner ones.
                let bytes = source
                    .len()
                    .saturating_mul(4)
                    .saturating_add(ENTRY_OVERHEAD);
                self.templates
                    .insert(Arc::from(source), compiled.clone(), bytes);
                compiled
            }
        };
        compiled.map_or_else(|| Selector::Exact(Arc::from(source)), Selector::Template)
    }

    /// The compiled regex of a template's inner part, from the pattern cache, compiled again
    /// when it was evicted; `None` when it is too large to compile.
    fn pattern(&self, middle: &str) -> Option<Arc<Regex>> {
        if let Some(known) = self.patterns.read(middle, Clone::clone) {
            return known;
        }
        let compiled = compile_pattern(middle).map(Arc::new);
        // The compiled regex counts twice: the search caches of the threads that use it grow
        // to about its size.
        let bytes = compiled
            .as_ref()
            .map_or(0, |regex| regex.memory_usage().saturating_mul(2))
            .saturating_add(middle.len())
            .saturating_add(ENTRY_OVERHEAD);
        self.patterns
            .insert(Arc::from(middle), compiled.clone(), bytes);
        compiled
    }

    /// `matches(topic, selector)` of protocol.md A-SEL-1.
    pub fn matches(&self, selector: &Selector, topic: &str) -> bool {
        match selector {
            Selector::Any => true,
            Selector::Exact(text) => **text == *topic,
            Selector::Template(template) => self.template_matches(template, topic),
        }
    }

    /// True when any of `topics` matches `selector`.
    pub fn matches_any<'a>(
        &self,
        selector: &Selector,
        mut topics: impl Iterator<Item = &'a str>,
    ) -> bool {
        topics.any(|topic| self.matches(selector, topic))
    }

    /// Outer literals first (no cache needed), then the inner regex through the result cache.
    pub fn template_matches(&self, template: &Template, topic: &str) -> bool {
        let middle = match template.inner(topic) {
            Inner::Matches => return true,
            Inner::Fails => return false,
            Inner::Check(middle) => middle,
        };
        let key = self.key(&template.source, topic);
        let cached = self.results.read(&key, |(selector, cached_topic, result)| {
            (**selector == *template.source && **cached_topic == *topic).then_some(*result)
        });
        if let Some(Some(result)) = cached {
            return result;
        }
        let result = self
            .pattern(template.middle())
            .is_some_and(|regex| regex.is_match(middle));
        let bytes = template
            .source
            .len()
            .saturating_add(topic.len())
            .saturating_add(ENTRY_OVERHEAD);
        self.results.insert(
            key,
            (Arc::from(template.source.as_str()), topic.into(), result),
            bytes,
        );
        result
    }

    pub(super) fn key(&self, selector: &str, topic: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        selector.hash(&mut hasher);
        topic.hash(&mut hasher);
        hasher.finish()
    }
}
