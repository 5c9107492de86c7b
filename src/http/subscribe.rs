//! `GET`/`HEAD /.well-known/mercure`: subscriptions (protocol.md A.2, A.4, A-SUB-9).

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use super::limits::Limited;
use super::respond::Refusal;
use super::{direct, tokens, AppState};
use crate::auth::{self, Claims};
use crate::form::{self, Pairs};
use crate::hub::{Cursor, EventStream, Request, StreamOptions};
use crate::metrics::Disconnect;
use crate::topic::has_control_chars;

/// Most `topic` parameters per subscription (A-SUB-3).
const MAX_SELECTORS: usize = 1000;

/// The 1.0 selector parameters; any other name in the `match` namespace is refused (B-SUB-5).
const MATCHER_PARAMETERS: [&str; 3] = ["match", "match_exact", "match_urlpattern"];

pub(super) async fn handle(request: HttpRequest, state: &AppState) -> HttpResponse {
    subscribe(&request, state)
        .await
        .unwrap_or_else(Refusal::response)
}

/// The checks of A-SUB-9 in order: token (401), selectors (400), registration (429, 503).
async fn subscribe(request: &HttpRequest, state: &AppState) -> Result<HttpResponse, Refusal> {
    let query =
        form::parse(request.query_string().as_bytes()).map_err(|_| Refusal::bad_request())?;
    if query.iter().any(|(name, _)| in_reserved_namespace(name)) {
        return Err(Refusal::bad_request());
    }
    let header_cursor = header_cursor(request).map_err(|()| Refusal::bad_request())?;
    let auth = &state.settings.auth;
    let cookie = tokens::cookie_value(request, &auth.cookie_name);
    let sources = tokens::sources(request, &query, cookie.as_deref());
    let claims = auth::subscriber_claims(auth.subscriber.as_ref(), auth.anonymous, &sources)
        .map_err(Refusal::Unauthorized)?;
    let topics: Vec<&str> = form::values(&query, "topic").collect();
    check_selectors(&topics, state.settings.requests.max_selector_length)
        .and_then(|()| check_selectors_size(&query, state.settings.requests.max_selectors_size))
        .map_err(|body| Refusal::BadRequest(body.to_owned()))?;
    let cursor = cursor(header_cursor, &query);
    let hub = &state.hub;
    if request.method() == Method::HEAD {
        let echo = hub
            .cursor_echo_async(&cursor)
            .await
            .map_err(|_| Refusal::Unavailable)?;
        return Ok(stream_head(echo.as_deref()).finish());
    }
    let permit = state
        .limiter
        .acquire(request.peer_addr().map(|a| a.ip()))
        .ok_or(Refusal::TooManyRequests)?;
    let private_access = claims
        .as_ref()
        .map(|c| c.subscribe_grants(hub.matcher()).to_vec())
        .unwrap_or_default();
    let subscription = hub
        .subscribe_async(Request {
            selectors: hub.selectors(topics),
            private_access,
            payload: claims.as_ref().and_then(|c| c.payload.clone()),
            cursor,
        })
        .await
        .map_err(|error| {
            tracing::warn!(error = %crate::log::ErrorChain(&error), "cannot register a subscriber");
            Refusal::Unavailable
        })?;
    let response = stream_head(subscription.cursor_echo.as_deref());
    let options = StreamOptions {
        heartbeat: state.settings.streams.heartbeat,
        lifetime: lifetime(state.settings.streams.write_timeout, claims.as_deref()),
    };
    tracing::debug!("subscriber connected");
    let inner = EventStream::new(subscription, options);
    Ok(direct::respond(
        response,
        Limited {
            inner,
            _permit: permit,
        },
    ))
}

/// Names that start with `match` (any case) but are not a supported matcher parameter.
fn in_reserved_namespace(name: &str) -> bool {
    name.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("match"))
        && !MATCHER_PARAMETERS.contains(&name)
}

/// The body of every refused selector (too long, control characters, too many bytes in all).
const INVALID_TOPIC: &str = "Invalid \"topic\" parameter.\n";

