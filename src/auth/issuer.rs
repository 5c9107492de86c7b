//! 1.0 issuers (protocol.md B-TOK-1 … B-TOK-4, X-3): per-issuer, per-role keys; the unverified
//! `iss` selects one issuer and only its keys are tried.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

use super::grants::{Dialect, Grants};
use super::keys::verified_bytes;
use super::v1::{self, AccessToken, AccessTokenError};
use super::{now_seconds, Claims, KeyError, TokenError, Verifier};
use crate::topic::bounded::BoundedCache;

/// B-TOK-3: the algorithms a JWK Set key may use for 1.0 tokens unless its issuer names one.
/// (`ES512` is in the protocol's list but the JWT library cannot verify it: P-521 keys are
/// skipped when a set is read.)
pub const JWKS_ALLOWED: &[Algorithm] = &[
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// B-TOK-3: a static raw secret's algorithm when none is configured.
pub const DEFAULT_STATIC_ALG: &str = "HS256";

/// Bytes of verified 1.0 tokens remembered per role (see `keys::VERIFIED_CACHE_BYTES`).
const VERIFIED_CACHE_BYTES: usize = 16 << 20;

/// One `[[issuer]]` table (names fixed by ../shared/design.md). Each role takes a static key
/// (`*_jwt_key`, with `*_jwt_alg`, default HS256) or a JWK Set URL (`*_jwks_url`, with an
/// optional `*_jwt_alg` narrowing the allow-list to that algorithm).
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` of its tokens.
    pub id: String,
    /// A static key for publisher tokens (HMAC secret or PEM public key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_jwt_key: Option<String>,
    /// The algorithm pinned to `publisher_jwt_key`, or narrowing `publisher_jwks_url` (B-TOK-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_jwt_alg: Option<String>,
    /// A JWK Set URL for publisher tokens, fetched and kept fresh by `auth::jwks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher_jwks_url: Option<String>,
    /// A static key for subscriber tokens (HMAC secret or PEM public key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_jwt_key: Option<String>,
    /// The algorithm pinned to `subscriber_jwt_key`, or narrowing `subscriber_jwks_url` (B-TOK-3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_jwt_alg: Option<String>,
    /// A JWK Set URL for subscriber tokens, fetched and kept fresh by `auth::jwks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_jwks_url: Option<String>,
    /// Listed in `authorization_servers` of the protected resource metadata (B-PRM-1).
    #[serde(default)]
    pub authorization_server: bool,
}

impl std::fmt::Debug for IssuerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches logs (C-HARD-9).
        let key = |key: &Option<String>| key.as_ref().map(|_| "<redacted>");
        f.debug_struct("IssuerConfig")
            .field("id", &self.id)
            .field("publisher_jwt_key", &key(&self.publisher_jwt_key))
            .field("publisher_jwt_alg", &self.publisher_jwt_alg)
            .field("publisher_jwks_url", &self.publisher_jwks_url)
            .field("subscriber_jwt_key", &key(&self.subscriber_jwt_key))
            .field("subscriber_jwt_alg", &self.subscriber_jwt_alg)
            .field("subscriber_jwks_url", &self.subscriber_jwks_url)
            .field("authorization_server", &self.authorization_server)
            .finish()
    }
}

