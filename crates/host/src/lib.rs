//! Coyote's plugin host. Each plugin (http, rpc, status, metrics, jobs,
//! ...) is a value with a [`Plugin`] role: it *plans* its options from its
//! configuration section (pure: files may be stat'ed, nothing starts or
//! binds), and only when every plugin planned without a problem does the
//! host *start* them, in registration order, each under its own shutdown
//! token and task tracker. A stop signal stops them in reverse order under
//! one deadline (`endure.grace_period`); past it the host logs what each
//! plugin abandoned and kills every worker.
//!
//! ```no_run
//! use coyote_host::{Host, RpcPlugin};
//! # fn plugins(host: Host) -> Host { host }
//! let host = plugins(Host::new().with(RpcPlugin));
//! // let plan = host.plan(&loaded, working_dir)?;   // exit 3 on problems
//! // plan.run(Lifecycle::new(), None).await?;       // exit 1 on failure
//! ```
//!
//! # Layout
//! - `plugin`: the [`Plugin`] / [`Planned`] / [`Running`] roles.
//! - `plan`: [`Plan`], what a plugin sees while planning; problems at a key.
//! - `start`: [`Start`], what a plugin gets when it starts; the
//!   [`Registry`] of pools, RPC services, metrics and [`Checker`]s plugins
//!   share.
//! - `host`: [`Host`] (registration, planning) and [`HostPlan`] (start,
//!   signals, the shutdown tree under the grace deadline).
//! - `rpc`: the [`RpcPlugin`] (the RPC listener every service goes through).
//! - `accept`: [`accept::Backoff`], what every accept loop does on errors.
//! - `endpoint`: [`endpoint::serve_http`], the small HTTP endpoints
//!   (`status`, `metrics`) with header-read / idle deadlines.
//! - `pools`: `server` + `<plugin>.pool` sections -> [`coyote_pool::PoolOptions`].
//! - `users`: user / group names -> uid / gid.
//! - `on_init`: the one-shot command run before any plugin starts.
//! - `logging`: `logs` -> a tracing subscriber.
//! - `lifecycle`: [`Phase`], observable on a watch channel and in the
//!   `--report` file, and the signals that drive it.
//! - `sd_notify`: [`Notifier`], systemd's `READY=1` / `STOPPING=1`.
//! - `error`: [`ServerError`].

pub mod accept;
pub mod endpoint;
mod error;
mod host;
pub mod lifecycle;
pub mod logging;
mod on_init;
mod plan;
mod plugin;
mod pools;
mod rpc;
pub mod sd_notify;
mod start;
mod users;

pub use error::ServerError;
pub use host::{Host, HostError, HostPlan};
pub use lifecycle::{Lifecycle, Phase};
pub use on_init::run_on_init;
pub use plan::Plan;
pub use plugin::{BoxFuture, Planned, Plugin, Running, StartError};
pub use pools::pool_options;
pub use rpc::RpcPlugin;
pub use sd_notify::Notifier;
pub use start::{Checker, Registry, Start};
pub use users::resolve_user;
