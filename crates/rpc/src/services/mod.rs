//! One file per RPC service: `informer`, `resetter`, `app` (logger).

mod app;
mod informer;
mod resetter;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use coyote_pool::Pool;

pub use app::{AppLogger, LogAttrs, LogEntry};
pub use informer::{Informer, WorkerList, WorkerState};
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

/// The future [`WorkerSource::reset`] returns.
pub type ResetFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

/// A plugin's workers as `informer.Workers` lists them and
/// `resetter.Reset` replaces them: a goridge [`Pool`], or workers that are
/// not one (the handoff listeners').
pub trait WorkerSource: Send + Sync {
    /// Every worker, now.
    fn workers(&self) -> Vec<WorkerState>;
    /// Replaces every worker without downtime.
    fn reset(&self) -> ResetFuture<'_>;
}

impl WorkerSource for Pool {
    fn workers(&self) -> Vec<WorkerState> {
        Pool::workers(self)
            .into_iter()
            .map(|w| WorkerState {
                pid: i64::from(w.pid),
                status: w.status as i64,
                num_execs: w.num_execs,
                created: unix_nanos(w.created),
                memory_usage: w.memory_rss,
                cpu_percent: w.cpu_percent,
                command: w.command,
                status_str: w.status.as_str().to_owned(),
                connections: None,
                idle_ms: None,
            })
            .collect()
    }

    fn reset(&self) -> ResetFuture<'_> {
        Box::pin(async move { Pool::reset(self).await.map_err(|e| e.to_string()) })
    }
}

/// `time` as unix nanoseconds (0 before the epoch).
pub fn unix_nanos(time: std::time::SystemTime) -> i64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

type SourceMap = BTreeMap<String, Arc<dyn WorkerSource>>;

/// The pools of the running plugins, by plugin name: a shared, live set
/// (plugins that start later add theirs; every clone sees them). Plugins
/// whose workers are not a [`Pool`] add a [`WorkerSource`] instead.
#[derive(Clone, Default)]
pub struct Pools {
    map: Arc<RwLock<BTreeMap<String, Pool>>>,
    sources: Arc<RwLock<SourceMap>>,
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

    /// Adds (or replaces) the workers of `plugin` that are not a pool.
    pub fn insert_source(&self, plugin: impl Into<String>, source: Arc<dyn WorkerSource>) {
        self.sources
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(plugin.into(), source);
    }

    /// The workers of `plugin`: its pool, or the source it added.
    pub fn source(&self, plugin: &str) -> Option<Arc<dyn WorkerSource>> {
        if let Some(pool) = self.get(plugin) {
            return Some(Arc::new(pool));
        }
        self.sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(plugin)
            .cloned()
    }

    /// The sources that are not pools, by plugin name.
    pub fn sources(&self) -> SourceMap {
        self.sources
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The plugin names (pools and other sources).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.extend(self.sources().into_keys());
        names.sort();
        names.dedup();
        names
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
            sources: Arc::default(),
        }
    }
}

use crate::codec::{decode_arg, encode_result};

fn pool(pools: &Pools, plugin: &str) -> Result<Pool, RpcError> {
    pools
        .get(plugin)
        .ok_or_else(|| RpcError::Failed(format!("no such plugin: {plugin}")))
}

fn source(pools: &Pools, plugin: &str) -> Result<Arc<dyn WorkerSource>, RpcError> {
    pools
        .source(plugin)
        .ok_or_else(|| RpcError::Failed(format!("no such plugin: {plugin}")))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use bytes::Bytes;
    use goridge::flags::CODEC_JSON;

    use super::*;
    use crate::Service;

    /// Workers that are not a pool, counting resets.
    struct Fake(AtomicUsize);

    impl WorkerSource for Fake {
        fn workers(&self) -> Vec<WorkerState> {
            vec![WorkerState {
                pid: 42,
                status: 1,
                num_execs: 7,
                created: 0,
                memory_usage: 0,
                cpu_percent: 0.0,
                command: "[web] php w.php".into(),
                status_str: "ready".into(),
                connections: Some(3),
                idle_ms: Some(0),
            }]
        }

        fn reset(&self) -> ResetFuture<'_> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn informer_and_resetter_reach_sources() {
        let pools = Pools::new();
        let fake = Arc::new(Fake(AtomicUsize::new(0)));
        pools.insert_source("handoff", fake.clone());
        let informer = Informer::new(pools.clone());
        let arg = Bytes::from_static(br#""handoff""#);
        let names = informer
            .call("List", CODEC_JSON, Bytes::new())
            .await
            .unwrap();
        assert_eq!(names, br#"["handoff"]"#);
        let list = informer
            .call("Workers", CODEC_JSON, arg.clone())
            .await
            .unwrap();
        let list: WorkerList = serde_json::from_slice(&list).unwrap();
        assert_eq!(list.workers, fake.workers());
        let json: serde_json::Value = serde_json::from_slice(
            &informer
                .call("Workers", CODEC_JSON, arg.clone())
                .await
                .unwrap(),
        )
        .unwrap();
        assert_eq!(json["workers"][0]["connections"], 3);
        let resetter = Resetter::new(pools);
        resetter.call("Reset", CODEC_JSON, arg).await.unwrap();
        assert_eq!(fake.0.load(Ordering::Relaxed), 1);
        let missing = Bytes::from_static(br#""nope""#);
        assert!(informer.call("Workers", CODEC_JSON, missing).await.is_err());
    }

    #[test]
    fn pool_workers_omit_the_handoff_fields() {
        let state = WorkerState {
            pid: 1,
            status: 1,
            num_execs: 0,
            created: 0,
            memory_usage: 0,
            cpu_percent: 0.0,
            command: String::new(),
            status_str: "ready".into(),
            connections: None,
            idle_ms: None,
        };
        let json = serde_json::to_string(&state).unwrap();
        assert!(
            !json.contains("connections") && !json.contains("idleMs"),
            "{json}"
        );
    }
}