/// A configuration mistake, found at startup.
#[derive(Debug, Error)]
pub enum IssuerError {
    /// An `[[issuer]]` without `id`: no token's `iss` could select it (B-TOK-4).
    #[error("an issuer has an empty id")]
    EmptyId,
    /// Two `[[issuer]]`s with one `id`: which keys a token gets would be ambiguous.
    #[error("issuer {0:?} is configured twice")]
    Duplicate(String),
    /// An id both in `[[issuer]]` and in `trusted_issuers`: two key sets for one `iss`.
    #[error("issuer {0:?} is both configured and in trusted_issuers: keep one")]
    TrustedAndConfigured(String),
    /// An issuer that could verify no token at all.
    #[error("issuer {0:?} has neither a publisher nor a subscriber key")]
    NoKey(String),
    /// A role with both a static key and a JWK Set: one key source per role (B-TOK-4).
    #[error("issuer {issuer:?}: {role}_jwt_key and {role}_jwks_url are both set: keep one")]
    KeyAndJwks {
        /// The issuer's `id`.
        issuer: String,
        /// The role whose key is misconfigured.
        role: Role,
    },
    /// A role's `*_jwt_alg` with nothing to pin it to.
    #[error("issuer {issuer:?}: {role}_jwt_alg is set without a key")]
    AlgWithoutKey {
        /// The issuer's `id`.
        issuer: String,
        /// The role whose key is misconfigured.
        role: Role,
    },
    /// A JWK Set narrowed to an algorithm outside [`JWKS_ALLOWED`] (B-TOK-3).
    #[error("issuer {issuer:?}: {role}_jwt_alg {alg:?} is not allowed for a JWK Set (use EdDSA, ES256, ES384, RS256/384/512 or PS256/384/512)")]
    JwksAlgorithm {
        /// The issuer's `id`.
        issuer: String,
        /// The role whose key is misconfigured.
        role: Role,
        /// The algorithm as configured.
        alg: String,
    },
    /// A static key refused for its algorithm (C-HARD-6), or a JWK Set that cannot be read.
    #[error("issuer {issuer:?}, {role} key: {source}")]
    Key {
        /// The issuer's `id`.
        issuer: String,
        /// The role whose key is misconfigured.
        role: Role,
        /// Why the key was refused.
        source: KeyError,
    },
}

/// Which keys a request's token is checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Publish requests (POST): checked with the publisher keys.
    Publisher,
    /// Subscriptions and the subscription API: checked with the subscriber keys.
    Subscriber,
}

impl Role {
    /// The configuration prefix of the role's keys (`publisher_jwt_key`, …), for messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Publisher => "publisher",
            Self::Subscriber => "subscriber",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Publisher => 0,
            Self::Subscriber => 1,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The top-level (classic) verifiers, shared with the classic path and bound to every id of
/// `trusted_issuers`.
#[derive(Debug, Clone, Default)]
pub struct ClassicKeys {
    /// The top-level publisher verifier (`publisher_jwt_key` / `publisher_jwks_url`).
    pub publisher: Option<Arc<Verifier>>,
    /// The top-level subscriber verifier; `None` on an anonymous-only hub.
    pub subscriber: Option<Arc<Verifier>>,
}

impl ClassicKeys {
    fn get(&self, role: Role) -> Option<&Arc<Verifier>> {
        match role {
            Role::Publisher => self.publisher.as_ref(),
            Role::Subscriber => self.subscriber.as_ref(),
        }
    }
}

/// One role's keys of one issuer.
#[derive(Debug)]
struct RoleKeys {
    verifier: Arc<Verifier>,
    /// The allow-list of a JWK Set (B-TOK-3); `None` for a static key, which pins its own.
    allowed: Option<Vec<Algorithm>>,
}

impl RoleKeys {
    fn bound(verifier: Arc<Verifier>) -> Self {
        let allowed = verifier
            .algorithm()
            .is_none()
            .then(|| JWKS_ALLOWED.to_vec());
        Self { verifier, allowed }
    }
}

#[derive(Debug)]
struct Issuer {
    keys: [Option<RoleKeys>; 2],
    authorization_server: bool,
}

/// A token verified on its dialect's path.
#[derive(Debug, Clone)]
pub enum Verified {
    /// A token without `authorization_details`, checked per Part A.
    Classic(Arc<Claims>),
    /// An RFC 9068 access token, checked per Part B (B-TOK-1).
    V1(Arc<AccessToken>),
}

impl Verified {
    /// The dialect whose status codes and messages answer the request.
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Classic(_) => Dialect::Classic,
            Self::V1(_) => Dialect::V1,
        }
    }

    /// The token's rights, one shape for both dialects.
    pub fn grants(&self) -> &Grants {
        match self {
            Self::Classic(claims) => claims.grants(),
            Self::V1(token) => &token.grants,
        }
    }

    /// `exp` in seconds since the epoch (always present on a 1.0 token).
    pub fn expires_at(&self) -> Option<f64> {
        match self {
            Self::Classic(claims) => claims.expires_at,
            Self::V1(token) => Some(token.expires_at),
        }
    }
}

/// Every verifier of both dialects: the classic top-level keys and the 1.0 issuers.
pub struct Issuers {
    issuers: HashMap<String, Issuer>,
    /// Configured issuer ids in configuration order (B-PRM-1 lists them in that order).
    order: Vec<String>,
    classic: ClassicKeys,
    /// Verified 1.0 tokens per role: signature, `typ`, issuer, `nbf` and grants are checked
    /// once; `exp` and `aud` on every use.
    verified: [BoundedCache<Box<str>, Arc<AccessToken>>; 2],
}

