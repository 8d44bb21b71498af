//! The dashboard's view of the host's registry: its pools, the jobs
//! plugins' pipeline states, and pause / resume through the `jobs` RPC
//! service (the same call `coyote jobs pause` makes, without a socket).

use std::collections::BTreeMap;

use bytes::Bytes;
use coyote_dashboard::{ActionError, BoxFuture, Source};
use coyote_host::Registry;
use coyote_pool::Pool;
use coyote_rpc::Call;
use goridge::flags;
use prost::Message;

/// The jobs RPC argument of Pause / Resume (RoadRunner's `jobs.v1.Pipelines`).
#[derive(Clone, PartialEq, prost::Message)]
struct Pipelines {
    #[prost(string, repeated, tag = "1")]
    pipelines: Vec<String>,
}

/// The registry, as the dashboard reads it.
pub(crate) struct RegistrySource(pub(crate) Registry);

/// The jobs plugins' reports flattened into one list of pipeline states.
pub(crate) fn pipeline_states(registry: &Registry) -> Vec<serde_json::Value> {
    registry
        .jobs()
        .all()
        .into_values()
        .flat_map(|v| match v {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        })
        .collect()
}

impl Source for RegistrySource {
    fn pools(&self) -> BTreeMap<String, Pool> {
        self.0.pools().snapshot()
    }

    fn pipelines(&self) -> Vec<serde_json::Value> {
        pipeline_states(&self.0)
    }

    fn set_paused<'a>(
        &'a self,
        pipeline: &'a str,
        pause: bool,
    ) -> BoxFuture<'a, Result<(), ActionError>> {
        Box::pin(async move {
            if !self.0.services().names().contains(&"jobs") {
                return Err(ActionError::NoJobs);
            }
            let call = Call {
                seq: 0,
                method: if pause { "jobs.Pause" } else { "jobs.Resume" }.to_owned(),
                codec: flags::CODEC_PROTO,
                body: Bytes::from(
                    Pipelines {
                        pipelines: vec![pipeline.to_owned()],
                    }
                    .encode_to_vec(),
                ),
            };
            let answer = self.0.services().dispatch(&call).await;
            if answer.flags & flags::ERROR != 0 {
                // The error frame's payload is the method name then the message.
                let text = String::from_utf8_lossy(&answer.payload);
                let message = text.strip_prefix(call.method.as_str()).unwrap_or(&text);
                return Err(ActionError::Failed(message.trim().to_owned()));
            }
            Ok(())
        })
    }
}
