use bytes::Bytes;
use goridge::{flags, Frame, Options};

use crate::RpcError;

/// One decoded RPC request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Sequence number chosen by the client, echoed in the answer.
    pub seq: u32,
    /// `Service.Method`.
    pub method: String,
    /// Codec flags of the request (CODEC_JSON, CODEC_PROTO, ...).
    pub codec: u8,
    /// The encoded argument.
    pub body: Bytes,
}

impl Call {
    /// Reads a request frame. `Err` carries the seq when it is known, so
    /// the error can still be answered.
    pub fn from_frame(frame: Frame) -> Result<Self, (u32, RpcError)> {
        let [seq, method_len] = frame.options.as_slice() else {
            let seq = frame.options.as_slice().first().copied().unwrap_or(0);
            return Err((
                seq,
                RpcError::Malformed(format!(
                    "should be 2 options (seq, method length), got {}",
                    frame.options.len()
                )),
            ));
        };
        let split = usize::try_from(*method_len).unwrap_or(usize::MAX);
        if split > frame.payload.len() {
            return Err((
                *seq,
                RpcError::Malformed(format!(
                    "method length {split} exceeds the payload of {} bytes",
                    frame.payload.len()
                )),
            ));
        }
        let method = std::str::from_utf8(&frame.payload[..split])
            .map_err(|_| (*seq, RpcError::Malformed("method name is not UTF-8".into())))?
            .to_owned();
        Ok(Self {
            seq: *seq,
            method,
            codec: frame.flags & !(flags::ERROR | flags::CONTROL),
            body: frame.payload.slice(split..),
        })
    }

    /// The request frame for this call (client side).
    pub fn to_frame(&self) -> Frame {
        let mut payload = Vec::with_capacity(self.method.len() + self.body.len());
        payload.extend_from_slice(self.method.as_bytes());
        payload.extend_from_slice(&self.body);
        Frame::new(
            self.codec,
            Options::from_slice(&[self.seq, self.method.len() as u32]).unwrap_or_default(),
            payload,
        )
    }

    /// The success answer: same seq, method and codec.
    pub fn answer(&self, result: &[u8]) -> Frame {
        respond(self.seq, &self.method, self.codec, result)
    }

    /// The error answer: ERROR flag, message after the method name.
    pub fn fail(&self, error: &RpcError) -> Frame {
        respond(
            self.seq,
            &self.method,
            self.codec | flags::ERROR,
            error.to_string().as_bytes(),
        )
    }
}

/// A response frame.
pub(crate) fn respond(seq: u32, method: &str, frame_flags: u8, body: &[u8]) -> Frame {
    let mut payload = Vec::with_capacity(method.len() + body.len());
    payload.extend_from_slice(method.as_bytes());
    payload.extend_from_slice(body);
    Frame::new(
        frame_flags,
        Options::from_slice(&[seq, method.len() as u32]).unwrap_or_default(),
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_answers() {
        let call = Call {
            seq: 7,
            method: "informer.List".into(),
            codec: flags::CODEC_JSON,
            body: Bytes::from_static(b"true"),
        };
        let back = Call::from_frame(call.to_frame()).unwrap();
        assert_eq!(back, call);
        let ok = call.answer(b"[\"http\"]");
        assert_eq!(ok.options.as_slice(), [7, 13]);
        assert_eq!(&ok.payload[..], b"informer.List[\"http\"]");
        let err = call.fail(&RpcError::UnknownMethod("informer.Nope".into()));
        assert!(err.has_flag(flags::ERROR));
        assert!(err
            .payload
            .ends_with(b"rpc: can't find method informer.Nope"));
    }

    #[test]
    fn malformed_requests() {
        let frame = Frame::new(flags::CODEC_JSON, Options::one(3), &b"abc"[..]);
        let (seq, err) = Call::from_frame(frame).unwrap_err();
        assert_eq!(seq, 3);
        assert!(err.to_string().contains("should be 2 options"), "{err}");
        let frame = Frame::new(
            flags::CODEC_JSON,
            Options::from_slice(&[1, 99]).unwrap(),
            &b"abc"[..],
        );
        let (_, err) = Call::from_frame(frame).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
    }
}

#[cfg(test)]
mod fuzz_property {
    use proptest::prelude::*;

    proptest! {
        /// The cargo-fuzz entry point, on stable, over arbitrary bytes and
        /// over valid frames with arbitrary options and payloads.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            crate::fuzz_requests(&bytes);
        }

        #[test]
        fn arbitrary_frames_never_panic(
            options in proptest::collection::vec(any::<u32>(), 0..4),
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let frame = goridge::Frame::new(
                goridge::flags::CODEC_JSON,
                goridge::Options::from_slice(&options).unwrap_or_default(),
                payload,
            );
            let mut buf = bytes::BytesMut::new();
            goridge::encode(&frame, &mut buf).unwrap();
            crate::fuzz_requests(&buf);
        }
    }
}
