//! RoadRunner's sqs message format, so that producers and consumers of
//! both servers share a queue: the body is the payload (text), and the job
//! travels in message attributes — `rr_id`, `rr_job`, `rr_delay` (String),
//! `rr_priority` (Number), `rr_auto_ack` (String `true`/`false`) and
//! `rr_headers` (Binary: the JSON of the headers map). A message without
//! `rr_id` comes from another producer: its job name is `deduced_by_rr`
//! (as RoadRunner names it), its id the SQS message id, and its message
//! attributes become headers. Every delivered job also carries the
//! message's system attributes (`ApproximateReceiveCount`,
//! `SentTimestamp`, ...) as headers, as RoadRunner's listener adds them.

use std::collections::HashMap;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{Message, MessageAttributeValue};
use bytes::Bytes;
use coyote_jobs::{Headers, Job};

/// The job name RoadRunner gives a message that is not one of its items.
pub const RAW_JOB: &str = "deduced_by_rr";
/// `jobs.RRID`.
pub const RR_ID: &str = "rr_id";
/// `jobs.RRJob`.
pub const RR_JOB: &str = "rr_job";
/// `jobs.RRDelay`.
pub const RR_DELAY: &str = "rr_delay";
/// `jobs.RRHeaders`.
pub const RR_HEADERS: &str = "rr_headers";
/// `jobs.RRPriority`.
pub const RR_PRIORITY: &str = "rr_priority";
/// `jobs.RRAutoAck`.
pub const RR_AUTO_ACK: &str = "rr_auto_ack";
/// `jobs.RRPipeline` (not sent to SQS; skipped when copying attributes).
pub const RR_PIPELINE: &str = "rr_pipeline";
/// The system attribute counting deliveries.
pub const RECEIVE_COUNT: &str = "ApproximateReceiveCount";

const RR_KEYS: &[&str] = &[
    RR_ID,
    RR_JOB,
    RR_DELAY,
    RR_HEADERS,
    RR_PRIORITY,
    RR_AUTO_ACK,
    RR_PIPELINE,
];

/// A message to send for a job: its body and message attributes.
#[derive(Debug)]
pub struct Outgoing {
    /// The payload as text.
    pub body: String,
    /// RoadRunner's attributes.
    pub attributes: HashMap<String, MessageAttributeValue>,
}

impl Outgoing {
    /// About how many bytes SQS counts for it (body, attribute names,
    /// types and values), for the 256 KiB limit of a batch.
    pub fn size(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| {
                    k.len()
                        + v.data_type().len()
                        + v.string_value().map_or(0, str::len)
                        + v.binary_value().map_or(0, |b| b.as_ref().len())
                })
                .sum::<usize>()
    }
}

fn attr(data_type: &str, value: String) -> Result<MessageAttributeValue, String> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| e.to_string())
}

/// Whether SQS takes `c` in a message (its allowed XML characters).
fn sqs_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// The message for `job` with `delay` seconds in `rr_delay`.
///
/// # Errors
/// A payload that is not text SQS can carry (SQS bodies are XML
/// characters; RoadRunner sends the bytes as they are and SQS refuses
/// them the same way), or an empty one (SQS needs at least one character).
pub fn encode(job: &Job, delay: u64) -> Result<Outgoing, String> {
    let body = std::str::from_utf8(&job.payload)
        .map_err(|_| {
            format!(
                "job {}: the payload is not UTF-8 text; SQS message bodies are text (encode it, e.g. base64)",
                job.id
            )
        })?
        .to_owned();
    if body.is_empty() {
        return Err(format!(
            "job {}: the payload is empty; SQS needs a message body of at least one character",
            job.id
        ));
    }
    if let Some(c) = body.chars().find(|c| !sqs_char(*c)) {
        return Err(format!(
            "job {}: the payload holds {c:?}, which SQS does not take in a message body",
            job.id
        ));
    }
    let headers = serde_json::to_vec(&job.headers).map_err(|e| e.to_string())?;
    let mut attributes = HashMap::with_capacity(6);
    attributes.insert(RR_ID.to_owned(), attr("String", job.id.clone())?);
    attributes.insert(RR_JOB.to_owned(), attr("String", job.name.clone())?);
    attributes.insert(RR_DELAY.to_owned(), attr("String", delay.to_string())?);
    attributes.insert(
        RR_HEADERS.to_owned(),
        MessageAttributeValue::builder()
            .data_type("Binary")
            .binary_value(Blob::new(headers))
            .build()
            .map_err(|e| e.to_string())?,
    );
    attributes.insert(
        RR_PRIORITY.to_owned(),
        attr("Number", job.priority.to_string())?,
    );
    attributes.insert(
        RR_AUTO_ACK.to_owned(),
        attr("String", job.auto_ack.to_string())?,
    );
    Ok(Outgoing { body, attributes })
}

fn string_of(v: &MessageAttributeValue) -> Option<String> {
    match v.data_type() {
        t if t.starts_with("Binary") => v
            .binary_value()
            .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()),
        _ => v.string_value().map(str::to_owned),
    }
}

