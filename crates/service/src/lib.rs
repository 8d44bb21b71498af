//! RoadRunner's `service` plugin: side processes (schedulers, daemons,
//! binaries, PHP scripts) supervised by the server, configured under
//! `service.<name>` or created over RPC (`service.Create`, protobuf
//! `service.v1`, as roadrunner-php/services calls it).
//!
//! Each process runs in its own process group with stdin on /dev/null and
//! its stdout and stderr logged line by line; it is restarted after
//! `restart_sec` when `remain_after_exit`, killed past `exec_timeout`, and
//! stopped with SIGTERM to its group, SIGKILL after `timeout_stop_sec`.
//!
//! # Layout
//! - `plugin`: [`ServicePlugin`] on the host (plan, start, stop).
//! - `config`: the `service` section -> [`config::ServiceSpec`]s, every bad
//!   key reported at its path; the command split.
//! - `group`: [`Services`], the services of a server (create, terminate,
//!   restart, statuses, list), one group of slots each.
//! - `process`: one slot: spawn, wait, exec timeout, restart, backoff, stop.
//! - `output`: stdout/stderr lines into the log.
//! - `rpc`, `proto`: the `service` RPC service and its `service.v1` messages.
//! - `error`: [`ServiceError`].

pub mod config;
mod error;
mod group;
mod output;
mod plugin;
mod process;
pub mod proto;
mod rpc;

pub use error::ServiceError;
pub use group::Services;
pub use plugin::ServicePlugin;
pub use rpc::{ServiceRpc, MAX_SECONDS, METHODS};
