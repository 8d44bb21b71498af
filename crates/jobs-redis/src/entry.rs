//! A job as a stream entry (fields `id`, `job`, `payload`, `headers` as
//! JSON, `priority`, `auto_ack`, `attempts`), as a member of the delayed
//! sorted set (a MessagePack array: a unique token, then the same fields,
//! which the mover script unpacks into its XADD), and the replies of
//! XREADGROUP / XAUTOCLAIM read back into entries.

use bytes::Bytes;
use coyote_jobs::{Headers, Job};
use redis::Value;

/// The stream entry's fields for `job`.
pub fn fields(job: &Job) -> Vec<(&'static str, Vec<u8>)> {
    // A map of strings always serialises.
    let headers = serde_json::to_vec(&job.headers).unwrap_or_else(|_| b"{}".to_vec());
    vec![
        ("id", job.id.clone().into_bytes()),
        ("job", job.name.clone().into_bytes()),
        ("payload", job.payload.to_vec()),
        ("headers", headers),
        ("priority", job.priority.to_string().into_bytes()),
        (
            "auto_ack",
            if job.auto_ack {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
        ("attempts", job.attempts.to_string().into_bytes()),
    ]
}

fn str32(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(0xdb);
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The delayed set's member: MessagePack `[token, f1, v1, f2, v2, ...]`
/// (the token keeps two identical jobs two members).
pub fn member(token: &str, fields: &[(&'static str, Vec<u8>)]) -> Vec<u8> {
    let len = 1 + 2 * fields.len();
    let mut out = Vec::with_capacity(16 + fields.iter().map(|(_, v)| v.len() + 16).sum::<usize>());
    out.push(0xdd);
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    str32(&mut out, token.as_bytes());
    for (k, v) in fields {
        str32(&mut out, k.as_bytes());
        str32(&mut out, v);
    }
    out
}

/// One entry of a reply: its id and fields (`None`: the entry was deleted
/// while it was pending).
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// The stream id (`1700000000000-0`).
    pub id: String,
    /// Field / value pairs.
    pub fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

/// Entries of a list `[[id, [f, v, ...] | nil], ...]`.
pub fn entries_of(list: &Value) -> Vec<Entry> {
    let Value::Array(items) = list else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else {
                return None;
            };
            let id = text(pair.first()?)?;
            let fields = match pair.get(1) {
                Some(Value::Array(kv)) => Some(
                    kv.chunks(2)
                        .filter_map(|c| Some((bytes(c.first()?)?, bytes(c.get(1)?)?)))
                        .collect(),
                ),
                Some(Value::Map(kv)) => Some(
                    kv.iter()
                        .filter_map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
                        .collect(),
                ),
                _ => None,
            };
            Some(Entry { id, fields })
        })
        .collect()
}

/// The entries of an XREADGROUP reply (one stream), empty on nil.
pub fn read_reply(v: &Value) -> Vec<Entry> {
    match v {
        Value::Array(streams) => streams
            .iter()
            .flat_map(|s| match s {
                Value::Array(pair) => pair.get(1).map(entries_of).unwrap_or_default(),
                _ => Vec::new(),
            })
            .collect(),
        Value::Map(streams) => streams.iter().flat_map(|(_, e)| entries_of(e)).collect(),
        _ => Vec::new(),
    }
}

/// XAUTOCLAIM's reply: the next cursor and the claimed entries.
pub fn autoclaim_reply(v: &Value) -> (String, Vec<Entry>) {
    match v {
        Value::Array(parts) => (
            parts
                .first()
                .and_then(text)
                .unwrap_or_else(|| "0-0".to_owned()),
            parts.get(1).map(entries_of).unwrap_or_default(),
        ),
        _ => ("0-0".to_owned(), Vec::new()),
    }
}

/// The job an entry holds, for `pipeline`.
///
/// # Errors
/// The entry is not a job (no `id` field, or a field of the wrong kind).
pub fn job(pipeline: &str, fields: &[(Vec<u8>, Vec<u8>)]) -> Result<Job, String> {
    let get = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k.as_bytes())
            .map(|(_, v)| v)
    };
    let string = |k: &str| -> Result<String, String> {
        get(k)
            .map(|v| String::from_utf8(v.clone()).map_err(|_| format!("field {k} is not UTF-8")))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let id = string("id")?;
    if id.is_empty() {
        return Err("no id field: not a job pushed by Coyote".to_owned());
    }
    let mut job = Job::new(pipeline, string("job")?, id, Bytes::new());
    job.payload = get("payload")
        .map(|p| Bytes::from(p.clone()))
        .unwrap_or_default();
    if let Some(h) = get("headers").filter(|h| !h.is_empty()) {
        job.headers = serde_json::from_slice::<Headers>(h)
            .map_err(|e| format!("field headers is not a JSON map of lists of strings: {e}"))?;
    }
    let number = |k: &str| -> Result<Option<i64>, String> {
        match string(k)?.trim() {
            "" => Ok(None),
            v => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| format!("field {k} {v:?} is not an integer")),
        }
    };
    job.priority = number("priority")?.unwrap_or(0);
    job.attempts = number("attempts")?
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(0);
    job.auto_ack = matches!(string("auto_ack")?.trim(), "1" | "true");
    Ok(job)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn owned(fields: &[(&'static str, Vec<u8>)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        fields
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect()
    }

    #[test]
    fn a_job_round_trips_through_its_fields() {
        let mut j = Job::new("p", "App\\Mail", "id-1", &b"\xff\x00bin"[..]);
        j.headers.insert("k".into(), vec!["v".into(), "w".into()]);
        j.priority = 7;
        j.attempts = 2;
        j.auto_ack = true;
        let back = job("p", &owned(&fields(&j))).unwrap();
        assert_eq!(back, j);
    }

    #[test]
    fn foreign_entries_are_refused() {
        assert!(job("p", &[(b"x".to_vec(), b"y".to_vec())]).is_err());
        let mut f = owned(&fields(&Job::new("p", "n", "1", "")));
        f[4].1 = b"high".to_vec();
        assert!(job("p", &f).unwrap_err().contains("priority"));
    }

    #[test]
    fn replies_parse_including_deleted_entries() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("id"), bulk("a")])]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let e = read_reply(&reply);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].id, "1-0");
        assert_eq!(e[0].fields.as_ref().unwrap()[0].1, b"a");
        assert_eq!(e[1].fields, None);
        assert!(read_reply(&Value::Nil).is_empty());
        let (cursor, e) = autoclaim_reply(&Value::Array(vec![
            bulk("5-0"),
            Value::Array(vec![Value::Array(vec![bulk("3-0"), Value::Array(vec![])])]),
            Value::Array(vec![]),
        ]));
        assert_eq!((cursor.as_str(), e.len()), ("5-0", 1));
    }

    #[test]
    fn member_is_messagepack() {
        let m = member("t", &[("id", b"1".to_vec())]);
        assert_eq!(&m[..5], &[0xdd, 0, 0, 0, 3]);
        assert_eq!(&m[5..11], &[0xdb, 0, 0, 0, 1, b't']);
    }
}
