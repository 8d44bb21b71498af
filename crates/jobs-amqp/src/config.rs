//! RoadRunner's amqp keys: the top-level `amqp.addr` (and `amqp.tls`:
//! `root_ca`, `cert`, `key`, `client_auth_type`) and the pipeline's
//! `queue`, `exchange`, `exchange_type`, `exchange_durable`,
//! `exchange_auto_delete`, `routing_key`, `durable`, `exclusive`,
//! `queue_auto_delete`, `queue_headers`, `prefetch`, `priority`,
//! `multiple_ack`, `requeue_on_fail`, `consumer_id`, `redial_timeout` and
//! `delete_queue_on_stop`, with RoadRunner's defaults (`InitDefault` and
//! `FromPipeline`), each problem at its key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coyote_config::Node;
use coyote_host::Plan;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString};
use lapin::uri::AMQPUri;
use serde::Deserialize;

/// RoadRunner's default address.
pub const DEFAULT_ADDR: &str = "amqp://guest:guest@127.0.0.1:5672/";
/// RoadRunner's default exchange.
pub const DEFAULT_EXCHANGE: &str = "amqp.default";
/// RoadRunner's default exchange type.
pub const DEFAULT_EXCHANGE_TYPE: &str = "direct";
/// `prefetch` when 0 or absent.
pub const DEFAULT_PREFETCH: u16 = 10;
/// `priority` when 0 or absent.
pub const DEFAULT_PRIORITY: i64 = 10;
/// `redial_timeout` when 0 or absent (RoadRunner: 60 seconds).
pub const DEFAULT_REDIAL_TIMEOUT: Duration = Duration::from_secs(60);
/// The heartbeat asked for when the address names none (amqp091-go's,
/// RoadRunner's client: 10 s). A link silent for two of them is dead.
pub const DEFAULT_HEARTBEAT: u16 = 10;

/// `amqp.tls`, validated (paths resolved, files present).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM CA to trust.
    pub root_ca: Option<PathBuf>,
    /// PEM client certificate (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM client key (PKCS#8).
    pub key: Option<PathBuf>,
    /// RoadRunner's `client_auth_type` (a server-side setting there;
    /// accepted and kept).
    pub client_auth_type: String,
}

/// One amqp pipeline, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct AmqpOptions {
    /// Pipeline name.
    pub pipeline: String,
    /// The address as configured (for messages).
    pub addr: String,
    /// The address as dialed (vhost `/` for an empty path, as RoadRunner's
    /// client reads it; heartbeat default).
    pub uri: AMQPUri,
    /// `amqp.tls`.
    pub tls: Option<Tls>,
    /// The queue consumed (and declared, bound to the exchange).
    pub queue: String,
    /// The exchange jobs are published to.
    pub exchange: String,
    /// `direct`, `fanout`, `topic`, `headers` (or a plugin's `x-` type).
    pub exchange_type: String,
    /// The exchange survives a broker restart.
    pub exchange_durable: bool,
    /// The exchange goes with its last binding.
    pub exchange_auto_delete: bool,
    /// The routing key jobs are published with and the queue is bound by.
    pub routing_key: String,
    /// The queue survives a broker restart.
    pub durable: bool,
    /// The queue belongs to this connection alone.
    pub exclusive: bool,
    /// The queue goes with its last consumer.
    pub queue_auto_delete: bool,
    /// Arguments of the queue's declaration (`x-max-priority`, ...).
    pub queue_headers: FieldTable,
    /// Unacknowledged deliveries at most (basic.qos).
    pub prefetch: u16,
    /// Priority of jobs without one.
    pub priority: i64,
    /// RoadRunner's `multiple_ack` (see the driver: only ever covers
    /// deliveries settled here).
    pub multiple_ack: bool,
    /// A job that failed in the worker goes back to the queue.
    pub requeue_on_fail: bool,
    /// The consumer tag.
    pub consumer_id: String,
    /// How long redialing backs off before it starts over.
    pub redial_timeout: Duration,
    /// Deletes the queue when the pipeline stops.
    pub delete_queue_on_stop: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TlsKeys {
    root_ca: String,
    key: String,
    cert: String,
    client_auth_type: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Section {
    addr: String,
    tls: Option<TlsKeys>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Keys {
    priority: i64,
    prefetch: i64,
    queue: String,
    exchange: String,
    exchange_type: String,
    exchange_durable: bool,
    exchange_auto_delete: bool,
    queue_auto_delete: bool,
    routing_key: String,
    durable: bool,
    exclusive: bool,
    multiple_ack: bool,
    requeue_on_fail: bool,
    consumer_id: String,
    queue_headers: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(deserialize_with = "coyote_config::duration::de_secs")]
    redial_timeout: Duration,
    delete_queue_on_stop: bool,
    /// RoadRunner's older `consume_all` (accepted, no effect there either).
    consume_all: bool,
}

/// A fresh consumer tag, `coyote-<uuid v4>` (RoadRunner: `roadrunner-<uuid>`).
pub fn random_consumer_id() -> String {
    let r = fastrand::u128(..);
    let h = format!("{r:032x}");
    format!(
        "coyote-{}-{}-4{}-{:x}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        8 + (r >> 60 & 3),
        &h[17..20],
        &h[20..32]
    )
}

/// Parses an address as RoadRunner's client does: `amqp://` or
/// `amqps://`, an empty path (or `/`) is the vhost `/`, the heartbeat is
/// 10 s unless the query names one.
pub fn parse_addr(addr: &str) -> Result<AMQPUri, String> {
    let mut uri: AMQPUri = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an AMQP address ({e})"))?;
    if uri.authority.host.is_empty() {
        return Err(format!("{addr:?} is not an AMQP address (no host)"));
    }
    if uri.vhost.is_empty() {
        uri.vhost = "/".to_owned();
    }
    if uri.query.heartbeat.is_none() {
        uri.query.heartbeat = Some(DEFAULT_HEARTBEAT);
    }
    if uri.query.connection_timeout.is_none() {
        uri.query.connection_timeout = Some(10_000);
    }
    Ok(uri)
}

/// The address without its password (for messages and logs).
pub fn redact(addr: &str) -> String {
    match (addr.find("://"), addr.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let user = &addr[s + 3..at];
            match user.find(':') {
                Some(c) => format!("{}{}:***{}", &addr[..s + 3], &user[..c], &addr[at..]),
                None => addr.to_owned(),
            }
        }
        _ => addr.to_owned(),
    }
}

