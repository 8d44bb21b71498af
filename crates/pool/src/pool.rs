//! The pool: hands idle workers to callers (FIFO for waiters), runs one
//! execution on the caller's own task (no relay task, no extra hop), and
//! gives workers back or to the supervisor for replacement.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::PoolError;
use crate::lease::Lease;
use crate::queue::Queue;
use crate::shards::Shards;
use crate::spawn::Spawner;
use crate::stream::ResponseStream;
use crate::supervisor::{self, Event};
use crate::worker::{Response, Worker, WorkerInfo, WorkerState, WorkerStatus};
use crate::PoolOptions;

/// What a caller sends to a worker: the context (RoadRunner's "header",
/// e.g. the HTTP request line and headers) and the body, with the codec
/// flag describing the context's encoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// Context bytes.
    pub context: Bytes,
    /// Body bytes.
    pub body: Bytes,
    /// Codec flags for the frame (`goridge::flags::CODEC_*`).
    pub codec: u8,
}

impl Payload {
    /// A payload with the given codec.
    pub fn new(codec: u8, context: impl Into<Bytes>, body: impl Into<Bytes>) -> Self {
        Self {
            context: context.into(),
            body: body.into(),
            codec,
        }
    }

    /// A raw-codec payload, as jobs and the benchmark use.
    pub fn raw(context: impl Into<Bytes>, body: impl Into<Bytes>) -> Self {
        Self::new(goridge::flags::CODEC_RAW, context, body)
    }
}

