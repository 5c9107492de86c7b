//! Active subscriptions (protocol.md A.8): subscription events and the API documents.

use serde::Serialize;
use serde_json::Value;

use super::Subscriber;
use crate::event::{Draft, InvalidUpdate, Update};
use crate::form::escape_component;
pub use crate::presence::ActiveSubscription;

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
        subscriber
            .selectors
            .iter()
            .map(|selector| ActiveSubscription {
                subscriber: subscriber.id.clone(),
                topic: selector.source().to_owned(),
                payload: subscriber.payload.clone(),
            })
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
    /// The active subscriptions only (A-SUBS-13).
    pub subscriptions: Vec<SubscriptionDocument<'a>>,
}

impl<'a> Collection<'a> {
    /// A collection of `subscriptions`, whose own contexts are dropped (the collection has one).
    pub fn new(
        id: &'a str,
        last_event_id: &'a str,
        subscriptions: Vec<SubscriptionDocument<'a>>,
    ) -> Self {
        Self {
            context: CONTEXT,
            id,
            kind: "Subscriptions",
            last_event_id,
            subscriptions: subscriptions
                .into_iter()
                .map(|mut document| {
                    document.context = None;
                    document
                })
                .collect(),
        }
    }
}

/// Pretty-printed with two-space indentation, like the reference (A-SUBS-16).
pub fn render<T: Serialize>(document: &T) -> String {
    serde_json::to_string_pretty(document).unwrap_or_else(|_| "{}".to_owned())
}

/// The private update announcing that a subscription started or ended (A-SUBS-7). Its topic
/// is percent-encoded, so it always passes the checks of a published topic.
pub fn subscription_event(
    subscription: &ActiveSubscription,
    active: bool,
) -> Result<Update, InvalidUpdate> {
    let document = SubscriptionDocument::new(subscription, active);
    Draft::new(vec![document.id.clone()])?
        .data(render(&document))
        .private(true)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

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
