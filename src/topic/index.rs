//! Templates indexed by what they require of a topic, so that a publish tests only the
//! templates that can match it, however many others are subscribed (R-TEMPLATES).
//!
//! Templates are grouped by their literal prefix (the text before the first expression) in a
//! sorted map; a topic visits only the groups whose prefix is one of its own prefixes, found
//! with a few range lookups. Within a group, templates that hold a whole path segment in their
//! literal text (`https://example.com/users/{id}/alice-42/{x}` holds `alice-42`) are keyed by
//! it, and a topic looks up only its own segments. The templates it reaches have their other
//! literal pieces (in order, and their literal ending) checked with substring searches before
//! their regex runs.
//!
//! URL patterns (B-MT-4) are held beside the templates, grouped by the base they resolve
//! against (B-MT-5): a topic is resolved once per base, not once per pattern, and filed by what
//! the resolved URL — not the raw topic — must hold. Within a base, patterns whose protocol and
//! hostname are literals are keyed by (scheme, host), the others are candidates for every
//! host; either way they are grouped by the literal start of their pathname, found like the
//! templates' prefixes. The literals are read from the compiled component matchers
//! (`UrlPattern::literals`) and compared with the strings those matchers are given, so a
//! pattern a topic does not reach is one that cannot match it.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use url::Url;

use super::{Template, UrlPattern};

/// A selector the index holds: a URI template or a URL pattern.
#[derive(Debug, Clone, Copy)]
pub enum Candidate<'a> {
    /// A classic RFC 6570 URI template (A-SEL-2).
    Template(&'a Arc<Template>),
    /// A 1.0 URL Pattern (B-MT-4).
    UrlPattern(&'a Arc<UrlPattern>),
    /// A URL pattern found by `TemplateIndex::for_each_candidate`, with the topic already
    /// resolved against its base (`UrlPattern::resolve`).
    Resolved(&'a Arc<UrlPattern>, &'a Url),
}

impl Candidate<'_> {
    /// The selector text as the client sent it.
    pub fn source(&self) -> &str {
        match self {
            Self::Template(template) => &template.source,
            Self::UrlPattern(pattern) | Self::Resolved(pattern, _) => &pattern.source,
        }
    }
}

impl<'a> From<&'a Arc<Template>> for Candidate<'a> {
    fn from(template: &'a Arc<Template>) -> Self {
        Self::Template(template)
    }
}

impl<'a> From<&'a Arc<UrlPattern>> for Candidate<'a> {
    fn from(pattern: &'a Arc<UrlPattern>) -> Self {
        Self::UrlPattern(pattern)
    }
}

/// Templates and URL patterns with a value each (e.g. the subscribers of each); templates are
/// indexed by literal prefix, then by a path segment they require.
pub struct TemplateIndex<V> {
    by_prefix: BTreeMap<Box<[u8]>, Group<V>>,
    /// base → the URL patterns resolved against it.
    url_patterns: HashMap<Box<str>, BaseGroup<V>>,
    len: usize,
}

/// The URL patterns of one base.
struct BaseGroup<V> {
    base: Url,
    /// scheme → host → the patterns whose protocol and hostname are these literals.
    by_origin: HashMap<Box<str>, HashMap<Box<str>, PathGroups<V>>>,
    /// The patterns whose protocol or hostname is not a literal.
    others: PathGroups<V>,
}

/// literal start of the pathname → URL pattern key (base and text) → (pattern, value).
type PathGroups<V> = BTreeMap<Box<[u8]>, Patterns<V>>;
type Patterns<V> = HashMap<Arc<str>, (Arc<UrlPattern>, V)>;

impl<V> BaseGroup<V> {
    fn new(base: &Url) -> Self {
        Self {
            base: base.clone(),
            by_origin: HashMap::new(),
            others: BTreeMap::new(),
        }
    }

    /// The path groups `pattern` is filed in, if there are any.
    fn paths_mut(&mut self, pattern: &UrlPattern) -> Option<&mut PathGroups<V>> {
        let literals = pattern.literals();
        let (Some(scheme), Some(host)) = (&literals.protocol, &literals.hostname) else {
            return Some(&mut self.others);
        };
        self.by_origin.get_mut(&**scheme)?.get_mut(&**host)
    }

