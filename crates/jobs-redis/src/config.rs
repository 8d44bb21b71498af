//! The driver's keys: the connection in the top-level `redis` section
//! (`addrs`, `username`, `password`, `db`, `tls`, `dial_timeout`,
//! `command_timeout`), which a pipeline's `config` may override key by key,
//! and the pipeline's own keys (`stream`, `group`, `consumer`, `prefetch`,
//! `priority`, `visibility_timeout`, `max_len`, `delete_stream_on_stop`).
//! The same rules serve `jobs.Declare` (a map of strings).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use coyote_config::Node;
use coyote_host::Plan;
use serde::Deserialize;

/// The top-level section the driver reads.
pub const SECTION: &str = "redis";
/// Where Redis is when no address is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:6379";
/// Unsettled deliveries per pipeline when `prefetch` is 0 or absent.
pub const DEFAULT_PREFETCH: usize = 100;
/// The consumer group when `group` is empty.
pub const DEFAULT_GROUP: &str = "coyote";
/// Prefix of the default stream key (then the pipeline name).
pub const STREAM_PREFIX: &str = "coyote:jobs:";
/// `visibility_timeout` when absent or 0.
pub const DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);
/// `dial_timeout` when absent or 0.
pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// `command_timeout` when absent or 0.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// `tls:` (its presence turns TLS on).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TlsKeys {
    /// PEM file of the CA to trust instead of the system roots.
    pub ca: String,
    /// PEM client certificate (mutual TLS), with `key`.
    pub cert: String,
    /// PEM key of `cert`.
    pub key: String,
}

/// The connection keys as written (section or pipeline override).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct ConnectionKeys {
    addrs: Option<Vec<String>>,
    username: Option<String>,
    password: Option<String>,
    db: Option<i64>,
    tls: Option<TlsKeys>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    dial_timeout: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    command_timeout: Option<Duration>,
}

impl ConnectionKeys {
    /// `self` over `base`, key by key.
    fn over(self, base: &ConnectionKeys) -> ConnectionKeys {
        ConnectionKeys {
            addrs: self.addrs.or_else(|| base.addrs.clone()),
            username: self.username.or_else(|| base.username.clone()),
            password: self.password.or_else(|| base.password.clone()),
            db: self.db.or(base.db),
            tls: self.tls.or_else(|| base.tls.clone()),
            dial_timeout: self.dial_timeout.or(base.dial_timeout),
            command_timeout: self.command_timeout.or(base.command_timeout),
        }
    }
}

/// A pipeline's `config` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PipelineKeys {
    addrs: Option<Vec<String>>,
    username: Option<String>,
    password: Option<String>,
    db: Option<i64>,
    tls: Option<TlsKeys>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    dial_timeout: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    command_timeout: Option<Duration>,
    stream: String,
    group: String,
    consumer: String,
    prefetch: i64,
    priority: i64,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    visibility_timeout: Option<Duration>,
    max_len: i64,
    delete_stream_on_stop: bool,
}

impl PipelineKeys {
    /// The connection keys written in the pipeline's config.
    fn connection(&self) -> ConnectionKeys {
        ConnectionKeys {
            addrs: self.addrs.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            db: self.db,
            tls: self.tls.clone(),
            dial_timeout: self.dial_timeout,
            command_timeout: self.command_timeout,
        }
    }
}

/// Where and how to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// `host:port`.
    pub addr: String,
    /// Host part of `addr`.
    pub host: String,
    /// Port part of `addr`.
    pub port: u16,
    /// ACL user (empty: none, or `default` with a password).
    pub username: String,
    /// Password (empty: none).
    pub password: String,
    /// Database number.
    pub db: i64,
    /// TLS, when set.
    pub tls: Option<Tls>,
    /// Deadline of one dial (connect and handshake).
    pub dial_timeout: Duration,
    /// Deadline of one command's reply.
    pub command_timeout: Duration,
}

/// TLS files, resolved against the working directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tls {
    /// CA to trust instead of the system roots.
    pub ca: Option<PathBuf>,
    /// Client certificate and key.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// One planned pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The pipeline's name.
    pub pipeline: String,
    /// The connection.
    pub connection: Connection,
    /// The stream key.
    pub stream: String,
    /// The sorted set of delayed jobs (`<stream>:delayed`).
    pub delayed: String,
    /// The consumer group.
    pub group: String,
    /// This server's consumer name in the group.
    pub consumer: String,
    /// Unsettled deliveries at most.
    pub prefetch: usize,
    /// Priority of jobs pushed without one.
    pub priority: i64,
    /// Entries pending longer are claimed by any consumer.
    pub visibility_timeout: Duration,
    /// `XADD MAXLEN ~` (0: no trimming).
    pub max_len: u64,
    /// Delete the stream and its delayed set when the pipeline stops.
    pub delete_stream_on_stop: bool,
}

