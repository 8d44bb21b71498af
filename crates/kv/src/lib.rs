//! RoadRunner's `kv` plugin: named storages (`kv.<storage>{driver,
//! config}`), each on one driver, behind the `kv` RPC service the PHP
//! clients call with the protobuf codec (`kv.v1` messages): Has, Set, MGet,
//! MExpire, TTL, Delete, Clear.
//!
//! Values are bytes (binary safe) of at most [`MAX_VALUE_SIZE`]; expiry
//! times travel as RFC 3339 strings, as RoadRunner's.
//!
//! # Layout
//! - `plugin`: [`KvPlugin`] on the host (plan, start, readiness, stop).
//! - `config`: the `kv` section -> [`config::StorageSpec`]s, every bad key
//!   reported at its path.
//! - `service`, `proto`: the `kv` RPC service and its `kv.v1` messages;
//!   the checks every driver shares (keys, sizes, timeouts).
//! - `storage`: the [`Storage`] role one driver plays per storage.
//! - `timeout`: RFC 3339 <-> [`std::time::SystemTime`].
//! - `drivers/`: `memory`, `boltdb` (embedded redb), `redis`, `memcached`.
//! - `error`: [`KvError`].

pub mod config;
pub mod drivers;
mod error;
mod plugin;
pub mod proto;
mod service;
pub mod storage;
pub mod timeout;

pub use error::KvError;
pub use plugin::KvPlugin;
pub use service::KvService;
pub use storage::Storage;

/// The largest value one item may carry (16 MiB; the RPC frame limit is
/// 64 MiB). Larger values are refused with [`KvError::TooLarge`].
pub const MAX_VALUE_SIZE: usize = 16 * 1024 * 1024;