const EXCHANGE_TYPES: [&str; 4] = ["direct", "fanout", "topic", "headers"];

/// A JSON value as a queue argument: integers as RoadRunner's client
/// writes Go's `int` (a 32-bit `I` when it fits, else a 64-bit `l`).
fn amqp_value(key: &str, v: &serde_json::Value) -> Result<AMQPValue, String> {
    Ok(match v {
        serde_json::Value::Null => AMQPValue::Void,
        serde_json::Value::Bool(b) => AMQPValue::Boolean(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                match i32::try_from(i) {
                    Ok(small) => AMQPValue::LongInt(small),
                    Err(_) => AMQPValue::LongLongInt(i),
                }
            } else if let Some(f) = n.as_f64() {
                AMQPValue::Double(f)
            } else {
                return Err(format!("{key}: {n} does not fit an AMQP integer"));
            }
        }
        serde_json::Value::String(s) => AMQPValue::LongString(LongString::from(s.as_bytes())),
        serde_json::Value::Array(items) => {
            let mut array = FieldArray::default();
            for item in items {
                array.push(amqp_value(key, item)?);
            }
            AMQPValue::FieldArray(array)
        }
        serde_json::Value::Object(map) => {
            let mut table = FieldTable::default();
            for (k, item) in map {
                table.insert(k.as_str().into(), amqp_value(k, item)?);
            }
            AMQPValue::FieldTable(table)
        }
    })
}

/// `queue_headers` as the queue's arguments; problems as `(key, message)`.
fn queue_arguments(
    headers: &BTreeMap<String, serde_json::Value>,
    problems: &mut Vec<(String, String)>,
) -> FieldTable {
    let mut table = FieldTable::default();
    for (k, v) in headers {
        if k.len() > 255 {
            problems.push((format!("queue_headers.{k}"), "longer than 255 bytes".into()));
            continue;
        }
        // YAML numbers may reach us as strings (the loader's weak typing):
        // RabbitMQ wants integers for its x- arguments.
        let v = match v {
            serde_json::Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) if k.starts_with("x-") => serde_json::Value::from(i),
                _ => v.clone(),
            },
            _ => v.clone(),
        };
        match amqp_value(k, &v) {
            Ok(value) => {
                table.insert(k.as_str().into(), value);
            }
            Err(e) => problems.push((format!("queue_headers.{k}"), e)),
        }
    }
    table
}

/// A name AMQP can carry (a short string: at most 255 bytes).
fn check_short(key: &str, value: &str, problems: &mut Vec<(String, String)>) {
    if value.len() > 255 {
        problems.push((
            key.to_owned(),
            format!("{} bytes; AMQP names are at most 255", value.len()),
        ));
    }
}

