//! `coyote serve`: load the config and plan every plugin (refusing to
//! start on any problem), set up logging and the runtime, then let the
//! host run `on_init`, start the plugins, and stop them on a signal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use coyote_config::{Config, ConfigError, LoadOptions, Loaded};
use coyote_host::{logging, Host, Lifecycle, Notifier};
use coyote_pool::Shards;

use crate::cli::Global;
use crate::stop::{serve_pid_file, PidFile};
use crate::{config_failure, runtime_failure, Failure};

/// The absolute config path (`-c`) and the working directory: `-w`, else
/// the config file's directory (as with `rr`).
fn paths(global: &Global) -> Result<(PathBuf, PathBuf), Failure> {
    let config_path = std::path::absolute(&global.config)
        .with_context(|| format!("config path {}", global.config.display()))
        .map_err(config_failure)?;
    let working_dir = match &global.workdir {
        Some(dir) => std::path::absolute(dir)
            .with_context(|| format!("working dir {}", dir.display()))
            .map_err(config_failure)?,
        None => config_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    Ok((config_path, working_dir))
}

/// The working directory (`-w`, else the config file's directory).
pub(crate) fn working_dir(global: &Global) -> Result<PathBuf, Failure> {
    paths(global).map(|(_, dir)| dir)
}

/// Loads `-c FILE` with the process environment, `--dotenv`, `-o` and
/// `--strict`. `plugin_sections` are the sections the registered plugins
/// decode themselves (not warned about as unknown). A file that cannot be
/// read is a runtime failure (exit 1); a file that does not validate, a
/// configuration failure (exit 3).
pub fn load(global: &Global, plugin_sections: Vec<String>) -> Result<(Loaded, PathBuf), Failure> {
    let (config_path, working_dir) = paths(global)?;
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let loaded = Config::load(
        &config_path,
        &LoadOptions {
            env,
            dotenv: global.dotenv.clone(),
            overrides: global.overrides.clone(),
            working_dir: Some(working_dir.clone()),
            plugin_sections,
            strict: global.strict(),
        },
    )
    .map_err(|e| match e {
        ConfigError::Read { .. } => runtime_failure(e),
        e => config_failure(e),
    })?;
    Ok((loaded, working_dir))
}

/// Plans every plugin (exit 3 on any problem, before anything runs), then
/// runs the server until a stop signal (or a fatal error).
pub fn run(global: &Global, host: Host, report: Option<PathBuf>) -> Result<(), Failure> {
    let (loaded, working_dir) = load(global, host.sections())?;
    // Before the chdir: `--pid-file` is relative to where coyote started.
    let pid_path = serve_pid_file(global, &working_dir);
    // Relative paths in the config (static dir, uploads dir, unix sockets)
    // are relative to the working directory, as with `rr`.
    std::env::set_current_dir(&working_dir)
        .with_context(|| format!("cannot enter working dir {}", working_dir.display()))
        .map_err(config_failure)?;
    // On problems, the error lists the warnings too (a typo in a key, an
    // old version may explain them).
    let plan = host.plan(&loaded, &working_dir).map_err(config_failure)?;
    logging::init(
        &loaded.config.logs,
        logging::Overrides {
            debug: global.debug,
            silent: global.silent,
        },
    )
    .map_err(runtime_failure)?;
    for warning in loaded.warnings.iter().chain(&plan.warnings) {
        tracing::warn!(target: "coyote::config", "{warning}");
    }
    let tuning = Tuning::from_env(
        loaded.config.has_section("jobs"),
        loaded.config.has_section("http"),
    );
    if tuning.batch_scheduling {
        batch_scheduling();
    }
    // Started after SCHED_BATCH is set: the shard threads and the workers
    // they fork inherit it. No more shards than the pipe workers to put
    // on them.
    let shard_count = tuning.shards.min(plan.pipe_workers()).max(1);
    tracing::debug!(target: "coyote::server", runtime = ?tuning.runtime,
        batch_scheduling = tuning.batch_scheduling, shards = shard_count, "runtime tuning");
    let shards = if shard_count > 1 {
        Some(
            Shards::start(shard_count)
                .context("cannot start the event-loop threads")
                .map_err(runtime_failure)?,
        )
    } else {
        None
    };
    let mut builder = match tuning.runtime {
        RuntimeFlavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        RuntimeFlavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .thread_name("coyote")
        .build()
        .context("cannot start the async runtime")
        .map_err(runtime_failure)?;
    let notifier = Notifier::from_socket_name(std::env::var_os("NOTIFY_SOCKET"))
        .context("NOTIFY_SOCKET is not a usable socket name")
        .map_err(runtime_failure)?;
    // Removed when this function returns, whatever the outcome.
    let _pid_file = pid_path.map(PidFile::create).transpose()?;
    let lifecycle = Lifecycle::new().with_report(report).with_notifier(notifier);
    let result = runtime.block_on(plan.run(lifecycle, shards.clone()));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    // Plugins have stopped inside `run`: nothing runs on the shards any
    // more.
    if let Some(shards) = shards {
        shards.stop();
    }
    result.map_err(runtime_failure)
}

/// Which tokio scheduler runs the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuntimeFlavor {
    /// One thread: on 1-2 CPUs the PHP workers need the other core, and
    /// one thread saves the cross-thread wakeups (measured in BENCHMARKS.md).
    CurrentThread,
    /// A thread per CPU.
    MultiThread,
}

/// Process-level tuning, read from the environment like Go's GOMAXPROCS
/// (RoadRunner users tune `rr` the same way).
#[derive(Debug)]
struct Tuning {
    runtime: RuntimeFlavor,
    batch_scheduling: bool,
    /// Event-loop shards for pools over pipes (1 = none).
    shards: usize,
}

impl Tuning {
    /// `COYOTE_RUNTIME=current|multi` (default: current on <= 2 CPUs,
    /// cgroup limits included, unless the config runs `jobs`);
    /// `COYOTE_SCHED=batch|normal` (default: batch when the config serves
    /// `http`, normal otherwise); `COYOTE_SHARDS=N` (default: one per CPU;
    /// 1 turns sharding off).
    ///
    /// The jobs pollers run on the main event loop (HTTP's pipe pools run
    /// on the shards): with one thread there, a 2-consumer drain on 2 CPUs
    /// measured 20-29k jobs/s against 40-48k with a thread per CPU and a
    /// 41-58k pool ceiling (bench/jobs, BENCHMARKS.md), so a config with
    /// `jobs` gets the multi-threaded main loop.
    ///
    /// SCHED_BATCH is the default only where it was measured to pay, an
    /// HTTP pool handing requests to PHP workers over pipes (+15-20 %
    /// req/s). A batch process woken by a socket (an RPC call, a Redis
    /// reply) does not preempt what runs on a busy CPU and can wait for
    /// the next scheduler tick (4 ms at 250 Hz); on the kv bench over the
    /// redis driver the MGet(10) p99 was 7.6-7.7 ms with it and 3.0-4.3 ms
    /// without, on a loaded 2-CPU machine where the memory driver's p99
    /// went the other way (bench/results/kv-2026-12-03.txt): no gain was
    /// shown for RPC-only configs, so they keep the normal scheduler.
    fn from_env(runs_jobs: bool, serves_http: bool) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let runtime = match std::env::var("COYOTE_RUNTIME").as_deref() {
            Ok("current") => RuntimeFlavor::CurrentThread,
            Ok("multi") => RuntimeFlavor::MultiThread,
            _ if cpus <= 2 && !runs_jobs => RuntimeFlavor::CurrentThread,
            _ => RuntimeFlavor::MultiThread,
        };
        let batch_scheduling = match std::env::var("COYOTE_SCHED").as_deref() {
            Ok("batch") => true,
            Ok("normal") => false,
            _ => serves_http,
        };
        let shards = std::env::var("COYOTE_SHARDS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(cpus)
            .max(1);
        Self {
            runtime,
            batch_scheduling,
            shards,
        }
    }
}

/// Puts the server (and so the workers it forks, which inherit it) in
/// SCHED_BATCH: a woken process then does not preempt the one that woke
/// it, so the server hands a request to a worker and carries on with its
/// other ready connections instead of being switched out on every pipe
/// write. Niceness is unchanged. Measured +15-20 % requests/s and a lower
/// p99 on a 2-CPU VM (BENCHMARKS.md); failure only costs that gain.
fn batch_scheduling() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads `param` (a valid, initialised
    // struct that outlives the call) and touches no memory of ours; pid 0
    // is the calling thread; threads and processes it creates later
    // (the runtime, the PHP workers) inherit the policy. A small
    // libc call rather than the thread-priority crate, which also
    // rewrites the niceness.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc != 0 {
        tracing::debug!(target: "coyote::server", error = %std::io::Error::last_os_error(),
            "SCHED_BATCH not available; keeping the default scheduler");
    }
}
