//! The `jobs` section, planned whole before anything starts: RoadRunner's
//! keys and defaults (`num_pollers`, `timeout`, `pipeline_size`, `pool`,
//! `consume`, `pipelines.<name>{driver, config{…}}`), each problem at its
//! key. The same pipeline rules serve `jobs.Declare` (a map of strings).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coyote_config::{Node, PoolConfig};
use coyote_host::Plan;

use crate::drivers::broker::{BrokerPlan, Brokers, Globals};
use serde::Deserialize;
use std::sync::Arc;

/// Largest payload accepted by default (`jobs.max_job_size`, a Coyote key).
pub const DEFAULT_MAX_JOB_SIZE: u64 = 16 * 1024 * 1024;

/// The drivers Coyote keeps jobs in itself (brokers come as [`Brokers`]).
pub const DRIVERS: &[&str] = &["memory", "boltdb"];

/// The `jobs` section as written.
#[derive(Deserialize)]
#[serde(default)]
pub struct JobsSection {
    /// Pollers feeding the pool; RoadRunner overrides it with
    /// `pool.num_workers + 2`, so does Coyote when it is 0.
    pub num_pollers: u64,
    /// Push / declare deadline (RoadRunner: whole seconds). 60s.
    #[serde(deserialize_with = "coyote_config::duration::de_secs")]
    pub timeout: Duration,
    /// Jobs one pipeline may hold waiting. 1,000,000.
    pub pipeline_size: u64,
    /// The jobs worker pool.
    pub pool: PoolConfig,
    /// Pipelines consumed from the start.
    pub consume: Vec<String>,
    /// Decoded per pipeline from the nodes (driver keys differ).
    pub pipelines: serde::de::IgnoredAny,
    /// Largest job payload, bytes (Coyote; RoadRunner has no bound). 16 MiB.
    pub max_job_size: u64,
}

impl Default for JobsSection {
    fn default() -> Self {
        Self {
            num_pollers: 0,
            timeout: Duration::from_secs(60),
            pipeline_size: 1_000_000,
            pool: PoolConfig::default(),
            consume: Vec::new(),
            pipelines: serde::de::IgnoredAny,
            max_job_size: DEFAULT_MAX_JOB_SIZE,
        }
    }
}

/// Which driver a pipeline runs, with its own keys.
#[derive(Clone, Debug)]
pub enum DriverSpec {
    /// In memory; lost on stop.
    Memory,
    /// On disk in an embedded database (RoadRunner's `boltdb` keys; the
    /// file is redb's format, not bbolt's).
    Boltdb {
        /// The database file (relative to the working directory).
        file: PathBuf,
        /// Mode of a newly created file.
        permissions: u32,
    },
    /// A broker driver ([`crate::drivers::broker`]).
    Broker(Arc<dyn BrokerPlan>),
}

impl PartialEq for DriverSpec {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Memory, Self::Memory) => true,
            (
                Self::Boltdb { file, permissions },
                Self::Boltdb {
                    file: f,
                    permissions: p,
                },
            ) => file == f && permissions == p,
            (Self::Broker(a), Self::Broker(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for DriverSpec {}

impl DriverSpec {
    /// The driver's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Boltdb { .. } => "boltdb",
            Self::Broker(b) => b.driver(),
        }
    }
}

/// One pipeline, planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineSpec {
    /// The name.
    pub name: String,
    /// The driver.
    pub driver: DriverSpec,
    /// Priority of jobs pushed without one (lower runs first). 10.
    pub priority: i64,
    /// Jobs in flight at most.
    pub prefetch: usize,
}