/// A problem at a key below the pipeline's (or the section's) path.
struct Problems {
    list: Vec<(String, String)>,
}

impl Problems {
    fn add(&mut self, path: String, message: impl Into<String>) {
        self.list.push((path, message.into()));
    }
}

/// The default consumer name: `<hostname>-<pid>`, unique per server.
pub fn default_consumer() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "coyote".to_owned());
    format!("{host}-{}", std::process::id())
}

fn parse_addr(addr: &str) -> Option<(String, u16)> {
    let addr = addr.trim();
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    Some((host.to_owned(), port))
}

/// Validates connection keys; `at(key)` names the key where it was written.
fn connection(
    keys: ConnectionKeys,
    at: &dyn Fn(&str) -> String,
    working_dir: &std::path::Path,
    problems: &mut Problems,
) -> Connection {
    let addrs = keys
        .addrs
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>();
    let addr = match addrs.as_slice() {
        [] => DEFAULT_ADDR.to_owned(),
        [one] => one.clone(),
        more => {
            problems.add(
                at("addrs"),
                format!(
                    "{} addresses given: Redis Cluster is not supported by the redis jobs driver; give the one address of a single node (or of a proxy in front of a cluster)",
                    more.len()
                ),
            );
            more[0].clone()
        }
    };
    let (host, port) = parse_addr(&addr).unwrap_or_else(|| {
        problems.add(
            at("addrs"),
            format!("{addr:?} is not an address; use host:port (127.0.0.1:6379)"),
        );
        (String::new(), 0)
    });
    let db = keys.db.unwrap_or(0);
    if db < 0 {
        problems.add(at("db"), format!("{db} is negative"));
    }
    let file = |value: &str| -> Option<PathBuf> {
        let value = value.trim();
        (!value.is_empty()).then(|| working_dir.join(value))
    };
    let tls = keys.tls.map(|t| {
        let client = match (file(&t.cert), file(&t.key)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                problems.add(at("tls.key"), "tls.cert is set: its key is needed too");
                None
            }
            (None, Some(_)) => {
                problems.add(
                    at("tls.cert"),
                    "tls.key is set: its certificate is needed too",
                );
                None
            }
        };
        Tls {
            ca: file(&t.ca),
            client,
        }
    });
    let or = |d: Option<Duration>, default: Duration| d.filter(|d| !d.is_zero()).unwrap_or(default);
    Connection {
        addr,
        host,
        port,
        username: keys.username.unwrap_or_default(),
        password: keys.password.unwrap_or_default(),
        db,
        tls,
        dial_timeout: or(keys.dial_timeout, DEFAULT_DIAL_TIMEOUT),
        command_timeout: or(keys.command_timeout, DEFAULT_COMMAND_TIMEOUT),
    }
}

fn options(
    pipeline: &str,
    keys: PipelineKeys,
    section: &ConnectionKeys,
    section_at: &dyn Fn(&str) -> String,
    pipeline_at: &dyn Fn(&str) -> String,
    working_dir: &std::path::Path,
    problems: &mut Problems,
) -> Options {
    // A connection key is reported where it was written.
    let own = keys.connection();
    let at = |key: &str| -> String {
        let root = key.split('.').next().unwrap_or(key);
        let written_here = match root {
            "addrs" => own.addrs.is_some(),
            "username" => own.username.is_some(),
            "password" => own.password.is_some(),
            "db" => own.db.is_some(),
            "tls" => own.tls.is_some(),
            "dial_timeout" => own.dial_timeout.is_some(),
            _ => own.command_timeout.is_some(),
        };
        if written_here {
            pipeline_at(key)
        } else {
            section_at(key)
        }
    };
    let connection = connection(own.clone().over(section), &at, working_dir, problems);
    if keys.priority < 0 {
        problems.add(
            pipeline_at("priority"),
            format!(
                "{} is negative; priorities are 0 (default 10) or more",
                keys.priority
            ),
        );
    }
    if keys.prefetch < 0 {
        problems.add(
            pipeline_at("prefetch"),
            format!("{} is negative", keys.prefetch),
        );
    }
    if keys.max_len < 0 {
        problems.add(
            pipeline_at("max_len"),
            format!("{} is negative (0: no trimming)", keys.max_len),
        );
    }
    let visibility_timeout = keys
        .visibility_timeout
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_VISIBILITY);
    if visibility_timeout < Duration::from_millis(100) {
        problems.add(
            pipeline_at("visibility_timeout"),
            format!("{visibility_timeout:?} is too short: at least 100ms"),
        );
    }
    let stream = match keys.stream.trim() {
        "" => format!("{STREAM_PREFIX}{pipeline}"),
        s => s.to_owned(),
    };
    let group = match keys.group.trim() {
        "" => DEFAULT_GROUP.to_owned(),
        g => g.to_owned(),
    };
    let consumer = match keys.consumer.trim() {
        "" => default_consumer(),
        c => c.to_owned(),
    };
    Options {
        pipeline: pipeline.to_owned(),
        connection,
        delayed: format!("{stream}:delayed"),
        stream,
        group,
        consumer,
        prefetch: usize::try_from(keys.prefetch)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(DEFAULT_PREFETCH),
        priority: if keys.priority <= 0 {
            10
        } else {
            keys.priority
        },
        visibility_timeout,
        max_len: u64::try_from(keys.max_len).unwrap_or(0),
        delete_stream_on_stop: keys.delete_stream_on_stop,
    }
}

