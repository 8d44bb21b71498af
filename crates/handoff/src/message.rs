//! The control socket's messages: one goridge frame per `SOCK_SEQPACKET`
//! message. Coyote sends the handshake, connections and stop; a worker
//! answers the handshake and sends reports. Decoding never panics and
//! never allocates what a worker asks for: a message is at most
//! [`MAX_MESSAGE`] bytes, a report at most [`MAX_CLOSED`] ids.

use bytes::{Bytes, BytesMut};
use goridge::{flags, Frame, Options};
use serde::{Deserialize, Serialize};

/// The largest message a worker may send (4096 ids fit with room).
pub const MAX_MESSAGE: usize = 128 * 1024;
/// The most ids one report may close.
pub const MAX_CLOSED: usize = 4096;

/// A connection handed to a worker (`fd_passing`).
#[derive(Debug, Serialize)]
pub struct Handoff<'a> {
    /// Unique per listener for the server's lifetime.
    pub id: u64,
    /// The client (`""` on unix sockets).
    pub peer: &'a str,
    /// The listener's bound address (`""` on unix sockets).
    pub local: &'a str,
    /// The listener's name.
    pub listener: &'a str,
}

/// What a worker reports.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Report {
    /// Connections it closed (`fd_passing`).
    pub closed: Vec<u64>,
    /// Its open connections (`reuseport`).
    pub open: Option<u64>,
    /// Its accepted total (`reuseport`).
    pub accepted: Option<u64>,
}

/// A message a worker sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    /// The handshake's answer.
    Hello {
        /// The pid the worker claims.
        pid: u32,
    },
    /// A report.
    Report(Report),
}

/// Why a worker's message was refused (the worker is then replaced).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// Not one well-formed frame.
    #[error("bad frame: {0}")]
    Frame(String),
    /// The payload is not the JSON expected.
    #[error("bad payload: {0}")]
    Payload(String),
    /// More than [`MAX_CLOSED`] ids.
    #[error("{0} ids in one report, more than {MAX_CLOSED}")]
    TooManyIds(usize),
}

/// Encodes a frame as one message.
pub fn encode(flags: u8, payload: &[u8]) -> Bytes {
    let frame = Frame::new(flags, Options::default(), Bytes::copy_from_slice(payload));
    let mut out = BytesMut::with_capacity(frame.encoded_len());
    // Payloads here are small and built by Coyote: encoding cannot fail
    // (the only error is a payload above u32::MAX bytes).
    if goridge::encode(&frame, &mut out).is_err() {
        out.clear();
    }
    out.freeze()
}

/// Coyote's handshake: `CONTROL|CODEC_JSON {"pid":<pid>}`.
pub fn hello(pid: u32) -> Bytes {
    encode(
        flags::CONTROL | flags::CODEC_JSON,
        format!("{{\"pid\":{pid}}}").as_bytes(),
    )
}

