//! How a stored job is encoded: a protobuf message ([`JobRecord`]), the
//! value under the job's handle. Fields are only ever added (new tags), so
//! a file stays readable by later versions.

use bytes::Bytes;
use prost::Message;

use crate::drivers::backlog::Stored;
use crate::{Headers, Job};

/// One job in the store.
#[derive(Clone, PartialEq, prost::Message)]
pub struct JobRecord {
    /// [`Job::name`].
    #[prost(string, tag = "1")]
    pub name: String,
    /// [`Job::id`].
    #[prost(string, tag = "2")]
    pub id: String,
    /// [`Job::payload`].
    #[prost(bytes = "bytes", tag = "3")]
    pub payload: Bytes,
    /// [`Job::headers`], one entry per key.
    #[prost(message, repeated, tag = "4")]
    pub headers: Vec<HeaderRecord>,
    /// [`Job::pipeline`].
    #[prost(string, tag = "5")]
    pub pipeline: String,
    /// [`Job::priority`].
    #[prost(sint64, tag = "6")]
    pub priority: i64,
    /// [`Job::delay`].
    #[prost(uint64, tag = "7")]
    pub delay: u64,
    /// [`Job::auto_ack`].
    #[prost(bool, tag = "8")]
    pub auto_ack: bool,
    /// [`Job::attempts`].
    #[prost(uint32, tag = "9")]
    pub attempts: u32,
    /// [`Stored::due_ms`].
    #[prost(uint64, tag = "10")]
    pub due_ms: u64,
}

/// One header: a key and its values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderRecord {
    /// The header name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Its values, in order.
    #[prost(string, repeated, tag = "2")]
    pub values: Vec<String>,
}

/// The record of `stored` (its handle is the key, not part of it).
pub fn encode(stored: &Stored) -> Vec<u8> {
    let job = &stored.job;
    JobRecord {
        name: job.name.clone(),
        id: job.id.clone(),
        payload: job.payload.clone(),
        headers: job
            .headers
            .iter()
            .map(|(key, values)| HeaderRecord {
                key: key.clone(),
                values: values.clone(),
            })
            .collect(),
        pipeline: job.pipeline.clone(),
        priority: job.priority,
        delay: job.delay,
        auto_ack: job.auto_ack,
        attempts: job.attempts,
        due_ms: stored.due_ms,
    }
    .encode_to_vec()
}

/// The job stored under `handle`; an error (never a panic) for bytes that
/// are not a record.
pub fn decode(handle: u64, bytes: &[u8]) -> Result<Stored, prost::DecodeError> {
    let r = JobRecord::decode(bytes)?;
    let mut headers = Headers::new();
    for h in r.headers {
        headers.entry(h.key).or_default().extend(h.values);
    }
    Ok(Stored {
        handle,
        job: Job {
            name: r.name,
            id: r.id,
            payload: r.payload,
            headers,
            pipeline: r.pipeline,
            priority: r.priority,
            delay: r.delay,
            auto_ack: r.auto_ack,
            attempts: r.attempts,
        },
        due_ms: r.due_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stored {
        let mut job = Job::new("p", "App\\Job", "id-1", &b"\x00\xffbody"[..]);
        job.headers.insert("a".into(), vec!["1".into(), "2".into()]);
        job.headers.insert("empty".into(), vec![]);
        job.priority = -3;
        job.delay = 9;
        job.auto_ack = true;
        job.attempts = 4;
        Stored {
            handle: 42,
            job,
            due_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let s = sample();
        assert_eq!(decode(42, &encode(&s)).unwrap(), s);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b"\xff\xff\xff"[..], b"\x0a\x05ab", b"\x0a\x02\xc3\x28"] {
            assert!(decode(1, bytes).is_err(), "{bytes:?}");
        }
    }
}
