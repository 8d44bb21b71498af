//! RoadRunner's nats keys: the top-level `nats.addr` and the pipeline's
//! `subject`, `stream`, `prefetch`, `priority`, `deliver_new`,
//! `rate_limit`, `delete_stream_on_stop`, `delete_after_ack` and
//! `ack_wait`, with RoadRunner's defaults (a pipeline from the config file
//! prefetches 10, one declared at runtime 100, as in RoadRunner), each
//! problem at its key.

use std::collections::BTreeMap;
use std::time::Duration;

use coyote_config::Node;
use coyote_host::Plan;
use serde::Deserialize;

/// `nats.DefaultURL`.
pub const DEFAULT_ADDR: &str = "nats://127.0.0.1:4222";
/// Prefetch of a pipeline from the config file (RoadRunner's `InitDefaults`).
pub const DEFAULT_PREFETCH: usize = 10;
/// Prefetch of a pipeline declared at runtime (RoadRunner's `FromPipeline`).
pub const DEFAULT_DECLARED_PREFETCH: usize = 100;
/// `ack_wait` when unset (RoadRunner's default).
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);

/// One nats pipeline, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsOptions {
    /// Pipeline name.
    pub pipeline: String,
    /// The server address(es), comma separated as in RoadRunner.
    pub addr: String,
    /// The subject jobs are published to and consumed from.
    pub subject: String,
    /// The JetStream stream holding the subject (created when missing).
    pub stream: String,
    /// Unacknowledged deliveries at most (the consumer's `max_ack_pending`).
    pub prefetch: usize,
    /// Priority of jobs pushed without one.
    pub priority: i64,
    /// A new consumer starts with the messages published after it
    /// (otherwise with every message the stream holds).
    pub deliver_new: bool,
    /// RoadRunner's `rate_limit` (accepted; RoadRunner's current driver
    /// does not apply it to its pull consumer either).
    pub rate_limit: u64,
    /// Deletes the stream when the pipeline stops.
    pub delete_stream_on_stop: bool,
    /// Deletes each message from the stream once acknowledged.
    pub delete_after_ack: bool,
    /// How long the server waits for an answer before redelivering (work
    /// in progress is reported before it ends).
    pub ack_wait: Duration,
}