impl std::fmt::Debug for Issuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuers")
            .field("issuers", &self.issuers)
            .field("classic", &self.classic)
            .finish_non_exhaustive()
    }
}

impl Issuers {
    /// Builds every issuer's verifiers (JWK Sets are read or fetched now, see `auth::jwks`).
    pub fn new(
        configs: &[IssuerConfig],
        trusted_issuers: &[String],
        classic: ClassicKeys,
    ) -> Result<Self, IssuerError> {
        let mut issuers = HashMap::new();
        let mut order = Vec::new();
        for config in configs {
            if config.id.is_empty() {
                return Err(IssuerError::EmptyId);
            }
            if issuers.contains_key(&config.id) {
                return Err(IssuerError::Duplicate(config.id.clone()));
            }
            if trusted_issuers.contains(&config.id) {
                return Err(IssuerError::TrustedAndConfigured(config.id.clone()));
            }
            issuers.insert(config.id.clone(), configured(config)?);
            order.push(config.id.clone());
        }
        for id in trusted_issuers.iter().filter(|id| !id.is_empty()) {
            let keys = [Role::Publisher, Role::Subscriber]
                .map(|role| classic.get(role).cloned().map(RoleKeys::bound));
            issuers.insert(
                id.clone(),
                Issuer {
                    keys,
                    authorization_server: false,
                },
            );
        }
        Ok(Self {
            issuers,
            order,
            classic,
            verified: [(); 2].map(|()| BoundedCache::new(VERIFIED_CACHE_BYTES)),
        })
    }

    /// The configured issuers flagged `authorization_server`, in configuration order (B-PRM-1).
    pub fn authorization_servers(&self) -> impl Iterator<Item = &str> {
        self.order.iter().filter_map(|id| {
            self.issuers
                .get(id)
                .filter(|issuer| issuer.authorization_server)
                .map(|_| id.as_str())
        })
    }

    /// Whether any 1.0 issuer is known, trusted issuers included: the hub then serves protected
    /// resource metadata and points its challenges at it (B-PRM-1, X-11).
    pub fn has_issuers(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Whether any `[[issuer]]` is configured (trusted issuers do not count).
    pub fn has_configured_issuers(&self) -> bool {
        !self.order.is_empty()
    }

    /// Whether a token of either dialect can be verified for `role` (X-3, A-AUTH-11).
    pub fn has_role(&self, role: Role) -> bool {
        self.classic.get(role).is_some()
            || self
                .issuers
                .values()
                .any(|issuer| issuer.keys[role.index()].is_some())
    }

    /// verifies `token` on its dialect's path alone. `resource` is the request's resource
    /// identifier (B-TOK-6), used only for a 1.0 token.
    pub fn verify(&self, token: &str, role: Role, resource: &str) -> Result<Verified, TokenError> {
        let peeked = v1::peek(token)?;
        match peeked.dialect {
            Dialect::Classic => {
                let verifier = self.classic.get(role).ok_or_else(|| {
                    TokenError::Invalid(format!("no classic {role} key is configured"))
                })?;
                verifier.verify(token).map(Verified::Classic)
            }
            Dialect::V1 => self
                .verify_v1(token, peeked.issuer.as_deref(), role, resource)
                .map(Verified::V1),
        }
    }

    /// B.6: verifies a 1.0 token (one whose dialect is already known).
    pub fn verify_access_token(
        &self,
        token: &str,
        role: Role,
        resource: &str,
    ) -> Result<Arc<AccessToken>, TokenError> {
        let peeked = v1::peek(token)?;
        self.verify_v1(token, peeked.issuer.as_deref(), role, resource)
    }

    fn verify_v1(
        &self,
        token: &str,
        issuer: Option<&str>,
        role: Role,
        resource: &str,
    ) -> Result<Arc<AccessToken>, TokenError> {
        let now = now_seconds();
        let cache = &self.verified[role.index()];
        let verified = match cache.read(token, Arc::clone) {
            Some(known) => known,
            None => {
                let verified = Arc::new(self.verify_uncached(token, issuer, role, now)?);
                cache.insert(token.into(), verified.clone(), verified_bytes(token));
                verified
            }
        };
        verified.check(resource, now)?;
        Ok(verified)
    }

    /// B-TOK-2, B-TOK-3, B-TOK-4, then the claims (B-TOK-5 … B-TOK-7, B-AD-*).
    fn verify_uncached(
        &self,
        token: &str,
        issuer: Option<&str>,
        role: Role,
        now: f64,
    ) -> Result<AccessToken, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Invalid(format!("unreadable header: {e}")))?;
        v1::check_type(header.typ.as_deref())?;
        let issuer = issuer.ok_or(AccessTokenError::NoIssuer)?;
        let keys = self.keys(issuer, role)?;
        if let Some(allowed) = &keys.allowed {
            if !allowed.contains(&header.alg) {
                return Err(
                    AccessTokenError::AlgorithmNotAllowed(format!("{:?}", header.alg)).into(),
                );
            }
        }
        let payload = keys.verifier.verified_payload(token)?;
        // The same bytes were read unverified; checked again so that nothing but the verified
        // payload decides.
        if payload.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(AccessTokenError::NoIssuer.into());
        }
        AccessToken::from_payload(issuer, &payload, now)
    }

    fn keys(&self, issuer: &str, role: Role) -> Result<&RoleKeys, AccessTokenError> {
        let known = self
            .issuers
            .get(issuer)
            .ok_or_else(|| AccessTokenError::UnknownIssuer(issuer.chars().take(256).collect()))?;
        known.keys[role.index()]
            .as_ref()
            .ok_or_else(|| AccessTokenError::NoKeyForRole {
                issuer: issuer.to_owned(),
                role: role.name(),
            })
    }
}

