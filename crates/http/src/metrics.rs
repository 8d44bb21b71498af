//! Request metrics the HTTP plugin keeps when a metrics section exists,
//! named, typed and bucketed as RoadRunner's `http_metrics` middleware
//! exports them: `rr_http_request_total{status}`,
//! `rr_http_request_duration_seconds{status}` (Prometheus' default
//! buckets), `rr_http_requests_queue` (requests in flight),
//! `rr_http_no_free_workers_total` and `rr_http_uptime_seconds`.

use std::sync::Arc;
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// `status="200"`: a number, so finding a request's series allocates
/// nothing (a `String` label cost two allocations per request).
type StatusLabel = [(&'static str, u16); 1];

/// Prometheus' default histogram buckets (client_golang's `DefBuckets`),
/// which RoadRunner's request histogram uses.
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counters, a latency histogram and the in-flight gauge.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<StatusLabel, Counter>,
    duration: Family<StatusLabel, Histogram>,
    in_flight: Gauge,
    no_free_workers: Counter,
    started: Arc<Instant>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS)),
            in_flight: Gauge::default(),
            no_free_workers: Counter::default(),
            started: Arc::new(Instant::now()),
        }
    }
}

/// `rr_http_uptime_seconds`: RoadRunner counts it up once a second from a
/// ticker; here it is read at scrape time (whole seconds since the plugin
/// started), the same values without a task.
#[derive(Debug)]
struct Uptime(Arc<Instant>);

impl Collector for Uptime {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let m = encoder.encode_descriptor(
            "rr_http_uptime_seconds",
            "Uptime in seconds",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(self.0.elapsed().as_secs()).encode(m)
    }
}

impl HttpMetrics {
    /// Adds them to a registry (counter names without `_total`: the
    /// encoder adds it, as Prometheus' clients do).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rr_http_request",
            "Total number of handled http requests after server restart",
            self.requests.clone(),
        );
        registry.register(
            "rr_http_request_duration_seconds",
            "HTTP request duration",
            self.duration.clone(),
        );
        registry.register(
            "rr_http_requests_queue",
            "Total number of queued requests",
            self.in_flight.clone(),
        );
        registry.register(
            "rr_http_no_free_workers",
            "Total number of NoFreeWorkers occurrences",
            self.no_free_workers.clone(),
        );
        registry.register_collector(Box::new(Uptime(self.started.clone())));
    }

    pub(crate) fn started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    /// One answered request; `no_workers` when it was refused for want of
    /// a free worker.
    pub(crate) fn finished(&self, status: u16, seconds: f64, no_workers: bool) {
        if no_workers {
            self.no_free_workers.inc();
        }
        let label = [("status", status)];
        self.requests.get_or_create(&label).inc();
        self.duration.get_or_create(&label).observe(seconds);
    }
}

/// Decrements the in-flight gauge when the request ends, however it ends.
pub(crate) struct InFlight<'a>(&'a HttpMetrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roadrunners_request_families_are_registered() {
        let m = HttpMetrics::default();
        m.finished(200, 0.003, false);
        m.finished(503, 0.001, true);
        let mut r = Registry::default();
        m.register(&mut r);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        for line in [
            "rr_http_request_total{status=\"200\"} 1",
            "rr_http_request_duration_seconds_bucket{le=\"0.005\",status=\"200\"} 1",
            "rr_http_requests_queue 0",
            "rr_http_no_free_workers_total 1",
            "rr_http_uptime_seconds_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            !text.contains("le=\"0.001\""),
            "RoadRunner's buckets only:\n{text}"
        );
    }
}
