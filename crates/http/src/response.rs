//! The worker's response context: status and headers, JSON or protobuf.
//!
//! The worker never decides how a response is framed: `Content-Length`,
//! `Transfer-Encoding`, `Connection`, `Keep-Alive`, `Upgrade`, `TE` and
//! `Proxy-Connection` are taken out here (the server frames the body
//! itself), and the head is bounded in header count and bytes before
//! anything is built from it.

use std::fmt;

use bytes::{BufMut, Bytes};
use hyper::header::{
    HeaderName, HeaderValue, InvalidHeaderValue, CONNECTION, CONTENT_LENGTH, TE, TRANSFER_ENCODING,
    UPGRADE,
};
use hyper::StatusCode;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Bounds on one response head from a worker (`http.max_response_headers`,
/// `http.max_response_header_bytes`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadLimits {
    /// Header lines (each value of a list counts).
    pub(crate) max_headers: usize,
    /// Bytes of `name: value\r\n` lines, added up.
    pub(crate) max_bytes: usize,
}

/// What the worker said its body length was. Never sent as is: the server
/// frames the body by its real length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeclaredLength {
    /// One length (or the same one repeated).
    Valid(u64),
    /// Not a number, or several different numbers.
    Invalid,
}

/// A response head's headers: most heads fit inline.
pub(crate) type HeadHeaders = smallvec::SmallVec<[(HeaderName, HeaderValue); 4]>;

/// Status and headers of one response (or of one informational 1xx).
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    /// End-to-end headers only; framing headers are never in here.
    pub(crate) headers: HeadHeaders,
    /// The worker's `Content-Length`, when it sent one.
    pub(crate) content_length: Option<DeclaredLength>,
    /// The worker sent `Connection: close`: the server closes the
    /// connection after this response (HTTP/1.1), with its own header.
    pub(crate) close: bool,
}

/// Why a response head was refused (a worker fault: 5xx).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HeadError {
    /// Not valid JSON / protobuf for a response context.
    #[error("invalid {encoding} response context: {reason}")]
    Decode {
        /// `JSON` or `protobuf`.
        encoding: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// Status outside 100..=599.
    #[error("invalid status code {0}")]
    Status(i64),
    /// More header lines than `max_response_headers`.
    #[error("response has more than {limit} headers (http.max_response_headers)")]
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// More header bytes than `max_response_header_bytes`.
    #[error("response headers are larger than {limit} bytes (http.max_response_header_bytes)")]
    TooLarge {
        /// The limit in force.
        limit: usize,
    },
}

/// Builds the head as it is decoded: every `name: value` line is counted
/// against the limits, then classified and kept, dropped or recorded, with
/// no intermediate list of raw headers. A value that lies in `source` as
/// it is (no escapes) is shared with it, not copied.
struct Builder {
    /// The bytes being decoded.
    source: Bytes,
    limits: HeadLimits,
    headers: usize,
    bytes: usize,
    exceeded: Option<HeadError>,
    head: Head,
}

impl Builder {
    fn new(limits: HeadLimits, source: Bytes) -> Self {
        Self {
            source,
            limits,
            headers: 0,
            bytes: 0,
            exceeded: None,
            head: Head {
                status: StatusCode::OK,
                headers: HeadHeaders::new(),
                content_length: None,
                close: false,
            },
        }
    }

    /// Accounts one `name: value` line; false (and the reason kept) once a
    /// limit is passed.
    fn charge(&mut self, name: usize, value: usize) -> bool {
        self.headers += 1;
        self.bytes = self.bytes.saturating_add(name + value + 4);
        if self.headers > self.limits.max_headers {
            self.exceeded = Some(HeadError::TooManyHeaders {
                limit: self.limits.max_headers,
            });
        } else if self.bytes > self.limits.max_bytes {
            self.exceeded = Some(HeadError::TooLarge {
                limit: self.limits.max_bytes,
            });
        }
        self.exceeded.is_none()
    }

    fn refuse<E: de::Error>(&self) -> E {
        E::custom("response head over the limits")
    }

    /// A header name as the worker sent it: `None` (logged) when invalid,
    /// its values are then counted and dropped.
    fn name(raw: &str) -> Option<HeaderName> {
        let name = HeaderName::from_bytes(raw.as_bytes());
        if name.is_err() {
            tracing::warn!(target: "coyote::http", header = %raw, "worker sent an invalid header name; dropped");
        }
        name.ok()
    }

