//! The subscription API (protocol.md A-SUBS-9 … A-SUBS-16, B-SAPI-1 … B-SAPI-7): paths routed
//! by shape, authorization and envelope per the token's dialect, each item in its own.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::challenge::RequestResource;
use super::respond::{self, Refusal};
use super::{tokens, AppState};
use crate::auth::{extract, Dialect, GrantContext, Refused, Role, TokenError, Verified};
use crate::form;
use crate::hub::presence::{render, ActiveSubscription, Collection, Document, MatchCollection};
use crate::topic::request::MatchType;

pub(super) const API_PATH: &str = "/.well-known/mercure/subscriptions";

/// What an API path names.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// The root, shared: the token's dialect picks the envelope.
    All,
    /// Classic: one selector's subscriptions (A-SUBS-13).
    Selector(String),
    /// Classic: one subscription (A-SUBS-14).
    One {
        selector: String,
        subscriber: String,
    },
    /// 1.0: one matcher's subscriptions, or one of them (B-SAPI-2, B-SAPI-4).
    Match {
        match_type: MatchType,
        value: String,
        subscriber: Option<String>,
    },
}

impl Target {
    /// Paths only the 1.0 API serves: no `authorization` query parameter there (B-AUTH-9).
    fn is_v1(&self) -> bool {
        matches!(self, Self::Match { .. })
    }

    fn wants(&self, subscription: &ActiveSubscription) -> bool {
        match self {
            Self::All => true,
            Self::Selector(selector) => {
                subscription.match_type.is_none() && subscription.topic == *selector
            }
            Self::One {
                selector,
                subscriber,
            } => {
                subscription.match_type.is_none()
                    && subscription.topic == *selector
                    && subscription.subscriber == *subscriber
            }
            Self::Match {
                match_type,
                value,
                subscriber,
            } => {
                subscription.match_type == Some(*match_type)
                    && subscription.topic == *value
                    && subscriber
                        .as_ref()
                        .is_none_or(|s| subscription.subscriber == *s)
            }
        }
    }
}

/// Answers an API path, or `None` when the path is not one the API serves.
pub(super) async fn handle(request: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let target = match parse_target(request.uri().path())? {
        Ok(target) => target,
        Err(()) => return Some(respond::bad_request("Bad Request\n")),
    };
    if request.method() != Method::GET {
        return Some(respond::method_not_allowed());
    }
    let resource = RequestResource::of(request, state);
    let dialect = match authorize(request, state, &target, &resource) {
        Ok(dialect) => dialect,
        Err(refusal) => return Some(refusal.response()),
    };
    Some(answer(request, state, &target, dialect).await)
}

/// `None` for paths the API does not serve; `Err` for undecodable segments or, on a 1.0 path,
/// an unknown matcher type (B-SAPI-2).
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
        [first, second] => match v1_match_type(first) {
            Some(match_type) => decode_segment(second).map(|value| Target::Match {
                match_type,
                value,
                subscriber: None,
            }),
            None => classic_one(decode, first, second),
        },
        [match_type, value, subscriber] => v1_one(match_type, value, subscriber),
        _ => return None,
    })
}

/// a first segment that percent-decodes to `exact` or `urlpattern` names a 1.0 matcher.
fn v1_match_type(segment: &str) -> Option<MatchType> {
    match decode_segment(segment).ok()?.as_str() {
        "exact" => Some(MatchType::Exact),
        "urlpattern" => Some(MatchType::UrlPattern),
        _ => None,
    }
}

fn classic_one(
    decode: impl Fn(&str) -> Result<String, ()>,
    selector: &str,
    subscriber: &str,
) -> Result<Target, ()> {
    Ok(Target::One {
        selector: decode(selector)?,
        subscriber: decode(subscriber)?,
    })
}

fn v1_one(match_type: &str, value: &str, subscriber: &str) -> Result<Target, ()> {
    Ok(Target::Match {
        match_type: v1_match_type(match_type).ok_or(())?,
        value: decode_segment(value)?,
        subscriber: Some(decode_segment(subscriber)?),
    })
}

/// B-SAPI-2: a 1.0 path segment, percent-decoded with `+` kept; a `%` not followed by two hex
/// digits, or bytes that are not UTF-8, are refused.
fn decode_segment(segment: &str) -> Result<String, ()> {
    let input = segment.as_bytes();
    let mut bytes = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&byte) = input.get(i) {
        if byte == b'%' {
            let hex = input.get(i + 1..i + 3).ok_or(())?;
            let text = std::str::from_utf8(hex).map_err(|_| ())?;
            bytes.push(u8::from_str_radix(text, 16).map_err(|_| ())?);
            i += 3;
        } else {
            bytes.push(byte);
            i += 1;
        }
    }
    String::from_utf8(bytes).map_err(|_| ())
}

