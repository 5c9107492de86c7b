//! How one routing selector of a subscription was asked for (protocol.md ): a classic
//! `topic` or a 1.0 `match*` value. Routing needs only the compiled selector; the subscription
//! events and the subscription API describe each subscription in its own dialect.

use serde_json::Value;

use crate::topic::request::MatchType;
use crate::topic::Selector;

/// One subscription of a connection: its compiled routing selector, how it was asked for, its
/// text as given, and the `payload` its events and API documents show.
#[derive(Debug, Clone)]
pub struct SelectorSpec {
    /// The compiled selector that routes updates to this subscription.
    pub selector: Selector,
    /// `None` for a classic `topic` (A-SUBS), the 1.0 matcher type for a `match*` value (B-SE).
    pub match_type: Option<MatchType>,
    /// The `topic` or `match*` value as the request gave it.
    pub value: String,
    /// This subscription's `payload` (X-10: `Grants::payload_for(value, ..)`, B-AD-8). `None`
    /// falls back to the connection's `Request::payload`.
    pub payload: Option<Value>,
}

impl SelectorSpec {
    /// A classic `topic` selector (A-SEL).
    pub fn topic(selector: Selector, value: impl Into<String>) -> Self {
        Self {
            selector,
            match_type: None,
            value: value.into(),
            payload: None,
        }
    }

    /// A 1.0 `match`/`match_exact` (`MatchType::Exact`) or `match_urlpattern` value (B-MT).
    pub fn matcher(match_type: MatchType, value: impl Into<String>, selector: Selector) -> Self {
        Self {
            selector,
            match_type: Some(match_type),
            value: value.into(),
            payload: None,
        }
    }

    /// The payload of this subscription alone (a 1.0 token's, B-AD-8).
    pub fn with_payload(mut self, payload: Option<Value>) -> Self {
        self.payload = payload;
        self
    }
}
