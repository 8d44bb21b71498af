//! Bit values of the two flag bytes of a goridge header.
//!
//! Byte 1 says what the payload is (codec, control message, error text);
//! byte 10 drives streaming. Several bits may be set at once, so these are
//! plain constants to be OR-ed rather than an enum.

/// Byte 1: a control message (handshake pid, stop), JSON-encoded.
pub const CONTROL: u8 = 0x01;
/// Byte 1: raw bytes.
pub const CODEC_RAW: u8 = 0x04;
/// Byte 1: JSON.
pub const CODEC_JSON: u8 = 0x08;
/// Byte 1: MessagePack.
pub const CODEC_MSGPACK: u8 = 0x10;
/// Byte 1: Go's gob encoding.
pub const CODEC_GOB: u8 = 0x20;
/// Byte 1: the payload is an error message (a worker's exception text).
pub const ERROR: u8 = 0x40;
/// Byte 1: protobuf.
pub const CODEC_PROTO: u8 = 0x80;

/// Byte 10: more frames of the same response follow.
pub const STREAM: u8 = 0x01;
/// Byte 10: the server asks the worker to stop the current stream.
pub const STOP: u8 = 0x02;
/// Byte 10: the worker asks for a PONG to keep a long stream alive.
pub const PING: u8 = 0x04;
/// Byte 10: the answer to a PING.
pub const PONG: u8 = 0x08;
