//! The jobs plugin's `redis` driver: a pipeline is a Redis stream read by
//! a consumer group, so that several Coyote servers share its jobs (each
//! entry goes to one of them), a killed server's unsettled jobs are
//! claimed by the others after `visibility_timeout`, and jobs survive
//! every Coyote restart (as durably as the Redis server keeps its data).
//!
//! Registered with one line: `JobsPlugin::new().with_broker(&coyote_jobs_redis::DRIVER)`.
//!
//! ```yaml
//! redis:                      # the connection, shared by redis pipelines
//!   addrs: ["127.0.0.1:6379"]
//!   db: 0
//! jobs:
//!   pipelines:
//!     mail:
//!       driver: redis
//!       config: { prefetch: 100, visibility_timeout: 30s }
//! ```
//!
//! # Layout
//! - `config`: the `redis` section and the pipeline keys -> [`config::Options`].
//! - `entry`: a job as stream fields, as a delayed member; replies parsed.
//! - `driver`: [`driver::RedisDriver`] (push, mover, reader, settle, stat).

pub mod config;
pub mod driver;
pub mod entry;

use std::collections::BTreeMap;
use std::sync::Arc;

use coyote_config::Node;
use coyote_host::Plan;
use coyote_jobs::driver::BoxFuture;
use coyote_jobs::drivers::broker::{BrokerDriver, BrokerPlan, Globals, OpenContext};
use coyote_jobs::{Driver, JobsError};

pub use config::Options;
pub use driver::RedisDriver;

/// The `redis` driver, with the top-level `redis` section.
pub static DRIVER: BrokerDriver = BrokerDriver {
    name: "redis",
    section: Some(config::SECTION),
    plan: plan_pipeline,
    declare: declare_pipeline,
};

/// A planned redis pipeline.
#[derive(Debug)]
pub struct RedisPlan(pub Options);

impl BrokerPlan for RedisPlan {
    fn driver(&self) -> &'static str {
        "redis"
    }

    fn priority(&self) -> i64 {
        self.0.priority
    }

    fn open(&self, ctx: OpenContext) -> BoxFuture<'_, Result<Arc<dyn Driver>, JobsError>> {
        Box::pin(async move {
            let driver = RedisDriver::open(
                self.0.clone(),
                ctx.queue,
                &ctx.tracker,
                &ctx.shutdown,
                ctx.pipeline_size,
            )
            .await?;
            Ok(driver as Arc<dyn Driver>)
        })
    }
}

fn plan_pipeline(
    plan: &mut Plan<'_>,
    pipeline: &str,
    path: &str,
    config: Option<&Node>,
) -> Option<Arc<dyn BrokerPlan>> {
    config::plan(plan, pipeline, path, config)
        .map(|o| Arc::new(RedisPlan(o)) as Arc<dyn BrokerPlan>)
}

fn declare_pipeline(
    map: &BTreeMap<String, String>,
    globals: &Globals,
) -> Result<Arc<dyn BrokerPlan>, String> {
    // Relative TLS files are resolved against the server's directory.
    let working_dir = std::env::current_dir().unwrap_or_default();
    config::declare(map, globals.get(config::SECTION), &working_dir)
        .map(|o| Arc::new(RedisPlan(o)) as Arc<dyn BrokerPlan>)
}
