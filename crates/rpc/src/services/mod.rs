//! One file per RPC service: `informer`, `resetter`, `app` (logger).

mod app;
mod informer;
mod resetter;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use coyote_pool::Pool;

pub use app::{AppLogger, LogAttrs, LogEntry};
pub use informer::{Informer, WorkerState};
pub use resetter::Resetter;

/// A report a plugin produces on demand, as JSON.
pub type ReportFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Reports by plugin name (the jobs plugins' pipeline states for
/// `informer.Jobs` and `status /jobs`): a shared, live set.
#[derive(Clone, Default)]
pub struct Reports {
    map: Arc<RwLock<BTreeMap<String, ReportFn>>>,
}

impl Reports {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the report of `plugin`.
    pub fn insert(&self, plugin: impl Into<String>, report: ReportFn) {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plugin.into(), report);
    }

    /// The current report of `plugin`.
    pub fn get(&self, plugin: &str) -> Option<serde_json::Value> {
        let report = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(plugin)
            .cloned();
        report.map(|f| f())
    }

    /// Every plugin's current report, by name.
    pub fn all(&self) -> BTreeMap<String, serde_json::Value> {
        let reports: Vec<(String, ReportFn)> = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        reports.into_iter().map(|(k, f)| (k, f())).collect()
    }
}

use crate::RpcError;

/// The pools of the running plugins, by plugin name: a shared, live set
/// (plugins that start later add theirs; every clone sees them).
#[derive(Clone, Default)]
pub struct Pools {
    map: Arc<RwLock<BTreeMap<String, Pool>>>,
}

impl Pools {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the pool of `plugin`.
    pub fn insert(&self, plugin: impl Into<String>, pool: Pool) {
        self.write().insert(plugin.into(), pool);
    }

    /// The pool of `plugin`.
    pub fn get(&self, plugin: &str) -> Option<Pool> {
        self.read().get(plugin).cloned()
    }

    /// Every pool, by plugin name (cheap handles).
    pub fn snapshot(&self) -> BTreeMap<String, Pool> {
        self.read().clone()
    }

    /// The plugin names.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Pool>> {
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Pool>> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl From<BTreeMap<String, Pool>> for Pools {
    fn from(map: BTreeMap<String, Pool>) -> Self {
        Self {
            map: Arc::new(RwLock::new(map)),
        }
    }
}

use crate::codec::{decode_arg, encode_result};

fn pool(pools: &Pools, plugin: &str) -> Result<Pool, RpcError> {
    pools
        .get(plugin)
        .ok_or_else(|| RpcError::Failed(format!("no such plugin: {plugin}")))
}
