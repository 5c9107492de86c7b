//! How one routing selector of a subscription was asked for (protocol.md ): a classic
//! `topic` or a 1.0 `match*` value. Routing needs only the compiled selector; the subscription
//! events and the subscription API describe each subscription in its own dialect.

use serde_json::Value;

use crate::topic::request::MatchType;
use crate::topic::Selector;

/// One subscription of a connection: its compiled routing selector, how it was asked for, its
/// text as given, and the `payload` its events and API documents show. Kept for as long as the
/// connection, so it holds no second copy of what the selector already has (issue 21).
#[derive(Debug, Clone)]
pub struct SelectorSpec {
    /// The compiled selector that routes updates to this subscription.
    pub selector: Selector,
    /// `None` for a classic `topic` (A-SUBS), the 1.0 matcher type for a `match*` value (B-SE).
    pub match_type: Option<MatchType>,
    /// The value as the request gave it, when it is not the selector's own text.
    own_text: Option<Box<str>>,
    /// This subscription's `payload` (X-10: `Grants::payload_for(value, ..)`, B-AD-8). `None`
    /// falls back to the connection's `Request::payload`.
    pub payload: Option<Box<Value>>,
}

impl SelectorSpec {
    /// A classic `topic` selector (A-SEL).
    pub fn topic(selector: Selector, value: &str) -> Self {
        Self::new(selector, None, value)
    }

    /// A 1.0 `match`/`match_exact` (`MatchType::Exact`) or `match_urlpattern` value (B-MT).
    pub fn matcher(match_type: MatchType, value: &str, selector: Selector) -> Self {
        Self::new(selector, Some(match_type), value)
    }

    fn new(selector: Selector, match_type: Option<MatchType>, value: &str) -> Self {
        let own_text = (selector.source() != value).then(|| Box::from(value));
        Self {
            selector,
            match_type,
            own_text,
            payload: None,
        }
    }

    /// The `topic` or `match*` value as the request gave it.
    pub fn value(&self) -> &str {
        self.own_text
            .as_deref()
            .unwrap_or_else(|| self.selector.source())
    }

    /// The payload of this subscription alone (a 1.0 token's, B-AD-8).
    pub fn with_payload(mut self, payload: Option<Value>) -> Self {
        self.payload = payload.map(Box::new);
        self
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_value_is_the_selector_text_unless_it_differs() {
        let same = SelectorSpec::topic(Selector::Exact(Arc::from("https://a/b")), "https://a/b");
        assert!(same.own_text.is_none());
        assert_eq!(same.value(), "https://a/b");
        let any = SelectorSpec::topic(Selector::Any, "*");
        assert_eq!(any.value(), "*");
        let resolved = SelectorSpec::matcher(
            MatchType::Exact,
            "/b",
            Selector::Exact(Arc::from("https://a/b")),
        );
        assert_eq!(resolved.value(), "/b");
    }
}
