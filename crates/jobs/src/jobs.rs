//! [`Jobs`]: the plugin's pipelines by name and what can be done to them
//! (push, pause, resume, declare, destroy, stat), shared by the RPC
//! service, the pollers, `informer.Jobs` and `status /jobs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{DriverSpec, PipelineSpec};
use crate::drivers::broker::{Brokers, Globals, OpenContext};
use crate::drivers::{Backlog, BacklogOptions, NoStore};
use crate::{Driver, Job, JobQueue, JobsError, PipelineState};

/// Limits every push is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Jobs one pipeline may hold waiting (`jobs.pipeline_size`).
    pub pipeline_size: usize,
    /// Largest payload in bytes (`jobs.max_job_size`).
    pub max_job_size: usize,
    /// Push / declare deadline (`jobs.timeout`).
    pub timeout: Duration,
}

/// The plugin's counters (`rr_jobs_*`).
#[derive(Debug, Default)]
pub struct Counters {
    /// Jobs the workers answered with success (or that were auto-acked).
    pub jobs_ok: AtomicU64,
    /// Jobs that failed (error replies, nacks, worker errors and crashes).
    pub jobs_err: AtomicU64,
    /// Jobs accepted by a push.
    pub push_ok: AtomicU64,
    /// Jobs refused by a push.
    pub push_err: AtomicU64,
}

struct Pipeline {
    spec: PipelineSpec,
    driver: Arc<dyn Driver>,
}

/// The pipelines and their queue.
pub struct Jobs {
    pipelines: RwLock<BTreeMap<String, Pipeline>>,
    queue: Arc<JobQueue>,
    consume: Vec<String>,
    working_dir: PathBuf,
    globals: Globals,
    brokers: Brokers,
    limits: Limits,
    counters: Counters,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Jobs {
    /// No pipelines yet; drivers' tasks go on `tracker` until `shutdown`;
    /// `globals` are the brokers' top-level sections.
    pub fn new(
        consume: Vec<String>,
        working_dir: PathBuf,
        globals: Globals,
        brokers: Brokers,
        limits: Limits,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            pipelines: RwLock::default(),
            queue: Arc::new(JobQueue::new()),
            consume,
            working_dir,
            globals,
            brokers,
            limits,
            counters: Counters::default(),
            tracker,
            shutdown,
        }
    }

