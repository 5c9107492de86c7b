//! Active subscriptions (protocol.md A.8, B.9): subscription events and the API documents, each
//! subscription in its own dialect (X-10).

use serde::Serialize;
use serde_json::Value;

use super::Subscriber;
use crate::event::{Draft, InvalidUpdate, Rules, Update, HUB_EVENT_TYPE};
use crate::form::escape_component;
pub use crate::presence::ActiveSubscription;
use crate::topic::request::MatchType;
use crate::topic::reserved::subscription_topic_v1;

const CONTEXT: &str = "https://mercure.rocks/";
const TOPIC_PREFIX: &str = "/.well-known/mercure/subscriptions/";

/// The topic of the events about one subscription (A-SUBS-4).
pub fn subscription_topic(selector: &str, subscriber_id: &str) -> String {
    format!(
        "{TOPIC_PREFIX}{}/{}",
        escape_component(selector),
        escape_component(subscriber_id)
    )
}

impl ActiveSubscription {
    /// One entry per selector of a connection, in the connection's selector order.
    pub fn of(subscriber: &Subscriber) -> impl Iterator<Item = ActiveSubscription> + '_ {
        let id = subscriber.id.to_string();
        subscriber
            .selectors
            .iter()
            .map(move |spec| ActiveSubscription {
                subscriber: id.clone(),
                topic: spec.value().to_owned(),
                match_type: spec.match_type,
                payload: (spec.payload.as_deref())
                    .or(subscriber.payload.as_deref())
                    .cloned(),
            })
    }
}

/// One 1.0 subscription as its events and the API describe it (B-SE-4; members in the
/// reference's order).
#[derive(Debug, Serialize)]
pub struct MatchDocument<'a> {
    /// The event topic (B-SE-2), which is also the document's id.
    pub id: String,
    /// Always `subscription` (B-SE-4).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The subscriber's `urn:uuid:` (B-SE-3).
    pub subscriber: &'a str,
    /// The `match*` value as the request gave it.
    #[serde(rename = "match")]
    pub value: &'a str,
    /// The canonical matcher type name (`exact` or `urlpattern`).
    pub match_type: &'static str,
    /// False in the event that says the subscription ended.
    pub active: bool,
    /// The subscription's payload, when its token gave one (B-AD-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a Value>,
}

impl<'a> MatchDocument<'a> {
    /// The document of one 1.0 subscription, as its event carries it.
    pub fn new(subscription: &'a ActiveSubscription, match_type: MatchType, active: bool) -> Self {
        Self {
            id: subscription_topic_v1(match_type, &subscription.topic, &subscription.subscriber),
            kind: "subscription",
            subscriber: &subscription.subscriber,
            value: &subscription.topic,
            match_type: match_type.name(),
            active,
            payload: subscription.payload.as_ref(),
        }
    }
}

/// A subscription in its own dialect's shape (X-9, X-10).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Document<'a> {
    /// A `topic` subscription: JSON-LD (A-SUBS-6).
    Classic(SubscriptionDocument<'a>),
    /// A `match*` subscription: plain JSON (B-SE-4).
    V1(MatchDocument<'a>),
}

impl<'a> Document<'a> {
    /// The document of one subscription, in the dialect it was asked for in.
    pub fn new(subscription: &'a ActiveSubscription, active: bool) -> Self {
        match subscription.match_type {
            None => Self::Classic(SubscriptionDocument::new(subscription, active)),
            Some(match_type) => Self::V1(MatchDocument::new(subscription, match_type, active)),
        }
    }

    /// Inside a collection a classic item has no `@context` (A-SUBS-12).
    fn in_collection(self) -> Self {
        match self {
            Self::Classic(mut document) => {
                document.context = None;
                Self::Classic(document)
            }
            v1 => v1,
        }
    }
}

/// One subscription as the API and the events describe it (A-SUBS-6, A-SUBS-14).
#[derive(Debug, Serialize)]
pub struct SubscriptionDocument<'a> {
    /// The JSON-LD context; left out inside a collection, which carries it once.
    #[serde(rename = "@context", skip_serializing_if = "Option::is_none")]
    pub context: Option<&'static str>,
    /// The subscription's topic (A-SUBS-4), which is also its id.
    pub id: String,
    /// Always `Subscription`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The subscriber's `urn:uuid:` (A-SUBS-5).
    pub subscriber: &'a str,
    /// The selector this subscription is for.
    pub topic: &'a str,
    /// False in the event that says the subscription ended.
    pub active: bool,
    /// Set only on a single subscription answered by the API (A-SUBS-14).
    #[serde(rename = "lastEventID", skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<&'a str>,
    /// The subscriber token's `mercure.payload`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a Value>,
}