/// What both paths (config file, Declare) validate the same way.
fn finish(
    pipeline: &str,
    addr: String,
    tls: Option<Tls>,
    keys: Keys,
    queue_headers: FieldTable,
    problems: &mut Vec<(String, String)>,
) -> Option<AmqpOptions> {
    let uri = match parse_addr(&addr) {
        Ok(u) => Some(u),
        Err(e) => {
            problems.push(("amqp.addr".into(), e));
            None
        }
    };
    if keys.priority < 0 {
        problems.push((
            "priority".into(),
            format!(
                "{} is negative; priorities are 0 (default 10) or more",
                keys.priority
            ),
        ));
    }
    let prefetch = match u16::try_from(keys.prefetch) {
        Ok(0) => DEFAULT_PREFETCH,
        Ok(p) => p,
        Err(_) => {
            problems.push((
                "prefetch".into(),
                format!(
                    "{} is out of range: basic.qos takes 0 (default 10) to 65535",
                    keys.prefetch
                ),
            ));
            DEFAULT_PREFETCH
        }
    };
    let exchange_type = if keys.exchange_type.trim().is_empty() {
        DEFAULT_EXCHANGE_TYPE.to_owned()
    } else {
        keys.exchange_type.trim().to_ascii_lowercase()
    };
    if !EXCHANGE_TYPES.contains(&exchange_type.as_str()) && !exchange_type.starts_with("x-") {
        problems.push((
            "exchange_type".into(),
            format!(
                "{exchange_type:?} is not an exchange type: direct, fanout, topic, headers (or a plugin's x- type)"
            ),
        ));
    }
    let exchange = if keys.exchange.trim().is_empty() {
        DEFAULT_EXCHANGE.to_owned()
    } else {
        keys.exchange.trim().to_owned()
    };
    check_short("exchange", &exchange, problems);
    check_short("queue", keys.queue.trim(), problems);
    check_short("routing_key", &keys.routing_key, problems);
    check_short("consumer_id", &keys.consumer_id, problems);
    let consumer_id = if keys.consumer_id.trim().is_empty() {
        random_consumer_id()
    } else {
        keys.consumer_id.trim().to_owned()
    };
    let options = AmqpOptions {
        pipeline: pipeline.to_owned(),
        addr,
        uri: uri?,
        tls,
        queue: keys.queue.trim().to_owned(),
        exchange,
        exchange_type,
        exchange_durable: keys.exchange_durable,
        exchange_auto_delete: keys.exchange_auto_delete,
        routing_key: keys.routing_key,
        durable: keys.durable,
        exclusive: keys.exclusive,
        queue_auto_delete: keys.queue_auto_delete,
        queue_headers,
        prefetch,
        priority: if keys.priority <= 0 {
            DEFAULT_PRIORITY
        } else {
            keys.priority
        },
        multiple_ack: keys.multiple_ack,
        requeue_on_fail: keys.requeue_on_fail,
        consumer_id,
        redial_timeout: if keys.redial_timeout.is_zero() {
            DEFAULT_REDIAL_TIMEOUT
        } else {
            keys.redial_timeout
        },
        delete_queue_on_stop: keys.delete_queue_on_stop,
    };
    let _ = keys.consume_all;
    Some(options)
}

fn addr_of(section: &Section) -> String {
    if section.addr.trim().is_empty() {
        DEFAULT_ADDR.to_owned()
    } else {
        section.addr.trim().to_owned()
    }
}

/// `amqp.tls` with its paths resolved against `dir`; problems as
/// `(key, message)` (RoadRunner refuses missing files at start too).
fn tls_of(keys: Option<&TlsKeys>, dir: &Path, problems: &mut Vec<(String, String)>) -> Option<Tls> {
    let keys = keys?;
    let file = |key: &str, value: &str, problems: &mut Vec<(String, String)>| {
        if value.trim().is_empty() {
            return None;
        }
        let path = dir.join(value.trim());
        if !path.is_file() {
            problems.push((
                format!("amqp.tls.{key}"),
                format!("{} does not exist", path.display()),
            ));
        }
        Some(path)
    };
    let tls = Tls {
        root_ca: file("root_ca", &keys.root_ca, problems),
        cert: file("cert", &keys.cert, problems),
        key: file("key", &keys.key, problems),
        client_auth_type: keys.client_auth_type.trim().to_owned(),
    };
    match (&tls.cert, &tls.key) {
        (Some(_), None) => problems.push((
            "amqp.tls.key".into(),
            "amqp.tls.cert is set: its key is needed too".into(),
        )),
        (None, Some(_)) => problems.push((
            "amqp.tls.cert".into(),
            "amqp.tls.key is set: its certificate is needed too".into(),
        )),
        _ => {}
    }
    if tls.root_ca.is_none() && tls.cert.is_none() {
        // RoadRunner turns TLS on only with a key pair (or a CA and one).
        return None;
    }
    Some(tls)
}

