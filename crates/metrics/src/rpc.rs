//! The `metrics` RPC service spiral/roadrunner-metrics talks to.

use std::sync::Arc;

use bytes::Bytes;
use coyote_rpc::{RpcError, Service, ServiceFuture};
use serde::Deserialize;
use serde_json::Value;

use crate::{CollectorSpec, UserMetrics};

/// `metrics.Declare/Add/Sub/Set/Observe/Unregister`.
pub struct MetricsService {
    user: Arc<UserMetrics>,
}

impl MetricsService {
    /// A service over the run-time collectors.
    pub fn new(user: Arc<UserMetrics>) -> Self {
        Self { user }
    }
}

#[derive(Deserialize)]
struct Declare {
    name: String,
    #[serde(default)]
    collector: CollectorSpec,
}

#[derive(Deserialize)]
struct Operation {
    name: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    labels: Vec<String>,
}

/// Go's encoding/json matches keys case-insensitively and PHP clients rely
/// on it; lower-casing object keys (not map values like `objectives`'
/// numbers) gives serde the same leniency.
fn lower_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_lowercase(), lower_keys(v)))
                .collect(),
        ),
        other => other,
    }
}

fn arg<T: serde::de::DeserializeOwned>(
    method: &str,
    codec: u8,
    body: &Bytes,
) -> Result<T, RpcError> {
    let value = coyote_rpc::codec::decode_value(method, codec, body)?;
    serde_json::from_value(lower_keys(value)).map_err(|e| RpcError::BadArgument {
        method: method.to_owned(),
        reason: e.to_string(),
    })
}

impl Service for MetricsService {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            let full = format!("metrics.{method}");
            let failed = |e: crate::MetricsError| RpcError::Failed(e.to_string());
            match method {
                "Declare" => {
                    let d: Declare = arg(&full, codec, &body)?;
                    self.user.declare(&d.name, &d.collector).map_err(failed)?;
                }
                "Unregister" => {
                    let name: String = arg(&full, codec, &body)?;
                    self.user.unregister(&name).map_err(failed)?;
                }
                "Add" | "Sub" | "Set" | "Observe" => {
                    let op: Operation = arg(&full, codec, &body)?;
                    let result = match method {
                        "Add" => self.user.add(&op.name, op.value, &op.labels),
                        "Sub" => self.user.sub(&op.name, op.value, &op.labels),
                        "Set" => self.user.set(&op.name, op.value, &op.labels),
                        _ => self.user.observe(&op.name, op.value, &op.labels),
                    };
                    result.map_err(failed)?;
                }
                other => return Err(RpcError::UnknownMethod(format!("metrics.{other}"))),
            }
            coyote_rpc::codec::encode_result(codec, &true)
        })
    }
}