/// A-SUBS-10 for a classic token, B-SAPI-2 for a 1.0 token; returns the token's dialect (the
/// root's envelope). A hub that reads no subscriber token has no API authorization at all.
fn authorize(
    request: &HttpRequest,
    state: &AppState,
    target: &Target,
    resource: &RequestResource,
) -> Result<Dialect, Refusal> {
    let auth = &state.settings.auth;
    if auth.subscriber.is_none() && !auth.issuers.has_role(Role::Subscriber) {
        return Ok(Dialect::Classic);
    }
    let classic = |error| Refused {
        error,
        dialect: Dialect::Classic,
    };
    let query = if target.is_v1() {
        form::Pairs::new()
    } else {
        form::parse(request.query_string().as_bytes())
            .map_err(|_| resource.refusal(&classic(TokenError::Malformed)))?
    };
    let cookie = tokens::cookie_value(request, &auth.cookie_name);
    let sources = tokens::sources(request, &query, cookie.as_deref());
    let token = extract(&sources)
        .map_err(|error| resource.refusal(&classic(error)))?
        .ok_or_else(|| resource.refusal(&classic(TokenError::Missing)))?
        .1;
    let verified = auth
        .issuers
        .verify(token, Role::Subscriber, &resource.identifier)
        .map_err(|error| resource.refusal(&classic(error)))?;
    match &verified {
        Verified::Classic(claims) => {
            let hub = &state.hub;
            let target = request_target(request);
            let grants = claims.subscribe_grants(hub.matcher());
            if grants
                .iter()
                .any(|grant| hub.matcher().matches(grant, &target))
            {
                return Ok(Dialect::Classic);
            }
            // §0.2: the classic answer is 401, with the X-11 challenge.
            let error =
                TokenError::InsufficientScope("mercure.subscribe does not cover the target");
            Err(Refusal::Unauthorized(error, resource.metadata_url.clone()))
        }
        Verified::V1(_) => {
            let path = request.uri().path();
            let covered = resource.base.as_ref().is_some_and(|base| {
                let context = GrantContext::new(state.hub.matcher(), base);
                verified
                    .grants()
                    .may_subscribe(std::iter::once(path), &context)
            });
            match covered {
                true => Ok(Dialect::V1),
                false => Err(resource.insufficient_scope("no subscribe grant on the API path")),
            }
        }
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

async fn answer(
    request: &HttpRequest,
    state: &AppState,
    target: &Target,
    dialect: Dialect,
) -> HttpResponse {
    let last_event_id = state.hub.last_event_id_async().await;
    let etag = etag(&last_event_id);
    let mut response = if not_modified(request, &etag, &last_event_id) {
        HttpResponse::NotModified().finish()
    } else {
        let active = state.hub.active_subscriptions_async().await;
        let id = request_target(request);
        match body(&active, target, dialect, &id, &last_event_id) {
            Some((content_type, body)) => HttpResponse::build(StatusCode::OK)
                .insert_header((header::CONTENT_TYPE, content_type))
                .body(body),
            None => respond::not_found(),
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

const JSON_LD: &str = "application/ld+json";
const JSON: &str = "application/json";

/// The document and its media type: classic envelopes and documents in JSON-LD (A-SUBS-11),
/// 1.0 ones in JSON (B-SAPI-3); `None` when a single subscription is not found (404).
fn body(
    active: &[ActiveSubscription],
    target: &Target,
    dialect: Dialect,
    id: &str,
    last_event_id: &str,
) -> Option<(&'static str, String)> {
    let mut documents = active
        .iter()
        .filter(|subscription| target.wants(subscription))
        .map(|subscription| Document::new(subscription, true));
    match target {
        Target::One { .. } => match documents.next()? {
            Document::Classic(mut document) => {
                document.last_event_id = Some(last_event_id);
                Some((JSON_LD, render(&document)))
            }
            v1 => Some((JSON, render(&v1))),
        },
        Target::Match {
            subscriber: Some(_),
            ..
        } => Some((JSON, render(&documents.next()?))),
        Target::Match { .. } => {
            Some((JSON, render(&MatchCollection::new(id, documents.collect()))))
        }
        Target::All if dialect == Dialect::V1 => {
            Some((JSON, render(&MatchCollection::new(id, documents.collect()))))
        }
        Target::All | Target::Selector(_) => Some((
            JSON_LD,
            render(&Collection::new(id, last_event_id, documents.collect())),
        )),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Option<Result<Target, ()>> {
        parse_target(&format!("{API_PATH}{path}"))
    }

    fn v1(match_type: MatchType, value: &str, subscriber: Option<&str>) -> Target {
        Target::Match {
            match_type,
            value: value.to_owned(),
            subscriber: subscriber.map(str::to_owned),
        }
    }

    // X-9, B-SAPI-2, A-SUBS-13, A-SUBS-14: paths by shape; `%65xact` is `exact`; `+` is kept
    // in 1.0 segments; unknown 1.0 types and bad escapes → 400 (Err); classic two segments.
    #[test]
    fn paths_are_routed_by_shape() {
        assert_eq!(target(""), Some(Ok(Target::All)));
        assert_eq!(
            target("/a%2Bb+c"),
            Some(Ok(Target::Selector("a+b c".into())))
        );
        assert_eq!(
            target("/%65xact/a+b%20c"),
            Some(Ok(v1(MatchType::Exact, "a+b c", None)))
        );
        assert_eq!(
            target("/urlpattern/p/urn%3Auuid%3A1"),
            Some(Ok(v1(MatchType::UrlPattern, "p", Some("urn:uuid:1"))))
        );
        assert_eq!(
            target("/regex/s"),
            Some(Ok(Target::One {
                selector: "regex".into(),
                subscriber: "s".into()
            }))
        );
        for bad in [
            "/regex/x/s",
            "/exact/%zz/s",
            "/exact/%FF/s",
            "/exact/x/%",
            "/exact/%zz",
        ] {
            assert_eq!(target(bad), Some(Err(())), "{bad}");
        }
        for none in ["/", "//", "/a//b", "/a/b/c/d", "x"] {
            assert!(target(none).is_none(), "{none}");
        }
    }

    // Hostile segments never panic (R-BOUND habits).
    #[test]
    fn hostile_segments() {
        for hostile in ["%", "%%", "%é", "é%", "%\u{0}", "%0", "\u{10ffff}"] {
            let _ = decode_segment(hostile);
            let _ = target(&format!("/exact/{hostile}/{hostile}"));
        }
        assert_eq!(decode_segment("%C3%A9+"), Ok("é+".to_owned()));
    }
}
