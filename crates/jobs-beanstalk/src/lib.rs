//! The `beanstalk` jobs driver: RoadRunner's keys (top-level
//! `beanstalk.addr` and `beanstalk.timeout`; per pipeline `tube`,
//! `tube_priority`, `reserve_timeout`, `priority`), on beanstalkd.
//!
//! ```yaml
//! beanstalk:
//!   addr: tcp://127.0.0.1:11300
//!   timeout: 10s          # connect / command deadline and the jobs' TTR
//! jobs:
//!   pipelines:
//!     mail:
//!       driver: beanstalk
//!       config: { tube: mail, tube_priority: 10, reserve_timeout: 1s, priority: 10, prefetch: 10 }
//! ```
//!
//! # Layout
//! - `proto`: the beanstalkd protocol (the commands the driver uses).
//! - `driver`: [`driver::Beanstalk`], producer connection + consumer task.

pub mod driver;
pub mod proto;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use coyote_config::Node;
use coyote_host::Plan;
use coyote_jobs::driver::BoxFuture;
use coyote_jobs::drivers::broker::{BrokerDriver, BrokerPlan, Globals, OpenContext};
use coyote_jobs::{Driver, JobsError};
use serde::Deserialize;

use driver::{Beanstalk, Options};

/// The driver, for `JobsPlugin::with_broker`.
pub static DRIVER: BrokerDriver = BrokerDriver {
    name: "beanstalk",
    section: Some("beanstalk"),
    plan,
    declare,
};

#[derive(Deserialize)]
#[serde(default)]
struct Global {
    addr: String,
    #[serde(deserialize_with = "coyote_config::duration::de")]
    timeout: Duration,
}

