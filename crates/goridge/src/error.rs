use std::io;

/// Why bytes from a peer are not a valid goridge frame.
///
/// Every variant except [`FrameError::Io`] means the peer broke the protocol:
/// the connection (or worker) must be dropped, since the stream can no
/// longer be re-synchronised.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header's length nibble is below 3 words or above 13 (10 options).
    #[error("invalid header length: {words} words (expected 3..=13)")]
    HeaderLength {
        /// The low nibble of byte 0.
        words: u8,
    },
    /// The protocol version nibble is not 1.
    #[error("unsupported goridge protocol version {version} (expected 1)")]
    Version {
        /// The high nibble of byte 0.
        version: u8,
    },
    /// The CRC32 of bytes 0..6 does not match bytes 6..10. This is the
    /// classic sign of something printed on a worker's stdout.
    #[error("header CRC mismatch (expected {expected:#010x}, got {actual:#010x}); first bytes {prefix:02x?}: something other than goridge frames was written (an `echo` in the worker?)")]
    Crc {
        /// CRC computed over the received bytes.
        expected: u32,
        /// CRC carried in the header.
        actual: u32,
        /// The 12 header bytes as received, to show the user the stray output.
        prefix: [u8; 12],
    },
    /// The header announces a payload above the configured limit.
    #[error("frame payload of {len} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// Announced payload length.
        len: u64,
        /// Configured limit.
        limit: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({got} of {needed} bytes)")]
    Truncated {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes received before the end.
        got: usize,
    },
    /// PHP wrote "Could not open input file: ..." instead of a frame: the
    /// worker script path is wrong.
    #[error("the worker printed {text:?}: check the worker command's script path")]
    CouldNotOpen {
        /// What PHP printed (first line).
        text: String,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}
