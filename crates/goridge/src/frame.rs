use bytes::Bytes;

/// Protocol version written in the high nibble of byte 0.
pub const VERSION: u8 = 1;
/// Length of the fixed part of the header.
pub const HEADER_LEN: usize = 12;
/// Most options a header can carry (header length nibble at most 13).
pub const MAX_OPTIONS: usize = 10;

/// Up to ten u32 header options, stored inline (no allocation per frame).
///
/// Worker frames carry one (the context length), RPC frames two
/// (sequence number, method name length).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    len: u8,
    values: [u32; MAX_OPTIONS],
}

impl Options {
    /// No options.
    pub const fn new() -> Self {
        Self {
            len: 0,
            values: [0; MAX_OPTIONS],
        }
    }

    /// Options from a slice; `None` when there are more than ten.
    pub fn from_slice(values: &[u32]) -> Option<Self> {
        if values.len() > MAX_OPTIONS {
            return None;
        }
        let mut options = Self::new();
        options.values[..values.len()].copy_from_slice(values);
        options.len = values.len() as u8;
        Some(options)
    }

    /// One option: the common case of a worker frame.
    pub const fn one(value: u32) -> Self {
        let mut values = [0; MAX_OPTIONS];
        values[0] = value;
        Self { len: 1, values }
    }

    /// The options as a slice.
    pub fn as_slice(&self) -> &[u32] {
        &self.values[..self.len as usize]
    }

    /// Number of options.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when there are no options.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One goridge frame.
///
/// The payload is `Bytes`, so a decoded frame shares the read buffer and
/// slicing it into context and body copies nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Byte 1: codec / control / error bits (see [`crate::flags`]).
    pub flags: u8,
    /// Byte 10: stream / stop / ping / pong bits (see [`crate::flags`]).
    pub stream: u8,
    /// Header options.
    pub options: Options,
    /// The payload (options are not part of it).
    pub payload: Bytes,
}

impl Frame {
    /// A frame with the given flags, options and payload, no stream bits.
    pub fn new(flags: u8, options: Options, payload: impl Into<Bytes>) -> Self {
        Self {
            flags,
            stream: 0,
            options,
            payload: payload.into(),
        }
    }

    /// True when any of `bits` is set in byte 1.
    pub fn has_flag(&self, bits: u8) -> bool {
        self.flags & bits != 0
    }

    /// True when any of `bits` is set in byte 10.
    pub fn has_stream_flag(&self, bits: u8) -> bool {
        self.stream & bits != 0
    }

    /// Bytes this frame takes on the wire.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + 4 * self.options.len() + self.payload.len()
    }
}
