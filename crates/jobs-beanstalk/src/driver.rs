//! The pipeline's driver: pushes go through a producer connection (`use
//! <tube>`, pipelined `put`s), one consumer task owns a second connection
//! (`watch <tube>`, `reserve-with-timeout`, and the `delete` / `release`
//! of the jobs it reserved, which only that connection may settle).
//! A lost connection is redialed with backoff; beanstalkd itself releases
//! what the dead connection had reserved, so those jobs run again.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use coyote_jobs::driver::BoxFuture;
use coyote_jobs::{Delivery, Driver, Headers, Job, JobQueue, JobsError, PipelineState};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::proto::{Conn, ProtoError};

/// A beanstalk pipeline's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Pipeline name.
    pub pipeline: String,
    /// `host:port` of beanstalkd.
    pub addr: String,
    /// Connect / command deadline, and the jobs' time-to-run (`beanstalk.timeout`).
    pub timeout: Duration,
    /// The tube.
    pub tube: String,
    /// beanstalkd priority of every job put (0 is most urgent).
    pub tube_priority: u32,
    /// The pipeline's priority in the plugin's queue.
    pub priority: i64,
    /// How long one `reserve-with-timeout` waits (whole seconds).
    pub reserve_timeout: Duration,
    /// Jobs reserved and not settled, at most.
    pub prefetch: usize,
}

/// A job as it travels in a beanstalkd body (JSON; RoadRunner's driver
/// writes Go's gob, which is not read here: see the README).
#[derive(Serialize, Deserialize)]
struct Body {
    job: String,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload_base64: Option<Vec<u8>>,
    #[serde(default)]
    headers: Headers,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    auto_ack: bool,
    #[serde(default)]
    attempts: u32,
}

fn encode(job: &Job) -> Vec<u8> {
    let (payload, payload_base64) = match std::str::from_utf8(&job.payload) {
        Ok(s) => (Some(s.to_owned()), None),
        Err(_) => (None, Some(job.payload.to_vec())),
    };
    serde_json::to_vec(&Body {
        job: job.name.clone(),
        id: job.id.clone(),
        payload,
        payload_base64,
        headers: job.headers.clone(),
        priority: job.priority,
        auto_ack: job.auto_ack,
        attempts: job.attempts,
    })
    .unwrap_or_default()
}

/// A body -> a job; a body that is not ours (another producer) becomes a
/// job named `deduced_by_rr` whose payload is the body, as RoadRunner's
/// `consume_all` does, rather than being lost.
fn decode(pipeline: &str, id: u64, body: Bytes, priority: i64) -> Job {
    match serde_json::from_slice::<Body>(&body) {
        Ok(b) => Job {
            name: b.job,
            id: b.id,
            payload: b
                .payload_base64
                .map(Bytes::from)
                .unwrap_or_else(|| Bytes::from(b.payload.unwrap_or_default())),
            headers: b.headers,
            pipeline: pipeline.to_owned(),
            priority: if b.priority == 0 {
                priority
            } else {
                b.priority
            },
            delay: 0,
            auto_ack: b.auto_ack,
            attempts: b.attempts,
        },
        Err(_) => {
            let mut job = Job::new(pipeline, "deduced_by_rr", format!("beanstalk-{id}"), body);
            job.priority = priority;
            job
        }
    }
}

enum Settle {
    Delete(u64),
    Release(u64),
}

#[derive(Default)]
struct State {
    running: bool,
    stopped: bool,
    /// Reserved on the consumer connection and not settled.
    in_flight: usize,
    /// Of those, at a worker.
    at_workers: usize,
    /// The last `stats-tube`: ready, delayed.
    tube_ready: i64,
    tube_delayed: i64,
    error: String,
}

/// The beanstalk driver.
pub struct Beanstalk {
    opts: Options,
    state: Mutex<State>,
    producer: tokio::sync::Mutex<Option<Conn>>,
    settle: mpsc::UnboundedSender<Settle>,
    wake: Notify,
    queue: Arc<JobQueue>,
    me: Weak<Beanstalk>,
}

