//! RoadRunner's goridge frame format, byte for byte.
//!
//! Every message between Coyote and a worker (and every RPC call) is one or
//! more goridge frames: a 12-byte header protected by a CRC32, up to ten u32
//! options, then the payload. This crate only encodes and decodes frames; it
//! knows nothing about processes or pools, so it can be reused by the pool,
//! the RPC listener and the fuzz targets alike.
//!
//! # Layout
//! - [`flags`]: the bit values of header byte 1 (codec, control, error) and
//!   byte 10 (stream, stop, ping, pong).
//! - [`Frame`] / [`Options`]: an owned frame, cheap to clone (`Bytes` payload).
//! - [`decode`] / [`encode`]: the check -> parse -> advance decoder (an
//!   incomplete buffer is `Ok(None)`, not an error) and the encoder.
//! - [`FrameCodec`]: the same as a `tokio_util::codec` Decoder/Encoder.
//! - [`read_frame`] / [`write_frame`]: blocking I/O for `std::io` streams.
//! - [`FrameError`]: why a byte stream is not a valid frame.
//!
//! The payload length limit is checked from the header alone, before any
//! buffer is grown, so a peer announcing a 4 GiB payload costs nothing.

mod codec;
mod error;
pub mod flags;
mod frame;
mod io;

pub use codec::{decode, encode, encode_parts, reserve_hint, FrameCodec};
pub use error::FrameError;
pub use frame::{Frame, Options, HEADER_LEN, MAX_OPTIONS, VERSION};
pub use io::{read_frame, write_frame};

/// Default bound for one frame's payload: large enough for RoadRunner's
/// 1000 MB default request limit, small enough to reject absurd headers.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024 * 1024;

/// Decodes `bytes` every way a peer can feed them (whole, and byte by byte)
/// and checks the decoder's invariants. Shared by the cargo-fuzz target and a
/// stable property test so both exercise exactly the same code.
pub fn fuzz_decode(bytes: &[u8]) {
    const LIMIT: usize = 1 << 16;
    let mut whole = bytes::BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = decode(&mut whole, LIMIT) {
        assert!(frame.payload.len() <= LIMIT);
        let mut again = bytes::BytesMut::new();
        if encode(&frame, &mut again).is_ok() {
            let back = decode(&mut again, LIMIT);
            assert!(matches!(back, Ok(Some(ref f)) if *f == frame));
        }
        frames.push(frame);
    }
    // Fed one byte at a time, the decoder must find the same frames.
    let mut trickle = bytes::BytesMut::new();
    let mut seen = 0;
    for b in bytes {
        trickle.extend_from_slice(&[*b]);
        match decode(&mut trickle, LIMIT) {
            Ok(Some(frame)) => {
                assert_eq!(frames.get(seen), Some(&frame));
                seen += 1;
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    assert!(seen <= frames.len());
}
