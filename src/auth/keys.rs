//! Verification keys, each pinned to one algorithm (protocol.md A-AUTH-7, C-HARD-6).

use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use thiserror::Error;

use super::jwks::{JwkSetVerifier, JwksError};
use super::{Claims, TokenError};
use crate::topic::bounded::BoundedCache;

/// Why a configured verification key cannot be used: reported at startup (A-AUTH-16).
#[derive(Debug, Error)]
pub enum KeyError {
    /// `*_jwt_alg` names no algorithm the hub verifies (`none` included, C-HARD-6).
    #[error("unsupported JWT algorithm {0:?} (use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384 or EdDSA)")]
    UnsupportedAlgorithm(String),
    /// An empty key would make every HMAC signature trivially forgeable.
    #[error("the key is empty")]
    Empty,
    /// A PEM given with an `HS*` algorithm: its text would become the shared secret.
    #[error(
        "a PEM key cannot be used with the HMAC algorithm {0:?}: give the shared secret instead"
    )]
    PemWithHmac(String),
    /// The HMAC secret would be the text of a path: almost certainly a forgotten `*_jwt_alg`.
    #[error("the key names the PEM file {path} but the algorithm is {alg}: set the algorithm to the key's (RS256, ES256, ...)")]
    PemFileWithHmac {
        /// The file the key names.
        path: String,
        /// The configured `HS*` algorithm.
        alg: String,
    },
    /// The key names a PEM file that cannot be read.
    #[error("cannot read the PEM key file {path:?}: {source}")]
    Unreadable {
        /// The file's path.
        path: String,
        /// The OS's error.
        source: std::io::Error,
    },
    /// The PEM does not hold a public key of the algorithm's family.
    #[error("the key is not a valid PEM public key for {alg}: {reason}")]
    InvalidPem {
        /// The configured algorithm.
        alg: String,
        /// The decoder's reason.
        reason: String,
    },
    /// The `*_jwks_url` set could not be loaded.
    #[error("{0}")]
    Jwks(#[from] JwksError),
}

/// Bytes of verified tokens remembered per verifier, so a client reusing its token (every publish
/// of an app, every reconnect) skips signature checks and JSON parsing. Bounded in bytes, with
/// gradual eviction, so that a flood of large distinct tokens cannot grow memory or flush the
/// tokens in use (R-BOUND).
const VERIFIED_CACHE_BYTES: usize = 32 << 20;

/// What a verified token is charged: its text and its claims, which come from it (a payload, the
/// selectors' text), with room for their structures.
pub(super) fn verified_bytes(token: &str) -> usize {
    token.len().saturating_mul(3).saturating_add(512)
}

/// Checks tokens of one role with one key and exactly one algorithm.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    verified: BoundedCache<Box<str>, Arc<Claims>>,
    /// When set, tokens are checked against this JWK Set and `key`/`validation` are unused.
    jwks: Option<Arc<JwkSetVerifier>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key material never reaches logs (C-HARD-9).
        f.debug_struct("Verifier")
            .field("alg", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Builds a verifier from a configured key: the raw secret for HS*, otherwise a PEM public
    /// key given inline or as the path of a PEM file.
    pub fn new(key: &str, alg: &str) -> Result<Self, KeyError> {
        let algorithm =
            Algorithm::from_str(alg).map_err(|_| KeyError::UnsupportedAlgorithm(alg.to_owned()))?;
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        let is_pem = key.trim_start().starts_with("-----BEGIN");
        let decoding_key = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                if is_pem {
                    return Err(KeyError::PemWithHmac(alg.to_owned()));
                }
                if names_pem_file(key) {
                    return Err(KeyError::PemFileWithHmac {
                        path: key.to_owned(),
                        alg: alg.to_owned(),
                    });
                }
                DecodingKey::from_secret(key.as_bytes())
            }
            _ => {
                let pem = if is_pem {
                    key.to_owned()
                } else {
                    std::fs::read_to_string(key).map_err(|source| KeyError::Unreadable {
                        path: key.to_owned(),
                        source,
                    })?
                };
                public_key(algorithm, pem.as_bytes())
            }
        }
        .map_err(|e| KeyError::InvalidPem {
            alg: alg.to_owned(),
            reason: e.to_string(),
        })?;
        let mut validation = Validation::new(algorithm);
        // Classic tokens: only exp and nbf count, checked by `Claims` without leeway (A-AUTH-8).
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        Ok(Self {
            key: decoding_key,
            validation,
            verified: BoundedCache::new(VERIFIED_CACHE_BYTES),
            jwks: None,
        })
    }

    /// Builds a verifier from a JWK Set URL (`file://` read now, `https://` fetched now and
    /// refreshed in the background; see `auth::jwks`).
    pub fn from_jwks_url(url: &str) -> Result<Self, KeyError> {
        Ok(Self::from_jwks(JwkSetVerifier::from_url(url)?))
    }

    /// A verifier that checks tokens against a JWK Set.
    pub fn from_jwks(set: Arc<JwkSetVerifier>) -> Self {
        Self {
            // Never used: `verify` goes to the set. This key verifies nothing.
            key: DecodingKey::from_rsa_raw_components(&[], &[]),
            validation: Validation::new(Algorithm::RS256),
            verified: BoundedCache::new(VERIFIED_CACHE_BYTES),
            jwks: Some(set),
        }
    }

    /// The pinned algorithm of a static key; `None` for a JWK Set.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match self.jwks {
            Some(_) => None,
            None => self.validation.algorithms.first().copied(),
        }
    }

    /// Verifies the signature and algorithm, then reads the classic claims.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, TokenError> {
        if let Some(known) = self.verified.read(token, Arc::clone) {
            // Only successes are cached; expiry is the one thing that changes with time (an
            // expired entry is refused here until it is evicted).
            if known
                .expires_at
                .is_some_and(|exp| exp <= super::now_seconds())
            {
                return Err(TokenError::Expired);
            }
            return Ok(known);
        }
        let claims = Arc::new(Claims::from_payload(&self.verified_payload(token)?)?);
        self.verified
            .insert(token.into(), claims.clone(), verified_bytes(token));
        Ok(claims)
    }
}

impl Verifier {
    /// Checks the signature and algorithm only, and returns the payload, uncached: the 1.0
    /// path (`auth::issuer`) reads it by its own rules and caches its own results.
    pub(super) fn verified_payload(&self, token: &str) -> Result<serde_json::Value, TokenError> {
        match &self.jwks {
            Some(set) => set.decode(token),
            None => jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &self.validation)
                .map(|data| data.claims)
                .map_err(|e| TokenError::Invalid(e.to_string())),
        }
    }
}

/// Whether `key` is the path of a readable file that starts like a PEM document. Only the
/// first bytes are read: a secret that happens to name a huge file costs nothing.
fn names_pem_file(key: &str) -> bool {
    use std::io::Read;
    let path = std::path::Path::new(key);
    if !path.is_file() {
        return false;
    }
    let mut head = [0u8; 512];
    let read = std::fs::File::open(path).and_then(|mut file| file.read(&mut head));
    read.is_ok_and(|n| {
        let text = String::from_utf8_lossy(head.get(..n).unwrap_or_default());
        text.trim_start().starts_with("-----BEGIN")
    })
}

fn public_key(algorithm: Algorithm, pem: &[u8]) -> jsonwebtoken::errors::Result<DecodingKey> {
    match algorithm {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => DecodingKey::from_rsa_pem(pem),
    }
}

#[cfg(test)]
mod tests;
