//! RoadRunner's `jobs` plugin: pipelines of queued jobs consumed by a PHP
//! worker pool of its own (`RR_MODE=jobs`), the `jobs` RPC service the PHP
//! producers call, and the state `informer.Jobs` and `status /jobs` report.
//!
//! A push goes to its pipeline's driver; a consuming driver feeds its ready
//! jobs (at most `prefetch` in flight) into the plugin's priority queue;
//! `num_pollers` pollers take the lowest priority number first, run it on
//! the pool (context JSON, payload body) and settle it with the driver as
//! the worker's reply says (ack, drop, redeliver, requeue).
//!
//! # Layout
//! - `plugin`: [`JobsPlugin`] on the host (plan, start, stop, metrics).
//! - `config`: the `jobs` section and `Declare` maps -> [`config::PipelineSpec`].
//! - `jobs`: [`Jobs`], the pipelines by name and their operations.
//! - `consumer`: the pollers; a reply -> ack / nack / requeue.
//! - `reply`: the worker's `{"type":N,"data":{…}}` answer -> [`Reply`].
//! - `driver`: the [`Driver`] role (one per pipeline) and [`Delivery`].
//! - `queue`: [`JobQueue`], the plugin's priority queue.
//! - `drivers/`: `memory` and `boltdb` (embedded, durable) on [`drivers::Backlog`].
//! - `service`, `proto`: the `jobs` RPC service and its `jobs.v1` messages.
//! - `job`, `error`: [`Job`], [`JobsError`].

pub mod config;
pub mod consumer;
pub mod driver;
pub mod drivers;
mod error;
mod job;
mod jobs;
mod plugin;
pub mod proto;
pub mod queue;
pub mod reply;
mod service;

pub use driver::{Delivery, Driver, PipelineState};
pub use error::JobsError;
pub use job::{Headers, Job};
pub use jobs::{Counters, Jobs, Limits};
pub use plugin::JobsPlugin;
pub use queue::JobQueue;
pub use reply::Reply;
pub use service::{from_proto, JobsService};
