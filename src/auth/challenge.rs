//! RFC 6750 `WWW-Authenticate` challenges (protocol.md B-ERR-1 … B-ERR-5, X-11).

use std::fmt::Write;

/// The `error` auth-param of a challenge, with the status it goes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeError {
    /// 400: the token's presentation is malformed (B-ERR-5).
    InvalidRequest,
    /// 401: any token failure, whatever the cause (B-ERR-3).
    InvalidToken,
    /// 403: a valid token without the needed grant (B-ERR-4).
    InsufficientScope,
}

impl ChallengeError {
    /// The `error="…"` auth-param value (RFC 6750 §3.1, B-ERR-1).
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }

    /// The response status this error code is sent with (B-ERR-3 … B-ERR-5).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
        }
    }
}

/// A `Bearer` challenge: bare (no token presented, B-ERR-2) or with an error, and with the
/// protected resource metadata URL when the hub serves that document (B-ERR-1, B-PRM-1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    error: Option<ChallengeError>,
    resource_metadata: Option<String>,
}

impl Challenge {
    /// `Bearer` with no error: 401, no token where one is required (B-ERR-2).
    pub fn bare() -> Self {
        Self::default()
    }

    /// `Bearer error="…"`: a refused token (401), a missing grant (403) or a malformed
    /// presentation (400).
    pub fn error(error: ChallengeError) -> Self {
        Self {
            error: Some(error),
            resource_metadata: None,
        }
    }

    /// Adds `resource_metadata="<url>"` (nothing when `url` is `None`).
    pub fn resource_metadata(mut self, url: Option<&str>) -> Self {
        self.resource_metadata = url.map(str::to_owned);
        self
    }

    /// The HTTP status this challenge goes with.
    pub fn status(&self) -> u16 {
        self.error.map_or(401, ChallengeError::status)
    }

    /// The header value. Error codes are fixed tokens; the URL is made a safe quoted-string
    /// (see `quoted_url`) so no configured or derived URL can break the header.
    pub fn header_value(&self) -> String {
        let mut value = String::from("Bearer");
        let mut separator = " ";
        if let Some(error) = self.error {
            let _ = write!(value, "{separator}error=\"{}\"", error.code());
            separator = ", ";
        }
        if let Some(url) = &self.resource_metadata {
            let _ = write!(
                value,
                "{separator}resource_metadata=\"{}\"",
                quoted_url(url)
            );
        }
        value
    }
}

/// `url` for the inside of a quoted-string: every byte outside visible ASCII, `"` and `\` is
/// percent-encoded. Clients then need no unescaping, the URL stays a URL, and no CR, LF or other
/// control byte (say from a hostile `Host` header) reaches the header.
fn quoted_url(url: &str) -> String {
    let mut quoted = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_graphic() && byte != b'"' && byte != b'\\' {
            quoted.push(char::from(byte));
        } else {
            let _ = write!(quoted, "%{byte:02X}");
        }
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRM: &str =
        "https://hub.example.com/.well-known/oauth-protected-resource/.well-known/mercure";

    // B-ERR-2: bare challenge, with the metadata URL when served (B-ERR-1).
    #[test]
    fn bare_challenge() {
        assert_eq!(Challenge::bare().header_value(), "Bearer");
        assert_eq!(Challenge::bare().status(), 401);
        assert_eq!(
            Challenge::bare()
                .resource_metadata(Some(PRM))
                .header_value(),
            format!("Bearer resource_metadata=\"{PRM}\"")
        );
    }

    // B-ERR-3, B-ERR-4, B-ERR-5: error codes and their statuses.
    #[test]
    fn error_challenges() {
        let cases = [
            (ChallengeError::InvalidToken, 401, "invalid_token"),
            (ChallengeError::InsufficientScope, 403, "insufficient_scope"),
            (ChallengeError::InvalidRequest, 400, "invalid_request"),
        ];
        for (error, status, code) in cases {
            let challenge = Challenge::error(error);
            assert_eq!(challenge.status(), status);
            assert_eq!(challenge.header_value(), format!("Bearer error=\"{code}\""));
            assert_eq!(
                challenge.resource_metadata(Some(PRM)).header_value(),
                format!("Bearer error=\"{code}\", resource_metadata=\"{PRM}\"")
            );
        }
    }

    // classic challenges stay byte-identical without metadata; B-AUTH-4, B-AUTH-6:
    // presentation errors are 400 invalid_request under the 1.0 rules; B-ERR-2 … B-ERR-4.
    #[test]
    fn token_errors_map_to_challenges() {
        use crate::auth::{AccessTokenError, Dialect, TokenError};
        let all = [
            TokenError::Missing,
            TokenError::Malformed,
            TokenError::OriginNotAllowed,
            TokenError::Invalid("x".into()),
            TokenError::Expired,
            TokenError::NotYetValid,
            TokenError::BadClaim("x"),
            TokenError::InsufficientScope("x"),
            TokenError::AccessToken(AccessTokenError::NoIssuer),
        ];
        for error in &all {
            let classic = error.to_challenge(Dialect::Classic);
            assert_eq!(classic.header_value(), error.challenge(), "{error:?}");
            assert_eq!(
                classic.resource_metadata(None).header_value(),
                error.challenge()
            );
        }
        let v1 = |error: &TokenError| {
            let challenge = error.to_challenge(Dialect::V1).resource_metadata(Some(PRM));
            (challenge.status(), challenge.header_value())
        };
        let with = |code: &str| format!("Bearer error=\"{code}\", resource_metadata=\"{PRM}\"");
        assert_eq!(
            v1(&TokenError::Missing),
            (401, format!("Bearer resource_metadata=\"{PRM}\""))
        );
        for presentation in [TokenError::Malformed, TokenError::OriginNotAllowed] {
            assert_eq!(v1(&presentation), (400, with("invalid_request")));
        }
        assert_eq!(v1(&TokenError::Expired), (401, with("invalid_token")));
        assert_eq!(
            v1(&TokenError::AccessToken(AccessTokenError::WrongAudience)),
            (401, with("invalid_token"))
        );
        assert_eq!(
            v1(&TokenError::InsufficientScope("x")),
            (403, with("insufficient_scope"))
        );
    }

    // B-ERR-1: hostile URLs cannot break out of the quoted-string or the header.
    #[test]
    fn urls_are_quoted_safely() {
        let hostile = "https://h\"x\\y/\r\nSet-Cookie: a=b\u{0}é";
        let value = Challenge::bare()
            .resource_metadata(Some(hostile))
            .header_value();
        assert_eq!(
            value,
            "Bearer resource_metadata=\"https://h%22x%5Cy/%0D%0ASet-Cookie:%20a=b%00%C3%A9\""
        );
        assert!(value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()));
        assert_eq!(value.matches('"').count(), 2);
    }
}
