//! The host: plans every registered plugin from the configuration, then
//! starts them in order and stops them in reverse, all under one grace
//! deadline (RoadRunner's `endure.grace_period`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coyote_config::{ConfigError, Loaded, OnInitConfig, Problem, ProblemKind};
use coyote_pool::Shards;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lifecycle::{Lifecycle, Phase};
use crate::plan::{locate, Plan};
use crate::plugin::{Planned, Plugin, Running, StartError};
use crate::start::{Registry, Start};
use crate::{run_on_init, ServerError};

/// How long pools get to die once the grace deadline has passed.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// Why a planned server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// `server.on_init` failed (with `exit_on_error`).
    #[error(transparent)]
    OnInit(ServerError),
    /// A plugin could not start; the ones started before it were stopped.
    #[error("{plugin}: {error}")]
    Start {
        /// The plugin.
        plugin: &'static str,
        /// What failed (its message is part of this error's).
        error: StartError,
    },
    /// The signal handlers could not be installed.
    #[error("cannot watch signals: {0}")]
    Signals(std::io::Error),
}

/// The registered plugins, in start order.
#[derive(Default)]
pub struct Host {
    plugins: Vec<Box<dyn Plugin>>,
}

impl Host {
    /// A host without plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a plugin: it plans, starts after every plugin registered
    /// before it, and stops before them.
    pub fn with(mut self, plugin: impl Plugin + 'static) -> Self {
        self.plugins.push(Box::new(plugin));
        self
    }

    /// Registers a boxed plugin.
    pub fn with_boxed(mut self, plugin: Box<dyn Plugin>) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// The names (config sections) of the registered plugins, to pass to
    /// the loader as `LoadOptions::plugin_sections`.
    pub fn sections(&self) -> Vec<String> {
        self.plugins
            .iter()
            .flat_map(|p| p.sections())
            .map(str::to_owned)
            .collect()
    }

    /// Plans every plugin. Nothing has run or been bound when this
    /// returns; on any problem (from any plugin) the error lists them all,
    /// with their key paths and positions, followed by every warning (the
    /// loader's and the plugins'). Unknown keys in the plugins' sections
    /// are errors when the config was loaded with `strict`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with every problem and warning found.
    pub fn plan(&self, loaded: &Loaded, working_dir: &Path) -> Result<HostPlan, ConfigError> {
        let mut planned = Vec::new();
        let mut problems: Vec<Problem> = Vec::new();
        let mut warnings = Vec::new();
        for plugin in &self.plugins {
            let mut plan =
                Plan::new(&loaded.config, &loaded.tree, working_dir).strict(loaded.strict);
            let options = plugin.plan(&mut plan);
            problems.append(&mut plan.problems);
            warnings.append(&mut plan.warnings);
            if let Some(options) = options {
                planned.push((plugin.name(), options));
            }
        }
        if problems.is_empty() && planned.is_empty() {
            problems.push(Problem {
                kind: ProblemKind::Missing,
                path: String::new(),
                message: format!(
                    "nothing to serve: configure at least one of {}",
                    self.sections().join(", ")
                ),
                location: locate(&loaded.tree, ""),
            });
        }
        if !problems.is_empty() {
            // The loader's warnings may explain the plugins' problems (a
            // typo in a key, an old version): printed with them.
            let warnings = loaded.warnings.iter().cloned().chain(warnings).collect();
            return Err(ConfigError::Invalid { problems, warnings });
        }
        Ok(HostPlan {
            planned,
            warnings,
            grace: loaded.config.endure.grace_period,
            on_init: loaded
                .config
                .server
                .as_ref()
                .and_then(|s| s.on_init.clone()),
            working_dir: working_dir.to_path_buf(),
        })
    }
}

/// Every plugin's validated options: what [`HostPlan::run`] starts.
pub struct HostPlan {
    planned: Vec<(&'static str, Box<dyn Planned>)>,
    /// Findings worth telling (logged at start).
    pub warnings: Vec<String>,
    grace: Duration,
    on_init: Option<OnInitConfig>,
    working_dir: PathBuf,
}

/// A started plugin and what the host needs to stop it.
struct Started {
    name: &'static str,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    running: Option<Box<dyn Running>>,
}

impl HostPlan {
    /// The plugins that will start, in order.
    pub fn plugins(&self) -> Vec<&'static str> {
        self.planned.iter().map(|(name, _)| *name).collect()
    }

    /// The largest number of pipe workers any plugin runs (for sizing the
    /// event-loop shards).
    pub fn pipe_workers(&self) -> usize {
        self.planned
            .iter()
            .map(|(_, p)| p.pipe_workers())
            .max()
            .unwrap_or(0)
    }

    /// The overall stop deadline (`endure.grace_period`).
    pub fn grace_period(&self) -> Duration {
        self.grace
    }