/// The stop frame: `CONTROL|CODEC_JSON {"stop":true}`.
pub fn stop() -> Bytes {
    encode(flags::CONTROL | flags::CODEC_JSON, br#"{"stop":true}"#)
}

/// A connection frame: `CODEC_JSON` and the [`Handoff`] payload.
pub fn handoff(conn: &Handoff<'_>) -> Bytes {
    let json = serde_json::to_vec(conn).unwrap_or_default();
    encode(flags::CODEC_JSON, &json)
}

/// Decodes one message from a worker.
///
/// # Errors
/// A [`MessageError`]: not exactly one frame, bad JSON, too many ids.
pub fn decode(message: &[u8]) -> Result<Incoming, MessageError> {
    let mut buf = BytesMut::from(message);
    let frame = match goridge::decode(&mut buf, MAX_MESSAGE) {
        Ok(Some(frame)) => frame,
        Ok(None) => return Err(MessageError::Frame("incomplete frame".into())),
        Err(e) => return Err(MessageError::Frame(e.to_string())),
    };
    if !buf.is_empty() {
        return Err(MessageError::Frame(format!(
            "{} bytes after the frame",
            buf.len()
        )));
    }
    if frame.has_flag(flags::CONTROL) {
        #[derive(Deserialize)]
        struct Pid {
            pid: i64,
        }
        let pid: Pid = serde_json::from_slice(&frame.payload)
            .map_err(|e| MessageError::Payload(e.to_string()))?;
        let pid = u32::try_from(pid.pid)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| MessageError::Payload(format!("pid {} is not a process", pid.pid)))?;
        return Ok(Incoming::Hello { pid });
    }
    // The message bound caps what is decoded (a 128 KiB message holds at
    // most ~64 K ids); more than MAX_CLOSED is refused.
    let report: Report =
        serde_json::from_slice(&frame.payload).map_err(|e| MessageError::Payload(e.to_string()))?;
    if report.closed.len() > MAX_CLOSED {
        return Err(MessageError::TooManyIds(report.closed.len()));
    }
    Ok(Incoming::Report(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flags: u8, payload: &str) -> Bytes {
        encode(flags, payload.as_bytes())
    }

    #[test]
    fn golden_handshake_and_stop() {
        let hello = hello(7);
        assert_eq!(hello[0], 0x13, "version 1, 3 words");
        assert_eq!(hello[1], flags::CONTROL | flags::CODEC_JSON);
        assert_eq!(&hello[2..6], &9u32.to_le_bytes());
        assert_eq!(&hello[12..], br#"{"pid":7}"#);
        assert_eq!(&stop()[12..], br#"{"stop":true}"#);
        let conn = handoff(&Handoff {
            id: 17,
            peer: "203.0.113.5:51234",
            local: "127.0.0.1:9000",
            listener: "web",
        });
        assert_eq!(conn[1], flags::CODEC_JSON);
        assert_eq!(
            &conn[12..],
            br#"{"id":17,"peer":"203.0.113.5:51234","local":"127.0.0.1:9000","listener":"web"}"#
        );
    }

    #[test]
    fn decodes_answers_and_reports() {
        // PHP's goridge answers with CONTROL only.
        assert_eq!(
            decode(&frame(flags::CONTROL, r#"{"pid":42}"#)),
            Ok(Incoming::Hello { pid: 42 })
        );
        assert_eq!(
            decode(&frame(flags::CODEC_JSON, r#"{"closed":[17,18]}"#)),
            Ok(Incoming::Report(Report {
                closed: vec![17, 18],
                ..Report::default()
            }))
        );
        assert_eq!(
            decode(&frame(
                flags::CODEC_JSON,
                r#"{"open":3,"accepted":9,"extra":1}"#
            )),
            Ok(Incoming::Report(Report {
                closed: vec![],
                open: Some(3),
                accepted: Some(9),
            }))
        );
    }

    #[test]
    fn hostile_messages_are_errors() {
        let bad: Vec<Bytes> = vec![
            Bytes::new(),
            Bytes::from_static(b"garbage garbage garbage"),
            frame(flags::CONTROL, r#"{"pid":0}"#),
            frame(flags::CONTROL, r#"{"pid":-5}"#),
            frame(flags::CONTROL, r#"{"pid":99999999999}"#),
            frame(flags::CONTROL, "not json"),
            frame(flags::CODEC_JSON, r#"{"closed":"all"}"#),
            frame(flags::CODEC_JSON, r#"{"closed":[-1]}"#),
            frame(flags::CODEC_JSON, "[1,2,3]"),
            frame(flags::CODEC_JSON, r#"{"open":-1}"#),
        ];
        for message in bad {
            assert!(decode(&message).is_err(), "{message:?}");
        }
        // A header announcing more than the message holds.
        let mut short = frame(flags::CODEC_JSON, "{}").to_vec();
        short.truncate(13);
        assert!(decode(&short).is_err());
        // Trailing bytes after the frame.
        let mut long = frame(flags::CODEC_JSON, "{}").to_vec();
        long.push(b'x');
        assert!(decode(&long).is_err());
        // A corrupted CRC.
        let mut crc = frame(flags::CODEC_JSON, "{}").to_vec();
        crc[6] ^= 0xff;
        assert!(decode(&crc).is_err());
        // Too many ids.
        let ids: Vec<String> = (0..=MAX_CLOSED).map(|i| i.to_string()).collect();
        let many = frame(
            flags::CODEC_JSON,
            &format!("{{\"closed\":[{}]}}", ids.join(",")),
        );
        assert_eq!(decode(&many), Err(MessageError::TooManyIds(MAX_CLOSED + 1)));
        // A header claiming a 4 GiB payload is refused without allocating.
        let mut huge = frame(flags::CODEC_JSON, "{}").to_vec();
        huge[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for len in 0..600 {
            let mut bytes = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                bytes.push(seed as u8);
            }
            let _ = decode(&bytes);
            // The same bytes behind a valid header.
            let _ = decode(&encode(flags::CODEC_JSON, &bytes));
        }
    }
}
