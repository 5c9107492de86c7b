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
//! URL patterns (B-MT-4) are held beside the templates and are candidates for every topic: a
//! topic is resolved against the pattern's base before it is matched, so no literal text of the
//! pattern has to appear in the raw topic. The result cache keeps their cost per delivery low.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use super::{Template, UrlPattern};

/// A selector the index holds: a URI template or a URL pattern.
#[derive(Debug, Clone, Copy)]
pub enum Candidate<'a> {
    /// A classic RFC 6570 URI template (A-SEL-2).
    Template(&'a Arc<Template>),
    /// A 1.0 URL Pattern (B-MT-4).
    UrlPattern(&'a Arc<UrlPattern>),
}

impl Candidate<'_> {
    /// The selector text as the client sent it.
    pub fn source(&self) -> &str {
        match self {
            Self::Template(template) => &template.source,
            Self::UrlPattern(pattern) => &pattern.source,
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
    /// URL pattern key (base and text) → (pattern, value).
    url_patterns: HashMap<Arc<str>, (Arc<UrlPattern>, V)>,
    len: usize,
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
            Candidate::UrlPattern(pattern) => {
                let entry = self.url_patterns.entry(pattern.key().clone());
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
            Candidate::UrlPattern(pattern) => self
                .url_patterns
                .get_mut(&**pattern.key())
                .map(|(_, value)| value),
        }
    }

    /// Removes `selector` and returns its value; empty buckets and groups go with it.
    pub fn remove<'c>(&mut self, selector: impl Into<Candidate<'c>>) -> Option<V> {
        let value = match selector.into() {
            Candidate::Template(template) => self.remove_template(template)?,
            Candidate::UrlPattern(pattern) => self.url_patterns.remove(&**pattern.key())?.1,
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

    /// Calls `found` with each template that may match `topic`, and its value: a superset of
    /// those that match (run `Matcher::template_matches` on them), each once,
    /// never the templates whose prefix, segment or literal pieces the topic lacks; then with
    /// every URL pattern.
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
        for (pattern, value) in self.url_patterns.values() {
            found(Candidate::UrlPattern(pattern), value);
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

    /// B-MT-4: URL patterns are candidates for every topic (relative topics resolve before
    /// matching), kept apart from a template of the same text, and removed one key at a time.
    #[test]
    fn url_patterns_are_candidates_for_every_topic() {
        let matcher = Matcher::default();
        let base = url::Url::parse("https://h.example/.well-known/mercure").expect("base");
        let Ok(Selector::UrlPattern(pattern)) = matcher.url_pattern("/books/{id}", &base) else {
            panic!("a URL pattern");
        };
        let template = template("/books/{id}");
        let mut index = TemplateIndex::<Vec<u64>>::default();
        index.entry(&pattern).push(1);
        index.entry(&pattern).push(2);
        index.entry(&template).push(3);
        assert_eq!(index.len(), 2);
        let mut found = Vec::new();
        index.for_each_candidate("https://h.example/books/id", |candidate, keys| {
            if matcher.template_matches(candidate, "https://h.example/books/id") {
                found.extend_from_slice(keys);
            }
        });
        assert_eq!(found, [1, 2]);
        index.remove_item(&pattern, &1);
        assert_eq!(
            index.get_mut(&pattern).map(|keys| keys.clone()),
            Some(vec![2])
        );
        index.remove_item(&pattern, &2);
        assert_eq!(index.get_mut(&pattern), None);
        assert_eq!(index.len(), 1);
        assert_eq!(index.get_mut(&template), Some(&mut vec![3]));
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
