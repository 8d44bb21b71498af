//! `lock.v1beta1` messages (roadrunner-server/api
//! `proto/lock/v1beta1/lock.proto`), our own statement of the field
//! numbers: `Request{resource=1, id=2, optional int64 ttl=3, optional
//! int64 wait=4}`, `Response{ok=1}`.

/// The argument of every `lock.*` method.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The locked resource's name.
    #[prost(string, tag = "1")]
    pub resource: String,
    /// The lock owner's id (`*` in `Exists`: any owner).
    #[prost(string, tag = "2")]
    pub id: String,
    /// Time to live, microseconds; absent or 0: until released.
    #[prost(int64, optional, tag = "3")]
    pub ttl: Option<i64>,
    /// How long to wait for the lock, microseconds; absent or 0: try once.
    #[prost(int64, optional, tag = "4")]
    pub wait: Option<i64>,
}

/// The answer of every `lock.*` method.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    /// Acquired / released / exists / updated.
    #[prost(bool, tag = "1")]
    pub ok: bool,
}