/// Whether `pipeline` is the first redis pipeline of `jobs.pipelines`: the
/// `redis` section's problems are reported once, with it.
fn first_redis_pipeline(plan: &Plan<'_>, pipeline: &str) -> bool {
    let first = plan
        .section("jobs")
        .and_then(|j| j.get("pipelines"))
        .and_then(Node::as_map)
        .and_then(|entries| {
            entries.iter().find(|e| {
                e.value()
                    .get("driver")
                    .and_then(Node::as_str)
                    .is_some_and(|d| d.trim() == "redis")
            })
        })
        .map(|e| e.key().to_owned());
    first.is_none_or(|f| f == pipeline)
}

/// Plans pipeline `pipeline` (its `config` node at `path`).
pub fn plan(
    plan: &mut Plan<'_>,
    pipeline: &str,
    path: &str,
    config: Option<&Node>,
) -> Option<Options> {
    let report_section = first_redis_pipeline(plan, pipeline);
    let section = match plan.section(SECTION) {
        None => Some(ConnectionKeys::default()),
        Some(node) if report_section => plan.decode_node::<ConnectionKeys>(node, SECTION),
        Some(node) => node.decode::<ConnectionKeys>(SECTION).ok().map(|(k, _)| k),
    };
    let keys = match config {
        None => Some(PipelineKeys::default()),
        Some(node) => plan.decode_node::<PipelineKeys>(node, path),
    };
    let section = section?;
    let section_at = |k: &str| format!("{SECTION}.{k}");
    if report_section && plan.section(SECTION).is_some() {
        // The section's own problems, once, whatever the pipelines say.
        let mut problems = Problems { list: Vec::new() };
        connection(
            section.clone(),
            &section_at,
            plan.working_dir(),
            &mut problems,
        );
        for (at, message) in problems.list {
            plan.problem(&at, message);
        }
    }
    let keys = keys?;
    let mut problems = Problems { list: Vec::new() };
    let options = options(
        pipeline,
        keys,
        &section,
        &section_at,
        &|k| format!("{path}.{k}"),
        plan.working_dir(),
        &mut problems,
    );
    let mut clean = true;
    for (at, message) in problems.list {
        // The section's problems were reported above.
        if at.starts_with(path) {
            plan.problem(&at, message);
        }
        clean = false;
    }
    clean.then_some(options)
}

