//! Where a request's token comes from (protocol.md X-6, A-AUTH-2 … A-AUTH-5).

use super::TokenError;

/// Tokens shorter than this are malformed (A-AUTH-3, A-AUTH-4).
pub const MIN_TOKEN_LENGTH: usize = 41;

/// The classic cookie name, and the 1.0 one looked at when it is absent.
pub const CLASSIC_COOKIE: &str = "mercureAuthorization";
/// The Mercure 1.0 cookie name, read only when the classic cookie is absent.
pub const V1_COOKIE: &str = "__Secure-mercure_access_token";

/// Which carrier a token came from: a cookie's token needs an allowed origin to publish (A-AUTH-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `Authorization: Bearer …`, looked at first (A-AUTH-3).
    Header,
    /// The `authorization` query parameter, looked at second (A-AUTH-4).
    Query,
    /// The token cookie, looked at last (A-AUTH-5).
    Cookie,
}

/// The raw token carriers of one request, gathered by the HTTP layer.
#[derive(Debug, Default)]
pub struct TokenSources<'a> {
    /// Every `Authorization` header value.
    pub headers: Vec<&'a [u8]>,
    /// Every value of the `authorization` query parameter.
    pub query: Vec<&'a str>,
    /// The value of the token cookie, already chosen by name.
    pub cookie: Option<&'a str>,
}

/// The token of the first source present; a malformed first source fails the request.
pub fn extract<'a>(sources: &TokenSources<'a>) -> Result<Option<(Source, &'a str)>, TokenError> {
    if !sources.headers.is_empty() {
        return header_token(&sources.headers).map(|t| Some((Source::Header, t)));
    }
    if !sources.query.is_empty() {
        return match sources.query.as_slice() {
            [token] if token.len() >= MIN_TOKEN_LENGTH => Ok(Some((Source::Query, token))),
            _ => Err(TokenError::Malformed),
        };
    }
    Ok(sources.cookie.map(|token| (Source::Cookie, token)))
}

fn header_token<'a>(headers: &[&'a [u8]]) -> Result<&'a str, TokenError> {
    let [value] = headers else {
        return Err(TokenError::Malformed);
    };
    let value = std::str::from_utf8(value).map_err(|_| TokenError::Malformed)?;
    let scheme = value.get(..7).ok_or(TokenError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("bearer ") {
        return Err(TokenError::Malformed);
    }
    let token = &value[7..];
    if token.len() < MIN_TOKEN_LENGTH {
        return Err(TokenError::Malformed);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7fX0.abcdefghijklmnopqrstuvwxyz";

    #[test]
    fn header_wins_then_query_then_cookie() {
        let header = format!("Bearer {TOKEN}");
        let all = TokenSources {
            headers: vec![header.as_bytes()],
            query: vec![TOKEN],
            cookie: Some("c"),
        };
        assert_eq!(extract(&all), Ok(Some((Source::Header, TOKEN))));
        let query_and_cookie = TokenSources {
            query: vec![TOKEN],
            cookie: Some("c"),
            ..Default::default()
        };
        assert_eq!(extract(&query_and_cookie), Ok(Some((Source::Query, TOKEN))));
        let cookie = TokenSources {
            cookie: Some("c"),
            ..Default::default()
        };
        assert_eq!(extract(&cookie), Ok(Some((Source::Cookie, "c"))));
        assert_eq!(extract(&TokenSources::default()), Ok(None));
    }

    #[test]
    fn malformed_first_source_fails_even_with_a_valid_later_one() {
        let short = "Bearer abc";
        let sources = TokenSources {
            headers: vec![short.as_bytes()],
            cookie: Some(TOKEN),
            ..Default::default()
        };
        assert_eq!(extract(&sources), Err(TokenError::Malformed));
        let basic = format!("Basic {TOKEN}");
        assert_eq!(
            extract(&TokenSources {
                headers: vec![basic.as_bytes()],
                ..Default::default()
            }),
            Err(TokenError::Malformed)
        );
        let header = format!("Bearer {TOKEN}");
        let two = TokenSources {
            headers: vec![header.as_bytes(), header.as_bytes()],
            ..Default::default()
        };
        assert_eq!(extract(&two), Err(TokenError::Malformed));
        let twice = TokenSources {
            query: vec![TOKEN, TOKEN],
            ..Default::default()
        };
        assert_eq!(extract(&twice), Err(TokenError::Malformed));
    }

    #[test]
    fn scheme_is_case_insensitive() {
        let header = format!("bEaReR {TOKEN}");
        let sources = TokenSources {
            headers: vec![header.as_bytes()],
            ..Default::default()
        };
        assert_eq!(extract(&sources), Ok(Some((Source::Header, TOKEN))));
    }
}
