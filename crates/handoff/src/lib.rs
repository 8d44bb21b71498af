//! The `handoff` plugin: PHP workers that accept and serve their own
//! connections (the design of duyler/worker-pool and Workerman), next to
//! the goridge pools. Coyote never sits between a client and a worker:
//! in `reuseport` mode the kernel balances connections over one
//! `SO_REUSEPORT` socket per worker; in `fd_passing` mode Coyote accepts
//! and passes each descriptor to the worker its balancer picks
//! (`SCM_RIGHTS` over a `SOCK_SEQPACKET` control socket, fd 3). The
//! configuration, the worker's protocol and the guarantees are in
//! `docs/handoff.md`.
//!
//! # Layout
//! - `config`: the section -> [`HandoffOptions`], every problem at its key.
//! - `cpus`: `num_workers: 0` -> CPUs under the cgroup v2 quota.
//! - `message`: the control frames (handshake, connection, report, stop).
//! - `control`: [`Control`], the control socket (`sendmsg` / `recvmsg`
//!   with `SCM_RIGHTS`, non-blocking under tokio).
//! - `worker`: one worker process: spawn (fds 3 and 4), handshake, its task.
//! - `group`: one listener's live state.
//! - `supervisor`: slots kept filled; replacement, limits, reset, stop.
//! - `reuseport`: listening sockets, `tcp_migrate_req`.
//! - `balancer`: [`Balancer`], least connections / round robin / ip hash.
//! - `table`: the passed descriptors, watched by epoll for hang-ups.
//! - `fdpass`: accept, queue, dispatch, overflow.
//! - `metrics`: the Prometheus figures, by listener.
//! - `plugin`: [`HandoffPlugin`] on the host, the informer / resetter source.
//! - `error`: [`HandoffError`].

mod balancer;
mod config;
mod control;
pub mod cpus;
mod error;
mod fdpass;
mod group;
pub mod message;
mod metrics;
mod plugin;
mod reuseport;
mod supervisor;
mod table;
mod worker;

pub use balancer::{Balancer, Candidate};
pub use config::{
    BalancerKind, HandoffOptions, ListenerSpec, Mode, Overflow, DEFAULT_BACKLOG, DEFAULT_MAX_QUEUE,
};
pub use control::{Control, Received};
pub use error::HandoffError;
pub use fdpass::HTTP_503;
pub use plugin::HandoffPlugin;
pub use worker::{CONTROL_FD, LISTEN_FD};
