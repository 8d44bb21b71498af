//! `service.v1` messages (roadrunner-server/api `proto/service/v1/service.proto`
//! and `proto/common/v1/grpc_status.proto`), our own statement of the field
//! numbers: `Create{name=1, command=2, int64 process_num=3, int64
//! exec_timeout=4 (seconds), bool remain_after_exit=5, map<string,string>
//! env=6, uint64 restart_sec=7, bool service_name_in_logs=8, uint64
//! timeout_stop_sec=9}`, `Response{message=1, bool ok=2}`, `Service{name=1}`,
//! `Status{float cpu_percent=1, int32 pid=2, uint64 memory_usage=3, command=4,
//! common.v1.Status status=5}`, `Statuses{repeated Status status=1}`,
//! `List{repeated string services=1}`; `common.v1.Status{int32 code=1,
//! message=2, repeated google.protobuf.Any details=3}`.

use std::collections::BTreeMap;

/// `service.Create`'s argument.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Create {
    /// The new service's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its command line (split on spaces).
    #[prost(string, tag = "2")]
    pub command: String,
    /// How many copies (at least 1).
    #[prost(int64, tag = "3")]
    pub process_num: i64,
    /// Seconds a run may last; 0: no limit.
    #[prost(int64, tag = "4")]
    pub exec_timeout: i64,
    /// Restart after an exit.
    #[prost(bool, tag = "5")]
    pub remain_after_exit: bool,
    /// Extra environment.
    #[prost(btree_map = "string, string", tag = "6")]
    pub env: BTreeMap<String, String>,
    /// Seconds before a restart; 0: 30.
    #[prost(uint64, tag = "7")]
    pub restart_sec: u64,
    /// Tag output lines with the name.
    #[prost(bool, tag = "8")]
    pub service_name_in_logs: bool,
    /// Seconds between SIGINT and SIGKILL; 0: 5.
    #[prost(uint64, tag = "9")]
    pub timeout_stop_sec: u64,
}

/// The answer of Create, Terminate and Restart.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    /// A note (unused by RoadRunner).
    #[prost(string, tag = "1")]
    pub message: String,
    /// Done.
    #[prost(bool, tag = "2")]
    pub ok: bool,
}

/// Names a service (Terminate, Restart, Status, Statuses; List ignores it).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Service {
    /// The service's name.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// One process of a service.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// CPU time over its lifetime, percent of one core.
    #[prost(float, tag = "1")]
    pub cpu_percent: f32,
    /// Its pid (the last one when it is not running; 0 if it never ran).
    #[prost(int32, tag = "2")]
    pub pid: i32,
    /// Resident memory, bytes.
    #[prost(uint64, tag = "3")]
    pub memory_usage: u64,
    /// The command line.
    #[prost(string, tag = "4")]
    pub command: String,
    /// Set when the process is not running: why.
    #[prost(message, optional, tag = "5")]
    pub status: Option<CommonStatus>,
}

/// Every process of a service.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Statuses {
    /// One per process, in order.
    #[prost(message, repeated, tag = "1")]
    pub status: Vec<Status>,
}

/// The services' names.
#[derive(Clone, PartialEq, prost::Message)]
pub struct List {
    /// Sorted.
    #[prost(string, repeated, tag = "1")]
    pub services: Vec<String>,
}

/// `common.v1.Status` (gRPC's error model).
#[derive(Clone, PartialEq, prost::Message)]
pub struct CommonStatus {
    /// An error code (0, as RoadRunner sends).
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What happened.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Never filled.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Any {
    /// The type's URL.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}
