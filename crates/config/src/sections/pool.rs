//! `pool`: the worker pool block used inside `http`, `jobs`, `grpc`, `tcp`, ...

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use serde::Deserialize;

use crate::error::ProblemKind;
use crate::validate::Validator;

/// RoadRunner refuses pools larger than this.
pub const MAX_NUM_WORKERS: u64 = 500;
/// `dynamic_allocator.max_workers` is capped at this (silently in RR).
pub const MAX_DYNAMIC_WORKERS: u64 = 100;
/// `dynamic_allocator.spawn_rate` is capped at this.
pub const MAX_SPAWN_RATE: u64 = 100;

const MINUTE: Duration = Duration::from_secs(60);

/// A worker pool (`<plugin>.pool`), with RoadRunner's defaults. A zero
/// timeout in the file means "the default", as in RoadRunner.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct PoolConfig {
    /// Overrides `server.command` for this pool only.
    #[serde(deserialize_with = "crate::fields::de_opt_command")]
    pub command: Option<Vec<String>>,
    /// Static pool size; 0 means the number of CPUs. At most 500.
    pub num_workers: u64,
    /// Executions before a worker is replaced; 0 is unlimited.
    pub max_jobs: u64,
    /// Requests allowed to wait for a worker; 0 is unlimited.
    pub max_queue_size: u64,
    /// Wait for a free worker (also the spawn + handshake deadline). 60s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub allocate_timeout: Duration,
    /// Grace for a worker to stop before it is killed. 60s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub destroy_timeout: Duration,
    /// Bound for a reset of the whole pool. 60s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub reset_timeout: Duration,
    /// Wait between frames of a streamed response. 60s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub stream_timeout: Duration,
    /// A fresh worker per request (forces `num_workers: 0`, `max_jobs: 1`).
    pub debug: bool,
    /// Worker limits; `None` (the section absent) means no supervision.
    pub supervisor: Option<SupervisorConfig>,
    /// Extra workers under load; `None` (absent) means disabled.
    pub dynamic_allocator: Option<DynamicAllocatorConfig>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            command: None,
            num_workers: 0,
            max_jobs: 0,
            max_queue_size: 0,
            allocate_timeout: MINUTE,
            destroy_timeout: MINUTE,
            reset_timeout: MINUTE,
            stream_timeout: MINUTE,
            debug: false,
            supervisor: None,
            dynamic_allocator: None,
        }
    }
}

impl PoolConfig {
    /// The static number of workers, `None` meaning "one per CPU".
    pub fn num_workers(&self) -> Option<NonZeroUsize> {
        usize::try_from(self.num_workers)
            .ok()
            .and_then(NonZeroUsize::new)
    }

    /// The execution limit per worker, `None` meaning unlimited.
    pub fn max_jobs(&self) -> Option<NonZeroU64> {
        NonZeroU64::new(self.max_jobs)
    }

    pub(crate) fn check(&mut self, v: &mut Validator<'_>, path: &str) {
        if self.num_workers > MAX_NUM_WORKERS {
            v.error(
                ProblemKind::Invalid,
                &format!("{path}.num_workers"),
                format!(
                    "{} workers requested; RoadRunner allows at most {MAX_NUM_WORKERS}",
                    self.num_workers
                ),
            );
        }
        for t in [
            &mut self.allocate_timeout,
            &mut self.destroy_timeout,
            &mut self.reset_timeout,
            &mut self.stream_timeout,
        ] {
            if t.is_zero() {
                *t = MINUTE;
            }
        }
        if let Some(sup) = &mut self.supervisor {
            if sup.watch_tick.is_zero() {
                sup.watch_tick = Duration::from_secs(5);
            }
        }
        if let Some(dynamic) = &mut self.dynamic_allocator {
            if self.debug {
                v.warn(
                    &format!("{path}.dynamic_allocator"),
                    "ignored: the pool is in debug mode",
                );
            }
            dynamic.check(v, &format!("{path}.dynamic_allocator"));
        }
    }
}

/// Limits checked every `watch_tick` (`pool.supervisor`). Zero disables a
/// limit.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct SupervisorConfig {
    /// How often the limits are checked. 5s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub watch_tick: Duration,
    /// Soft: maximum worker lifetime (replaced after its current job).
    #[serde(deserialize_with = "crate::duration::de")]
    pub ttl: Duration,
    /// Soft: maximum idle time of a worker that has served at least once.
    #[serde(deserialize_with = "crate::duration::de")]
    pub idle_ttl: Duration,
    /// Soft: maximum RSS of a worker, in MB.
    pub max_worker_memory: u64,
    /// Hard: maximum time of one execution (the worker is killed).
    #[serde(deserialize_with = "crate::duration::de")]
    pub exec_ttl: Duration,
}

impl Default for SupervisorConfig {
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

impl SupervisorConfig {
    /// `max_worker_memory` in bytes (MB × 1024²), `None` when unlimited.
    pub fn max_worker_memory_bytes(&self) -> Option<NonZeroU64> {
        NonZeroU64::new(self.max_worker_memory.saturating_mul(1024 * 1024))
    }
}

/// Extra workers started while requests wait (`pool.dynamic_allocator`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct DynamicAllocatorConfig {
    /// Most extra workers above `num_workers`. 10, capped at 100.
    pub max_workers: u64,
    /// Workers added per allocation miss. 5, capped at 100.
    pub spawn_rate: u64,
    /// Extra workers are removed after this long without a miss. 60s;
    /// below 1s it is reset to 60s, as RoadRunner does.
    #[serde(deserialize_with = "crate::duration::de")]
    pub idle_timeout: Duration,
}

impl Default for DynamicAllocatorConfig {
    fn default() -> Self {
        Self {
            max_workers: 10,
            spawn_rate: 5,
            idle_timeout: MINUTE,
        }
    }
}

impl DynamicAllocatorConfig {
    fn check(&mut self, v: &mut Validator<'_>, path: &str) {
        if self.max_workers == 0 {
            self.max_workers = 10;
        }
        if self.max_workers > MAX_DYNAMIC_WORKERS {
            v.warn(
                &format!("{path}.max_workers"),
                format!(
                    "{} is above the limit; using {MAX_DYNAMIC_WORKERS}",
                    self.max_workers
                ),
            );
            self.max_workers = MAX_DYNAMIC_WORKERS;
        }
        if self.spawn_rate == 0 {
            self.spawn_rate = 5;
        }
        if self.spawn_rate > MAX_SPAWN_RATE {
            v.warn(
                &format!("{path}.spawn_rate"),
                format!(
                    "{} is above the limit; using {MAX_SPAWN_RATE}",
                    self.spawn_rate
                ),
            );
            self.spawn_rate = MAX_SPAWN_RATE;
        }
        if self.idle_timeout < Duration::from_secs(1) {
            if !self.idle_timeout.is_zero() {
                v.warn(
                    &format!("{path}.idle_timeout"),
                    format!(
                        "{:?} is below the 1s minimum; using 60s as RoadRunner does",
                        self.idle_timeout
                    ),
                );
            }
            self.idle_timeout = MINUTE;
        }
    }
}
