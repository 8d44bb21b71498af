//! The `tcp` RPC service: `tcp.Close`, as RoadRunner's goridge RPC
//! answers it (a uuid that is not open is not an error), in both of the
//! forms RoadRunner has taken: the uuid as a string (JSON, raw or
//! MessagePack codec; answers `true`), and since v2023 the protobuf
//! `tcp.v1.CloseRequest{uuid}` (protobuf codec; answers
//! `tcp.v1.Response{ok: true}` in the protobuf codec).

use bytes::Bytes;
use coyote_rpc::codec::{decode_arg, encode_result};
use coyote_rpc::{RpcError, Service, ServiceFuture};
use goridge::flags;
use prost::Message;

use crate::proto::{CloseRequest, Response};
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

    /// Closes `uuid` (if open) and logs it.
    fn close(&self, uuid: &str) {
        let closed = self.table.close(uuid);
        tracing::debug!(target: "coyote::tcp", uuid, closed, "tcp.Close");
    }
}

impl Service for TcpService {
    fn name(&self) -> &'static str {
        "tcp"
    }

    fn call<'a>(&'a self, method: &'a str, codec: u8, body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            match method {
                // The answer frame keeps the request's codec flags, so a
                // protobuf request gets a protobuf answer.
                "Close" if codec & flags::CODEC_PROTO != 0 => {
                    let request =
                        CloseRequest::decode(body).map_err(|e| RpcError::BadArgument {
                            method: "tcp.Close".to_owned(),
                            reason: e.to_string(),
                        })?;
                    self.close(&request.uuid);
                    Ok(Response { ok: true }.encode_to_vec())
                }
                "Close" => {
                    let uuid: String = decode_arg("tcp.Close", codec, &body)?;
                    self.close(&uuid);
                    encode_result(codec, &true)
                }
                other => Err(RpcError::UnknownMethod(format!("tcp.{other}"))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    fn call_method(
        service: &TcpService,
        method: &str,
        codec: u8,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, RpcError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(service.call(method, codec, body.into()))
    }

    fn call(service: &TcpService, codec: u8, body: Vec<u8>) -> Result<Vec<u8>, RpcError> {
        call_method(service, "Close", codec, body)
    }

    fn proto(uuid: &str) -> Vec<u8> {
        CloseRequest {
            uuid: uuid.to_owned(),
        }
        .encode_to_vec()
    }

    #[test]
    fn protobuf_close_closes_and_answers_ok() {
        let table = Connections::default();
        let token = CancellationToken::new();
        let _entry = table.insert("u-1".into(), token.clone());
        let service = TcpService::new(table.clone());
        let out = call(&service, flags::CODEC_PROTO, proto("u-1")).unwrap();
        assert_eq!(
            Response::decode(out.as_slice()).unwrap(),
            Response { ok: true }
        );
        assert!(token.is_cancelled());
        assert!(table.is_empty());
        // The wire form: field 1, varint, 1.
        assert_eq!(out, [0x08, 0x01]);
        // An unknown uuid (and an empty message: uuid "") is no error.
        let out = call(&service, flags::CODEC_PROTO, proto("nope")).unwrap();
        assert!(Response::decode(out.as_slice()).unwrap().ok);
        let out = call(&service, flags::CODEC_PROTO, Vec::new()).unwrap();
        assert!(Response::decode(out.as_slice()).unwrap().ok);
    }

    #[test]
    fn protobuf_close_decodes_the_field_number_of_tcp_v1() {
        // Hand-encoded: field 1, length-delimited, "abc".
        let table = Connections::default();
        let token = CancellationToken::new();
        let _entry = table.insert("abc".into(), token.clone());
        let service = TcpService::new(table);
        call(
            &service,
            flags::CODEC_PROTO,
            vec![0x0a, 3, b'a', b'b', b'c'],
        )
        .unwrap();
        assert!(token.is_cancelled());
    }

    #[test]
    fn malformed_protobuf_is_an_rpc_error() {
        let table = Connections::default();
        let token = CancellationToken::new();
        let _entry = table.insert("u-1".into(), token.clone());
        let service = TcpService::new(table.clone());
        for body in [
            vec![0xff, 0xff],
            // Field 1 announcing 10 bytes, holding 2.
            vec![0x0a, 10, b'u', b'-'],
            // Field 1 as a string that is not UTF-8.
            vec![0x0a, 2, 0xc3, 0x28],
            // A varint that never ends.
            vec![
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
        ] {
            let err = call(&service, flags::CODEC_PROTO, body.clone()).unwrap_err();
            assert!(
                matches!(err, RpcError::BadArgument { ref method, .. } if method == "tcp.Close"),
                "{body:?}: {err}"
            );
            assert!(err.to_string().contains("cannot decode"), "{err}");
        }
        assert!(!token.is_cancelled());
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn the_string_forms_still_work() {
        let table = Connections::default();
        let service = TcpService::new(table.clone());
        for (codec, body) in [
            (flags::CODEC_JSON, b"\"a\"".to_vec()),
            (flags::CODEC_RAW, b"b".to_vec()),
        ] {
            let token = CancellationToken::new();
            let uuid = if codec == flags::CODEC_JSON { "a" } else { "b" };
            let _entry = table.insert(uuid.into(), token.clone());
            assert_eq!(call(&service, codec, body).unwrap(), b"true");
            assert!(token.is_cancelled());
        }
        // JSON that is not a string is still a decode error.
        assert!(call(&service, flags::CODEC_JSON, b"{}".to_vec()).is_err());
        let err = call_method(&service, "Open", flags::CODEC_PROTO, Vec::new()).unwrap_err();
        assert!(
            err.to_string().contains("can't find method tcp.Open"),
            "{err}"
        );
    }
}