impl Beanstalk {
    /// Connects (the first connection failing is the caller's error) and
    /// starts the consumer task on `tracker`; paused.
    ///
    /// # Errors
    /// beanstalkd cannot be reached, or refuses the tube.
    pub async fn open(
        opts: Options,
        queue: Arc<JobQueue>,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: CancellationToken,
    ) -> Result<Arc<Self>, JobsError> {
        let fail = |e: ProtoError| {
            JobsError::Invalid(format!(
                "pipeline {}: beanstalkd at {}: {e}",
                opts.pipeline, opts.addr
            ))
        };
        let producer = Conn::connect(&opts.addr, opts.timeout)
            .await
            .map_err(fail)?;
        let mut consumer = Conn::connect(&opts.addr, opts.timeout)
            .await
            .map_err(fail)?;
        consumer.watch_only(&opts.tube).await.map_err(fail)?;
        let (settle, settles) = mpsc::unbounded_channel();
        let driver = Arc::new_cyclic(|me| Self {
            opts,
            state: Mutex::new(State::default()),
            producer: tokio::sync::Mutex::new(Some(producer)),
            settle,
            wake: Notify::new(),
            queue,
            me: me.clone(),
        });
        tracker.spawn(consume(
            Arc::downgrade(&driver),
            consumer,
            settles,
            shutdown,
        ));
        Ok(driver)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn error(&self, what: &str, e: &ProtoError) -> JobsError {
        JobsError::Invalid(format!(
            "pipeline {}: beanstalkd at {}: {what}: {e}",
            self.opts.pipeline, self.opts.addr
        ))
    }

    /// Puts jobs through the producer connection, redialing once when it
    /// is gone; an outage is the caller's error.
    async fn put(&self, jobs: &[Job]) -> Result<(), JobsError> {
        let ttr = self.opts.timeout.as_secs().max(1);
        let items: Vec<(u32, u64, u64, Vec<u8>)> = jobs
            .iter()
            .map(|j| (self.opts.tube_priority, j.delay, ttr, encode(j)))
            .collect();
        let mut producer = self.producer.lock().await;
        if producer.is_none() {
            let conn = Conn::connect(&self.opts.addr, self.opts.timeout)
                .await
                .map_err(|e| self.error("connect", &e))?;
            *producer = Some(conn);
        }
        let Some(conn) = producer.as_mut() else {
            return Err(JobsError::Stopped(self.opts.pipeline.clone()));
        };
        match tokio::time::timeout(self.opts.timeout, conn.put(&self.opts.tube, &items)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                *producer = None;
                Err(self.error("put", &e))
            }
            Err(_) => {
                *producer = None;
                Err(JobsError::Invalid(format!(
                    "pipeline {}: beanstalkd at {}: put timed out after {:?}",
                    self.opts.pipeline, self.opts.addr, self.opts.timeout
                )))
            }
        }
    }

    fn take_back(&self, st: &mut State) {
        for d in self.queue.remove_pipeline(&self.opts.pipeline) {
            st.in_flight = st.in_flight.saturating_sub(1);
            let _ = self.settle.send(Settle::Release(d.handle));
        }
    }

    fn settled(&self, handle: u64, delete: bool) {
        {
            let mut st = self.lock();
            st.in_flight = st.in_flight.saturating_sub(1);
            st.at_workers = st.at_workers.saturating_sub(1);
        }
        if delete {
            let _ = self.settle.send(Settle::Delete(handle));
        }
        self.wake.notify_one();
    }

    async fn again(&self, handle: u64, mut job: Job, delay: u64) -> Result<(), JobsError> {
        job.attempts = job.attempts.saturating_add(1);
        job.delay = delay;
        let put = self.put(std::slice::from_ref(&job)).await;
        // Deleted only once the new copy is in: on a failed put the original
        // stays reserved until beanstalkd releases it (at-least-once).
        self.settled(handle, put.is_ok());
        put
    }
}