    /// Runs `on_init`, starts every plugin in order, serves until a stop
    /// signal (or `lifecycle`'s shutdown token), then stops the plugins in
    /// reverse order under the grace deadline. SIGHUP / SIGUSR1 reset
    /// every pool.
    ///
    /// # Errors
    /// When `on_init` or a plugin's start fails (what started is stopped
    /// first), or signals cannot be watched.
    pub async fn run(self, lifecycle: Lifecycle, shards: Option<Shards>) -> Result<(), HostError> {
        let registry = Registry::new(lifecycle.clone());
        lifecycle.set(Phase::Starting);
        let reset_all = || async {
            let pools = registry.pools();
            let sources = pools.snapshot().into_iter().map(|(name, pool)| {
                (
                    name,
                    Arc::new(pool) as Arc<dyn coyote_rpc::services::WorkerSource>,
                )
            });
            for (name, source) in sources.chain(pools.sources()) {
                match source.reset().await {
                    Ok(()) => {
                        tracing::info!(target: "coyote::server", plugin = %name, "workers reset")
                    }
                    Err(e) => {
                        tracing::warn!(target: "coyote::server", plugin = %name, error = %e, "reset failed")
                    }
                }
            }
        };
        let signals = async {
            let watched = lifecycle.handle_signals(reset_all).await;
            if watched.is_err() {
                // Without signal handlers nothing could stop the server.
                lifecycle.shutdown().cancel();
            }
            watched
        };
        let body = self.serve(&lifecycle, &registry, shards);
        let (result, watched) = tokio::join!(body, signals);
        result?;
        watched.map_err(HostError::Signals)
    }

    async fn serve(
        self,
        lifecycle: &Lifecycle,
        registry: &Registry,
        shards: Option<Shards>,
    ) -> Result<(), HostError> {
        let mut failure = None;
        if let Some(on_init) = &self.on_init {
            if let Err(e) = run_on_init(on_init, Some(&self.working_dir)).await {
                failure = Some(HostError::OnInit(e));
            }
        }
        let mut started: Vec<Started> = Vec::new();
        for (name, planned) in self.planned {
            if failure.is_some() || lifecycle.shutdown().is_cancelled() {
                break;
            }
            // A child of the force token: a second signal (or the grace
            // deadline, which cancels force) reaches every plugin at once.
            let shutdown = lifecycle.force().child_token();
            let tracker = TaskTracker::new();
            let start = Start {
                name,
                shutdown: shutdown.clone(),
                tracker: tracker.clone(),
                shards: shards.clone(),
                registry: registry.clone(),
            };
            let result = tokio::select! {
                result = planned.start(start) => result,
                () = lifecycle.shutdown().cancelled() => Err("stopped while starting".into()),
            };
            let running = match result {
                Ok(running) => Some(running),
                Err(error) => {
                    failure = Some(HostError::Start {
                        plugin: name,
                        error,
                    });
                    None
                }
            };
            started.push(Started {
                name,
                shutdown,
                tracker,
                running,
            });
        }
        if failure.is_none() && !lifecycle.shutdown().is_cancelled() {
            lifecycle.set(Phase::Running);
            tracing::info!(target: "coyote::server", pid = std::process::id(),
                plugins = ?started.iter().map(|s| s.name).collect::<Vec<_>>(), "coyote is ready");
            lifecycle.shutdown().cancelled().await;
        }
        stop_all(started, self.grace, lifecycle, registry).await;
        lifecycle.set(Phase::Stopped);
        failure.map_or(Ok(()), Err)
    }
}

/// Stops `started` in reverse order under one deadline; past it (or on a
/// second signal) logs what each unfinished plugin still held and kills
/// every pool's processes.
async fn stop_all(
    started: Vec<Started>,
    grace: Duration,
    lifecycle: &Lifecycle,
    registry: &Registry,
) {
    let began = Instant::now();
    let deadline = began + grace;
    lifecycle.shutdown().cancel();
    lifecycle.set(Phase::Stopping);
    let mut unfinished = started.len();
    for plugin in started.iter().rev() {
        plugin.shutdown.cancel();
        let done = async {
            if let Some(running) = &plugin.running {
                running.stop().await;
            }
            plugin.tracker.close();
            plugin.tracker.wait().await;
        };
        let finished = tokio::select! {
            () = done => true,
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(target: "coyote::server", grace = ?grace,
                    "endure.grace_period is over: abandoning what is left");
                false
            }
            () = lifecycle.force().cancelled() => {
                tracing::warn!(target: "coyote::server", "forced stop: abandoning what is left");
                false
            }
        };
        if !finished {
            break;
        }
        tracing::debug!(target: "coyote::server", plugin = plugin.name, "stopped");
        unfinished -= 1;
    }
    if unfinished > 0 {
        lifecycle.force().cancel();
        for plugin in started[..unfinished].iter().rev() {
            let pending = plugin
                .running
                .as_ref()
                .map(|r| r.pending())
                .unwrap_or_default();
            let pending = if pending.is_empty() {
                "its tasks".to_owned()
            } else {
                pending
            };
            tracing::warn!(target: "coyote::server", plugin = plugin.name, %pending, "abandoned");
        }
        let kills = registry
            .pools()
            .snapshot()
            .into_values()
            .map(|pool| async move { pool.abort().await });
        let _ = tokio::time::timeout(KILL_WAIT, futures::future::join_all(kills)).await;
    }
    tracing::info!(target: "coyote::server", elapsed_ms = began.elapsed().as_millis() as u64, "stopped");
}
