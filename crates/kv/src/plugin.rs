//! The `kv` plugin on the host: plans the section, opens every storage
//! (a file that cannot be opened fails the start; a redis or memcached out
//! of reach does not: it is retried, and `/ready?plugin=kv` answers 503
//! until it answers), registers the `kv` RPC service and the readiness
//! check, and closes the storages at stop.

use std::collections::BTreeMap;
use std::sync::Arc;

use coyote_host::{BoxFuture, Checker, Plan, Planned, Plugin, Running, Start, StartError};

use crate::config::{plan_storages, DriverSpec, StorageSpec};
use crate::drivers;
use crate::service::{KvService, Named};
use crate::Storage;

/// The `kv` plugin.
#[derive(Clone, Copy, Default)]
pub struct KvPlugin;

struct PlannedKv {
    storages: Vec<StorageSpec>,
}

struct RunningKv {
    storages: Vec<(String, Arc<dyn Storage>)>,
}

impl Plugin for KvPlugin {
    fn name(&self) -> &'static str {
        "kv"
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        let storages = plan_storages(plan)?;
        plan.is_clean()
            .then(|| Box::new(PlannedKv { storages }) as Box<dyn Planned>)
    }
}

/// The error-text prefix of a driver's operations (RoadRunner's op names).
fn prefix(driver: &DriverSpec) -> &'static str {
    match driver {
        DriverSpec::Memory => "in_memory_plugin",
        DriverSpec::Boltdb { .. } => "boltdb_plugin",
        DriverSpec::Redis(_) => "redis_driver",
        DriverSpec::Memcached { .. } => "memcached_plugin",
    }
}

async fn open(spec: &StorageSpec, start: &Start) -> Result<Arc<dyn Storage>, String> {
    let tracker = &start.tracker;
    let stop = start.shutdown.clone();
    Ok(match &spec.driver {
        DriverSpec::Memory => drivers::memory::MemoryStorage::start(tracker, stop),
        DriverSpec::Boltdb {
            file,
            permissions,
            interval,
        } => drivers::boltdb::BoltStorage::open(
            &spec.name,
            file,
            *permissions,
            *interval,
            tracker,
            stop,
        )
        .await
        .map_err(|e| e.to_string())?,
        DriverSpec::Redis(o) => drivers::redis::RedisStorage::start(o.clone(), tracker, stop)
            .await
            .map_err(|e| e.to_string())?,
        DriverSpec::Memcached { addrs } => {
            let addr = addrs.first().cloned().unwrap_or_default();
            drivers::memcached::MemcachedStorage::start(addr, tracker, stop).await
        }
    })
}

impl Planned for PlannedKv {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let mut named = BTreeMap::new();
            let mut running = Vec::new();
            for spec in &self.storages {
                match open(spec, &start).await {
                    Ok(storage) => {
                        running.push((spec.name.clone(), storage.clone()));
                        named.insert(
                            spec.name.clone(),
                            Named {
                                prefix: prefix(&spec.driver),
                                storage,
                            },
                        );
                    }
                    Err(e) => {
                        for (_, s) in &running {
                            s.stop().await;
                        }
                        return Err(format!("kv.{}: {e}", spec.name).into());
                    }
                }
            }
            start.registry.add_checker(
                "kv",
                Arc::new(KvChecker {
                    storages: running.clone(),
                }),
            );
            start.registry.add_service(Arc::new(KvService::new(named)));
            tracing::info!(target: "coyote::kv", storages = running.len(), "kv plugin started");
            Ok(Box::new(RunningKv { storages: running }) as Box<dyn Running>)
        })
    }
}

impl Running for RunningKv {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for (_, s) in &self.storages {
                s.stop().await;
            }
        })
    }
}

/// `status` for kv: alive while the server runs; ready while every
/// storage's backend answers.
struct KvChecker {
    storages: Vec<(String, Arc<dyn Storage>)>,
}

impl Checker for KvChecker {
    fn health(&self) -> u16 {
        200
    }

    fn ready(&self) -> u16 {
        for (name, s) in &self.storages {
            if let Some(why) = s.problem() {
                tracing::debug!(target: "coyote::kv", storage = %name, "not ready: {why}");
                return 503;
            }
        }
        200
    }
}
