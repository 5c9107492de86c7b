//! CORS (protocol.md A.10): off without `cors_origins`; with it, preflights are answered here
//! and allowed actual requests get credentials and the exposed cursor headers.

use actix_web::dev::ServiceRequest;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::HttpResponse;

use crate::auth::OriginList;

const METHODS: [&str; 4] = ["GET", "HEAD", "POST", "QUERY"];
const ALLOWED_HEADERS: [&str; 4] = [
    "authorization",
    "cache-control",
    "last-event-id",
    "content-type",
];
const EXPOSED: &str = "Last-Event-ID, Mercure-Last-Event-ID, Link";

/// The CORS decision for one request, when `cors_origins` is configured.
pub(super) struct Cors {
    /// The value for `Access-Control-Allow-Origin` when the origin is allowed.
    allow_origin: Option<HeaderValue>,
    credentials: bool,
    method_allowed: bool,
}

impl Cors {
    pub(super) fn of(request: &ServiceRequest, origins: &OriginList) -> Option<Self> {
        if origins.is_empty() {
            return None;
        }
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok());
        let allow_origin = origin.filter(|o| origins.allows(o, true)).and_then(|o| {
            if origins.allows_all() {
                Some(HeaderValue::from_static("*"))
            } else {
                HeaderValue::from_str(o).ok()
            }
        });
        Some(Self {
            allow_origin,
            credentials: !origins.allows_all(),
            method_allowed: METHODS.contains(&request.method().as_str()),
        })
    }

    /// The 204 answer to a preflight (A-CORS-2), `None` when the request is not one.
    pub(super) fn preflight(&self, request: &ServiceRequest) -> Option<HttpResponse> {
        if request.method() != Method::OPTIONS {
            return None;
        }
        let requested_method = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
        let requested_headers = request
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let headers_allowed = requested_headers
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .all(|h| ALLOWED_HEADERS.iter().any(|a| a.eq_ignore_ascii_case(h)));
        let method_allowed = requested_method
            .to_str()
            .is_ok_and(|m| METHODS.contains(&m));
        let mut response = HttpResponse::NoContent();
        response.insert_header((
            header::VARY,
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        ));
        if let Some(origin) = self
            .allow_origin
            .clone()
            .filter(|_| method_allowed && headers_allowed)
        {
            response.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin));
            response.insert_header((
                header::ACCESS_CONTROL_ALLOW_METHODS,
                requested_method.clone(),
            ));
            if !requested_headers.trim().is_empty() {
                response.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, requested_headers));
            }
            if self.credentials {
                response.insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"));
            }
        }
        Some(response.finish())
    }

    /// Headers of an actual request's response, errors included (A-CORS-3, A-CORS-6, A-CORS-7).
    pub(super) fn decorate(&self, headers: &mut HeaderMap) {
        // Appended: a compressed stream's `Vary: Accept-Encoding` stays (issue 21).
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = self.allow_origin.clone().filter(|_| self.method_allowed) else {
            return;
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
    }
}