/// A supervised set of worker processes sharing one command.
///
/// Cloning is cheap and shares the pool. Executions run on the caller's
/// task: the caller takes an idle worker, writes the request and reads the
/// answer itself, so one execution costs two syscalls and one wakeup.
#[derive(Clone)]
pub struct Pool {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) opts: Arc<PoolOptions>,
    /// The event loops workers live on; `None`: the runtime that started
    /// the pool.
    shards: Option<Shards>,
    pub(crate) queue: Mutex<Queue>,
    /// Every live process of this pool, idle or busy, by worker id.
    pub(crate) registry: Mutex<HashMap<u64, Arc<WorkerState>>>,
    pub(crate) spawner: Spawner,
    pub(crate) events: mpsc::UnboundedSender<Event>,
    pub(crate) generation: AtomicU64,
    /// Workers of the current generation, neither retiring nor exited.
    pub(crate) current_live: AtomicUsize,
    /// Workers the pool aims to keep (static size + dynamic extras).
    pub(crate) target: AtomicUsize,
    pub(crate) processes: watch::Sender<usize>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) stopping: AtomicBool,
    /// Set when a caller had to wait; read by the dynamic allocator.
    pub(crate) starved: AtomicBool,
    /// Callers that had to wait for a worker, and their total wait (ns).
    waits: AtomicU64,
    waited_ns: AtomicU64,
    meter: crate::Meter,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Pool {
    /// Starts the pool and waits until its initial workers are up.
    ///
    /// Fails fast, as RoadRunner does, when the pool cannot work: an empty
    /// command or a relay address that cannot be bound
    /// ([`PoolError::Spawn`]), or any initial worker that cannot start:
    /// the program cannot be run, it exits before the handshake, writes
    /// something else instead, or sends nothing within `allocate_timeout`
    /// (`relay_timeout` for the connection on socket relays). Then the
    /// other workers are stopped and the error is a [`PoolError::Boot`]
    /// with the command, how the process ended and what it wrote.
    ///
    /// Once started, a worker that dies is replaced, with backoff while
    /// replacements keep failing. A `debug` pool starts no worker here.
    pub async fn start(opts: PoolOptions) -> Result<Self, PoolError> {
        Self::start_inner(opts, None).await
    }

    /// Like [`Pool::start`], with the workers spread over `shards` (see
    /// [`Shards`]): each worker is started by, and talks to, one shard's
    /// event loop, and callers on a shard get that shard's workers first.
    /// Meant for the pipes relay; socket relays work too, but their
    /// connections are accepted by the runtime calling this.
    pub async fn start_sharded(opts: PoolOptions, shards: Shards) -> Result<Self, PoolError> {
        Self::start_inner(opts, Some(shards)).await
    }

    async fn start_inner(opts: PoolOptions, shards: Option<Shards>) -> Result<Self, PoolError> {
        let opts = Arc::new(opts);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (events, rx) = mpsc::unbounded_channel();
        let spawner = Spawner::new(
            opts.clone(),
            tracker.clone(),
            cancel.clone(),
            events.clone(),
        )
        .await?;
        let target = opts.effective_workers();
        let homes = shards.as_ref().map_or(1, Shards::len);
        let inner = Arc::new(Inner {
            opts: opts.clone(),
            shards,
            queue: Mutex::new(Queue::new(homes, target)),
            registry: Mutex::default(),
            spawner,
            events,
            generation: AtomicU64::new(0),
            current_live: AtomicUsize::new(0),
            target: AtomicUsize::new(target),
            processes: watch::Sender::new(0),
            cancel: cancel.clone(),
            tracker: tracker.clone(),
            stopping: AtomicBool::new(false),
            starved: AtomicBool::new(false),
            waits: AtomicU64::new(0),
            waited_ns: AtomicU64::new(0),
            meter: crate::Meter::default(),
        });
        let (ready_tx, ready_rx) = oneshot::channel();
        tracker.spawn(supervisor::run(
            Arc::downgrade(&inner),
            rx,
            cancel,
            ready_tx,
        ));
        let started = ready_rx.await.unwrap_or_else(|_| Err(inner.stopped()));
        if let Err(e) = started {
            // No process of this pool outlives the failed start.
            inner.stopping.store(true, Ordering::Release);
            inner.cancel.cancel();
            inner.tracker.close();
            inner.tracker.wait().await;
            return Err(e);
        }
        Ok(Self { inner })
    }

    /// The pool's name (the plugin it serves).
    pub fn name(&self) -> &str {
        &self.inner.opts.name
    }

    /// The event-loop shards the workers are spread over, if any.
    pub fn shards(&self) -> Option<&Shards> {
        self.inner.shards.as_ref()
    }

    /// The options the pool was started with.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.opts
    }

    /// Sends `payload` to a worker and returns its whole answer. A streamed
    /// answer is collected; use [`Pool::exec_stream`] to receive it in parts.
    pub async fn exec(&self, payload: Payload) -> Result<Response, PoolError> {
        self.exec_until(payload, None).await
    }

    /// Like [`Pool::exec`], bounded by `deadline` as a whole (waiting for a
    /// worker included). Past the deadline the worker is killed, because a
    /// goridge execution cannot be cancelled.
    pub async fn exec_until(
        &self,
        payload: Payload,
        deadline: Option<Instant>,
    ) -> Result<Response, PoolError> {
        let mut stream = self.exec_stream_until(payload, deadline).await?;
        let Some(first) = stream.first.take() else {
            return Err(PoolError::Stopped {
                pool: self.name().to_owned(),
            });
        };
        if !first.more {
            stream.finish();
            return Ok(first);
        }
        let mut body = bytes::BytesMut::from(&first.body[..]);
        let mut response = first;
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk?.body);
        }
        response.body = body.freeze();
        response.more = false;
        Ok(response)
    }

    /// Sends `payload` and returns the answer as a stream of parts (a
    /// non-streaming worker yields exactly one). Dropping the stream early
    /// cancels it: the worker gets a STOP frame and is drained before it
    /// serves anyone else.
    pub async fn exec_stream(&self, payload: Payload) -> Result<ResponseStream, PoolError> {
        self.exec_stream_until(payload, None).await
    }

    async fn exec_stream_until(
        &self,
        payload: Payload,
        deadline: Option<Instant>,
    ) -> Result<ResponseStream, PoolError> {
        if payload.context.is_empty() && payload.body.is_empty() {
            return Err(PoolError::EmptyPayload);
        }
        let inner = &self.inner;
        let alloc_deadline = {
            let by_timeout = Instant::now() + inner.opts.allocate_timeout;
            deadline.map_or(by_timeout, |d| d.min(by_timeout))
        };
        // A worker that asks to be replaced gets the same payload retried
        // on another worker, as RoadRunner does; bounded so a script that
        // always asks cannot loop forever.
        for _ in 0..=inner.target.load(Ordering::Relaxed).max(1) * 2 {
            let worker = if inner.opts.debug {
                self.debug_worker().await?
            } else {
                self.acquire(alloc_deadline).await?
            };
            let mut lease = Lease::new(worker, inner.clone());
            match lease.start(&payload, deadline).await? {
                Some(first) => {
                    return Ok(ResponseStream::new(lease, first, deadline));
                }
                None => continue,
            }
        }
        Err(PoolError::NoFreeWorkers {
            pool: self.name().to_owned(),
            waited: Duration::ZERO,
        })
    }

    /// Takes an idle worker, or waits in line for one until `deadline`.
    async fn acquire(&self, deadline: Instant) -> Result<Worker, PoolError> {
        let inner = &self.inner;
        let home = inner.home_here();
        loop {
            let mut ticket = {
                let mut q = lock(&inner.queue);
                if q.closed {
                    return Err(inner.stopped());
                }
                while let Some(worker) = q.idle.pop(home) {
                    if worker.usable() {
                        return Ok(worker);
                    }
                    inner.retire(worker, None);
                }
                let limit = inner.opts.max_queue_size;
                if limit > 0 && q.waiters.len() >= limit {
                    q.waiters.remove_closed();
                    if q.waiters.len() >= limit {
                        return Err(PoolError::QueueFull {
                            pool: inner.opts.name.clone(),
                            limit,
                        });
                    }
                }
                let (tx, rx) = oneshot::channel();
                q.waiters.push(home, tx);
                Ticket { rx, inner }
            };
            if inner.opts.dynamic.is_some() && !inner.starved.swap(true, Ordering::Relaxed) {
                let _ = inner.events.send(Event::Starved);
            }
            let started = Instant::now();
            let result = tokio::time::timeout_at(deadline, &mut ticket.rx).await;
            inner.waits.fetch_add(1, Ordering::Relaxed);
            inner.waited_ns.fetch_add(
                u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            match result {
                Ok(Ok(worker)) if worker.usable() => return Ok(worker),
                Ok(Ok(worker)) => inner.retire(worker, None),
                Ok(Err(_)) => return Err(inner.stopped()),
                Err(_) => {
                    return Err(PoolError::NoFreeWorkers {
                        pool: inner.opts.name.clone(),
                        waited: started.elapsed(),
                    })
                }
            }
        }
    }

    /// Debug mode: a fresh worker for every execution.
    async fn debug_worker(&self) -> Result<Worker, PoolError> {
        let inner = &self.inner;
        if inner.stopping.load(Ordering::Acquire) {
            return Err(inner.stopped());
        }
        let worker = inner
            .spawner
            .spawn(
                inner.generation.load(Ordering::Acquire),
                inner.home_here().unwrap_or(0),
            )
            .await
            .map_err(|e| match e {
                // Per-request workers fail the request, as before.
                PoolError::Boot { command, cause, .. } => PoolError::Spawn {
                    command,
                    source: cause,
                },
                other => other,
            })?;
        inner.register(&worker);
        worker.state.retire(WorkerStatus::Ready);
        Ok(worker)
    }

    /// A snapshot of every worker process, for operators.
    pub fn workers(&self) -> Vec<WorkerInfo> {
        let states: Vec<_> = lock(&self.inner.registry).values().cloned().collect();
        let mut infos: Vec<_> = states.iter().map(|s| s.info()).collect();
        infos.sort_by_key(|i| i.created);
        infos
    }

    /// Number of live worker processes (idle, busy or stopping).
    pub fn process_count(&self) -> usize {
        *self.inner.processes.borrow()
    }

    /// The number of live worker processes, as a watch channel that changes
    /// whenever a process is added to or removed from the pool (a spawn
    /// finished its handshake; a process exited and was reaped). Lets
    /// tests and operators wait for a replacement instead of polling.
    pub fn watch_processes(&self) -> watch::Receiver<usize> {
        self.inner.processes.subscribe()
    }

    /// How many executions had to wait for a worker, and for how long in
    /// total, since the pool started (queue wait, for metrics).
    pub fn queue_wait(&self) -> (u64, Duration) {
        (
            self.inner.waits.load(Ordering::Relaxed),
            Duration::from_nanos(self.inner.waited_ns.load(Ordering::Relaxed)),
        )
    }

    /// The pool's traffic meter: callers that know how a request ended
    /// (the HTTP plugin: status and duration) record into it.
    pub fn meter(&self) -> &crate::Meter {
        &self.inner.meter
    }

    /// Callers waiting for a worker right now (the queue `max_queue_size`
    /// bounds).
    pub fn waiting(&self) -> usize {
        lock(&self.inner.queue).waiters.open()
    }

    /// Number of workers idle right now (a request would be served at once).
    pub fn idle_count(&self) -> usize {
        lock(&self.inner.queue)
            .idle
            .iter()
            .filter(|w| w.usable())
            .count()
    }

    /// Replaces every worker with a fresh one (new code), one by one and
    /// without failing in-flight or queued work: new workers are started
    /// first, old ones leave when idle. Returns when no old worker is left,
    /// or after `reset_timeout` (stragglers are then killed).
    pub async fn reset(&self) -> Result<(), PoolError> {
        let inner = &self.inner;
        if inner.stopping.load(Ordering::Acquire) {
            return Err(inner.stopped());
        }
        let (tx, rx) = oneshot::channel();
        let generation = inner.generation.fetch_add(1, Ordering::AcqRel) + 1;
        inner.current_live.store(0, Ordering::Release);
        let _ = inner.events.send(Event::Reset(generation, tx));
        match tokio::time::timeout(inner.opts.reset_timeout, rx).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(inner.stopped()),
            Err(_) => {
                let old: Vec<_> = lock(&inner.registry)
                    .values()
                    .filter(|s| s.generation < generation)
                    .cloned()
                    .collect();
                for state in old {
                    tracing::warn!(pool = %inner.opts.name, pid = state.pid,
                        "worker still busy after reset_timeout; killing it");
                    state.retire(WorkerStatus::Destroyed);
                    state.kill_now();
                }
                Ok(())
            }
        }
    }

    /// The static size the pool aims for now (`num_workers`, changed by
    /// [`Pool::add_worker`] / [`Pool::remove_worker`]).
    pub fn target_workers(&self) -> usize {
        self.inner.target.load(Ordering::Relaxed)
    }

    /// Adds one worker to the static size (`informer.AddWorker`), up to
    /// [`PoolOptions::max_static_workers`].
    pub fn add_worker(&self) {
        let _ = self.inner.events.send(Event::Resize(1));
    }

    /// Removes one worker from the static size (`informer.RemoveWorker`),
    /// never below one.
    pub fn remove_worker(&self) {
        let _ = self.inner.events.send(Event::Resize(-1));
    }

    /// Graceful stop: refuses new work, lets busy workers finish (up to
    /// `destroy_timeout`), sends every worker the stop frame, kills those
    /// still alive after `destroy_timeout`, and waits for every task.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        if inner.stopping.swap(true, Ordering::AcqRel) {
            return self.wait_stopped().await;
        }
        let idle: Vec<Worker> = {
            let mut q = lock(&inner.queue);
            q.closed = true;
            q.waiters.clear();
            q.idle.drain()
        };
        for worker in idle {
            inner.retire(worker, Some(WorkerStatus::Stopping));
        }
        let deadline = Instant::now() + inner.opts.destroy_timeout;
        let mut processes = inner.processes.subscribe();
        let all_gone = tokio::time::timeout_at(deadline, processes.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok());
        if !all_gone {
            tracing::warn!(pool = %inner.opts.name, left = self.process_count(),
                "workers still running after destroy_timeout; killing them");
        }
        self.wait_stopped().await;
    }

    /// Immediate stop (a grace deadline has passed): refuses new work and
    /// kills every worker and its process group at once, then waits for
    /// the pool's tasks.
    pub async fn abort(&self) {
        let inner = &self.inner;
        inner.stopping.store(true, Ordering::Release);
        {
            let mut q = lock(&inner.queue);
            q.closed = true;
            q.waiters.clear();
        }
        for state in lock(&inner.registry).values() {
            state.kill_now();
        }
        self.wait_stopped().await;
    }

    async fn wait_stopped(&self) {
        let inner = &self.inner;
        inner.cancel.cancel();
        inner.tracker.close();
        inner.tracker.wait().await;
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Last handle gone without shutdown(): kill every process.
        self.cancel.cancel();
    }
}

