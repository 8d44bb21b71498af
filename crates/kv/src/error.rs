//! [`KvError`]: what a kv operation can fail with.

/// One failed kv operation. The texts follow RoadRunner's where it has one
/// (PHP clients look for some of them).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KvError {
    /// The request named no keys (RoadRunner's `NoKeys`).
    #[error("should provide at least 1 key")]
    NoKeys,
    /// A key is empty or blank (RoadRunner's `EmptyKey`).
    #[error("key can't be empty string")]
    EmptyKey,
    /// A value above [`crate::MAX_VALUE_SIZE`].
    #[error("value of key {key:?} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The key.
        key: String,
        /// The value's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A timeout that is not RFC 3339, in the past, or absurdly far away.
    #[error("key {key:?}: {reason}")]
    BadTimeout {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// MExpire without a timeout or a key.
    #[error("timeout for MExpire is empty or key is empty")]
    NoTimeout,
    /// The backend (redis, memcached, the database file) failed or is out
    /// of reach; retrying later may succeed.
    #[error("{0}")]
    Backend(String),
}
