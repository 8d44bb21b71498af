use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use goridge::{flags, FrameCodec};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::codec::Framed;

use crate::{Call, RpcError, MAX_FRAME};

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A goridge RPC client with one call in flight at a time (as PHP's).
pub struct RpcClient {
    framed: Framed<Box<dyn Stream>, FrameCodec>,
    seq: u32,
}

impl RpcClient {
    /// Connects to `tcp://host:port`, `host:port` or `unix:///path`.
    pub async fn connect(address: &str) -> Result<Self, RpcError> {
        let stream: Box<dyn Stream> = match address.strip_prefix("unix://") {
            Some(path) => Box::new(UnixStream::connect(path).await?),
            None => {
                let stream =
                    TcpStream::connect(address.strip_prefix("tcp://").unwrap_or(address)).await?;
                stream.set_nodelay(true)?;
                Box::new(stream)
            }
        };
        Ok(Self {
            framed: Framed::new(stream, FrameCodec::new(MAX_FRAME)),
            seq: 0,
        })
    }

    /// Calls `method` with a raw argument; returns the raw result.
    pub async fn call_raw(
        &mut self,
        method: &str,
        codec: u8,
        body: Bytes,
    ) -> Result<Bytes, RpcError> {
        self.seq = self.seq.wrapping_add(1);
        let call = Call {
            seq: self.seq,
            method: method.to_owned(),
            codec,
            body,
        };
        self.framed.send(call.to_frame()).await?;
        let frame = self
            .framed
            .next()
            .await
            .ok_or_else(|| RpcError::Io(std::io::ErrorKind::UnexpectedEof.into()))??;
        let answer = Call::from_frame(frame.clone()).map_err(|(_, e)| e)?;
        if answer.seq != self.seq {
            return Err(RpcError::Malformed(format!(
                "answer seq {} does not match call seq {}",
                answer.seq, self.seq
            )));
        }
        if frame.has_flag(flags::ERROR) {
            return Err(RpcError::Remote {
                method: method.to_owned(),
                message: String::from_utf8_lossy(&answer.body).into_owned(),
            });
        }
        Ok(answer.body)
    }

    /// Calls `method` with a JSON argument and decodes the JSON result.
    pub async fn call_json<A: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &str,
        arg: &A,
    ) -> Result<R, RpcError> {
        let body = serde_json::to_vec(arg).map_err(|e| RpcError::BadArgument {
            method: method.to_owned(),
            reason: e.to_string(),
        })?;
        let result = self
            .call_raw(method, flags::CODEC_JSON, body.into())
            .await?;
        serde_json::from_slice(&result).map_err(|e| RpcError::BadArgument {
            method: method.to_owned(),
            reason: format!("result: {e}"),
        })
    }
}
