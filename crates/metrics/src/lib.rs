//! The metrics plugin: a Prometheus endpoint (`metrics.address`, path
//! `/metrics`) with the pools' worker metrics, whatever other plugins
//! register (the HTTP plugin's request metrics), and the collectors PHP
//! applications declare over RPC (`metrics.Declare/Add/Sub/Set/Observe/
//! Unregister`, as spiral/roadrunner-metrics sends them) or in
//! `metrics.collect`.
//!
//! # Layout
//! - `pools`: a scrape-time collector over the pools (`rr_<pool>_...`).
//! - `user`: collectors declared at run time, by name, with labels.
//! - `rpc`: the `metrics` RPC service.
//! - `text`: the 0.0.4 text format (the default) from OpenMetrics.
//! - `endpoint`: the HTTP listener (format negotiated by `Accept`).
//! - `plugin`: the [`MetricsPlugin`] (plans `metrics.address` and
//!   `metrics.collect`).

mod endpoint;
mod plugin;
mod pools;
mod rpc;
mod text;
mod user;

use std::collections::BTreeMap;
use std::sync::Arc;

use coyote_pool::Pool;
use prometheus_client::registry::Registry;

pub use rpc::MetricsService;
pub use user::{CollectorSpec, CollectorType, MetricsError, UserMetrics};

type Sources = Box<dyn Fn(&mut Registry) + Send + Sync>;

/// The exposition formats `/metrics` answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus' text format 0.0.4 (`text/plain; version=0.0.4`), the
    /// default, as RoadRunner serves.
    Text,
    /// OpenMetrics 1.0, when the scraper asks for it in `Accept`.
    OpenMetrics,
}

impl Format {
    /// The format an `Accept` header asks for.
    pub fn negotiate(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Text,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Counters of Coyote's plugins whose RoadRunner names do not end in
/// `_total` (in the 0.0.4 format they keep their names as they are).
const BARE_COUNTERS: &[&str] = &["rr_http_uptime_seconds"];

/// What every scrape encodes: the run-time collectors, and whatever
/// `sources` registers at that moment (pools and plugins that started
/// later included).
pub struct Metrics {
    sources: Sources,
    user: Arc<UserMetrics>,
}

impl Metrics {
    /// Metrics with the collectors of `user`; `sources` registers the rest
    /// into the registry of each scrape.
    pub fn new(
        user: Arc<UserMetrics>,
        sources: impl Fn(&mut Registry) + Send + Sync + 'static,
    ) -> Self {
        Self {
            sources: Box::new(sources),
            user,
        }
    }

    /// Registers the worker metrics of `pools` (`rr_<plugin>_total_workers`,
    /// ...) into `registry`.
    pub fn register_pools(registry: &mut Registry, pools: BTreeMap<String, Pool>) {
        registry.register_collector(Box::new(pools::PoolCollector::new(pools)));
    }

    /// The run-time collectors (RPC and `metrics.collect`).
    pub fn user(&self) -> &Arc<UserMetrics> {
        &self.user
    }

    /// The exposition in `format`.
    pub fn render_as(&self, format: Format) -> String {
        let openmetrics = self.render();
        match format {
            Format::OpenMetrics => openmetrics,
            Format::Text => text::from_openmetrics(&openmetrics, &|family| {
                BARE_COUNTERS.contains(&family) || self.user.is_bare_counter(family)
            }),
        }
    }

    /// The exposition text (OpenMetrics).
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        (self.sources)(&mut registry);
        registry.register_collector(Box::new(self.user.clone()));
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry) {
            tracing::error!(target: "coyote::metrics", error = %e, "cannot encode metrics");
        }
        // Summaries are written by hand (prometheus-client has no summary
        // type); they go before the closing `# EOF`.
        let summaries = self.user.render_summaries();
        if !summaries.is_empty() {
            if let Some(stripped) = text.strip_suffix("# EOF\n") {
                text = format!("{stripped}{summaries}# EOF\n");
            } else {
                text.push_str(&summaries);
            }
        }
        text
    }
}

pub use endpoint::serve;
pub use plugin::MetricsPlugin;
