//! `GET`/`HEAD /.well-known/oauth-protected-resource/.well-known/mercure`: RFC 9728 protected
//! resource metadata (protocol.md B-PRM-1, B-PRM-2, B-AUTH-5).

use actix_web::http::{header, Method};
use actix_web::{HttpRequest, HttpResponse};

use super::respond::{self, Refusal};
use super::target::{serves_metadata, RequestTarget};
use super::AppState;
use crate::auth::metadata::{protected_resource_metadata, ResourceMetadata};
use crate::auth::{CLASSIC_COOKIE_NAME, V1_COOKIE_FALLBACK};

pub(super) fn handle(request: &HttpRequest, state: &AppState) -> HttpResponse {
    let settings = &state.settings;
    if !serves_metadata(settings) {
        return respond::not_found();
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return respond::method_not_allowed_but("GET, HEAD");
    }
    let target = match RequestTarget::of(request, settings) {
        Ok(target) => target,
        Err(error) => return Refusal::from(error).response(),
    };
    let document = protected_resource_metadata(&ResourceMetadata {
        resource: &target.resource,
        authorization_servers: settings.auth.issuers.authorization_servers().collect(),
        cookie_name: v1_cookie_name(&settings.auth.cookie_name),
        subscriptions: settings.features.subscriptions,
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(document.to_string())
}

/// B-AUTH-5: the 1.0 cookie is `cookie_name` when one is configured, else the 1.0 default
/// (the classic default name is not a 1.0 name, X-6).
pub(super) fn v1_cookie_name(cookie_name: &str) -> &str {
    if cookie_name == CLASSIC_COOKIE_NAME {
        V1_COOKIE_FALLBACK
    } else {
        cookie_name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // B-AUTH-5, X-6: the classic default name is not advertised; a configured name is.
    #[test]
    fn advertised_cookie_name() {
        assert_eq!(
            v1_cookie_name("mercureAuthorization"),
            "__Secure-mercure_access_token"
        );
        assert_eq!(v1_cookie_name("qsAuth"), "qsAuth");
    }
}
