//! `POST /.well-known/mercure`: publication, checked in the order of protocol.md A-PUB-12. The
//! handler orchestrates: parse → authenticate → authorize → publish; what makes an update valid
//! is `event`'s (`Draft`).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::respond::{self, Refusal};
use super::{tokens, AppState};
use crate::auth::{self, origin::request_origin, Claims};
use crate::event::{Draft, InvalidUpdate};
use crate::form::{self, Pairs};
use crate::hub::HubError;
use crate::topic::reserved;

pub(super) async fn handle(
    request: HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> HttpResponse {
    match publish(request, payload, state).await {
        Ok(id) => respond::text(StatusCode::OK, id),
        Err(refusal) => refusal.response(),
    }
}

async fn publish(
    request: HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<String, Refusal> {
    let query =
        form::parse(request.query_string().as_bytes()).map_err(|_| Refusal::bad_request())?;
    let claims = authenticate(&request, &query, state)?;
    let body = read_body(
        &request,
        payload,
        state.settings.requests.max_request_body_size,
    )
    .await?;
    let fields = form_fields(&request, &body)?;
    let draft = draft_from(&fields)?;
    authorize(draft.topics(), &claims, state)?;
    let update = draft.build()?;
    match state.hub.publish(update).await {
        Ok(event) => Ok(event.update.id().to_owned()),
        Err(HubError::ShuttingDown) => Err(Refusal::Unavailable),
        Err(HubError::Storage(error)) => {
            // A storage fault is worth a retry: 503, and the event was never acknowledged.
            tracing::error!(error = %crate::log::ErrorChain(&error), "publish failed");
            Err(Refusal::Unavailable)
        }
    }
}

fn authenticate(
    request: &HttpRequest,
    query: &Pairs,
    state: &AppState,
) -> Result<Arc<Claims>, Refusal> {
    let auth = &state.settings.auth;
    let cookie = tokens::cookie_value(request, &auth.cookie_name);
    let sources = tokens::sources(request, query, cookie.as_deref());
    let origin_allowed = || {
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        request_origin(header(header::ORIGIN), header(header::REFERER))
            .is_some_and(|origin| auth.publish_origins.allows(&origin, false))
    };
    auth::publisher_claims(&auth.publisher, &sources, origin_allowed).map_err(Refusal::Unauthorized)
}

/// Reads the body, refusing more than `limit` bytes (0 = no limit) with 413 (C-LIM-1).
async fn read_body(
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

/// A-PUB-1/A-PUB-2: form fields of a form body; any other media type carries none.
fn form_fields(request: &HttpRequest, body: &[u8]) -> Result<Pairs, Refusal> {
    let mime = request.mime_type().map_err(|_| Refusal::bad_request())?;
    match mime {
        Some(mime) if mime.essence_str() == "application/x-www-form-urlencoded" => {
            form::parse(body).map_err(|_| Refusal::bad_request())
        }
        _ => Ok(Pairs::new()),
    }
}

/// Steps 4–7 of A-PUB-12: the form's fields as an update to authorize.
fn draft_from(fields: &Pairs) -> Result<Draft, InvalidUpdate> {
    let topics = form::values(fields, "topic").map(str::to_owned).collect();
    let field = |name| form::first(fields, name).map(str::to_owned);
    Ok(Draft::new(topics)?
        .retry_field(form::first(fields, "retry"))?
        .id(field("id"))
        .event_type(field("type"))
        .data(field("data").unwrap_or_default())
        .private(form::first(fields, "private").is_some()))
}

/// Steps 8–9 of A-PUB-12: every topic covered by `mercure.publish`, none reserved.
fn authorize(topics: &[String], claims: &Claims, state: &AppState) -> Result<(), Refusal> {
    let hub = &state.hub;
    let grants = claims.publish_grants(hub.matcher());
    let covered = topics.iter().all(|topic| {
        grants
            .iter()
            .any(|grant| hub.matcher().matches(grant, topic))
    });
    if !covered {
        tracing::info!("publish refused: a topic is not covered by mercure.publish");
        return Err(Refusal::Forbidden("Forbidden\n".to_owned()));
    }
    if let Some(topic) = topics.iter().find(|t| reserved::is_reserved(t)) {
        return Err(Refusal::Forbidden(reserved::refusal(topic)));
    }
    Ok(())
}
