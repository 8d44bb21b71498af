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
//! - `endpoint`: the HTTP listener.

mod endpoint;
mod pools;
mod rpc;
mod user;

use std::collections::BTreeMap;
use std::sync::Arc;

use coyote_pool::Pool;
use prometheus_client::registry::Registry;

pub use rpc::MetricsService;
pub use user::{CollectorSpec, CollectorType, MetricsError, UserMetrics};

/// The registry every scrape encodes.
pub struct Metrics {
    registry: Registry,
    user: Arc<UserMetrics>,
}

impl Metrics {
    /// A registry with the pools' metrics and room for run-time
    /// collectors; `register` adds anything else before serving.
    pub fn new(pools: BTreeMap<String, Pool>, register: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(pools::PoolCollector::new(pools)));
        let user = Arc::new(UserMetrics::default());
        registry.register_collector(Box::new(user.clone()));
        register(&mut registry);
        Self { registry, user }
    }

    /// The run-time collectors (RPC and `metrics.collect`).
    pub fn user(&self) -> &Arc<UserMetrics> {
        &self.user
    }

    /// The exposition text (OpenMetrics).
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
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
