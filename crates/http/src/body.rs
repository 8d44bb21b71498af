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

/// Reads the whole body, failing as soon as it passes `limit` bytes.
pub(crate) async fn collect<B>(body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<BoxError>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(classify(&e)),
    }
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
