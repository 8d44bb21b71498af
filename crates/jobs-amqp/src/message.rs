//! RoadRunner's amqp message format, so that producers and consumers of
//! both servers share a queue: the body is the payload, and the job
//! travels in the message's headers as RoadRunner's driver packs them
//! (amqp091-go's field types): `rr_id`, `rr_job`, `rr_pipeline` long
//! strings (`S`), `rr_headers` the JSON of the job's headers as a byte
//! array (`x`), `rr_delay` a 32-bit integer (`I`, Go's `int`),
//! `rr_priority` a 64-bit integer (`l`) and `rr_auto_ack` a boolean (`t`);
//! content type `application/octet-stream`, persistent, timestamped.
//!
//! Reading is lenient the way RoadRunner's is: a message without `rr_id`
//! gets a fresh id, one without `rr_job` is `deduced_by_rr`; integers of
//! any width and `rr_headers` as a byte array or a string are read; the
//! message's other headers (a plain AMQP producer's) become job headers,
//! their values as strings (RoadRunner's `convHeaders`).

use bytes::Bytes;
use coyote_jobs::{Headers, Job};
use lapin::types::{AMQPValue, ByteArray, FieldTable, LongString};
use lapin::BasicProperties;

/// The job name RoadRunner gives a message without `rr_job`.
pub const RAW_JOB: &str = "deduced_by_rr";
/// RoadRunner's headers.
pub const RR_ID: &str = "rr_id";
/// The job's name.
pub const RR_JOB: &str = "rr_job";
/// The pipeline it was pushed to.
pub const RR_PIPELINE: &str = "rr_pipeline";
/// The job's headers, JSON.
pub const RR_HEADERS: &str = "rr_headers";
/// The delay it was published with, seconds.
pub const RR_DELAY: &str = "rr_delay";
/// The job's priority.
pub const RR_PRIORITY: &str = "rr_priority";
/// Ack on receipt.
pub const RR_AUTO_ACK: &str = "rr_auto_ack";
/// A job header that names the routing key to publish with (RoadRunner's
/// `x-routing-key`); it is not published.
pub const ROUTING_KEY_HEADER: &str = "x-routing-key";
/// RoadRunner's content type.
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// The AMQP headers RoadRunner writes for `job`.
///
/// # Errors
/// A delay past what a 32-bit `rr_delay` holds.
pub fn pack(job: &Job, delay: u64) -> Result<FieldTable, String> {
    let headers: Headers = job
        .headers
        .iter()
        .filter(|(k, _)| k.as_str() != ROUTING_KEY_HEADER)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let json = serde_json::to_vec(&headers).map_err(|e| e.to_string())?;
    let delay =
        i32::try_from(delay).map_err(|_| format!("job {}: delay {delay} s is too long", job.id))?;
    let mut table = FieldTable::default();
    table.insert(RR_ID.into(), long_string(&job.id));
    table.insert(RR_JOB.into(), long_string(&job.name));
    table.insert(RR_PIPELINE.into(), long_string(&job.pipeline));
    table.insert(
        RR_HEADERS.into(),
        AMQPValue::ByteArray(ByteArray::from(json)),
    );
    table.insert(RR_DELAY.into(), AMQPValue::LongInt(delay));
    table.insert(RR_PRIORITY.into(), AMQPValue::LongLongInt(job.priority));
    table.insert(RR_AUTO_ACK.into(), AMQPValue::Boolean(job.auto_ack));
    Ok(table)
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes()))
}

/// The properties RoadRunner publishes with: its headers, the content
/// type, persistent delivery, the time.
pub fn properties(table: FieldTable, now_secs: u64) -> BasicProperties {
    BasicProperties::default()
        .with_headers(table)
        .with_content_type(CONTENT_TYPE.into())
        .with_delivery_mode(2)
        .with_timestamp(now_secs)
}

