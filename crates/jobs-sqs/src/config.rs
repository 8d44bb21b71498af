//! RoadRunner's sqs keys: the top-level `sqs` section (`key`, `secret`,
//! `region`, `session_token`, `endpoint`) and the pipeline's `queue`,
//! `prefetch`, `max_messages_in_flight`, `priority`, `visibility_timeout`,
//! `wait_time_seconds`, `message_group_id`, `skip_queue_declaration`,
//! `retain_failed_jobs`, `error_visibility_timeout`, `attributes` and
//! `tags`, with RoadRunner's defaults, each problem at its key.

use std::collections::BTreeMap;

use coyote_config::Node;
use coyote_host::Plan;
use serde::Deserialize;

/// The longest visibility timeout SQS takes (12 hours).
pub const MAX_VISIBILITY_TIMEOUT: i64 = 43_200;
/// The longest long poll SQS takes.
pub const MAX_WAIT_TIME: i64 = 20;
/// The most messages one ReceiveMessage returns.
pub const MAX_PREFETCH: usize = 10;
/// The longest delay SQS takes for a message.
pub const MAX_DELAY: u64 = 900;

/// The top-level `sqs` section: the connection, shared by every pipeline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Connection {
    /// Access key id; with `secret`, static credentials (otherwise the
    /// AWS default chain: environment, profile, web identity, ECS, IMDS).
    pub key: String,
    /// Secret access key.
    pub secret: String,
    /// The region (otherwise the default chain's: `AWS_REGION`, profile).
    pub region: String,
    /// Session token of temporary credentials.
    pub session_token: String,
    /// The endpoint, for SQS-compatible servers (ElasticMQ, LocalStack, moto).
    pub endpoint: String,
}

/// One sqs pipeline, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsOptions {
    /// Pipeline name.
    pub pipeline: String,
    /// The connection (`sqs` section).
    pub connection: Connection,
    /// The queue's name (`.fifo` at the end: a FIFO queue).
    pub queue: String,
    /// Messages asked for per ReceiveMessage (1..=10).
    pub prefetch: usize,
    /// Messages received and not settled, at most.
    pub max_in_flight: usize,
    /// Priority of jobs pushed without one.
    pub priority: i64,
    /// Seconds a received message stays hidden (0: the queue's own).
    pub visibility_timeout: i32,
    /// Seconds one ReceiveMessage waits for messages (long polling).
    pub wait_time_seconds: i32,
    /// The message group of every message sent (FIFO queues).
    pub message_group_id: String,
    /// Only look the queue up; never create it.
    pub skip_queue_declaration: bool,
    /// A failed job (nack without redelivery) stays in the queue for SQS
    /// to deliver again (and move to a dead-letter queue), instead of
    /// being deleted.
    pub retain_failed_jobs: bool,
    /// With `retain_failed_jobs`: the visibility timeout a failed job gets
    /// (0: it waits out its visibility timeout).
    pub error_visibility_timeout: i32,
    /// Queue attributes given to CreateQueue (AWS names).
    pub attributes: BTreeMap<String, String>,
    /// Queue tags given to CreateQueue.
    pub tags: BTreeMap<String, String>,
}

impl SqsOptions {
    /// A FIFO queue (its name ends in `.fifo`).
    pub fn fifo(&self) -> bool {
        self.queue.ends_with(".fifo")
    }
}

/// The queue attributes CreateQueue takes, by the lowercase name RoadRunner
/// matches (its config loader lowercases keys) and AWS's own name.
const ATTRIBUTES: &[&str] = &[
    "Policy",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "SqsManagedSseEnabled",
    "ReceiveMessageWaitTimeSeconds",
];

/// The AWS name of attribute `name` (any case), or a problem.
fn attribute_name(name: &str) -> Result<&'static str, String> {
    ATTRIBUTES
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            format!(
                "{name:?} is not a queue attribute CreateQueue takes ({})",
                ATTRIBUTES.join(", ")
            )
        })
}