impl<'a> SubscriptionDocument<'a> {
    /// The document of one subscription, as its event carries it.
    pub fn new(subscription: &'a ActiveSubscription, active: bool) -> Self {
        Self {
            context: Some(CONTEXT),
            id: subscription_topic(&subscription.topic, &subscription.subscriber),
            kind: "Subscription",
            subscriber: &subscription.subscriber,
            topic: &subscription.topic,
            active,
            last_event_id: None,
            payload: subscription.payload.as_ref(),
        }
    }
}

/// A collection (A-SUBS-12).
#[derive(Debug, Serialize)]
pub struct Collection<'a> {
    /// The JSON-LD context, given once for every document inside.
    #[serde(rename = "@context")]
    pub context: &'static str,
    /// The request target the collection was asked at.
    pub id: &'a str,
    /// Always `Subscriptions`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The id of the last stored update (A-SUBS-15), also the ETag's source (A-SUBS-11).
    #[serde(rename = "lastEventID")]
    pub last_event_id: &'a str,
    /// The active subscriptions it lists (A-SUBS-13).
    pub subscriptions: Vec<Document<'a>>,
}

impl<'a> Collection<'a> {
    /// A collection; classic items lose their `@context`, which the collection carries once.
    pub fn new(id: &'a str, last_event_id: &'a str, subscriptions: Vec<Document<'a>>) -> Self {
        Self {
            context: CONTEXT,
            id,
            kind: "Subscriptions",
            last_event_id,
            subscriptions: subscriptions
                .into_iter()
                .map(Document::in_collection)
                .collect(),
        }
    }
}

/// A 1.0 collection (B-SAPI-5): the cursor is in the `Link` header, not the body (B-SAPI-6).
#[derive(Debug, Serialize)]
pub struct MatchCollection<'a> {
    /// The request target the collection was asked at (B-SAPI-5).
    pub id: &'a str,
    /// Always `subscriptions` (B-SAPI-5).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The active subscriptions it lists, each in its own dialect (X-10).
    pub subscriptions: Vec<Document<'a>>,
}

impl<'a> MatchCollection<'a> {
    /// A 1.0 collection; classic items lose their `@context`, as in a classic one.
    pub fn new(id: &'a str, subscriptions: Vec<Document<'a>>) -> Self {
        Self {
            id,
            kind: "subscriptions",
            subscriptions: subscriptions
                .into_iter()
                .map(Document::in_collection)
                .collect(),
        }
    }
}

/// Pretty-printed with two-space indentation, like the reference (A-SUBS-16).
pub fn render<T: Serialize>(document: &T) -> String {
    serde_json::to_string_pretty(document).unwrap_or_else(|_| "{}".to_owned())
}

