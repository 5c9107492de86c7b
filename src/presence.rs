//! One open subscription as the hub, a shared log's presence list and the subscription API
//! describe it (protocol.md A.8). A leaf module: the history (`log`) and the hub both use it,
//! and neither imports the other for it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One open subscription, on this node or (with a shared log) on any node of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveSubscription {
    /// The connection's `urn:uuid:` (A-SUBS-5).
    pub subscriber: String,
    /// One of its selectors: a connection has one entry per selector.
    pub topic: String,
    /// The subscriber token's `mercure.payload`, when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}