/// RoadRunner's lowercase values of `DeduplicationScope` and
/// `FifoThroughputLimit` in AWS's spelling.
fn attribute_value(name: &str, value: &str) -> String {
    match (name, value.to_ascii_lowercase().as_str()) {
        ("DeduplicationScope", "messagegroup") => "messageGroup".to_owned(),
        ("FifoThroughputLimit", "perqueue") => "perQueue".to_owned(),
        ("FifoThroughputLimit", "permessagegroupid") => "perMessageGroupId".to_owned(),
        _ => value.to_owned(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Keys {
    priority: i64,
    prefetch: i64,
    max_messages_in_flight: i64,
    visibility_timeout: i64,
    wait_time_seconds: i64,
    queue: Option<String>,
    message_group_id: String,
    skip_queue_declaration: bool,
    retain_failed_jobs: bool,
    error_visibility_timeout: i64,
    attributes: BTreeMap<String, String>,
    tags: BTreeMap<String, String>,
}

/// A queue name SQS takes: 1..=80 of `[A-Za-z0-9_-]`, `.fifo` allowed at
/// the end.
fn check_queue(queue: &str) -> Result<(), String> {
    let base = queue.strip_suffix(".fifo").unwrap_or(queue);
    if queue.is_empty() || queue.len() > 80 {
        return Err(format!("{queue:?} is not a queue name: 1 to 80 characters"));
    }
    if let Some(c) = base
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "{queue:?} is not a queue name: {c:?} is not allowed (letters, digits, '-', '_', and '.fifo' at the end)"
        ));
    }
    Ok(())
}

fn in_range(key: &str, v: i64, max: i64) -> Result<i32, String> {
    if !(0..=max).contains(&v) {
        return Err(format!("{key} {v} is not 0..={max} seconds"));
    }
    i32::try_from(v).map_err(|_| format!("{key} {v} is too large"))
}

/// What both paths (config file, Declare) validate the same way; problems
/// as `(key, message)`.
fn finish(
    pipeline: &str,
    connection: Connection,
    keys: Keys,
    problems: &mut Vec<(String, String)>,
) -> SqsOptions {
    let mut bad = |key: &str, message: String| problems.push((key.to_owned(), message));
    if keys.priority < 0 {
        bad(
            "priority",
            format!(
                "{} is negative; priorities are 0 (default 10) or more",
                keys.priority
            ),
        );
    }
    if keys.prefetch < 0 {
        bad("prefetch", format!("{} is negative", keys.prefetch));
    }
    if keys.max_messages_in_flight < 0 {
        bad(
            "max_messages_in_flight",
            format!("{} is negative", keys.max_messages_in_flight),
        );
    }
    let visibility_timeout = in_range(
        "visibility_timeout",
        keys.visibility_timeout,
        MAX_VISIBILITY_TIMEOUT,
    )
    .unwrap_or_else(|e| {
        bad("visibility_timeout", e);
        0
    });
    let error_visibility_timeout = in_range(
        "error_visibility_timeout",
        keys.error_visibility_timeout,
        MAX_VISIBILITY_TIMEOUT,
    )
    .unwrap_or_else(|e| {
        bad("error_visibility_timeout", e);
        0
    });
    let wait_time_seconds = in_range("wait_time_seconds", keys.wait_time_seconds, MAX_WAIT_TIME)
        .unwrap_or_else(|e| {
            bad("wait_time_seconds", e);
            0
        });
    let queue = match keys.queue.as_deref().map(str::trim) {
        None | Some("") => "default".to_owned(),
        Some(q) => q.to_owned(),
    };
    if let Err(e) = check_queue(&queue) {
        bad("queue", e);
    }
    let group = keys.message_group_id.trim().to_owned();
    if group.len() > 128 {
        bad(
            "message_group_id",
            format!("{group:?} is longer than 128 characters"),
        );
    }
    let mut attributes = BTreeMap::new();
    for (name, value) in keys.attributes {
        match attribute_name(&name) {
            Ok(aws) => {
                attributes.insert(aws.to_owned(), attribute_value(aws, &value));
            }
            Err(e) => bad(&format!("attributes.{name}"), e),
        }
    }
    let fifo = queue.ends_with(".fifo");
    if fifo {
        // SQS creates a FIFO queue only when asked to.
        attributes
            .entry("FifoQueue".to_owned())
            .or_insert_with(|| "true".to_owned());
        if group.is_empty() {
            bad(
                "message_group_id",
                format!("queue {queue:?} is a FIFO queue: every message needs a message_group_id"),
            );
        }
    } else if attributes
        .get("FifoQueue")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        bad(
            "attributes.FifoQueue",
            format!("a FIFO queue's name ends in .fifo, {queue:?} does not"),
        );
    }
    let prefetch = usize::try_from(keys.prefetch)
        .ok()
        .filter(|p| *p > 0)
        .unwrap_or(1)
        .min(MAX_PREFETCH);
    SqsOptions {
        pipeline: pipeline.to_owned(),
        connection,
        queue,
        prefetch,
        max_in_flight: usize::try_from(keys.max_messages_in_flight)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(prefetch),
        priority: if keys.priority <= 0 {
            10
        } else {
            keys.priority
        },
        visibility_timeout,
        wait_time_seconds,
        message_group_id: group,
        skip_queue_declaration: keys.skip_queue_declaration,
        retain_failed_jobs: keys.retain_failed_jobs,
        error_visibility_timeout,
        attributes,
        tags: keys.tags,
    }
}

