//! One file per RPC service: `informer`, `resetter`, `app` (logger).

mod app;
mod informer;
mod resetter;

use std::collections::BTreeMap;

use coyote_pool::Pool;

pub use app::{AppLogger, LogAttrs, LogEntry};
pub use informer::{Informer, WorkerState};
pub use resetter::Resetter;

use crate::RpcError;

/// The pools of the running plugins, by plugin name.
pub type Pools = BTreeMap<String, Pool>;

use crate::codec::{decode_arg, encode_result};

fn pool<'a>(pools: &'a Pools, plugin: &str) -> Result<&'a Pool, RpcError> {
    pools
        .get(plugin)
        .ok_or_else(|| RpcError::Failed(format!("no such plugin: {plugin}")))
}
