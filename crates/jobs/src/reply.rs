//! The worker's answer to a job: the response body is JSON
//! `{"type":N,"data":{…}}` (roadrunner-php/jobs' `ReceivedTask`):
//!
//! | type | name | effect |
//! |---|---|---|
//! | 0 | SUCCESS (deprecated) | ack |
//! | 1 | ERROR | requeue (headers, `delay_seconds`) if `data.requeue`, else ack; `message` logged |
//! | 2 | ACK | ack |
//! | 3 | NACK | redeliver after `delay_seconds` if `data.requeue`, else drop |
//! | 4 | REQUEUE | re-push with merged headers after `delay_seconds`, keeping the id |
//!
//! An empty body is an ack; an unknown type is acked (with a warning); a
//! body that is not such JSON is logged and acked, as RoadRunner does.

use serde_json::Value;

use crate::Headers;

/// What the worker asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// Done (types 0 and 2, an empty body).
    Ack,
    /// Type 1 (`fail()`): requeue with `headers` after `delay` seconds when
    /// `requeue`, otherwise ack.
    Error {
        /// The error text.
        message: String,
        /// Run it again.
        requeue: bool,
        /// Seconds before it runs again.
        delay: u64,
        /// Headers to merge in.
        headers: Headers,
    },
    /// Type 3 (`nack()`).
    Nack {
        /// Why.
        message: String,
        /// Redeliver (after `delay` seconds) rather than drop.
        requeue: bool,
        /// Seconds before the redelivery.
        delay: u64,
    },
    /// Type 4 (`requeue()`).
    Requeue {
        /// Why.
        message: String,
        /// Seconds before it runs again.
        delay: u64,
        /// Headers to merge in.
        headers: Headers,
    },
    /// A type this server does not know: acked.
    Unknown(u64),
    /// Not a reply at all: acked and logged with the reason.
    Invalid(String),
}

/// Parses a response body. Never fails: a bad body is [`Reply::Invalid`].
pub fn parse(body: &[u8]) -> Reply {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Reply::Ack;
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reply::Invalid(format!("reply is not JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return Reply::Invalid("reply is not a JSON object".to_owned());
    };
    let Some(kind) = obj.get("type").and_then(Value::as_u64) else {
        return Reply::Invalid("reply has no numeric \"type\"".to_owned());
    };
    let empty = serde_json::Map::new();
    // `data` is an object, or `[]` / null when PHP had nothing to say.
    let data = obj.get("data").and_then(Value::as_object).unwrap_or(&empty);
    let message = data
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let requeue = data
        .get("requeue")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let delay = data.get("delay_seconds").map_or(0, seconds);
    let headers = data.get("headers").map(headers).unwrap_or_default();
    match kind {
        0 | 2 => Reply::Ack,
        1 => Reply::Error {
            message,
            requeue,
            delay,
            headers,
        },
        3 => Reply::Nack {
            message,
            requeue,
            delay,
        },
        4 => Reply::Requeue {
            message,
            delay,
            headers,
        },
        other => Reply::Unknown(other),
    }
}

/// A delay in whole seconds: integers, floats and numeric strings; anything
/// negative or unreadable is 0.
fn seconds(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f > 0.0)
                // Truncation is intended: whole seconds, clamped to u32.
                .map_or(0, |f| f.min(f64::from(u32::MAX)) as u64)
        }),
        Value::String(s) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// `{"k":["v"]}`, `{"k":"v"}`, a list of such maps (RoadRunner's own
/// documentation shows one) or `[]`.
fn headers(v: &Value) -> Headers {
    let mut out = Headers::new();
    let mut add = |map: &serde_json::Map<String, Value>| {
        for (k, v) in map {
            let values = match v {
                Value::Array(items) => items.iter().filter_map(text).collect(),
                other => text(other).into_iter().collect(),
            };
            out.insert(k.clone(), values);
        }
    };
    match v {
        Value::Object(map) => add(map),
        Value::Array(items) => items.iter().filter_map(Value::as_object).for_each(add),
        _ => {}
    }
    out
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Parses arbitrary bytes as a reply (the cargo-fuzz target and a property
/// test): never panics, and a reply that parsed as a typed answer keeps
/// its delay within u64.
pub fn fuzz_reply(bytes: &[u8]) {
    let _ = format!("{:?}", parse(bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &[&str]) -> Headers {
        Headers::from([(k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect())])
    }

    #[test]
    fn every_type_of_the_table() {
        assert_eq!(parse(br#"{"type":0,"data":[]}"#), Reply::Ack);
        assert_eq!(parse(br#"{"type":2,"data":{}}"#), Reply::Ack);
        assert_eq!(
            parse(br#"{"type":1,"data":{"message":"boom","requeue":true,"delay_seconds":5,"headers":{"a":["1"]}}}"#),
            Reply::Error { message: "boom".into(), requeue: true, delay: 5, headers: h("a", &["1"]) }
        );
        assert_eq!(
            parse(br#"{"type":3,"data":{"message":"no","requeue":false,"delay_seconds":0}}"#),
            Reply::Nack {
                message: "no".into(),
                requeue: false,
                delay: 0
            }
        );
        assert_eq!(
            parse(br#"{"type":4,"data":{"message":"again","delay_seconds":2,"headers":[{"x":["y"]}]}}"#),
            Reply::Requeue { message: "again".into(), delay: 2, headers: h("x", &["y"]) }
        );
        assert_eq!(parse(br#"{"type":9,"data":[]}"#), Reply::Unknown(9));
    }

    #[test]
    fn edge_cases_are_acks_or_invalid() {
        assert_eq!(parse(b""), Reply::Ack);
        assert_eq!(parse(b"  \n"), Reply::Ack);
        assert!(matches!(parse(b"not json"), Reply::Invalid(_)));
        assert!(matches!(parse(b"[1,2]"), Reply::Invalid(_)));
        assert!(matches!(parse(br#"{"type":"2"}"#), Reply::Invalid(_)));
        assert!(matches!(parse(br#"{"type":-1}"#), Reply::Invalid(_)));
        // data missing or null: defaults.
        assert_eq!(
            parse(br#"{"type":3}"#),
            Reply::Nack {
                message: String::new(),
                requeue: false,
                delay: 0
            }
        );
        // Negative, float and string delays.
        let delay = |body: &[u8]| match parse(body) {
            Reply::Nack { delay, .. } => delay,
            other => panic!("{other:?}"),
        };
        assert_eq!(delay(br#"{"type":3,"data":{"delay_seconds":-4}}"#), 0);
        assert_eq!(delay(br#"{"type":3,"data":{"delay_seconds":2.7}}"#), 2);
        assert_eq!(delay(br#"{"type":3,"data":{"delay_seconds":"3"}}"#), 3);
        assert_eq!(
            delay(br#"{"type":3,"data":{"delay_seconds":1e300}}"#),
            u64::from(u32::MAX)
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            fuzz_reply(&bytes);
        }
    }
}
