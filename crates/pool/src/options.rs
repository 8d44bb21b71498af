//! Plain option structs for a pool. The server turns `.rr.yaml` sections into
//! these; the library never sees YAML.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How the server and its workers exchange frames.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RelayAddress {
    /// The worker's stdin and stdout (RoadRunner's default, `pipes`).
    #[default]
    Pipes,
    /// The pool listens on this TCP address; workers connect to it.
    Tcp(String),
    /// The pool listens on this unix socket path; workers connect to it.
    Unix(PathBuf),
}

impl RelayAddress {
    /// Parses RoadRunner's relay strings: `pipes`, `tcp://host:port`,
    /// `unix:///path` (a bare `host:port` is accepted as TCP, as RR does).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if value == "pipes" || value.is_empty() {
            Some(Self::Pipes)
        } else if let Some(rest) = value.strip_prefix("tcp://") {
            (!rest.is_empty()).then(|| Self::Tcp(rest.to_owned()))
        } else if let Some(rest) = value.strip_prefix("unix://") {
            (!rest.is_empty()).then(|| Self::Unix(PathBuf::from(rest)))
        } else if value.contains(':') && !value.contains('/') {
            Some(Self::Tcp(value.to_owned()))
        } else {
            None
        }
    }

    /// The string handed to workers in `RR_RELAY`.
    pub fn to_env(&self, bound: Option<&str>) -> String {
        match self {
            Self::Pipes => "pipes".to_owned(),
            Self::Tcp(addr) => format!("tcp://{}", bound.unwrap_or(addr)),
            Self::Unix(path) => format!("unix://{}", path.display()),
        }
    }
}

/// What to run for each worker and in which environment.
#[derive(Clone, Debug, Default)]
pub struct WorkerCommand {
    /// Program and arguments, run without a shell (the pid that answers the
    /// handshake must be the process the pool spawned).
    pub argv: Vec<String>,
    /// Extra environment, applied after the inherited one and after
    /// `RR_RELAY`/`RR_RPC`, before `RR_VERSION` and `RR_MODE` (RR's order).
    pub env: BTreeMap<String, String>,
    /// Working directory; the server's own when `None`.
    pub cwd: Option<PathBuf>,
    /// Run the worker as this uid/gid (needs root).
    pub user: Option<(u32, u32)>,
    /// `RR_MODE`: the plugin the worker serves (`http`, `jobs`, ...).
    pub mode: String,
    /// `RR_RPC`: where the worker finds the RPC server, when there is one.
    pub rpc: Option<String>,
    /// `RR_VERSION`.
    pub version: String,
}

impl WorkerCommand {
    /// A command from whitespace-separated words (Go's `strings.Fields`).
    pub fn from_line(line: &str) -> Self {
        Self {
            argv: line.split_whitespace().map(str::to_owned).collect(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Self::default()
        }
    }

    /// Sets `RR_MODE`.
    pub fn mode(mut self, mode: &str) -> Self {
        mode.clone_into(&mut self.mode);
        self
    }

    /// Adds one environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }
}

/// Limits checked by the supervisor every `watch_tick` (RoadRunner's
/// `supervisor` section). Zero means "no limit".
#[derive(Clone, Debug)]
pub struct SupervisorOptions {
    /// How often soft limits are checked.
    pub watch_tick: Duration,
    /// Soft: a worker older than this is replaced after its current job.
    pub ttl: Duration,
    /// Soft: a worker idle this long (after at least one job) is replaced.
    pub idle_ttl: Duration,
    /// Soft: RSS in bytes above which a worker is replaced after its job.
    pub max_worker_memory: u64,
    /// Hard: one execution longer than this kills the worker and fails it.
    pub exec_ttl: Duration,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        Self {
            watch_tick: Duration::from_secs(5),
            ttl: Duration::ZERO,
            idle_ttl: Duration::ZERO,
            max_worker_memory: 0,
            exec_ttl: Duration::ZERO,
        }
    }
}

/// Extra workers started while requests wait (`dynamic_allocator`).
#[derive(Clone, Debug)]
pub struct DynamicOptions {
    /// Most extra workers above `num_workers`.
    pub max_workers: usize,
    /// Extra workers added per allocation miss (at most once a second).
    pub spawn_rate: usize,
    /// Extra workers are removed after this long without an allocation miss.
    pub idle_timeout: Duration,
}

