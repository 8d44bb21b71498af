//! Reading request bodies under `max_request_size`, without buffering
//! more than the limit.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Over `max_request_size`: 413.
    TooLarge,
    /// Not all in within `body_read_timeout`: 408.
    Timeout,
    /// The client sent something unreadable (bad chunked encoding, a
    /// malformed multipart body, a reset connection): 400.
    Bad(String),
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn classify(error: &BoxError) -> BodyError {
    if error.is::<http_body_util::LengthLimitError>() {
        BodyError::TooLarge
    } else {
        BodyError::Bad(error.to_string())
    }
}

/// After a body goes over the limit, up to this much more is read and
/// discarded (for at most [`DRAIN_TIME`]) before the 413 is sent: closing
/// with unread data makes the kernel reset the connection, and the client
/// would then never see the 413 (a "lingering close", as nginx does).
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the whole body, refusing it once it passes `limit` bytes; nothing
/// past the limit is kept.
pub(crate) async fn collect<B>(body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<BoxError>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = std::pin::pin!(body);
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Bad(e.into().to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len() + data.len() > limit {
            drop(buf);
            let drain = async {
                let mut drained = 0usize;
                while let Some(Ok(frame)) = body.frame().await {
                    drained += frame.into_data().map_or(0, |d| d.len());
                    if drained > DRAIN_BYTES {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

/// The body as a stream of chunks that fails past `limit` bytes (for the
/// multipart parser, which reads as it goes).
pub(crate) fn limited_stream<B>(
    body: B,
    limit: u64,
) -> impl futures::Stream<Item = Result<Bytes, BoxError>> + Send
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use futures::StreamExt;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    http_body_util::BodyStream::new(Limited::new(body, limit)).filter_map(|frame| async move {
        match frame {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(e)),
        }
    })
}
