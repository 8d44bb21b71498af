//! Event-loop shards: one single-threaded runtime per CPU, each the home
//! of the workers it spawned.
//!
//! Why: on a request's hot path the costly part is not Rust code but
//! process wakeups. One event loop for all connections and workers makes
//! that loop the point every wakeup goes through; two threads sharing
//! one pool's I/O would wake each other for every request. A shard runs
//! connections *and* the workers those connections use on one thread: a
//! request never leaves its thread, and the shards run side by side
//! without touching each other (measured: 1.6-1.7x the requests/s of one
//! event loop on 2 CPUs, see BENCHMARKS.md). The kernel still places the
//! threads and the worker processes freely; nothing is pinned.
//!
//! A pool started with [`crate::Pool::start_sharded`] spreads its workers
//! over the shards and gives a caller a worker of its own shard first;
//! work from anywhere else (or when the caller's shard has no idle
//! worker) still runs on any worker, only with a cross-thread hop.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

thread_local! {
    /// The shard set and index the calling thread belongs to, if any.
    static CURRENT: Cell<Option<(u64, usize)>> = const { Cell::new(None) };
}

static NEXT_SET: AtomicU64 = AtomicU64::new(1);

/// A set of event-loop threads (see the module doc). Cloning is cheap and
/// shares the set; [`Shards::stop`] ends the threads.
#[derive(Clone)]
pub struct Shards {
    inner: Arc<Inner>,
}

struct Inner {
    id: u64,
    handles: Vec<Handle>,
    /// The CPU each shard is pinned to, when pinned.
    cpus: Vec<Option<usize>>,
    stop: CancellationToken,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shards {
    /// Starts `count` (at least one) threads, each running a
    /// current-thread tokio runtime with I/O and timers.
    pub fn start(count: usize) -> std::io::Result<Self> {
        let id = NEXT_SET.fetch_add(1, Ordering::Relaxed);
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        let count = count.max(1);
        let allowed = allowed_cpus();
        let cpus: Vec<Option<usize>> = (0..count)
            .map(|i| (count <= allowed.len()).then(|| allowed[i]))
            .collect();
        let started = (0..count).try_for_each(|index| {
            let cpu = cpus[index];
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("coyote-shard-{index}"))
                .spawn(move || {
                    CURRENT.set(Some((id, index)));
                    if let Some(cpu) = cpu {
                        pin_to(cpu);
                    }
                    runtime.block_on(stop.cancelled());
                    // After an orderly stop nothing is left here; anything
                    // that is gets a moment, then is dropped.
                    runtime.shutdown_timeout(Duration::from_secs(1));
                })?;
            threads.push(thread);
            Ok::<(), std::io::Error>(())
        });
        if let Err(e) = started {
            stop.cancel();
            return Err(e);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                handles,
                cpus,
                stop,
                threads: Mutex::new(threads),
            }),
        })
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.inner.handles.len()
    }

    /// Always false: a set has at least one shard.
    pub fn is_empty(&self) -> bool {
        self.inner.handles.is_empty()
    }

    /// The runtime of shard `index` (taken modulo the number of shards),
    /// to spawn work there.
    pub fn handle(&self, index: usize) -> &Handle {
        &self.inner.handles[index % self.inner.handles.len()]
    }

    /// The shard pinned to `cpu`, if any: a connection whose packets
    /// arrive on that CPU is best served there.
    pub fn on_cpu(&self, cpu: usize) -> Option<usize> {
        self.inner.cpus.iter().position(|c| *c == Some(cpu))
    }

    /// The index of the shard the calling thread runs, if it is one of
    /// this set's.
    pub fn current(&self) -> Option<usize> {
        CURRENT
            .get()
            .and_then(|(set, index)| (set == self.inner.id).then_some(index))
    }

    /// Ends every shard thread and waits for them (blocking). Call it
    /// after the pools and listeners using the shards have stopped, and
    /// not from a shard thread.
    pub fn stop(&self) {
        self.inner.stop.cancel();
        let threads: Vec<_> = crate::pool::lock(&self.inner.threads).drain(..).collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// The CPUs this process may run on, in order.
fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{sched_getaffinity, CpuSet};
    let Ok(set) = sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return Vec::new();
    };
    (0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect()
}

/// Pins the calling thread (and so the worker processes it will fork,
/// which inherit the mask) to `cpu`. Failure only costs locality.
fn pin_to(cpu: usize) {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        if let Err(e) = sched_setaffinity(nix::unistd::Pid::from_raw(0), &set) {
            tracing::debug!(cpu, error = %e, "cannot pin the shard thread; it runs unpinned");
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone without stop(): let the threads end.
        self.stop.cancel();
    }
}

impl std::fmt::Debug for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_thread_knows_its_shard_and_only_of_its_own_set() {
        let a = Shards::start(2).unwrap();
        let b = Shards::start(1).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.current(), None);
        for index in 0..2 {
            let (a2, b2) = (a.clone(), b.clone());
            let seen = futures::executor::block_on(
                a.handle(index)
                    .spawn(async move { (a2.current(), b2.current()) }),
            )
            .unwrap();
            assert_eq!(seen, (Some(index), None));
        }
        a.stop();
        b.stop();
    }
}
