//! Authorization: token extraction, verification with pinned keys, and classic claims → grants
//! (protocol.md A.6).

mod claims;
pub mod jwks;
mod keys;
pub mod origin;
mod token;

pub use claims::{now_seconds, Claims};
pub use keys::{KeyError, Verifier};
pub use origin::{OriginError, OriginList};
pub use token::{
    extract, Source, TokenSources, CLASSIC_COOKIE as CLASSIC_COOKIE_NAME, MIN_TOKEN_LENGTH,
    V1_COOKIE as V1_COOKIE_FALLBACK,
};

use std::sync::Arc;

use thiserror::Error;

/// Why a request's token was refused. Only logged: clients see `Unauthorized` (A-AUTH-17).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    /// No source carried a token, on a request that needs one (A-AUTH-11).
    #[error("no token presented")]
    Missing,
    /// Two headers, a scheme other than `Bearer`, or a token under 41 characters (A-AUTH-3,
    /// A-AUTH-4).
    #[error("malformed Authorization header or authorization parameter")]
    Malformed,
    /// A cookie-borne publish without an allowed `Origin` or `Referer`: CSRF protection (A-AUTH-6).
    #[error("cookie-authenticated publish from an origin not allowed by publish_origins")]
    OriginNotAllowed,
    /// Bad signature, wrong algorithm or unreadable token; the text is the verifier's reason.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// `exp` has passed, checked without leeway (A-AUTH-8).
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead, checked without leeway (A-AUTH-8).
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    /// The `mercure` claim has the wrong shape; names the offending member (A-AUTH-9).
    #[error("invalid mercure claim: {0}")]
    BadClaim(&'static str),
    /// A valid token whose grants do not cover the request: answered 403, not 401 (A-AUTH-17).
    #[error("valid token without the needed right: {0}")]
    InsufficientScope(&'static str),
}

impl TokenError {
    /// The `WWW-Authenticate` challenge for this failure (protocol.md X-11).
    pub fn challenge(&self) -> &'static str {
        match self {
            Self::Missing => "Bearer",
            Self::InsufficientScope(_) => "Bearer error=\"insufficient_scope\"",
            _ => "Bearer error=\"invalid_token\"",
        }
    }
}

/// A-AUTH-11: the claims of a subscription request; `None` for an anonymous subscriber.
pub fn subscriber_claims(
    verifier: Option<&Verifier>,
    anonymous: bool,
    sources: &TokenSources<'_>,
) -> Result<Option<Arc<Claims>>, TokenError> {
    let Some(verifier) = verifier else {
        return Ok(None);
    };
    match extract(sources)? {
        Some((_, token)) => verifier.verify(token).map(Some),
        None if anonymous => Ok(None),
        None => Err(TokenError::Missing),
    }
}

/// A-AUTH-10 (401 part) and A-AUTH-6: the claims of a publish request. `origin_allowed` is
/// asked only for a cookie token, before it is verified.
pub fn publisher_claims(
    verifier: &Verifier,
    sources: &TokenSources<'_>,
    origin_allowed: impl FnOnce() -> bool,
) -> Result<Arc<Claims>, TokenError> {
    let (source, token) = extract(sources)?.ok_or(TokenError::Missing)?;
    if source == Source::Cookie && !origin_allowed() {
        return Err(TokenError::OriginNotAllowed);
    }
    let claims = verifier.verify(token)?;
    if claims.publish.is_none() {
        return Err(TokenError::BadClaim("no mercure.publish claim"));
    }
    Ok(claims)
}
