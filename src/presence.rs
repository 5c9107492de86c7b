//! One open subscription as the hub, a shared log's presence list and the subscription API
//! describe it (protocol.md A.8). A leaf module: the history (`log`) and the hub both use it,
//! and neither imports the other for it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::topic::request::MatchType;

/// One open subscription, on this node or (with a shared log) on any node of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveSubscription {
    /// The connection's `urn:uuid:` (A-SUBS-5).
    pub subscriber: String,
    /// The classic `topic` selector, or the 1.0 `match*` value.
    pub topic: String,
    /// `None` for a classic subscription; the matcher type of a 1.0 one. Absent in the
    /// entries of nodes that predate 1.0, which were all classic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_type: Option<MatchType>,
    /// The payload its events and API documents show (A-SUBS-6, B-AD-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}
