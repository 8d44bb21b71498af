//! The `status` plugin: plans `status.address`, serves `/health` and
//! `/ready` for every plugin that registered a check.

use std::sync::Arc;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};

use crate::Status;

/// The `status` plugin.
pub struct StatusPlugin;

struct PlannedStatus {
    address: String,
    unavailable: u16,
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
            let jobs = registry.jobs().clone();
            let endpoint = Arc::new(
                Status::live(move || checks.checkers(), self.unavailable, stopping).with_jobs(
                    move || {
                        let all = jobs.all();
                        (!all.is_empty()).then(|| {
                            all.into_values()
                                .flat_map(|v| match v {
                                    serde_json::Value::Array(items) => items,
                                    other => vec![other],
                                })
                                .collect()
                        })
                    },
                ),
            );
            start.tracker.spawn(endpoint.serve(
                listener,
                start.shutdown.clone(),
                start.tracker.clone(),
            ));
            Ok(Box::new(RunningStatus) as Box<dyn Running>)
        })
    }
}