/// The routing key a job is published with: its `x-routing-key` header
/// when it has exactly one non-empty value, else the pipeline's.
pub fn routing_key<'a>(job: &'a Job, default: &'a str) -> &'a str {
    match job.headers.get(ROUTING_KEY_HEADER).map(Vec::as_slice) {
        Some([one]) if !one.is_empty() => one,
        _ => default,
    }
}

fn text(v: &AMQPValue) -> Option<String> {
    match v {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        AMQPValue::ByteArray(b) => Some(String::from_utf8_lossy(b.as_slice()).into_owned()),
        _ => None,
    }
}

fn integer(v: &AMQPValue) -> Option<i64> {
    match v {
        AMQPValue::ShortShortInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortShortUInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortInt(i) => Some(i64::from(*i)),
        AMQPValue::ShortUInt(i) => Some(i64::from(*i)),
        AMQPValue::LongInt(i) => Some(i64::from(*i)),
        AMQPValue::LongUInt(i) => Some(i64::from(*i)),
        AMQPValue::LongLongInt(i) => Some(*i),
        _ => None,
    }
}

/// One AMQP header value as job header values (RoadRunner's
/// `convHeaders`: numbers, booleans, strings and arrays of them).
fn strings(v: &AMQPValue, out: &mut Vec<String>) {
    match v {
        AMQPValue::Boolean(b) => out.push(b.to_string()),
        AMQPValue::Float(f) => out.push(format!("{f:.5}")),
        AMQPValue::Double(f) => out.push(format!("{f:.5}")),
        AMQPValue::DecimalValue(d) => {
            let scale = usize::from(d.scale);
            let value = f64::from(d.value) / 10f64.powi(i32::from(d.scale));
            out.push(format!("{value:.scale$}"));
        }
        AMQPValue::Timestamp(t) => out.push(t.to_string()),
        AMQPValue::FieldArray(items) => {
            for item in items.as_slice() {
                strings(item, out);
            }
        }
        other => {
            if let Some(i) = integer(other) {
                out.push(i.to_string());
            } else if let Some(s) = text(other) {
                out.push(s);
            }
        }
    }
}

