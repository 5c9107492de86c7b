//! The `demo` echo endpoints (protocol.md A-DISC-3, C-UI-3): a page that advertises the hub with
//! discovery `Link` headers, returns a chosen body, and sets or clears the auth cookie. For
//! development only: anyone can make it set any cookie.

use actix_web::cookie::{time::OffsetDateTime, Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

use super::{respond, HUB_PATH};
use crate::auth::CLASSIC_COOKIE_NAME;
use crate::form;
use crate::settings::Settings;

/// The echo endpoints: inside the reserved namespace (subscribable, not publishable) and outside
/// it, so that demo topics can be published too.
pub(super) const DEMO_PREFIXES: [&str; 2] = ["/.well-known/mercure/ui/demo/", "/playground/"];

pub(super) fn is_demo_path(path: &str) -> bool {
    DEMO_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}

pub(super) fn handle(request: &HttpRequest, settings: &Settings) -> HttpResponse {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return respond::method_not_allowed();
    }
    let Ok(query) = form::parse(request.query_string().as_bytes()) else {
        return respond::bad_request("Bad Request\n");
    };
    let cookie_name = &settings.auth.cookie_name;
    let mut hub_link = format!("<{HUB_PATH}>; rel=\"mercure\"");
    if cookie_name != CLASSIC_COOKIE_NAME {
        hub_link.push_str(&format!("; cookie-name=\"{cookie_name}\""));
    }
    let mut response = HttpResponse::Ok();
    response
        .append_header((header::LINK, hub_link))
        .append_header((header::LINK, format!("<{}>; rel=\"self\"", request.uri())))
        .insert_header((header::CONTENT_TYPE, content_type(request.uri().path())))
        .cookie(auth_cookie(
            request,
            cookie_name,
            form::first(&query, "jwt"),
        ));
    let body = form::first(&query, "body").unwrap_or_default().to_owned();
    response.body(body)
}

/// The cookie holding `jwt`, or the same cookie expired when there is none.
fn auth_cookie<'a>(request: &HttpRequest, name: &'a str, jwt: Option<&'a str>) -> Cookie<'a> {
    let secure = request.connection_info().scheme() == "https";
    let mut cookie = Cookie::build(name, jwt.unwrap_or_default())
        .path(HUB_PATH)
        .same_site(SameSite::Strict)
        .http_only(secure)
        .secure(secure)
        .finish();
    if jwt.is_none_or(str::is_empty) {
        cookie.set_expires(OffsetDateTime::UNIX_EPOCH);
    }
    cookie
}

/// The media type of the path's extension (A-DISC-3).
fn content_type(path: &str) -> HeaderValue {
    let extension = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, e)| e);
    HeaderValue::from_static(match extension {
        Some("jsonld") => "application/ld+json",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("xml") => "application/xml",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    })
}

/// `GET /` → the UI (C-UI-3).
pub(super) fn redirect_to_ui() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/.well-known/mercure/ui/"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_by_extension() {
        assert_eq!(
            content_type("/playground/books/1.jsonld"),
            "application/ld+json"
        );
        assert_eq!(
            content_type("/playground/a.b/c"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type("/playground/x.json"), "application/json");
    }

    #[test]
    fn demo_paths() {
        assert!(is_demo_path("/.well-known/mercure/ui/demo/books/1.jsonld"));
        assert!(is_demo_path("/playground/x"));
        assert!(!is_demo_path("/playgroundx"));
    }
}
