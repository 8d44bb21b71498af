//! The `nats` jobs driver: RoadRunner's pipeline keys and message format
//! on NATS JetStream.
//!
//! - The pipeline's `stream` is created when missing (file storage, so it
//!   survives a server restart) holding its `subject`; a push returns once
//!   JetStream acknowledged every message.
//! - Consuming is a durable pull consumer named after the pipeline
//!   (`coyote-<pipeline>`, shared by every Coyote server consuming it, so
//!   that they split the work), `max_ack_pending` = `prefetch`, explicit
//!   acks, unlimited redeliveries; work in progress is reported to the
//!   server every third of `ack_wait` so that long jobs are not redelivered.
//! - Ack is an ack (and the message's deletion with `delete_after_ack`), a
//!   nack with redelivery a NAK (with its delay), a nack without one a TERM,
//!   a requeue a new message (merged headers, its delay) and the ack of the
//!   old one. A delay is honoured by the consumer: a message delivered
//!   before its time (publish time + `options.delay`) is NAKed with the
//!   time left.
//! - The connection is redialed by the client; meanwhile the pipeline's
//!   error message says so, pushes fail at once, and consuming resumes by
//!   itself when the link is back.

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

pub use config::{NatsOptions, DEFAULT_ADDR};
pub use driver::NatsDriver;
pub use message::{decode, encode, RAW_JOB, SUBJECT_HEADER};

/// The driver, for `JobsPlugin::new().with_broker(&coyote_jobs_nats::DRIVER)`.
pub static DRIVER: BrokerDriver = BrokerDriver {
    name: "nats",
    section: Some("nats"),
    plan: plan_pipeline,
    declare: declare_pipeline,
};

/// A planned nats pipeline.
#[derive(Debug)]
pub struct NatsPlan(pub NatsOptions);

impl BrokerPlan for NatsPlan {
    fn driver(&self) -> &'static str {
        "nats"
    }

    fn priority(&self) -> i64 {
        self.0.priority
    }

    fn open(&self, ctx: OpenContext) -> BoxFuture<'_, Result<Arc<dyn Driver>, JobsError>> {
        let mut options = self.0.clone();
        options.pipeline.clone_from(&ctx.pipeline);
        Box::pin(async move {
            let driver: Arc<dyn Driver> = NatsDriver::open(options, ctx).await?;
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
    config::plan(plan, pipeline, path, node).map(|o| Arc::new(NatsPlan(o)) as Arc<dyn BrokerPlan>)
}

fn declare_pipeline(
    map: &BTreeMap<String, String>,
    globals: &Globals,
) -> Result<Arc<dyn BrokerPlan>, String> {
    config::declare(map, globals).map(|o| Arc::new(NatsPlan(o)) as Arc<dyn BrokerPlan>)
}
