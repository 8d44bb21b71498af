//! The `amqp` jobs driver: RoadRunner's pipeline keys and message format
//! on RabbitMQ (AMQP 0-9-1, with lapin).
//!
//! - At open the exchange is declared and the queue declared and bound to
//!   it by the routing key (without the right to declare, an existing one
//!   is used; a missing one is an error that says so).
//! - A push publishes to the exchange (RoadRunner's `rr_*` headers, the
//!   payload as the body, persistent, `mandatory`) and returns once the
//!   broker confirmed every message (publisher confirms): a nack, an
//!   unroutable message, a lost link or no confirm within 5 s is an error.
//! - A delay is RoadRunner's dead-letter scheme: the message waits in
//!   `delayed-<ms>.<exchange>.<queue>` (TTL `ms`, dead-lettered to the
//!   exchange by the routing key, the queue expiring after twice the TTL).
//! - Consuming is a consumer on the queue with basic.qos(`prefetch`); ack
//!   is basic.ack, a nack basic.nack (requeued when the reply asks; a job
//!   the worker failed is requeued with `requeue_on_fail`), a requeue a new
//!   message (merged headers, its delay) confirmed before the old one is
//!   acked. Pause cancels the consumer and gives back what the workers do
//!   not have yet.
//! - A lost link is redialed with backoff; meanwhile the pipeline's error
//!   message says so, pushes fail at once, deliveries not acked are
//!   redelivered by the broker, and consuming resumes by itself.

mod config;
mod driver;
mod message;

use std::collections::BTreeMap;
use std::sync::Arc;

use coyote_config::Node;
use coyote_host::Plan;
use coyote_jobs::driver::BoxFuture;
use coyote_jobs::drivers::broker::{BrokerDriver, BrokerPlan, Globals, OpenContext};
use coyote_jobs::{Driver, JobsError};

pub use config::{parse_addr, AmqpOptions, Tls, DEFAULT_ADDR};
pub use driver::AmqpDriver;
pub use message::{pack, properties, unpack, RAW_JOB};

/// The driver, for `JobsPlugin::new().with_broker(&coyote_jobs_amqp::DRIVER)`.
pub static DRIVER: BrokerDriver = BrokerDriver {
    name: "amqp",
    section: Some("amqp"),
    plan: plan_pipeline,
    declare: declare_pipeline,
};

/// A planned amqp pipeline.
#[derive(Debug)]
pub struct AmqpPlan(pub AmqpOptions);

impl BrokerPlan for AmqpPlan {
    fn driver(&self) -> &'static str {
        "amqp"
    }

    fn priority(&self) -> i64 {
        self.0.priority
    }

    fn open(&self, ctx: OpenContext) -> BoxFuture<'_, Result<Arc<dyn Driver>, JobsError>> {
        let mut options = self.0.clone();
        options.pipeline.clone_from(&ctx.pipeline);
        Box::pin(async move {
            let driver: Arc<dyn Driver> = AmqpDriver::open(options, ctx).await?;
            Ok(driver)
        })
    }
}

fn plan_pipeline(
    plan: &mut Plan<'_>,
    pipeline: &str,
    path: &str,
    node: Option<&Node>,
) -> Option<Arc<dyn BrokerPlan>> {
    config::plan(plan, pipeline, path, node).map(|o| Arc::new(AmqpPlan(o)) as Arc<dyn BrokerPlan>)
}

fn declare_pipeline(
    map: &BTreeMap<String, String>,
    globals: &Globals,
) -> Result<Arc<dyn BrokerPlan>, String> {
    config::declare(map, globals).map(|o| Arc::new(AmqpPlan(o)) as Arc<dyn BrokerPlan>)
}