    /// The path groups `pattern` is filed in, created if need be.
    fn paths_entry(&mut self, pattern: &UrlPattern) -> &mut PathGroups<V> {
        let literals = pattern.literals();
        let (Some(scheme), Some(host)) = (&literals.protocol, &literals.hostname) else {
            return &mut self.others;
        };
        let hosts = self.by_origin.entry(scheme.clone()).or_default();
        hosts.entry(host.clone()).or_default()
    }

    /// Drops the (scheme, host) entry of `pattern` once it holds no pattern.
    fn prune(&mut self, pattern: &UrlPattern) {
        let literals = pattern.literals();
        let (Some(scheme), Some(host)) = (&literals.protocol, &literals.hostname) else {
            return;
        };
        if let Some(hosts) = self.by_origin.get_mut(&**scheme) {
            if hosts.get(&**host).is_some_and(BTreeMap::is_empty) {
                hosts.remove(&**host);
            }
            if hosts.is_empty() {
                self.by_origin.remove(&**scheme);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.by_origin.is_empty() && self.others.is_empty()
    }
}

/// The templates of one literal prefix.
struct Group<V> {
    /// segment → the templates that require it whole (`Template::segment`).
    by_segment: HashMap<Box<str>, Templates<V>>,
    /// The templates that require no segment: each is checked.
    others: Templates<V>,
}

/// template source → (template, value).
type Templates<V> = HashMap<Arc<str>, (Arc<Template>, V)>;

impl<V> Default for Group<V> {
    fn default() -> Self {
        Self {
            by_segment: HashMap::new(),
            others: HashMap::new(),
        }
    }
}

impl<V> Group<V> {
    fn bucket_mut(&mut self, template: &Template) -> Option<&mut Templates<V>> {
        match template.segment() {
            Some(segment) => self.by_segment.get_mut(segment),
            None => Some(&mut self.others),
        }
    }

    fn is_empty(&self) -> bool {
        self.others.is_empty() && self.by_segment.is_empty()
    }
}

impl<V> Default for TemplateIndex<V> {
    fn default() -> Self {
        Self {
            by_prefix: BTreeMap::new(),
            url_patterns: HashMap::new(),
            len: 0,
        }
    }
}

impl<V: Default> TemplateIndex<V> {
    /// The value of `selector`, inserted (as the default) when it is not indexed yet.
    pub fn entry<'c>(&mut self, selector: impl Into<Candidate<'c>>) -> &mut V {
        let (vacant, value) = match selector.into() {
            Candidate::Template(template) => {
                let group = self
                    .by_prefix
                    .entry(template.prefix().as_bytes().into())
                    .or_default();
                let bucket = match template.segment() {
                    Some(segment) => group.by_segment.entry(segment.into()).or_default(),
                    None => &mut group.others,
                };
                let entry = bucket.entry(Arc::from(template.source.as_str()));
                let vacant = matches!(entry, Entry::Vacant(_));
                (
                    vacant,
                    &mut entry.or_insert_with(|| (template.clone(), V::default())).1,
                )
            }
            Candidate::UrlPattern(pattern) | Candidate::Resolved(pattern, _) => {
                let group = self
                    .url_patterns
                    .entry(pattern.base().as_str().into())
                    .or_insert_with(|| BaseGroup::new(pattern.base()));
                let entry = group
                    .paths_entry(pattern)
                    .entry(pattern.literals().pathname.as_bytes().into())
                    .or_default()
                    .entry(pattern.key().clone());
                let vacant = matches!(entry, Entry::Vacant(_));
                (
                    vacant,
                    &mut entry.or_insert_with(|| (pattern.clone(), V::default())).1,
                )
            }
        };
        if vacant {
            self.len = self.len.saturating_add(1);
        }
        value
    }
}

impl<T: PartialEq> TemplateIndex<Vec<T>> {
    /// Removes `item` from the list of `selector`, and `selector` once its list is empty.
    pub fn remove_item<'c>(&mut self, selector: impl Into<Candidate<'c>>, item: &T) {
        let selector = selector.into();
        if let Some(items) = self.get_mut(selector) {
            items.retain(|i| i != item);
            if items.is_empty() {
                self.remove(selector);
            }
        }
    }
}

