//! The `jobs` plugin on the host: plans the section, starts the jobs pool
//! (`RR_MODE=jobs`), the pipelines and the pollers, registers the `jobs`
//! RPC service, the state `informer.Jobs` / `status /jobs` read and the
//! `rr_jobs_*` metrics; stops polling first, lets in-flight jobs finish,
//! then stops the pipelines and the pool.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use coyote_host::{BoxFuture, Checker, Plan, Planned, Plugin, Running, Start, StartError};
use coyote_pool::{Pool, PoolOptions};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as MetricsRegistry;
use tokio_util::task::TaskTracker;

use crate::config::{plan_pipelines, JobsSection, PipelineSpec};
use crate::drivers::broker::{BrokerDriver, Brokers, Globals};
use crate::jobs::Limits;
use crate::service::JobsService;
use crate::{consumer, Jobs};

/// The `jobs` plugin, with the broker drivers it was built with.
#[derive(Clone, Default)]
pub struct JobsPlugin {
    brokers: Brokers,
}

impl JobsPlugin {
    /// The plugin with the `memory` and `boltdb` drivers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a broker driver (`coyote_jobs_amqp::DRIVER`, ...).
    pub fn with_broker(mut self, driver: &'static BrokerDriver) -> Self {
        self.brokers.add(driver);
        self
    }
}

struct PlannedJobs {
    brokers: Brokers,
    globals: Globals,
    pool: PoolOptions,
    pipelines: Vec<PipelineSpec>,
    consume: Vec<String>,
    num_pollers: usize,
    limits: Limits,
    working_dir: std::path::PathBuf,
}

struct RunningJobs {
    jobs: Arc<Jobs>,
    pool: Pool,
    pollers: TaskTracker,
}

impl Plugin for JobsPlugin {
    fn name(&self) -> &'static str {
        "jobs"
    }

    fn sections(&self) -> Vec<&'static str> {
        // The brokers' connection sections, shared by their pipelines, as
        // in RoadRunner (`amqp.addr`, ...).
        std::iter::once("jobs")
            .chain(self.brokers.iter().filter_map(|b| b.section))
            .collect()
    }

    fn plan(&self, plan: &mut Plan<'_>) -> Option<Box<dyn Planned>> {
        node_present(plan)?;
        // The pipelines are planned even when the rest of the section is
        // bad, so that every problem is reported at once.
        let section: Option<JobsSection> = plan.decode("jobs");
        let node = plan.section("jobs");
        let pipelines = plan_pipelines(plan, node.and_then(|n| n.get("pipelines")), &self.brokers);
        let section = section?;
        for (i, name) in section.consume.iter().enumerate() {
            if !pipelines.iter().any(|p| &p.name == name) {
                plan.warn(
                    &format!("jobs.consume[{i}]"),
                    format_args!(
                        "pipeline {name} is not configured; it is consumed if declared at runtime"
                    ),
                );
            }
        }
        if section.pipeline_size == 0 {
            plan.problem("jobs.pipeline_size", "must be at least 1");
        }
        if section.max_job_size == 0 {
            plan.problem("jobs.max_job_size", "must be at least 1 byte");
        }
        let pool = plan.pool_options("jobs", &section.pool)?;
        let num_pollers = match usize::try_from(section.num_pollers) {
            Ok(n) if n > 0 => n,
            _ => pool.max_static_workers().max(1) + 2,
        };
        let limits = Limits {
            pipeline_size: usize::try_from(section.pipeline_size).unwrap_or(usize::MAX),
            max_job_size: usize::try_from(section.max_job_size).unwrap_or(usize::MAX),
            timeout: section.timeout,
        };
        let working_dir = plan.working_dir().to_path_buf();
        let globals: Globals = self
            .brokers
            .iter()
            .filter_map(|b| b.section)
            .filter_map(|name| plan.section(name).map(|n| (name.to_owned(), n.clone())))
            .collect();
        plan.is_clean().then(|| {
            Box::new(PlannedJobs {
                brokers: self.brokers.clone(),
                globals,
                pool,
                pipelines,
                consume: section.consume,
                num_pollers,
                limits,
                working_dir,
            }) as Box<dyn Planned>
        })
    }
}

