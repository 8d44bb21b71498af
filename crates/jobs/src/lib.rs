//! RoadRunner's `jobs` plugin: pipelines of queued jobs consumed by a PHP
//! worker pool of its own (`RR_MODE=jobs`), the `jobs` RPC service the PHP
//! producers call, and the state `informer.Jobs` and `status /jobs` report.
//!
//! # Layout
//! - `job`: [`Job`], its headers, the worker's context.
//! - `reply`: the worker's `{"type":N,"data":{…}}` answer -> [`Reply`].
//! - `driver`: the [`Driver`] role (one per pipeline) and [`Delivery`].
//! - `queue`: [`JobQueue`], the plugin's priority queue the pollers read.
//! - `drivers/`: `memory` and `boltdb` (embedded, durable) on [`drivers::Backlog`].
//! - `error`: [`JobsError`].

pub mod driver;
pub mod drivers;
mod error;
mod job;
pub mod queue;
pub mod reply;

pub use driver::{Delivery, Driver, PipelineState};
pub use error::JobsError;
pub use job::{Headers, Job};
pub use queue::JobQueue;
pub use reply::Reply;
