//! The `kv` section, planned whole before anything starts: a map of
//! storage name -> `{driver, config{…}}` with RoadRunner's keys and
//! defaults per driver, each problem at its key.

use std::path::PathBuf;
use std::time::Duration;

use coyote_config::Node;
use coyote_host::Plan;
use serde::Deserialize;

/// The drivers this build has.
pub const DRIVERS: &[&str] = &["memory", "boltdb", "redis", "memcached"];

/// One storage, planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageSpec {
    /// The name PHP clients use (`kv.<name>`).
    pub name: String,
    /// Its driver.
    pub driver: DriverSpec,
}

/// A driver with its options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriverSpec {
    /// In this process; lost on stop.
    Memory,
    /// On disk in an embedded redb database (RoadRunner's `boltdb` keys; the
    /// file is redb's format, not bbolt's).
    Boltdb {
        /// The database file (relative paths from the working directory).
        file: PathBuf,
        /// Mode of a newly created file.
        permissions: u32,
        /// How often expired keys are swept from the file.
        interval: Duration,
    },
    /// A Redis server, Sentinel group or cluster.
    Redis(RedisOptions),
    /// memcached servers (the first one is used).
    Memcached {
        /// `host:port`.
        addrs: Vec<String>,
    },
}

impl DriverSpec {
    /// The driver's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Boltdb { .. } => "boltdb",
            Self::Redis(_) => "redis",
            Self::Memcached { .. } => "memcached",
        }
    }
}

/// The redis driver's options (RoadRunner's `kv.<storage>.config` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    /// `host:port` of the server, of the Sentinels (with `master_name`), or
    /// of cluster nodes (several addresses without `master_name`).
    pub addrs: Vec<String>,
    /// Database number (not with a cluster).
    pub db: i64,
    /// ACL user.
    pub username: String,
    /// Password.
    pub password: String,
    /// Sentinel: the monitored master's name.
    pub master_name: String,
    /// Sentinel: the Sentinels' own password.
    pub sentinel_password: String,
    /// Connect deadline (`dial_timeout`, 5s).
    pub dial_timeout: Duration,
    /// Deadline of one command (the larger of `read_timeout` and
    /// `write_timeout`, 3s).
    pub response_timeout: Duration,
}

