//! Arguments and results in the codec the request's flags name, with
//! RoadRunner's precedence (PROTO > JSON > RAW > MSGPACK). Protobuf
//! methods decode their own messages; the rest go through serde here.

use bytes::Bytes;
use goridge::flags;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::RpcError;

/// The serde codec of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// JSON.
    Json,
    /// MessagePack.
    Msgpack,
    /// Raw bytes: a plain string argument (or JSON text).
    Raw,
}

impl Codec {
    /// The codec for these flags; `None` for protobuf, gob or no codec.
    pub fn from_flags(codec: u8) -> Option<Self> {
        if codec & flags::CODEC_PROTO != 0 {
            None
        } else if codec & flags::CODEC_JSON != 0 {
            Some(Self::Json)
        } else if codec & flags::CODEC_RAW != 0 {
            Some(Self::Raw)
        } else if codec & flags::CODEC_MSGPACK != 0 {
            Some(Self::Msgpack)
        } else {
            None
        }
    }
}

/// Decodes the argument into a JSON value whatever the codec.
pub fn decode_value(method: &str, codec: u8, body: &Bytes) -> Result<Value, RpcError> {
    let bad = |reason: String| RpcError::BadArgument {
        method: method.to_owned(),
        reason,
    };
    match Codec::from_flags(codec) {
        Some(Codec::Json) => serde_json::from_slice(body).map_err(|e| bad(e.to_string())),
        Some(Codec::Msgpack) => rmp_serde::from_slice(body).map_err(|e| bad(e.to_string())),
        Some(Codec::Raw) => {
            let text = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
            Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())))
        }
        None => Err(RpcError::Codec {
            method: method.to_owned(),
            codec,
        }),
    }
}

/// Decodes the argument into `T`.
pub fn decode_arg<T: DeserializeOwned>(
    method: &str,
    codec: u8,
    body: &Bytes,
) -> Result<T, RpcError> {
    serde_json::from_value(decode_value(method, codec, body)?).map_err(|e| RpcError::BadArgument {
        method: method.to_owned(),
        reason: e.to_string(),
    })
}

/// Encodes a result in the request's codec (JSON for raw requests).
pub fn encode_result<T: Serialize>(codec: u8, value: &T) -> Result<Vec<u8>, RpcError> {
    match Codec::from_flags(codec) {
        Some(Codec::Msgpack) => {
            rmp_serde::to_vec_named(value).map_err(|e| RpcError::Failed(e.to_string()))
        }
        _ => serde_json::to_vec(value).map_err(|e| RpcError::Failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_serde_codec_round_trips() {
        let json: String =
            decode_arg("x.Y", flags::CODEC_JSON, &Bytes::from_static(b"\"http\"")).unwrap();
        assert_eq!(json, "http");
        let packed = rmp_serde::to_vec("http").unwrap();
        let msgpack: String = decode_arg("x.Y", flags::CODEC_MSGPACK, &packed.into()).unwrap();
        assert_eq!(msgpack, "http");
        let raw: String =
            decode_arg("x.Y", flags::CODEC_RAW, &Bytes::from_static(b"http")).unwrap();
        assert_eq!(raw, "http");
        let raw_bool: bool =
            decode_arg("x.Y", flags::CODEC_RAW, &Bytes::from_static(b"true")).unwrap();
        assert!(raw_bool);
        let out = encode_result(flags::CODEC_MSGPACK, &vec!["http"]).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<Vec<String>>(&out).unwrap(),
            ["http"]
        );
        assert!(matches!(
            decode_arg::<String>("x.Y", flags::CODEC_PROTO, &Bytes::new()),
            Err(RpcError::Codec { .. })
        ));
        assert!(matches!(
            decode_arg::<String>("x.Y", flags::CODEC_GOB, &Bytes::new()),
            Err(RpcError::Codec { .. })
        ));
        assert!(
            decode_arg::<String>("x.Y", flags::CODEC_MSGPACK, &Bytes::from_static(b"\xc1"))
                .is_err()
        );
    }
}
