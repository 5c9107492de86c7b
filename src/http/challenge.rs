//! What a request says about the hub it reached: the resource identifier a 1.0 token must name
//! (B-TOK-6), the base URL relative topics and patterns resolve against (B-MT-5, B-PUB-3), and
//! the protected resource metadata URL its challenges point at (X-11, B-PRM-1). Forwarding
//! headers count only from a trusted proxy.

use actix_web::HttpRequest;
use url::Url;

use super::respond::Refusal;
use super::target::RequestTarget;
use super::AppState;
use crate::auth::{Refused, TokenError};

/// The hub as one request sees it.
pub(super) struct RequestResource {
    /// The configured `resource_identifier`, else `<scheme>://<host>/.well-known/mercure`;
    /// empty when the request's host does not make a URL (no 1.0 token can then name it).
    pub identifier: String,
    /// `None` when the request's host does not make a URL.
    pub base: Option<Url>,
    /// Set when the hub serves protected resource metadata (it knows a 1.0 issuer).
    pub metadata_url: Option<String>,
}

impl RequestResource {
    /// The hub as `request` sees it, from the one trusted-proxy-aware reading of the request
    /// (`target`). A request for another origin never gets here (`route` answers it 421).
    pub(super) fn of(request: &HttpRequest, state: &AppState) -> Self {
        match RequestTarget::of(request, &state.settings) {
            Ok(target) => Self {
                identifier: target.resource,
                base: Some(target.base),
                metadata_url: target.metadata_url,
            },
            Err(_) => Self {
                identifier: String::new(),
                base: None,
                metadata_url: None,
            },
        }
    }

    /// a refused token answered in its dialect (B-ERR), pointing at the metadata.
    pub(super) fn refusal(&self, refused: &Refused) -> Refusal {
        tracing::info!(reason = %refused.error, "token refused");
        Refusal::Challenged(
            refused.error.clone(),
            refused
                .to_challenge()
                .resource_metadata(self.metadata_url.as_deref()),
        )
    }

    /// X-11, B-ERR-4: 403 `insufficient_scope` for a valid token without the needed grant.
    pub(super) fn insufficient_scope(&self, why: &'static str) -> Refusal {
        self.refusal(&Refused {
            error: TokenError::InsufficientScope(why),
            dialect: crate::auth::Dialect::Classic,
        })
    }
}
