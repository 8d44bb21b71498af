//! A driver that keeps its pipeline's jobs itself (memory, and the durable
//! embedded driver on top of a [`Store`]): a ready heap (priority, then
//! arrival), a delay heap served by one timer task (no task per delayed
//! job), and at most `prefetch` jobs in flight (queued for the pollers or
//! held by a worker).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::driver::{BoxFuture, Delivery, Driver, PipelineState};
use crate::queue::JobQueue;
use crate::{Job, JobsError};

/// A job as a store keeps it: the driver's handle, the job, and when it
/// may run (milliseconds since the Unix epoch; 0 is "now").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The driver's key for the job.
    pub handle: u64,
    /// The job.
    pub job: Job,
    /// Not before this time (Unix ms); 0 means as soon as possible.
    pub due_ms: u64,
}

/// Where a [`Backlog`] driver persists its jobs. Each call returns once the
/// change is as durable as the store promises.
pub trait Store: Send + Sync + 'static {
    /// Whether jobs survive a restart (the memory store: no).
    fn durable(&self) -> bool;
    /// New jobs.
    fn insert<'a>(&'a self, jobs: &'a [Stored]) -> BoxFuture<'a, Result<(), String>>;
    /// A job is done (acked, or dropped by a nack). The removal must take
    /// effect when this is called, even if the future is dropped unpolled:
    /// the backlog does not wait for it (a removal lost in a crash is a
    /// redelivery, which at-least-once allows), and a store logs a removal
    /// that failed with nobody waiting.
    fn remove(&self, handle: u64) -> BoxFuture<'_, Result<(), String>>;
    /// A job changed (requeued with new headers, delay or attempts).
    fn update<'a>(&'a self, job: &'a Stored) -> BoxFuture<'a, Result<(), String>>;
    /// The driver stopped; flush what is pending.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// The memory driver's store: nothing to persist.
pub struct NoStore;

impl Store for NoStore {
    fn durable(&self) -> bool {
        false
    }
    fn insert<'a>(&'a self, _: &'a [Stored]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn remove(&self, _: u64) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn update<'a>(&'a self, _: &'a Stored) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(std::future::ready(Ok(())))
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

/// What a backlog pipeline is configured with.
#[derive(Clone, Debug)]
pub struct BacklogOptions {
    /// Driver name reported in Stat and the context.
    pub kind: &'static str,
    /// Pipeline name.
    pub pipeline: String,
    /// The priority of jobs pushed without one.
    pub priority: i64,
    /// Jobs in flight at most (queued for the pollers or at a worker).
    pub prefetch: usize,
    /// Jobs waiting (ready or delayed) at most (`jobs.pipeline_size`).
    pub limit: usize,
}

struct Ready {
    priority: i64,
    seq: u64,
    handle: u64,
    job: Job,
}

struct Timed {
    due: Instant,
    seq: u64,
    handle: u64,
    job: Job,
}

macro_rules! min_heap_order {
    ($t:ty, $($key:ident),+) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool { self.cmp(other) == Ordering::Equal }
        }
        impl Eq for $t {}
        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> { Some(self.cmp(other)) }
        }
        impl Ord for $t {
            fn cmp(&self, other: &Self) -> Ordering {
                ($(&other.$key),+).cmp(&($(&self.$key),+))
            }
        }
    };
}
min_heap_order!(Ready, priority, seq);
min_heap_order!(Timed, due, seq);

#[derive(Default)]
struct State {
    ready: BinaryHeap<Ready>,
    delayed: BinaryHeap<Timed>,
    /// Handed to the plugin queue or to a worker, not settled yet.
    in_flight: usize,
    /// Held by a worker.
    reserved: usize,
    running: bool,
    stopped: bool,
}