fn check_selectors(topics: &[&str], max_length: usize) -> Result<(), &'static str> {
    if topics.is_empty() {
        return Err("Missing \"topic\" parameter.\n");
    }
    if topics.len() > MAX_SELECTORS {
        return Err("Too many \"topic\" parameters.\n");
    }
    if topics
        .iter()
        .any(|t| has_control_chars(t) || (max_length > 0 && t.len() > max_length))
    {
        return Err(INVALID_TOPIC);
    }
    Ok(())
}

/// R-BOUND: all selectors of one request together (`topic` and the 1.0 `match*` parameters)
/// are at most `max_total` bytes (`0` = no limit); over it the request is refused as a too
/// long selector is.
fn check_selectors_size(query: &Pairs, max_total: u64) -> Result<(), &'static str> {
    if max_total == 0 {
        return Ok(());
    }
    let total = query
        .iter()
        .filter(|(name, _)| name == "topic" || MATCHER_PARAMETERS.contains(&name.as_str()))
        .fold(0u64, |sum, (_, value)| {
            sum.saturating_add(u64::try_from(value.len()).unwrap_or(u64::MAX))
        });
    if total > max_total {
        return Err(INVALID_TOPIC);
    }
    Ok(())
}

/// The `Last-Event-ID` header when present and non-empty; invalid UTF-8 is an error (C-HARD-3).
fn header_cursor(request: &HttpRequest) -> Result<Option<String>, ()> {
    match request.headers().get("last-event-id") {
        None => Ok(None),
        Some(value) => {
            let text = std::str::from_utf8(value.as_bytes()).map_err(|_| ())?;
            Ok((!text.is_empty()).then(|| text.to_owned()))
        }
    }
}

/// header, then `last_event_id`, `lastEventID`, then the legacy `Last-Event-ID` parameter.
fn cursor(header: Option<String>, query: &Pairs) -> Cursor {
    let value = header.or_else(|| {
        ["last_event_id", "lastEventID", "Last-Event-ID"]
            .iter()
            .find_map(|name| form::values(query, name).find(|v| !v.is_empty()))
            .map(str::to_owned)
    });
    match value.as_deref() {
        None => Cursor::None,
        Some("earliest") => Cursor::Earliest,
        Some(id) => Cursor::Id(id.to_owned()),
    }
}

/// Status and headers of an event stream (A-SSE-1, A-SSE-2, A-HIST-8).
fn stream_head(cursor_echo: Option<&str>) -> HttpResponseBuilder {
    let mut builder = HttpResponse::Ok();
    builder
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((
            header::CACHE_CONTROL,
            "private, no-cache, no-store, must-revalidate, max-age=0",
        ))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header((header::EXPIRES, "0"))
        .insert_header(("X-Accel-Buffering", "no"))
        .insert_header((header::CONNECTION, "keep-alive"));
    // Echoed only when it is a stored, validated id or `earliest` (C-HARD-8).
    if let Some(value) = cursor_echo.and_then(|c| HeaderValue::from_str(c).ok()) {
        builder.insert_header(("Last-Event-ID", value));
    }
    builder
}

/// C-TMO-1 / A-AUTH-14: 80–100 % of `write_timeout`, or of the token's remaining lifetime when
/// that ends first. Saturating throughout: no `exp` can make it panic (R-TOKEN).
fn lifetime(
    write_timeout: Option<Duration>,
    claims: Option<&Claims>,
) -> Option<(Duration, Disconnect)> {
    let until_expiry = claims.and_then(|c| c.time_left(auth::now_seconds()));
    match (write_timeout, until_expiry) {
        (Some(timeout), Some(left)) if left < timeout => {
            Some((jitter(left), Disconnect::TokenExpiry))
        }
        (Some(timeout), _) => Some((jitter(timeout), Disconnect::Timeout)),
        (None, left) => left.map(|left| (jitter(left), Disconnect::TokenExpiry)),
    }
}

