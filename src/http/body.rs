//! Bounded request bodies (protocol.md C-LIM-1): the form bodies of publishes (A-PUB-1) and of
//! `QUERY` subscriptions (B-SUB-2).

use actix_web::http::header;
use actix_web::{web, HttpMessage, HttpRequest};
use futures_util::StreamExt;

use super::respond::Refusal;
use crate::form::{self, Pairs};

/// Reads the body, refusing more than `limit` bytes (0 = no limit) with 413 (C-LIM-1): a
/// declared length over it is refused before anything is read.
pub(super) async fn read(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: u64,
) -> Result<web::BytesMut, Refusal> {
    let limit = if limit == 0 { u64::MAX } else { limit };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(Refusal::TooLarge);
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Refusal::bad_request())?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(Refusal::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A-PUB-1, B-SUB-2: the pairs of a form body; a body of another media type carries
/// none. An unreadable `Content-Type` is a 400.
pub(super) fn form_fields(request: &HttpRequest, body: &[u8]) -> Result<Pairs, Refusal> {
    let mime = request.mime_type().map_err(|_| Refusal::bad_request())?;
    match mime {
        Some(mime) if mime.essence_str() == "application/x-www-form-urlencoded" => {
            form::parse(body).map_err(|_| Refusal::bad_request())
        }
        _ => Ok(Pairs::new()),
    }
}
