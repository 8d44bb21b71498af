//! Blocking frame I/O over `std::io`, for tools, tests and simple clients.

use std::io::{self, Read, Write};

use bytes::BytesMut;

use crate::codec::frame_len;
use crate::{decode, encode, Frame, FrameError, HEADER_LEN};

/// Reads exactly one frame, refusing payloads above `max_payload` before
/// allocating for them. A clean end of stream before any byte is `Ok(None)`.
pub fn read_frame<R: Read>(
    reader: &mut R,
    max_payload: usize,
) -> Result<Option<Frame>, FrameError> {
    let mut head = [0u8; HEADER_LEN];
    let got = read_full(reader, &mut head)?;
    if got == 0 {
        return Ok(None);
    }
    if got < HEADER_LEN {
        return Err(FrameError::Truncated {
            needed: HEADER_LEN,
            got,
        });
    }
    let total = frame_len(&head, max_payload)?;
    let mut buf = BytesMut::zeroed(total);
    buf[..HEADER_LEN].copy_from_slice(&head);
    let got = read_full(reader, &mut buf[HEADER_LEN..])?;
    if HEADER_LEN + got < total {
        return Err(FrameError::Truncated {
            needed: total,
            got: HEADER_LEN + got,
        });
    }
    decode(&mut buf, max_payload)
}

/// Writes one frame and flushes.
pub fn write_frame<W: Write>(writer: &mut W, frame: &Frame) -> Result<(), FrameError> {
    let mut buf = BytesMut::with_capacity(frame.encoded_len());
    encode(frame, &mut buf)?;
    writer.write_all(&buf)?;
    writer.flush()?;
    Ok(())
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