impl<V> TemplateIndex<V> {
    /// How many distinct templates and URL patterns are indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no template is indexed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value stored for `selector`, to update it in place.
    pub fn get_mut<'c>(&mut self, selector: impl Into<Candidate<'c>>) -> Option<&mut V> {
        match selector.into() {
            Candidate::Template(template) => {
                let group = self.by_prefix.get_mut(template.prefix().as_bytes())?;
                let bucket = group.bucket_mut(template)?;
                bucket
                    .get_mut(template.source.as_str())
                    .map(|(_, value)| value)
            }
            Candidate::UrlPattern(pattern) | Candidate::Resolved(pattern, _) => self
                .url_patterns
                .get_mut(pattern.base().as_str())?
                .paths_mut(pattern)?
                .get_mut(pattern.literals().pathname.as_bytes())?
                .get_mut(&**pattern.key())
                .map(|(_, value)| value),
        }
    }

    /// Removes `selector` and returns its value; empty buckets and groups go with it.
    pub fn remove<'c>(&mut self, selector: impl Into<Candidate<'c>>) -> Option<V> {
        let value = match selector.into() {
            Candidate::Template(template) => self.remove_template(template)?,
            Candidate::UrlPattern(pattern) | Candidate::Resolved(pattern, _) => {
                self.remove_url_pattern(pattern)?
            }
        };
        self.len = self.len.saturating_sub(1);
        Some(value)
    }

    fn remove_template(&mut self, template: &Template) -> Option<V> {
        let prefix = template.prefix().as_bytes();
        let group = self.by_prefix.get_mut(prefix)?;
        let (_, value) = group
            .bucket_mut(template)?
            .remove(template.source.as_str())?;
        if let Some(segment) = template.segment() {
            if group.by_segment.get(segment).is_some_and(HashMap::is_empty) {
                group.by_segment.remove(segment);
            }
        }
        if group.is_empty() {
            self.by_prefix.remove(prefix);
        }
        Some(value)
    }

    fn remove_url_pattern(&mut self, pattern: &UrlPattern) -> Option<V> {
        let base = pattern.base().as_str();
        let group = self.url_patterns.get_mut(base)?;
        let paths = group.paths_mut(pattern)?;
        let pathname = pattern.literals().pathname.as_bytes();
        let patterns = paths.get_mut(pathname)?;
        let (_, value) = patterns.remove(&**pattern.key())?;
        if patterns.is_empty() {
            paths.remove(pathname);
        }
        group.prune(pattern);
        if group.is_empty() {
            self.url_patterns.remove(base);
        }
        Some(value)
    }

    /// Calls `found` with each template that may match `topic`, and its value: a superset of
    /// those that match (run `Matcher::template_matches` on them), each once,
    /// never the templates whose prefix, segment or literal pieces the topic lacks; then with
    /// each URL pattern that may match it (`Candidate::Resolved`, the topic resolved once per
    /// base), never those whose literal scheme, host or pathname start the resolved topic
    /// lacks, nor any when the topic does not resolve against their base.
    pub fn for_each_candidate(&self, topic: &str, mut found: impl FnMut(Candidate<'_>, &V)) {
        let mut check = |templates: &Templates<V>| {
            for (template, value) in templates.values() {
                if template.may_match(topic) {
                    found(Candidate::Template(template), value);
                }
            }
        };
        // The parts of the topic after a `/`, each once; listed only if a group needs them.
        let mut segments: Option<Vec<&str>> = None;
        let groups = PrefixGroups {
            by_prefix: &self.by_prefix,
            topic: topic.as_bytes(),
            within: Some(topic.len()),
        };
        for group in groups {
            check(&group.others);
            if group.by_segment.is_empty() {
                continue;
            }
            let segments = segments.get_or_insert_with(|| {
                let mut parts: Vec<&str> = topic.split('/').skip(1).collect();
                parts.sort_unstable();
                parts.dedup();
                parts
            });
            for segment in segments.iter() {
                if let Some(templates) = group.by_segment.get(*segment) {
                    check(templates);
                }
            }
        }
        for group in self.url_patterns.values() {
            // Not a URL reference against this base: none of its patterns matches (B-MT-4).
            let Some(url) = group.base.join(topic).ok() else {
                continue;
            };
            let pathname = url::quirks::pathname(&url);
            let mut visit = |paths: &PathGroups<V>| {
                let groups = PrefixGroups {
                    by_prefix: paths,
                    topic: pathname.as_bytes(),
                    within: Some(pathname.len()),
                };
                for patterns in groups {
                    for (pattern, value) in patterns.values() {
                        found(Candidate::Resolved(pattern, &url), value);
                    }
                }
            };
            if let Some(paths) = group
                .by_origin
                .get(url.scheme())
                .and_then(|hosts| hosts.get(url.host_str().unwrap_or_default()))
            {
                visit(paths);
            }
            visit(&group.others);
        }
    }
}

