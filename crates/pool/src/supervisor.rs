//! The pool's one background task: keeps the pool at its size (replacing
//! dead and retired workers, with backoff when they crash at boot), stops
//! retired workers gracefully, drains abandoned ones, applies the soft
//! limits every `watch_tick`, runs the dynamic allocator and rolling resets.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::PoolError;
use crate::pool::{lock, Inner};
use crate::worker::{Worker, WorkerStatus};

/// Messages to the supervisor.
pub(crate) enum Event {
    /// A worker process exited (any reason).
    Exited(u64),
    /// A worker must leave: stop it gracefully and replace it.
    Retire(Worker),
    /// A caller dropped its execution midway: drain the worker, then reuse.
    /// The flag says whether the answer was a stream (then it gets STOP).
    Abandoned(Worker, bool),
    /// A spawn on this home finished.
    Spawned(usize, Result<Worker, PoolError>),
    /// A caller found no idle worker (dynamic allocator input).
    Starved,
    /// Replace every worker older than this generation.
    Reset(u64, oneshot::Sender<()>),
    /// Change the static size by this many workers.
    Resize(isize),
}

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

struct Supervisor {
    pool: Weak<Inner>,
    /// Spawns under way, by home.
    spawning: Vec<usize>,
    failures: u32,
    next_spawn: Instant,
    extras: usize,
    last_starved: Instant,
    last_growth: Option<Instant>,
    resets: Vec<(u64, oneshot::Sender<()>)>,
    /// Until the initial workers are all up: how `Pool::start` learns
    /// that they are, or why one could not start.
    ready: Option<oneshot::Sender<Result<(), PoolError>>>,
    /// An initial worker failed: the pool is being torn down.
    boot_failed: bool,
}

pub(crate) async fn run(
    pool: Weak<Inner>,
    mut events: mpsc::UnboundedReceiver<Event>,
    cancel: CancellationToken,
    ready: oneshot::Sender<Result<(), PoolError>>,
) {
    let Some(inner) = pool.upgrade() else { return };
    let tick = inner
        .opts
        .supervisor
        .watch_tick
        .max(Duration::from_millis(10));
    let homes = inner.homes();
    drop(inner);
    let mut sup = Supervisor {
        pool,
        spawning: vec![0; homes],
        failures: 0,
        next_spawn: Instant::now(),
        extras: 0,
        last_starved: Instant::now(),
        last_growth: None,
        resets: Vec::new(),
        ready: Some(ready),
        boot_failed: false,
    };
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sup.reconcile();
    loop {
        let wake_for_spawn = sup.next_spawn;
        tokio::select! {
            () = cancel.cancelled() => break,
            event = events.recv() => match event {
                Some(event) => sup.handle(event),
                None => break,
            },
            _ = ticker.tick() => sup.tick(),
            () = tokio::time::sleep_until(wake_for_spawn), if sup.failures > 0 => {}
        }
        if sup.pool.strong_count() == 0 || sup.boot_failed {
            break;
        }
        sup.reconcile();
    }
    // Shutting down: whatever is still queued dies with its process.
    events.close();
    while let Ok(event) = events.try_recv() {
        match event {
            Event::Retire(worker) | Event::Abandoned(worker, _) | Event::Spawned(_, Ok(worker)) => {
                worker.state.kill_now();
            }
            _ => {}
        }
    }
}

impl Supervisor {
    fn handle(&mut self, event: Event) {
        let Some(inner) = self.pool.upgrade() else {
            return;
        };
        match event {
            Event::Exited(id) => {
                if let Some(state) = inner.unregister(id) {
                    if !state.is_retiring() && !inner.stopping.load(Ordering::Acquire) {
                        tracing::warn!(pool = %inner.opts.name, pid = state.pid,
                            status = state.exit_status().unwrap_or_default(),
                            "worker exited unexpectedly; replacing it");
                        state.set_status(WorkerStatus::Errored);
                    }
                    if state.status() == WorkerStatus::Stopping {
                        state.set_status(WorkerStatus::Stopped);
                    }
                    // Drop dead workers from the idle list right away.
                    drop(lock(&inner.queue).idle.take_where(|w| w.state.has_exited()));
                }
                self.count_live(&inner);
            }
            Event::Retire(worker) => {
                self.count_live(&inner);
                stop_worker(&inner, worker);
            }
            Event::Abandoned(worker, streaming) => drain_worker(&inner, worker, streaming),
            Event::Spawned(home, result) => {
                if let Some(n) = self.spawning.get_mut(home) {
                    *n = n.saturating_sub(1);
                }
                match result {
                    Ok(worker) => {
                        self.failures = 0;
                        inner.register(&worker);
                        let stale = worker.state.generation
                            < inner.generation.load(Ordering::Acquire)
                            || inner.stopping.load(Ordering::Acquire);
                        if stale {
                            inner.retire(worker, Some(WorkerStatus::Stopping));
                        } else {
                            inner.release(worker);
                        }
                        self.count_live(&inner);
                    }
                    Err(e) if self.ready.is_some() => {
                        // An initial worker: fail the start (RoadRunner
                        // does too) instead of retrying a broken command.
                        if let Some(ready) = self.ready.take() {
                            let _ = ready.send(Err(e));
                        }
                        self.boot_failed = true;
                    }
                    Err(e) => {
                        self.failures = self.failures.saturating_add(1);
                        let backoff = BACKOFF_START
                            .saturating_mul(1u32 << self.failures.min(16).saturating_sub(1))
                            .min(BACKOFF_MAX);
                        self.next_spawn = Instant::now() + backoff;
                        tracing::error!(pool = %inner.opts.name, error = %e, attempt = self.failures,
                            retry_in = ?backoff, "worker failed to start");
                    }
                }
            }
            Event::Starved => self.grow(&inner),
            Event::Reset(generation, done) => {
                tracing::info!(pool = %inner.opts.name, "rolling reset of all workers");
                self.resets.push((generation, done));
            }
            Event::Resize(delta) => {
                let target = inner.target.load(Ordering::Relaxed);
                // Never below one worker, never above the ceiling.
                let new = target
                    .saturating_add_signed(delta)
                    .clamp(1, inner.opts.max_static_workers().max(target));
                inner.target.store(new, Ordering::Relaxed);
                if new < target {
                    shrink_idle(&inner, target - new);
                }
            }
        }
    }

