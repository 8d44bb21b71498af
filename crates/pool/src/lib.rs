//! Coyote's worker pool: the embeddable library at the heart of the server.
//!
//! A [`Pool`] starts worker processes (PHP or any language speaking
//! RoadRunner's goridge protocol), hands them [`Payload`]s and returns
//! their [`Response`]s, and supervises them: it replaces workers that die,
//! retires them at `max_jobs` / `ttl` / `idle_ttl` / `max_worker_memory`,
//! kills them at `exec_ttl`, grows under load (dynamic allocator), swaps
//! them all without failing work ([`Pool::reset`]) and stops them
//! gracefully ([`Pool::shutdown`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), coyote_pool::PoolError> {
//! use coyote_pool::{Payload, Pool, PoolOptions, WorkerCommand};
//! let pool = Pool::start(PoolOptions {
//!     command: WorkerCommand::from_line("php worker.php").mode("http"),
//!     num_workers: 4,
//!     ..PoolOptions::default()
//! })
//! .await?;
//! let answer = pool.exec(Payload::raw("{}", "hello")).await?;
//! assert_eq!(answer.body, "hello");
//! pool.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `options`: plain option structs with RoadRunner's defaults.
//! - `relay`: frame I/O over pipes / tcp / unix, the handshake, and the
//!   listener that matches socket connections to spawned pids.
//! - `spawn`: process start (environment, process group, user), the exit
//!   watcher (which SIGKILLs the worker's process group whenever the
//!   worker ends), a failed start's report.
//! - `pipe`: the worker's stdout pipe (pipes relay): reads bounded by the
//!   pipe's capacity, what a starting worker printed instead of the
//!   handshake, output that arrives while the worker is idle.
//! - `forward`: the stderr (and socket relays' stdout) forwarding tasks;
//!   long lines are logged in 64 KiB pieces.
//! - `boot`: what a starting worker wrote, for [`PoolError::Boot`].
//! - `worker`: a worker's shared state and the owned handle used to exec.
//! - `pool`: taking and giving back workers, one execution on the caller's
//!   task.
//! - `lease`: a worker lent to one execution (write, bounded reads, give
//!   back, drain or kill however it ends).
//! - `queue`: idle workers and waiting callers, by home shard.
//! - `shards`: one pinned single-threaded runtime per CPU ([`Shards`]);
//!   [`Pool::start_sharded`] spreads workers over them.
//! - `stream`: streamed answers, cancelled with STOP when dropped.
//! - `supervisor`: the pool's background task (replacement with backoff,
//!   soft limits, dynamic allocator, rolling reset, draining).
//! - `stats`: RSS and CPU from `/proc`.
//! - `meter`: requests, errors and a latency histogram in atomics
//!   ([`Pool::meter`]), for the dashboard.
//!
//! # Hot path
//! An execution runs entirely on the caller's task: pop an idle worker
//! (one uncontended mutex), one `write` of the encoded frame, one or more
//! `read`s into a per-worker buffer, push the worker back (handing it
//! directly to the oldest waiter if there is one). No channel or relay
//! task sits between the caller and the pipe. On a sharded pool the
//! caller's own shard's workers come first, so the whole exchange stays on
//! one thread and one CPU.

mod boot;
mod error;
mod forward;
mod lease;
pub mod meter;
mod options;
mod pipe;
mod pool;
mod queue;
mod relay;
mod shards;
mod spawn;
pub mod stats;
mod stream;
mod supervisor;
mod worker;

pub use error::{BootStatus, Fault, PoolError, ProtocolError, SpawnError};
pub use forward::forward_output;
pub use meter::{Meter, Reading};
pub use options::{DynamicOptions, PoolOptions, RelayAddress, SupervisorOptions, WorkerCommand};
pub use pool::{Payload, Pool};
pub use shards::Shards;
pub use spawn::worker_process;
pub use stream::ResponseStream;
pub use worker::{Response, WorkerInfo, WorkerStatus};
