//! The HTTP surface: thin actix handlers over the hub. Only this module knows actix.

mod cors;
mod publish;
mod respond;
mod subscribe;
mod subscriptions;
mod tokens;

use std::sync::Arc;

use actix_web::dev::{ServerHandle, Service};
use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::hub::Hub;
use crate::settings::Settings;

/// The hub URL (protocol.md A-EP-1).
pub const HUB_PATH: &str = "/.well-known/mercure";

pub struct AppState {
    pub hub: Arc<Hub>,
    pub settings: Settings,
}

/// Binds the listener and returns the running server with its handle.
pub fn bind(
    state: Arc<AppState>,
) -> std::io::Result<(actix_web::dev::Server, Vec<std::net::SocketAddr>)> {
    let listen = state.settings.listen.clone();
    let app_state = state.clone();
    let server = HttpServer::new(move || {
        let state = app_state.clone();
        let cors_state = app_state.clone();
        App::new()
            .app_data(web::Data::from(state))
            .wrap_fn(move |request, service| {
                let cors = cors::Cors::of(&request, &cors_state.settings.cors_origins);
                if let Some(preflight) = cors.as_ref().and_then(|c| c.preflight(&request)) {
                    let response = request.into_response(preflight);
                    return Box::pin(async move { Ok(response) })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>;
                }
                let future = service.call(request);
                Box::pin(async move {
                    let mut response = future.await?;
                    if let Some(cors) = cors {
                        cors.decorate(response.headers_mut());
                    }
                    Ok(response)
                })
            })
            .wrap(security_headers())
            .default_service(web::to(route))
    })
    .disable_signals()
    .h1_allow_half_closed(false)
    .shutdown_timeout(5)
    .bind(&listen)?;
    let addresses = server.addrs();
    Ok((server.run(), addresses))
}

/// protocol.md C-HDR-1, on every response.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Frame-Options", "DENY"))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-XSS-Protection", "1; mode=block"))
        .add(("Content-Security-Policy", "default-src 'self'"))
}

/// Routes on the raw, still-encoded path (A-EP-7).
async fn route(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match request.uri().path() {
        HUB_PATH => match *request.method() {
            Method::GET | Method::HEAD => subscribe::handle(request, &state).await,
            Method::POST => publish::handle(request, payload, &state).await,
            _ => respond::method_not_allowed(),
        },
        path if path.starts_with(subscriptions::API_PATH) && state.settings.subscriptions => {
            subscriptions::handle(&request, &state).unwrap_or_else(respond::not_found)
        }
        "/healthz" if request.method() == Method::GET || request.method() == Method::HEAD => {
            HttpResponse::Ok().finish()
        }
        _ => respond::not_found(),
    }
}

/// Stops the server: streams end once their queued events are written, then connections close.
pub async fn stop(hub: &Hub, handle: ServerHandle) {
    hub.shutdown();
    handle.stop(true).await;
}
