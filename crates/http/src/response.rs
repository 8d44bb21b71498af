//! The worker's response context: status and headers, JSON or protobuf.

use hyper::header::{HeaderName, HeaderValue};
use hyper::StatusCode;
use serde::Deserialize;

/// Status and headers of one response (or of one informational 1xx).
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Deserialize)]
struct JsonHead {
    #[serde(default)]
    status: i64,
    #[serde(default)]
    headers: Option<std::collections::BTreeMap<String, OneOrMany>>,
}

/// A header value as workers send it: one string or a list of strings.
/// Deserialized by hand: serde's `untagged` would buffer every value and
/// build (then discard) an error for each list, on every response.
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(OneOrMany::Many(values))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Header names with their raw values, as decoded.
type RawHeaders = Vec<(String, Vec<Vec<u8>>)>;

/// Parses a response context. `codec` is the frame's flags: CODEC_PROTO
/// means `http.v1.Response`; 0 or CODEC_JSON means JSON (roadrunner-http
/// 3.x sends JSON with no codec flag).
pub(crate) fn parse(context: &[u8], codec: u8) -> Result<Head, String> {
    let (status, raw_headers): (i64, RawHeaders) = if codec & goridge::flags::CODEC_PROTO != 0 {
        use prost::Message;
        let r = crate::proto::Response::decode(context)
            .map_err(|e| format!("invalid protobuf response context: {e}"))?;
        (
            r.status,
            r.headers.into_iter().map(|(k, v)| (k, v.value)).collect(),
        )
    } else {
        let r: JsonHead = serde_json::from_slice(context)
            .map_err(|e| format!("invalid JSON response context: {e}"))?;
        let headers = r
            .headers
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| {
                let values = match v {
                    OneOrMany::One(s) => vec![s.into_bytes()],
                    OneOrMany::Many(v) => v.into_iter().map(String::into_bytes).collect(),
                };
                (k, values)
            })
            .collect();
        (r.status, headers)
    };
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..=599).contains(s))
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| format!("invalid status code {status}"))?;
    let mut headers = Vec::new();
    for (name, values) in raw_headers {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            tracing::warn!(target: "coyote::http", header = %name, "worker sent an invalid header name; dropped");
            continue;
        };
        for value in values {
            match HeaderValue::from_bytes(&value) {
                Ok(value) => headers.push((name.clone(), value)),
                Err(_) => {
                    tracing::warn!(target: "coyote::http", header = %name, "worker sent an invalid header value; dropped");
                }
            }
        }
    }
    Ok(Head { status, headers })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost::Message;

    use super::*;

    #[test]
    fn json_responses() {
        let head = parse(
            br#"{"status":201,"headers":{"X-A":["1","2"],"Content-Type":["text/plain"]}}"#,
            0,
        )
        .unwrap();
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.headers.len(), 3);
        let head = parse(
            br#"{"status":404,"headers":null}"#,
            goridge::flags::CODEC_JSON,
        )
        .unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert!(head.headers.is_empty());
        let head = parse(br#"{"status":200}"#, 0).unwrap();
        assert!(head.headers.is_empty());
        let head = parse(br#"{"status":200,"headers":{"X-One":"single"}}"#, 0).unwrap();
        assert_eq!(head.headers[0].1, "single");
    }

    #[test]
    fn bad_responses() {
        assert!(parse(b"not json", 0).unwrap_err().contains("invalid JSON"));
        assert!(parse(br#"{"status":0}"#, 0)
            .unwrap_err()
            .contains("invalid status code 0"));
        assert!(parse(br#"{"status":700}"#, 0).unwrap_err().contains("700"));
        assert!(
            parse(br#"{"headers":{}}"#, 0).is_err(),
            "missing status is 0"
        );
        assert!(parse(b"\xff\xff", goridge::flags::CODEC_PROTO).is_err());
        let head = parse(
            br#"{"status":200,"headers":{"bad header":["x"],"X-Ok":["a\nb","fine"]}}"#,
            0,
        )
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
        let head = parse(&bytes, goridge::flags::CODEC_PROTO).unwrap();
        assert_eq!(head.status.as_u16(), 103);
        assert_eq!(head.headers[0].0, "link");
    }
}
