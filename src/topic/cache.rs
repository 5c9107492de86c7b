//! Bounded caches of compiled templates and of template match results (protocol.md A-SEL-5).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use dashmap::DashMap;

use super::{Selector, Template};

/// Default bounds, as the reference hub.
const TEMPLATE_CACHE: usize = 10_000;
const RESULT_CACHE: usize = 100_000;

/// Compiles selectors and matches topics against them, remembering both in bounded caches.
pub struct Matcher {
    /// selector text → compiled template, or `None` for "not a template".
    pub(super) templates: DashMap<Arc<str>, Option<Arc<Template>>>,
    /// hash of (selector, topic) → (selector, topic, result); the key is a hash so lookups
    /// need no allocation; the stored strings guard against collisions.
    pub(super) results: DashMap<u64, (Arc<str>, Box<str>, bool)>,
    hasher: std::collections::hash_map::RandomState,
    template_limit: usize,
    result_limit: usize,
}

impl Default for Matcher {
    fn default() -> Self {
        Self::with_limits(TEMPLATE_CACHE, RESULT_CACHE)
    }
}

impl Matcher {
    pub fn with_limits(template_limit: usize, result_limit: usize) -> Self {
        Self {
            templates: DashMap::new(),
            results: DashMap::new(),
            hasher: Default::default(),
            template_limit,
            result_limit,
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
        if let Some(known) = self.templates.get(source) {
            return known
                .value()
                .clone()
                .map_or_else(|| Selector::Exact(Arc::from(source)), Selector::Template);
        }
        let compiled = Template::compile(source).map(Arc::new);
        if self.templates.len() >= self.template_limit {
            self.templates.clear();
        }
        self.templates.insert(Arc::from(source), compiled.clone());
        compiled.map_or_else(|| Selector::Exact(Arc::from(source)), Selector::Template)
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

    pub fn template_matches(&self, template: &Template, topic: &str) -> bool {
        let key = self.key(&template.source, topic);
        if let Some(entry) = self.results.get(&key) {
            let (selector, cached_topic, result) = entry.value();
            if **selector == *template.source && **cached_topic == *topic {
                return *result;
            }
        }
        let result = template.is_match(topic);
        if self.results.len() >= self.result_limit {
            self.results.clear();
        }
        self.results.insert(
            key,
            (Arc::from(template.source.as_str()), topic.into(), result),
        );
        result
    }

    fn key(&self, selector: &str, topic: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        selector.hash(&mut hasher);
        topic.hash(&mut hasher);
        hasher.finish()
    }
}