/// A delivered message as a job of `pipeline` (priority 0 when the message
/// names none: the pipeline's applies). `fresh_id` names a message
/// without `rr_id`.
pub fn unpack(
    pipeline: &str,
    properties: &BasicProperties,
    body: Vec<u8>,
    fresh_id: impl FnOnce() -> String,
) -> Job {
    let empty = FieldTable::default();
    let table = properties.headers().as_ref().unwrap_or(&empty).inner();
    let get = |k: &str| table.get(k);
    let id = get(RR_ID).and_then(text).unwrap_or_else(fresh_id);
    let name = get(RR_JOB)
        .and_then(text)
        .unwrap_or_else(|| RAW_JOB.to_owned());
    let mut job = Job::new(pipeline, name, id, Bytes::from(body));
    let mut headers = Headers::new();
    for (k, v) in table {
        let k = k.as_str();
        if k.starts_with("rr_") || k == "x-death" {
            continue;
        }
        let mut values = Vec::new();
        strings(v, &mut values);
        if !values.is_empty() {
            headers.insert(k.to_owned(), values);
        }
    }
    if let Some(json) = get(RR_HEADERS).and_then(text) {
        match serde_json::from_str::<Option<Headers>>(&json) {
            Ok(h) => headers.extend(h.unwrap_or_default()),
            Err(e) => tracing::warn!(target: "coyote::jobs", pipeline, id = %job.id,
                "amqp: rr_headers is not the JSON of the job's headers, ignored: {e}"),
        }
    }
    job.headers = headers;
    job.priority = get(RR_PRIORITY).and_then(integer).unwrap_or(0).max(0);
    job.auto_ack = matches!(get(RR_AUTO_ACK), Some(AMQPValue::Boolean(true)));
    // The delay was served by the dead-letter queue before delivery.
    job.delay = 0;
    job
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::generation::gen_field_table;

    #[test]
    fn headers_have_roadrunners_field_types() {
        let mut job = Job::new("p", "App\\Mail", "id-1", Bytes::from_static(b"\x00bin\xff"));
        job.headers
            .insert("attempt".into(), vec!["1".into(), "2".into()]);
        job.headers
            .insert(ROUTING_KEY_HEADER.into(), vec!["elsewhere".into()]);
        job.priority = 4;
        job.auto_ack = true;
        assert_eq!(routing_key(&job, "rk"), "elsewhere");
        let table = pack(&job, 3).unwrap();
        let t = table.inner();
        assert_eq!(t["rr_id"].get_type().get_id(), 'S');
        assert_eq!(t["rr_job"].get_type().get_id(), 'S');
        assert_eq!(t["rr_pipeline"].get_type().get_id(), 'S');
        assert_eq!(t["rr_headers"].get_type().get_id(), 'x');
        assert_eq!(t["rr_delay"].get_type().get_id(), 'I');
        assert_eq!(t["rr_priority"].get_type().get_id(), 'l');
        assert_eq!(t["rr_auto_ack"].get_type().get_id(), 't');
        assert_eq!(
            text(&t["rr_headers"]).unwrap(),
            r#"{"attempt":["1","2"]}"#,
            "the routing key header is not published"
        );
        // And on the wire: `rr_delay` is 'I' then 4 bytes, big endian.
        let mut wire = Vec::new();
        let mut one = FieldTable::default();
        one.insert(RR_DELAY.into(), AMQPValue::LongInt(3));
        cookie_factory_gen(&one, &mut wire);
        assert_eq!(&wire[4..], b"\x08rr_delayI\x00\x00\x00\x03");

        let props = properties(table, 1_700_000_000);
        assert_eq!(props.delivery_mode(), &Some(2));
        let back = unpack("p", &props, job.payload.to_vec(), || "fresh".into());
        assert_eq!(
            (back.name.as_str(), back.id.as_str()),
            ("App\\Mail", "id-1")
        );
        assert_eq!(back.payload, job.payload);
        assert_eq!((back.priority, back.auto_ack), (4, true));
        assert_eq!(back.headers["attempt"], ["1", "2"]);
        assert!(!back.headers.contains_key(ROUTING_KEY_HEADER));
    }

    fn cookie_factory_gen(table: &FieldTable, out: &mut Vec<u8>) {
        let (buf, _) = cookie_factory::gen(gen_field_table(table), Vec::new()).unwrap();
        out.extend(buf);
    }

    #[test]
    fn plain_amqp_messages_and_other_integer_widths() {
        let mut table = FieldTable::default();
        table.insert("x-trace".into(), long_string("abc"));
        table.insert("n".into(), AMQPValue::ShortInt(7));
        table.insert("ok".into(), AMQPValue::Boolean(true));
        let props = BasicProperties::default().with_headers(table);
        let job = unpack("p", &props, b"raw body".to_vec(), || "amqp-1".into());
        assert_eq!((job.name.as_str(), job.id.as_str()), (RAW_JOB, "amqp-1"));
        assert_eq!(&job.payload[..], b"raw body");
        assert_eq!(job.headers["x-trace"], ["abc"]);
        assert_eq!(job.headers["n"], ["7"]);
        assert_eq!(job.headers["ok"], ["true"]);
        assert_eq!(job.priority, 0);
        // rr_headers as a string, priority as a 32-bit integer (PHP producers).
        let mut table = FieldTable::default();
        table.insert(RR_ID.into(), long_string("i"));
        table.insert(RR_HEADERS.into(), long_string(r#"{"a":["b"]}"#));
        table.insert(RR_PRIORITY.into(), AMQPValue::LongInt(3));
        let props = BasicProperties::default().with_headers(table);
        let job = unpack("p", &props, Vec::new(), || "x".into());
        assert_eq!(job.headers["a"], ["b"]);
        assert_eq!(job.priority, 3);
    }
}