/// The groups whose prefix is a prefix of `topic`, longest first.
///
/// Every prefix of `topic[..within]` sorts at or before it, so the greatest key at or before it
/// is the first candidate. If that key is a prefix of the topic, the other prefixes are shorter
/// than it; if not, they are prefixes of what it has in common with the topic (a longer one
/// would sort between the key and the topic). Either way `within` shrinks at each step, so a
/// topic of n bytes takes at most n + 1 lookups, whatever the number of templates.
struct PrefixGroups<'a, G> {
    by_prefix: &'a BTreeMap<Box<[u8]>, G>,
    topic: &'a [u8],
    /// Only prefixes of `topic[..within]` are left to find; `None` once done.
    within: Option<usize>,
}

impl<'a, G> Iterator for PrefixGroups<'a, G> {
    type Item = &'a G;

    fn next(&mut self) -> Option<&'a G> {
        loop {
            let bound = self.topic.get(..self.within?)?;
            let range = (Bound::Unbounded, Bound::Included(bound));
            let Some((key, group)) = self.by_prefix.range::<[u8], _>(range).next_back() else {
                self.within = None;
                return None;
            };
            let common = common_prefix_len(key, bound);
            if common == key.len() {
                self.within = common.checked_sub(1);
                return Some(group);
            }
            self.within = Some(common);
        }
    }
}

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::{Matcher, Selector};

    fn compile(matcher: &Matcher, source: &str) -> Option<Arc<Template>> {
        match matcher.selector(source) {
            Selector::Template(template) => Some(template),
            _ => None,
        }
    }

    fn template(source: &str) -> Arc<Template> {
        compile(&Matcher::default(), source).expect("a template")
    }

    fn index(sources: &[&str]) -> TemplateIndex<usize> {
        let mut index = TemplateIndex::default();
        for (n, source) in sources.iter().enumerate() {
            *index.entry(&template(source)) = n;
        }
        index
    }

    fn candidates(index: &TemplateIndex<usize>, topic: &str) -> Vec<String> {
        let mut found = Vec::new();
        index.for_each_candidate(topic, |template, _| {
            found.push(template.source().to_owned())
        });
        found.sort();
        found
    }

    #[test]
    fn a_topic_visits_only_templates_whose_literal_text_it_holds() {
        let mut sources: Vec<String> = (0..1000)
            .map(|k| format!("https://attacker.example/{{k}}/{k}/{{x}}"))
            .collect();
        sources.extend((0..1000).map(|u| format!("https://example.com/users/{{id}}/u{u}/{{x}}")));
        sources.push("https://example.com/books/{id}".into());
        sources.push("{+any}".into());
        let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
        let index = index(&sources);
        assert_eq!(index.len(), 2002);
        let users = &index.by_prefix[&b"https://example.com/users/"[..]];
        assert_eq!(users.by_segment.len(), 1000, "keyed by their own segment");
        assert_eq!(
            candidates(&index, "https://example.com/books/1"),
            ["https://example.com/books/{id}", "{+any}"]
        );
        assert_eq!(
            candidates(&index, "https://example.com/users/7/u42/inbox"),
            ["https://example.com/users/{id}/u42/{x}", "{+any}"]
        );
    }

    #[test]
    fn prefixes_nested_in_each_other_are_all_found() {
        let index = index(&[
            "{x}",
            "h{x}",
            "https://{x}",
            "https://a/{x}",
            "https://a/b/{x}",
            "https://a/c/{x}",
            "https://ab/{x}",
            "https://a/b/c/d/{x}",
        ]);
        assert_eq!(
            candidates(&index, "https://a/b/c"),
            [
                "https://a/b/{x}",
                "https://a/{x}",
                "https://{x}",
                "h{x}",
                "{x}"
            ]
        );
    }

    #[test]
    fn removing_the_last_template_of_a_prefix_drops_the_prefix() {
        let books = template("https://example.com/books/{id}");
        let mut index = index(&["https://example.com/books/{id}", "https://x/{id}"]);
        assert_eq!(index.remove(&books), Some(0));
        assert_eq!(index.remove(&books), None);
        assert_eq!(index.len(), 1);
        assert!(!index
            .by_prefix
            .contains_key(&b"https://example.com/books/"[..]));
        assert!(candidates(&index, "https://example.com/books/1").is_empty());
    }

    #[test]
    fn literal_pieces_and_ending_are_required_in_order() {
        let index = index(&["https://e/{a}/x/{b}/y", "{a}-{b}"]);
        assert!(candidates(&index, "https://e/1/x/2/y").len() == 1);
        assert!(candidates(&index, "https://e/1/y/2/x").is_empty());
        assert!(candidates(&index, "https://e/1/x/2/y/").is_empty());
        assert_eq!(candidates(&index, "1-2"), ["{a}-{b}"]);
    }

    fn url_pattern(matcher: &Matcher, source: &str, base: &str) -> Option<Arc<UrlPattern>> {
        let base = url::Url::parse(base).expect("base");
        match matcher.url_pattern(source, &base) {
            Ok(Selector::UrlPattern(pattern)) => Some(pattern),
            _ => None,
        }
    }

    const HUB: &str = "https://h.example/.well-known/mercure";

    /// B-MT-4, B-MT-5: relative topics resolve before matching; a pattern is kept apart from a
    /// template of the same text, and removed one key at a time.
    #[test]
    fn url_patterns_resolve_topics_and_are_removed_one_key_at_a_time() {
        let matcher = Matcher::default();
        let pattern = url_pattern(&matcher, "/books/{id}", HUB).expect("a URL pattern");
        let template = template("/books/{id}");
        let mut index = TemplateIndex::<Vec<u64>>::default();
        index.entry(&pattern).push(1);
        index.entry(&pattern).push(2);
        index.entry(&template).push(3);
        assert_eq!(index.len(), 2);
        for (topic, expected) in [
            ("https://h.example/books/id", &[1, 2][..]),
            ("//H.example:443/books/id", &[1, 2]),
            // The template matches it too, by its own text.
            ("/books/id", &[1, 2, 3]),
        ] {
            let mut found = Vec::new();
            index.for_each_candidate(topic, |candidate, keys| {
                if matcher.template_matches(candidate, topic) {
                    found.extend_from_slice(keys);
                }
            });
            found.sort_unstable();
            assert_eq!(found, expected, "{topic}");
        }
        index.remove_item(&pattern, &1);
        assert_eq!(
            index.get_mut(&pattern).map(|keys| keys.clone()),
            Some(vec![2])
        );
        index.remove_item(&pattern, &2);
        assert_eq!(index.get_mut(&pattern), None);
        assert_eq!(index.len(), 1);
        assert!(index.url_patterns.is_empty(), "empty groups are dropped");
        assert_eq!(index.get_mut(&template), Some(&mut vec![3]));
    }

    /// B-MT-4: a topic reaches only the URL patterns whose literal scheme, host and pathname
    /// start its resolved form has, compared after WHATWG normalisation (lower-case host,
    /// default port dropped), however many others are subscribed.
    #[test]
    fn a_topic_reaches_only_url_patterns_of_its_host_and_path() {
        let matcher = Matcher::default();
        let mut index = TemplateIndex::<usize>::default();
        let mut sources: Vec<String> = (0..300)
            .map(|k| format!("https://h{k}.example/books/:id"))
            .collect();
        sources.extend((0..300).map(|k| format!("https://example.com/t/{k}/:rest")));
        sources.push("https://*.example/books/:id".into());
        sources.push("*://example.com/t/7/*".into());
        sources.push("/relative/:x".into());
        for (n, source) in sources.iter().enumerate() {
            let pattern = url_pattern(&matcher, source, HUB).expect("compiles");
            *index.entry(&pattern) = n;
        }
        assert_eq!(index.len(), 603);
        let reached = |topic: &str| {
            let mut found = Vec::new();
            index.for_each_candidate(topic, |candidate, _| {
                assert!(matches!(candidate, Candidate::Resolved(..)));
                found.push(candidate.source().to_owned());
            });
            found.sort();
            found
        };
        assert_eq!(
            reached("https://H42.example:443/books/1"),
            [
                "https://*.example/books/:id",
                "https://h42.example/books/:id"
            ]
        );
        assert_eq!(
            reached("https://example.com/t/7/updates"),
            ["*://example.com/t/7/*", "https://example.com/t/7/:rest"]
        );
        assert_eq!(
            reached("https://example.org/t/7/updates"),
            ["*://example.com/t/7/*"]
        );
        assert_eq!(reached("/relative/1"), ["/relative/:x"]);
        // Only the pattern whose host is not a literal: its scheme alone does not file it.
        assert_eq!(
            reached("http://h42.example/books/1"),
            ["https://*.example/books/:id"]
        );
        assert!(reached("https://h42.example/authors/1").is_empty());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// Template pieces and topic bytes from a small alphabet, so that matches are common.
        fn piece() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec![
                "a", "b", "ab", "/", "a/", "/b/", "/ab", ".", "-", "%41", "é", "{x}", "{+x}",
                "{#x}", "{/x}", "{.x}", "{;x}", "{?x}", "{&x}", "{x,y}", "{/x*}", "{x:2}",
            ])
        }

        fn topic_char() -> impl Strategy<Value = char> {
            prop::sample::select(vec![
                'a', 'b', '/', '.', '-', '%', '4', '1', 'é', '?', '&', '=', ';', '#', ',',
            ])
        }

        /// URL pattern pieces: protocols, hosts and paths that do and do not normalise.
        fn pattern_source() -> impl Strategy<Value = String> {
            let protocol = prop::sample::select(vec![
                "https://",
                "http://",
                "HTTPS://",
                "http{s}?://",
                "*://",
                "(https|ftp)://",
                "",
            ]);
            let host = prop::sample::select(vec![
                "a.example",
                "A.Example",
                "b.example",
                ":h.example",
                "*.example",
                "*",
                "a.example:8080",
                "a.example:443",
                "xn--bcher-kva.example",
                "bücher.example",
                "{a.}?example",
                "127.0.0.1",
                "[::1]",
            ]);
            let path = prop::sample::select(vec![
                "",
                "/",
                "/books/:id",
                "/books/*",
                "/books{/:id}?",
                "/b%20c/:x",
                "/b c/:x",
                "/é/:x",
                "/(\\d+)",
                "/books",
                "/books/1",
                "/../books/:id",
                "/./books/:id",
                "/books/:id?q=1",
                "/books/:id#f",
                "/BOOKS/:id",
                "books/:id",
                "./:x",
                "*",
                "/:a/:b",
                "/books/:id.json",
            ]);
            (protocol, host, path).prop_map(|(protocol, host, path)| {
                if protocol.is_empty() {
                    path.to_owned()
                } else {
                    format!("{protocol}{host}{path}")
                }
            })
        }

        fn url_topic() -> impl Strategy<Value = String> {
            let protocol =
                prop::sample::select(vec!["https://", "http://", "HTTPS://", "ftp://", ""]);
            let host = prop::sample::select(vec![
                "a.example",
                "A.EXAMPLE",
                "b.example",
                "h.example",
                "a.example:443",
                "a.example:8080",
                "a.example.",
                "x.a.example",
                "xn--bcher-kva.example",
                "bücher.example",
                "example",
                "127.0.0.1",
                "[::1]",
                "[0:0::1]",
            ]);
            let path = prop::sample::select(vec![
                "",
                "/",
                "/books/1",
                "/books/",
                "/books",
                "/b c/1",
                "/b%20c/1",
                "/é/1",
                "/%C3%A9/1",
                "/123",
                "/books/1?q=1",
                "/books/1#f",
                "/./books/1",
                "/a/../books/1",
                "//x",
                "/BOOKS/1",
                "/books/1.json",
                "books/1",
                "?q",
                "#f",
                "/\\books\\1",
                "/books/%31",
            ]);
            (protocol, host, path).prop_map(|(protocol, host, path)| {
                if protocol.is_empty() {
                    path.to_owned()
                } else {
                    format!("{protocol}{host}{path}")
                }
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// B-MT-4, B-MT-5: the filtered URL pattern candidates of a topic include every
            /// pattern that matches it (brute force over all), and their answer given the
            /// index's resolved topic is the answer of matching the raw topic.
            #[test]
            fn url_pattern_candidates_hold_every_match(
                sources in prop::collection::vec(pattern_source(), 1..24),
                topics in prop::collection::vec(url_topic(), 1..24),
                odd in prop::sample::select(vec!["urn:x:1", "", "%%", "mailto:a@b.example", "https://a.example:99999/"]),
            ) {
                let matcher = Matcher::default();
                let bases = [HUB, "http://a.example:8080/hub/.well-known/mercure"];
                let mut patterns = Vec::new();
                let mut index = TemplateIndex::<()>::default();
                for (n, source) in sources.iter().enumerate() {
                    if let Some(pattern) = url_pattern(&matcher, source, bases[n % 2]) {
                        index.entry(&pattern);
                        patterns.push(pattern);
                    }
                }
                let mut topics = topics;
                topics.push(odd.to_owned());
                for topic in &topics {
                    let mut found = Vec::new();
                    index.for_each_candidate(topic, |candidate, _| {
                        let Candidate::Resolved(pattern, _) = candidate else {
                            panic!("URL patterns are found resolved");
                        };
                        let fresh = Matcher::default();
                        assert_eq!(
                            fresh.template_matches(candidate, topic),
                            fresh.url_pattern_matches(pattern, topic),
                            "{} against {topic:?}", pattern.source
                        );
                        found.push(pattern.key().clone());
                    });
                    let mut unique = found.clone();
                    unique.sort();
                    unique.dedup();
                    prop_assert_eq!(unique.len(), found.len(), "each candidate once");
                    for pattern in &patterns {
                        if matcher.url_pattern_matches(pattern, topic) {
                            prop_assert!(
                                found.contains(pattern.key()),
                                "{} matches {:?} but is not a candidate",
                                pattern.source, topic
                            );
                        }
                    }
                }
            }
        }

        proptest! {
            // Each case compiles up to 20 regexes: fewer cases than the default keep it quick.
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn candidates_are_a_superset_of_the_matches(
                templates in prop::collection::vec(prop::collection::vec(piece(), 1..6), 1..20),
                topics in prop::collection::vec(prop::collection::vec(topic_char(), 0..12), 1..20),
            ) {
                let matcher = Matcher::default();
                let sources: Vec<String> = templates.iter().map(|p| p.concat()).collect();
                let compiled: Vec<Arc<Template>> = sources
                    .iter()
                    .filter_map(|s| compile(&matcher, s))
                    .collect();
                let mut index = TemplateIndex::<()>::default();
                for template in &compiled {
                    index.entry(template);
                }
                let mut topics: Vec<String> =
                    topics.iter().map(|t| t.iter().collect()).collect();
                // The sources themselves match by byte equality.
                topics.extend(sources.iter().cloned());
                for topic in &topics {
                    let mut found = Vec::new();
                    index.for_each_candidate(topic, |t, _| found.push(t.source().to_owned()));
                    for template in &compiled {
                        if matcher.template_matches(template, topic) {
                            prop_assert!(
                                found.contains(&template.source),
                                "{} matches {topic:?} but is not a candidate",
                                template.source
                            );
                        }
                    }
                }
            }
        }
    }
}
