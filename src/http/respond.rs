//! Fixed-text responses (protocol.md A-AUTH-17, C-HARD-4).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use super::target::TargetError;
use crate::auth::{Challenge, ChallengeError, Dialect, TokenError};

const TEXT: &str = "text/plain; charset=utf-8";

pub(super) fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, TEXT))
        .body(body.into())
}

pub(super) fn bad_request(body: &str) -> HttpResponse {
    text(StatusCode::BAD_REQUEST, body.to_owned())
}

pub(super) fn not_found() -> HttpResponse {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

pub(super) fn method_not_allowed() -> HttpResponse {
    method_not_allowed_but("GET, HEAD, POST, QUERY")
}

/// 405 listing the methods a path serves.
pub(super) fn method_not_allowed_but(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .finish()
}

/// A transient refusal (a full disk, an unreachable Redis, a shutdown): worth a retry
/// (protocol.md A-PUB-14). The history writer retries a failed write within a second.
pub(super) fn unavailable() -> HttpResponse {
    let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n");
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub(super) fn too_large() -> HttpResponse {
    text(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large\n")
}

/// 401 with the fixed classic body, whatever the reason: also for a classic API request without
/// the right (A-SUBS-10); the reason is logged, never sent. The challenge is X-11's, with
/// `resource_metadata` when the hub serves protected resource metadata (`metadata_url`).
pub(super) fn unauthorized(reason: &TokenError, metadata_url: Option<&str>) -> HttpResponse {
    tracing::info!(%reason, "request refused: 401");
    let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    let challenge = reason
        .to_challenge(Dialect::Classic)
        .resource_metadata(metadata_url);
    insert_challenge(&mut response, &challenge);
    response
}

/// `WWW-Authenticate` from a challenge; "Bearer" if its value were ever not a header value
/// (`header_value` is visible ASCII by construction).
fn insert_challenge(response: &mut HttpResponse, challenge: &Challenge) {
    let value = HeaderValue::from_str(&challenge.header_value())
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, value);
}

/// A token refusal with its RFC 6750 challenge (X-11, B-ERR-1…5): the status is the
/// challenge's (400 `invalid_request`, 401, 403 `insufficient_scope`), the body the fixed Part A
/// text of that status, which 1.0 errors share. The reason is logged, never sent (A-AUTH-17).
pub(super) fn challenged(reason: &TokenError, challenge: &Challenge) -> HttpResponse {
    let (status, body) = match challenge.status() {
        400 => (StatusCode::BAD_REQUEST, "Bad Request\n"),
        403 => (StatusCode::FORBIDDEN, "Forbidden\n"),
        _ => (StatusCode::UNAUTHORIZED, "Unauthorized\n"),
    };
    tracing::info!(%reason, status = status.as_u16(), "request refused");
    let mut response = text(status, body);
    insert_challenge(&mut response, challenge);
    response
}

/// 421: the request is for an origin outside `public_urls`.
pub(super) fn misdirected() -> HttpResponse {
    text(StatusCode::MISDIRECTED_REQUEST, "Misdirected Request\n")
}

/// 403 with a given body for a valid token without the needed right, with the X-11
/// `insufficient_scope` challenge (and `resource_metadata` when metadata is served).
pub(super) fn forbidden(body: impl Into<String>, metadata_url: Option<&str>) -> HttpResponse {
    let mut response = text(StatusCode::FORBIDDEN, body);
    let challenge =
        Challenge::error(ChallengeError::InsufficientScope).resource_metadata(metadata_url);
    insert_challenge(&mut response, &challenge);
    response
}

/// A refused request, turned into its fixed response at the edge of a handler.
#[derive(Debug)]
pub(super) enum Refusal {
    BadRequest(String),
    /// 401 with the classic body whatever the reason (A-SUBS-10), and the protected resource
    /// metadata URL for the challenge when metadata is served.
    Unauthorized(TokenError, Option<String>),
    /// A token refusal with the challenge it answers with.
    Challenged(TokenError, Challenge),
    /// 403 with this body (a reserved topic, A-PUB-13) and the metadata URL, as above.
    Forbidden(String, Option<String>),
    TooLarge,
    TooManyRequests,
    Unavailable,
    Misdirected,
}

impl Refusal {
    pub(super) fn bad_request() -> Self {
        Self::BadRequest("Bad Request\n".to_owned())
    }

    pub(super) fn response(self) -> HttpResponse {
        match self {
            Self::BadRequest(body) => bad_request(&body),
            Self::Unauthorized(reason, url) => unauthorized(&reason, url.as_deref()),
            Self::Challenged(reason, challenge) => challenged(&reason, &challenge),
            Self::Forbidden(body, url) => forbidden(body, url.as_deref()),
            Self::TooLarge => too_large(),
            Self::TooManyRequests => {
                let mut response = text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            Self::Unavailable => unavailable(),
            Self::Misdirected => misdirected(),
        }
    }
}

impl From<TargetError> for Refusal {
    fn from(error: TargetError) -> Self {
        match error {
            TargetError::Misdirected => Self::Misdirected,
            TargetError::BadHost => Self::bad_request(),
        }
    }
}

impl From<crate::event::InvalidUpdate> for Refusal {
    fn from(invalid: crate::event::InvalidUpdate) -> Self {
        if invalid.is_too_large() {
            return Self::TooLarge;
        }
        Self::BadRequest(invalid.to_string())
    }
}