    /// Current-generation workers that will stay in service, by home.
    fn live_by_home(&self, inner: &Inner) -> Vec<usize> {
        let generation = inner.generation.load(Ordering::Acquire);
        let mut per_home = vec![0; self.spawning.len()];
        for state in lock(&inner.registry).values() {
            if state.generation == generation && !state.is_retiring() && !state.has_exited() {
                if let Some(n) = per_home.get_mut(state.home) {
                    *n += 1;
                }
            }
        }
        per_home
    }

    /// Recounts current-generation workers that will stay in service.
    fn count_live(&self, inner: &Inner) -> usize {
        let live = self.live_by_home(inner).iter().sum();
        inner.current_live.store(live, Ordering::Release);
        live
    }

    /// Brings the pool to its target size and finishes resets.
    fn reconcile(&mut self) {
        let Some(inner) = self.pool.upgrade() else {
            return;
        };
        if inner.stopping.load(Ordering::Acquire) || self.boot_failed {
            return;
        }
        let live = self.count_live(&inner);
        let target = inner.target.load(Ordering::Relaxed);
        let generation = inner.generation.load(Ordering::Acquire);
        let spawning: usize = self.spawning.iter().sum();
        let missing = target.saturating_sub(live + spawning);
        if missing > 0 && Instant::now() >= self.next_spawn {
            // After a failed start, probe with one worker at a time so a
            // script that crashes at boot costs one process per backoff step.
            let n = if self.failures > 0 {
                usize::from(spawning == 0)
            } else {
                missing
            };
            let per_home = self.live_by_home(&inner);
            for _ in 0..n {
                // The home with the fewest workers, so shards stay even.
                let home = (0..per_home.len())
                    .min_by_key(|&h| per_home[h] + self.spawning[h])
                    .unwrap_or(0);
                self.spawning[home] += 1;
                let pool = self.pool.clone();
                inner.spawn_at(home, async move {
                    let Some(inner) = pool.upgrade() else { return };
                    let result = inner.spawner.spawn(generation, home).await;
                    let _ = inner.events.send(Event::Spawned(home, result));
                });
            }
        }
        if live >= target {
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(Ok(()));
            }
            // Enough new workers: old idle ones can go now.
            let old = lock(&inner.queue)
                .idle
                .take_where(|w| w.state.generation < generation);
            for worker in old {
                inner.retire(worker, Some(WorkerStatus::Stopping));
            }
        }
        if !self.resets.is_empty() {
            let oldest = lock(&inner.registry).values().map(|s| s.generation).min();
            let pending = std::mem::take(&mut self.resets);
            for (g, done) in pending {
                if live < target || oldest.is_some_and(|o| o < g) {
                    self.resets.push((g, done));
                } else {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Dynamic allocator: a caller waited, so add up to `spawn_rate`
    /// workers (at most once a second, at most `max_workers` extras).
    fn grow(&mut self, inner: &Inner) {
        inner.starved.store(false, Ordering::Relaxed);
        let Some(dynamic) = &inner.opts.dynamic else {
            return;
        };
        self.last_starved = Instant::now();
        let recently = self
            .last_growth
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
        if recently || self.extras >= dynamic.max_workers {
            return;
        }
        let n = dynamic
            .spawn_rate
            .min(dynamic.max_workers - self.extras)
            .max(1);
        self.extras += n;
        inner.target.fetch_add(n, Ordering::Relaxed);
        self.last_growth = Some(Instant::now());
        tracing::debug!(pool = %inner.opts.name, added = n, extras = self.extras, "dynamic allocator adds workers");
    }

    /// Applies soft limits and removes idle dynamic extras.
    fn tick(&mut self) {
        let Some(inner) = self.pool.upgrade() else {
            return;
        };
        let limits = &inner.opts.supervisor;
        let states: Vec<_> = lock(&inner.registry).values().cloned().collect();
        for state in states {
            if state.has_exited() || state.is_retiring() {
                continue;
            }
            let why = if !limits.ttl.is_zero() && state.created.elapsed() >= limits.ttl {
                Some(WorkerStatus::TtlReached)
            } else if !limits.idle_ttl.is_zero()
                && state.status() == WorkerStatus::Ready
                && state.idle_for().is_some_and(|idle| idle >= limits.idle_ttl)
            {
                Some(WorkerStatus::IdleTtlReached)
            } else if limits.max_worker_memory > 0
                && crate::stats::rss_bytes(state.pid).unwrap_or(0) > limits.max_worker_memory
            {
                Some(WorkerStatus::MaxMemoryReached)
            } else {
                None
            };
            if let Some(why) = why {
                tracing::info!(pool = %inner.opts.name, pid = state.pid, reason = why.as_str(),
                    "retiring worker");
                state.retire(why);
            }
        }
        // Idle workers marked above leave now; busy ones when released. So
        // do idle ones that wrote to stdout since their last answer (also
        // caught when a caller takes them; here they are replaced sooner).
        let marked = lock(&inner.queue)
            .idle
            .take_where(|w| w.state.is_retiring() || w.wrote_stray_output());
        for worker in marked {
            stop_worker(&inner, worker);
        }
        if let Some(dynamic) = &inner.opts.dynamic {
            if self.extras > 0 && self.last_starved.elapsed() >= dynamic.idle_timeout {
                let n = dynamic.spawn_rate.min(self.extras).max(1);
                self.extras -= n;
                inner.target.fetch_sub(n, Ordering::Relaxed);
                shrink_idle(&inner, n);
                self.last_starved = Instant::now();
            }
        }
    }
}

/// Stops up to `n` idle workers, least recently used first.
fn shrink_idle(inner: &Inner, n: usize) {
    let victims = lock(&inner.queue).idle.take_least_recent(n);
    for worker in victims {
        worker.state.retire(WorkerStatus::Stopping);
        stop_worker(inner, worker);
    }
}

/// Sends the stop frame and kills the worker if it is still alive after
/// `destroy_timeout`.
fn stop_worker(inner: &Inner, mut worker: Worker) {
    let grace = inner.opts.destroy_timeout;
    if worker.state.has_exited() {
        return;
    }
    inner.spawn_at(worker.state.home, async move {
        let state = worker.state.clone();
        if worker.send_stop().await {
            if state.status() == WorkerStatus::Invalid {
                state.set_status(WorkerStatus::Stopping);
            }
            // Keep the relay open while the worker winds down: closing its
            // stdin early would look like a crash to some clients.
            if tokio::time::timeout(grace, state.exited()).await.is_ok() {
                return;
            }
            tracing::warn!(
                pid = state.pid,
                ?grace,
                "worker ignored the stop frame; killing it"
            );
        }
        state.kill_now();
        drop(worker);
    });
}

/// Finishes an execution whose caller went away: for a stream, ask the
/// worker to stop; then read until the answer's last frame, bounded by
/// `stream_timeout` (or exec_ttl), and put the worker back in service.
fn drain_worker(inner: &Arc<Inner>, mut worker: Worker, streaming: bool) {
    let pool = Arc::downgrade(inner);
    let opts = &inner.opts;
    let per_frame = if opts.supervisor.exec_ttl.is_zero() {
        opts.stream_timeout
    } else {
        opts.supervisor.exec_ttl
    };
    inner.spawn_at(worker.state.home, async move {
        let pid = worker.pid();
        let drained = async {
            // STOP only means something inside a stream; a worker still
            // computing a plain answer is simply waited for.
            if streaming
                && worker
                    .send_stream_control(goridge::flags::STOP)
                    .await
                    .is_err()
            {
                return false;
            }
            loop {
                match tokio::time::timeout(per_frame, worker.next_stream_frame()).await {
                    Ok(Ok(frame)) if frame.more => continue,
                    Ok(Ok(_)) | Ok(Err(PoolError::Job { .. })) => return true,
                    Ok(Err(_)) | Err(_) => return false,
                }
            }
        }
        .await;
        match pool.upgrade() {
            Some(inner) if drained => {
                worker.finished();
                inner.release(worker);
            }
            _ => {
                tracing::warn!(
                    pid,
                    "could not drain an abandoned execution; killing the worker"
                );
                worker.state.retire(WorkerStatus::Errored);
                worker.state.kill_now();
            }
        }
    });
}
