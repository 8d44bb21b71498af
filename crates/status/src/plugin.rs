//! The `status` plugin: plans `status.address`, serves `/health` and
//! `/ready` for every plugin that registered a check, and the dashboard.

use std::sync::Arc;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};

use crate::{Dashboard, Status};

/// The `status` plugin.
pub struct StatusPlugin;

struct PlannedStatus {
    address: String,
    unavailable: u16,
    /// `Some(token)` when the dashboard is on (empty token: no actions).
    dashboard: Option<String>,
}

struct RunningStatus;

impl Running for RunningStatus {}

impl Plugin for StatusPlugin {
    fn name(&self) -> &'static str {
        "status"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let status = plan.config().status.as_ref()?;
        let address = plan.tcp_address("status.address", &status.address)?;
        Some(Box::new(PlannedStatus {
            address,
            unavailable: status.unavailable_status_code,
            dashboard: status
                .dashboard
                .enabled
                .then(|| status.dashboard.token.clone()),
        }))
    }
}

impl Planned for PlannedStatus {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let registry = start.registry.clone();
            let listener = registry.bind_tcp("status", "status", &self.address).await?;
            let stopping = registry.lifecycle().shutdown().clone();
            let checks = registry.clone();
            let jobs = registry.clone();
            let mut status = Status::live(move || checks.checkers(), self.unavailable, stopping)
                .with_jobs(move || {
                    (!jobs.jobs().all().is_empty())
                        .then(|| crate::dashboard::pipeline_states(&jobs))
                });
            if let Some(token) = &self.dashboard {
                let source = Arc::new(crate::dashboard::RegistrySource(registry.clone()));
                let dashboard = Dashboard::new(source, token, start.shutdown.clone());
                start.tracker.spawn(dashboard.clone().run());
                status = status.with_dashboard(dashboard);
                tracing::debug!(target: "coyote::status", actions = !token.is_empty(), "dashboard at /dashboard");
            }
            let endpoint = Arc::new(status);
            start.tracker.spawn(endpoint.serve(
                listener,
                start.shutdown.clone(),
                start.tracker.clone(),
            ));
            Ok(Box::new(RunningStatus) as Box<dyn Running>)
        })
    }
}
