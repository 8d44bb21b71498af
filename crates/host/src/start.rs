//! What a plugin is handed when it starts: its own shutdown token and task
//! tracker, the event-loop shards, and the [`Registry`] through which
//! plugins share pools, RPC services, metrics and health checks.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use coyote_pool::{Pool, Shards, WorkerStatus};
use coyote_rpc::services::{Pools, Reports, WorkerSource};
use coyote_rpc::{Service, Services};
use prometheus_client::registry::Registry as MetricsRegistry;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lifecycle::Lifecycle;

/// The start context of one plugin.
pub struct Start {
    /// The plugin's name.
    pub name: &'static str,
    /// Cancelled when it is this plugin's turn to stop (plugins stop in
    /// reverse start order): stop accepting, then drain.
    pub shutdown: CancellationToken,
    /// Every task of the plugin goes here; the host waits for it.
    pub tracker: TaskTracker,
    /// Event-loop shards for pools over pipes (`None`: one event loop).
    pub shards: Option<Shards>,
    /// What plugins share.
    pub registry: Registry,
}

/// Liveness and readiness of one plugin, as `status` reports them.
pub trait Checker: Send + Sync {
    /// HTTP-like code for liveness (200 alive, 503 not).
    fn health(&self) -> u16;
    /// HTTP-like code for readiness (200 can serve now, 503 not).
    fn ready(&self) -> u16;
}

impl Checker for Pool {
    fn health(&self) -> u16 {
        let alive = self
            .workers()
            .iter()
            .any(|w| matches!(w.status, WorkerStatus::Ready | WorkerStatus::Working));
        if alive {
            200
        } else {
            503
        }
    }

    fn ready(&self) -> u16 {
        if self.idle_count() > 0 {
            200
        } else {
            503
        }
    }
}

type MetricsHook = Arc<dyn Fn(&mut MetricsRegistry) + Send + Sync>;

#[derive(Default)]
struct Shared {
    checkers: BTreeMap<String, Arc<dyn Checker>>,
    metrics: Vec<MetricsHook>,
}

/// What plugins share, live: a plugin that starts later adds its pool,
/// services, collectors and checks, and every reader sees them from then on.
#[derive(Clone)]
pub struct Registry {
    pools: Pools,
    services: Services,
    jobs: Reports,
    shared: Arc<RwLock<Shared>>,
    lifecycle: Lifecycle,
}

impl Registry {
    pub(crate) fn new(lifecycle: Lifecycle) -> Self {
        Self {
            pools: Pools::new(),
            services: Services::new(),
            jobs: Reports::new(),
            shared: Arc::default(),
            lifecycle,
        }
    }

    /// Registers the pipeline states of a jobs plugin (`informer.Jobs`,
    /// `status /jobs`): `states` answers a JSON array of RoadRunner's
    /// `jobs.State` objects.
    pub fn add_jobs(
        &self,
        plugin: &str,
        states: impl Fn() -> serde_json::Value + Send + Sync + 'static,
    ) {
        self.jobs.insert(plugin, Arc::new(states));
    }

    /// The jobs plugins' state reports.
    pub fn jobs(&self) -> &Reports {
        &self.jobs
    }

    /// Registers the worker pool of `plugin`: it shows in `informer`,
    /// `resetter`, `coyote workers`, metrics, SIGHUP resets, and (unless
    /// the plugin adds its own) `status` checks.
    pub fn add_pool(&self, plugin: &str, pool: Pool) {
        self.pools.insert(plugin, pool.clone());
        let mut shared = self.write();
        shared
            .checkers
            .entry(plugin.to_owned())
            .or_insert_with(|| Arc::new(pool));
    }

    /// Registers the workers of `plugin` that are not a goridge pool (the
    /// handoff listeners'): they show in `informer`, `resetter`,
    /// `coyote workers` and SIGHUP resets.
    pub fn add_workers(&self, plugin: &str, source: Arc<dyn WorkerSource>) {
        self.pools.insert_source(plugin, source);
    }

    /// Registers an RPC service.
    pub fn add_service(&self, service: Arc<dyn Service>) {
        self.services.add(service);
    }

    /// Registers (or replaces) the health / readiness check of `plugin`.
    pub fn add_checker(&self, plugin: &str, checker: Arc<dyn Checker>) {
        self.write().checkers.insert(plugin.to_owned(), checker);
    }

    /// Registers metrics: `register` is called with the registry of every
    /// scrape.
    pub fn add_metrics(&self, register: impl Fn(&mut MetricsRegistry) + Send + Sync + 'static) {
        self.write().metrics.push(Arc::new(register));
    }

    /// The live set of pools.
    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// The live set of RPC services.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The checks, by plugin name.
    pub fn checkers(&self) -> BTreeMap<String, Arc<dyn Checker>> {
        self.read().checkers.clone()
    }

    /// Calls every metrics registration with `registry`.
    pub fn register_metrics(&self, registry: &mut MetricsRegistry) {
        let hooks = self.read().metrics.clone();
        for hook in hooks {
            hook(registry);
        }
    }

    /// The server's lifecycle (phase, and the token cancelled when the
    /// graceful stop begins).
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// Logs that `plugin` listens on `address` (the bound one: port 0
    /// resolved) and reports it to the `--report` file.
    pub fn listening(&self, plugin: &str, what: &str, address: &str) {
        tracing::info!(target: "coyote::server", plugin, address, "{what} listening");
        self.lifecycle
            .report(&format!("listen {plugin} {what} {address}"));
    }

    /// Binds the TCP listener `what` of `plugin` on `address` (`host:port`,
    /// port 0 fine) and reports the bound address (see
    /// [`Registry::listening`]).
    ///
    /// # Errors
    /// The bind error, naming the address.
    pub async fn bind_tcp(
        &self,
        plugin: &str,
        what: &str,
        address: &str,
    ) -> Result<tokio::net::TcpListener, crate::StartError> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let bound = listener
            .local_addr()
            .map_or_else(|_| address.to_owned(), |a| a.to_string());
        self.listening(plugin, what, &bound);
        Ok(listener)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Shared> {
        self.shared
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Shared> {
        self.shared
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