/// A received message as a job of `pipeline` (priority 0 when the message
/// carries none: the pipeline's then).
pub fn decode(pipeline: &str, msg: &Message) -> Job {
    let attrs = msg.message_attributes();
    let get = |k: &str| attrs.and_then(|a| a.get(k));
    let mut headers = Headers::new();
    if let Some(h) = get(RR_HEADERS) {
        let raw = h
            .binary_value()
            .map(|b| b.as_ref().to_vec())
            .or_else(|| h.string_value().map(|s| s.as_bytes().to_vec()))
            .unwrap_or_default();
        match serde_json::from_slice::<Headers>(&raw) {
            Ok(h) => headers = h,
            Err(e) => tracing::debug!(target: "coyote::jobs", pipeline,
                "sqs: rr_headers is not a JSON map of lists, ignored: {e}"),
        }
    }
    let id = get(RR_ID).and_then(string_of);
    if id.is_none() {
        // Another producer's message: its attributes are its headers.
        for (k, v) in attrs.into_iter().flatten() {
            if RR_KEYS.contains(&k.as_str()) {
                continue;
            }
            if let Some(s) = string_of(v) {
                headers.insert(k.clone(), vec![s]);
            }
        }
    }
    let mut attempts = 0;
    for (k, v) in msg.attributes().into_iter().flatten() {
        if k.as_str() == RECEIVE_COUNT {
            attempts = v.parse::<u32>().unwrap_or(1).saturating_sub(1);
        }
        headers.insert(k.as_str().to_owned(), vec![v.clone()]);
    }
    let name = get(RR_JOB)
        .and_then(string_of)
        .unwrap_or_else(|| RAW_JOB.to_owned());
    let id = id.unwrap_or_else(|| msg.message_id().unwrap_or_default().to_owned());
    let body = msg.body().unwrap_or_default();
    let mut job = Job::new(pipeline, name, id, Bytes::copy_from_slice(body.as_bytes()));
    job.headers = headers;
    job.priority = get(RR_PRIORITY)
        .and_then(string_of)
        .and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    job.auto_ack = get(RR_AUTO_ACK)
        .and_then(string_of)
        .is_some_and(|a| matches!(a.trim(), "true" | "1" | "t" | "T" | "TRUE" | "True"));
    job.attempts = attempts;
    job
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageSystemAttributeName;

    fn message(out: &Outgoing) -> Message {
        Message::builder()
            .message_id("m-1")
            .body(out.body.clone())
            .set_message_attributes(Some(out.attributes.clone()))
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "3")
            .build()
    }

    #[test]
    fn round_trip_keeps_what_the_worker_sees() {
        let mut job = Job::new("p", "App\\Mail", "id-1", "hello");
        job.headers
            .insert("attempt".into(), vec!["1".into(), "2".into()]);
        job.priority = 4;
        job.auto_ack = true;
        let out = encode(&job, 3).unwrap();
        assert_eq!(out.body, "hello");
        assert_eq!(out.attributes[RR_DELAY].string_value(), Some("3"));
        assert_eq!(out.attributes[RR_PRIORITY].data_type(), "Number");
        assert_eq!(out.attributes[RR_HEADERS].data_type(), "Binary");
        assert_eq!(out.attributes[RR_AUTO_ACK].string_value(), Some("true"));
        let back = decode("q", &message(&out));
        assert_eq!(
            (back.name.as_str(), back.id.as_str()),
            ("App\\Mail", "id-1")
        );
        assert_eq!(&back.payload[..], b"hello");
        assert_eq!((back.priority, back.auto_ack, back.attempts), (4, true, 2));
        assert_eq!(back.headers["attempt"], ["1", "2"]);
        assert_eq!(back.headers[RECEIVE_COUNT], ["3"]);
        assert_eq!(back.pipeline, "q");
    }

    #[test]
    fn foreign_messages_are_raw_jobs_with_their_attributes_as_headers() {
        let msg = Message::builder()
            .message_id("abc")
            .body("plain")
            .message_attributes("color", attr("String", "red".into()).unwrap())
            .message_attributes("n", attr("Number", "7".into()).unwrap())
            .build();
        let job = decode("p", &msg);
        assert_eq!((job.name.as_str(), job.id.as_str()), (RAW_JOB, "abc"));
        assert_eq!(&job.payload[..], b"plain");
        assert_eq!(job.headers["color"], ["red"]);
        assert_eq!(job.headers["n"], ["7"]);
        assert_eq!((job.priority, job.auto_ack, job.attempts), (0, false, 0));
    }

    #[test]
    fn payloads_sqs_cannot_carry_are_refused() {
        assert!(encode(&Job::new("p", "j", "1", vec![0xffu8]), 0).is_err());
        assert!(encode(&Job::new("p", "j", "1", ""), 0).is_err());
        assert!(encode(&Job::new("p", "j", "1", "a\u{1}b"), 0).is_err());
        assert!(encode(&Job::new("p", "j", "1", "tab\tand ünïcode ✓"), 0).is_ok());
    }
}
