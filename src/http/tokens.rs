//! Gathers a request's token carriers for `auth::extract`.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::auth::{TokenSources, V1_COOKIE_FALLBACK};
use crate::form::{self, Pairs};

/// The value of the token cookie: the configured name, and for the default name also the 1.0
/// default as a fallback.
pub(super) fn cookie_value(request: &HttpRequest, cookie_name: &str) -> Option<String> {
    let header = request.headers().get(header::COOKIE)?.to_str().ok()?;
    let find = |name: &str| {
        header.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.trim_matches('"').to_owned())
        })
    };
    find(cookie_name).or_else(|| {
        (cookie_name == crate::auth::CLASSIC_COOKIE_NAME)
            .then(|| find(V1_COOKIE_FALLBACK))
            .flatten()
    })
}

pub(super) fn sources<'a>(
    request: &'a HttpRequest,
    query: &'a Pairs,
    cookie: Option<&'a str>,
) -> TokenSources<'a> {
    TokenSources {
        headers: request
            .headers()
            .get_all(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .collect(),
        query: form::values(query, "authorization").collect(),
        cookie,
    }
}