/// Checks the connection: an endpoint is an http(s) URL.
fn check_connection(c: &Connection) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let e = c.endpoint.trim();
    if !e.is_empty() {
        let rest = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') => {}
            _ => out.push((
                "endpoint",
                format!("{e:?} is not an http:// or https:// URL"),
            )),
        }
    }
    if c.key.trim().is_empty() != c.secret.trim().is_empty() {
        out.push((
            if c.key.trim().is_empty() {
                "key"
            } else {
                "secret"
            },
            "key and secret go together (leave both out for the AWS default credentials)"
                .to_owned(),
        ));
    }
    out
}

/// Whether `pipeline` is the first sqs pipeline of `jobs.pipelines`: the
/// `sqs` section's problems are reported once, with it.
fn first_sqs_pipeline(plan: &Plan<'_>, pipeline: &str) -> bool {
    let first = plan
        .section("jobs")
        .and_then(|j| j.get("pipelines"))
        .and_then(Node::as_map)
        .and_then(|entries| {
            entries.iter().find(|e| {
                e.value()
                    .get("driver")
                    .and_then(Node::as_str)
                    .is_some_and(|d| d.trim() == "sqs")
            })
        })
        .map(|e| e.key().to_owned());
    first.is_none_or(|f| f == pipeline)
}

/// Plans a pipeline from the config file; problems at their keys.
pub fn plan(
    plan: &mut Plan<'_>,
    pipeline: &str,
    path: &str,
    config: Option<&Node>,
) -> Option<SqsOptions> {
    let report_section = first_sqs_pipeline(plan, pipeline);
    let connection = match plan.section("sqs") {
        None => Some(Connection::default()),
        Some(node) if report_section => plan.decode_node::<Connection>(node, "sqs"),
        Some(node) => node.decode::<Connection>("sqs").ok().map(|(c, _)| c),
    };
    let (keys, typed) = match config {
        Some(node) => match plan.decode_node::<Keys>(node, path) {
            Some(keys) => (keys, true),
            // The badly typed keys are reported; the others are still
            // checked, so that every problem shows at once.
            None => (each_key(node, path), false),
        },
        None => (Keys::default(), true),
    };
    let conn_ok = connection.is_some();
    let connection = connection.unwrap_or_default();
    let conn_problems = check_connection(&connection);
    let conn_ok = conn_ok && conn_problems.is_empty();
    if report_section {
        for (key, message) in conn_problems {
            plan.problem(&format!("sqs.{key}"), message);
        }
    }
    let mut problems = Vec::new();
    let options = finish(pipeline, connection, keys, &mut problems);
    let clean = typed && conn_ok && problems.is_empty();
    for (key, message) in problems {
        plan.problem(&format!("{path}.{key}"), message);
    }
    (clean && plan.is_clean()).then_some(options)
}