impl Default for Global {
    fn default() -> Self {
        Self {
            addr: "tcp://127.0.0.1:11300".to_owned(),
            timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Keys {
    priority: i64,
    tube_priority: Option<i64>,
    tube: String,
    #[serde(deserialize_with = "coyote_config::duration::de_secs")]
    reserve_timeout: Duration,
    prefetch: i64,
}

#[derive(Debug)]
struct Planned(Options);

impl BrokerPlan for Planned {
    fn driver(&self) -> &'static str {
        "beanstalk"
    }

    fn priority(&self) -> i64 {
        self.0.priority
    }

    fn open(&self, ctx: OpenContext) -> BoxFuture<'_, Result<Arc<dyn Driver>, JobsError>> {
        Box::pin(async move {
            let d = Beanstalk::open(self.0.clone(), ctx.queue, &ctx.tracker, ctx.shutdown).await?;
            Ok(d as Arc<dyn Driver>)
        })
    }
}

/// `tcp://host:port` or `host:port` -> `host:port`.
fn address(addr: &str) -> Result<String, String> {
    let rest = addr.strip_prefix("tcp://").unwrap_or(addr);
    let ok = rest
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if ok {
        Ok(rest.to_owned())
    } else {
        Err(format!("{addr:?} is not tcp://host:port"))
    }
}

/// The options from keys; `Err((key, message))`.
fn options(pipeline: &str, global: Global, keys: Keys) -> Result<Options, (&'static str, String)> {
    let addr = address(&global.addr).map_err(|e| ("addr", e))?;
    if keys.priority < 0 {
        return Err(("priority", format!("{} is negative", keys.priority)));
    }
    let tube_priority = match keys.tube_priority {
        None => 0,
        Some(p) => u32::try_from(p)
            .map_err(|_| ("tube_priority", format!("{p} is not 0..{}", u32::MAX)))?,
    };
    if keys.prefetch < 0 {
        return Err(("prefetch", format!("{} is negative", keys.prefetch)));
    }
    let tube = if keys.tube.trim().is_empty() {
        "default".to_owned()
    } else {
        keys.tube
    };
    if tube.len() > 200 || tube.contains(char::is_whitespace) {
        return Err(("tube", format!("{tube:?} is not a beanstalkd tube name")));
    }
    Ok(Options {
        pipeline: pipeline.to_owned(),
        addr,
        timeout: if global.timeout.is_zero() {
            Duration::from_secs(30)
        } else {
            global.timeout
        },
        tube,
        tube_priority,
        priority: if keys.priority == 0 {
            10
        } else {
            keys.priority
        },
        reserve_timeout: if keys.reserve_timeout.is_zero() {
            Duration::from_secs(1)
        } else {
            keys.reserve_timeout
        },
        prefetch: usize::try_from(keys.prefetch)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(10),
    })
}

fn plan(
    plan: &mut Plan<'_>,
    pipeline: &str,
    path: &str,
    config: Option<&Node>,
) -> Option<Arc<dyn BrokerPlan>> {
    let global = match plan.section("beanstalk") {
        Some(node) => plan.decode_node::<Global>(node, "beanstalk")?,
        None => Global::default(),
    };
    let keys = match config {
        Some(node) => plan.decode_node::<Keys>(node, path)?,
        None => Keys::default(),
    };
    match options(pipeline, global, keys) {
        Ok(o) => Some(Arc::new(Planned(o))),
        Err(("addr", e)) => {
            plan.problem("beanstalk.addr", e);
            None
        }
        Err((key, e)) => {
            plan.problem(&format!("{path}.{key}"), e);
            None
        }
    }
}

fn declare(
    map: &BTreeMap<String, String>,
    globals: &Globals,
) -> Result<Arc<dyn BrokerPlan>, String> {
    let global = match globals.get("beanstalk") {
        Some(node) => node
            .decode::<Global>("beanstalk")
            .map(|(g, _)| g)
            .map_err(|e| e.to_string())?,
        None => Global::default(),
    };
    let name = map.get("name").cloned().unwrap_or_default();
    let int = |key: &str| -> Result<Option<i64>, String> {
        map.get(key)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("{key} {v:?} is not an integer"))
            })
            .transpose()
    };
    let reserve_timeout = match map.get("reserve_timeout").map(|s| s.trim()) {
        None | Some("") => Duration::ZERO,
        Some(v) => match v.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => {
                coyote_config::parse_duration(v).map_err(|e| format!("reserve_timeout: {e}"))?
            }
        },
    };
    let keys = Keys {
        priority: int("priority")?.unwrap_or(0),
        tube_priority: int("tube_priority")?,
        tube: map.get("tube").cloned().unwrap_or_default(),
        reserve_timeout,
        prefetch: int("prefetch")?.unwrap_or(0),
    };
    options(&name, global, keys)
        .map(|o| Arc::new(Planned(o)) as Arc<dyn BrokerPlan>)
        .map_err(|(key, e)| format!("{key}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_key_checks() {
        assert_eq!(address("tcp://127.0.0.1:11300").unwrap(), "127.0.0.1:11300");
        assert_eq!(address("localhost:1").unwrap(), "localhost:1");
        assert!(address("tcp://nowhere").is_err());
        let o = options("p", Global::default(), Keys::default()).unwrap();
        assert_eq!(
            (
                o.tube.as_str(),
                o.tube_priority,
                o.priority,
                o.prefetch,
                o.reserve_timeout
            ),
            ("default", 0, 10, 10, Duration::from_secs(1))
        );
        let bad = Keys {
            tube_priority: Some(-1),
            ..Keys::default()
        };
        assert_eq!(
            options("p", Global::default(), bad).unwrap_err().0,
            "tube_priority"
        );
        let bad = Keys {
            tube: "a b".into(),
            ..Keys::default()
        };
        assert_eq!(options("p", Global::default(), bad).unwrap_err().0, "tube");
    }

    #[test]
    fn declare_reads_the_string_map() {
        let map: BTreeMap<String, String> = [
            ("name", "q"),
            ("driver", "beanstalk"),
            ("tube", "t1"),
            ("tube_priority", "5"),
            ("reserve_timeout", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let p = declare(&map, &Globals::new()).unwrap();
        assert_eq!(p.driver(), "beanstalk");
        assert_eq!(p.priority(), 10);
    }
}
