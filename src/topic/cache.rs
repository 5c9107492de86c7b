//! Bounded caches of compiled templates and URL patterns and of their match results
//! (protocol.md A-SEL-5, B-MT-6).

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use super::bounded::BoundedCache;
use regex_automata::meta::Regex;
use url::Url;

use super::index::Candidate;
use super::urlpattern::{self, Compiled, PatternError, UrlPattern};
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
    /// (base, URL pattern) → the compiled pattern (`urlpattern::cache_key`); given the same
    /// budget as `patterns`. Patterns that do not compile are not kept: each is refused once
    /// per request that carries it.
    pub(super) url_patterns: BoundedCache<Arc<str>, Arc<Compiled>>,
    /// hash of (kind, selector, topic) → (kind, selector, topic, result); the key is a hash so
    /// lookups need no allocation; the stored values guard against collisions, and the kind
    /// keeps a template and a URL pattern key of the same text apart.
    pub(super) results: BoundedCache<u64, (Kind, Arc<str>, Box<str>, bool)>,
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
            url_patterns: BoundedCache::new(pattern_bytes),
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
            Selector::Template(template) => self.uri_template_matches(template, topic),
            Selector::UrlPattern(pattern) => self.url_pattern_matches(pattern, topic),
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

    /// Matches a candidate of the template index (a URI template or a URL pattern).
    pub fn template_matches<'c>(&self, candidate: impl Into<Candidate<'c>>, topic: &str) -> bool {
        match candidate.into() {
            Candidate::Template(template) => self.uri_template_matches(template, topic),
            Candidate::UrlPattern(pattern) => self.url_pattern_matches(pattern, topic),
            Candidate::Resolved(pattern, url) => {
                self.resolved_url_pattern_matches(pattern, topic, url)
            }
        }
    }

    /// Outer literals first (no cache needed), then the inner regex through the result cache.
    pub fn uri_template_matches(&self, template: &Template, topic: &str) -> bool {
        let middle = match template.inner(topic) {
            Inner::Matches => return true,
            Inner::Fails => return false,
            Inner::Check(middle) => middle,
        };
        self.cached(Kind::Template, &template.source, topic, || {
            self.pattern(template.middle())
                .is_some_and(|regex| regex.is_match(middle))
        })
    }

    /// A `match_urlpattern` selector (B-MT-4, B-MT-5): `topic` resolved against the pattern's
    /// base, through the result cache; a topic that is not a URL reference never matches.
    pub fn url_pattern_matches(&self, pattern: &UrlPattern, topic: &str) -> bool {
        self.cached(Kind::UrlPattern, pattern.key(), topic, || {
            pattern
                .resolve(topic)
                .is_some_and(|url| self.compiled_url_pattern_matches(pattern, &url))
        })
    }

    /// `url_pattern_matches` when the caller already resolved `topic` against the pattern's
    /// base (`url`, as `UrlPattern::resolve` would): the index does it once per base and topic.
    pub fn resolved_url_pattern_matches(
        &self,
        pattern: &UrlPattern,
        topic: &str,
        url: &Url,
    ) -> bool {
        self.cached(Kind::UrlPattern, pattern.key(), topic, || {
            self.compiled_url_pattern_matches(pattern, url)
        })
    }

    fn compiled_url_pattern_matches(&self, pattern: &UrlPattern, url: &Url) -> bool {
        self.compiled_url_pattern(pattern.key(), &pattern.source, pattern.base())
            .is_ok_and(|compiled| compiled.matches(url))
    }

    /// Compiles a `match_urlpattern` value against `base` (B-MT-4, B-MT-5); `*` matches every
    /// topic whatever the type (B-MT-2). The error is for logs: clients get the fixed body of
    /// B-SUB-6.
    pub fn url_pattern(&self, source: &str, base: &Url) -> Result<Selector, PatternError> {
        if source == "*" {
            return Ok(Selector::Any);
        }
        let key: Arc<str> = urlpattern::cache_key(source, base).into();
        let compiled = self.compiled_url_pattern(&key, source, base)?;
        Ok(Selector::UrlPattern(Arc::new(UrlPattern::new(
            source, base, key, &compiled,
        ))))
    }

    /// A `match` / `match_exact` value: `*` matches every topic (B-MT-2), anything else is a
    /// case-sensitive byte comparison, never a template (B-MT-3).
    pub fn exact(&self, source: &str) -> Selector {
        if source == "*" {
            Selector::Any
        } else {
            Selector::Exact(Arc::from(source))
        }
    }

    /// The compiled URL pattern of `key`, from the cache, compiled again when it was evicted.
    fn compiled_url_pattern(
        &self,
        key: &Arc<str>,
        source: &str,
        base: &Url,
    ) -> Result<Arc<Compiled>, PatternError> {
        if let Some(known) = self.url_patterns.read(&**key, Clone::clone) {
            return Ok(known);
        }
        let compiled = Arc::new(Compiled::compile(source, base)?);
        let bytes = compiled
            .memory_usage()
            .saturating_add(key.len())
            .saturating_add(ENTRY_OVERHEAD);
        self.url_patterns
            .insert(key.clone(), compiled.clone(), bytes);
        Ok(compiled)
    }

    /// The cached result of (`kind`, `selector`, `topic`), or `compute`'s, then cached.
    fn cached(
        &self,
        kind: Kind,
        selector: &str,
        topic: &str,
        compute: impl FnOnce() -> bool,
    ) -> bool {
        let key = self.key(kind, selector, topic);
        let cached = self
            .results
            .read(&key, |(k, cached_selector, cached_topic, result)| {
                (*k == kind && **cached_selector == *selector && **cached_topic == *topic)
                    .then_some(*result)
            });
        if let Some(Some(result)) = cached {
            return result;
        }
        let result = compute();
        let bytes = selector
            .len()
            .saturating_add(topic.len())
            .saturating_add(ENTRY_OVERHEAD);
        self.results.insert(
            key,
            (kind, Arc::from(selector), topic.into(), result),
            bytes,
        );
        result
    }

    pub(super) fn key(&self, kind: Kind, selector: &str, topic: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        kind.hash(&mut hasher);
        selector.hash(&mut hasher);
        topic.hash(&mut hasher);
        hasher.finish()
    }
}

/// Which kind of selector a cached result is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    Template,
    UrlPattern,
}
