//! How requests are authorized: the token verifiers, anonymous access, the cookie and the origins
//! allowed to publish with it (protocol.md A-AUTH-16, R-TOKEN).

use crate::auth::{KeyError, OriginList, Verifier};
use crate::config::Config;

use super::SettingsError;

/// How publishers and subscribers prove their rights.
#[derive(Debug)]
pub struct AuthSettings {
    /// Verifies publisher tokens.
    pub publisher: Verifier,
    /// `None` on an anonymous-only hub: subscriber tokens are then not read at all.
    pub subscriber: Option<Verifier>,
    /// Subscribers without a token get public updates (A-AUTH-11).
    pub anonymous: bool,
    /// The cookie tokens are read from (A-AUTH-5).
    pub cookie_name: String,
    /// Origins allowed to publish with the cookie (A-AUTH-6).
    pub publish_origins: OriginList,
}

impl TryFrom<&Config> for AuthSettings {
    type Error = SettingsError;

    fn try_from(config: &Config) -> Result<Self, SettingsError> {
        let publisher = publisher_verifier(config)?;
        let subscriber = match subscriber_verifier(config)? {
            Some(verifier) => Some(verifier),
            None if config.anonymous => None,
            None => return Err(SettingsError::MissingSubscriberKey),
        };
        if !is_cookie_name(&config.cookie_name) {
            return Err(SettingsError::CookieName);
        }
        Ok(Self {
            publisher,
            subscriber,
            anonymous: config.anonymous,
            cookie_name: config.cookie_name.clone(),
            publish_origins: OriginList::parse(&config.publish_origins)
                .map_err(SettingsError::PublishOrigins)?,
        })
    }
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
