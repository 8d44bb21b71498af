use bytes::Bytes;

use super::{decode_arg, encode_result, source, Pools};
use crate::{RpcError, Service, ServiceFuture};

/// `resetter`: replace a plugin's workers (new code) without downtime.
pub struct Resetter {
    pools: Pools,
}

impl Resetter {
    /// A resetter over the running plugins' pools.
    pub fn new(pools: Pools) -> Self {
        Self { pools }
    }
}

impl Service for Resetter {
    fn name(&self) -> &'static str {
        "resetter"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            match method {
                "List" => encode_result(codec, &self.pools.names()),
                "Reset" => {
                    let plugin: String = decode_arg("resetter.Reset", codec, &body)?;
                    source(&self.pools, &plugin)?
                        .reset()
                        .await
                        .map_err(RpcError::Failed)?;
                    encode_result(codec, &true)
                }
                other => Err(RpcError::UnknownMethod(format!("resetter.{other}"))),
            }
        })
    }
}
