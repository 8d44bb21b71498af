use bytes::{Buf, BufMut, BytesMut};

use crate::{Frame, FrameError, Options, HEADER_LEN, MAX_OPTIONS, VERSION};

/// What PHP prints on stdout when the worker script does not exist; RoadRunner
/// recognises these 12 bytes too, to give a useful message instead of a CRC error.
const COULD_NOT_OPEN: &[u8; 12] = b"Could not op";

/// The header fields the decoder needs, validated.
struct Header {
    flags: u8,
    stream: u8,
    options: usize,
    payload_len: usize,
}

/// Validates the fixed 12 header bytes: length nibble, CRC, version, limit.
fn parse_header(head: &[u8; HEADER_LEN], max_payload: usize) -> Result<Header, FrameError> {
    if head == COULD_NOT_OPEN {
        return Err(FrameError::CouldNotOpen {
            text: String::from_utf8_lossy(head).into_owned(),
        });
    }
    let words = head[0] & 0x0f;
    if !(3..=3 + MAX_OPTIONS as u8).contains(&words) {
        // Garbage usually fails here or at the CRC; keep the CRC error for
        // the common "echo on stdout" case so the message shows the bytes.
        let actual = u32::from_le_bytes([head[6], head[7], head[8], head[9]]);
        let expected = crc32fast::hash(&head[..6]);
        if actual != expected {
            return Err(FrameError::Crc {
                expected,
                actual,
                prefix: *head,
            });
        }
        return Err(FrameError::HeaderLength { words });
    }
    let actual = u32::from_le_bytes([head[6], head[7], head[8], head[9]]);
    let expected = crc32fast::hash(&head[..6]);
    if actual != expected {
        return Err(FrameError::Crc {
            expected,
            actual,
            prefix: *head,
        });
    }
    let version = head[0] >> 4;
    if version != VERSION {
        return Err(FrameError::Version { version });
    }
    let len = u32::from_le_bytes([head[2], head[3], head[4], head[5]]);
    let payload_len = usize::try_from(len).unwrap_or(usize::MAX);
    if payload_len > max_payload {
        return Err(FrameError::PayloadTooLarge {
            len: u64::from(len),
            limit: max_payload,
        });
    }
    Ok(Header {
        flags: head[1],
        stream: head[10],
        options: usize::from(words - 3),
        payload_len,
    })
}

/// Decodes one frame from the front of `buf`.
///
/// Returns `Ok(None)` while the buffer holds only part of a frame (read more
/// and call again); on success the frame's bytes are removed from `buf` and
/// the payload shares its allocation. The payload limit is checked as soon
/// as the 12 header bytes are there, before the caller grows any buffer,
/// and [`reserve_hint`] tells the caller how much to read next.
pub fn decode(buf: &mut BytesMut, max_payload: usize) -> Result<Option<Frame>, FrameError> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = parse_header(head, max_payload)?;
    let options_len = 4 * header.options;
    let total = HEADER_LEN + options_len + header.payload_len;
    if buf.len() < total {
        return Ok(None);
    }
    let mut values = [0u32; MAX_OPTIONS];
    for (i, value) in values.iter_mut().take(header.options).enumerate() {
        let at = HEADER_LEN + 4 * i;
        *value = u32::from_le_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
    }
    let options = Options::from_slice(&values[..header.options]).unwrap_or_default();
    buf.advance(HEADER_LEN + options_len);
    let payload = buf.split_to(header.payload_len).freeze();
    Ok(Some(Frame {
        flags: header.flags,
        stream: header.stream,
        options,
        payload,
    }))
}

/// How many bytes the frame at the front of `buf` needs in total, once its
/// header is complete and valid; lets a reader reserve exactly once.
pub(crate) fn frame_len(head: &[u8; HEADER_LEN], max_payload: usize) -> Result<usize, FrameError> {
    let header = parse_header(head, max_payload)?;
    Ok(HEADER_LEN + 4 * header.options + header.payload_len)
}

/// Appends `frame` to `dst`.
pub fn encode(frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
    encode_parts(
        frame.flags,
        frame.stream,
        &frame.options,
        &[&frame.payload],
        dst,
    )
}

/// Appends a frame whose payload is the concatenation of `parts` to `dst`.
///
/// A worker request's payload is `context ‖ body`; writing both parts here
/// saves building a joined buffer first.
pub fn encode_parts(
    flags: u8,
    stream: u8,
    options: &Options,
    parts: &[&[u8]],
    dst: &mut BytesMut,
) -> Result<(), FrameError> {
    let payload_len: usize = parts.iter().map(|p| p.len()).sum();
    let len = u32::try_from(payload_len).map_err(|_| FrameError::PayloadTooLarge {
        len: payload_len as u64,
        limit: u32::MAX as usize,
    })?;
    let mut head = [0u8; HEADER_LEN];
    head[0] = (VERSION << 4) | (3 + options.len() as u8);
    head[1] = flags;
    head[2..6].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&head[..6]);
    head[6..10].copy_from_slice(&crc.to_le_bytes());
    head[10] = stream;
    dst.reserve(HEADER_LEN + 4 * options.len() + payload_len);
    dst.put_slice(&head);
    for value in options.as_slice() {
        dst.put_u32_le(*value);
    }
    for part in parts {
        dst.put_slice(part);
    }
    Ok(())
}

/// Bytes a reader should make room for: the whole frame once the header is
/// in, otherwise the header. Never more than the configured limit allows.
pub fn reserve_hint(buf: &[u8], max_payload: usize) -> Result<usize, FrameError> {
    match buf.first_chunk::<HEADER_LEN>() {
        Some(head) => frame_len(head, max_payload),
        None => Ok(HEADER_LEN),
    }
}

/// `tokio_util` codec over [`decode`] and [`encode`], with a payload limit.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    max_payload: usize,
}

impl FrameCodec {
    /// A codec refusing payloads above `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        Self { max_payload }
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new(crate::DEFAULT_MAX_PAYLOAD)
    }
}

impl tokio_util::codec::Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let frame = decode(src, self.max_payload)?;
        if frame.is_none() {
            let want = reserve_hint(src, self.max_payload)?;
            src.reserve(want.saturating_sub(src.len()));
        }
        Ok(frame)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() => Ok(None),
            None => Err(FrameError::Truncated {
                needed: reserve_hint(src, self.max_payload)?,
                got: src.len(),
            }),
        }
    }
}

impl tokio_util::codec::Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode(&frame, dst)
    }
}

impl tokio_util::codec::Encoder<&Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode(frame, dst)
    }
}