/// The keys that decode one by one (a badly typed one left at its
/// default: its problem is reported already).
fn each_key(node: &Node, path: &str) -> Keys {
    fn one<T: serde::de::DeserializeOwned + Default>(node: &Node, path: &str, key: &str) -> T {
        node.get(key)
            .and_then(|n| n.decode::<T>(&format!("{path}.{key}")).ok())
            .map(|(v, _)| v)
            .unwrap_or_default()
    }
    Keys {
        priority: one(node, path, "priority"),
        prefetch: one(node, path, "prefetch"),
        max_messages_in_flight: one(node, path, "max_messages_in_flight"),
        visibility_timeout: one(node, path, "visibility_timeout"),
        wait_time_seconds: one(node, path, "wait_time_seconds"),
        queue: one(node, path, "queue"),
        message_group_id: one(node, path, "message_group_id"),
        skip_queue_declaration: one(node, path, "skip_queue_declaration"),
        retain_failed_jobs: one(node, path, "retain_failed_jobs"),
        error_visibility_timeout: one(node, path, "error_visibility_timeout"),
        attributes: one(node, path, "attributes"),
        tags: one(node, path, "tags"),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "f" | "no" | "off" => Ok(false),
        "1" | "true" | "t" | "yes" | "on" => Ok(true),
        other => Err(format!("{key} {other:?} is not a boolean")),
    }
}

fn parse_int(key: &str, value: &str) -> Result<i64, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(0);
    }
    v.parse::<i64>()
        .map_err(|_| format!("{key} {v:?} is not an integer"))
}

/// A map sent as a JSON object string (`{"DelaySeconds":0}`, what
/// roadrunner-php/jobs sends for arrays); values of any JSON type are
/// taken as their text.
fn parse_map(key: &str, value: &str) -> Result<BTreeMap<String, String>, String> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(BTreeMap::new());
    }
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(v).map_err(|e| format!("{key} is not a JSON object: {e}"))?;
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, text)
        })
        .collect())
}

