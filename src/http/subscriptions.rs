//! The subscription API (protocol.md A-SUBS-9 … A-SUBS-16, X-9).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

use super::{respond, tokens, AppState};
use crate::auth::{self, TokenError};
use crate::form;
use crate::hub::presence::{render, ActiveSubscription, Collection, SubscriptionDocument};

pub(super) const API_PATH: &str = "/.well-known/mercure/subscriptions";

/// What an API path names.
enum Target {
    All,
    Selector(String),
    One {
        selector: String,
        subscriber: String,
    },
}

/// Answers an API path, or `None` when the path is not one the classic API serves.
pub(super) async fn handle(request: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let target = match parse_target(request.uri().path())? {
        Ok(target) => target,
        Err(()) => return Some(respond::bad_request("Bad Request\n")),
    };
    if request.method() != Method::GET {
        return Some(respond::method_not_allowed());
    }
    if let Err(reason) = authorize(request, state) {
        return Some(respond::unauthorized(&reason));
    }
    Some(answer(request, state, &target).await)
}

/// `None` for paths the classic API does not serve; `Err` for undecodable segments.
fn parse_target(path: &str) -> Option<Result<Target, ()>> {
    if path == API_PATH {
        return Some(Ok(Target::All));
    }
    let rest = path.strip_prefix(API_PATH)?.strip_prefix('/')?;
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    let decode = |s: &str| form::decode_component(s.as_bytes()).map_err(|_| ());
    Some(match segments.as_slice() {
        [selector] => decode(selector).map(Target::Selector),
        [selector, subscriber] => {
            let selector = match decode(selector) {
                Ok(selector) => selector,
                Err(()) => return Some(Err(())),
            };
            // The 1.0 collections `/{exact|urlpattern}/{match}` are not served yet.
            if selector == "exact" || selector == "urlpattern" {
                return None;
            }
            decode(subscriber).map(|subscriber| Target::One {
                selector,
                subscriber,
            })
        }
        _ => return None,
    })
}

/// A-SUBS-10: a valid token whose `mercure.subscribe` matches the request target.
fn authorize(request: &HttpRequest, state: &AppState) -> Result<(), TokenError> {
    let auth = &state.settings.auth;
    let Some(verifier) = auth.subscriber.as_ref() else {
        return Ok(());
    };
    let query =
        form::parse(request.query_string().as_bytes()).map_err(|_| TokenError::Malformed)?;
    let cookie = tokens::cookie_value(request, &auth.cookie_name);
    let sources = tokens::sources(request, &query, cookie.as_deref());
    let claims =
        auth::subscriber_claims(Some(verifier), false, &sources)?.ok_or(TokenError::Missing)?;
    let target = request_target(request);
    let hub = &state.hub;
    let grants = claims.subscribe_grants(hub.matcher());
    if grants
        .iter()
        .any(|grant| hub.matcher().matches(grant, &target))
    {
        Ok(())
    } else {
        Err(TokenError::InsufficientScope(
            "mercure.subscribe does not cover the request target",
        ))
    }
}

/// The raw path plus `?query` when there is one.
fn request_target(request: &HttpRequest) -> String {
    let uri = request.uri();
    match uri.query() {
        Some(query) => format!("{}?{query}", uri.path()),
        None => uri.path().to_owned(),
    }
}

async fn answer(request: &HttpRequest, state: &AppState, target: &Target) -> HttpResponse {
    let last_event_id = state.hub.last_event_id_async().await;
    let etag = etag(&last_event_id);
    let mut response = if not_modified(request, &etag, &last_event_id) {
        HttpResponse::NotModified().finish()
    } else {
        let active = state.hub.active_subscriptions_async().await;
        match body(&active, target, &request_target(request), &last_event_id) {
            Some(body) => HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "application/ld+json"))
                .body(body),
            None => return respond::not_found(),
        }
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&link(&last_event_id)) {
        headers.insert(header::LINK, value);
    }
    response
}

fn body(
    active: &[ActiveSubscription],
    target: &Target,
    id: &str,
    last_event_id: &str,
) -> Option<String> {
    let wanted = |subscription: &&ActiveSubscription| match target {
        Target::All => true,
        Target::Selector(selector) => subscription.topic == *selector,
        Target::One {
            selector,
            subscriber,
        } => subscription.topic == *selector && subscription.subscriber == *subscriber,
    };
    let mut documents = active
        .iter()
        .filter(wanted)
        .map(|subscription| SubscriptionDocument::new(subscription, true));
    match target {
        Target::One { .. } => {
            let mut document = documents.next()?;
            document.last_event_id = Some(last_event_id);
            Some(render(&document))
        }
        _ => Some(render(&Collection::new(
            id,
            last_event_id,
            documents.collect(),
        ))),
    }
}

/// An RFC-valid ETag derived from the last event id (A-SUBS-11).
fn etag(last_event_id: &str) -> String {
    let mut tag = String::with_capacity(last_event_id.len() + 2);
    tag.push('"');
    for byte in last_event_id.bytes() {
        if byte < 0x21 || byte == b'"' || byte == b'%' || byte == 0x7F {
            tag.push_str(&format!("%{byte:02X}"));
        } else {
            tag.push(byte as char);
        }
    }
    tag.push('"');
    tag
}

fn not_modified(request: &HttpRequest, etag: &str, last_event_id: &str) -> bool {
    request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|value| value == etag || value == last_event_id)
}

/// The 1.0 cursor header, sent on classic responses too (B-SAPI-6).
fn link(last_event_id: &str) -> String {
    let escaped = last_event_id.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "</.well-known/mercure>; rel=\"mercure\"; last-event-id=\"{escaped}\"; type=\"mercure\"; content-type=\"application/json\""
    )
}
