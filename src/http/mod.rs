//! The HTTP surface: thin actix handlers over the hub. Only this module knows actix.

pub mod admin;
pub use tls::{CertificateStore, TlsError};
mod body;
mod challenge;
mod cors;
mod demo;
mod direct;
mod flood;
mod limits;
mod listener;
mod metadata;
mod publish;
mod respond;
mod subscribe;
mod subscriptions;
mod target;
mod tls;
mod tokens;
mod ui;

use std::sync::Arc;

use actix_web::dev::{ServerHandle, Service};
use actix_web::http::Method;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::hub::Hub;
use crate::settings::Settings;

/// The hub URL (protocol.md A-EP-1).
pub const HUB_PATH: &str = "/.well-known/mercure";

/// What every handler of both listeners shares: built once at startup, read-only after.
pub struct AppState {
    /// The hub requests publish to and subscribe through.
    pub hub: Arc<Hub>,
    /// The validated settings.
    pub settings: Settings,
    /// Counts subscription connections against `max_connections` and `max_connections_per_ip`.
    pub limiter: Arc<limits::ConnectionLimiter>,
    /// Tracks how long the history has been failing, for the health checks.
    pub health: admin::Health,
}

impl AppState {
    /// The state of a hub, with its connection limits from the settings.
    pub fn new(hub: Arc<Hub>, settings: Settings) -> Arc<Self> {
        let limiter = limits::ConnectionLimiter::new(
            settings.listener.max_connections,
            settings.listener.max_connections_per_ip,
        );
        Arc::new(Self {
            hub,
            settings,
            limiter,
            health: admin::Health::default(),
        })
    }
}

/// Binds the main listener (HTTPS when `tls` is given) and returns the running server.
pub fn bind(
    state: Arc<AppState>,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<(actix_web::dev::Server, Vec<std::net::SocketAddr>)> {
    let listeners = listener::bind(
        &state.settings.listener.listen,
        state.settings.listener.dispatch_timeout,
    )?;
    let request_timeout = state.settings.listener.request_timeout;
    let flood = flood::guard().clone();
    let app_state = state.clone();
    let mut server = HttpServer::new(move || {
        let state = app_state.clone();
        let cors_state = app_state.clone();
        App::new()
            .app_data(web::Data::from(state))
            .wrap_fn(move |request, service| {
                if let Some(ticket) = request.conn_data::<flood::Ticket>() {
                    ticket.head_complete();
                }
                let cors = cors::Cors::of(&request, &cors_state.settings.requests.cors_origins);
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
    .on_connect(watch_connection(flood))
    .client_request_timeout(request_timeout)
    .tls_handshake_timeout(request_timeout)
    .max_connection_rate(TLS_HANDSHAKES_PER_WORKER)
    .disable_signals()
    .h1_allow_half_closed(false)
    // `stop` bounds the whole stop by `shutdown_timeout`; actix's own wait is no longer.
    .shutdown_timeout(state.settings.listener.shutdown_timeout.as_secs());
    // Nagle off and C-TMO-2's timeout come with each accepted socket (`listener`).
    for listener in listeners {
        server = match &tls {
            Some(config) => server.listen_rustls_0_23(listener, config.clone())?,
            // HTTP/1.1, and cleartext HTTP/2 with prior knowledge (what TLS-terminating proxies use).
            None => server.listen_auto_h2c(listener)?,
        };
    }
    let addresses = server.addrs();
    Ok((server.run(), addresses))
}

/// Each new HTTP connection, until its first request head is complete, may be shed in a flood
/// (R-FLOOD; the ticket lives in the connection's data, which the HTTP/1 dispatcher drops before
/// the socket). Its accept (before the first bytes or the TLS handshake) was seen by actix-http's
/// watch already. (Its writes are timed by the option it inherited from the listener, C-TMO-2.)
fn watch_connection(
    flood: std::sync::Arc<flood::FloodGuard>,
) -> impl Fn(&dyn std::any::Any, &mut actix_web::dev::Extensions) + Send + Sync + Clone + 'static {
    move |connection, extensions| {
        let tls = connection
            .downcast_ref::<actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>>()
            .map(|stream| stream.get_ref().0);
        let tcp = connection
            .downcast_ref::<actix_web::rt::net::TcpStream>()
            .or(tls);
        let Some(tcp) = tcp else {
            return;
        };
        extensions.insert(flood.admit(tcp, flood::Admission::Known));
    }
}

/// protocol.md C-HDR-1, on every response.
pub(crate) fn security_headers() -> DefaultHeaders {
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
            Method::GET | Method::HEAD => subscribe::handle(request, payload, &state).await,
            Method::POST if target::misdirected(&request, &state.settings) => {
                respond::misdirected()
            }
            Method::POST => publish::handle(request, payload, &state).await,
            // B-SUB-2: `QUERY` subscribes with a form body.
            ref method if method.as_str() == "QUERY" => {
                subscribe::handle(request, payload, &state).await
            }
            _ => respond::method_not_allowed(),
        },
        crate::auth::metadata::METADATA_PATH => metadata::handle(&request, &state),
        path if path.starts_with(subscriptions::API_PATH)
            && state.settings.features.subscriptions =>
        {
            if target::misdirected(&request, &state.settings) {
                return respond::misdirected();
            }
            subscriptions::handle(&request, &state)
                .await
                .unwrap_or_else(respond::not_found)
        }
        "/healthz" if request.method() == Method::GET || request.method() == Method::HEAD => {
            HttpResponse::Ok().finish()
        }
        "/metrics" if state.settings.features.metrics && request.method() == Method::GET => {
            admin::metrics(&state)
        }
        path if state.settings.features.demo && demo::is_demo_path(path) => {
            demo::handle(&request, &state.settings)
        }
        "/" if state.settings.features.demo && request.method() == Method::GET => {
            demo::redirect_to_ui()
        }
        path if state.settings.features.ui
            && (path.starts_with(ui::UI_PATH) || path.starts_with(ui::DEBUG_PATH)) =>
        {
            ui::handle(&request, &state.settings)
        }
        _ => respond::not_found(),
    }
}

/// Stops the server by `deadline`: streams end once their queued events are written, then
/// connections close (those still open at the deadline are closed without waiting).
pub async fn stop(hub: &Hub, handle: ServerHandle, deadline: tokio::time::Instant) {
    hub.shutdown();
    // Streams taken over by the direct writer are not actix's to wait for; they run on its
    // workers, so the workers stay up until the streams have ended (or the deadline).
    let _ = tokio::time::timeout_at(deadline, hub.until_idle()).await;
    if tokio::time::timeout_at(deadline, handle.stop(true))
        .await
        .is_err()
    {
        handle.stop(false).await;
    }
}

/// Concurrent TLS handshakes per worker before actix stops accepting (its default is 256). A
/// flood of silent connections would fill that many slots and stop all accepting for as long as
/// `request_timeout`, out of reach of shedding (which acts on accepted connections); bounded by
/// descriptors instead, like plaintext connections (actix's own per-worker connection limit).
const TLS_HANDSHAKES_PER_WORKER: usize = 25_000;
