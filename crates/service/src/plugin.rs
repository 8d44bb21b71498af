//! The `service` plugin on the host: present when the config has a
//! `service` section (as in RoadRunner; `service: {}` runs none and still
//! offers `service.Create`), it starts the configured services, registers
//! the `service` RPC service and stops every process at the server's stop.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};

use crate::config::{plan_services, ServiceSpec};
use crate::group::Services;
use crate::process::Ctx;
use crate::rpc::ServiceRpc;

/// The `service` plugin.
#[derive(Clone, Copy, Default)]
pub struct ServicePlugin;

struct PlannedServices {
    specs: Vec<ServiceSpec>,
    grace: Duration,
    dir: std::path::PathBuf,
}

struct RunningServices {
    services: Arc<Services>,
}

impl Plugin for ServicePlugin {
    fn name(&self) -> &'static str {
        "service"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let specs = plan_services(plan)?;
        let grace = plan.config().endure.grace_period;
        let dir = plan.working_dir().to_path_buf();
        plan.is_clean()
            .then(|| Box::new(PlannedServices { specs, grace, dir }) as Box<dyn Planned>)
    }
}

impl Planned for PlannedServices {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let lifecycle = start.registry.lifecycle().clone();
            let ctx = Arc::new(Ctx {
                tracker: start.tracker.clone(),
                force: lifecycle.force().clone(),
                lifecycle: lifecycle.clone(),
                grace: self.grace,
                stopping_since: OnceLock::new(),
            });
            // Notes when the server's stop begins: the processes must be
            // gone before the grace deadline counted from then.
            let watcher = ctx.clone();
            let mine = start.shutdown.clone();
            start.tracker.spawn(async move {
                tokio::select! {
                    biased;
                    () = watcher.lifecycle.shutdown().cancelled() => {
                        let _ = watcher.stopping_since.set(Instant::now());
                    }
                    () = mine.cancelled() => {}
                }
            });
            let services = Arc::new(Services::new(ctx, start.shutdown.clone()));
            let count = self.specs.len();
            services.start_configured(self.specs).await;
            start.registry.add_service(Arc::new(ServiceRpc::new(
                services.clone(),
                start.tracker.clone(),
                self.dir,
            )));
            tracing::info!(target: "coyote::service", services = count, "service plugin started");
            Ok(Box::new(RunningServices { services }) as Box<dyn Running>)
        })
    }
}

impl Running for RunningServices {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.services.stop_all().await })
    }

    fn pending(&self) -> String {
        match self.services.running() {
            0 => String::new(),
            n => format!("{n} service processes"),
        }
    }
}
