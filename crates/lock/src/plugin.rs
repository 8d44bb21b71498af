//! The `lock` plugin on the host: present whenever the RPC server is
//! configured (RoadRunner's lock plugin needs no section), it registers the
//! `lock` service and runs the table's one timer task until shutdown.

use std::sync::Arc;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};
use serde::Deserialize;

use crate::{LockService, Locks};

/// The optional `lock:` section.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LockSection {
    /// Only `memory` for now.
    driver: String,
}

impl Default for LockSection {
    fn default() -> Self {
        Self {
            driver: "memory".to_owned(),
        }
    }
}

/// The `lock` plugin.
#[derive(Clone, Copy, Default)]
pub struct LockPlugin;

struct PlannedLock;

struct RunningLock;

impl Plugin for LockPlugin {
    fn name(&self) -> &'static str {
        "lock"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let section = if plan.section("lock").is_some() {
            plan.decode::<LockSection>("lock")?
        } else {
            plan.section("rpc")?;
            LockSection::default()
        };
        if section.driver != "memory" {
            plan.problem(
                "lock.driver",
                format!(
                    "unknown driver {:?}; the only driver is memory",
                    section.driver
                ),
            );
        }
        plan.is_clean()
            .then(|| Box::new(PlannedLock) as Box<dyn Planned>)
    }
}

impl Planned for PlannedLock {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let locks = Arc::new(Locks::new());
            let timer = locks.clone();
            let shutdown = start.shutdown.clone();
            start
                .tracker
                .spawn(async move { timer.run_timer(shutdown).await });
            // The plugin stops before `rpc` (reverse start order): waiting
            // calls answer false then, and the RPC server drains quickly.
            start
                .registry
                .add_service(Arc::new(LockService::new(locks, start.shutdown.clone())));
            tracing::info!(target: "coyote::lock", driver = "memory", "lock plugin started");
            Ok(Box::new(RunningLock) as Box<dyn Running>)
        })
    }
}

impl Running for RunningLock {}
