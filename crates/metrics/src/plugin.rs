//! The `metrics` plugin: plans `metrics.address` and the collectors of
//! `metrics.collect` (declared while planning, so a bad one stops the
//! start), then serves every pool's and plugin's metrics and the `metrics`
//! RPC service.

use std::sync::Arc;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};

use crate::{CollectorSpec, CollectorType, Metrics, MetricsService, UserMetrics};

/// The `metrics` plugin.
pub struct MetricsPlugin;

struct PlannedMetrics {
    address: String,
    user: Arc<UserMetrics>,
}

struct RunningMetrics;

impl Running for RunningMetrics {}

impl Plugin for MetricsPlugin {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let section = plan.config().metrics.as_ref()?;
        let address = plan.tcp_address("metrics.address", &section.address);
        let user = Arc::new(UserMetrics::default());
        for (name, c) in &section.collect {
            let spec = CollectorSpec {
                namespace: c.namespace.clone(),
                subsystem: c.subsystem.clone(),
                kind: match c.kind {
                    coyote_config::CollectorType::Counter => CollectorType::Counter,
                    coyote_config::CollectorType::Gauge => CollectorType::Gauge,
                    coyote_config::CollectorType::Histogram => CollectorType::Histogram,
                    coyote_config::CollectorType::Summary => CollectorType::Summary,
                },
                help: c.help.clone(),
                labels: c.labels.clone(),
                buckets: c.buckets.clone(),
                objectives: c
                    .objectives
                    .iter()
                    .map(|(q, e)| (q.to_string(), *e))
                    .collect(),
            };
            if let Err(e) = user.declare(name, &spec) {
                plan.problem(&format!("metrics.collect.{name}"), e.to_string());
            }
        }
        Some(Box::new(PlannedMetrics {
            address: address?,
            user,
        }))
    }
}

impl Planned for PlannedMetrics {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let registry = start.registry.clone();
            let listener = registry
                .bind_tcp("metrics", "metrics", &self.address)
                .await?;
            let sources = registry.clone();
            let metrics = Arc::new(Metrics::new(self.user.clone(), move |r| {
                Metrics::register_pools(r, sources.pools().snapshot());
                sources.register_metrics(r);
            }));
            registry.add_service(Arc::new(MetricsService::new(self.user)));
            start.tracker.spawn(crate::serve(
                metrics,
                listener,
                start.shutdown.clone(),
                start.tracker.clone(),
            ));
            Ok(Box::new(RunningMetrics) as Box<dyn Running>)
        })
    }
}
