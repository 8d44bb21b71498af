//! `jobs.v1` messages (roadrunner-server/api `jobs/v1/jobs.proto`), our own
//! statement of RoadRunner's field numbers. `Job.payload` is a proto3
//! `string`; it is read as bytes (the same wire type) so that a payload
//! that is not UTF-8 is carried, not refused.

use std::collections::HashMap;

/// `jobs.Push` argument.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushRequest {
    /// The job.
    #[prost(message, optional, tag = "1")]
    pub job: Option<Job>,
}

/// `jobs.PushBatch` argument.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PushBatchRequest {
    /// The jobs.
    #[prost(message, repeated, tag = "1")]
    pub jobs: Vec<Job>,
}

/// One job.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Job {
    /// Job name (usually a PHP class).
    #[prost(string, tag = "1")]
    pub job: String,
    /// Unique id.
    #[prost(string, tag = "2")]
    pub id: String,
    /// Payload.
    #[prost(bytes = "bytes", tag = "3")]
    pub payload: bytes::Bytes,
    /// Headers.
    #[prost(map = "string, message", tag = "4")]
    pub headers: HashMap<String, HeaderValue>,
    /// Options.
    #[prost(message, optional, tag = "5")]
    pub options: Option<Options>,
}

/// Job options.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Options {
    /// Lower runs first; 0 inherits the pipeline's.
    #[prost(int64, tag = "1")]
    pub priority: i64,
    /// Target pipeline.
    #[prost(string, tag = "2")]
    pub pipeline: String,
    /// Seconds before it may run.
    #[prost(int64, tag = "3")]
    pub delay: i64,
    /// Ack on receipt.
    #[prost(bool, tag = "6")]
    pub auto_ack: bool,
    /// Kafka topic (unused here).
    #[prost(string, tag = "7")]
    pub topic: String,
    /// Kafka metadata (unused here).
    #[prost(string, tag = "8")]
    pub metadata: String,
    /// Kafka offset (unused here).
    #[prost(int64, tag = "9")]
    pub offset: i64,
    /// Kafka partition (unused here).
    #[prost(int32, tag = "10")]
    pub partition: i32,
}

/// A header's values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    /// Values.
    #[prost(string, repeated, tag = "1")]
    pub value: Vec<String>,
}

/// `jobs.Declare` argument.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeclareRequest {
    /// `driver`, `name` and the driver's keys.
    #[prost(map = "string, string", tag = "1")]
    pub pipeline: HashMap<String, String>,
}

/// `jobs.Stat` result.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Stats {
    /// One per pipeline.
    #[prost(message, repeated, tag = "1")]
    pub stats: Vec<Stat>,
}

/// One pipeline's state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Stat {
    /// Pipeline.
    #[prost(string, tag = "1")]
    pub pipeline: String,
    /// Driver.
    #[prost(string, tag = "2")]
    pub driver: String,
    /// Queue.
    #[prost(string, tag = "3")]
    pub queue: String,
    /// Waiting jobs.
    #[prost(int64, tag = "4")]
    pub active: i64,
    /// Delayed jobs.
    #[prost(int64, tag = "5")]
    pub delayed: i64,
    /// Jobs at a worker.
    #[prost(int64, tag = "6")]
    pub reserved: i64,
    /// Consuming.
    #[prost(bool, tag = "7")]
    pub ready: bool,
    /// Priority.
    #[prost(uint64, tag = "8")]
    pub priority: u64,
    /// Why the pipeline is unhealthy (a broker unreachable), or empty
    /// (RoadRunner's `State.ErrorMessage`; older clients skip the field).
    #[prost(string, tag = "9")]
    pub error_message: String,
}

/// Pipeline names (pause, resume, list, destroy).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Pipelines {
    /// Names.
    #[prost(string, repeated, tag = "1")]
    pub pipelines: Vec<String>,
}

/// Nothing.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}
