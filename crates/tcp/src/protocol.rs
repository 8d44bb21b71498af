//! What goes to the worker and what comes back, as RoadRunner's tcp
//! plugin and roadrunner-php/tcp speak it:
//!
//! - to the worker, the payload context is JSON
//!   `{"remote_addr":"127.0.0.1:50000","server":"<name>","uuid":"<v4>","event":"CONNECTED"}`
//!   (`DATA` with the chunk as body, `CLOSE` with an empty body);
//! - back, the reply context is the action, literally `CONTINUE`, `WRITE`,
//!   `WRITECLOSE` or `CLOSE`, and the body is what to write.

use bytes::{BufMut, Bytes, BytesMut};

/// A connection event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The client connected (empty body).
    Connected,
    /// A delimited chunk arrived (the chunk is the body).
    Data,
    /// The connection is closed (empty body; the reply is ignored).
    Close,
}

impl Event {
    /// The name in the context's `event` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "CONNECTED",
            Self::Data => "DATA",
            Self::Close => "CLOSE",
        }
    }
}

/// What the worker asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Keep reading.
    Continue,
    /// Write the body, keep reading.
    Write,
    /// Write the body, then close.
    WriteClose,
    /// Close.
    Close,
}

impl Action {
    /// Reads a reply context; `None` for anything else (RoadRunner then
    /// closes the connection).
    pub fn parse(context: &[u8]) -> Option<Self> {
        match context {
            b"CONTINUE" => Some(Self::Continue),
            b"WRITE" => Some(Self::Write),
            b"WRITECLOSE" => Some(Self::WriteClose),
            b"CLOSE" => Some(Self::Close),
            _ => None,
        }
    }
}

/// The context of one connection's events, encoded once: everything up to
/// the event name, which is all that changes.
#[derive(Clone, Debug)]
pub struct Context {
    prefix: Bytes,
}

impl Context {
    /// The context of the connection `uuid` from `remote_addr` on `server`.
    pub fn new(remote_addr: &str, server: &str, uuid: &str) -> Self {
        let mut prefix = BytesMut::with_capacity(96 + server.len());
        prefix.put_slice(b"{\"remote_addr\":");
        put_json_string(&mut prefix, remote_addr);
        prefix.put_slice(b",\"server\":");
        put_json_string(&mut prefix, server);
        prefix.put_slice(b",\"uuid\":");
        put_json_string(&mut prefix, uuid);
        prefix.put_slice(b",\"event\":\"");
        Self {
            prefix: prefix.freeze(),
        }
    }

    /// The JSON context of `event`.
    pub fn encode(&self, event: Event) -> Bytes {
        let name = event.as_str();
        let mut out = BytesMut::with_capacity(self.prefix.len() + name.len() + 2);
        out.put_slice(&self.prefix);
        out.put_slice(name.as_bytes());
        out.put_slice(b"\"}");
        out.freeze()
    }
}

fn put_json_string(out: &mut BytesMut, value: &str) {
    // A `&str` always serialises; the fallback keeps the JSON valid anyway.
    match serde_json::to_vec(value) {
        Ok(quoted) => out.put_slice(&quoted),
        Err(_) => out.put_slice(b"\"\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_is_roadrunners_json() {
        let ctx = Context::new(
            "127.0.0.1:5000",
            "server1",
            "6b8f0c1e-0000-4000-8000-000000000000",
        );
        let json = ctx.encode(Event::Connected);
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            r#"{"remote_addr":"127.0.0.1:5000","server":"server1","uuid":"6b8f0c1e-0000-4000-8000-000000000000","event":"CONNECTED"}"#
        );
        for event in [Event::Data, Event::Close] {
            let value: serde_json::Value = serde_json::from_slice(&ctx.encode(event)).unwrap();
            assert_eq!(value["event"], event.as_str());
            assert_eq!(value["server"], "server1");
        }
    }

    #[test]
    fn names_are_escaped() {
        let ctx = Context::new("[::1]:1", "a\"b\\c", "u");
        let value: serde_json::Value = serde_json::from_slice(&ctx.encode(Event::Data)).unwrap();
        assert_eq!(value["server"], "a\"b\\c");
        assert_eq!(value["remote_addr"], "[::1]:1");
    }

    #[test]
    fn actions_are_exact_and_case_sensitive() {
        assert_eq!(Action::parse(b"CONTINUE"), Some(Action::Continue));
        assert_eq!(Action::parse(b"WRITE"), Some(Action::Write));
        assert_eq!(Action::parse(b"WRITECLOSE"), Some(Action::WriteClose));
        assert_eq!(Action::parse(b"CLOSE"), Some(Action::Close));
        assert_eq!(Action::parse(b"write"), None);
        assert_eq!(Action::parse(b""), None);
        assert_eq!(Action::parse(b"WRITE "), None);
    }
}
