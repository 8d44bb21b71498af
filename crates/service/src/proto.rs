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
    /// Seconds between SIGTERM and SIGKILL; 0: 5.
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

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const GOLDEN_CREATE: &str = "0a0463726f6e120970687020612e70687018022007280132060a014112013132060a0142120178380340014809";
    const GOLDEN_NEGATIVE: &str = "0a016e18ffffffffffffffffff01";
    const GOLDEN_STATUSES: &str = "0a190d000048411092211880e497d012220970687020612e7068700a2a104d220970687020612e7068702a1b08fdffffffffffffffff0112066578697465641a060a0174120176";
    const GOLDEN_LIST: &str = "0a01610a026263";
    const GOLDEN_RESPONSE: &str = "0a016d1001";

    /// The bytes `php/tests/ServiceWireTest.php` checks the PHP encoder and
    /// decoder against (the same constants on both sides).
    #[test]
    fn golden_bytes_shared_with_the_php_client() {
        let create = Create {
            name: "cron".into(),
            command: "php a.php".into(),
            process_num: 2,
            exec_timeout: 7,
            remain_after_exit: true,
            env: [("A".into(), "1".into()), ("B".into(), "x".into())].into(),
            restart_sec: 3,
            service_name_in_logs: true,
            timeout_stop_sec: 9,
        };
        assert_eq!(hex(&create.encode_to_vec()), GOLDEN_CREATE);
        let negative = Create {
            name: "n".into(),
            process_num: -1,
            ..Create::default()
        };
        assert_eq!(hex(&negative.encode_to_vec()), GOLDEN_NEGATIVE);
        let statuses = Statuses {
            status: vec![
                Status {
                    cpu_percent: 12.5,
                    pid: 4242,
                    memory_usage: 5_000_000_000,
                    command: "php a.php".into(),
                    status: None,
                },
                Status {
                    cpu_percent: 0.0,
                    pid: 77,
                    memory_usage: 0,
                    command: "php a.php".into(),
                    status: Some(CommonStatus {
                        code: -3,
                        message: "exited".into(),
                        details: vec![Any {
                            type_url: "t".into(),
                            value: b"v".to_vec(),
                        }],
                    }),
                },
            ],
        };
        assert_eq!(hex(&statuses.encode_to_vec()), GOLDEN_STATUSES);
        let list = List {
            services: vec!["a".into(), "bc".into()],
        };
        assert_eq!(hex(&list.encode_to_vec()), GOLDEN_LIST);
        let response = Response {
            message: "m".into(),
            ok: true,
        };
        assert_eq!(hex(&response.encode_to_vec()), GOLDEN_RESPONSE);
    }
}
