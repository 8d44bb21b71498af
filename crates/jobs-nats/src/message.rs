//! RoadRunner's nats message format, so that producers and consumers of
//! both servers share a stream: the body is the JSON of RoadRunner's
//! `Item` — `{"job","id","payload","options":{"priority","pipeline",
//! "delay","auto_ack"}}`, the payload base64 (Go's encoding of `[]byte`) —
//! and the job's headers are the NATS message's headers. A body that is
//! not such JSON is consumed as a raw job (`deduced_by_rr`, as RoadRunner
//! names it), its body the payload.

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use bytes::Bytes;
use coyote_jobs::{Headers, Job};
use serde::{Deserialize, Serialize};

/// The job name RoadRunner gives a message that is not one of its items.
pub const RAW_JOB: &str = "deduced_by_rr";
/// The header RoadRunner adds to every delivered job: the message's subject.
pub const SUBJECT_HEADER: &str = "x-nats-subject";

#[derive(Serialize)]
struct OutItem<'a> {
    job: &'a str,
    id: &'a str,
    payload: String,
    options: OutOptions<'a>,
}

#[derive(Serialize)]
struct OutOptions<'a> {
    priority: i64,
    pipeline: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    delay: u64,
    auto_ack: bool,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Deserialize)]
struct InItem {
    job: String,
    id: String,
    #[serde(default)]
    payload: serde_json::Value,
    /// Older RoadRunner versions carried the headers in the body.
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default)]
    options: Option<InOptions>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InOptions {
    priority: i64,
    delay: i64,
    auto_ack: bool,
}

/// `Nats-*`: headers JetStream acts on when publishing.
fn is_jetstream_header(name: &str) -> bool {
    name.as_bytes()
        .get(..5)
        .is_some_and(|b| b.eq_ignore_ascii_case(b"nats-"))
}

/// A message to publish for `job` (its `delay` seconds carried in the
/// options): the body and the headers. JetStream's own headers
/// (`Nats-Msg-Id`, ...) are kept for a push (a producer may want
/// JetStream's deduplication, as with RoadRunner) and dropped for a
/// requeue (`requeue`), whose new message would be taken for a duplicate.
///
/// # Errors
/// A header name or value NATS cannot carry (a control character, `:` in
/// a name, a line break in a value).
pub fn encode(job: &Job, delay: u64, requeue: bool) -> Result<(Bytes, HeaderMap), String> {
    let item = OutItem {
        job: &job.name,
        id: &job.id,
        payload: base64::engine::general_purpose::STANDARD.encode(&job.payload),
        options: OutOptions {
            priority: job.priority,
            pipeline: &job.pipeline,
            delay,
            auto_ack: job.auto_ack,
        },
    };
    let body = serde_json::to_vec(&item).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    for (name, values) in &job.headers {
        if name == SUBJECT_HEADER || (requeue && is_jetstream_header(name)) {
            // The subject is set again on delivery.
            continue;
        }
        let header: HeaderName = name
            .parse()
            .map_err(|_| format!("job {}: header name {name:?} cannot travel in NATS", job.id))?;
        for value in values {
            let value: HeaderValue = value.parse().map_err(|_| {
                format!(
                    "job {}: the value of header {name:?} cannot travel in NATS (line break)",
                    job.id
                )
            })?;
            headers.append(header.clone(), value);
        }
    }
    Ok((Bytes::from(body), headers))
}