    /// A header value: a slice of the source when it lies there (a
    /// reference count, no copy), otherwise a copy.
    fn value(&self, value: &[u8]) -> Result<HeaderValue, InvalidHeaderValue> {
        let source = self.source.as_ptr_range();
        let inside = value.as_ptr_range();
        if !value.is_empty() && source.start <= inside.start && inside.end <= source.end {
            // In range (checked just above), so `slice_ref` cannot panic.
            HeaderValue::from_maybe_shared(self.source.slice_ref(value))
        } else {
            HeaderValue::from_bytes(value)
        }
    }

    /// Counts one line, then keeps, records or drops it.
    fn add(&mut self, name: Option<&HeaderName>, name_len: usize, value: &[u8]) -> bool {
        if !self.charge(name_len, value.len()) {
            return false;
        }
        let Some(name) = name else { return true };
        match kind(name) {
            Kind::EndToEnd => match self.value(value) {
                Ok(value) => self.head.headers.push((name.clone(), value)),
                Err(_) => {
                    tracing::warn!(target: "coyote::http", header = %name, "worker sent an invalid header value; dropped");
                }
            },
            Kind::Length => {
                let this =
                    declared_length(value).map_or(DeclaredLength::Invalid, DeclaredLength::Valid);
                self.head.content_length = match self.head.content_length {
                    None => Some(this),
                    Some(prev) if prev == this => Some(prev),
                    Some(_) => Some(DeclaredLength::Invalid),
                };
            }
            Kind::Connection => {
                self.head.close |= value
                    .split(|b| *b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
            }
            Kind::Framing => {
                tracing::debug!(target: "coyote::http", header = %name,
                    "worker sent a hop-by-hop header; the server frames responses itself, dropped");
            }
        }
        true
    }
}

/// A JSON string, borrowed from the context when it has no escapes
/// (serde's own `Cow<str>` always copies).
struct Text<'de>(std::borrow::Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// The top-level JSON object: `{"status": int, "headers": {...}}`.
struct HeadSeed<'a>(&'a mut Builder);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Status,
    Headers,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for HeadSeed<'_> {
    type Value = i64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeadSeed<'_> {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a response context object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut status = 0;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Status => status = map.next_value::<Option<i64>>()?.unwrap_or(0),
                Field::Headers => map.next_value_seed(HeadersSeed(&mut *self.0))?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(status)
    }
}

/// `"headers"`: an object of name -> string or list of strings, or null.
struct HeadersSeed<'a>(&'a mut Builder);

impl<'de> DeserializeSeed<'de> for HeadersSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for HeadersSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of header names to values")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Text(raw)) = map.next_key::<Text<'de>>()? {
            let name = Builder::name(&raw);
            map.next_value_seed(ValuesSeed {
                builder: &mut *self.0,
                name: name.as_ref(),
                name_len: raw.len(),
            })?;
        }
        Ok(())
    }
}

/// One header's value: a string or a list of strings (deserialized by
/// hand: serde's `untagged` would buffer every value and build, then
/// discard, an error for each list, on every response).
struct ValuesSeed<'a> {
    builder: &'a mut Builder,
    name: Option<&'a HeaderName>,
    name_len: usize,
}

impl ValuesSeed<'_> {
    fn one<E: de::Error>(&mut self, value: &str) -> Result<(), E> {
        if self.builder.add(self.name, self.name_len, value.as_bytes()) {
            Ok(())
        } else {
            Err(self.builder.refuse())
        }
    }
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        self.one(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut one = OneValue(self);
        while seq.next_element_seed(&mut one)?.is_some() {}
        Ok(())
    }
}

/// One string of a header's list, handed to the builder where it lies
/// (an escaped string is never copied into a `String` of its own).
struct OneValue<'a>(ValuesSeed<'a>);

impl<'de> DeserializeSeed<'de> for &mut OneValue<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for &mut OneValue<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.one(v)
    }
}

/// How a header name is treated.
enum Kind {
    /// Sent on (end to end).
    EndToEnd,
    /// `Content-Length`: recorded, never sent as is.
    Length,
    /// `Connection`: only its `close` token is honoured.
    Connection,
    /// Hop-by-hop framing the server owns: dropped.
    Framing,
}

fn kind(name: &HeaderName) -> Kind {
    if name == CONTENT_LENGTH {
        Kind::Length
    } else if name == CONNECTION {
        Kind::Connection
    } else if name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == TE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
    {
        Kind::Framing
    } else {
        Kind::EndToEnd
    }
}

