//! The `rpc` plugin: the goridge RPC listener (`rpc.listen`) dispatching
//! to every service plugins register, plus the host's own: `informer` and
//! `resetter` over the registered pools, and the `app` logger. It lives in
//! the host because every other plugin's services go through it.

use std::sync::Arc;

use coyote_rpc::services::{AppLogger, Informer, Resetter};
use coyote_rpc::RpcServer;

use crate::plugin::{BoxFuture, Planned, Plugin, Running, StartError};
use crate::{Plan, Start};

/// The `rpc` plugin.
pub struct RpcPlugin;

struct PlannedRpc {
    address: String,
}

struct RunningRpc;

impl Running for RunningRpc {}

impl Plugin for RpcPlugin {
    fn name(&self) -> &'static str {
        "rpc"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let rpc = plan.config().rpc.as_ref()?;
        Some(Box::new(PlannedRpc {
            address: rpc.listen.dsn(),
        }))
    }
}

impl Planned for PlannedRpc {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let server = RpcServer::bind(&self.address)
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", self.address))?;
            let registry = &start.registry;
            registry.add_service(Arc::new(
                Informer::new(registry.pools().clone()).with_jobs(registry.jobs().clone()),
            ));
            registry.add_service(Arc::new(Resetter::new(registry.pools().clone())));
            registry.add_service(Arc::new(AppLogger));
            registry.listening("rpc", "rpc", server.address());
            start.tracker.spawn(server.serve(
                registry.services().clone(),
                start.shutdown.clone(),
                start.tracker.clone(),
            ));
            Ok(Box::new(RunningRpc) as Box<dyn Running>)
        })
    }
}