impl Planned for PlannedJobs {
    fn start(
        self: Box<Self>,
        start: Start,
    ) -> BoxFuture<'static, Result<Box<dyn Running>, StartError>> {
        Box::pin(async move {
            let pool = Pool::start(self.pool).await?;
            let jobs = Arc::new(Jobs::new(
                self.consume,
                self.working_dir,
                self.globals,
                self.brokers,
                self.limits,
                start.tracker.clone(),
                start.shutdown.clone(),
            ));
            for spec in self.pipelines {
                let name = spec.name.clone();
                if let Err(e) = jobs.add(spec).await {
                    jobs.stop_all().await;
                    pool.shutdown().await;
                    return Err(format!("jobs.pipelines.{name}: {e}").into());
                }
            }
            // Checked before the pool's own check is registered: ready also
            // needs every pipeline healthy (a broker reachable).
            start.registry.add_checker(
                "jobs",
                Arc::new(JobsChecker {
                    pool: pool.clone(),
                    jobs: jobs.clone(),
                }),
            );
            start.registry.add_pool("jobs", pool.clone());
            start
                .registry
                .add_service(Arc::new(JobsService::new(jobs.clone())));
            let states = jobs.clone();
            start.registry.add_jobs("jobs", move || {
                serde_json::to_value(states.states()).unwrap_or_default()
            });
            let metrics = jobs.clone();
            start
                .registry
                .add_metrics(move |r| register_metrics(&metrics, r));
            let pollers = TaskTracker::new();
            for _ in 0..self.num_pollers {
                pollers.spawn(consumer::poll(
                    jobs.clone(),
                    pool.clone(),
                    start.shutdown.clone(),
                ));
            }
            pollers.close();
            tracing::info!(target: "coyote::jobs", pipelines = jobs.list().len(),
                pollers = self.num_pollers, "jobs plugin started");
            Ok(Box::new(RunningJobs {
                jobs,
                pool,
                pollers,
            }) as Box<dyn Running>)
        })
    }
}

impl Running for RunningJobs {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The host cancelled our shutdown token: pollers take no new
            // job and finish the one they hold.
            self.pollers.wait().await;
            self.jobs.stop_all().await;
            self.pool.shutdown().await;
        })
    }

    fn pending(&self) -> String {
        let reserved: i64 = self.jobs.states().iter().map(|s| s.reserved).sum();
        format!("{reserved} jobs at a worker")
    }
}

fn node_present(plan: &Plan<'_>) -> Option<()> {
    plan.section("jobs").map(|_| ())
}

/// `status` for jobs: alive while a worker is; ready while a worker is
/// idle and no pipeline reports an error (a broker out of reach).
struct JobsChecker {
    pool: Pool,
    jobs: Arc<Jobs>,
}

impl Checker for JobsChecker {
    fn health(&self) -> u16 {
        self.pool.health()
    }

    fn ready(&self) -> u16 {
        if self
            .jobs
            .states()
            .iter()
            .any(|s| !s.error_message.is_empty())
        {
            503
        } else {
            self.pool.ready()
        }
    }
}

/// Reads one count of a pipeline's state.
type StateField = fn(&crate::PipelineState) -> i64;

fn register_metrics(jobs: &Jobs, r: &mut MetricsRegistry) {
    let c = jobs.counters();
    for (name, help, value) in [
        (
            "rr_jobs_jobs_ok",
            "Number of successfully processed jobs",
            &c.jobs_ok,
        ),
        (
            "rr_jobs_jobs_err",
            "Number of jobs error while processing in the worker",
            &c.jobs_err,
        ),
        ("rr_jobs_push_ok", "Number of job push", &c.push_ok),
        (
            "rr_jobs_push_err",
            "Number of jobs push which was failed",
            &c.push_err,
        ),
    ] {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(value.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
        r.register(name, help, g);
    }
    let families: [(&str, &str, StateField); 3] = [
        (
            "rr_jobs_pipeline_active",
            "Jobs waiting to run, by pipeline",
            |s| s.active,
        ),
        (
            "rr_jobs_pipeline_delayed",
            "Jobs waiting for their delay, by pipeline",
            |s| s.delayed,
        ),
        (
            "rr_jobs_pipeline_reserved",
            "Jobs at a worker, by pipeline",
            |s| s.reserved,
        ),
    ];
    let states = jobs.states();
    for (name, help, get) in families {
        let family = Family::<Vec<(String, String)>, Gauge>::default();
        for s in &states {
            family
                .get_or_create(&vec![
                    ("pipeline".to_owned(), s.pipeline.clone()),
                    ("driver".to_owned(), s.driver.clone()),
                ])
                .set(get(s));
        }
        r.register(name, help, family);
    }
    let ready = Family::<Vec<(String, String)>, Gauge>::default();
    for s in &states {
        ready
            .get_or_create(&vec![("pipeline".to_owned(), s.pipeline.clone())])
            .set(i64::from(s.ready));
    }
    r.register(
        "rr_jobs_pipeline_ready",
        "1 when the pipeline consumes",
        ready,
    );
}