/// 80–100 % of `duration`, so that streams opened together do not all end together.
/// (`Duration::mul_f64` panics when the product overflows, as `Duration::MAX × 1.0` can after
/// rounding.)
fn jitter(duration: Duration) -> Duration {
    let factor = 0.8 + 0.2 * fastrand::f64();
    Duration::try_from_secs_f64(duration.as_secs_f64() * factor).unwrap_or(duration)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims_with_exp(exp: serde_json::Value) -> Claims {
        let mut claims = Claims::from_payload(&json!({})).expect("claims");
        claims.expires_at = exp.as_f64();
        claims
    }

    /// R-TOKEN: every `exp` a JSON number can carry gives a lifetime, never a panic.
    #[test]
    fn lifetime_saturates_at_extreme_exp() {
        let now = auth::now_seconds();
        let extremes = [
            json!(i64::MAX),
            json!(u64::MAX),
            json!(u64::MAX as f64),
            json!(1e300),
            json!(f64::MAX),
            json!(-1e300),
            json!(i64::MIN),
            json!(now - 10.0),
            json!(0),
        ];
        for exp in extremes {
            let claims = claims_with_exp(exp.clone());
            for timeout in [None, Some(Duration::from_secs(600)), Some(Duration::MAX)] {
                let (left, _) = lifetime(timeout, Some(&claims)).expect("a lifetime");
                if let Some(timeout) = timeout {
                    assert!(left <= timeout, "{exp}: {left:?}");
                }
            }
        }
        let far = claims_with_exp(json!(1e300));
        assert_eq!(
            lifetime(Some(Duration::from_secs(600)), Some(&far)).map(|(_, why)| why),
            Some(Disconnect::Timeout)
        );
        let past = claims_with_exp(json!(-1e300));
        assert_eq!(
            lifetime(Some(Duration::from_secs(600)), Some(&past)),
            Some((Duration::ZERO, Disconnect::TokenExpiry))
        );
    }

    #[test]
    fn lifetime_is_80_to_100_percent_of_the_nearest_end() {
        let soon = claims_with_exp(json!(auth::now_seconds() + 100.0));
        for _ in 0..100 {
            let (left, why) =
                lifetime(Some(Duration::from_secs(600)), Some(&soon)).expect("a lifetime");
            assert_eq!(why, Disconnect::TokenExpiry);
            assert!(left >= Duration::from_secs(79) && left <= Duration::from_secs(100));
            let (left, why) = lifetime(Some(Duration::from_secs(10)), None).expect("a lifetime");
            assert_eq!(why, Disconnect::Timeout);
            assert!(left >= Duration::from_secs(8) && left <= Duration::from_secs(10));
        }
        assert_eq!(lifetime(None, None), None);
    }

    /// R-BOUND: the selectors of one request are bounded in bytes together, `topic` and
    /// `match*` alike.
    #[test]
    fn selectors_size_is_bounded_in_total() {
        let pairs = |list: &[(&str, usize)]| -> Pairs {
            list.iter()
                .map(|(name, len)| ((*name).to_owned(), "x".repeat(*len)))
                .collect()
        };
        let just_under = pairs(&[("topic", 400), ("topic", 300), ("match", 324)]);
        assert_eq!(check_selectors_size(&just_under, 1024), Ok(()));
        let over = pairs(&[("topic", 400), ("topic", 300), ("match_exact", 325)]);
        assert_eq!(
            check_selectors_size(&over, 1024),
            Err("Invalid \"topic\" parameter.\n")
        );
        let others = pairs(&[
            ("topic", 10),
            ("lastEventID", 5000),
            ("authorization", 5000),
        ]);
        assert_eq!(check_selectors_size(&others, 1024), Ok(()));
        assert_eq!(check_selectors_size(&over, 0), Ok(()), "0 = no limit");
    }

    #[test]
    fn jitter_never_overflows() {
        for _ in 0..1000 {
            assert!(jitter(Duration::MAX) <= Duration::MAX);
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