/// Plans a pipeline from the config file; problems at their keys.
pub fn plan(
    plan: &mut Plan<'_>,
    pipeline: &str,
    path: &str,
    config: Option<&Node>,
) -> Option<AmqpOptions> {
    let section: Option<Section> = match plan.section("amqp") {
        Some(n) if !n.is_null() => plan.decode("amqp"),
        _ => Some(Section::default()),
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
    let section_ok = section.is_some();
    let section = section.unwrap_or_default();
    let mut problems = Vec::new();
    let tls = tls_of(section.tls.as_ref(), plan.working_dir(), &mut problems);
    let mut headers = BTreeMap::new();
    if let Some(h) = &keys.queue_headers {
        headers.clone_from(h);
    }
    let queue_headers = queue_arguments(&headers, &mut problems);
    let options = finish(
        pipeline,
        addr_of(&section),
        tls,
        keys,
        queue_headers,
        &mut problems,
    );
    let clean = typed && section_ok && problems.is_empty();
    for (key, message) in problems {
        if key.starts_with("amqp.") {
            plan.problem(&key, message);
        } else {
            plan.problem(&format!("{path}.{key}"), message);
        }
    }
    (clean && plan.is_clean()).then_some(options).flatten()
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
        queue: one(node, path, "queue"),
        exchange: one(node, path, "exchange"),
        exchange_type: one(node, path, "exchange_type"),
        exchange_durable: one(node, path, "exchange_durable"),
        exchange_auto_delete: one(node, path, "exchange_auto_delete"),
        queue_auto_delete: one(node, path, "queue_auto_delete"),
        routing_key: one(node, path, "routing_key"),
        durable: one(node, path, "durable"),
        exclusive: one(node, path, "exclusive"),
        multiple_ack: one(node, path, "multiple_ack"),
        requeue_on_fail: one(node, path, "requeue_on_fail"),
        consumer_id: one(node, path, "consumer_id"),
        queue_headers: one(node, path, "queue_headers"),
        redial_timeout: Duration::ZERO,
        delete_queue_on_stop: one(node, path, "delete_queue_on_stop"),
        consume_all: false,
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
/// string, as roadrunner-php/jobs' `AMQPCreateInfo` sends them;
/// `queue_headers` a JSON object).
pub fn declare(
    map: &BTreeMap<String, String>,
    globals: &BTreeMap<String, Node>,
) -> Result<AmqpOptions, String> {
    let name = map
        .get("name")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let section = match globals.get("amqp").filter(|n| !n.is_null()) {
        Some(node) => node
            .decode::<Section>("amqp")
            .map(|(s, _)| s)
            .map_err(|e| format!("amqp: {e}"))?,
        None => Section::default(),
    };
    let get = |k: &str| map.get(k).map_or("", String::as_str);
    let redial = parse_int("redial_timeout", get("redial_timeout"))?;
    let headers: BTreeMap<String, serde_json::Value> = match get("queue_headers").trim() {
        "" => BTreeMap::new(),
        json => serde_json::from_str(json)
            .map_err(|e| format!("queue_headers: not a JSON object ({e})"))?,
    };
    let keys = Keys {
        priority: parse_int("priority", get("priority"))?,
        prefetch: parse_int("prefetch", get("prefetch"))?,
        queue: get("queue").to_owned(),
        exchange: get("exchange").to_owned(),
        exchange_type: get("exchange_type").to_owned(),
        exchange_durable: parse_bool("exchange_durable", get("exchange_durable"))?,
        exchange_auto_delete: parse_bool("exchange_auto_delete", get("exchange_auto_delete"))?,
        queue_auto_delete: parse_bool("queue_auto_delete", get("queue_auto_delete"))?,
        routing_key: get("routing_key").to_owned(),
        durable: parse_bool("durable", get("durable"))?,
        exclusive: parse_bool("exclusive", get("exclusive"))?,
        multiple_ack: parse_bool("multiple_ack", get("multiple_ack"))?,
        requeue_on_fail: parse_bool("requeue_on_fail", get("requeue_on_fail"))?,
        consumer_id: get("consumer_id").to_owned(),
        queue_headers: None,
        redial_timeout: match u64::try_from(redial) {
            Ok(s) => Duration::from_secs(s),
            Err(_) => return Err(format!("redial_timeout {redial} is negative")),
        },
        delete_queue_on_stop: parse_bool("delete_queue_on_stop", get("delete_queue_on_stop"))?,
        consume_all: parse_bool("consume_all", get("consume_all"))?,
    };
    let mut problems = Vec::new();
    let dir = std::env::current_dir().unwrap_or_default();
    let tls = tls_of(section.tls.as_ref(), &dir, &mut problems);
    let queue_headers = queue_arguments(&headers, &mut problems);
    let options = finish(
        &name,
        addr_of(&section),
        tls,
        keys,
        queue_headers,
        &mut problems,
    );
    match (problems.into_iter().next(), options) {
        (Some((key, message)), _) => Err(format!("{key}: {message}")),
        (None, Some(o)) => Ok(o),
        (None, None) => Err("amqp: invalid pipeline".into()),
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
        let o = declare(&map(&[("name", "n"), ("driver", "amqp")]), &BTreeMap::new()).unwrap();
        assert_eq!(o.addr, DEFAULT_ADDR);
        assert_eq!(
            o.uri.vhost, "/",
            "an empty path is the vhost / (amqp091-go)"
        );
        assert_eq!(o.uri.query.heartbeat, Some(10));
        assert_eq!(
            (o.exchange.as_str(), o.exchange_type.as_str()),
            ("amqp.default", "direct")
        );
        assert_eq!((o.prefetch, o.priority), (10, 10));
        assert_eq!(o.redial_timeout, Duration::from_secs(60));
        assert!(o.consumer_id.starts_with("coyote-"), "{}", o.consumer_id);
        assert_eq!(o.consumer_id.len(), "coyote-".len() + 36);
        assert!(!o.durable && !o.exclusive && !o.multiple_ack && !o.requeue_on_fail);
        assert!(!o.delete_queue_on_stop && !o.exchange_durable && !o.queue_auto_delete);
        assert_eq!(o.queue, "");
    }

    #[test]
    fn declare_reads_strings_as_the_php_client_sends_them() {
        let o = declare(
            &map(&[
                ("name", "n"),
                ("queue", "q1"),
                ("exchange", "ex"),
                ("exchange_type", "topic"),
                ("routing_key", "rk.#"),
                ("prefetch", "7"),
                ("priority", "3"),
                ("durable", "true"),
                ("exclusive", "false"),
                ("multiple_ack", "1"),
                ("requeue_on_fail", "true"),
                ("consumer_id", "me"),
                ("redial_timeout", "5"),
                ("delete_queue_on_stop", "true"),
                (
                    "queue_headers",
                    r#"{"x-max-priority": 10, "x-queue-type": "classic"}"#,
                ),
            ]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!((o.prefetch, o.priority), (7, 3));
        assert_eq!(o.exchange_type, "topic");
        assert!(o.durable && o.multiple_ack && o.requeue_on_fail && o.delete_queue_on_stop);
        assert_eq!(o.consumer_id, "me");
        assert_eq!(o.redial_timeout, Duration::from_secs(5));
        assert_eq!(
            o.queue_headers.inner().get("x-max-priority"),
            Some(&AMQPValue::LongInt(10))
        );
        let bad = |pairs: &[(&str, &str)]| declare(&map(pairs), &BTreeMap::new()).unwrap_err();
        assert!(bad(&[("name", "n"), ("prefetch", "x")]).contains("prefetch"));
        assert!(bad(&[("name", "n"), ("prefetch", "70000")]).contains("prefetch"));
        assert!(bad(&[("name", "n"), ("durable", "maybe")]).contains("durable"));
        assert!(bad(&[("name", "n"), ("exchange_type", "round")]).contains("exchange_type"));
        assert!(bad(&[("name", "n"), ("priority", "-2")]).contains("negative"));
        assert!(bad(&[("name", "n"), ("queue_headers", "[1")]).contains("queue_headers"));
    }

    #[test]
    fn addresses() {
        let u = parse_addr("amqp://u:p@h:5673/%2f").unwrap();
        assert_eq!((u.authority.host.as_str(), u.authority.port), ("h", 5673));
        assert_eq!(u.vhost, "/");
        let u = parse_addr("amqp://u:p@h:5673/jobs?heartbeat=3").unwrap();
        assert_eq!((u.vhost.as_str(), u.query.heartbeat), ("jobs", Some(3)));
        assert!(parse_addr("http://h:1").is_err());
        assert!(parse_addr("not an address").is_err());
        assert_eq!(redact("amqp://guest:secret@h:1/"), "amqp://guest:***@h:1/");
        assert_eq!(redact("amqp://h:1/"), "amqp://h:1/");
    }
}
