//! The `jobs` RPC service (protobuf codec, as roadrunner-php/jobs calls
//! it): Push, PushBatch, Pause, Resume, List, Declare, Destroy, Stat.

use std::sync::Arc;

use bytes::Bytes;
use coyote_rpc::{RpcError, Service, ServiceFuture};
use goridge::flags;
use prost::Message;

use crate::proto;
use crate::{config, Headers, Job, Jobs, JobsError};

/// The service over the plugin's pipelines.
pub struct JobsService {
    jobs: Arc<Jobs>,
}

impl JobsService {
    /// A service for `jobs`.
    pub fn new(jobs: Arc<Jobs>) -> Self {
        Self { jobs }
    }
}

fn decode<M: Message + Default>(method: &str, codec: u8, body: &Bytes) -> Result<M, RpcError> {
    if codec & flags::CODEC_PROTO == 0 {
        return Err(RpcError::Codec {
            method: format!("jobs.{method}"),
            codec,
        });
    }
    M::decode(body.clone()).map_err(|e| RpcError::BadArgument {
        method: format!("jobs.{method}"),
        reason: e.to_string(),
    })
}

fn failed(e: JobsError) -> RpcError {
    RpcError::Failed(e.to_string())
}

/// A transport job -> a [`Job`], refusing what RoadRunner would not run.
///
/// # Errors
/// Negative delay or priority.
pub fn from_proto(job: proto::Job) -> Result<Job, JobsError> {
    let options = job.options.unwrap_or_default();
    if options.priority < 0 {
        return Err(JobsError::Invalid(format!(
            "job {}: priority {} is negative",
            job.id, options.priority
        )));
    }
    let delay = u64::try_from(options.delay).map_err(|_| {
        JobsError::Invalid(format!(
            "job {}: delay {} is negative",
            job.id, options.delay
        ))
    })?;
    let headers: Headers = job.headers.into_iter().map(|(k, v)| (k, v.value)).collect();
    Ok(Job {
        name: job.job,
        id: job.id,
        payload: job.payload,
        headers,
        pipeline: options.pipeline,
        priority: options.priority,
        delay,
        auto_ack: options.auto_ack,
        attempts: 0,
    })
}

impl Service for JobsService {
    fn name(&self) -> &'static str {
        "jobs"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            let empty = || proto::Empty {}.encode_to_vec();
            match method {
                "Push" => {
                    let req: proto::PushRequest = decode(method, codec, &body)?;
                    let job = req
                        .job
                        .ok_or_else(|| RpcError::Failed("empty ID field not allowed".to_owned()))?;
                    let job = from_proto(job).map_err(failed)?;
                    self.jobs.push(vec![job]).await.map_err(failed)?;
                    Ok(empty())
                }
                "PushBatch" => {
                    let req: proto::PushBatchRequest = decode(method, codec, &body)?;
                    let jobs = req
                        .jobs
                        .into_iter()
                        .map(from_proto)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(failed)?;
                    self.jobs.push(jobs).await.map_err(failed)?;
                    Ok(empty())
                }
                "Pause" | "Resume" => {
                    let req: proto::Pipelines = decode(method, codec, &body)?;
                    if method == "Pause" {
                        self.jobs.pause(&req.pipelines)
                    } else {
                        self.jobs.resume(&req.pipelines)
                    }
                    .map_err(failed)?;
                    Ok(empty())
                }
                "List" => {
                    let _: proto::Empty = decode(method, codec, &body)?;
                    Ok(proto::Pipelines {
                        pipelines: self.jobs.list(),
                    }
                    .encode_to_vec())
                }
                "Declare" => {
                    let req: proto::DeclareRequest = decode(method, codec, &body)?;
                    let map = req.pipeline.into_iter().collect();
                    let spec = config::from_declare(
                        &map,
                        self.jobs.working_dir(),
                        self.jobs.globals(),
                        self.jobs.brokers(),
                    )
                    .map_err(RpcError::Failed)?;
                    let timeout = self.jobs.limits().timeout;
                    tokio::time::timeout(timeout, self.jobs.add(spec))
                        .await
                        .map_err(|_| {
                            RpcError::Failed(format!("declare timed out after {timeout:?}"))
                        })?
                        .map_err(failed)?;
                    Ok(empty())
                }
                "Destroy" => {
                    let req: proto::Pipelines = decode(method, codec, &body)?;
                    let destroyed = self.jobs.destroy(&req.pipelines).await.map_err(failed)?;
                    Ok(proto::Pipelines {
                        pipelines: destroyed,
                    }
                    .encode_to_vec())
                }
                "Stat" => {
                    let _: proto::Empty = decode(method, codec, &body)?;
                    let stats = self
                        .jobs
                        .states()
                        .into_iter()
                        .map(|s| proto::Stat {
                            pipeline: s.pipeline,
                            driver: s.driver,
                            queue: s.queue,
                            active: s.active,
                            delayed: s.delayed,
                            reserved: s.reserved,
                            ready: s.ready,
                            priority: s.priority,
                            error_message: s.error_message,
                        })
                        .collect();
                    Ok(proto::Stats { stats }.encode_to_vec())
                }
                other => Err(RpcError::UnknownMethod(format!("jobs.{other}"))),
            }
        })
    }
}
