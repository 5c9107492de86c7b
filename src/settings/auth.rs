//! How requests are authorized: the token verifiers of both dialects, anonymous access, the
//! cookie and the origins allowed to publish with it (protocol.md A-AUTH-16, R-TOKEN, X-3).

use std::sync::Arc;

use url::Url;

use crate::auth::{ClassicKeys, Issuers, KeyError, OriginList, Verifier};
use crate::config::Config;

use super::{development_origins, SettingsError};

/// How publishers and subscribers prove their rights.
#[derive(Debug)]
pub struct AuthSettings {
    /// The classic publisher verifier, shared with `issuers` (bound to `trusted_issuers`).
    pub publisher: Arc<Verifier>,
    /// `None` on an anonymous-only hub: subscriber tokens are then not read at all.
    pub subscriber: Option<Arc<Verifier>>,
    /// Whether subscribers may connect without a token (A-AUTH-11, B-T-3).
    pub anonymous: bool,
    /// The cookie tokens are read from (A-AUTH-5).
    pub cookie_name: String,
    /// Origins allowed to publish with the cookie (A-AUTH-6).
    pub publish_origins: OriginList,
    /// Every verifier of both dialects: the two above, bound to each id of
    /// `trusted_issuers`, and the `[[issuer]]`s; JWK Sets fetched and kept fresh by `auth::jwks`.
    pub issuers: Issuers,
    /// The `aud` a 1.0 token must contain (B-TOK-6); `None` = derived per request.
    pub resource_identifier: Option<String>,
}

impl TryFrom<&Config> for AuthSettings {
    type Error = SettingsError;

    fn try_from(config: &Config) -> Result<Self, SettingsError> {
        let publisher = Arc::new(publisher_verifier(config)?);
        let anonymous = config.anonymous || config.playground;
        let subscriber = match subscriber_verifier(config)? {
            Some(verifier) => Some(Arc::new(verifier)),
            None if anonymous => None,
            None => return Err(SettingsError::MissingSubscriberKey),
        };
        if !is_cookie_name(&config.cookie_name) {
            return Err(SettingsError::CookieName);
        }
        let publish_origins =
            OriginList::parse(&development_origins(config, &config.publish_origins))
                .map_err(SettingsError::PublishOrigins)?;
        let classic = ClassicKeys {
            publisher: Some(publisher.clone()),
            subscriber: subscriber.clone(),
        };
        Ok(Self {
            issuers: issuers(config, classic)?,
            resource_identifier: resource_identifier(config)?,
            publisher,
            subscriber,
            anonymous,
            cookie_name: config.cookie_name.clone(),
            publish_origins,
        })
    }
}

/// The registry of both dialects: the `[[issuer]]`s, and `classic` bound to every id of
/// `trusted_issuers` (JWK Sets are read or fetched now).
pub fn issuers(config: &Config, classic: ClassicKeys) -> Result<Issuers, SettingsError> {
    Ok(Issuers::new(
        &config.issuer,
        &config.trusted_issuers,
        classic,
    )?)
}

/// `resource_identifier`: an absolute URL without a fragment (RFC 8707), kept as written since
/// the token's `aud` must equal it.
fn resource_identifier(config: &Config) -> Result<Option<String>, SettingsError> {
    let Some(text) = config.resource_identifier.as_deref().map(str::trim) else {
        return Ok(None);
    };
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = |reason: &'static str| SettingsError::ResourceIdentifier {
        value: text.to_owned(),
        reason,
    };
    let url = Url::parse(text).map_err(|_| invalid("not an absolute URL"))?;
    if url.cannot_be_a_base() || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it needs a host"));
    }
    if url.fragment().is_some() {
        return Err(invalid("it may not have a fragment"));
    }
    Ok(Some(text.to_owned()))
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'=' | b'"'))
}

/// The publisher verifier: the JWK Set when `publisher_jwks_url` is set, else the key.
pub fn publisher_verifier(config: &Config) -> Result<Verifier, SettingsError> {
    verifier(
        config.publisher_jwks_url.as_deref(),
        config.publisher_jwt_key.as_deref(),
        &config.publisher_jwt_alg,
    )
    .map_err(|error| key_error("publisher", error, SettingsError::PublisherKey))?
    .ok_or(SettingsError::MissingPublisherKey)
}

/// The subscriber verifier, `None` when neither a JWK Set nor a key is configured.
pub fn subscriber_verifier(config: &Config) -> Result<Option<Verifier>, SettingsError> {
    verifier(
        config.subscriber_jwks_url.as_deref(),
        config.subscriber_jwt_key.as_deref(),
        &config.subscriber_jwt_alg,
    )
    .map_err(|error| key_error("subscriber", error, SettingsError::SubscriberKey))
}

/// A key error of `role`, naming the configuration keys to fix when that helps.
fn key_error(
    role: &'static str,
    error: KeyError,
    otherwise: fn(KeyError) -> SettingsError,
) -> SettingsError {
    match error {
        KeyError::PemFileWithHmac { path, alg } => {
            SettingsError::PemPathWithHmac { role, path, alg }
        }
        error => otherwise(error),
    }
}

fn verifier(
    jwks_url: Option<&str>,
    key: Option<&str>,
    alg: &str,
) -> Result<Option<Verifier>, KeyError> {
    fn present(value: Option<&str>) -> Option<&str> {
        value.filter(|v| !v.trim().is_empty())
    }
    if let Some(url) = present(jwks_url) {
        return Verifier::from_jwks_url(url.trim()).map(Some);
    }
    present(key).map(|key| Verifier::new(key, alg)).transpose()
}
