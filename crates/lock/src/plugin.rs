//! The `lock` plugin on the host: present whenever the RPC server is
//! configured (RoadRunner's lock plugin needs no section), it registers the
//! `lock` service and runs the table's one timer task until shutdown.

use std::sync::Arc;

use coyote_host::{BoxFuture, Plan, Planned, Plugin, Running, Start, StartError};
use serde::Deserialize;

use std::time::Duration;

use crate::{Backend, LockService, Locks, RedisLocks};

/// The optional `lock:` section.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct LockSection {
    /// `memory` (default) or `redis`.
    driver: String,
    /// Redis `host:port` (one; `redis` driver).
    addrs: Vec<String>,
    /// Redis ACL user.
    username: String,
    /// Redis password.
    password: String,
    /// Redis database.
    db: u32,
}

impl Default for LockSection {
    fn default() -> Self {
        Self {
            driver: "memory".to_owned(),
            addrs: Vec::new(),
            username: String::new(),
            password: String::new(),
            db: 0,
        }
    }
}

/// The planned driver.
enum Driver {
    Memory,
    /// A `redis://` URL.
    Redis(String),
}

/// `redis://[user[:password]@]host:port/db`.
fn redis_url(s: &LockSection) -> String {
    let auth = match (s.username.as_str(), s.password.as_str()) {
        ("", "") => String::new(),
        (user, "") => format!("{user}@"),
        (user, password) => format!("{user}:{password}@"),
    };
    let addr = s.addrs.first().map_or("127.0.0.1:6379", String::as_str);
    format!("redis://{auth}{addr}/{}", s.db)
}

/// The `lock` plugin.
#[derive(Clone, Copy, Default)]
pub struct LockPlugin;

struct PlannedLock {
    driver: Driver,
}

struct RunningLock;

impl Plugin for LockPlugin {
    fn name(&self) -> &'static str {
        "lock"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let section = if plan.section("lock").is_some() {
            plan.decode::<LockSection>("lock")?
        } else {
            plan.section("rpc")?;
            LockSection::default()
        };
        let driver = match section.driver.as_str() {
            "memory" => Driver::Memory,
            "redis" => {
                if section.addrs.len() > 1 {
                    plan.problem("lock.addrs", "one address only (no cluster or sentinel)");
                }
                if let Some(a) = section.addrs.first() {
                    if a.rsplit_once(':')
                        .is_none_or(|(_, p)| p.parse::<u16>().is_err())
                    {
                        plan.problem("lock.addrs[0]", format!("{a:?} is not host:port"));
                    }
                }
                Driver::Redis(redis_url(&section))
            }
            other => {
                plan.problem(
                    "lock.driver",
                    format!("unknown driver {other:?}; the drivers are memory and redis"),
                );
                Driver::Memory
            }
        };
        plan.is_clean()
            .then(|| Box::new(PlannedLock { driver }) as Box<dyn Planned>)
    }
}

impl Planned for PlannedLock {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let (backend, driver) = match self.driver {
                Driver::Memory => {
                    let locks = Arc::new(Locks::new());
                    let timer = locks.clone();
                    let shutdown = start.shutdown.clone();
                    start
                        .tracker
                        .spawn(async move { timer.run_timer(shutdown).await });
                    (Backend::Memory(locks), "memory")
                }
                Driver::Redis(url) => {
                    let connect = RedisLocks::connect(&url);
                    let locks = tokio::time::timeout(Duration::from_secs(5), connect)
                        .await
                        .map_err(|_| "lock: redis did not answer within 5s".to_owned())?
                        .map_err(|e| format!("lock: redis: {e}"))?;
                    (Backend::Redis(locks), "redis")
                }
            };
            // The plugin stops before `rpc` (reverse start order): waiting
            // calls answer false then, and the RPC server drains quickly.
            start
                .registry
                .add_service(Arc::new(LockService::with_backend(
                    backend,
                    start.shutdown.clone(),
                )));
            tracing::info!(target: "coyote::lock", driver, "lock plugin started");
            Ok(Box::new(RunningLock) as Box<dyn Running>)
        })
    }
}

impl Running for RunningLock {}
