//! One file per RPC service: `informer`, `resetter`, `app` (logger).

mod app;
mod informer;
mod resetter;

use std::collections::BTreeMap;

use bytes::Bytes;
use coyote_pool::Pool;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use app::{AppLogger, LogAttrs, LogEntry};
pub use informer::{Informer, WorkerState};
pub use resetter::Resetter;

use crate::RpcError;

/// The pools of the running plugins, by plugin name.
pub type Pools = BTreeMap<String, Pool>;

/// Decodes a JSON argument (PHP and our CLI send JSON for these services).
fn json_arg<T: DeserializeOwned>(method: &str, codec: u8, body: &Bytes) -> Result<T, RpcError> {
    if codec & goridge::flags::CODEC_JSON == 0 {
        return Err(RpcError::Codec {
            method: method.to_owned(),
            codec,
        });
    }
    serde_json::from_slice(body).map_err(|e| RpcError::BadArgument {
        method: method.to_owned(),
        reason: e.to_string(),
    })
}

fn json_result<T: Serialize>(value: &T) -> Result<Vec<u8>, RpcError> {
    serde_json::to_vec(value).map_err(|e| RpcError::Failed(e.to_string()))
}

fn pool<'a>(pools: &'a Pools, plugin: &str) -> Result<&'a Pool, RpcError> {
    pools
        .get(plugin)
        .ok_or_else(|| RpcError::Failed(format!("no such plugin: {plugin}")))
}
