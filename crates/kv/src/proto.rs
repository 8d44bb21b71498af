//! `kv.v1` messages (roadrunner-server/api `proto/kv/v1/kv.proto`), our
//! own statement of RoadRunner's field numbers.

/// The argument of every `kv.*` method.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    /// The storage's name (`kv.<storage>`).
    #[prost(string, tag = "1")]
    pub storage: String,
    /// The items (only keys for Has, MGet, TTL, Delete).
    #[prost(message, repeated, tag = "2")]
    pub items: Vec<Item>,
}

/// One item.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Item {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value (bytes, binary safe).
    #[prost(bytes = "bytes", tag = "2")]
    pub value: bytes::Bytes,
    /// Expiry time, RFC 3339 (empty: none).
    #[prost(string, tag = "3")]
    pub timeout: String,
}

/// The reply of every `kv.*` method (empty for Set, MExpire, Delete, Clear).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Response {
    /// The items found.
    #[prost(message, repeated, tag = "1")]
    pub items: Vec<Item>,
}