impl Inner {
    /// The shard the calling thread runs (always 0 unsharded); `None`
    /// for a thread outside the pool's shards.
    pub(crate) fn home_here(&self) -> Option<usize> {
        self.shards.as_ref().map_or(Some(0), Shards::current)
    }

    /// Number of homes (shards) workers are spread over.
    pub(crate) fn homes(&self) -> usize {
        self.shards.as_ref().map_or(1, Shards::len)
    }

    /// Runs `task` on the pool's tracker, on the event loop of `home`.
    pub(crate) fn spawn_at<F>(&self, home: usize, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match &self.shards {
            Some(shards) => drop(self.tracker.spawn_on(task, shards.handle(home))),
            None => drop(self.tracker.spawn(task)),
        }
    }

    pub(crate) fn stopped(&self) -> PoolError {
        PoolError::Stopped {
            pool: self.opts.name.clone(),
        }
    }

    pub(crate) fn register(&self, worker: &Worker) {
        let mut registry = lock(&self.registry);
        registry.insert(worker.state.id, worker.state.clone());
        self.processes.send_replace(registry.len());
    }

    pub(crate) fn unregister(&self, id: u64) -> Option<Arc<WorkerState>> {
        let mut registry = lock(&self.registry);
        let state = registry.remove(&id);
        self.processes.send_replace(registry.len());
        state
    }