impl NatsOptions {
    /// The durable consumer every Coyote server consuming this pipeline
    /// shares: `coyote-<pipeline>` with the characters a consumer name may
    /// not hold replaced.
    pub fn durable(&self) -> String {
        let name: String = self
            .pipeline
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("coyote-{name}")
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Section {
    addr: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Keys {
    priority: i64,
    subject: String,
    stream: String,
    prefetch: i64,
    rate_limit: i64,
    deliver_new: bool,
    delete_stream_on_stop: bool,
    delete_after_ack: bool,
    #[serde(deserialize_with = "coyote_config::duration::de")]
    ack_wait: Duration,
}

/// Checks one address list; the first bad address.
pub fn check_addr(addr: &str) -> Result<(), String> {
    for a in addr.split(',').map(str::trim) {
        if a.is_empty() {
            return Err(format!("{addr:?} has an empty address"));
        }
        a.parse::<async_nats::ServerAddr>()
            .map_err(|e| format!("{a:?} is not a NATS address ({e})"))?;
    }
    Ok(())
}

/// A stream name: no whitespace, `.`, `*`, `>`, `/` or `\` (JetStream's rule).
fn check_stream(stream: &str) -> Result<(), String> {
    if let Some(c) = stream
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        return Err(format!(
            "{stream:?} is not a stream name: {c:?} is not allowed (no whitespace, '.', '*', '>', '/', '\\')"
        ));
    }
    Ok(())
}

/// A subject to publish to: dot-separated tokens, no whitespace, no
/// wildcard (a job is published to it).
fn check_subject(subject: &str) -> Result<(), String> {
    if subject.chars().any(char::is_whitespace) {
        return Err(format!(
            "{subject:?} is not a subject: no whitespace allowed"
        ));
    }
    if subject.split('.').any(str::is_empty) {
        return Err(format!("{subject:?} is not a subject: empty token"));
    }
    if subject.split('.').any(|t| t == "*" || t == ">") {
        return Err(format!(
            "{subject:?} is not a subject jobs can be published to: wildcards are not allowed"
        ));
    }
    Ok(())
}

/// What both paths (config file, Declare) validate the same way; problems
/// as `(key, message)`.
fn finish(
    pipeline: &str,
    addr: String,
    keys: Keys,
    default_prefetch: usize,
    problems: &mut Vec<(&'static str, String)>,
) -> NatsOptions {
    if keys.priority < 0 {
        problems.push((
            "priority",
            format!(
                "{} is negative; priorities are 0 (default 10) or more",
                keys.priority
            ),
        ));
    }
    if keys.prefetch < 0 {
        problems.push(("prefetch", format!("{} is negative", keys.prefetch)));
    }
    if keys.rate_limit < 0 {
        problems.push(("rate_limit", format!("{} is negative", keys.rate_limit)));
    }
    let subject = if keys.subject.trim().is_empty() {
        "default".to_owned()
    } else {
        keys.subject.trim().to_owned()
    };
    if let Err(e) = check_subject(&subject) {
        problems.push(("subject", e));
    }
    let stream = if keys.stream.trim().is_empty() {
        "default-stream".to_owned()
    } else {
        keys.stream.trim().to_owned()
    };
    if let Err(e) = check_stream(&stream) {
        problems.push(("stream", e));
    }
    NatsOptions {
        pipeline: pipeline.to_owned(),
        addr,
        subject,
        stream,
        prefetch: usize::try_from(keys.prefetch)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(default_prefetch),
        priority: if keys.priority <= 0 {
            10
        } else {
            keys.priority
        },
        deliver_new: keys.deliver_new,
        rate_limit: u64::try_from(keys.rate_limit)
            .ok()
            .filter(|r| *r > 0)
            .unwrap_or(1000),
        delete_stream_on_stop: keys.delete_stream_on_stop,
        delete_after_ack: keys.delete_after_ack,
        ack_wait: if keys.ack_wait.is_zero() {
            DEFAULT_ACK_WAIT
        } else {
            keys.ack_wait
        },
    }
}

fn addr_of(section: Section) -> String {
    if section.addr.trim().is_empty() {
        DEFAULT_ADDR.to_owned()
    } else {
        section.addr.trim().to_owned()
    }
}

/// Plans a pipeline from the config file; problems at their keys.
pub fn plan(
    plan: &mut Plan<'_>,
    pipeline: &str,
    path: &str,
    config: Option<&Node>,
) -> Option<NatsOptions> {
    let section: Option<Section> = match plan.section("nats") {
        Some(_) => plan.decode("nats"),
        None => Some(Section::default()),
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
    let addr = section.map_or_else(|| DEFAULT_ADDR.to_owned(), addr_of);
    if let Err(e) = check_addr(&addr) {
        plan.problem("nats.addr", e);
    }
    let mut problems = Vec::new();
    let options = finish(pipeline, addr, keys, DEFAULT_PREFETCH, &mut problems);
    let clean = typed && problems.is_empty();
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
        subject: one(node, path, "subject"),
        stream: one(node, path, "stream"),
        prefetch: one(node, path, "prefetch"),
        rate_limit: one(node, path, "rate_limit"),
        deliver_new: one(node, path, "deliver_new"),
        delete_stream_on_stop: one(node, path, "delete_stream_on_stop"),
        delete_after_ack: one(node, path, "delete_after_ack"),
        ack_wait: Duration::ZERO,
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

/// Plans a pipeline declared at runtime (`jobs.Declare`: every value a
/// string, as roadrunner-php/jobs' `NatsCreateInfo` sends them).
pub fn declare(
    map: &BTreeMap<String, String>,
    globals: &BTreeMap<String, Node>,
) -> Result<NatsOptions, String> {
    let name = map
        .get("name")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let section = match globals.get("nats").filter(|n| !n.is_null()) {
        Some(node) => node
            .decode::<Section>("nats")
            .map(|(s, _)| s)
            .map_err(|e| format!("nats: {e}"))?,
        None => Section::default(),
    };
    let addr = addr_of(section);
    check_addr(&addr).map_err(|e| format!("nats.addr: {e}"))?;
    let get = |k: &str| map.get(k).map_or("", String::as_str);
    let ack_wait = parse_int("ack_wait", get("ack_wait"))?;
    let keys = Keys {
        priority: parse_int("priority", get("priority"))?,
        subject: get("subject").to_owned(),
        stream: get("stream").to_owned(),
        prefetch: parse_int("prefetch", get("prefetch"))?,
        rate_limit: parse_int("rate_limit", get("rate_limit"))?,
        deliver_new: parse_bool("deliver_new", get("deliver_new"))?,
        delete_stream_on_stop: parse_bool("delete_stream_on_stop", get("delete_stream_on_stop"))?,
        delete_after_ack: parse_bool("delete_after_ack", get("delete_after_ack"))?,
        ack_wait: match u64::try_from(ack_wait) {
            Ok(s) => Duration::from_secs(s),
            Err(_) => return Err(format!("ack_wait {ack_wait} is negative")),
        },
    };
    let mut problems = Vec::new();
    let options = finish(&name, addr, keys, DEFAULT_DECLARED_PREFETCH, &mut problems);
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
        let o = declare(&map(&[("name", "n"), ("driver", "nats")]), &BTreeMap::new()).unwrap();
        assert_eq!(o.addr, DEFAULT_ADDR);
        assert_eq!(
            (o.subject.as_str(), o.stream.as_str()),
            ("default", "default-stream")
        );
        assert_eq!((o.prefetch, o.priority, o.rate_limit), (100, 10, 1000));
        assert_eq!(o.ack_wait, DEFAULT_ACK_WAIT);
        assert!(!o.deliver_new && !o.delete_after_ack && !o.delete_stream_on_stop);
    }

    #[test]
    fn declare_reads_strings_as_the_php_client_sends_them() {
        let o = declare(
            &map(&[
                ("name", "n"),
                ("subject", "jobs.mail"),
                ("stream", "mail"),
                ("prefetch", "7"),
                ("priority", "3"),
                ("deliver_new", "true"),
                ("delete_after_ack", "1"),
                ("delete_stream_on_stop", ""),
                ("rate_limit", "100"),
                ("ack_wait", "5"),
            ]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!((o.prefetch, o.priority, o.rate_limit), (7, 3, 100));
        assert!(o.deliver_new && o.delete_after_ack && !o.delete_stream_on_stop);
        assert_eq!(o.ack_wait, Duration::from_secs(5));
        assert_eq!(o.durable(), "coyote-n");
        let bad = |pairs: &[(&str, &str)]| declare(&map(pairs), &BTreeMap::new()).unwrap_err();
        assert!(bad(&[("name", "n"), ("prefetch", "x")]).contains("prefetch"));
        assert!(bad(&[("name", "n"), ("deliver_new", "maybe")]).contains("deliver_new"));
        assert!(bad(&[("name", "n"), ("stream", "a.b")]).contains("stream"));
        assert!(bad(&[("name", "n"), ("subject", "a.*")]).contains("wildcards"));
        assert!(bad(&[("name", "n"), ("priority", "-2")]).contains("negative"));
    }

    #[test]
    fn addresses() {
        assert!(check_addr("nats://127.0.0.1:4222").is_ok());
        assert!(check_addr("127.0.0.1:4222, nats://h:1").is_ok());
        assert!(check_addr("nats://a:4222,").is_err());
        assert!(check_addr("http://[::1").is_err());
    }

    #[test]
    fn durable_names_hold_only_allowed_characters() {
        let o = declare(&map(&[("name", "a.b c*")]), &BTreeMap::new()).unwrap();
        assert_eq!(o.durable(), "coyote-a_b_c_");
    }
}