/// Plans a pipeline declared at runtime (`jobs.Declare`: every value a
/// string, as roadrunner-php/jobs' `SQSCreateInfo` sends them).
pub fn declare(
    map: &BTreeMap<String, String>,
    globals: &BTreeMap<String, Node>,
) -> Result<SqsOptions, String> {
    let name = map
        .get("name")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let connection = match globals.get("sqs").filter(|n| !n.is_null()) {
        Some(node) => node
            .decode::<Connection>("sqs")
            .map(|(s, _)| s)
            .map_err(|e| format!("sqs: {e}"))?,
        None => Connection::default(),
    };
    if let Some((key, message)) = check_connection(&connection).into_iter().next() {
        return Err(format!("sqs.{key}: {message}"));
    }
    let get = |k: &str| map.get(k).map_or("", String::as_str);
    // RoadRunner's Declare reads `wait_time`; the PHP client sends
    // `wait_time_seconds`.
    let wait = if get("wait_time_seconds").trim().is_empty() {
        parse_int("wait_time", get("wait_time"))?
    } else {
        parse_int("wait_time_seconds", get("wait_time_seconds"))?
    };
    let keys = Keys {
        priority: parse_int("priority", get("priority"))?,
        prefetch: parse_int("prefetch", get("prefetch"))?,
        max_messages_in_flight: parse_int("max_messages_in_flight", get("max_messages_in_flight"))?,
        visibility_timeout: parse_int("visibility_timeout", get("visibility_timeout"))?,
        wait_time_seconds: wait,
        queue: map.get("queue").cloned(),
        message_group_id: get("message_group_id").to_owned(),
        skip_queue_declaration: parse_bool(
            "skip_queue_declaration",
            get("skip_queue_declaration"),
        )?,
        retain_failed_jobs: parse_bool("retain_failed_jobs", get("retain_failed_jobs"))?,
        error_visibility_timeout: parse_int(
            "error_visibility_timeout",
            get("error_visibility_timeout"),
        )?,
        attributes: parse_map("attributes", get("attributes"))?,
        tags: parse_map("tags", get("tags"))?,
    };
    let mut problems = Vec::new();
    let options = finish(&name, connection, keys, &mut problems);
    match problems.into_iter().next() {
        Some((key, message)) => Err(format!("{key}: {message}")),
        None => Ok(options),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn declare_defaults_are_roadrunners() {
        let o = declare(&map(&[("name", "n"), ("driver", "sqs")]), &BTreeMap::new()).unwrap();
        assert_eq!(o.queue, "default");
        assert_eq!((o.prefetch, o.max_in_flight, o.priority), (1, 1, 10));
        assert_eq!((o.visibility_timeout, o.wait_time_seconds), (0, 0));
        assert!(!o.skip_queue_declaration && !o.retain_failed_jobs && !o.fifo());
        assert!(o.attributes.is_empty() && o.tags.is_empty());
    }

    #[test]
    fn declare_reads_strings_as_the_php_client_sends_them() {
        let o = declare(
            &map(&[
                ("name", "n"),
                ("queue", "mail.fifo"),
                ("prefetch", "25"),
                ("priority", "3"),
                ("visibility_timeout", "30"),
                ("wait_time_seconds", "5"),
                ("message_group_id", "g"),
                (
                    "attributes",
                    r#"{"messageretentionperiod":3600,"DelaySeconds":"0"}"#,
                ),
                ("tags", r#"{"team":"mail"}"#),
            ]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!((o.prefetch, o.max_in_flight, o.priority), (10, 10, 3));
        assert_eq!((o.visibility_timeout, o.wait_time_seconds), (30, 5));
        assert!(o.fifo());
        assert_eq!(o.attributes["MessageRetentionPeriod"], "3600");
        assert_eq!(o.attributes["DelaySeconds"], "0");
        assert_eq!(o.attributes["FifoQueue"], "true");
        assert_eq!(o.tags["team"], "mail");
        let o = declare(&map(&[("name", "n"), ("wait_time", "7")]), &BTreeMap::new()).unwrap();
        assert_eq!(o.wait_time_seconds, 7);
        let bad = |pairs: &[(&str, &str)]| declare(&map(pairs), &BTreeMap::new()).unwrap_err();
        assert!(bad(&[("name", "n"), ("prefetch", "x")]).contains("prefetch"));
        assert!(bad(&[("name", "n"), ("queue", "a b")]).contains("queue"));
        assert!(bad(&[("name", "n"), ("wait_time_seconds", "21")]).contains("wait_time_seconds"));
        assert!(bad(&[("name", "n"), ("visibility_timeout", "-1")]).contains("visibility"));
        assert!(bad(&[("name", "n"), ("queue", "q.fifo")]).contains("message_group_id"));
        assert!(bad(&[("name", "n"), ("attributes", r#"{"Nope":1}"#)]).contains("Nope"));
        assert!(bad(&[("name", "n"), ("attributes", "[1]")]).contains("JSON object"));
        assert!(bad(&[("name", "n"), ("skip_queue_declaration", "maybe")]).contains("boolean"));
    }

    #[test]
    fn attribute_values_in_aws_spelling() {
        assert_eq!(
            attribute_name("fifothroughputlimit").unwrap(),
            "FifoThroughputLimit"
        );
        assert_eq!(
            attribute_value("FifoThroughputLimit", "permessagegroupid"),
            "perMessageGroupId"
        );
        assert_eq!(
            attribute_value("DeduplicationScope", "messagegroup"),
            "messageGroup"
        );
        assert_eq!(attribute_value("Policy", "{}"), "{}");
    }

    #[test]
    fn connections() {
        let c = |endpoint: &str, key: &str, secret: &str| Connection {
            endpoint: endpoint.into(),
            key: key.into(),
            secret: secret.into(),
            ..Connection::default()
        };
        assert!(check_connection(&c("http://127.0.0.1:4566", "", "")).is_empty());
        assert!(check_connection(&c("https://sqs.eu-west-1.amazonaws.com", "k", "s")).is_empty());
        assert_eq!(
            check_connection(&c("127.0.0.1:4566", "", ""))[0].0,
            "endpoint"
        );
        assert_eq!(check_connection(&c("", "k", ""))[0].0, "secret");
        assert_eq!(check_connection(&c("", "", "s"))[0].0, "key");
    }
}
