//! A token's dialect (protocol.md X-3) and the claim rules of 1.0 access tokens (B-TOK-2,
//! B-TOK-5 … B-TOK-7). Signatures and issuers are `auth::issuer`'s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use thiserror::Error;

use super::claims::numeric_date;
use super::grants::{DetailError, Dialect, Grants};
use super::TokenError;

/// Why a 1.0 token was refused (all of them answer 401 `invalid_token`, B-ERR-3).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AccessTokenError {
    /// Not a JWS compact serialization (B-TOK-1).
    #[error("not three base64url segments")]
    NotAJwt,
    /// The payload decodes, but not to a JSON object.
    #[error("the payload is not a JSON object")]
    PayloadNotAnObject,
    /// The header `typ` is absent or not `at+jwt` (B-TOK-2).
    #[error("header typ {} is not at+jwt", shown_type(.0))]
    WrongType(Option<String>),
    /// No string `iss`, so no issuer's keys to try (B-TOK-4).
    #[error("no iss claim")]
    NoIssuer,
    /// An `iss` no configured issuer has: keys come only from configuration (B-TOK-4).
    #[error("iss {0:?} is not a configured issuer")]
    UnknownIssuer(String),
    /// The issuer has no key for the request's role (B-AUTH-8).
    #[error("issuer {issuer:?} has no {role} key")]
    NoKeyForRole {
        /// The token's `iss`.
        issuer: String,
        /// The role the request needs (`publisher` or `subscriber`).
        role: &'static str,
    },
    /// The header `alg` is outside the key's allow-list (B-TOK-3).
    #[error("algorithm {0} is not in the issuer's allow-list")]
    AlgorithmNotAllowed(String),
    /// `exp` is required in 1.0 (B-TOK-5).
    #[error("no exp claim")]
    NoExpiry,
    /// `aud` is not a string or an array of strings (B-TOK-6).
    #[error("aud is absent or not a string or array of strings")]
    BadAudience,
    /// `aud` does not name this hub (B-TOK-6).
    #[error("aud does not contain the resource identifier")]
    WrongAudience,
    /// `authorization_details` is malformed: the whole token is refused (B-AD-4).
    #[error("invalid authorization_details: {0}")]
    Details(#[from] DetailError),
}

/// A refused `typ` for messages: quoted, or `absent`.
fn shown_type(typ: &Option<String>) -> String {
    typ.as_ref()
        .map_or_else(|| "absent".to_owned(), |typ| format!("{typ:?}"))
}

/// What a token's payload says before any verification, only to choose its path (X-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    /// Which path verifies the token (X-3).
    pub dialect: Dialect,
    /// `iss` when it is a string: it selects the 1.0 issuer (B-TOK-4).
    pub issuer: Option<String>,
}

/// X-3: a top-level `authorization_details` member (even null) makes a 1.0 token; anything
/// else is classic. Not three base64url segments or a payload that is not a JSON object →
/// invalid.
///
/// Every request with a token peeks at it before the verified-token caches are consulted, and
/// a client sends the same token again and again: each thread remembers its last answer.
pub fn peek(token: &str) -> Result<Unverified, TokenError> {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(Box<str>, Unverified)>> =
            const { std::cell::RefCell::new(None) };
    }
    let hit = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(seen, _)| **seen == *token)
            .map(|(_, peeked)| peeked.clone())
    });
    if let Some(peeked) = hit {
        return Ok(peeked);
    }
    let peeked = peek_uncached(token)?;
    LAST.set(Some((token.into(), peeked.clone())));
    Ok(peeked)
}

fn peek_uncached(token: &str) -> Result<Unverified, TokenError> {
    let payload = unverified_payload(token)?;
    let dialect = if payload.contains_key("authorization_details") {
        Dialect::V1
    } else {
        Dialect::Classic
    };
    let issuer = payload
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Unverified { dialect, issuer })
}

fn unverified_payload(token: &str) -> Result<Map<String, Value>, TokenError> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(AccessTokenError::NotAJwt.into());
    };
    // The header and payload are JSON objects, never empty; an empty signature (`alg: none`)
    // is left for verification to refuse.
    if header.is_empty() || payload.is_empty() || !is_base64url(header) || !is_base64url(signature)
    {
        return Err(AccessTokenError::NotAJwt.into());
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| AccessTokenError::NotAJwt)?;
    serde_json::from_slice(&bytes).map_err(|_| AccessTokenError::PayloadNotAnObject.into())
}

