//! The `tcp` RPC service: `tcp.Close(uuid) -> true`, as RoadRunner's
//! goridge RPC answers it (a uuid that is not open is not an error).

use bytes::Bytes;
use coyote_rpc::codec::{decode_arg, encode_result};
use coyote_rpc::{RpcError, Service, ServiceFuture};

use crate::Connections;

/// `tcp.Close`.
pub struct TcpService {
    table: Connections,
}

impl TcpService {
    /// The service over the plugin's open connections.
    pub fn new(table: Connections) -> Self {
        Self { table }
    }
}

impl Service for TcpService {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            match method {
                "Close" => {
                    let uuid: String = decode_arg("tcp.Close", codec, &body)?;
                    let closed = self.table.close(&uuid);
                    tracing::debug!(target: "coyote::tcp", uuid, closed, "tcp.Close");
                    encode_result(codec, &true)
                }
                other => Err(RpcError::UnknownMethod(format!("tcp.{other}"))),
            }
        })
    }
}
