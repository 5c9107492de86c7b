//! `POST /.well-known/mercure`: publication, checked in the order of protocol.md A-PUB-12, or
//! B-PUB-11 for a 1.0 token. The handler orchestrates: parse → authenticate → authorize
//! → publish; what makes an update valid, in either dialect, is `event`'s (`Draft`, `Rules`).

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::challenge::RequestResource;
use super::respond::{self, Refusal};
use super::{tokens, AppState};
use crate::auth::{self, origin::request_origin, Claims, GrantContext, Verified};
use crate::event::{Draft, InvalidUpdate, Rules};
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
    let resource = RequestResource::of(&request, state);
    let token = authenticate(&request, &query, state, &resource)?;
    let body = super::body::read(
        &request,
        payload,
        state.settings.requests.max_request_body_size,
    )
    .await?;
    let fields = super::body::form_fields(&request, &body)?;
    let draft = draft_from(&fields, rules(&token, &resource)?)?;
    match &token {
        Verified::Classic(claims) => authorize(draft.topics(), claims, state, &resource)?,
        Verified::V1(_) => authorize_v1(draft.topics(), &token, state, &resource)?,
    }
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
    resource: &RequestResource,
) -> Result<Verified, Refusal> {
    let auth = &state.settings.auth;
    let cookie = tokens::cookie_value(request, &auth.cookie_name);
    let sources = tokens::sources(request, query, cookie.as_deref());
    let origin_allowed = || {
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        request_origin(header(header::ORIGIN), header(header::REFERER))
            .is_some_and(|origin| auth.publish_origins.allows(&origin, false))
    };
    auth::publisher_token(
        &auth.issuers,
        &sources,
        &resource.identifier,
        origin_allowed,
    )
    .map_err(|refused| resource.refusal(&refused))
}

/// the token's dialect decides the rules; a 1.0 publish needs the hub URL its topics
/// resolve against (B-PUB-3), which a malformed `Host` does not give (400).
fn rules(token: &Verified, resource: &RequestResource) -> Result<Rules, Refusal> {
    match token {
        Verified::Classic(_) => Ok(Rules::Classic),
        Verified::V1(_) => match &resource.base {
            Some(hub) => Ok(Rules::V1 { hub: hub.clone() }),
            None => Err(Refusal::bad_request()),
        },
    }
}

/// Steps 4–7 of A-PUB-12 (B-PUB-11 under the 1.0 rules): the form's fields as an update to
/// authorize.
fn draft_from(fields: &Pairs, rules: Rules) -> Result<Draft, InvalidUpdate> {
    let topics = form::values(fields, "topic").map(str::to_owned).collect();
    let field = |name| form::first(fields, name).map(str::to_owned);
    Ok(Draft::with_rules(rules, topics)?
        .retry_field(form::first(fields, "retry"))?
        .id(field("id"))
        .event_type(field("type"))
        .data(field("data").unwrap_or_default())
        .private(form::first(fields, "private").is_some()))
}

/// Steps 8–9 of A-PUB-12: every topic covered by `mercure.publish`, none reserved.
fn authorize(
    topics: &[String],
    claims: &Claims,
    state: &AppState,
    resource: &RequestResource,
) -> Result<(), Refusal> {
    let hub = &state.hub;
    let grants = claims.publish_grants(hub.matcher());
    let covered = topics.iter().all(|topic| {
        grants
            .iter()
            .any(|grant| hub.matcher().matches(grant, topic))
    });
    if !covered {
        return Err(resource.insufficient_scope("a topic is not covered by mercure.publish"));
    }
    if let Some(topic) = topics.iter().find(|t| reserved::is_reserved(t)) {
        return Err(Refusal::Forbidden(
            reserved::refusal(topic),
            resource.metadata_url.clone(),
        ));
    }
    Ok(())
}

/// B-AD-5 (step 8 of B-PUB-11): a publish grant on every topic, else 403 — also for a token
/// with no publish grant at all (§0.2). The reserved namespace is `Draft::build`'s (400).
fn authorize_v1(
    topics: &[String],
    token: &Verified,
    state: &AppState,
    resource: &RequestResource,
) -> Result<(), Refusal> {
    let Some(base) = &resource.base else {
        return Err(Refusal::bad_request());
    };
    let context = GrantContext::new(state.hub.matcher(), base);
    if token
        .grants()
        .may_publish(topics.iter().map(String::as_str), &context)
    {
        return Ok(());
    }
    Err(resource.insufficient_scope("a topic is not covered by the publish grants"))
}
