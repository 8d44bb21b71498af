//! What a lock request can be refused for (a bad argument, never a state).

/// A request the lock table does not accept.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    /// `resource` is empty.
    #[error("empty resource is not allowed")]
    EmptyResource,
    /// `id` is empty.
    #[error("empty ID is not allowed")]
    EmptyId,
    /// `ttl` or `wait` is negative.
    #[error("{field} must not be negative, got {value} microseconds")]
    Negative {
        /// `ttl` or `wait`.
        field: &'static str,
        /// The value sent.
        value: i64,
    },
    /// `ttl` or `wait` is beyond the limit.
    #[error("{field} {value} microseconds is above the limit of {limit} microseconds")]
    TooLong {
        /// `ttl` or `wait`.
        field: &'static str,
        /// The value sent.
        value: i64,
        /// The largest accepted value.
        limit: i64,
    },
}