#[derive(Deserialize)]
struct PipelineEntry {
    driver: Option<String>,
    /// Decoded by driver below.
    #[serde(default)]
    #[allow(dead_code)]
    config: serde::de::IgnoredAny,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MemoryKeys {
    priority: i64,
    prefetch: i64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BoltKeys {
    priority: i64,
    prefetch: i64,
    file: String,
    permissions: u32,
}

/// A problem found at a key.
#[derive(Debug, PartialEq, Eq)]
pub struct KeyProblem {
    /// Dotted key.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// YAML `0755` may arrive as the integer 755; RoadRunner (Go) reads it as
/// octal. A value above 0o777 whose decimal digits are all octal digits is
/// read the same way.
fn mode(value: u32) -> u32 {
    if value > 0o777
        && value
            .to_string()
            .bytes()
            .all(|b| (b'0'..=b'7').contains(&b))
    {
        u32::from_str_radix(&value.to_string(), 8).unwrap_or(value)
    } else {
        value
    }
}

fn check_common(
    path: &str,
    priority: i64,
    prefetch: i64,
    default_prefetch: usize,
    problems: &mut Vec<KeyProblem>,
) -> (i64, usize) {
    if priority < 0 {
        problems.push(KeyProblem {
            path: format!("{path}.priority"),
            message: format!("{priority} is negative; priorities are 0 (default 10) or more"),
        });
    }
    if prefetch < 0 {
        problems.push(KeyProblem {
            path: format!("{path}.prefetch"),
            message: format!("{prefetch} is negative"),
        });
    }
    let priority = if priority <= 0 { 10 } else { priority };
    let prefetch = usize::try_from(prefetch)
        .ok()
        .filter(|p| *p > 0)
        .unwrap_or(default_prefetch);
    (priority, prefetch)
}

fn build(
    name: &str,
    driver: &str,
    path: &str,
    keys: DriverKeys,
    working_dir: &Path,
    problems: &mut Vec<KeyProblem>,
) -> Option<PipelineSpec> {
    let (driver, priority, prefetch) = match (driver, keys) {
        ("memory", DriverKeys::Memory(k)) => {
            let (p, f) = check_common(path, k.priority, k.prefetch, 100_000, problems);
            (DriverSpec::Memory, p, f)
        }
        ("boltdb", DriverKeys::Bolt(k)) => {
            let (p, f) = check_common(path, k.priority, k.prefetch, 1000, problems);
            let file = if k.file.trim().is_empty() {
                "rr.db".to_owned()
            } else {
                k.file
            };
            let file = working_dir.join(file);
            let permissions = if k.permissions == 0 {
                0o777
            } else {
                mode(k.permissions)
            };
            if permissions > 0o7777 {
                problems.push(KeyProblem {
                    path: format!("{path}.permissions"),
                    message: format!("{permissions:o} is not a file mode"),
                });
            }
            (DriverSpec::Boltdb { file, permissions }, p, f)
        }
        _ => return None,
    };
    Some(PipelineSpec {
        name: name.to_owned(),
        driver,
        priority,
        prefetch,
    })
}

enum DriverKeys {
    Memory(MemoryKeys),
    Bolt(BoltKeys),
}

fn unknown_driver(driver: &str, brokers: &Brokers) -> String {
    let planned = [
        "amqp",
        "nats",
        "beanstalk",
        "sqs",
        "redis",
        "kafka",
        "google_pub_sub",
    ];
    let available: Vec<&str> = DRIVERS
        .iter()
        .copied()
        .chain(brokers.iter().map(|b| b.name))
        .collect();
    if planned.contains(&driver) {
        format!(
            "driver {driver} is not available in this Coyote build yet; available: {}",
            available.join(", ")
        )
    } else {
        format!(
            "unknown driver {driver:?}; available: {}",
            available.join(", ")
        )
    }
}

/// Plans every pipeline of the `jobs.pipelines` node, recording problems
/// and unknown-key warnings at their keys.
pub fn plan_pipelines(
    plan: &mut Plan<'_>,
    pipelines: Option<&Node>,
    brokers: &Brokers,
) -> Vec<PipelineSpec> {
    let mut out = Vec::new();
    let Some(node) = pipelines.filter(|n| !n.is_null()) else {
        return out;
    };
    let Some(entries) = node.as_map() else {
        plan.problem(
            "jobs.pipelines",
            "must be a map of pipeline name -> {driver, config}",
        );
        return out;
    };
    let working_dir = plan.working_dir().to_path_buf();
    let mut local = Vec::new();
    for entry in entries {
        let name = entry.key();
        let path = format!("jobs.pipelines.{name}");
        let Some(pipeline) = plan.decode_node::<PipelineEntry>(entry.value(), &path) else {
            continue;
        };
        let Some(driver) = pipeline.driver.filter(|d| !d.trim().is_empty()) else {
            plan.problem(&path, "required key driver is missing");
            continue;
        };
        let config_path = format!("{path}.config");
        let config = entry.value().get("config").filter(|n| !n.is_null());
        let keys = match (driver.as_str(), config) {
            ("memory", None) => Some(DriverKeys::Memory(MemoryKeys::default())),
            ("boltdb", None) => Some(DriverKeys::Bolt(BoltKeys::default())),
            ("memory", Some(c)) => plan
                .decode_node::<MemoryKeys>(c, &config_path)
                .map(DriverKeys::Memory),
            ("boltdb", Some(c)) => plan
                .decode_node::<BoltKeys>(c, &config_path)
                .map(DriverKeys::Bolt),
            (other, config) => {
                match brokers.get(other) {
                    Some(b) => {
                        if let Some(planned) = (b.plan)(plan, name, &config_path, config) {
                            out.push(PipelineSpec {
                                name: name.to_owned(),
                                priority: planned.priority(),
                                driver: DriverSpec::Broker(planned),
                                prefetch: 0,
                            });
                        }
                    }
                    None => plan.problem(&format!("{path}.driver"), unknown_driver(other, brokers)),
                }
                None
            }
        };
        if let Some(keys) = keys {
            if let Some(spec) = build(name, &driver, &config_path, keys, &working_dir, &mut local) {
                out.push(spec);
            }
        }
    }
    for p in local {
        plan.problem(&p.path, p.message);
    }
    out
}

/// A pipeline declared over RPC (`jobs.Declare`): a map of strings with
/// `driver`, `name` and the driver's keys.
///
/// # Errors
/// The first problem, as text for the caller.
pub fn from_declare(
    map: &BTreeMap<String, String>,
    working_dir: &Path,
    globals: &Globals,
    brokers: &Brokers,
) -> Result<PipelineSpec, String> {
    let name = map
        .get("name")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or("declare: the pipeline needs a name (key \"name\")")?;
    let driver = map
        .get("driver")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or("declare: the pipeline needs a driver (key \"driver\")")?;
    let int = |key: &str| -> Result<i64, String> {
        match map.get(key).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(0),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| format!("declare: {key} {v:?} is not an integer")),
        }
    };
    let keys = match driver {
        "memory" => DriverKeys::Memory(MemoryKeys {
            priority: int("priority")?,
            prefetch: int("prefetch")?,
        }),
        "boltdb" => {
            let perms = int("permissions")?;
            DriverKeys::Bolt(BoltKeys {
                priority: int("priority")?,
                prefetch: int("prefetch")?,
                file: map.get("file").cloned().unwrap_or_default(),
                permissions: u32::try_from(perms)
                    .map_err(|_| format!("declare: permissions {perms} is not a file mode"))?,
            })
        }
        other => {
            let Some(b) = brokers.get(other) else {
                return Err(format!("declare: {}", unknown_driver(other, brokers)));
            };
            let planned = (b.declare)(map, globals).map_err(|e| format!("declare: {e}"))?;
            return Ok(PipelineSpec {
                name: name.to_owned(),
                priority: planned.priority(),
                driver: DriverSpec::Broker(planned),
                prefetch: 0,
            });
        }
    };
    let mut problems = Vec::new();
    let spec = build(name, driver, "declare", keys, working_dir, &mut problems);
    match (problems.into_iter().next(), spec) {
        (Some(p), _) => Err(format!("{}: {}", p.path, p.message)),
        (None, Some(spec)) => Ok(spec),
        (None, None) => Err(format!("declare: {}", unknown_driver(driver, brokers))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declare(m: &BTreeMap<String, String>, wd: &Path) -> Result<PipelineSpec, String> {
        from_declare(m, wd, &Globals::new(), &Brokers::default())
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn declare_maps_like_the_php_client_sends() {
        let wd = Path::new("/srv");
        let spec = declare(
            &map(&[
                ("driver", "memory"),
                ("name", "q"),
                ("priority", "3"),
                ("prefetch", "7"),
            ]),
            wd,
        )
        .unwrap();
        assert_eq!((spec.priority, spec.prefetch), (3, 7));
        let spec = declare(
            &map(&[("driver", "boltdb"), ("name", "b"), ("file", "x.db")]),
            wd,
        )
        .unwrap();
        assert_eq!(
            spec.driver,
            DriverSpec::Boltdb {
                file: "/srv/x.db".into(),
                permissions: 0o777
            }
        );
        assert_eq!((spec.priority, spec.prefetch), (10, 1000));
        assert!(declare(&map(&[("driver", "memory")]), wd)
            .unwrap_err()
            .contains("name"));
        assert!(declare(&map(&[("name", "x"), ("driver", "amqp")]), wd)
            .unwrap_err()
            .contains("not available"));
        assert!(declare(
            &map(&[("name", "x"), ("driver", "memory"), ("priority", "-1")]),
            wd
        )
        .unwrap_err()
        .contains("negative"));
        assert!(declare(
            &map(&[("name", "x"), ("driver", "memory"), ("prefetch", "lots")]),
            wd
        )
        .unwrap_err()
        .contains("not an integer"));
    }

    #[test]
    fn octal_modes_written_as_decimal() {
        assert_eq!(mode(755), 0o755);
        assert_eq!(mode(0o644), 0o644);
        assert_eq!(mode(600), 0o600);
        assert_eq!(mode(900), 900);
    }
}