/// The backlog driver.
pub struct Backlog {
    opts: BacklogOptions,
    store: Arc<dyn Store>,
    state: Mutex<State>,
    queue: Arc<JobQueue>,
    timer: Notify,
    seq: AtomicU64,
    next_handle: AtomicU64,
    me: Weak<Backlog>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The monotonic instant of a Unix-ms time (past times are "now").
fn instant_of(due_ms: u64) -> Instant {
    let now = now_ms();
    Instant::now() + Duration::from_millis(due_ms.saturating_sub(now))
}

impl Backlog {
    /// A paused driver holding `recovered` jobs (the durable store's content
    /// at open), with its timer task on `tracker` until `shutdown`.
    pub fn start(
        opts: BacklogOptions,
        store: Arc<dyn Store>,
        recovered: Vec<Stored>,
        queue: Arc<JobQueue>,
        tracker: &TaskTracker,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        let next = recovered.iter().map(|s| s.handle + 1).max().unwrap_or(1);
        let driver = Arc::new_cyclic(|me| Self {
            opts,
            store,
            state: Mutex::new(State::default()),
            queue,
            timer: Notify::new(),
            seq: AtomicU64::new(0),
            next_handle: AtomicU64::new(next),
            me: me.clone(),
        });
        {
            let mut st = driver.lock();
            for stored in recovered {
                driver.enqueue(&mut st, stored.handle, stored.job, stored.due_ms);
            }
        }
        let weak = Arc::downgrade(&driver);
        tracker.spawn(timer_loop(weak, shutdown));
        driver
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn storage(&self, message: String) -> JobsError {
        JobsError::Storage {
            pipeline: self.opts.pipeline.clone(),
            message,
        }
    }

    fn enqueue(&self, st: &mut State, handle: u64, job: Job, due_ms: u64) {
        let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
        if due_ms > now_ms() {
            st.delayed.push(Timed {
                due: instant_of(due_ms),
                seq,
                handle,
                job,
            });
            self.timer.notify_one();
        } else {
            st.ready.push(Ready {
                priority: job.priority,
                seq,
                handle,
                job,
            });
        }
    }

    /// Moves ready jobs to the plugin queue while under `prefetch`.
    fn feed(&self, st: &mut State) -> Vec<Delivery> {
        let mut out = Vec::new();
        if !st.running || st.stopped {
            return out;
        }
        let Some(me) = self.me.upgrade() else {
            return out;
        };
        while st.in_flight < self.opts.prefetch {
            let Some(item) = st.ready.pop() else { break };
            st.in_flight += 1;
            out.push(Delivery {
                job: item.job,
                handle: item.handle,
                driver: me.clone(),
            });
        }
        out
    }

    fn feed_now(&self, mut st: MutexGuard<'_, State>) {
        let out = self.feed(&mut st);
        drop(st);
        if !out.is_empty() {
            self.queue.insert(out);
        }
    }

    /// Takes this pipeline's deliveries back from the plugin queue.
    fn take_back(&self, st: &mut State) {
        for d in self.queue.remove_pipeline(&self.opts.pipeline) {
            st.in_flight = st.in_flight.saturating_sub(1);
            let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
            st.ready.push(Ready {
                priority: d.job.priority,
                seq,
                handle: d.handle,
                job: d.job,
            });
        }
    }

    fn settle(&self, st: &mut State) {
        st.in_flight = st.in_flight.saturating_sub(1);
        st.reserved = st.reserved.saturating_sub(1);
    }

    async fn reinsert(&self, handle: u64, mut job: Job, delay: u64) -> Result<(), JobsError> {
        job.attempts = job.attempts.saturating_add(1);
        let due_ms = if delay == 0 {
            0
        } else {
            now_ms().saturating_add(delay.saturating_mul(1000))
        };
        let stored = Stored {
            handle,
            job,
            due_ms,
        };
        let written = self.store.update(&stored).await;
        let mut st = self.lock();
        self.settle(&mut st);
        if st.stopped && !self.store.durable() {
            tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                id = %stored.job.id, "pipeline stopped: requeued job dropped");
        } else if !st.stopped {
            self.enqueue(&mut st, handle, stored.job, due_ms);
        }
        self.feed_now(st);
        written.map_err(|e| self.storage(e))
    }

    /// Moves due delayed jobs to the ready heap; the next due time.
    fn promote(&self, st: &mut State) -> Option<Instant> {
        let now = Instant::now();
        while st.delayed.peek().is_some_and(|t| t.due <= now) {
            if let Some(t) = st.delayed.pop() {
                st.ready.push(Ready {
                    priority: t.job.priority,
                    seq: t.seq,
                    handle: t.handle,
                    job: t.job,
                });
            }
        }
        st.delayed.peek().map(|t| t.due)
    }
}

async fn timer_loop(driver: Weak<Backlog>, shutdown: CancellationToken) {
    loop {
        let Some(d) = driver.upgrade() else { return };
        let next = {
            let mut st = d.lock();
            if st.stopped {
                return;
            }
            let next = d.promote(&mut st);
            d.feed_now(st);
            next
        };
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        // The driver stays alive while its timer waits; `stop` wakes it and
        // the loop ends.
        let notified = d.timer.notified();
        tokio::select! {
            () = sleep => {}
            () = notified => {}
            () = shutdown.cancelled() => return,
        }
    }
}

impl Driver for Backlog {
    fn kind(&self) -> &'static str {
        self.opts.kind
    }