fn declared_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The most a context may weigh before it is even decoded: JSON escapes
/// can make a byte take six (`\u0001`), and every entry has a few bytes
/// of punctuation or protobuf tags.
fn max_context(limits: HeadLimits, json: bool) -> usize {
    let per_byte = if json { 6 } else { 1 };
    limits
        .max_bytes
        .saturating_mul(per_byte)
        .saturating_add(limits.max_headers.saturating_mul(16))
        .saturating_add(64)
}

/// Parses a response context. `codec` is the frame's flags: CODEC_PROTO
/// means `http.v1.Response`; 0 or CODEC_JSON means JSON (roadrunner-http
/// 3.x sends JSON with no codec flag).
pub(crate) fn parse(context: &Bytes, codec: u8, limits: HeadLimits) -> Result<Head, HeadError> {
    parse_with(context, codec, limits, true)
}

/// [`parse`], with the `\/` fast path on or off (tests compare the two).
fn parse_with(
    context: &Bytes,
    codec: u8,
    limits: HeadLimits,
    fast: bool,
) -> Result<Head, HeadError> {
    let proto = codec & goridge::flags::CODEC_PROTO != 0;
    if context.len() > max_context(limits, !proto) {
        return Err(HeadError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let (status, builder) = if proto {
        proto_head(context, limits)?
    } else {
        match fast.then(|| unescape_slashes(context)).flatten() {
            // Anything the unescaped copy does not decode is decided on
            // the context as sent, so errors read exactly as without it.
            Some(plain) => json_head(&plain, limits).or_else(|_| json_head(context, limits))?,
            None => json_head(context, limits)?,
        }
    };
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or(HeadError::Status(status))?;
    let mut head = builder.head;
    head.status = status;
    Ok(head)
}

fn proto_head(context: &Bytes, limits: HeadLimits) -> Result<(i64, Builder), HeadError> {
    use prost::Message;
    let mut builder = Builder::new(limits, context.clone());
    let r = crate::proto::Response::decode(&context[..]).map_err(|e| HeadError::Decode {
        encoding: "protobuf",
        reason: e.to_string(),
    })?;
    for (raw, values) in &r.headers {
        let name = Builder::name(raw);
        for value in &values.value {
            if !builder.add(name.as_ref(), raw.len(), value) {
                return Err(builder.exceeded.take().unwrap_or(HeadError::TooLarge {
                    limit: limits.max_bytes,
                }));
            }
        }
    }
    Ok((r.status, builder))
}

fn json_head(source: &Bytes, limits: HeadLimits) -> Result<(i64, Builder), HeadError> {
    let mut builder = Builder::new(limits, source.clone());
    let mut de = serde_json::Deserializer::from_slice(source);
    let parsed = HeadSeed(&mut builder)
        .deserialize(&mut de)
        .and_then(|status| de.end().map(|()| status));
    match parsed {
        Ok(status) => Ok((status, builder)),
        Err(e) => Err(builder.exceeded.take().unwrap_or(HeadError::Decode {
            encoding: "JSON",
            reason: e.to_string(),
        })),
    }
}

/// PHP's `json_encode` writes every `/` as `\/` (`text\/plain`), so nearly
/// every head a PHP worker sends has an escape, and serde_json unescapes
/// each such string into a scratch buffer its deserializer allocates (and
/// grows): two allocations per response, and the values then have to be
/// copied out of that scratch. When `\/` is the only escape in `context`,
/// this returns the context with those backslashes removed (cut from the
/// thread's arena): that is the same JSON document, which serde_json then
/// reads without any escape, borrowing every string from it. `None`: no
/// backslash at all (nothing to do) or some other escape (left to
/// serde_json, which handles every escape).
///
/// Why dropping the backslashes changes nothing: inside a string, `\/`
/// and `/` are the same character. No `\"` can be in such a context, so
/// its strings begin and end at the same quotes before and after. Outside
/// a string a `\` is a syntax error, and so is the `/` left in its place
/// (serde_json has no comments), and any failure is re-decided on the
/// original bytes anyway. `\` is ASCII, never part of a UTF-8 sequence,
/// so removing it joins or splits none. Hand-written because serde_json
/// offers no way to lend its deserializer a reusable scratch buffer; the
/// property test `slash_fast_path_matches_serde_json` checks it against
/// serde_json on hostile inputs.
fn unescape_slashes(context: &[u8]) -> Option<Bytes> {
    let mut slashes = 0;
    let mut rest = context;
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        match rest.get(at + 1..) {
            Some([b'/', after @ ..]) => {
                slashes += 1;
                rest = after;
            }
            _ => return None,
        }
    }
    if slashes == 0 {
        return None;
    }
    let (plain, ()) = crate::arena::cut(context.len() - slashes, |buf| {
        let mut rest = context;
        while let Some(at) = rest.iter().position(|&b| b == b'\\') {
            let (before, after) = rest.split_at(at);
            buf.put_slice(before);
            // `after` is `\/...`: the backslash goes, the slash stays.
            rest = after.get(1..).unwrap_or_default();
        }
        buf.put_slice(rest);
    });
    Some(plain)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use prost::Message;

    use super::*;

    const LIMITS: HeadLimits = HeadLimits {
        max_headers: 1000,
        max_bytes: 1 << 20,
    };

    /// The workers' frames arrive as `Bytes`.
    fn parse(context: &[u8], codec: u8, limits: HeadLimits) -> Result<Head, HeadError> {
        super::parse(&Bytes::copy_from_slice(context), codec, limits)
    }

    fn json(context: &[u8]) -> Result<Head, HeadError> {
        parse(context, 0, LIMITS)
    }

    #[test]
    fn json_responses() {
        let head =
            json(br#"{"status":201,"headers":{"X-A":["1","2"],"Content-Type":["text/plain"]}}"#)
                .unwrap();
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.headers.len(), 3);
        let head = parse(
            br#"{"status":404,"headers":null}"#,
            goridge::flags::CODEC_JSON,
            LIMITS,
        )
        .unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert!(head.headers.is_empty());
        let head = json(br#"{"status":200}"#).unwrap();
        assert!(head.headers.is_empty());
        let head = json(br#"{"status":200,"headers":{"X-One":"single"},"extra":[1]}"#).unwrap();
        assert_eq!(head.headers[0].1, "single");
    }

    #[test]
    fn escaped_names_and_values_are_unescaped() {
        // PHP's json_encode escapes `/`; names may carry escapes too.
        let head = json(
            br#"{"status":200,"headers":{"Content-Type":["text\/plain"],"X-\u0041":"a\/b","Connection":["keep-alive, cl\u006fse"]}}"#,
        )
        .unwrap();
        let got: Vec<(&str, &[u8])> = head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(
            got,
            [("content-type", &b"text/plain"[..]), ("x-a", &b"a/b"[..])]
        );
        assert!(head.close, "an escaped close token still closes");
    }

    #[test]
    fn bad_responses() {
        assert!(json(b"not json")
            .unwrap_err()
            .to_string()
            .contains("invalid JSON"));
        assert!(json(br#"{"status":200} trailing"#).is_err());
        assert!(json(br#"{"status":0}"#)
            .unwrap_err()
            .to_string()
            .contains("invalid status code 0"));
        assert!(json(br#"{"status":700}"#)
            .unwrap_err()
            .to_string()
            .contains("700"));
        assert!(json(br#"{"headers":{}}"#).is_err(), "missing status is 0");
        assert!(parse(b"\xff\xff", goridge::flags::CODEC_PROTO, LIMITS).is_err());
        let head = json(br#"{"status":200,"headers":{"bad header":["x"],"X-Ok":["a\nb","fine"]}}"#)
            .unwrap();
        assert_eq!(head.headers.len(), 1, "invalid names and values dropped");
    }

    #[test]
    fn proto_responses() {
        let mut headers = HashMap::new();
        headers.insert(
            "Link".to_owned(),
            crate::proto::HeaderValue {
                value: vec![b"</a.css>; rel=preload".to_vec()],
            },
        );
        let bytes = crate::proto::Response {
            status: 103,
            headers,
        }
        .encode_to_vec();
        let head = parse(&bytes, goridge::flags::CODEC_PROTO, LIMITS).unwrap();
        assert_eq!(head.status.as_u16(), 103);
        assert_eq!(head.headers[0].0, "link");
    }

    #[test]
    fn framing_headers_never_come_through() {
        let head = json(
            br#"{"status":200,"headers":{"Content-Length":["3"],"Transfer-Encoding":["chunked"],
                "Connection":["keep-alive, Upgrade"],"Keep-Alive":["timeout=5"],"Upgrade":["h2c"],
                "TE":["trailers"],"Proxy-Connection":["close"],"X-Kept":["yes"]}}"#,
        )
        .unwrap();
        let names: Vec<&str> = head.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
        assert_eq!(head.content_length, Some(DeclaredLength::Valid(3)));
        assert!(!head.close, "only the close token closes");
        let head =
            json(br#"{"status":200,"headers":{"connection":"Close","content-length":"abc"}}"#)
                .unwrap();
        assert!(head.close);
        assert_eq!(head.content_length, Some(DeclaredLength::Invalid));
        let head = json(br#"{"status":200,"headers":{"Content-Length":["5","5"]}}"#).unwrap();
        assert_eq!(head.content_length, Some(DeclaredLength::Valid(5)));
        let head = json(br#"{"status":200,"headers":{"Content-Length":["5","6"]}}"#).unwrap();
        assert_eq!(head.content_length, Some(DeclaredLength::Invalid));
        let head = json(br#"{"status":200,"headers":{"Content-Length":["+5"]}}"#).unwrap();
        assert_eq!(head.content_length, Some(DeclaredLength::Invalid));
        assert_eq!(json(br#"{"status":200}"#).unwrap().content_length, None);
    }

    #[test]
    fn heads_over_the_limits_are_refused_not_built() {
        let limits = HeadLimits {
            max_headers: 100,
            max_bytes: 4096,
        };
        let many: String = (0..101).map(|i| format!(r#""X-{i}":"v","#)).collect();
        let context = format!(
            r#"{{"status":200,"headers":{{{}}}}}"#,
            many.trim_end_matches(',')
        );
        assert!(matches!(
            parse(context.as_bytes(), 0, limits),
            Err(HeadError::TooManyHeaders { limit: 100 })
        ));
        // 40,000 values under one name: more than a HeaderMap can hold.
        let list = vec!["v"; 40_000];
        let context =
            serde_json::to_vec(&serde_json::json!({"status": 200, "headers": {"X-Many": list}}))
                .unwrap();
        assert!(matches!(
            parse(&context, 0, LIMITS),
            Err(HeadError::TooManyHeaders { limit: 1000 })
        ));
        let big = "x".repeat(5000);
        let context = format!(r#"{{"status":200,"headers":{{"X-Big":"{big}"}}}}"#);
        assert!(matches!(
            parse(context.as_bytes(), 0, limits),
            Err(HeadError::TooLarge { limit: 4096 })
        ));
        // Far over: refused on its size alone, before decoding.
        let huge = format!(
            r#"{{"status":200,"headers":{{"X-Big":"{}"}}}}"#,
            "x".repeat(8 << 20)
        );
        assert!(matches!(
            parse(huge.as_bytes(), 0, LIMITS),
            Err(HeadError::TooLarge { .. })
        ));
        let mut headers = HashMap::new();
        for i in 0..101 {
            headers.insert(
                format!("x-{i}"),
                crate::proto::HeaderValue {
                    value: vec![b"v".to_vec()],
                },
            );
        }
        let bytes = crate::proto::Response {
            status: 200,
            headers,
        }
        .encode_to_vec();
        assert!(matches!(
            parse(&bytes, goridge::flags::CODEC_PROTO, limits),
            Err(HeadError::TooManyHeaders { limit: 100 })
        ));
        // Just under the limits is fine.
        let ok: String = (0..100).map(|i| format!(r#""X-{i}":"v","#)).collect();
        let context = format!(
            r#"{{"status":200,"headers":{{{}}}}}"#,
            ok.trim_end_matches(',')
        );
        assert_eq!(
            parse(context.as_bytes(), 0, limits).unwrap().headers.len(),
            100
        );
    }

    #[test]
    fn values_are_shared_with_the_frame_not_copied() {
        let frame = Bytes::from_static(
            br#"{"status":200,"headers":{"Content-Type":["text/plain"],"X-A":"b"}}"#,
        );
        let head = super::parse(&frame, 0, LIMITS).unwrap();
        let range = frame.as_ptr_range();
        for (_, value) in &head.headers {
            assert!(
                range.contains(&value.as_bytes().as_ptr()),
                "{value:?} copied"
            );
        }
        // Escaped as PHP does: unescaped once, the values still right.
        let frame = Bytes::from_static(
            br#"{"status":200,"headers":{"Content-Type":["text\/plain"],"X-\/":"a\/\/b"}}"#,
        );
        let head = super::parse(&frame, 0, LIMITS).unwrap();
        let got: Vec<(&str, &[u8])> = head
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect();
        assert_eq!(got, [("content-type", &b"text/plain"[..])]);
        assert_eq!(unescape_slashes(b"no escapes"), None);
        assert_eq!(
            unescape_slashes(br#""a\\/b""#),
            None,
            "an escaped backslash"
        );
        assert_eq!(unescape_slashes(br#""a\/b\"""#), None, "an escaped quote");
        assert_eq!(unescape_slashes(b"ends in \\"), None);
        assert_eq!(
            unescape_slashes(br#"{"a\/b":"\/\/"}"#).as_deref(),
            Some(&br#"{"a/b":"//"}"#[..])
        );
    }

    /// What a parse came to, comparable: status, headers, declared
    /// length and close, or the error's message.
    type Outcome = Result<(u16, Vec<(String, Vec<u8>)>, Option<DeclaredLength>, bool), String>;

    fn outcome(result: Result<Head, HeadError>) -> Outcome {
        result
            .map(|head| {
                (
                    head.status.as_u16(),
                    head.headers
                        .iter()
                        .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                        .collect(),
                    head.content_length,
                    head.close,
                )
            })
            .map_err(|e| e.to_string())
    }

    /// Pieces hostile heads are made of: JSON punctuation, escapes good
    /// and bad, the field names, framing headers, broken UTF-8.
    fn piece() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        const FIXED: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b":",
            b",",
            b"\"",
            b"\\",
            b"/",
            b"\\/",
            b"\\\\",
            b"\\\"",
            b"\\u002f",
            b"\\u0041",
            b"\\n",
            b"status",
            b"headers",
            b"200",
            b"204",
            b"-1",
            b"1e3",
            b"Content-Type",
            b"Content-Length",
            b"Connection",
            b"close",
            b"text",
            b"X-A",
            b"null",
            b"true",
            b" ",
            b"\n",
            b"\t",
            b"\x01",
            b"\xc3",
            b"\xa9",
            b"\xff",
            b"\xe2\x82",
            b"5",
        ];
        prop_oneof![
            4 => proptest::sample::select(FIXED).prop_map(<[u8]>::to_vec),
            1 => proptest::collection::vec(any::<u8>(), 0..4),
        ]
    }

    fn soup() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(piece(), 0..12).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        /// The `\/` fast path gives exactly what serde_json alone gives
        /// (heads, errors and their messages), on token soup and on
        /// well-formed heads with hostile names and values.
        #[test]
        fn slash_fast_path_matches_serde_json(
            raw in soup(),
            name in soup(),
            values in proptest::collection::vec(soup(), 0..3),
            status in soup(),
            list in proptest::prelude::any::<bool>(),
            limited in proptest::prelude::any::<bool>(),
        ) {
            let limits = if limited { HeadLimits { max_headers: 2, max_bytes: 24 } } else { LIMITS };
            let quoted = |v: &[u8]| [&b"\""[..], v, &b"\""[..]].concat();
            let value = if list {
                let items: Vec<Vec<u8>> = values.iter().map(|v| quoted(&v[..])).collect();
                [&b"["[..], &items.join(&b","[..])[..], &b"]"[..]].concat()
            } else {
                quoted(values.first().map_or(&b""[..], |v| v))
            };
            let shaped = [
                &br#"{"status":"#[..], &status[..], &br#","headers":{"#[..], &quoted(&name[..])[..],
                &b":"[..], &value[..], &br#","X-Fixed":"a\/b"}}"#[..],
            ]
            .concat();
            for context in [raw, shaped] {
                let context = Bytes::from(context);
                let fast = outcome(parse_with(&context, 0, limits, true));
                let plain = outcome(parse_with(&context, 0, limits, false));
                proptest::prop_assert_eq!(fast, plain, "context {:?}", String::from_utf8_lossy(&context));
            }
        }
    }

    proptest::proptest! {
        /// Whatever a worker sends as a response context, parsing never
        /// panics, and what comes out stays within the limits and carries
        /// no framing header.
        #[test]
        fn hostile_contexts_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512), proto in proptest::prelude::any::<bool>()) {
            let limits = HeadLimits { max_headers: 8, max_bytes: 256 };
            let codec = if proto { goridge::flags::CODEC_PROTO } else { 0 };
            if let Ok(head) = parse(&bytes, codec, limits) {
                proptest::prop_assert!(head.headers.len() <= 8);
                proptest::prop_assert!(head.headers.iter().all(|(n, _)| matches!(kind(n), Kind::EndToEnd)));
            }
        }
    }
}
