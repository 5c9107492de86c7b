//! Who listens to what: an exact-topic index, the distinct templates indexed by their literal
//! text, and the `*` subscribers, so that a publish looks only at candidates, never at every
//! subscriber nor at every template.

use std::collections::HashMap;
use std::sync::Arc;

use super::queue::{Pushed, Pusher};
use super::{Flush, Subscriber};
use crate::event::Event;
use crate::log::Position;
use crate::topic::{Matcher, Selector, TemplateIndex};

pub(super) type Key = u64;

#[derive(Default)]
pub(super) struct Registry {
    subscribers: HashMap<Key, Arc<Subscriber>>,
    exact: HashMap<Arc<str>, Vec<Key>>,
    templates: TemplateIndex<Vec<Key>>,
    wildcard: Vec<Key>,
    /// Reused between publishes so dispatch allocates nothing once warm.
    candidates: Vec<Key>,
    /// The position of the last event dispatched: the replay bound of new subscribers.
    pub delivered: Option<Position>,
    /// Appended events waiting for their write to be decided before they are dispatched
    /// (`DurableGate`), in log order.
    pub undecided: std::collections::VecDeque<(Position, Arc<Event>)>,
}

impl Registry {
    pub(super) fn starting_at(delivered: Option<Position>) -> Self {
        Self {
            delivered,
            ..Self::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub(super) fn insert(&mut self, key: Key, subscriber: Arc<Subscriber>) {
        for spec in subscriber.selectors.iter() {
            match &spec.selector {
                Selector::Any => self.wildcard.push(key),
                Selector::Exact(topic) => self.exact.entry(topic.clone()).or_default().push(key),
                Selector::Template(template) => self.templates.entry(template).push(key),
                Selector::UrlPattern(pattern) => self.templates.entry(pattern).push(key),
            }
        }
        self.subscribers.insert(key, subscriber);
    }

    /// Points each exact topic of `selectors` at the text the index already holds for it, so
    /// that the subscribers of one topic share one copy rather than one each.
    pub(super) fn share_topics(&self, selectors: &mut [super::SelectorSpec]) {
        for spec in selectors {
            if let Selector::Exact(topic) = &mut spec.selector {
                if let Some((shared, _)) = self.exact.get_key_value(&**topic) {
                    *topic = shared.clone();
                }
            }
        }
    }

    pub(super) fn remove(&mut self, key: Key) -> Option<Arc<Subscriber>> {
        let subscriber = self.subscribers.remove(&key)?;
        for spec in subscriber.selectors.iter() {
            match &spec.selector {
                Selector::Any => self.wildcard.retain(|k| *k != key),
                Selector::Exact(topic) => remove_key(&mut self.exact, &**topic, key, |keys| keys),
                Selector::Template(template) => {
                    if let Some(keys) = self.templates.get_mut(template) {
                        keys.retain(|k| *k != key);
                        if keys.is_empty() {
                            self.templates.remove(template);
                        }
                    }
                }
                Selector::UrlPattern(pattern) => self.templates.remove_item(pattern, &key),
            }
        }
        Some(subscriber)
    }

    pub(super) fn all(&self) -> impl Iterator<Item = &Arc<Subscriber>> {
        self.subscribers.values()
    }

    /// Keys grow with each connection, so key order is connection order.
    pub(super) fn in_connection_order(&self) -> Vec<Arc<Subscriber>> {
        let mut keyed: Vec<_> = self.subscribers.iter().collect();
        keyed.sort_unstable_by_key(|(key, _)| **key);
        keyed.into_iter().map(|(_, s)| s.clone()).collect()
    }

    /// Hands the event to every subscriber it is for, once each (A-SUB-4, A-SUB-5); returns
    /// how many queues took it.
    /// Subscribers whose socket is lent are added to `flushes`: the caller writes to them
    /// once the registry is unlocked, or has them gathered (`Pushed::Gather`).
    pub(super) fn dispatch(
        &mut self,
        event: &Event,
        position: Position,
        matcher: &Matcher,
        flushes: &mut Vec<Flush>,
    ) -> u64 {
        let pusher = Pusher::here();
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        for topic in event.topics() {
            if let Some(keys) = self.exact.get(topic) {
                candidates.extend_from_slice(keys);
            }
        }
        for topic in event.topics() {
            self.templates.for_each_candidate(topic, |template, keys| {
                if matcher.template_matches(template, topic) {
                    candidates.extend_from_slice(keys);
                }
            });
        }
        candidates.extend_from_slice(&self.wildcard);
        candidates.sort_unstable();
        candidates.dedup();
        let mut delivered = 0;
        for key in &candidates {
            if let Some(subscriber) = self.subscribers.get(key) {
                if subscriber.skip_until.is_some_and(|skip| position <= skip) {
                    continue;
                }
                if !event.update.is_private() || subscriber.may_read_private(event, matcher) {
                    match subscriber.queue.push_event(event, pusher) {
                        Pushed::Refused => continue,
                        Pushed::Queued => {}
                        Pushed::Flush => flushes.push((subscriber.clone(), None)),
                        Pushed::Gather(after) => flushes.push((subscriber.clone(), Some(after))),
                    }
                    delivered += 1;
                }
            }
        }
        self.candidates = candidates;
        delivered
    }
}

fn remove_key<K, V, Q>(
    map: &mut HashMap<K, V>,
    name: &Q,
    key: Key,
    keys: impl Fn(&mut V) -> &mut Vec<Key>,
) where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(entry) = map.get_mut(name) {
        let list = keys(entry);
        list.retain(|k| *k != key);
        if list.is_empty() {
            map.remove(name);
        }
    }
}
