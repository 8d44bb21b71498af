//! The `tcp` plugin on the host: plans the section, starts the pool
//! (`RR_MODE=tcp`), binds every server (the bound addresses are logged and
//! reported as `listen tcp <name> <addr>`), registers the `tcp` service,
//! and on stop closes every connection, waits for their CLOSE events, then
//! stops the pool.

use std::sync::Arc;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};
use coyote_listener::{Address, Listener};
use coyote_pool::{Pool, RelayAddress};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{self, TcpOptions};
use crate::connection::{self, Shared};
use crate::{Connections, TcpService};

/// The `tcp` plugin.
#[derive(Clone, Copy, Default)]
pub struct TcpPlugin;

struct PlannedTcp(TcpOptions);

struct RunningTcp {
    pool: Pool,
    /// The accept loops and the connections (spawned on the plugin's
    /// tracker, counted here so the pool stops after the last CLOSE).
    conns: TaskTracker,
    table: Connections,
}

impl Plugin for TcpPlugin {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        config::plan(plan).map(|opts| Box::new(PlannedTcp(opts)) as Box<dyn Planned>)
    }
}

impl Planned for PlannedTcp {
    fn pipe_workers(&self) -> usize {
        let pool = &self.0.pool;
        if pool.relay == RelayAddress::Pipes && !pool.debug {
            pool.effective_workers()
        } else {
            0
        }
    }

    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let TcpOptions {
                servers,
                read_buf_size,
                pool,
            } = self.0;
            let pool = Pool::start(pool).await?;
            let mut listeners = Vec::with_capacity(servers.len());
            for server in servers {
                match Listener::bind(&Address::Tcp(server.addr.clone())).await {
                    Ok(listener) => listeners.push((Arc::new(server), listener)),
                    Err(e) => {
                        pool.shutdown().await;
                        return Err(format!("tcp.servers.{}: {e}", server.name).into());
                    }
                }
            }
            let table = Connections::default();
            let conns = TaskTracker::new();
            for (server, listener) in listeners {
                start.registry.listening(
                    "tcp",
                    &server.name,
                    &listener
                        .local_addr()
                        .tcp()
                        .map_or_else(|| listener.local_addr().to_string(), |a| a.to_string()),
                );
                let shared = Shared {
                    server,
                    read_buf_size,
                    pool: pool.clone(),
                    table: table.clone(),
                };
                let accept = accept_loop(
                    listener,
                    shared,
                    start.shutdown.clone(),
                    start.tracker.clone(),
                    conns.clone(),
                );
                start.tracker.spawn(conns.track_future(accept));
            }
            conns.close();
            start.registry.add_pool("tcp", pool.clone());
            start
                .registry
                .add_service(Arc::new(TcpService::new(table.clone())));
            Ok(Box::new(RunningTcp { pool, conns, table }) as Box<dyn Running>)
        })
    }
}

/// Accepts until the plugin's shutdown; each connection on its own task.
async fn accept_loop(
    listener: Listener,
    shared: Shared,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    conns: TaskTracker,
) {
    while let Some((stream, peer)) = listener.accept(&shutdown).await {
        let conn = connection::serve(stream, peer, shared.clone(), shutdown.clone());
        tracker.spawn(conns.track_future(conn));
    }
}

impl Running for RunningTcp {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The shutdown token has fired: the accept loops end, every
            // connection closes once its event at a worker is answered and
            // sends CLOSE; then the workers stop.
            self.conns.wait().await;
            self.pool.shutdown().await;
        })
    }

    fn pending(&self) -> String {
        format!("{} connections", self.table.len())
    }
}