fn is_base64url(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// B-TOK-2: `at+jwt` or `application/at+jwt`, case-insensitive after removing `application/`.
pub fn check_type(typ: Option<&str>) -> Result<(), AccessTokenError> {
    let accepted = typ.is_some_and(|typ| {
        let bare = typ
            .get(..12)
            .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
            .and_then(|_| typ.get(12..))
            .unwrap_or(typ);
        bare.eq_ignore_ascii_case("at+jwt")
    });
    if accepted {
        Ok(())
    } else {
        Err(AccessTokenError::WrongType(
            typ.map(|t| t.chars().take(64).collect()),
        ))
    }
}

/// A verified 1.0 access token (B.6): what the hub needs of it, nothing more (B-TOK-7).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessToken {
    /// The verified `iss`, whose keys checked the signature (B-TOK-4).
    pub issuer: String,
    /// `sub`, for logs only (B-TOK-7).
    pub subject: Option<String>,
    /// `aud`, checked per request against the resource identifier (B-TOK-6).
    pub audience: Vec<String>,
    /// `exp` in seconds since the epoch (required, B-TOK-5).
    pub expires_at: f64,
    /// What `authorization_details` grants (B-AD-*).
    pub grants: Grants,
}

impl AccessToken {
    /// Reads the claims of a payload whose signature, `typ` and issuer are already checked:
    /// `exp` required and enforced, `nbf` enforced (B-TOK-5), `aud` well-formed (B-TOK-6, whose
    /// value is checked per request by [`Self::check`]), grants (B-AD-*). `sub`, `client_id`,
    /// `iat` and `jti` are not required (B-TOK-7).
    pub fn from_payload(issuer: &str, payload: &Value, now: f64) -> Result<Self, TokenError> {
        let object = payload
            .as_object()
            .ok_or(AccessTokenError::PayloadNotAnObject)?;
        let expires_at = numeric_date(object, "exp")?.ok_or(AccessTokenError::NoExpiry)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        if numeric_date(object, "nbf")?.is_some_and(|nbf| nbf > now) {
            return Err(TokenError::NotYetValid);
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            subject: object.get("sub").and_then(Value::as_str).map(str::to_owned),
            audience: audience(object.get("aud"))?,
            expires_at,
            grants: Grants::from_authorization_details(object.get("authorization_details"))
                .map_err(AccessTokenError::from)?,
        })
    }

    /// What can change between two uses of a verified token: time (`exp`, B-TOK-5) and the
    /// resource identifier of the request (B-TOK-6).
    pub fn check(&self, resource: &str, now: f64) -> Result<(), TokenError> {
        if self.expires_at <= now {
            return Err(TokenError::Expired);
        }
        if !self.audience.iter().any(|aud| aud == resource) {
            return Err(AccessTokenError::WrongAudience.into());
        }
        Ok(())
    }
}

