//! Fixed-text responses (protocol.md A-AUTH-17, C-HARD-4).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

use crate::auth::{Challenge, TokenError};

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
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, HEAD, POST"))
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

/// 401 with the challenge of X-11; the reason is logged, never sent.
pub(super) fn unauthorized(reason: &TokenError) -> HttpResponse {
    tracing::info!(%reason, "request refused: 401");
    let mut response = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(reason.challenge()),
    );
    response
}

/// 403 for a valid token without the needed right.
pub(super) fn forbidden(body: impl Into<String>) -> HttpResponse {
    let mut response = text(StatusCode::FORBIDDEN, body);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
    );
    response
}

/// A token refusal with its own challenge (X-11, B-ERR): the challenge's status, and the
/// classic text of that status as the body (1.0 MAY use the same texts).
pub(super) fn challenged(challenge: &Challenge) -> HttpResponse {
    let status = StatusCode::from_u16(challenge.status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let body = match status {
        StatusCode::FORBIDDEN => "Forbidden\n",
        StatusCode::BAD_REQUEST => "Bad Request\n",
        _ => "Unauthorized\n",
    };
    let mut response = text(status, body);
    if let Ok(value) = HeaderValue::from_str(&challenge.header_value()) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A refused request, turned into its fixed response at the edge of a handler.
#[derive(Debug)]
pub(super) enum Refusal {
    BadRequest(String),
    Unauthorized(TokenError),
    /// A refused token answered with its challenge (see [`challenged`]).
    Challenged(Challenge),
    Forbidden(String),
    TooLarge,
    TooManyRequests,
    Unavailable,
}

impl Refusal {
    pub(super) fn bad_request() -> Self {
        Self::BadRequest("Bad Request\n".to_owned())
    }

    pub(super) fn response(self) -> HttpResponse {
        match self {
            Self::BadRequest(body) => bad_request(&body),
            Self::Unauthorized(reason) => unauthorized(&reason),
            Self::Challenged(challenge) => challenged(&challenge),
            Self::Forbidden(body) => forbidden(body),
            Self::TooLarge => too_large(),
            Self::TooManyRequests => {
                let mut response = text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests\n");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            Self::Unavailable => unavailable(),
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
