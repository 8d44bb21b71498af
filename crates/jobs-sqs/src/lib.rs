//! The `sqs` jobs driver: RoadRunner's keys and message attributes on
//! Amazon SQS (or an SQS-compatible endpoint), with the official AWS SDK.
//!
//! ```yaml
//! sqs:
//!   key: AKIA...            # with secret: static credentials; without both,
//!   secret: ...             # the AWS default chain (env, profile, instance role)
//!   region: eu-west-1
//!   session_token: ""
//!   endpoint: ""            # ElasticMQ, LocalStack, moto...
//! jobs:
//!   pipelines:
//!     mail:
//!       driver: sqs
//!       config: { queue: mail, prefetch: 10, visibility_timeout: 30, wait_time_seconds: 5 }
//! ```
//!
//! - A push returns once SQS accepted every message (SendMessageBatch, 10
//!   at a time); a message SQS refused makes the push an error.
//! - Consuming long-polls ReceiveMessage, at most `max_messages_in_flight`
//!   (default `prefetch`) unsettled; ack deletes the message, a nack with
//!   redelivery changes its visibility to the delay, a nack without one
//!   deletes it (keeps it, with `retain_failed_jobs`), a requeue sends a
//!   new message and then deletes the old one.
//! - A failing link sets the pipeline's error message; pushes fail; the
//!   receive loop retries with backoff and resumes by itself; messages
//!   received and not deleted come back after their visibility timeout.
//!
//! # Layout
//! - `config`: the keys, planned and validated.
//! - `client`: credentials, region, endpoint, deadlines; the queue's URL.
//! - `message`: RoadRunner's message attributes.
//! - `driver`: [`SqsDriver`].

mod client;
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

pub use config::{Connection, SqsOptions, MAX_DELAY};
pub use driver::SqsDriver;
pub use message::{decode, encode, RAW_JOB};

/// The driver, for `JobsPlugin::new().with_broker(&coyote_jobs_sqs::DRIVER)`.
pub static DRIVER: BrokerDriver = BrokerDriver {
    name: "sqs",
    section: Some("sqs"),
    plan: plan_pipeline,
    declare: declare_pipeline,
};

/// A planned sqs pipeline.
#[derive(Debug)]
pub struct SqsPlan(pub SqsOptions);

impl BrokerPlan for SqsPlan {
    fn driver(&self) -> &'static str {
        "sqs"
    }

    fn priority(&self) -> i64 {
        self.0.priority
    }

    fn open(&self, ctx: OpenContext) -> BoxFuture<'_, Result<Arc<dyn Driver>, JobsError>> {
        let mut options = self.0.clone();
        options.pipeline.clone_from(&ctx.pipeline);
        Box::pin(async move {
            let driver: Arc<dyn Driver> = SqsDriver::open(options, ctx).await?;
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
    config::plan(plan, pipeline, path, node).map(|o| Arc::new(SqsPlan(o)) as Arc<dyn BrokerPlan>)
}

fn declare_pipeline(
    map: &BTreeMap<String, String>,
    globals: &Globals,
) -> Result<Arc<dyn BrokerPlan>, String> {
    config::declare(map, globals).map(|o| Arc::new(SqsPlan(o)) as Arc<dyn BrokerPlan>)
}
