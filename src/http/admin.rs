//! Metrics and health checks (protocol.md C-MET-1, C-HEALTH-1): `/metrics` on the main listener
//! when `metrics` is on, and the admin listener (`admin_listen`) with `/metrics` and
//! `/mercure/health/{ready,live}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::{header, Method};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use parking_lot::Mutex;

use super::{respond, AppState};
use crate::metrics::Gauges;

/// How long the history may keep failing before the hub is reported not live.
const LIVENESS_GRACE: Duration = Duration::from_secs(30);

/// Health of the history store, remembered between checks.
#[derive(Debug, Default)]
pub struct Health {
    failing_since: Mutex<Option<Instant>>,
}

impl Health {
    /// Ready: the store accepts reads and writes now.
    fn ready(&self, state: &AppState) -> bool {
        let health = state.hub.log().health();
        let (healthy, failing) = match health.map_or(Ok(()), |health| health.check()) {
            Ok(()) => (true, false),
            Err(error) => {
                tracing::warn!(error = %crate::log::ErrorChain(&error), "health check: the history store is failing");
                // A store that heals by itself (a full disk) is not ready, but still live: an
                // orchestrator must not restart a hub that will recover (R-DISK).
                (false, !error.recovers())
            }
        };
        let mut failing_since = self.failing_since.lock();
        match (failing, *failing_since) {
            (false, _) => *failing_since = None,
            (true, None) => *failing_since = Some(Instant::now()),
            (true, Some(_)) => {}
        }
        healthy
    }

    /// Live: the store has not been failing for longer than the grace period.
    fn live(&self, state: &AppState) -> bool {
        self.ready(state);
        self.failing_since
            .lock()
            .is_none_or(|since| since.elapsed() < LIVENESS_GRACE)
    }
}

/// The Prometheus text of `/metrics`, on either listener: the hub's counters plus gauges read
/// now from the history and the HTTP layer.
pub fn metrics(state: &AppState) -> HttpResponse {
    let flood = super::flood::guard();
    let log = state.hub.log();
    let gauges = Gauges {
        history_events: log.retained(),
        history: log
            .health()
            .map(|health| health.faults())
            .unwrap_or_default(),
        redis_reconnects: log.feed().map(|feed| feed.feed_reconnects()),
        connections_timed_out: flood.timed_out_total(),
        connections_shed: flood.shed_total(),
    };
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(state.hub.metrics.render(gauges))
}

/// Routes of the admin listener.
async fn route(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let path = request.uri().path();
    let check = match path {
        "/metrics" => None,
        _ => match health_check(path) {
            Some(check) => Some(check),
            None => return respond::not_found(),
        },
    };
    if request.method() != Method::GET {
        return HttpResponse::MethodNotAllowed().finish();
    }
    match check {
        None => metrics(&state),
        Some(Check::Ready) => health_response(state.health.ready(&state)),
        Some(Check::Live) => health_response(state.health.live(&state)),
    }
}

enum Check {
    Ready,
    Live,
}

/// `/mercure/health/{ready,live}` and `/mercure/health/default/{ready,live}`, trailing slash
/// tolerated.
fn health_check(path: &str) -> Option<Check> {
    let rest = path.strip_prefix("/mercure/health/")?.trim_end_matches('/');
    let name = rest.strip_prefix("default/").unwrap_or(rest);
    match name {
        "ready" => Some(Check::Ready),
        "live" => Some(Check::Live),
        _ => None,
    }
}

fn health_response(healthy: bool) -> HttpResponse {
    let (mut builder, body) = if healthy {
        (HttpResponse::Ok(), r#"{"status":"ok"}"#)
    } else {
        (
            HttpResponse::ServiceUnavailable(),
            r#"{"status":"error","error":"transport health check failed"}"#,
        )
    };
    builder
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body)
}

/// Binds the admin listener.
pub fn bind(
    state: Arc<AppState>,
    address: &str,
) -> std::io::Result<(actix_web::dev::Server, Vec<std::net::SocketAddr>)> {
    let request_timeout = state.settings.listener.request_timeout;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::from(state.clone()))
            .wrap(super::security_headers())
            .default_service(web::to(route))
    })
    .workers(1)
    .client_request_timeout(request_timeout)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(address)?;
    let addresses = server.addrs();
    Ok((server.run(), addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_paths() {
        assert!(matches!(
            health_check("/mercure/health/ready"),
            Some(Check::Ready)
        ));
        assert!(matches!(
            health_check("/mercure/health/live/"),
            Some(Check::Live)
        ));
        assert!(matches!(
            health_check("/mercure/health/default/ready"),
            Some(Check::Ready)
        ));
        assert!(health_check("/mercure/health/other/ready").is_none());
        assert!(health_check("/mercure/health/").is_none());
    }
}
