//! The extension point for broker drivers (amqp, nats, beanstalk, sqs,
//! redis streams, and later kafka or pub/sub): one crate each
//! (`crates/jobs-<driver>`) exporting a [`BrokerDriver`], and one line in
//! the binary: `JobsPlugin::new().with_broker(&coyote_jobs_amqp::DRIVER)`.
//!
//! A broker driver plans its pipeline keys (and the shared top-level
//! section it reads, such as `amqp.addr`) into a [`BrokerPlan`]; at start
//! (or on `jobs.Declare`) the plan opens a [`Driver`](crate::Driver)
//! that pushes to the broker, feeds the broker's deliveries into the
//! plugin's [`JobQueue`] while consuming (at most `prefetch` unsettled),
//! and settles each delivery (ack / nack / requeue) on the broker by the
//! handle it gave it. Conventions every broker driver keeps:
//! - the first connection failing at start is an error (the server does
//!   not start: a wrong address or bad credentials are config mistakes);
//!   a link lost later is redialed with backoff, the pipeline's
//!   [`PipelineState::error_message`](crate::PipelineState) says why
//!   meanwhile (`/ready?plugin=jobs` is then 503), and consuming resumes by
//!   itself;
//! - a push during an outage is an error to the caller, never an
//!   acknowledged and dropped job; deliveries held when the link dropped
//!   are redelivered by the broker;
//! - the worker's context names the broker's queue
//!   ([`Driver::context`](crate::Driver::context));
//! - a job the worker failed (it threw) reaches
//!   [`Driver::fail`](crate::Driver::fail), a nack without redelivery
//!   unless the driver requeues failures (amqp's `requeue_on_fail`).

use std::collections::BTreeMap;
use std::sync::Arc;

use coyote_config::Node;
use coyote_host::Plan;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::driver::BoxFuture;
use crate::{Driver, JobQueue, JobsError};

/// What a broker driver opens with.
#[derive(Clone)]
pub struct OpenContext {
    /// The pipeline's name.
    pub pipeline: String,
    /// The queue the pollers read.
    pub queue: Arc<JobQueue>,
    /// Where the driver's tasks go (waited for at stop).
    pub tracker: TaskTracker,
    /// Cancelled when the plugin stops.
    pub shutdown: CancellationToken,
    /// `jobs.pipeline_size`.
    pub pipeline_size: usize,
}

/// A broker pipeline's validated options.
pub trait BrokerPlan: Send + Sync + std::fmt::Debug {
    /// The driver's name.
    fn driver(&self) -> &'static str;
    /// The pipeline's priority (jobs without one take it).
    fn priority(&self) -> i64;
    /// Connects and returns the driver (paused: the plugin resumes it when
    /// the pipeline is consumed).
    fn open(&self, ctx: OpenContext) -> BoxFuture<'_, Result<Arc<dyn Driver>, JobsError>>;
}

/// The top-level sections brokers read (`amqp`, `nats`, `beanstalk`,
/// `sqs`, ...), as loaded: `jobs.Declare` plans with them at runtime.
pub type Globals = BTreeMap<String, Node>;

/// One broker driver.
#[derive(Clone, Copy)]
pub struct BrokerDriver {
    /// The `driver:` value.
    pub name: &'static str,
    /// The top-level section it reads, if any (kept raw by the loader).
    pub section: Option<&'static str>,
    /// Plans pipeline `pipeline` from its `config` node (`None`: absent)
    /// at the dotted `path`; problems go to `plan` at their keys.
    pub plan: PlanFn,
    /// Plans a pipeline declared at runtime from the string map
    /// `jobs.Declare` carries (`name`, `driver` and the driver's keys),
    /// with the top-level sections of the configuration.
    pub declare: DeclareFn,
}

/// [`BrokerDriver::plan`]: `(plan, pipeline, path of its config, config)`.
pub type PlanFn = fn(&mut Plan<'_>, &str, &str, Option<&Node>) -> Option<Arc<dyn BrokerPlan>>;

/// [`BrokerDriver::declare`]: `(Declare's string map, top-level sections)`.
pub type DeclareFn = fn(&BTreeMap<String, String>, &Globals) -> Result<Arc<dyn BrokerPlan>, String>;

/// The broker drivers a jobs plugin was built with.
#[derive(Clone, Default)]
pub struct Brokers(Vec<&'static BrokerDriver>);

impl Brokers {
    /// Adds a driver.
    pub fn add(&mut self, driver: &'static BrokerDriver) {
        self.0.push(driver);
    }

    /// The driver named `name`.
    pub fn get(&self, name: &str) -> Option<&'static BrokerDriver> {
        self.0.iter().copied().find(|b| b.name == name)
    }

    /// Every driver.
    pub fn iter(&self) -> impl Iterator<Item = &'static BrokerDriver> + '_ {
        self.0.iter().copied()
    }
}