#[derive(Deserialize)]
struct Entry {
    driver: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    config: serde::de::IgnoredAny,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MemoryKeys {
    /// RoadRunner's memory driver reads no keys; `interval` appears in old
    /// samples and is accepted.
    #[allow(dead_code)]
    interval: serde::de::IgnoredAny,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BoltKeys {
    file: String,
    permissions: u32,
    interval: u64,
}

/// go-redis' options as RoadRunner exposes them; the ones without a
/// meaning here are accepted and ignored (see README).
#[derive(Deserialize, Default)]
#[serde(default)]
#[allow(dead_code)]
struct RedisKeys {
    addrs: Vec<String>,
    db: i64,
    username: String,
    password: String,
    master_name: String,
    sentinel_password: String,
    route_by_latency: bool,
    route_randomly: bool,
    max_retries: i64,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    dial_timeout: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    min_retry_backoff: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    max_retry_backoff: Option<Duration>,
    pool_size: i64,
    min_idle_conns: i64,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    max_conn_age: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    read_timeout: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    write_timeout: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    pool_timeout: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    idle_timeout: Option<Duration>,
    #[serde(deserialize_with = "coyote_config::duration::de_opt")]
    idle_check_freq: Option<Duration>,
    read_only: bool,
    tls: serde::de::IgnoredAny,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MemcachedKeys {
    /// A string or a list; read from the node below.
    #[allow(dead_code)]
    addr: serde::de::IgnoredAny,
}

/// YAML `0755` may arrive as the integer 755; RoadRunner (Go) reads it as
/// octal. A value above 0o777 whose decimal digits are all octal digits is
/// read the same way.
fn mode(value: u32) -> u32 {
    let text = value.to_string();
    if value > 0o777 && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        u32::from_str_radix(&text, 8).unwrap_or(value)
    } else {
        value
    }
}

fn unknown_driver(driver: &str) -> String {
    format!(
        "unknown driver {driver:?}; available: {}",
        DRIVERS.join(", ")
    )
}

/// Plans every storage of the `kv` section, recording problems and
/// unknown-key warnings at their keys. `None` when `kv` is absent.
pub fn plan_storages(plan: &mut Plan<'_>) -> Option<Vec<StorageSpec>> {
    let node = plan.section("kv")?;
    let mut out = Vec::new();
    let Some(entries) = node.as_map() else {
        plan.problem("kv", "must be a map of storage name -> {driver, config}");
        return Some(out);
    };
    let working_dir = plan.working_dir().to_path_buf();
    for entry in entries {
        let name = entry.key();
        let path = format!("kv.{name}");
        if entry.value().is_null() {
            plan.problem(&path, "empty storage; give it a driver");
            continue;
        }
        let Some(storage) = plan.decode_node::<Entry>(entry.value(), &path) else {
            continue;
        };
        let Some(driver) = storage.driver.filter(|d| !d.trim().is_empty()) else {
            plan.problem(&path, "required key driver is missing");
            continue;
        };
        let cpath = format!("{path}.config");
        let config = entry.value().get("config").filter(|n| !n.is_null());
        let spec = match driver.as_str() {
            "memory" => decode::<MemoryKeys>(plan, config, &cpath).map(|_| DriverSpec::Memory),
            "boltdb" => decode::<BoltKeys>(plan, config, &cpath).map(|k| {
                let file = if k.file.trim().is_empty() {
                    "rr.db".to_owned()
                } else {
                    k.file
                };
                let permissions = if k.permissions == 0 {
                    0o755
                } else {
                    mode(k.permissions)
                };
                if permissions > 0o7777 {
                    plan.problem(
                        &format!("{cpath}.permissions"),
                        format!("{permissions:o} is not a file mode"),
                    );
                }
                let interval = if k.interval == 0 { 60 } else { k.interval };
                DriverSpec::Boltdb {
                    file: working_dir.join(file),
                    permissions,
                    interval: Duration::from_secs(interval),
                }
            }),
            "redis" => {
                decode::<RedisKeys>(plan, config, &cpath).and_then(|k| redis(plan, &cpath, k))
            }
            "memcached" => decode::<MemcachedKeys>(plan, config, &cpath)
                .and_then(|_| memcached(plan, config, &cpath)),
            other => {
                plan.problem(&format!("{path}.driver"), unknown_driver(other));
                None
            }
        };
        if let Some(driver) = spec {
            out.push(StorageSpec {
                name: name.to_owned(),
                driver,
            });
        }
    }
    Some(out)
}

fn decode<T: serde::de::DeserializeOwned + Default>(
    plan: &mut Plan<'_>,
    config: Option<&Node>,
    path: &str,
) -> Option<T> {
    match config {
        None => Some(T::default()),
        Some(c) => plan.decode_node::<T>(c, path),
    }
}

fn redis(plan: &mut Plan<'_>, path: &str, k: RedisKeys) -> Option<DriverSpec> {
    let addrs: Vec<String> = if k.addrs.is_empty() {
        vec!["127.0.0.1:6379".to_owned()]
    } else {
        k.addrs
    };
    let mut clean = true;
    for (i, a) in addrs.iter().enumerate() {
        if split_host_port(a).is_none() {
            plan.problem(
                &format!("{path}.addrs[{i}]"),
                format!("{a:?} is not host:port"),
            );
            clean = false;
        }
    }
    if k.db < 0 {
        plan.problem(&format!("{path}.db"), format!("{} is negative", k.db));
        clean = false;
    }
    let cluster = addrs.len() > 1 && k.master_name.is_empty();
    if cluster && k.db != 0 {
        plan.problem(
            &format!("{path}.db"),
            "a cluster (several addrs, no master_name) has only database 0",
        );
        clean = false;
    }
    let response_timeout = k
        .read_timeout
        .into_iter()
        .chain(k.write_timeout)
        .max()
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(3));
    clean.then(|| {
        DriverSpec::Redis(RedisOptions {
            addrs,
            db: k.db,
            username: k.username,
            password: k.password,
            master_name: k.master_name,
            sentinel_password: k.sentinel_password,
            dial_timeout: k
                .dial_timeout
                .filter(|d| !d.is_zero())
                .unwrap_or(Duration::from_secs(5)),
            response_timeout,
        })
    })
}

fn memcached(plan: &mut Plan<'_>, config: Option<&Node>, path: &str) -> Option<DriverSpec> {
    let apath = format!("{path}.addr");
    let node = config.and_then(|c| c.get("addr")).filter(|n| !n.is_null());
    let addrs: Vec<String> = match node {
        None => vec!["localhost:11211".to_owned()],
        Some(n) => match (n.as_str(), n.as_seq()) {
            (Some(s), _) => vec![s.to_owned()],
            (None, Some(seq)) => {
                let mut out = Vec::new();
                for (i, item) in seq.iter().enumerate() {
                    match item.as_str() {
                        Some(s) => out.push(s.to_owned()),
                        None => plan.problem(&format!("{apath}[{i}]"), "must be host:port"),
                    }
                }
                out
            }
            _ => {
                plan.problem(&apath, "must be host:port or a list of them");
                return None;
            }
        },
    };
    if addrs.is_empty() {
        plan.problem(&apath, "needs at least one host:port");
        return None;
    }
    let mut clean = true;
    for (i, a) in addrs.iter().enumerate() {
        if split_host_port(a).is_none() {
            plan.problem(&format!("{apath}[{i}]"), format!("{a:?} is not host:port"));
            clean = false;
        }
    }
    if addrs.len() > 1 {
        plan.warn(
            &apath,
            "several memcached servers: Coyote uses the first one only (no key distribution)",
        );
    }
    clean.then_some(DriverSpec::Memcached { addrs })
}

/// `host:port` -> (host, port).
pub fn split_host_port(addr: &str) -> Option<(String, u16)> {
    let addr = addr.trim();
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse::<u16>().ok()?;
    (!host.is_empty() && port > 0).then(|| (host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:6379"),
            Some(("127.0.0.1".to_owned(), 6379))
        );
        assert_eq!(
            split_host_port("[::1]:11211"),
            Some(("::1".to_owned(), 11211))
        );
        assert_eq!(split_host_port("localhost"), None);
        assert_eq!(split_host_port("h:0"), None);
        assert_eq!(split_host_port("h:99999"), None);
    }

    #[test]
    fn octal_modes() {
        assert_eq!(mode(755), 0o755);
        assert_eq!(mode(0o600), 0o600);
        assert_eq!(mode(900), 900);
    }
}