fn configured(config: &IssuerConfig) -> Result<Issuer, IssuerError> {
    let publisher = role_keys(
        config,
        Role::Publisher,
        &config.publisher_jwt_key,
        &config.publisher_jwt_alg,
        &config.publisher_jwks_url,
    )?;
    let subscriber = role_keys(
        config,
        Role::Subscriber,
        &config.subscriber_jwt_key,
        &config.subscriber_jwt_alg,
        &config.subscriber_jwks_url,
    )?;
    if publisher.is_none() && subscriber.is_none() {
        return Err(IssuerError::NoKey(config.id.clone()));
    }
    Ok(Issuer {
        keys: [publisher, subscriber],
        authorization_server: config.authorization_server,
    })
}

/// One role's keys: a static key pinned to its algorithm, or a JWK Set with its allow-list
/// (B-TOK-3). Empty strings count as unset, as environment variables often are.
fn role_keys(
    config: &IssuerConfig,
    role: Role,
    key: &Option<String>,
    alg: &Option<String>,
    jwks_url: &Option<String>,
) -> Result<Option<RoleKeys>, IssuerError> {
    let set = |value: &Option<String>| -> Option<String> {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let issuer = || config.id.clone();
    let key_error = |source| IssuerError::Key {
        issuer: issuer(),
        role,
        source,
    };
    // The key itself is not trimmed: a secret's spaces are part of it.
    let key = key.as_deref().filter(|k| !k.is_empty());
    match (key, set(alg), set(jwks_url)) {
        (Some(_), _, Some(_)) => Err(IssuerError::KeyAndJwks {
            issuer: issuer(),
            role,
        }),
        (Some(key), alg, None) => {
            let alg = alg.as_deref().unwrap_or(DEFAULT_STATIC_ALG);
            let verifier = Verifier::new(key, alg).map_err(key_error)?;
            Ok(Some(RoleKeys {
                verifier: Arc::new(verifier),
                allowed: None,
            }))
        }
        (None, alg, Some(url)) => {
            let allowed = match alg {
                None => JWKS_ALLOWED.to_vec(),
                Some(alg) => match Algorithm::from_str(&alg) {
                    Ok(pinned) if JWKS_ALLOWED.contains(&pinned) => vec![pinned],
                    _ => {
                        return Err(IssuerError::JwksAlgorithm {
                            issuer: issuer(),
                            role,
                            alg,
                        })
                    }
                },
            };
            let verifier = Verifier::from_jwks_url(&url).map_err(key_error)?;
            Ok(Some(RoleKeys {
                verifier: Arc::new(verifier),
                allowed: Some(allowed),
            }))
        }
        (None, Some(_), None) => Err(IssuerError::AlgWithoutKey {
            issuer: issuer(),
            role,
        }),
        (None, None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