/// Plans a pipeline declared at runtime: `map` holds `name`, `driver` and
/// the keys as strings (`addrs` comma-separated); `section` is the
/// configuration's `redis` node, if any.
///
/// # Errors
/// The first problem, as text.
pub fn declare(
    map: &BTreeMap<String, String>,
    section: Option<&Node>,
    working_dir: &std::path::Path,
) -> Result<Options, String> {
    let name = map
        .get("name")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or("the pipeline needs a name (key \"name\")")?;
    let section = match section {
        None => ConnectionKeys::default(),
        Some(node) => node
            .decode::<ConnectionKeys>(SECTION)
            .map(|(k, _)| k)
            .map_err(|e| e.to_string())?,
    };
    let get = |key: &str| -> Option<&str> { map.get(key).map(|s| s.trim()) };
    let int = |key: &str| -> Result<i64, String> {
        match get(key).filter(|s| !s.is_empty()) {
            None => Ok(0),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| format!("{key} {v:?} is not an integer")),
        }
    };
    let duration = |key: &str| -> Result<Option<Duration>, String> {
        match get(key).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(v) => coyote_config::parse_duration(v)
                .map(Some)
                .map_err(|e| format!("{key}: {e}")),
        }
    };
    let boolean = |key: &str| -> Result<bool, String> {
        match get(key).map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(v) => Err(format!("{key} {v:?} is not a boolean")),
        }
    };
    let text = |key: &str| get(key).map(str::to_owned);
    let tls = match boolean("tls")?
        || ["tls.ca", "tls.cert", "tls.key"]
            .iter()
            .any(|k| get(k).is_some_and(|v| !v.is_empty()))
    {
        false => None,
        true => Some(TlsKeys {
            ca: text("tls.ca").unwrap_or_default(),
            cert: text("tls.cert").unwrap_or_default(),
            key: text("tls.key").unwrap_or_default(),
        }),
    };
    let keys = PipelineKeys {
        addrs: get("addrs").filter(|s| !s.is_empty()).map(|s| {
            s.split(',')
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect()
        }),
        username: text("username"),
        password: text("password"),
        db: get("db").is_some().then(|| int("db")).transpose()?,
        tls,
        dial_timeout: duration("dial_timeout")?,
        command_timeout: duration("command_timeout")?,
        stream: text("stream").unwrap_or_default(),
        group: text("group").unwrap_or_default(),
        consumer: text("consumer").unwrap_or_default(),
        prefetch: int("prefetch")?,
        priority: int("priority")?,
        visibility_timeout: duration("visibility_timeout")?,
        max_len: int("max_len")?,
        delete_stream_on_stop: boolean("delete_stream_on_stop")?,
    };
    let mut problems = Problems { list: Vec::new() };
    let options = options(
        name,
        keys,
        &section,
        &|k| format!("{SECTION}.{k}"),
        &|k| k.to_owned(),
        working_dir,
        &mut problems,
    );
    match problems.list.into_iter().next() {
        Some((at, message)) => Err(format!("{at}: {message}")),
        None => Ok(options),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn declare_defaults_and_keys() {
        let wd = std::path::Path::new("/srv");
        let o = declare(&map(&[("name", "q"), ("driver", "redis")]), None, wd).unwrap();
        assert_eq!(o.stream, "coyote:jobs:q");
        assert_eq!(o.delayed, "coyote:jobs:q:delayed");
        assert_eq!(o.group, "coyote");
        assert_eq!(o.connection.addr, DEFAULT_ADDR);
        assert_eq!((o.prefetch, o.priority), (DEFAULT_PREFETCH, 10));
        assert_eq!(o.visibility_timeout, DEFAULT_VISIBILITY);
        assert!(o.consumer.ends_with(&format!("-{}", std::process::id())));
        let o = declare(
            &map(&[
                ("name", "q"),
                ("addrs", "10.0.0.1:6380"),
                ("db", "2"),
                ("stream", "s1"),
                ("group", "g"),
                ("consumer", "c"),
                ("prefetch", "7"),
                ("priority", "3"),
                ("visibility_timeout", "2s"),
                ("max_len", "1000"),
                ("delete_stream_on_stop", "true"),
                ("tls.ca", "ca.pem"),
            ]),
            None,
            wd,
        )
        .unwrap();
        assert_eq!(
            (o.connection.host.as_str(), o.connection.port),
            ("10.0.0.1", 6380)
        );
        assert_eq!(o.connection.db, 2);
        assert_eq!(
            o.connection.tls.unwrap().ca.unwrap(),
            PathBuf::from("/srv/ca.pem")
        );
        assert_eq!(
            (o.stream.as_str(), o.group.as_str(), o.consumer.as_str()),
            ("s1", "g", "c")
        );
        assert_eq!((o.prefetch, o.priority, o.max_len), (7, 3, 1000));
        assert_eq!(o.visibility_timeout, Duration::from_secs(2));
        assert!(o.delete_stream_on_stop);
    }

    #[test]
    fn declare_refuses_bad_values() {
        let wd = std::path::Path::new("/srv");
        let err = |pairs: &[(&str, &str)]| {
            let mut all = vec![("name", "q")];
            all.extend_from_slice(pairs);
            declare(&map(&all), None, wd).unwrap_err()
        };
        assert!(err(&[("prefetch", "lots")]).contains("not an integer"));
        assert!(err(&[("priority", "-1")]).contains("negative"));
        assert!(err(&[("addrs", "nohost")]).contains("not an address"));
        assert!(err(&[("addrs", "a:1,b:2")]).contains("Cluster"));
        assert!(err(&[("visibility_timeout", "forever")]).contains("visibility_timeout"));
        assert!(err(&[("delete_stream_on_stop", "maybe")]).contains("boolean"));
        assert!(declare(&map(&[]), None, wd).unwrap_err().contains("name"));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("127.0.0.1:6379"),
            Some(("127.0.0.1".into(), 6379))
        );
        assert_eq!(parse_addr("[::1]:6379"), Some(("::1".into(), 6379)));
        assert_eq!(parse_addr("redis:0"), None);
        assert_eq!(parse_addr(":6379"), None);
        assert_eq!(parse_addr("localhost"), None);
    }
}
