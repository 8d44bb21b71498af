//! Request metrics the HTTP plugin keeps when a metrics section exists
//! (names as RoadRunner's http_metrics middleware uses).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type StatusLabel = Vec<(&'static str, String)>;

/// Counters, a latency histogram and the in-flight gauge.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<StatusLabel, Counter>,
    duration: Family<StatusLabel, Histogram>,
    in_flight: Gauge,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
            }),
            in_flight: Gauge::default(),
        }
    }
}

impl HttpMetrics {
    /// Adds them to a registry as `rr_http_request_total`,
    /// `rr_http_request_duration_seconds` and `rr_http_requests_in_flight`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "rr_http_request",
            "HTTP requests by status code",
            self.requests.clone(),
        );
        registry.register(
            "rr_http_request_duration_seconds",
            "HTTP request duration by status code",
            self.duration.clone(),
        );
        registry.register(
            "rr_http_requests_in_flight",
            "HTTP requests being served",
            self.in_flight.clone(),
        );
    }

    pub(crate) fn started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    pub(crate) fn finished(&self, status: u16, seconds: f64) {
        let label = vec![("status", status.to_string())];
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
