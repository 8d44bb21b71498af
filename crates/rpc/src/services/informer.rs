use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{decode_arg, encode_result, pool, source, Pools, Reports};
use crate::{RpcError, Service, ServiceFuture};

/// `informer`: which plugins have workers, and their state.
pub struct Informer {
    pools: Pools,
    jobs: Reports,
}

impl Informer {
    /// An informer over the running plugins' pools.
    pub fn new(pools: Pools) -> Self {
        Self {
            pools,
            jobs: Reports::new(),
        }
    }

    /// Also answers `informer.Jobs(plugin)` from `jobs` (the pipeline
    /// states of the jobs plugins).
    pub fn with_jobs(mut self, jobs: Reports) -> Self {
        self.jobs = jobs;
        self
    }
}

/// One worker as `informer.Workers` reports it (RoadRunner's JSON names).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WorkerState {
    /// Process id.
    pub pid: i64,
    /// RoadRunner's numeric state.
    pub status: i64,
    /// Completed executions.
    #[serde(rename = "numExecs")]
    pub num_execs: u64,
    /// Start time, unix nanoseconds.
    pub created: i64,
    /// RSS in bytes.
    #[serde(rename = "memoryUsage")]
    pub memory_usage: u64,
    /// CPU percent of one core over the process's life.
    #[serde(rename = "CPUPercent")]
    pub cpu_percent: f64,
    /// Command line.
    pub command: String,
    /// The state's name (`ready`, `working`, ...).
    #[serde(rename = "statusStr")]
    pub status_str: String,
    /// Connections the worker holds open (handoff workers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    /// Milliseconds since the worker last held a connection (handoff
    /// workers only; 0 while it holds one).
    #[serde(default, rename = "idleMs", skip_serializing_if = "Option::is_none")]
    pub idle_ms: Option<u64>,
}

/// `informer.Workers` result.
#[derive(Serialize, Deserialize)]
pub struct WorkerList {
    /// The workers.
    pub workers: Vec<WorkerState>,
}

impl Service for Informer {
    fn name(&self) -> &'static str {
        "informer"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            match method {
                "List" => encode_result(codec, &self.pools.names()),
                "Workers" => {
                    let plugin: String = decode_arg("informer.Workers", codec, &body)?;
                    let workers = source(&self.pools, &plugin)?.workers();
                    encode_result(codec, &WorkerList { workers })
                }
                "AddWorker" => {
                    let plugin: String = decode_arg("informer.AddWorker", codec, &body)?;
                    let pool = pool(&self.pools, &plugin)?;
                    let ceiling = pool.options().max_static_workers();
                    if pool.target_workers() >= ceiling {
                        return Err(RpcError::Failed(format!(
                            "{plugin}: already at {ceiling} workers, the most informer.AddWorker allows (num_workers plus dynamic_allocator.max_workers, or twice num_workers)"
                        )));
                    }
                    pool.add_worker();
                    encode_result(codec, &true)
                }
                "RemoveWorker" => {
                    let plugin: String = decode_arg("informer.RemoveWorker", codec, &body)?;
                    let pool = pool(&self.pools, &plugin)?;
                    if pool.target_workers() <= 1 {
                        return Err(RpcError::Failed(format!(
                            "{plugin}: cannot remove the last worker"
                        )));
                    }
                    pool.remove_worker();
                    encode_result(codec, &true)
                }
                "Jobs" => {
                    let plugin: String = decode_arg("informer.Jobs", codec, &body)?;
                    match self.jobs.get(&plugin) {
                        Some(states) => encode_result(codec, &states),
                        None => Err(RpcError::Failed(format!(
                            "plugin {plugin} does not report jobs (it should implement the JobsStat interface)"
                        ))),
                    }
                }
                other => Err(RpcError::UnknownMethod(format!("informer.{other}"))),
            }
        })
    }
}