    fn push(&self, jobs: Vec<Job>) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(async move {
            {
                let st = self.lock();
                if st.stopped {
                    return Err(JobsError::Stopped(self.opts.pipeline.clone()));
                }
                let waiting = st.ready.len() + st.delayed.len();
                if waiting + jobs.len() > self.opts.limit {
                    return Err(JobsError::Full {
                        pipeline: self.opts.pipeline.clone(),
                        limit: self.opts.limit,
                    });
                }
            }
            let now = now_ms();
            let records: Vec<Stored> = jobs
                .into_iter()
                .map(|mut job| {
                    if job.priority == 0 {
                        job.priority = self.opts.priority;
                    }
                    let due_ms = if job.delay == 0 {
                        0
                    } else {
                        now.saturating_add(job.delay.saturating_mul(1000))
                    };
                    Stored {
                        handle: self.next_handle.fetch_add(1, AtomicOrdering::Relaxed),
                        job,
                        due_ms,
                    }
                })
                .collect();
            self.store
                .insert(&records)
                .await
                .map_err(|e| self.storage(e))?;
            let mut st = self.lock();
            for r in records {
                self.enqueue(&mut st, r.handle, r.job, r.due_ms);
            }
            self.feed_now(st);
            Ok(())
        })
    }

    fn resume(&self) -> Result<(), JobsError> {
        let mut st = self.lock();
        if st.stopped {
            return Err(JobsError::Stopped(self.opts.pipeline.clone()));
        }
        if st.running {
            return Err(JobsError::State(format!(
                "{} listener is already in the active state",
                self.opts.kind
            )));
        }
        st.running = true;
        self.feed_now(st);
        Ok(())
    }

    fn pause(&self) -> Result<(), JobsError> {
        let mut st = self.lock();
        if !st.running {
            return Err(JobsError::State(
                "no active listeners, nothing to pause".to_owned(),
            ));
        }
        st.running = false;
        self.take_back(&mut st);
        Ok(())
    }

    fn state(&self) -> PipelineState {
        let st = self.lock();
        let queued = st.in_flight.saturating_sub(st.reserved);
        PipelineState {
            pipeline: self.opts.pipeline.clone(),
            driver: self.opts.kind.to_owned(),
            queue: self.opts.pipeline.clone(),
            active: i64::try_from(st.ready.len() + queued).unwrap_or(i64::MAX),
            delayed: i64::try_from(st.delayed.len()).unwrap_or(i64::MAX),
            reserved: i64::try_from(st.reserved).unwrap_or(i64::MAX),
            ready: st.running,
            priority: u64::try_from(self.opts.priority).unwrap_or(0),
            error_message: String::new(),
        }
    }

    fn stop(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let dropped = {
                let mut st = self.lock();
                st.running = false;
                st.stopped = true;
                self.take_back(&mut st);
                let waiting = st.ready.len() + st.delayed.len();
                if !self.store.durable() {
                    st.ready.clear();
                    st.delayed.clear();
                }
                self.timer.notify_one();
                if self.store.durable() {
                    0
                } else {
                    waiting
                }
            };
            self.store.close().await;
            dropped
        })
    }

    fn reserve(&self, _handle: u64) {
        self.lock().reserved += 1;
    }

    fn ack(&self, handle: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        // Not waiting for the removal's commit keeps the pollers' pace
        // independent of fsync (the store batches removals with the next
        // commit); the slot frees at once.
        drop(self.store.remove(handle));
        let mut st = self.lock();
        self.settle(&mut st);
        self.feed_now(st);
        Box::pin(std::future::ready(Ok(())))
    }

    fn nack(
        &self,
        handle: u64,
        job: Job,
        redeliver: bool,
        delay: u64,
    ) -> BoxFuture<'_, Result<(), JobsError>> {
        if redeliver {
            Box::pin(self.reinsert(handle, job, delay))
        } else {
            self.ack(handle)
        }
    }

    fn requeue(&self, handle: u64, job: Job, delay: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(self.reinsert(handle, job, delay))
    }
}
