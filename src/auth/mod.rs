//! Authorization: token extraction, verification with pinned keys, and classic claims → grants
//! (protocol.md A.6).

pub mod challenge;
mod claims;
pub mod grants;
pub mod issuer;
pub mod jwks;
mod keys;
pub mod metadata;
pub mod origin;
#[cfg(test)]
pub(crate) mod test_keys;
mod token;
pub mod v1;

pub use challenge::{Challenge, ChallengeError};
pub use claims::{now_seconds, seconds_to_duration, Claims};
pub use grants::{Dialect, GrantContext, GrantMatcher, GrantSelector, Grants, MatchType};
pub use issuer::{ClassicKeys, IssuerConfig, IssuerError, Issuers, Role, Verified};
pub use keys::{KeyError, Verifier};
pub use origin::{OriginError, OriginList};
pub use token::{
    extract, Source, TokenSources, CLASSIC_COOKIE as CLASSIC_COOKIE_NAME, MIN_TOKEN_LENGTH,
    V1_COOKIE as V1_COOKIE_FALLBACK,
};
pub use v1::{AccessToken, AccessTokenError};

use std::borrow::Borrow;
use std::sync::Arc;

use thiserror::Error;

/// Why a request's token was refused. Only logged: clients see `Unauthorized` (A-AUTH-17).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
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
    /// A 1.0 access token failed B.6 or B.7.
    #[error("invalid 1.0 token: {0}")]
    AccessToken(#[from] AccessTokenError),
}

impl TokenError {
    /// The `WWW-Authenticate` challenge for this failure (protocol.md X-11), without
    /// `resource_metadata`; the same text as `self.to_challenge(Dialect::Classic)`.
    pub fn challenge(&self) -> &'static str {
        match self {
            Self::Missing => "Bearer",
            Self::InsufficientScope(_) => "Bearer error=\"insufficient_scope\"",
            _ => "Bearer error=\"invalid_token\"",
        }
    }

    /// B-ERR, X-11: the challenge for this failure, whose `status()` is the 1.0 one. `rules` is
    /// the dialect whose presentation rules apply: a malformed presentation (two headers, short
    /// token, cookie without an allowed origin) is 400 `invalid_request` under 1.0 (B-AUTH-4,
    /// B-AUTH-6, §0.2) and 401 `invalid_token` under classic, whose statuses stay the HTTP
    /// layer's (A-AUTH-17). Add `.resource_metadata(url)` when metadata is served (B-PRM-1).
    pub fn to_challenge(&self, rules: Dialect) -> Challenge {
        match self {
            Self::Missing => Challenge::bare(),
            Self::InsufficientScope(_) => Challenge::error(ChallengeError::InsufficientScope),
            Self::Malformed | Self::OriginNotAllowed if rules == Dialect::V1 => {
                Challenge::error(ChallengeError::InvalidRequest)
            }
            _ => Challenge::error(ChallengeError::InvalidToken),
        }
    }
}

/// A-AUTH-11: the claims of a subscription request; `None` for an anonymous subscriber.
pub fn subscriber_claims<V: Borrow<Verifier>>(
    verifier: Option<&V>,
    anonymous: bool,
    sources: &TokenSources<'_>,
) -> Result<Option<Arc<Claims>>, TokenError> {
    let Some(verifier) = verifier else {
        return Ok(None);
    };
    match extract(sources)? {
        Some((_, token)) => verifier.borrow().verify(token).map(Some),
        None if anonymous => Ok(None),
        None => Err(TokenError::Missing),
    }
}

/// A token refused, with the dialect whose rules answer it: the token's own when it could be
/// read, classic otherwise (no usable token answers the same in both dialects).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    /// Why the token was refused.
    pub error: TokenError,
    /// Whose rules shape the answer: a 1.0 refusal carries a `WWW-Authenticate` challenge.
    pub dialect: Dialect,
}

impl Refused {
    fn classic(error: TokenError) -> Self {
        Self {
            error,
            dialect: Dialect::Classic,
        }
    }

    /// The challenge answering it; see [`TokenError::to_challenge`].
    pub fn to_challenge(&self) -> Challenge {
        self.error.to_challenge(self.dialect)
    }
}

/// X-5, A-AUTH-10 (401 part), A-AUTH-6, B-AUTH-6: the token of a publish request verified on
/// its dialect's path (`resource` is the request's resource identifier, B-TOK-6). A classic
/// token without `mercure.publish` is refused here (401); a 1.0 token without publish grants is
/// the handler's 403 (§0.2). `origin_allowed` is asked only for a cookie token, before it is
/// verified; its refusal is answered in the cookie token's dialect.
pub fn publisher_token(
    issuers: &Issuers,
    sources: &TokenSources<'_>,
    resource: &str,
    origin_allowed: impl FnOnce() -> bool,
) -> Result<Verified, Refused> {
    let (source, token) = extract(sources)
        .map_err(Refused::classic)?
        .ok_or(Refused::classic(TokenError::Missing))?;
    let dialect = v1::peek(token).map_or(Dialect::Classic, |peeked| peeked.dialect);
    let refused = |error| Refused { error, dialect };
    if source == Source::Cookie && !origin_allowed() {
        return Err(refused(TokenError::OriginNotAllowed));
    }
    if source == Source::Query && dialect == Dialect::V1 {
        // X-6, B-AUTH-9: a 1.0 token never travels in the URL.
        return Err(refused(TokenError::Invalid(
            "a 1.0 token in the authorization query parameter".to_owned(),
        )));
    }
    let verified = issuers
        .verify(token, Role::Publisher, resource)
        .map_err(refused)?;
    if let Verified::Classic(claims) = &verified {
        if claims.publish.is_none() {
            return Err(refused(TokenError::BadClaim("no mercure.publish claim")));
        }
    }
    Ok(verified)
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
