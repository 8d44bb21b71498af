//! The live dashboard the status plugin serves at `/dashboard`: one HTML
//! page with inline CSS and JavaScript (no external assets), fed over
//! server-sent events with one JSON snapshot per second: per pool its
//! workers (pid, state, execs, RSS, CPU, age), requests/s, latency
//! p50/p99, 5xx and queue waits; per jobs pipeline its counts. Reset
//! (a pool) and pause / resume (a pipeline) are offered only when
//! `status.dashboard.token` is set, and require `Authorization: Bearer`.
//!
//! # Layout
//! - `snapshot`: the document model and the [`Sampler`] that turns pool
//!   counters into rates and quantiles.
//! - `sse`: `text/event-stream` framing and one client's stream.
//! - `guard`: the bearer-token check of the actions.
//! - `routes`: the HTTP routes ([`Dashboard::handle`]).
//! - `page.html`: the page.

mod guard;
mod routes;
pub mod snapshot;
pub mod sse;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use coyote_pool::Pool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use guard::Guard;
pub use snapshot::{Sampler, Snapshot};

/// How often a snapshot is taken while someone watches.
pub const TICK: Duration = Duration::from_secs(1);

/// A boxed future, as [`Source`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why an action failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// No pool of that name.
    #[error("no pool {0:?}")]
    UnknownPool(String),
    /// No jobs plugin runs.
    #[error("no jobs plugin runs")]
    NoJobs,
    /// The pool or the jobs plugin refused (its message).
    #[error("{0}")]
    Failed(String),
}

/// What the dashboard reads and acts on (the host's registry, in the
/// status plugin).
pub trait Source: Send + Sync + 'static {
    /// The live pools, by plugin name.
    fn pools(&self) -> BTreeMap<String, Pool>;
    /// The jobs pipelines' states (RoadRunner's `jobs.State` JSON).
    fn pipelines(&self) -> Vec<serde_json::Value>;
    /// Pauses (`pause`) or resumes a jobs pipeline, as the jobs RPC
    /// `Pause` / `Resume` do.
    fn set_paused<'a>(
        &'a self,
        pipeline: &'a str,
        pause: bool,
    ) -> BoxFuture<'a, Result<(), ActionError>>;
}

/// The dashboard: routes, the latest snapshot and the action guard.
pub struct Dashboard {
    source: Arc<dyn Source>,
    guard: Guard,
    snapshots: watch::Sender<Bytes>,
    shutdown: CancellationToken,
}

impl Dashboard {
    /// A dashboard over `source`; `token` is `status.dashboard.token`
    /// (empty: no actions); SSE streams end when `shutdown` is cancelled.
    pub fn new(source: Arc<dyn Source>, token: &str, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            source,
            guard: Guard::new(token),
            snapshots: watch::Sender::new(Bytes::new()),
            shutdown,
        })
    }

    /// Takes one snapshot now with `sampler` and publishes it.
    pub fn publish(&self, sampler: &mut Sampler) -> Snapshot {
        let snapshot = sampler.sample(
            std::time::Instant::now(),
            &self.source.pools(),
            self.source.pipelines(),
            self.guard.enabled(),
        );
        match serde_json::to_vec(&snapshot) {
            Ok(json) => {
                self.snapshots.send_replace(Bytes::from(json));
            }
            Err(error) => {
                tracing::warn!(target: "coyote::status", %error, "dashboard snapshot not encoded");
            }
        }
        snapshot
    }

    /// Samples every [`TICK`] while at least one page is connected, until
    /// shutdown (then every stream ends). Run it on the plugin's tracker.
    pub async fn run(self: Arc<Self>) {
        let mut sampler = Sampler::default();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            if self.snapshots.receiver_count() == 0 {
                // Nobody watches: no /proc reads; rates restart from the
                // next sample instead of averaging over the idle time.
                sampler.clear();
                if !self.snapshots.borrow().is_empty() {
                    // Nor would a page that connects later see stale pids.
                    self.snapshots.send_replace(Bytes::new());
                }
                continue;
            }
            self.publish(&mut sampler);
        }
    }

    /// One snapshot now, without rates (no earlier sample), for
    /// `GET /dashboard/api/snapshot`.
    pub fn sample_once(&self) -> Snapshot {
        Sampler::default().sample(
            std::time::Instant::now(),
            &self.source.pools(),
            self.source.pipelines(),
            self.guard.enabled(),
        )
    }

    fn subscribe(&self) -> watch::Receiver<Bytes> {
        self.snapshots.subscribe()
    }
}