    /// Gives a worker back after a job: to the next waiter, to the idle
    /// list, or to the supervisor when it must be replaced.
    pub(crate) fn release(&self, worker: Worker) {
        if !worker.usable() || self.outdated(&worker) {
            let why = if worker.max_jobs > 0 && worker.state.num_execs() >= worker.max_jobs {
                Some(WorkerStatus::MaxJobsReached)
            } else {
                None
            };
            return self.retire(worker, why);
        }
        worker.state.set_status(WorkerStatus::Ready);
        let mut q = lock(&self.queue);
        if q.closed {
            drop(q);
            return self.retire(worker, Some(WorkerStatus::Stopping));
        }
        let mut worker = worker;
        while let Some(waiter) = q.waiters.pop_for(worker.state.home) {
            match waiter.send(worker) {
                Ok(()) => return,
                Err(back) => worker = back,
            }
        }
        q.idle.push(worker);
    }

    /// True for a worker of an older generation once enough new ones run.
    fn outdated(&self, worker: &Worker) -> bool {
        worker.state.generation < self.generation.load(Ordering::Acquire)
            && self.current_live.load(Ordering::Acquire) >= self.target.load(Ordering::Relaxed)
    }

    /// Hands a worker to the supervisor to be stopped and replaced.
    pub(crate) fn retire(&self, worker: Worker, why: Option<WorkerStatus>) {
        worker
            .state
            .retire(why.unwrap_or(if worker.state.has_exited() {
                WorkerStatus::Errored
            } else {
                WorkerStatus::Invalid
            }));
        if let Err(mpsc::error::SendError(Event::Retire(worker))) =
            self.events.send(Event::Retire(worker))
        {
            // Supervisor gone (pool stopped): kill instead of stopping.
            worker.state.kill_now();
        }
    }

    /// Kills a worker that cannot be trusted any more (protocol error,
    /// exec_ttl, deadline) and lets the supervisor replace it.
    pub(crate) fn kill(&self, worker: Worker, why: WorkerStatus) {
        worker.state.retire(why);
        worker.state.set_status(why);
        worker.state.kill_now();
        drop(worker);
    }
}

/// A place in the waiters' line. Dropped before its worker was taken (the
/// caller timed out, or its request was cancelled because the client
/// went away), it hands on a worker that was already sent to it instead of
/// dropping it, which would close the worker's relay and end the process.
struct Ticket<'a> {
    rx: oneshot::Receiver<Worker>,
    inner: &'a Inner,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.rx.close();
        if let Ok(worker) = self.rx.try_recv() {
            self.inner.release(worker);
        }
    }
}