fn audience(aud: Option<&Value>) -> Result<Vec<String>, AccessTokenError> {
    match aud {
        Some(Value::String(one)) => Ok(vec![one.clone()]),
        Some(Value::Array(many)) => many
            .iter()
            .map(|aud| aud.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(AccessTokenError::BadAudience),
        _ => Err(AccessTokenError::BadAudience),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::now_seconds;
    use serde_json::json;

    fn unsigned(header: &Value, payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    // X-3: the dialect comes from a top-level authorization_details member.
    #[test]
    fn dialect_from_the_payload() {
        let header = json!({"alg": "HS256"});
        let cases = [
            (r#"{"authorization_details": []}"#, Dialect::V1),
            (r#"{"authorization_details": null}"#, Dialect::V1),
            (
                r#"{"authorization_details": [], "mercure": {"publish": ["*"]}}"#,
                Dialect::V1,
            ),
            (r#"{"mercure": {"publish": ["*"]}}"#, Dialect::Classic),
            (r#"{"x": {"authorization_details": []}}"#, Dialect::Classic),
            ("{}", Dialect::Classic),
        ];
        for (payload, dialect) in cases {
            let peeked = peek(&unsigned(&header, payload)).expect(payload);
            assert_eq!(peeked.dialect, dialect, "{payload}");
        }
        let with_iss = peek(&unsigned(&header, r#"{"iss": "https://localhost"}"#)).expect("ok");
        assert_eq!(with_iss.issuer.as_deref(), Some("https://localhost"));
        let odd_iss = peek(&unsigned(&header, r#"{"iss": 5}"#)).expect("ok");
        assert_eq!(odd_iss.issuer, None);
    }

    // X-3: not three base64url segments, or a payload that is not a JSON object → invalid.
    #[test]
    fn malformed_tokens_are_invalid() {
        let header = json!({"alg": "HS256"});
        let not_jwt = || Err(TokenError::from(AccessTokenError::NotAJwt));
        let not_object = || Err(TokenError::from(AccessTokenError::PayloadNotAnObject));
        let good = unsigned(&header, "{}");
        for token in [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            &format!("{good}.x"),
            &good.replacen('.', "+.", 1),
            &format!("{good}="),
            "eyJ9.e30=.x",
            "\u{0}.\u{0}.\u{0}",
            "é.é.é",
        ] {
            assert_eq!(peek(token), not_jwt(), "{token:?}");
        }
        assert_eq!(peek(&unsigned(&header, "")), not_jwt());
        for payload in ["[1]", "\"x\"", "1", "null", "{", " ", "\u{ff}"] {
            assert_eq!(peek(&unsigned(&header, payload)), not_object(), "{payload}");
        }
    }

    // B-TOK-2: typ at+jwt, application/ prefix removed, case-insensitive; anything else refused.
    #[test]
    fn type_must_be_at_jwt() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert_eq!(check_type(Some(typ)), Ok(()), "{typ}");
        }
        for typ in [
            "JWT",
            "jwt",
            "at+jwt ",
            "application/jwt",
            "application/application/at+jwt",
            "applicatio/at+jwt",
            "",
            "ééééééééééééé",
            "applicationé",
        ] {
            assert!(check_type(Some(typ)).is_err(), "{typ}");
        }
        assert_eq!(check_type(None), Err(AccessTokenError::WrongType(None)));
    }

    // B-TOK-5: exp required and enforced, nbf enforced; B-TOK-6: aud string or array holds the
    // resource; B-TOK-7: sub, client_id, iat, jti not required.
    #[test]
    fn claims_of_an_access_token() {
        let now = now_seconds();
        let resource = "https://localhost/.well-known/mercure";
        let read = |payload: Value| AccessToken::from_payload("https://iss", &payload, now);
        let token = read(json!({"exp": now + 60.0, "aud": resource, "authorization_details": []}))
            .expect("minimal token");
        assert_eq!(token.check(resource, now), Ok(()));
        assert_eq!(token.subject, None);
        assert!(token.check(resource, now + 61.0).is_err());
        assert_eq!(
            token.check("https://other/.well-known/mercure", now),
            Err(AccessTokenError::WrongAudience.into())
        );
        let many = read(json!({"exp": now + 60.0, "aud": ["x", resource], "sub": "me"}))
            .expect("array aud");
        assert_eq!(many.check(resource, now), Ok(()));
        assert_eq!(many.subject.as_deref(), Some("me"));

        assert_eq!(
            read(json!({"aud": resource})),
            Err(AccessTokenError::NoExpiry.into())
        );
        assert_eq!(
            read(json!({"aud": resource, "exp": null})),
            Err(AccessTokenError::NoExpiry.into())
        );
        assert!(read(json!({"aud": resource, "exp": "soon"})).is_err());
        assert_eq!(
            read(json!({"aud": resource, "exp": now - 1.0})),
            Err(TokenError::Expired)
        );
        assert_eq!(
            read(json!({"aud": resource, "exp": now + 60.0, "nbf": now + 30.0})),
            Err(TokenError::NotYetValid)
        );
        for aud in [
            json!(null),
            json!(5),
            json!(["x", 5]),
            json!({"a": resource}),
        ] {
            assert_eq!(
                read(json!({"aud": aud, "exp": now + 60.0})),
                Err(AccessTokenError::BadAudience.into()),
                "{aud}"
            );
        }
        assert_eq!(
            read(json!({"exp": now + 60.0})),
            Err(AccessTokenError::BadAudience.into())
        );
        let empty = read(json!({"aud": [], "exp": now + 60.0})).expect("well-formed");
        assert!(empty.check(resource, now).is_err());
        assert_eq!(
            read(json!({"aud": resource, "exp": now + 60.0, "authorization_details": {}})),
            Err(AccessTokenError::Details(DetailError::NotAnArray).into())
        );
    }
}
