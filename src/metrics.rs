//! Prometheus metrics (protocol.md C-MET-1 … C-MET-3): the reference hub's three, plus
//! Quicksilver's own under `quicksilver_`. No metric has a per-topic or per-subscriber label.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Why a subscription stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// The client went away.
    Client,
    /// Its queue overflowed: it could not keep up (C-SLOW-1).
    SlowConsumer,
    /// `write_timeout` was reached (C-TMO-1).
    Timeout,
    /// Its token expired (A-AUTH-14).
    TokenExpiry,
    /// The hub shut down.
    Shutdown,
    /// Reading the history for its replay failed.
    StorageError,
}

const DISCONNECTS: [(Disconnect, &str); 6] = [
    (Disconnect::Client, "client"),
    (Disconnect::SlowConsumer, "slow_consumer"),
    (Disconnect::Timeout, "timeout"),
    (Disconnect::TokenExpiry, "token_expiry"),
    (Disconnect::Shutdown, "shutdown"),
    (Disconnect::StorageError, "storage_error"),
];

/// Upper bounds of the publish latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// The hub's counters: plain atomics, bumped on the publish and subscribe paths without a lock.
#[derive(Debug, Default)]
pub struct Metrics {
    subscribers_connected: AtomicU64,
    subscribers_total: AtomicU64,
    updates_total: AtomicU64,
    deliveries_total: AtomicU64,
    disconnects: [AtomicU64; DISCONNECTS.len()],
    publish_latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    publish_latency_count: AtomicU64,
    publish_latency_sum_nanos: AtomicU64,
}

/// Values read from elsewhere at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Events the history retains now.
    pub history_events: u64,
    /// Faults the history has met since it was opened.
    pub history: crate::log::LogFaults,
    /// Reconnections of a Redis feed (`None` without Redis: the metric is not shown).
    pub redis_reconnects: Option<u64>,
    /// Counters kept by the HTTP layer for the whole process (R-FLOOD).
    pub connections_timed_out: u64,
    /// Connections without a complete request head closed near the descriptor limit.
    pub connections_shed: u64,
}

impl Metrics {
    /// A subscription was registered.
    pub fn subscriber_connected(&self) {
        self.subscribers_total.fetch_add(1, Ordering::Relaxed);
        self.subscribers_connected.fetch_add(1, Ordering::Relaxed);
    }

