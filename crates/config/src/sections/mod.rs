//! One module per `.rr.yaml` section Coyote types. Each holds the section's
//! struct with RoadRunner's defaults (`Default` + `serde(default)`) and, when
//! needed, a `check` that applies "0 means default" rules and reports what
//! serde alone cannot.

pub mod endure;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod pool;
pub mod rpc;
pub mod server;
pub mod status;