impl Default for DynamicOptions {
    fn default() -> Self {
        Self {
            max_workers: 10,
            spawn_rate: 5,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Everything a pool needs, with RoadRunner's defaults.
#[derive(Clone, Debug)]
pub struct PoolOptions {
    /// Name used in logs and by the informer (`http`, `jobs`, ...).
    pub name: String,
    /// What to run.
    pub command: WorkerCommand,
    /// How frames travel.
    pub relay: RelayAddress,
    /// Static pool size; 0 means the CPUs available to this process
    /// (cgroup quota included).
    pub num_workers: usize,
    /// Executions before a worker is replaced (0 = unlimited); each worker
    /// gets 0-14 % jitter so they do not all restart together.
    pub max_jobs: u64,
    /// Requests allowed to wait for a worker (0 = unlimited).
    pub max_queue_size: usize,
    /// Wait for a free worker; also the spawn + handshake deadline.
    pub allocate_timeout: Duration,
    /// tcp / unix relays: how long a started worker may take to connect
    /// (RoadRunner's older `server.relay_timeout`); `None` = allocate_timeout.
    pub relay_timeout: Option<Duration>,
    /// Grace for a worker to exit after the stop frame before SIGKILL.
    pub destroy_timeout: Duration,
    /// Bound for a whole [`crate::Pool::reset`].
    pub reset_timeout: Duration,
    /// Wait between frames of a streamed response, and for the rest of a
    /// frame once its header has arrived.
    pub stream_timeout: Duration,
    /// A fresh worker per execution (development mode).
    pub debug: bool,
    /// Soft and hard limits.
    pub supervisor: SupervisorOptions,
    /// Extra workers under load, when set.
    pub dynamic: Option<DynamicOptions>,
    /// Largest frame payload accepted from a worker.
    pub max_frame_payload: usize,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            name: "pool".to_owned(),
            command: WorkerCommand::default(),
            relay: RelayAddress::Pipes,
            num_workers: 0,
            max_jobs: 0,
            max_queue_size: 0,
            allocate_timeout: Duration::from_secs(60),
            relay_timeout: None,
            destroy_timeout: Duration::from_secs(60),
            reset_timeout: Duration::from_secs(60),
            stream_timeout: Duration::from_secs(60),
            debug: false,
            supervisor: SupervisorOptions::default(),
            dynamic: None,
            max_frame_payload: goridge::DEFAULT_MAX_PAYLOAD,
        }
    }
}

impl PoolOptions {
    /// The most workers `informer.AddWorker` may grow the static size to:
    /// `num_workers` plus the dynamic allocator's `max_workers`, or twice
    /// `num_workers` without one (RoadRunner has no ceiling; 40 calls gave
    /// 44 workers).
    pub fn max_static_workers(&self) -> usize {
        let base = self.effective_workers().max(1);
        match &self.dynamic {
            Some(d) => base.saturating_add(d.max_workers),
            None => base.saturating_mul(2),
        }
    }

    /// The static size this pool keeps, `num_workers` resolved.
    pub fn effective_workers(&self) -> usize {
        if self.debug {
            0
        } else if self.num_workers == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            self.num_workers
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relay_strings() {
        assert_eq!(RelayAddress::parse("pipes"), Some(RelayAddress::Pipes));
        assert_eq!(
            RelayAddress::parse("tcp://127.0.0.1:6002"),
            Some(RelayAddress::Tcp("127.0.0.1:6002".into()))
        );
        assert_eq!(
            RelayAddress::parse("127.0.0.1:6002"),
            Some(RelayAddress::Tcp("127.0.0.1:6002".into()))
        );
        assert_eq!(
            RelayAddress::parse("unix:///tmp/rr.sock"),
            Some(RelayAddress::Unix("/tmp/rr.sock".into()))
        );
        assert_eq!(RelayAddress::parse("udp://x"), None);
        assert_eq!(RelayAddress::parse("tcp://"), None);
    }

    #[test]
    fn zero_workers_means_cpus_and_debug_means_none() {
        let opts = PoolOptions::default();
        assert!(opts.effective_workers() >= 1);
        let opts = PoolOptions {
            debug: true,
            num_workers: 4,
            ..PoolOptions::default()
        };
        assert_eq!(opts.effective_workers(), 0);
    }

    #[test]
    fn command_line_splits_like_go_fields() {
        let cmd = WorkerCommand::from_line("  php  -d memory_limit=1G worker.php ");
        assert_eq!(cmd.argv, ["php", "-d", "memory_limit=1G", "worker.php"]);
    }
}
