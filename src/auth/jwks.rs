//! JWK Sets as verifiers (protocol.md A-AUTH-7, C-HARD-6): the key is chosen by the token's
//! `kid`, the token's `alg` must suit that key, `none` is never accepted.
//!
//! Sources: a `file://` URL (empty or `localhost` host) is read once at startup; an `https://`
//! URL is fetched at startup and refreshed in the background every [`REFRESH_INTERVAL`], and
//! also (at most every [`MIN_REFRESH_GAP`]) when a token names an unknown `kid`.

mod fetch;

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use thiserror::Error;
use url::Url;

use super::TokenError;

pub use fetch::is_public_address;

/// How often an https JWK Set is fetched again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Least time between two fetches caused by unknown `kid`s.
pub const MIN_REFRESH_GAP: Duration = Duration::from_secs(30);

/// Why a JWK Set could not be loaded; at startup this stops the hub, on refresh the old set stays.
#[derive(Debug, Error)]
pub enum JwksError {
    /// `*_jwks_url` is neither a `file://` nor an `https://` URL.
    #[error("invalid JWK Set URL {url:?}: {reason}")]
    Url {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `file://` set cannot be read.
    #[error("cannot read the JWK Set file {path}: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// The OS's error.
        source: std::io::Error,
    },
    /// The `https://` set could not be fetched: network, refused address (SSRF), status or size.
    #[error("cannot fetch the JWK Set {url}: {reason}")]
    Fetch {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The set was read but is not a JWK Set with at least one usable key.
    #[error("invalid JWK Set {origin}: {reason}")]
    Invalid {
        /// The file or URL it came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One usable key of a set.
struct Entry {
    kid: Option<String>,
    /// The key's `alg` when it names one; the token must then use exactly it.
    alg: Option<Algorithm>,
    /// The algorithms the key's type allows.
    allowed: &'static [Algorithm],
    key: DecodingKey,
}

/// Verifies tokens with the keys of a JWK Set.
pub struct JwkSetVerifier {
    origin: String,
    keys: RwLock<Arc<Vec<Entry>>>,
    /// Asks the refresher for an early fetch (https sets only).
    refresh: Option<SyncSender<()>>,
}

impl std::fmt::Debug for JwkSetVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwkSetVerifier")
            .field("origin", &self.origin)
            .field("keys", &self.keys.read().len())
            .finish_non_exhaustive()
    }
}

impl JwkSetVerifier {
    /// Loads the set at `url` (`file://` or `https://`); https sets are then kept fresh by a
    /// background thread that ends when the verifier is dropped.
    pub fn from_url(url: &str) -> Result<Arc<Self>, JwksError> {
        let parsed = Url::parse(url).map_err(|e| JwksError::Url {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        match parsed.scheme() {
            "file" => Self::from_file_url(&parsed).map(Arc::new),
            "https" => Self::from_https(parsed),
            other => Err(JwksError::Url {
                url: url.to_owned(),
                reason: format!("scheme {other:?} is not allowed: use https:// or file://"),
            }),
        }
    }

    /// A set given as JSON text (`origin` names it in messages).
    pub fn from_json(json: &str, origin: &str) -> Result<Self, JwksError> {
        Ok(Self {
            origin: origin.to_owned(),
            keys: RwLock::new(Arc::new(parse_set(json, origin)?)),
            refresh: None,
        })
    }

    fn from_file_url(url: &Url) -> Result<Self, JwksError> {
        let host = url.host_str().unwrap_or_default();
        if !host.is_empty() && host != "localhost" {
            return Err(JwksError::Url {
                url: url.to_string(),
                reason: "a file:// URL must have an empty or localhost host".into(),
            });
        }
        let path = url.to_file_path().map_err(|()| JwksError::Url {
            url: url.to_string(),
            reason: "not a local file path".into(),
        })?;
        let json = std::fs::read_to_string(&path).map_err(|source| JwksError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&json, url.as_str())
    }

    fn from_https(url: Url) -> Result<Arc<Self>, JwksError> {
        let keys = parse_set(&fetch::fetch_in_thread(&url)?, url.as_str())?;
        let (sender, receiver) = mpsc::sync_channel(1);
        let verifier = Arc::new(Self {
            origin: url.to_string(),
            keys: RwLock::new(Arc::new(keys)),
            refresh: Some(sender),
        });
        let weak = Arc::downgrade(&verifier);
        std::thread::Builder::new()
            .name("jwks-refresh".into())
            .spawn(move || refresh_loop(&url, &weak, &receiver))
            .map_err(|e| JwksError::Fetch {
                url: verifier.origin.clone(),
                reason: format!("cannot start the refresh thread: {e}"),
            })?;
        Ok(verifier)
    }

    /// Number of usable keys in the set.
    pub fn len(&self) -> usize {
        self.keys.read().len()
    }

    /// True when no key of the set is usable: every token would then be refused.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks the signature with the key named by the token's `kid` and returns the payload
    /// (whose claims the caller reads; `exp`/`nbf` are left to `Claims`, A-AUTH-8).
    pub fn decode(&self, token: &str) -> Result<serde_json::Value, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Invalid(format!("unreadable header: {e}")))?;
        let keys = Arc::clone(&self.keys.read());
        let entry = self.select(&keys, header.kid.as_deref(), header.alg)?;
        jsonwebtoken::decode::<serde_json::Value>(token, &entry.key, &validation(header.alg))
            .map(|data| data.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    fn select<'a>(
        &self,
        keys: &'a [Entry],
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&'a Entry, TokenError> {
        let candidates: Vec<&Entry> = match kid {
            Some(kid) => keys
                .iter()
                .filter(|e| e.kid.as_deref() == Some(kid))
                .collect(),
            None if keys.len() == 1 => keys.iter().collect(),
            None => {
                return Err(TokenError::Invalid(
                    "the token has no kid and the JWK Set holds several keys".into(),
                ))
            }
        };
        if candidates.is_empty() {
            if let Some(refresh) = &self.refresh {
                let _ = refresh.try_send(());
            }
            return Err(TokenError::Invalid(format!(
                "no key with kid {:?} in the JWK Set",
                kid.unwrap_or_default()
            )));
        }
        candidates
            .into_iter()
            .find(|entry| entry.accepts(alg))
            .ok_or_else(|| {
                TokenError::Invalid(format!("algorithm {alg:?} does not suit the selected key"))
            })
    }
}

impl Entry {
    fn accepts(&self, alg: Algorithm) -> bool {
        self.alg.is_none_or(|pinned| pinned == alg) && self.allowed.contains(&alg)
    }
}

/// Signature and algorithm only; `exp` and `nbf` are checked by `Claims` without leeway.
fn validation(algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation
}

fn refresh_loop(url: &Url, weak: &Weak<JwkSetVerifier>, requests: &Receiver<()>) {
    let mut last = Instant::now();
    loop {
        let early = match requests.recv_timeout(REFRESH_INTERVAL) {
            Ok(()) => true,
            Err(mpsc::RecvTimeoutError::Timeout) => false,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        if early && last.elapsed() < MIN_REFRESH_GAP {
            continue;
        }
        last = Instant::now();
        let fetched = fetch::fetch(url).and_then(|json| parse_set(&json, url.as_str()));
        let Some(verifier) = weak.upgrade() else {
            return;
        };
        match fetched {
            Ok(keys) => *verifier.keys.write() = Arc::new(keys),
            Err(error) => tracing::warn!("keeping the previous JWK Set: {error}"),
        }
    }
}

/// The usable keys of a JWK Set document. Keys for encryption, of unknown types or with an
/// unknown `alg` are skipped; a set without any usable key is an error.
fn parse_set(json: &str, origin: &str) -> Result<Vec<Entry>, JwksError> {
    let invalid = |reason: String| JwksError::Invalid {
        origin: origin.to_owned(),
        reason,
    };
    let document: serde_json::Value =
        serde_json::from_str(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let keys = document
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| invalid("no \"keys\" array".into()))?;
    let entries: Vec<Entry> = keys.iter().filter_map(entry).collect();
    if entries.is_empty() {
        return Err(invalid("no usable signature verification key".into()));
    }
    Ok(entries)
}

fn entry(value: &serde_json::Value) -> Option<Entry> {
    let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
    if value.get("use").and_then(serde_json::Value::as_str) == Some("enc") {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::UNKNOWN_ALGORITHM) => return None,
        Some(named) => Some(named.to_string().parse::<Algorithm>().ok()?),
    };
    let allowed = allowed_algorithms(&jwk.algorithm)?;
    if alg.is_some_and(|alg| !allowed.contains(&alg)) {
        return None;
    }
    Some(Entry {
        kid: jwk.common.key_id.clone(),
        alg,
        allowed,
        key: DecodingKey::from_jwk(&jwk).ok()?,
    })
}

fn allowed_algorithms(params: &AlgorithmParameters) -> Option<&'static [Algorithm]> {
    use Algorithm::*;
    Some(match params {
        AlgorithmParameters::RSA(_) => &[RS256, RS384, RS512, PS256, PS384, PS512],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[ES256],
            EllipticCurve::P384 => &[ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(_) => &[EdDSA],
        AlgorithmParameters::OctetKey(_) => &[HS256, HS384, HS512],
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