/// The private update announcing that a subscription started or ended, in the subscription's
/// own dialect (X-10): classic (A-SUBS-7: JSON-LD, no type) or 1.0 (B-SE-4, B-SE-5: plain
/// JSON, type `mercure`). Its topic is percent-encoded, so it always passes the checks of a
/// published topic.
pub fn subscription_event(
    subscription: &ActiveSubscription,
    active: bool,
) -> Result<Update, InvalidUpdate> {
    let (topic, data, event_type) = match Document::new(subscription, active) {
        Document::Classic(document) => (document.id.clone(), render(&document), None),
        Document::V1(document) => {
            let data = serde_json::to_string(&document).unwrap_or_else(|_| "{}".to_owned());
            (document.id, data, Some(HUB_EVENT_TYPE.to_owned()))
        }
    };
    Draft::with_rules(Rules::Hub, vec![topic])?
        .data(data)
        .event_type(event_type)
        .private(true)
        .build()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn subscription(match_type: Option<MatchType>, payload: Option<Value>) -> ActiveSubscription {
        ActiveSubscription {
            subscriber: "urn:uuid:s 1".into(),
            topic: "https://example.com/a b%41/:id".into(),
            match_type,
            payload,
        }
    }

    // B-SE-2, B-SE-4, B-SE-5, X-10: a 1.0 subscription's event — 1.0 topic, plain JSON in the
    // reference's member order, `event: mercure`, private.
    #[test]
    fn v1_event_document() {
        let active = subscription(Some(MatchType::UrlPattern), Some(json!({"a": 1})));
        let update = subscription_event(&active, true).expect("event");
        let topic = "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2Fa%20b%2541%2F%3Aid/urn%3Auuid%3As%201";
        assert_eq!(update.topics(), [topic]);
        assert_eq!(update.event_type(), Some("mercure"));
        assert!(update.is_private());
        assert_eq!(
            update.data(),
            format!(
                r#"{{"id":"{topic}","type":"subscription","subscriber":"urn:uuid:s 1","match":"https://example.com/a b%41/:id","match_type":"urlpattern","active":true,"payload":{{"a":1}}}}"#
            )
        );
        let ended = subscription(Some(MatchType::Exact), None);
        let update = subscription_event(&ended, false).expect("event");
        let doc: Value = serde_json::from_str(update.data()).expect("json");
        assert_eq!(doc["active"], json!(false));
        assert_eq!(doc["match_type"], json!("exact"));
        assert!(doc.get("payload").is_none() && doc.get("@context").is_none());
    }

    // X-10, A-SUBS-6, A-SUBS-7: a classic subscription keeps the classic event.
    #[test]
    fn classic_event_is_unchanged() {
        let update = subscription_event(&subscription(None, None), true).expect("event");
        assert_eq!(update.event_type(), None);
        let doc: Value = serde_json::from_str(update.data()).expect("json");
        assert_eq!(doc["@context"], json!(CONTEXT));
        assert_eq!(doc["type"], json!("Subscription"));
    }

    // X-9, A-SUBS-12, B-SAPI-5: items keep their own shape in either envelope.
    #[test]
    fn collections_hold_both_shapes() {
        let (classic, v1) = (
            subscription(None, None),
            subscription(Some(MatchType::Exact), None),
        );
        let items = || vec![Document::new(&classic, true), Document::new(&v1, true)];
        let doc: Value =
            serde_json::from_str(&render(&MatchCollection::new("/x", items()))).expect("json");
        assert_eq!(doc["type"], json!("subscriptions"));
        assert!(doc["subscriptions"][0].get("@context").is_none());
        assert_eq!(doc["subscriptions"][0]["type"], json!("Subscription"));
        assert_eq!(doc["subscriptions"][1]["type"], json!("subscription"));
        let doc: Value =
            serde_json::from_str(&render(&Collection::new("/x", "e", items()))).expect("json");
        assert_eq!(doc["type"], json!("Subscriptions"));
        assert_eq!(doc["subscriptions"][1]["match_type"], json!("exact"));
    }

    // Presence entries of older nodes (no match_type) read as classic.
    #[test]
    fn presence_entries_without_match_type_are_classic() {
        let entry: ActiveSubscription =
            serde_json::from_str(r#"{"subscriber":"s","topic":"t"}"#).expect("entry");
        assert_eq!(entry.match_type, None);
        let v1 = subscription(Some(MatchType::UrlPattern), None);
        let text = serde_json::to_string(&v1).expect("json");
        assert!(text.contains(r#""match_type":"urlpattern""#), "{text}");
        assert_eq!(
            serde_json::from_str::<ActiveSubscription>(&text).expect("back"),
            v1
        );
    }

    #[test]
    fn topic_escapes_each_part_form_style() {
        assert_eq!(
            subscription_topic(
                "https://example.com/{selector}",
                "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6"
            ),
            "/.well-known/mercure/subscriptions/https%3A%2F%2Fexample.com%2F%7Bselector%7D/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6"
        );
    }
}
