//! Golden bytes produced by PHP's `pack()` + `crc32()` (the way the PHP
//! client builds frames), malformed input, and property round trips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::BytesMut;
use goridge::{
    decode, encode, flags, read_frame, write_frame, Frame, FrameCodec, FrameError, Options,
};
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// (hex from PHP, flags, stream byte, options, payload)
type Golden = (&'static str, u8, u8, Vec<u32>, &'static [u8]);

fn golden() -> Vec<Golden> {
    vec![
        (
            "13090c0000005f0c467300007b22706964223a313233347d",
            flags::CONTROL | flags::CODEC_JSON,
            0,
            vec![],
            br#"{"pid":1234}"#,
        ),
        (
            "140805000000dd5a2b2e0100020000007b7d616263",
            flags::CODEC_JSON,
            flags::STREAM,
            vec![2],
            b"{}abc",
        ),
        ("134004000000881e11e30000626f6f6d", flags::ERROR, 0, vec![], b"boom"),
        (
            "150811000000b0490c3a0000070000000c000000696e666f726d65722e4c69737474727565",
            flags::CODEC_JSON,
            0,
            vec![7, 12],
            b"informer.Listtrue",
        ),
        (
            "1d040000000026160afb0000000000000000000000000000000000000000000000000000000000000000000000000000ffffffff",
            flags::CODEC_RAW,
            0,
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0, u32::MAX],
            b"",
        ),
    ]
}

#[test]
fn encodes_exactly_like_php() {
    for (want, fl, stream, opts, payload) in golden() {
        let frame = Frame {
            flags: fl,
            stream,
            options: Options::from_slice(&opts).unwrap(),
            payload: payload.to_vec().into(),
        };
        let mut buf = BytesMut::new();
        encode(&frame, &mut buf).unwrap();
        assert_eq!(buf.as_ref(), hex(want).as_slice(), "frame {frame:?}");
        assert_eq!(frame.encoded_len(), buf.len());
    }
}

#[test]
fn decodes_php_frames() {
    for (bytes, fl, stream, opts, payload) in golden() {
        let mut buf = BytesMut::from(hex(bytes).as_slice());
        let frame = decode(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(frame.flags, fl);
        assert_eq!(frame.stream, stream);
        assert_eq!(frame.options.as_slice(), opts.as_slice());
        assert_eq!(frame.payload.as_ref(), payload);
        assert!(buf.is_empty());
    }
}

#[test]
fn incomplete_is_none_at_every_split() {
    let bytes = hex(golden()[3].0);
    for cut in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert!(decode(&mut buf, 1024).unwrap().is_none(), "cut at {cut}");
        assert_eq!(buf.len(), cut, "nothing consumed");
    }
}

fn header(byte0: u8, fl: u8, len: u32) -> Vec<u8> {
    let mut h = vec![byte0, fl];
    h.extend_from_slice(&len.to_le_bytes());
    let crc = crc(&h);
    h.extend_from_slice(&crc.to_le_bytes());
    h.extend_from_slice(&[0, 0]);
    h
}

fn crc(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32/IEEE, independent of the crate under test.
    let mut c = !0u32;
    for b in bytes {
        c ^= u32::from(*b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn rejects_bad_crc_and_shows_the_bytes() {
    let mut bytes = hex(golden()[0].0);
    bytes[7] ^= 0xff;
    let err = decode(&mut BytesMut::from(bytes.as_slice()), 1024).unwrap_err();
    assert!(matches!(err, FrameError::Crc { .. }), "{err}");
    let mut stray = BytesMut::from(&b"hello from a stray echo\n"[..]);
    let err = decode(&mut stray, 1024).unwrap_err();
    assert!(
        err.to_string().contains("68 65 6c 6c 6f") || err.to_string().contains("68, 65, 6c"),
        "{err}"
    );
}

#[test]
fn rejects_header_length_out_of_range() {
    for words in [0u8, 1, 2, 14, 15] {
        let bytes = header(0x10 | words, 0, 0);
        let err = decode(&mut BytesMut::from(bytes.as_slice()), 1024).unwrap_err();
        assert!(
            matches!(err, FrameError::HeaderLength { words: w } if w == words),
            "{err}"
        );
    }
}

#[test]
fn rejects_other_versions() {
    let bytes = header(0x23, 0, 0);
    let err = decode(&mut BytesMut::from(bytes.as_slice()), 1024).unwrap_err();
    assert!(matches!(err, FrameError::Version { version: 2 }), "{err}");
}

#[test]
fn rejects_absurd_payload_length_without_allocating() {
    let bytes = header(0x13, 0, 0xFFFF_FFF0);
    let mut buf = BytesMut::from(bytes.as_slice());
    let cap = buf.capacity();
    let err = FrameCodec::new(1 << 20).decode(&mut buf).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::PayloadTooLarge {
                len: 0xFFFF_FFF0,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(buf.capacity(), cap, "no buffer growth for a refused frame");
    let err = read_frame(&mut bytes.as_slice(), 1 << 20).unwrap_err();
    assert!(matches!(err, FrameError::PayloadTooLarge { .. }), "{err}");
}

#[test]
fn recognises_php_could_not_open() {
    let mut buf = BytesMut::from(&b"Could not open input file: worker.php\n"[..]);
    let err = decode(&mut buf, 1024).unwrap_err();
    assert!(matches!(err, FrameError::CouldNotOpen { .. }), "{err}");
}

#[test]
fn blocking_io_detects_truncation() {
    let bytes = hex(golden()[1].0);
    assert!(read_frame(&mut &bytes[..0], 1024).unwrap().is_none());
    for cut in 1..bytes.len() {
        let err = read_frame(&mut &bytes[..cut], 1024).unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { .. }),
            "cut {cut}: {err}"
        );
    }
    let frame = read_frame(&mut bytes.as_slice(), 1024).unwrap().unwrap();
    let mut out = Vec::new();
    write_frame(&mut out, &frame).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn codec_decode_eof_reports_truncation() {
    let bytes = hex(golden()[1].0);
    let mut buf = BytesMut::from(&bytes[..bytes.len() - 1]);
    let err = FrameCodec::default().decode_eof(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::Truncated { .. }), "{err}");
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    (
        any::<u8>(),
        any::<u8>(),
        proptest::collection::vec(any::<u32>(), 0..=10),
        proptest::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(fl, stream, opts, payload)| Frame {
            flags: fl,
            stream,
            options: Options::from_slice(&opts).unwrap(),
            payload: payload.into(),
        })
}

proptest! {
    #[test]
    fn round_trips_through_the_codec(frames in proptest::collection::vec(arb_frame(), 1..5)) {
        let mut codec = FrameCodec::new(4096);
        let mut buf = BytesMut::new();
        for f in &frames {
            codec.encode(f, &mut buf).unwrap();
        }
        for f in &frames {
            let got = codec.decode(&mut buf).unwrap();
            prop_assert_eq!(got.as_ref(), Some(f));
        }
        prop_assert!(buf.is_empty());
    }

    /// The same entry point the cargo-fuzz target uses, on stable.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        goridge::fuzz_decode(&bytes);
    }
}
