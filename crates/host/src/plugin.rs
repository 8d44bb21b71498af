//! The plugin role: a plugin plans its options from the configuration
//! (pure: nothing runs, nothing binds), then starts under the host's
//! shutdown tree.
//!
//! ```text
//! Plugin::plan(&mut Plan) -> Option<Box<dyn Planned>>   every problem into Plan
//! Planned::start(Start)  -> Box<dyn Running>            spawns on Start::tracker
//! Running::stop()                                        drain, stop workers
//! ```
//!
//! The host starts plugins in registration order and stops them in
//! reverse, all under one `endure.grace_period`.

use std::future::Future;
use std::pin::Pin;

use crate::plan::Plan;
use crate::start::Start;

/// A boxed future, as the plugin traits return them (they are object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a planned plugin could not start (a port taken, a worker that
/// cannot boot): the server stops what already started and exits 1.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// One plugin, as registered with the host.
pub trait Plugin: Send + Sync {
    /// The plugin's name: its configuration section (`http`, `jobs`), its
    /// log target (`coyote::<name>`) and the name operators use.
    fn name(&self) -> &'static str;

    /// Every top-level section the plugin reads (its own, and shared ones
    /// such as the jobs drivers' `amqp` or `nats` connection sections):
    /// the loader keeps them raw without an "unknown section" warning.
    fn sections(&self) -> Vec<&'static str> {
        vec![self.name()]
    }

    /// Reads the configuration and returns the fully validated options,
    /// or `None` when the plugin is not configured. Every problem goes to
    /// [`Plan::problem`] (with its key path); the host refuses to start
    /// when there is any. Files may be read or stat'ed; nothing may be
    /// started, spawned or bound.
    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>>;
}

/// A plugin's validated options, ready to start.
pub trait Planned: Send {
    /// Worker processes this plugin will run over pipes, if any: the host
    /// sizes its event-loop shards by the largest.
    fn pipe_workers(&self) -> usize {
        0
    }

    /// Starts the plugin: spawn pools, bind listeners, register RPC
    /// services, collectors and health checks with [`Start::registry`].
    /// Every task goes on [`Start::tracker`] and watches
    /// [`Start::shutdown`].
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>>;
}

/// A started plugin.
pub trait Running: Send + Sync {
    /// The graceful stop, called after the plugin's shutdown token was
    /// cancelled: finish in-flight work, then stop workers. The host bounds
    /// it by the grace deadline and waits for the plugin's tracker after.
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// What the plugin still holds (`"3 connections, 1 request"`), logged
    /// when the grace deadline abandons it.
    fn pending(&self) -> String {
        String::new()
    }
}