    /// The queue the pollers read.
    pub fn queue(&self) -> &Arc<JobQueue> {
        &self.queue
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The working directory (relative `boltdb` files).
    pub fn working_dir(&self) -> &std::path::Path {
        &self.working_dir
    }

    /// The brokers' top-level sections (for `jobs.Declare`).
    pub fn globals(&self) -> &Globals {
        &self.globals
    }

    /// The broker drivers (for `jobs.Declare`).
    pub fn brokers(&self) -> &Brokers {
        &self.brokers
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Pipeline>> {
        self.pipelines
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Pipeline>> {
        self.pipelines
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens the driver of `spec` and adds the pipeline; it consumes at
    /// once when its name is in `consume`.
    ///
    /// # Errors
    /// A pipeline of that name exists, or the driver cannot open.
    pub async fn add(&self, spec: PipelineSpec) -> Result<(), JobsError> {
        if self.read().contains_key(&spec.name) {
            return Err(JobsError::PipelineExists(spec.name));
        }
        let options = BacklogOptions {
            kind: spec.driver.name(),
            pipeline: spec.name.clone(),
            priority: spec.priority,
            prefetch: spec.prefetch,
            limit: self.limits.pipeline_size,
        };
        let driver: Arc<dyn Driver> = match &spec.driver {
            DriverSpec::Memory => Backlog::start(
                options,
                Arc::new(NoStore),
                Vec::new(),
                self.queue.clone(),
                &self.tracker,
                self.shutdown.clone(),
            ),
            DriverSpec::Broker(plan) => {
                plan.open(OpenContext {
                    pipeline: spec.name.clone(),
                    queue: self.queue.clone(),
                    tracker: self.tracker.clone(),
                    shutdown: self.shutdown.clone(),
                    pipeline_size: self.limits.pipeline_size,
                })
                .await?
            }
            DriverSpec::Boltdb { file, permissions } => {
                let (store, recovered) =
                    crate::drivers::open_durable(file, *permissions, &spec.name).await?;
                if !recovered.is_empty() {
                    tracing::info!(target: "coyote::jobs", pipeline = %spec.name,
                        jobs = recovered.len(), file = %file.display(),
                        "recovered jobs from the durable store");
                }
                Backlog::start(
                    options,
                    store,
                    recovered,
                    self.queue.clone(),
                    &self.tracker,
                    self.shutdown.clone(),
                )
            }
        };
        let consume = self.consume.iter().any(|c| c == &spec.name);
        let raced = {
            let mut map = self.write();
            let raced = map.contains_key(&spec.name);
            if !raced {
                map.insert(
                    spec.name.clone(),
                    Pipeline {
                        spec: spec.clone(),
                        driver: driver.clone(),
                    },
                );
            }
            raced
        };
        if raced {
            driver.stop().await;
            return Err(JobsError::PipelineExists(spec.name));
        }
        if consume {
            driver.resume()?;
        }
        tracing::debug!(target: "coyote::jobs", pipeline = %spec.name,
            driver = spec.driver.name(), consume, "pipeline ready");
        Ok(())
    }

    fn driver(&self, pipeline: &str) -> Result<Arc<dyn Driver>, JobsError> {
        self.read()
            .get(pipeline)
            .map(|p| p.driver.clone())
            .ok_or_else(|| JobsError::NoSuchPipeline(pipeline.to_owned()))
    }

    fn check(&self, job: &Job) -> Result<(), JobsError> {
        if job.id.is_empty() {
            return Err(JobsError::Invalid("empty ID field not allowed".to_owned()));
        }
        if job.payload.len() > self.limits.max_job_size {
            return Err(JobsError::Invalid(format!(
                "job {} payload is {} bytes, over jobs.max_job_size ({} bytes)",
                job.id,
                job.payload.len(),
                self.limits.max_job_size
            )));
        }
        if !self.read().contains_key(&job.pipeline) {
            return Err(JobsError::NoSuchPipeline(job.pipeline.clone()));
        }
        Ok(())
    }

    /// Pushes jobs (validated first, all of them: one bad job refuses the
    /// whole batch), each pipeline's share in one driver call.
    ///
    /// # Errors
    /// The first invalid job, or what a driver answered.
    pub async fn push(&self, jobs: Vec<Job>) -> Result<(), JobsError> {
        let n = jobs.len() as u64;
        let result = self.push_inner(jobs).await;
        let counter = if result.is_ok() {
            &self.counters.push_ok
        } else {
            &self.counters.push_err
        };
        counter.fetch_add(n, Ordering::Relaxed);
        result
    }

    async fn push_inner(&self, jobs: Vec<Job>) -> Result<(), JobsError> {
        for job in &jobs {
            self.check(job)?;
        }
        let mut groups: Vec<(String, Vec<Job>)> = Vec::new();
        for job in jobs {
            match groups.iter_mut().find(|(p, _)| *p == job.pipeline) {
                Some((_, g)) => g.push(job),
                None => groups.push((job.pipeline.clone(), vec![job])),
            }
        }
        for (pipeline, group) in groups {
            let driver = self.driver(&pipeline)?;
            tokio::time::timeout(self.limits.timeout, driver.push(group))
                .await
                .map_err(|_| {
                    JobsError::Invalid(format!(
                        "push to {pipeline} timed out after {:?} (jobs.timeout)",
                        self.limits.timeout
                    ))
                })??;
        }
        Ok(())
    }

    /// Pauses pipelines. A pipeline already paused is logged, as in
    /// RoadRunner.
    ///
    /// # Errors
    /// An unknown pipeline (checked before any is paused).
    pub fn pause(&self, names: &[String]) -> Result<(), JobsError> {
        self.each(names, "pause", |d| d.pause())
    }

    /// Resumes pipelines (see [`Jobs::pause`]).
    ///
    /// # Errors
    /// An unknown pipeline.
    pub fn resume(&self, names: &[String]) -> Result<(), JobsError> {
        self.each(names, "resume", |d| d.resume())
    }

    fn each(
        &self,
        names: &[String],
        what: &str,
        op: impl Fn(&dyn Driver) -> Result<(), JobsError>,
    ) -> Result<(), JobsError> {
        let drivers = names
            .iter()
            .map(|n| self.driver(n).map(|d| (n, d)))
            .collect::<Result<Vec<_>, _>>()?;
        for (name, driver) in drivers {
            match op(driver.as_ref()) {
                Ok(()) => tracing::info!(target: "coyote::jobs", pipeline = %name, "{what}d"),
                Err(e) => tracing::warn!(target: "coyote::jobs", pipeline = %name, "{what}: {e}"),
            }
        }
        Ok(())
    }

    /// The pipeline names.
    pub fn list(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Stops and removes pipelines; the names destroyed.
    ///
    /// # Errors
    /// An unknown pipeline (checked before any is destroyed).
    pub async fn destroy(&self, names: &[String]) -> Result<Vec<String>, JobsError> {
        let removed = {
            let mut map = self.write();
            if let Some(missing) = names.iter().find(|n| !map.contains_key(*n)) {
                return Err(JobsError::NoSuchPipeline(missing.clone()));
            }
            names
                .iter()
                .filter_map(|n| map.remove(n).map(|p| (n.clone(), p)))
                .collect::<Vec<_>>()
        };
        let mut out = Vec::new();
        for (name, pipeline) in removed {
            let dropped = pipeline.driver.stop().await;
            log_dropped(&name, dropped);
            out.push(name);
        }
        Ok(out)
    }

    /// Every pipeline's state, by name.
    pub fn states(&self) -> Vec<PipelineState> {
        self.read().values().map(|p| p.driver.state()).collect()
    }

    /// The specs of the pipelines (for `coyote jobs` and tests).
    pub fn specs(&self) -> Vec<PipelineSpec> {
        self.read().values().map(|p| p.spec.clone()).collect()
    }

    /// Stops every pipeline (server stop): the memory driver logs how many
    /// queued jobs it drops; durable drivers keep theirs.
    pub async fn stop_all(&self) {
        let all: Vec<(String, Arc<dyn Driver>)> = self
            .read()
            .iter()
            .map(|(n, p)| (n.clone(), p.driver.clone()))
            .collect();
        for (name, driver) in all {
            log_dropped(&name, driver.stop().await);
        }
    }
}

fn log_dropped(pipeline: &str, dropped: usize) {
    if dropped > 0 {
        tracing::warn!(target: "coyote::jobs", pipeline, dropped,
            "pipeline stopped: {dropped} queued jobs dropped (memory driver)");
    }
}