    /// A subscription ended, counted by why.
    pub fn subscriber_disconnected(&self, reason: Disconnect) {
        self.subscribers_connected.fetch_sub(1, Ordering::Relaxed);
        if let Some(index) = DISCONNECTS.iter().position(|(r, _)| *r == reason) {
            self.disconnects[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A successful publish (subscription events are not counted, C-MET-2).
    pub fn published(&self, latency: Duration) {
        self.updates_total.fetch_add(1, Ordering::Relaxed);
        let seconds = latency.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|le| seconds <= *le) {
            self.publish_latency_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.publish_latency_count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.publish_latency_sum_nanos
            .fetch_add(nanos, Ordering::Relaxed);
    }

    /// Updates handed to subscriber queues, added once per publish.
    pub fn delivered(&self, count: u64) {
        self.deliveries_total.fetch_add(count, Ordering::Relaxed);
    }

    /// `mercure_subscribers_connected`.
    pub fn subscribers_connected(&self) -> u64 {
        self.subscribers_connected.load(Ordering::Relaxed)
    }

    /// `mercure_updates_total`: successful publishes, subscription events excluded (C-MET-2).
    pub fn updates_total(&self) -> u64 {
        self.updates_total.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition format.
    pub fn render(&self, gauges: Gauges) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            );
        };
        metric(
            "mercure_subscribers_connected",
            "gauge",
            "The number of currently connected subscribers.",
            load(&self.subscribers_connected),
        );
        metric(
            "mercure_subscribers_total",
            "counter",
            "The total number of subscribers accepted since start.",
            load(&self.subscribers_total),
        );
        metric(
            "mercure_updates_total",
            "counter",
            "The total number of updates published since start.",
            load(&self.updates_total),
        );
        metric(
            "quicksilver_deliveries_total",
            "counter",
            "Updates handed to subscriber connections.",
            load(&self.deliveries_total),
        );
        metric(
            "quicksilver_history_events",
            "gauge",
            "Events currently retained in the history.",
            gauges.history_events,
        );
        metric(
            "quicksilver_history_write_failures_total",
            "counter",
            "Writes to the history store that failed (publishes are refused with 503 until writing works again).",
            gauges.history.write_failures,
        );
        metric(
            "quicksilver_history_events_lost_total",
            "counter",
            "Acknowledged events that could never be written (durability = \"periodic\" only).",
            gauges.history.events_lost,
        );
        if let Some(reconnects) = gauges.redis_reconnects {
            metric(
                "quicksilver_redis_reconnects_total",
                "counter",
                "Times the Redis feed connected again after losing its connection.",
                reconnects,
            );
        }
        metric(
            "quicksilver_connections_timed_out_total",
            "counter",
            "Connections closed for not completing a request head within request_timeout.",
            gauges.connections_timed_out,
        );
        metric(
            "quicksilver_connections_shed_total",
            "counter",
            "Connections without a complete request head closed early near the descriptor limit.",
            gauges.connections_shed,
        );
        out.push_str(
            "# HELP quicksilver_disconnects_total Subscription streams ended, by reason.\n",
        );
        out.push_str("# TYPE quicksilver_disconnects_total counter\n");
        for ((_, label), count) in DISCONNECTS.iter().zip(&self.disconnects) {
            let _ = writeln!(
                out,
                "quicksilver_disconnects_total{{reason=\"{label}\"}} {}",
                load(count)
            );
        }
        self.render_latency(&mut out);
        out
    }

    fn render_latency(&self, out: &mut String) {
        let name = "quicksilver_publish_duration_seconds";
        let _ = write!(
            out,
            "# HELP {name} Time from a valid publish request to its acknowledgement (stored, dispatched, durable).\n# TYPE {name} histogram\n"
        );
        let mut cumulative = 0;
        for (le, count) in LATENCY_BUCKETS.iter().zip(&self.publish_latency_buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let total = self.publish_latency_count.load(Ordering::Relaxed);
        let sum = self.publish_latency_sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = write!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {total}\n{name}_sum {sum}\n{name}_count {total}\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_reference_names_and_types() {
        let metrics = Metrics::default();
        metrics.subscriber_connected();
        metrics.subscriber_connected();
        metrics.subscriber_disconnected(Disconnect::SlowConsumer);
        metrics.published(Duration::from_micros(300));
        metrics.delivered(5);
        let text = metrics.render(Gauges {
            history_events: 9,
            connections_timed_out: 2,
            connections_shed: 3,
            ..Gauges::default()
        });
        assert!(text.contains(
            "# TYPE mercure_subscribers_connected gauge\nmercure_subscribers_connected 1\n"
        ));
        assert!(text
            .contains("# TYPE mercure_subscribers_total counter\nmercure_subscribers_total 2\n"));
        assert!(text.contains("# TYPE mercure_updates_total counter\nmercure_updates_total 1\n"));
        assert!(text.contains("quicksilver_disconnects_total{reason=\"slow_consumer\"} 1\n"));
        assert!(text.contains("quicksilver_deliveries_total 5\n"));
        assert!(text.contains("quicksilver_history_events 9\n"));
        assert!(text.contains(
            "# TYPE quicksilver_connections_timed_out_total counter\nquicksilver_connections_timed_out_total 2\n"
        ));
        assert!(text.contains("quicksilver_connections_shed_total 3\n"));
        assert!(text.contains("quicksilver_publish_duration_seconds_bucket{le=\"0.00025\"} 0\n"));
        assert!(text.contains("quicksilver_publish_duration_seconds_bucket{le=\"0.0005\"} 1\n"));
        assert!(text.contains("quicksilver_publish_duration_seconds_count 1\n"));
        assert!(!text.contains("quicksilver_redis_reconnects_total"));
    }

    #[test]
    fn renders_redis_reconnects_only_with_redis() {
        let text = Metrics::default().render(Gauges {
            history_events: 0,
            redis_reconnects: Some(3),
            ..Gauges::default()
        });
        assert!(text.contains(
            "# TYPE quicksilver_redis_reconnects_total counter\nquicksilver_redis_reconnects_total 3\n"
        ));
    }
}