async fn consume(
    driver: Weak<Beanstalk>,
    mut conn: Conn,
    mut settles: mpsc::UnboundedReceiver<Settle>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut stats_at = Instant::now();
    loop {
        let Some(d) = driver.upgrade() else { return };
        let result = step(&d, &mut conn, &mut settles, &shutdown, &mut stats_at).await;
        match result {
            Ok(true) => {
                backoff = Duration::from_millis(100);
                continue;
            }
            Ok(false) => return,
            Err(e) => {
                {
                    let mut st = d.lock();
                    st.error = format!("beanstalkd at {}: {e}", d.opts.addr);
                    // What the dead connection reserved is released by
                    // beanstalkd; our copies waiting for a poller go (they
                    // come back as new reservations).
                    for _ in d.queue.remove_pipeline(&d.opts.pipeline) {
                        st.in_flight = st.in_flight.saturating_sub(1);
                    }
                }
                tracing::warn!(target: "coyote::jobs", pipeline = %d.opts.pipeline,
                    "beanstalkd connection lost, redialing: {e}");
                // Pending deletes go out on the next connection: beanstalkd
                // deletes a released (ready) job for any client, so a job
                // a worker finished is not run again.
                let opts = d.opts.clone();
                drop(d);
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    let dialed = async {
                        let mut c = Conn::connect(&opts.addr, opts.timeout).await?;
                        c.watch_only(&opts.tube).await?;
                        Ok::<_, ProtoError>(c)
                    };
                    match dialed.await {
                        Ok(c) => {
                            conn = c;
                            if let Some(d) = driver.upgrade() {
                                let mut st = d.lock();
                                st.error.clear();
                                // Jobs at workers from before keep their
                                // slot until they are settled.
                                st.in_flight = st.in_flight.max(st.at_workers);
                            }
                            tracing::info!(target: "coyote::jobs", pipeline = %opts.pipeline,
                                "beanstalkd connection restored");
                            break;
                        }
                        Err(e) => {
                            if let Some(d) = driver.upgrade() {
                                d.lock().error = format!("beanstalkd at {}: {e}", opts.addr);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One round of the consumer: settle what is pending, reserve one job when
/// there is room, refresh the tube's counts now and then. `Ok(false)`: stop.
async fn step(
    d: &Beanstalk,
    conn: &mut Conn,
    settles: &mut mpsc::UnboundedReceiver<Settle>,
    shutdown: &CancellationToken,
    stats_at: &mut Instant,
) -> Result<bool, ProtoError> {
    while let Ok(s) = settles.try_recv() {
        match s {
            Settle::Delete(id) => conn.delete(id).await?,
            Settle::Release(id) => conn.release(id, d.opts.tube_priority).await?,
        }
    }
    if stats_at.elapsed() >= Duration::from_millis(500) {
        let (ready, _, delayed) = conn.tube_stats(&d.opts.tube).await?;
        let mut st = d.lock();
        st.tube_ready = ready;
        st.tube_delayed = delayed;
        *stats_at = Instant::now();
    }
    let (stopped, room) = {
        let st = d.lock();
        (st.stopped, st.running && st.in_flight < d.opts.prefetch)
    };
    if stopped || shutdown.is_cancelled() {
        return Ok(false);
    }
    if !room {
        tokio::select! {
            s = settles.recv() => match s {
                Some(Settle::Delete(id)) => conn.delete(id).await?,
                Some(Settle::Release(id)) => conn.release(id, d.opts.tube_priority).await?,
                None => return Ok(false),
            },
            () = d.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = shutdown.cancelled() => return Ok(false),
        }
        return Ok(true);
    }
    // A reserve cannot be cancelled mid-reply without losing the protocol's
    // place, so it is bounded by reserve_timeout instead (0 while settles
    // are waiting).
    let wait = if settles.is_empty() {
        d.opts.reserve_timeout
    } else {
        Duration::ZERO
    };
    let Some(reserved) = conn.reserve(wait).await? else {
        return Ok(true);
    };
    let job = decode(
        &d.opts.pipeline,
        reserved.id,
        reserved.body,
        d.opts.priority,
    );
    let Some(me) = d.me.upgrade() else {
        return Ok(false);
    };
    let taken = {
        let mut st = d.lock();
        let taken = st.running && !st.stopped;
        if taken {
            st.in_flight += 1;
        }
        taken
    };
    if !taken {
        conn.release(reserved.id, d.opts.tube_priority).await?;
        return Ok(true);
    }
    d.queue.insert([Delivery {
        job,
        handle: reserved.id,
        driver: me,
    }]);
    Ok(true)
}

impl Driver for Beanstalk {
    fn kind(&self) -> &'static str {
        "beanstalk"
    }

    fn context(&self, job: &Job) -> Vec<u8> {
        job.context("beanstalk", &self.opts.tube)
    }

    fn push(&self, jobs: Vec<Job>) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(async move {
            if self.lock().stopped {
                return Err(JobsError::Stopped(self.opts.pipeline.clone()));
            }
            let jobs: Vec<Job> = jobs
                .into_iter()
                .map(|mut j| {
                    if j.priority == 0 {
                        j.priority = self.opts.priority;
                    }
                    j
                })
                .collect();
            self.put(&jobs).await
        })
    }

    fn resume(&self) -> Result<(), JobsError> {
        let mut st = self.lock();
        if st.stopped {
            return Err(JobsError::Stopped(self.opts.pipeline.clone()));
        }
        if st.running {
            return Err(JobsError::State(
                "beanstalk listener is already in the active state".to_owned(),
            ));
        }
        st.running = true;
        drop(st);
        self.wake.notify_one();
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
        let queued = st.in_flight.saturating_sub(st.at_workers);
        PipelineState {
            pipeline: self.opts.pipeline.clone(),
            driver: "beanstalk".to_owned(),
            queue: self.opts.tube.clone(),
            active: st.tube_ready + i64::try_from(queued).unwrap_or(i64::MAX),
            delayed: st.tube_delayed,
            reserved: i64::try_from(st.at_workers).unwrap_or(i64::MAX),
            ready: st.running,
            priority: u64::try_from(self.opts.priority).unwrap_or(0),
            error_message: st.error.clone(),
        }
    }

    fn stop(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            {
                let mut st = self.lock();
                st.running = false;
                st.stopped = true;
                self.take_back(&mut st);
            }
            self.wake.notify_one();
            // Jobs stay in beanstalkd: nothing is dropped.
            0
        })
    }

    fn reserve(&self, _handle: u64) {
        self.lock().at_workers += 1;
    }

    fn ack(&self, handle: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        // Queued for the consumer connection (only it may delete what it
        // reserved); a delete lost with the connection means the job runs
        // again, which at-least-once allows.
        self.settled(handle, true);
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
            Box::pin(self.again(handle, job, delay))
        } else {
            self.ack(handle)
        }
    }

    fn requeue(&self, handle: u64, job: Job, delay: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(self.again(handle, job, delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_foreign_bodies_are_kept() {
        let mut job = Job::new("p", "Mail", "id-1", "hello");
        job.headers.insert("h".into(), vec!["v".into()]);
        job.priority = 3;
        let back = decode("p", 7, encode(&job).into(), 10);
        assert_eq!(back, job);
        let mut binary = Job::new("p", "Bin", "id-2", vec![0xffu8, 0]);
        binary.priority = 10;
        assert_eq!(
            decode("p", 8, encode(&binary).into(), 10).payload,
            binary.payload
        );
        let foreign = decode("p", 9, Bytes::from_static(b"raw bytes"), 10);
        assert_eq!(
            (
                foreign.name.as_str(),
                foreign.id.as_str(),
                &foreign.payload[..]
            ),
            ("deduced_by_rr", "beanstalk-9", &b"raw bytes"[..])
        );
    }
}
