//! The [`Driver`] role: one per pipeline. A driver takes pushes, feeds its
//! ready jobs into the plugin's [`JobQueue`](crate::queue::JobQueue)
//! (at most `prefetch` of them in flight) while it is consuming, and
//! settles each delivery when the worker's reply comes back.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Job, JobsError};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A job handed to the pollers: the job, the driver that owns it and the
/// driver's handle for it (a key in the durable store, a delivery tag on a
/// broker).
pub struct Delivery {
    /// The job.
    pub job: Job,
    /// The driver's own key for this delivery.
    pub handle: u64,
    /// The driver to settle it with.
    pub driver: Arc<dyn Driver>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("job", &self.job.id)
            .field("pipeline", &self.job.pipeline)
            .field("handle", &self.handle)
            .finish()
    }
}

/// One pipeline's state as `jobs.Stat`, `informer.Jobs` and `status /jobs`
/// report it (RoadRunner's `jobs.State`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineState {
    /// Pipeline name.
    pub pipeline: String,
    /// Driver name (`memory`, `boltdb`, ...).
    pub driver: String,
    /// The queue (for memory and boltdb, the pipeline name; for brokers the
    /// queue, tube or subject).
    pub queue: String,
    /// Jobs waiting to run (not delayed, not yet answered).
    pub active: i64,
    /// Jobs waiting for their delay.
    pub delayed: i64,
    /// Jobs a worker has and has not answered yet.
    pub reserved: i64,
    /// The pipeline is consuming (not paused).
    pub ready: bool,
    /// The pipeline's priority.
    pub priority: u64,
    /// Why the pipeline is unhealthy, or empty.
    #[serde(default)]
    pub error_message: String,
}

/// A pipeline's driver.
pub trait Driver: Send + Sync {
    /// The driver's name (`memory`, `boltdb`).
    fn kind(&self) -> &'static str;

    /// The worker's context for `job`:
    /// `{"id","job","driver","headers","pipeline","queue"}`. Brokers
    /// override it to name their queue (and add their fields).
    fn context(&self, job: &Job) -> Vec<u8> {
        job.context(self.kind(), &job.pipeline)
    }

    /// Accepts jobs (all for this pipeline, validated). Returns when the
    /// driver holds them as durably as it promises (the durable driver:
    /// on disk).
    fn push(&self, jobs: Vec<Job>) -> BoxFuture<'_, Result<(), JobsError>>;

    /// Starts (or resumes) consuming.
    fn resume(&self) -> Result<(), JobsError>;

    /// Stops handing out jobs; jobs already queued for the workers come
    /// back to the driver.
    fn pause(&self) -> Result<(), JobsError>;

    /// The counts of the moment.
    fn state(&self) -> PipelineState;

    /// Stops for good (server stop, `Destroy`). Jobs a worker has may still
    /// be settled afterwards. Returns how many jobs were dropped (the memory
    /// driver's queue); the durable driver drops none.
    fn stop(&self) -> BoxFuture<'_, usize>;

    /// A poller took this delivery and hands it to a worker.
    fn reserve(&self, handle: u64);

    /// Done: forget the job.
    fn ack(&self, handle: u64) -> BoxFuture<'_, Result<(), JobsError>>;

    /// Failed: run it again after `delay` seconds when `redeliver`,
    /// otherwise drop it.
    fn nack(
        &self,
        handle: u64,
        job: Job,
        redeliver: bool,
        delay: u64,
    ) -> BoxFuture<'_, Result<(), JobsError>>;

    /// The worker failed running it (it threw, or answered with an error
    /// frame): RoadRunner's `Nack()`, which a broker driver may turn into a
    /// redelivery (amqp's `requeue_on_fail`). By default a nack without
    /// redelivery.
    fn fail(&self, handle: u64, job: Job) -> BoxFuture<'_, Result<(), JobsError>> {
        self.nack(handle, job, false, 0)
    }

    /// Run it again after `delay` seconds as `job` (headers merged by the
    /// caller), keeping its id.
    fn requeue(&self, handle: u64, job: Job, delay: u64) -> BoxFuture<'_, Result<(), JobsError>>;
}
