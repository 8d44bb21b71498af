//! `rpc`: the goridge RPC listener used by the CLI and by PHP.

use serde::Deserialize;

use crate::addr::ListenAddr;

/// The `rpc` section. Its presence also sets `RR_RPC` for workers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct RpcConfig {
    /// Where to listen: `tcp://host:port` or `unix:///path`.
    /// Default `tcp://127.0.0.1:6001`.
    pub listen: ListenAddr,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            listen: ListenAddr::tcp("127.0.0.1", 6001),
        }
    }
}
