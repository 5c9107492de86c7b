//! `GET`/`HEAD`/`QUERY /.well-known/mercure`: subscriptions in both dialects (protocol.md
//! A.2, A.4, A-SUB-9, B.2, B.8, X-2, X-4, X-6, X-7, X-8, X-11).

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};

use super::limits::Limited;
use super::respond::Refusal;
use super::target::RequestTarget;
use super::{body, direct, tokens, AppState};
use crate::auth::grants::PayloadRule;
use crate::auth::{self, GrantContext, Grants, Role, Source, TokenError, Verified};
use crate::compress::{Encoding, Mode};
use crate::form::{self, Pairs};
use crate::hub::{Cursor, EventStream, Request, SelectorSpec, StreamOptions};
use crate::metrics::Disconnect;
use crate::topic::request::{CursorRequest, Dialect, Limits, Selectors, SubscriptionRequest};

pub(super) async fn handle(
    request: HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> HttpResponse {
    subscribe(&request, payload, state)
        .await
        .unwrap_or_else(Refusal::response)
}

/// The checks of A-SUB-9 in order: the request's form (400, 413 for a `QUERY` body), the
/// reserved `match` namespace (400), the origin (421), token (401, or 400 on a 1.0-only
/// request), selectors (400), registration (429, 503).
async fn subscribe(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, Refusal> {
    let settings = &state.settings;
    let query =
        form::parse(request.query_string().as_bytes()).map_err(|_| Refusal::bad_request())?;
    let body = if request.method().as_str() == "QUERY" {
        let bytes = body::read(request, payload, settings.requests.max_request_body_size).await?;
        Some(body::form_fields(request, &bytes)?)
    } else {
        None
    };
    let header_cursor = request.headers().get("last-event-id").map(|v| v.as_bytes());
    let parsed = SubscriptionRequest::read(&query, body.as_ref(), header_cursor).map_err(|e| {
        tracing::debug!(error = %e, "subscription refused");
        Refusal::BadRequest(e.body().to_owned())
    })?;
    let target = RequestTarget::of(request, settings)?;
    let token = authenticate(request, &query, &parsed, &target, state)?;
    let hub = &state.hub;
    let limits = Limits {
        max_selector_length: settings.requests.max_selector_length,
        max_selectors_size: settings.requests.max_selectors_size,
    };
    let selectors = parsed
        .selectors(hub.matcher(), &target.base, limits)
        .map_err(|e| {
            tracing::debug!(error = %crate::log::ErrorChain(&e), "subscription refused");
            Refusal::BadRequest(e.body().to_owned())
        })?;
    let cursor = hub_cursor(&parsed.cursor);
    // C-HDR-3, issue 21: compressed only when the operator opted in and the client asks.
    let compression = settings.streams.compression.negotiate(
        request
            .headers()
            .get_all(header::ACCEPT_ENCODING)
            .map(HeaderValue::as_bytes),
    );
    if request.method() == Method::HEAD {
        let echo = hub
            .cursor_echo_async(&cursor)
            .await
            .map_err(|_| Refusal::Unavailable)?;
        let mut head = stream_head(&parsed, echo.as_deref());
        encoding_headers(&mut head, settings.streams.compression.mode, compression);
        return Ok(head.finish());
    }
    let permit = state
        .limiter
        .acquire(target.client)
        .ok_or(Refusal::TooManyRequests)?;
    let context = GrantContext::new(hub.matcher(), &target.base);
    let grants = token.as_ref().map(Verified::grants);
    let subscription = hub
        .subscribe_async(Request {
            private_access: grants
                .map(|g| g.subscribe_selectors(context))
                .unwrap_or_default(),
            payload: grants.and_then(whole_payload),
            selectors: hub_selectors(&parsed, selectors, grants, context),
            cursor,
            compression,
        })
        .await
        .map_err(|error| {
            tracing::warn!(error = %crate::log::ErrorChain(&error), "cannot register a subscriber");
            Refusal::Unavailable
        })?;
    let mut response = stream_head(&parsed, subscription.cursor_echo());
    encoding_headers(
        &mut response,
        settings.streams.compression.mode,
        compression,
    );
    let options = StreamOptions {
        heartbeat: settings.streams.heartbeat,
        lifetime: lifetime(
            settings.streams.write_timeout,
            token.as_ref().and_then(Verified::expires_at),
        ),
    };
    tracing::debug!(client = ?target.client, dialect = ?parsed.dialect, "subscriber connected");
    let inner = EventStream::new(subscription, options);
    Ok(direct::respond(
        response,
        Limited {
            inner,
            _permit: permit,
        },
    ))
}

/// A-AUTH-11, B-AUTH-4, B-AUTH-9, X-11: the subscriber's verified token, `None` for
/// an anonymous subscriber. Every refusal carries a challenge; a malformed presentation is a
/// 400 `invalid_request` on 1.0-only requests and the classic 401 elsewhere.
fn authenticate(
    request: &HttpRequest,
    query: &Pairs,
    parsed: &SubscriptionRequest,
    target: &RequestTarget,
    state: &AppState,
) -> Result<Option<Verified>, Refusal> {
    let auth = &state.settings.auth;
    // A-AUTH-11, X-3: with no subscriber verifier of either dialect, tokens are not read.
    if !auth.issuers.has_role(Role::Subscriber) {
        return Ok(None);
    }
    let v1_only = parsed.dialect == Dialect::V1;
    let rules = if v1_only {
        auth::Dialect::V1
    } else {
        auth::Dialect::Classic
    };
    let refuse = |reason: TokenError| {
        let challenge = reason
            .to_challenge(rules)
            .resource_metadata(target.metadata_url.as_deref());
        Refusal::Challenged(reason, challenge)
    };
    // B-AUTH-9: the `authorization` parameter is a classic feature.
    let no_pairs = Pairs::new();
    let cookie = tokens::cookie_value(request, &auth.cookie_name);
    let sources = tokens::sources(
        request,
        if v1_only { &no_pairs } else { query },
        cookie.as_deref(),
    );
    match auth::extract(&sources).map_err(refuse)? {
        None if auth.anonymous => Ok(None),
        None => Err(refuse(TokenError::Missing)),
        Some((source, token)) => {
            if source == Source::Query && is_v1_token(token) {
                return Err(refuse(TokenError::Invalid(
                    "a 1.0 token in the authorization query parameter".to_owned(),
                )));
            }
            auth.issuers
                .verify(token, Role::Subscriber, &target.resource)
                .map(Some)
                .map_err(refuse)
        }
    }
}

/// whether the (unverified) payload makes `token` a 1.0 token.
fn is_v1_token(token: &str) -> bool {
    auth::v1::peek(token).is_ok_and(|peeked| peeked.dialect == auth::Dialect::V1)
}

/// Every subscription of the request, `topic` first, then `match*`, each with how it was
/// asked for and the payload its events show: a classic token's whole payload, a 1.0
/// token's first subscribe entry matching the subscription's own value (B-AD-8).
fn hub_selectors(
    parsed: &SubscriptionRequest,
    selectors: Selectors,
    grants: Option<&Grants>,
    context: GrantContext<'_>,
) -> Vec<SelectorSpec> {
    // A classic token's payload is the connection's (`Request::payload`), kept once rather
    // than copied into each of up to 1,000 subscriptions; only a 1.0 token's differs per one.
    let per_entry = grants.filter(|g| matches!(g.payload, PayloadRule::PerEntry(_)));
    let payload = |value: &str| per_entry.and_then(|g| g.payload_for(value, &context).cloned());
    let classic = parsed
        .topics
        .iter()
        .zip(selectors.classic)
        .map(|(value, selector)| SelectorSpec::topic(selector, value.as_str()));
    let v1 = selectors.v1.into_iter().map(|(matcher, selector)| {
        SelectorSpec::matcher(matcher.match_type, &matcher.value, selector)
    });
    classic
        .chain(v1)
        .map(|spec| {
            let own = payload(spec.value());
            spec.with_payload(own)
        })
        .collect()
}

/// A-AUTH-15, X-10: a classic token's whole `mercure.payload`, shown by every subscription.
fn whole_payload(grants: &Grants) -> Option<serde_json::Value> {
    match &grants.payload {
        PayloadRule::Whole(payload) => payload.clone(),
        PayloadRule::PerEntry(_) => None,
    }
}

/// the hub's cursor; `earliest` replays everything retained (A-HIST-4).
fn hub_cursor(cursor: &CursorRequest) -> Cursor {
    match cursor.value() {
        None => Cursor::None,
        Some("earliest") => Cursor::Earliest,
        Some(id) => Cursor::Id(id.to_owned()),
    }
}

/// C-HDR-3, issue 21: `Content-Encoding` of a compressed stream, and with `compression =
/// "auto"` `Vary: Accept-Encoding` on every stream, compressed or not (RFC 9110 §12.5.5).
fn encoding_headers(head: &mut HttpResponseBuilder, mode: Mode, encoding: Option<Encoding>) {
    if mode == Mode::Auto {
        head.append_header((header::VARY, "Accept-Encoding"));
    }
    if let Some(encoding) = encoding {
        head.insert_header((header::CONTENT_ENCODING, encoding.header_value()));
    }
}

/// Status and headers of an event stream (A-SSE-1, A-SSE-2) with the cursor headers of X-8:
/// `Last-Event-ID` on classic requests (A-HIST-8), `Mercure-Last-Event-ID` on 1.0 requests
/// (B-HIST-7: also for an empty cursor, then `earliest`), both with one value on mixed ones.
fn stream_head(parsed: &SubscriptionRequest, cursor_echo: Option<&str>) -> HttpResponseBuilder {
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
    let v1_echo = parsed
        .cursor
        .echo_v1()
        .then(|| cursor_echo.unwrap_or("earliest"));
    let (classic, v1) = match parsed.dialect {
        Dialect::Classic => (cursor_echo, None),
        Dialect::V1 => (None, v1_echo),
        Dialect::Mixed => (v1_echo, v1_echo),
    };
    // Echoed only when it is a stored, validated id or `earliest` (C-HARD-8).
    let value = |echo: Option<&str>| echo.and_then(|c| HeaderValue::from_str(c).ok());
    if let Some(value) = value(classic) {
        builder.insert_header(("Last-Event-ID", value));
    }
    if let Some(value) = value(v1) {
        builder.insert_header(("Mercure-Last-Event-ID", value));
    }
    builder
}

/// C-TMO-1 / A-AUTH-14 / B-AD-7: 80–100 % of `write_timeout`, or of the token's remaining
/// lifetime (`expires_at`, its `exp`) when that ends first. Saturating throughout: no `exp` can
/// make it panic (R-TOKEN).
fn lifetime(
    write_timeout: Option<Duration>,
    expires_at: Option<f64>,
) -> Option<(Duration, Disconnect)> {
    let now = auth::now_seconds();
    let until_expiry = expires_at.map(|exp| auth::seconds_to_duration(exp - now));
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

    /// The `exp` of a token, as `Verified::expires_at` reads it.
    fn claims_with_exp(exp: serde_json::Value) -> Option<f64> {
        exp.as_f64()
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
                let (left, _) = lifetime(timeout, claims).expect("a lifetime");
                if let Some(timeout) = timeout {
                    assert!(left <= timeout, "{exp}: {left:?}");
                }
            }
        }
        let far = claims_with_exp(json!(1e300));
        assert_eq!(
            lifetime(Some(Duration::from_secs(600)), far).map(|(_, why)| why),
            Some(Disconnect::Timeout)
        );
        let past = claims_with_exp(json!(-1e300));
        assert_eq!(
            lifetime(Some(Duration::from_secs(600)), past),
            Some((Duration::ZERO, Disconnect::TokenExpiry))
        );
    }

    #[test]
    fn lifetime_is_80_to_100_percent_of_the_nearest_end() {
        let soon = claims_with_exp(json!(auth::now_seconds() + 100.0));
        for _ in 0..100 {
            let (left, why) = lifetime(Some(Duration::from_secs(600)), soon).expect("a lifetime");
            assert_eq!(why, Disconnect::TokenExpiry);
            assert!(left >= Duration::from_secs(79) && left <= Duration::from_secs(100));
            let (left, why) = lifetime(Some(Duration::from_secs(10)), None).expect("a lifetime");
            assert_eq!(why, Disconnect::Timeout);
            assert!(left >= Duration::from_secs(8) && left <= Duration::from_secs(10));
        }
        assert_eq!(lifetime(None, None), None);
    }

    /// The cursor headers of a request made of `pairs`, with the hub's `echo`.
    fn cursor_headers(
        pairs: &[(&str, &str)],
        echo: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        let pairs: Pairs = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let parsed = SubscriptionRequest::read(&pairs, None, None).expect("a request");
        let response = stream_head(&parsed, echo).finish();
        let get = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (get("Last-Event-ID"), get("Mercure-Last-Event-ID"))
    }

    // X-8, A-HIST-8, B-HIST-7: the cursor header follows the request's dialect; an empty
    // `last_event_id` is answered `earliest` on 1.0 requests only.
    #[test]
    fn cursor_headers_by_dialect() {
        let some = |v: &str| Some(v.to_owned());
        let found = [("last_event_id", "urn:a")];
        let classic = [("topic", "t"), found[0]];
        let v1 = [("match", "t"), found[0]];
        let mixed = [("topic", "t"), ("match", "t"), found[0]];
        assert_eq!(
            cursor_headers(&classic, Some("urn:a")),
            (some("urn:a"), None)
        );
        assert_eq!(cursor_headers(&v1, Some("urn:a")), (None, some("urn:a")));
        assert_eq!(
            cursor_headers(&mixed, Some("urn:a")),
            (some("urn:a"), some("urn:a"))
        );
        assert_eq!(cursor_headers(&[("match", "t")], None), (None, None));
        let empty_v1 = [("match", "t"), ("last_event_id", "")];
        assert_eq!(cursor_headers(&empty_v1, None), (None, some("earliest")));
        let empty_classic = [("topic", "t"), ("last_event_id", "")];
        assert_eq!(cursor_headers(&empty_classic, None), (None, None));
        let empty_mixed = [("topic", "t"), ("match", "t"), ("last_event_id", "")];
        assert_eq!(
            cursor_headers(&empty_mixed, None),
            (some("earliest"), some("earliest"))
        );
        // C-HARD-8: what cannot be a header value is not echoed.
        assert_eq!(cursor_headers(&v1, Some("a\nb")), (None, None));
    }

    #[test]
    fn jitter_never_overflows() {
        for _ in 0..1000 {
            assert!(jitter(Duration::MAX) <= Duration::MAX);
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
