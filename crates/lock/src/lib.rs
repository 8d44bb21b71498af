//! The `lock` plugin: RoadRunner's `lock` RPC service (`lock.v1beta1`
//! messages, protobuf codec, as roadrunner-php/lock calls it) over an
//! in-memory lock table: exclusive and read locks per resource, TTLs in
//! microseconds, waiters served first come first served.

mod error;
mod locks;
mod plugin;
pub mod proto;
mod redis_driver;
mod service;

pub use error::LockError;
pub use locks::{Kind, Locks};
pub use plugin::LockPlugin;
pub use redis_driver::RedisLocks;
pub use service::{Backend, LockService};
