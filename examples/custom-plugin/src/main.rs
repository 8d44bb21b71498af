//! A custom Coyote server: every built-in plugin plus `greeter`, a plugin
//! of its own (what RoadRunner users build custom `rr` binaries with
//! Velox for). `greeter` reads its section, runs a worker pool of its own
//! (`RR_MODE=greeter`) and exposes the RPC method `greeter.Hello`, which
//! sends the name to a PHP worker and returns `<greeting>, <answer>`.
//!
//! ```yaml
//! version: "3"
//! rpc:
//!   listen: tcp://127.0.0.1:6001
//! server:
//!   command: "php worker.php"
//! greeter:
//!   greeting: Hello
//!   pool:
//!     num_workers: 2
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use bytes::Bytes;
use coyote_config::PoolConfig;
use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};
use coyote_pool::{Payload, Pool, PoolOptions};
use coyote_rpc::codec::{decode_arg, encode_result};
use coyote_rpc::{RpcError, Service, ServiceFuture};
use serde::Deserialize;

fn main() -> ExitCode {
    // The one registration line.
    coyote::main_with(coyote::builtin().with(Greeter))
}

/// The `greeter` plugin.
struct Greeter;

/// The `greeter` section, decoded with the loader's rules: every bad key
/// is reported with its path and position before anything starts.
#[derive(Deserialize, Default)]
#[serde(default)]
struct GreeterConfig {
    greeting: String,
    pool: PoolConfig,
}

struct PlannedGreeter {
    greeting: String,
    pool: PoolOptions,
}

struct RunningGreeter {
    pool: Pool,
}

impl Plugin for Greeter {
    fn name(&self) -> &'static str {
        "greeter"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let config: GreeterConfig = plan.decode("greeter")?;
        if config.greeting.trim().is_empty() {
            plan.problem("greeter.greeting", "required: the word to greet with");
        }
        let pool = plan.pool_options("greeter", &config.pool)?;
        plan.is_clean().then(|| {
            Box::new(PlannedGreeter {
                greeting: config.greeting,
                pool,
            }) as Box<dyn Planned>
        })
    }
}

impl Planned for PlannedGreeter {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let pool = Pool::start(self.pool).await?;
            start.registry.add_pool("greeter", pool.clone());
            start.registry.add_service(Arc::new(HelloService {
                greeting: self.greeting,
                pool: pool.clone(),
            }));
            Ok(Box::new(RunningGreeter { pool }) as Box<dyn Running>)
        })
    }
}

impl Running for RunningGreeter {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.pool.shutdown())
    }
}

/// `greeter.Hello(name) -> "<greeting>, <worker's answer>"`.
struct HelloService {
    greeting: String,
    pool: Pool,
}

impl Service for HelloService {
    fn name(&self) -> &'static str {
        "greeter"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            match method {
                "Hello" => {
                    let name: String = decode_arg("greeter.Hello", codec, &body)?;
                    let answer = self
                        .pool
                        .exec(Payload::raw(Bytes::new(), name))
                        .await
                        .map_err(|e| RpcError::Failed(e.to_string()))?;
                    let answer = String::from_utf8_lossy(&answer.body);
                    encode_result(codec, &format!("{}, {answer}", self.greeting))
                }
                other => Err(RpcError::UnknownMethod(format!("greeter.{other}"))),
            }
        })
    }
}