/// A delivered message as a job of `pipeline`; `fallback_id` names a raw
/// message (one that is not RoadRunner's JSON). Returns the job and its
/// delay in seconds.
pub fn decode(
    pipeline: &str,
    subject: &str,
    body: &[u8],
    headers: Option<&HeaderMap>,
    fallback_id: String,
) -> (Job, u64) {
    let mut out_headers = Headers::new();
    let mut job = match serde_json::from_slice::<InItem>(body) {
        Ok(item) => {
            let payload = match item.payload {
                serde_json::Value::Null => Bytes::new(),
                serde_json::Value::String(s) => {
                    match base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
                        Ok(raw) => Bytes::from(raw),
                        // Older RoadRunner versions sent the payload as text.
                        Err(_) => Bytes::from(s.into_bytes()),
                    }
                }
                other => Bytes::from(other.to_string().into_bytes()),
            };
            if let Some(h) = item.headers {
                out_headers.extend(h);
            }
            let options = item.options.unwrap_or_default();
            let mut job = Job::new(pipeline, item.job, item.id, payload);
            job.priority = options.priority.max(0);
            job.delay = u64::try_from(options.delay).unwrap_or(0);
            job.auto_ack = options.auto_ack;
            job
        }
        Err(_) => Job::new(pipeline, RAW_JOB, fallback_id, Bytes::copy_from_slice(body)),
    };
    if let Some(h) = headers {
        for (name, values) in h.iter() {
            out_headers.insert(
                name.to_string(),
                values.iter().map(|v| v.as_str().to_owned()).collect(),
            );
        }
    }
    out_headers.insert(SUBJECT_HEADER.to_owned(), vec![subject.to_owned()]);
    job.headers = out_headers;
    let delay = job.delay;
    job.delay = 0;
    (job, delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_what_the_worker_sees() {
        let mut job = Job::new("p", "App\\Mail", "id-1", Bytes::from_static(b"\x00bin\xff"));
        job.headers
            .insert("attempt".into(), vec!["1".into(), "2".into()]);
        job.priority = 4;
        job.auto_ack = true;
        let (body, headers) = encode(&job, 3, false).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["job"], "App\\Mail");
        assert_eq!(json["payload"], "AGJpbv8=");
        assert_eq!(json["options"]["delay"], 3);
        assert_eq!(json["options"]["pipeline"], "p");
        let (back, delay) = decode("p", "subj", &body, Some(&headers), "x".into());
        assert_eq!(delay, 3);
        assert_eq!(back.payload, job.payload);
        assert_eq!((back.priority, back.auto_ack), (4, true));
        assert_eq!(back.headers["attempt"], ["1", "2"]);
        assert_eq!(back.headers[SUBJECT_HEADER], ["subj"]);
    }

    #[test]
    fn roadrunner_bodies_and_raw_messages() {
        // What RoadRunner's driver publishes (Go's json of its Item).
        let body = br#"{"job":"ping","id":"rr-1","payload":"aGVsbG8=","options":{"priority":0,"pipeline":"test","auto_ack":false,"Queue":""}}"#;
        let (job, delay) = decode("mine", "s", body, None, "x".into());
        assert_eq!((job.name.as_str(), job.id.as_str()), ("ping", "rr-1"));
        assert_eq!(&job.payload[..], b"hello");
        assert_eq!((job.pipeline.as_str(), job.priority, delay), ("mine", 0, 0));
        // Older versions: text payload, headers in the body.
        let body = br#"{"job":"j","id":"2","payload":"{not base64}","headers":{"a":["b"]}}"#;
        let (job, _) = decode("p", "s", body, None, "x".into());
        assert_eq!(&job.payload[..], b"{not base64}");
        assert_eq!(job.headers["a"], ["b"]);
        let (job, _) = decode("p", "s", b"plain text", None, "nats-7".into());
        assert_eq!((job.name.as_str(), job.id.as_str()), (RAW_JOB, "nats-7"));
        assert_eq!(&job.payload[..], b"plain text");
    }

    #[test]
    fn jetstream_headers_are_not_published_again_with_a_requeue() {
        let mut job = Job::new("p", "j", "1", "");
        job.headers.insert("Nats-Msg-Id".into(), vec!["x".into()]);
        job.headers
            .insert("nats-expected-stream".into(), vec!["s".into()]);
        job.headers
            .insert(SUBJECT_HEADER.into(), vec!["old".into()]);
        job.headers.insert("natsy".into(), vec!["kept".into()]);
        let (_, pushed) = encode(&job, 0, false).unwrap();
        assert_eq!(pushed.len(), 3);
        let (_, headers) = encode(&job, 0, true).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers.get("natsy").unwrap().as_str(), "kept");
    }

    #[test]
    fn headers_nats_cannot_carry_are_refused() {
        let mut job = Job::new("p", "j", "1", "");
        job.headers.insert("bad:name".into(), vec!["v".into()]);
        assert!(encode(&job, 0, false).is_err());
        let mut job = Job::new("p", "j", "1", "");
        job.headers.insert("k".into(), vec!["line\nbreak".into()]);
        assert!(encode(&job, 0, false).is_err());
    }
}
