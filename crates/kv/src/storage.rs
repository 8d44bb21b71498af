//! The [`Storage`] role: one configured storage on one driver. The
//! service checks keys, sizes and timeouts before a driver sees them, so a
//! driver only stores.

use std::time::SystemTime;

use bytes::Bytes;
use coyote_host::BoxFuture;

use crate::KvError;

/// One item to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Put {
    /// The key (not blank).
    pub key: String,
    /// The value (at most [`crate::MAX_VALUE_SIZE`]).
    pub value: Bytes,
    /// When it expires (in the future), or never.
    pub expires: Option<SystemTime>,
}

/// Keys with their expiry (`None`: never), as [`Storage::ttl`] answers.
pub type Expiries = Vec<(String, Option<SystemTime>)>;

/// What every driver does for one storage. Keys are checked (at least one,
/// none blank) before any method is called.
pub trait Storage: Send + Sync {
    /// The keys that exist (not expired), in request order.
    fn has<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Vec<String>, KvError>>;
    /// The values of the keys that exist, in request order.
    fn mget<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<(String, Bytes)>, KvError>>;
    /// Stores every item (replacing value and expiry).
    fn set(&self, items: Vec<Put>) -> BoxFuture<'_, Result<(), KvError>>;
    /// Sets the expiry (in the future) of the keys that exist; others are
    /// left alone.
    fn expire(&self, items: Vec<(String, SystemTime)>) -> BoxFuture<'_, Result<(), KvError>>;
    /// The expiry of each key that exists (`None`: never).
    fn ttl<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<Expiries, KvError>>;
    /// Deletes the keys (missing ones are fine).
    fn delete<'a>(&'a self, keys: &'a [String]) -> BoxFuture<'a, Result<(), KvError>>;
    /// Deletes everything in the storage.
    fn clear(&self) -> BoxFuture<'_, Result<(), KvError>>;
    /// Why the storage cannot serve now (its backend out of reach), for
    /// `/ready`; `None` when it can.
    fn problem(&self) -> Option<String> {
        None
    }
    /// Stops background work and closes connections or files.
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
