//! [`NatsDriver`]: one pipeline on a JetStream stream, consumed by a
//! durable pull consumer. Deliveries go into the plugin's queue and wait in
//! `held` (handle -> the message's acker) until a worker's reply settles
//! them; the server bounds them to `prefetch` (`max_ack_pending`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::connection::State as LinkState;
use async_nats::jetstream::consumer::pull::{BatchConfig, Config as PullConfig};
use async_nats::jetstream::consumer::{AckPolicy, Consumer, DeliverPolicy};
use async_nats::jetstream::message::Acker;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use async_nats::jetstream::{self, AckKind};
use async_nats::{Client, ConnectOptions, Event, ServerAddr, StatusCode};
use coyote_jobs::driver::BoxFuture;
use coyote_jobs::drivers::broker::OpenContext;
use coyote_jobs::{Delivery, Driver, Job, JobQueue, JobsError, PipelineState};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::NatsOptions;
use crate::message;

/// How long a JetStream request (publish ack, stream and consumer API)
/// may take before it is an error: a push during an outage fails within it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often Stat's count of messages waiting on the server is refreshed.
const INFO_EVERY: Duration = Duration::from_millis(500);
/// One pull request's life.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// The link's health as connection events tell it.
struct Link {
    error: Mutex<String>,
    /// Bumped at every (re)connection.
    connected: tokio::sync::watch::Sender<u64>,
}

impl Default for Link {
    fn default() -> Self {
        Self {
            error: Mutex::new(String::new()),
            connected: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Link {
    fn set(&self, message: String) {
        *self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = message;
    }

    fn get(&self) -> String {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

struct Held {
    acker: Arc<Acker>,
    seq: u64,
    reserved: bool,
}

#[derive(Default)]
struct State {
    running: bool,
    stopped: bool,
    /// Cancels the pull loop of the current run.
    pull: Option<CancellationToken>,
    /// Deliveries not settled yet: queued for the pollers or at a worker.
    held: HashMap<u64, Held>,
    /// Messages NAKed with a delay (stream sequence -> when they come back).
    delayed: HashMap<u64, Instant>,
    /// Messages on the server not delivered to the consumer yet, and
    /// delivered but not acknowledged (as of the last consumer info).
    pending: u64,
    ack_pending: u64,
}

/// The nats driver of one pipeline.
pub struct NatsDriver {
    opts: NatsOptions,
    client: Client,
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    consumer: Consumer<PullConfig>,
    queue: Arc<JobQueue>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// Ends the housekeeping task (progress, Stat refresh) at stop.
    tasks: CancellationToken,
    link: Arc<Link>,
    state: Mutex<State>,
    next_handle: AtomicU64,
    me: Weak<NatsDriver>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn reconnect_delay(attempts: usize) -> Duration {
    let exp = u32::try_from(attempts.min(5)).unwrap_or(5);
    Duration::from_millis(100u64.saturating_mul(2u64.saturating_pow(exp)))
        .min(Duration::from_secs(2))
}

impl NatsDriver {
    /// Connects (the first dial failing is an error), makes sure the stream
    /// and the durable consumer exist, and returns the driver, paused.
    ///
    /// # Errors
    /// The server cannot be reached, JetStream refuses the stream or the
    /// consumer.
    pub async fn open(opts: NatsOptions, ctx: OpenContext) -> Result<Arc<Self>, JobsError> {
        let addrs = opts
            .addr
            .split(',')
            .map(|a| a.trim().parse::<ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| JobsError::Invalid(format!("nats.addr {:?}: {e}", opts.addr)))?;
        let link = Arc::new(Link::default());
        let events = link.clone();
        let pipeline = opts.pipeline.clone();
        let addr = opts.addr.clone();
        let client = ConnectOptions::new()
            .name(format!("coyote jobs {}", opts.pipeline))
            .connection_timeout(Duration::from_secs(5))
            .ping_interval(Duration::from_secs(10))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_delay)
            .event_callback(move |event| {
                let link = events.clone();
                let pipeline = pipeline.clone();
                let addr = addr.clone();
                async move {
                    match event {
                        Event::Disconnected => {
                            tracing::warn!(target: "coyote::jobs", pipeline = %pipeline, addr = %addr,
                                "nats: connection lost, reconnecting");
                            link.set(format!("nats: disconnected from {addr}, reconnecting"));
                        }
                        Event::Connected => {
                            if !link.get().is_empty() {
                                tracing::info!(target: "coyote::jobs", pipeline = %pipeline, addr = %addr,
                                    "nats: reconnected");
                            }
                            link.set(String::new());
                            link.connected.send_modify(|n| *n += 1);
                        }
                        Event::Closed => link.set(format!("nats: connection to {addr} closed")),
                        other => tracing::warn!(target: "coyote::jobs", pipeline = %pipeline, "nats: {other}"),
                    }
                }
            })
            .connect(addrs)
            .await
            .map_err(|e| {
                JobsError::Invalid(format!("cannot connect to NATS at {}: {e}", opts.addr))
            })?;
        let js = jetstream::ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client.clone());
        let stream = ensure_stream(&js, &opts).await?;
        let consumer = ensure_consumer(&stream, &opts).await?;
        let driver = Arc::new_cyclic(|me| Self {
            opts,
            client,
            js,
            stream,
            consumer,
            queue: ctx.queue.clone(),
            tracker: ctx.tracker.clone(),
            shutdown: ctx.shutdown.clone(),
            tasks: CancellationToken::new(),
            link,
            state: Mutex::new(State::default()),
            next_handle: AtomicU64::new(1),
            me: me.clone(),
        });
        ctx.tracker
            .spawn(housekeeping(Arc::downgrade(&driver), driver.tasks.clone()));
        tracing::debug!(target: "coyote::jobs", pipeline = %driver.opts.pipeline,
            stream = %driver.opts.stream, subject = %driver.opts.subject,
            consumer = %driver.opts.durable(), "nats pipeline opened");
        Ok(driver)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn broker(&self, message: impl std::fmt::Display) -> JobsError {
        JobsError::Storage {
            pipeline: self.opts.pipeline.clone(),
            message: format!("nats: {message}"),
        }
    }

    /// Takes this pipeline's deliveries back from the plugin queue: their
    /// ackers, to NAK (they go back to the server, redelivered at once).
    fn take_back(&self, st: &mut State) -> Vec<Arc<Acker>> {
        self.queue
            .remove_pipeline(&self.opts.pipeline)
            .into_iter()
            .filter_map(|d| st.held.remove(&d.handle).map(|h| h.acker))
            .collect()
    }

    /// A delivered message: run it now (into the plugin queue), or NAK it
    /// until its delay is over.
    async fn accept(&self, msg: jetstream::Message) {
        let (seq, delivered, published_ms) = match msg.info() {
            Ok(info) => (
                info.stream_sequence,
                info.delivered,
                u64::try_from(info.published.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            ),
            Err(e) => {
                tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                    "nats: a delivery without JetStream metadata, NAKed: {e}");
                let _ = msg.ack_with(AckKind::Nak(None)).await;
                return;
            }
        };
        let (message, acker) = msg.split();
        let (mut job, delay) = message::decode(
            &self.opts.pipeline,
            message.subject.as_str(),
            &message.payload,
            message.headers.as_ref(),
            format!("nats-{}-{seq}", self.opts.stream),
        );
        if job.priority == 0 {
            job.priority = self.opts.priority;
        }
        job.attempts = u32::try_from(delivered.saturating_sub(1)).unwrap_or(u32::MAX);
        if delay > 0 {
            let due = published_ms.saturating_add(delay.saturating_mul(1000));
            let now = now_ms();
            if due > now + 5 {
                let wait = Duration::from_millis(due - now);
                self.lock().delayed.insert(seq, Instant::now() + wait);
                if let Err(e) = acker.ack_with(AckKind::Nak(Some(wait))).await {
                    tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                        id = %job.id, "nats: delaying the job failed (it comes back after ack_wait): {e}");
                }
                return;
            }
        }
        let Some(me) = self.me.upgrade() else { return };
        let refused = {
            let mut st = self.lock();
            st.delayed.remove(&seq);
            if !st.running || st.stopped {
                Some(acker)
            } else {
                let handle = self.next_handle.fetch_add(1, AtomicOrdering::Relaxed);
                st.held.insert(
                    handle,
                    Held {
                        acker: Arc::new(acker),
                        seq,
                        reserved: false,
                    },
                );
                // Inserted under the state lock: a pause taking deliveries
                // back cannot miss it.
                self.queue.insert([Delivery {
                    job,
                    handle,
                    driver: me,
                }]);
                None
            }
        };
        if let Some(acker) = refused {
            let _ = acker.ack_with(AckKind::Nak(None)).await;
        }
    }

    async fn recreate_consumer(&self) {
        if let Err(e) = ensure_consumer(&self.stream, &self.opts).await {
            tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline, "{e}");
        }
    }

    async fn delete(&self, seq: u64) {
        match tokio::time::timeout(REQUEST_TIMEOUT, self.stream.delete_message(seq)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                seq, "nats: deleting the acknowledged message failed: {e}"),
            Err(_) => tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                seq, "nats: deleting the acknowledged message timed out"),
        }
    }

    async fn settle_ack(&self, held: Held) -> Result<(), JobsError> {
        held.acker.ack().await.map_err(|e| self.broker(e))?;
        if self.opts.delete_after_ack {
            self.delete(held.seq).await;
        }
        Ok(())
    }

    fn check_link(&self) -> Result<(), JobsError> {
        if self.client.connection_state() == LinkState::Connected {
            return Ok(());
        }
        let why = self.link.get();
        Err(self.broker(if why.is_empty() {
            format!("not connected to {}", self.opts.addr)
        } else {
            why.trim_start_matches("nats: ").to_owned()
        }))
    }

    /// Publishes `jobs` (each with its delay; `requeue`: again) and waits
    /// for every ack.
    async fn publish(&self, jobs: &[(Job, u64)], requeue: bool) -> Result<(), JobsError> {
        self.check_link()?;
        let mut acks = Vec::with_capacity(jobs.len());
        for (job, delay) in jobs {
            let (body, headers) =
                message::encode(job, *delay, requeue).map_err(JobsError::Invalid)?;
            let ack = self
                .js
                .publish_with_headers(self.opts.subject.clone(), headers, body)
                .await
                .map_err(|e| self.broker(format!("publishing to {}: {e}", self.opts.subject)))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await
                .map_err(|e| self.broker(format!("publishing to {}: {e}", self.opts.subject)))?;
        }
        Ok(())
    }
}

async fn ensure_stream(
    js: &jetstream::Context,
    opts: &NatsOptions,
) -> Result<jetstream::stream::Stream, JobsError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| JobsError::Storage {
        pipeline: opts.pipeline.clone(),
        message: format!("nats: {what} stream {}: {e}", opts.stream),
    };
    match js.get_stream(&opts.stream).await {
        Ok(stream) => {
            let info = stream.cached_info();
            if !info.config.subjects.iter().any(|s| s == &opts.subject) {
                // Another pipeline's stream: add this subject to it.
                let mut config = info.config.clone();
                config.subjects.push(opts.subject.clone());
                js.update_stream(config)
                    .await
                    .map_err(|e| fail("adding the subject to", &e))?;
                return js
                    .get_stream(&opts.stream)
                    .await
                    .map_err(|e| fail("reading", &e));
            }
            Ok(stream)
        }
        Err(get) => js
            .create_stream(StreamConfig {
                name: opts.stream.clone(),
                subjects: vec![opts.subject.clone()],
                storage: StorageType::File,
                ..StreamConfig::default()
            })
            .await
            .map_err(|e| fail("creating", &format!("{e} (reading it: {get})"))),
    }
}

async fn ensure_consumer(
    stream: &jetstream::stream::Stream,
    opts: &NatsOptions,
) -> Result<Consumer<PullConfig>, JobsError> {
    let durable = opts.durable();
    let config = PullConfig {
        durable_name: Some(durable.clone()),
        filter_subject: opts.subject.clone(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: opts.ack_wait,
        max_ack_pending: i64::try_from(opts.prefetch).unwrap_or(i64::MAX),
        max_deliver: -1,
        deliver_policy: if opts.deliver_new {
            DeliverPolicy::New
        } else {
            DeliverPolicy::All
        },
        ..PullConfig::default()
    };
    match stream.create_consumer(config).await {
        Ok(c) => Ok(c),
        // An existing consumer whose fixed settings differ: use it as it is.
        Err(create) => match stream.get_consumer::<PullConfig>(&durable).await {
            Ok(c) => {
                tracing::warn!(target: "coyote::jobs", pipeline = %opts.pipeline, consumer = %durable,
                    "nats: the consumer exists with other settings, using it as it is: {create}");
                Ok(c)
            }
            Err(_) => Err(JobsError::Storage {
                pipeline: opts.pipeline.clone(),
                message: format!(
                    "nats: creating consumer {durable} on stream {}: {create}",
                    opts.stream
                ),
            }),
        },
    }
}

/// Pulls while the pipeline consumes, on one inbox kept for the whole
/// run: a pull request for `prefetch` messages is kept waiting on the
/// server (which delivers as slots free, never more than
/// `max_ack_pending` unacknowledged), a new one sent when half of it was
/// delivered, when it expired, and after a reconnect. When paused, no
/// request is sent any more and the inbox is kept until the last one
/// expired: a message the server still delivers is NAKed (back to the
/// stream at once) rather than lost until `ack_wait`.
async fn pull_loop(
    driver: Weak<NatsDriver>,
    consumer: Consumer<PullConfig>,
    mut reconnected: tokio::sync::watch::Receiver<u64>,
    cancel: CancellationToken,
) {
    let Some((client, prefetch)) = driver
        .upgrade()
        .map(|d| (d.client.clone(), d.opts.prefetch))
    else {
        return;
    };
    let context = consumer_context(&driver);
    let inbox = async_nats::Subject::from(client.new_inbox());
    let Some(context) = context else { return };
    let Some(mut sub) = subscribe(&client, &inbox, &cancel).await else {
        return;
    };
    let mut outstanding = 0usize;
    let mut deadline = tokio::time::Instant::now();
    let mut draining = false;
    let mut backoff = Duration::from_millis(100);
    loop {
        let now = tokio::time::Instant::now();
        if draining && driver.upgrade().is_none_or(|d| d.lock().stopped) {
            return;
        }
        if now >= deadline {
            if draining {
                return;
            }
            outstanding = 0;
        }
        if !draining && (outstanding <= prefetch / 2 || now >= deadline) {
            let request = BatchConfig {
                batch: prefetch,
                expires: Some(PULL_EXPIRES),
                ..BatchConfig::default()
            };
            match consumer.request_batch(request, inbox.clone()).await {
                Ok(()) => {
                    outstanding += prefetch;
                    deadline = tokio::time::Instant::now() + PULL_EXPIRES + Duration::from_secs(1);
                    backoff = Duration::from_millis(100);
                }
                Err(e) => {
                    if let Some(d) = driver.upgrade() {
                        tracing::warn!(target: "coyote::jobs", pipeline = %d.opts.pipeline,
                            "nats: pull request failed, retrying in {backoff:?}: {e}");
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        }
        tokio::select! {
            () = cancel.cancelled(), if !draining => {
                // Stopped for good: the connection goes with the driver.
                if driver.upgrade().is_none_or(|d| d.lock().stopped) {
                    return;
                }
                draining = true;
            }
            changed = reconnected.changed() => {
                if changed.is_err() {
                    return;
                }
                // The requests may have died with the old connection.
                deadline = tokio::time::Instant::now();
            }
            () = tokio::time::sleep_until(deadline) => {}
            next = sub.next() => {
                let Some(message) = next else {
                    // The subscription ended (the client closed it): a new one.
                    let Some(again) = subscribe(&client, &inbox, &cancel).await else {
                        return;
                    };
                    sub = again;
                    deadline = tokio::time::Instant::now();
                    continue;
                };
                let Some(d) = driver.upgrade() else { return };
                match message.status {
                    None | Some(StatusCode::OK) => {
                        outstanding = outstanding.saturating_sub(1);
                        d.accept(jetstream::Message { message, context: context.clone() }).await;
                    }
                    Some(StatusCode::IDLE_HEARTBEAT) => {}
                    Some(StatusCode::TIMEOUT | StatusCode::REQUEST_TERMINATED) => {
                        let left = message
                            .headers
                            .as_ref()
                            .and_then(|h| h.get("Nats-Pending-Messages"))
                            .and_then(|v| v.as_str().parse::<usize>().ok())
                            .unwrap_or(prefetch);
                        outstanding = outstanding.saturating_sub(left);
                        if message.description.as_deref() == Some("Consumer Deleted") {
                            d.recreate_consumer().await;
                        }
                    }
                    Some(StatusCode::NO_RESPONDERS) => {
                        tracing::warn!(target: "coyote::jobs", pipeline = %d.opts.pipeline,
                            "nats: the consumer does not answer; creating it again");
                        d.recreate_consumer().await;
                        deadline = tokio::time::Instant::now();
                    }
                    Some(other) => {
                        tracing::warn!(target: "coyote::jobs", pipeline = %d.opts.pipeline,
                            "nats: pull answered {other}: {:?}", message.description);
                        outstanding = 0;
                    }
                }
            }
        }
    }
}

async fn subscribe(
    client: &Client,
    inbox: &async_nats::Subject,
    cancel: &CancellationToken,
) -> Option<async_nats::Subscriber> {
    loop {
        match client.subscribe(inbox.clone()).await {
            Ok(sub) => return Some(sub),
            Err(e) => {
                tracing::warn!(target: "coyote::jobs", "nats: cannot subscribe, retrying: {e}");
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}

fn consumer_context(driver: &Weak<NatsDriver>) -> Option<jetstream::Context> {
    driver.upgrade().map(|d| d.js.clone())
}

/// Reports work in progress for every held delivery (so that the server
/// does not redeliver a job a worker is still running) and refreshes the
/// count of messages waiting on the server.
async fn housekeeping(driver: Weak<NatsDriver>, cancel: CancellationToken) {
    let mut last_progress = Instant::now();
    let tick = driver
        .upgrade()
        .map_or(INFO_EVERY, |d| INFO_EVERY.min(d.opts.ack_wait / 4));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(tick) => {}
        }
        let Some(d) = driver.upgrade() else { return };
        if d.client.connection_state() != LinkState::Connected {
            continue;
        }
        if last_progress.elapsed() >= d.opts.ack_wait / 3 {
            last_progress = Instant::now();
            let ackers: Vec<Arc<Acker>> = d.lock().held.values().map(|h| h.acker.clone()).collect();
            for a in ackers {
                let _ = a.ack_with(AckKind::Progress).await;
            }
        }
        if let Ok(Ok(info)) = tokio::time::timeout(REQUEST_TIMEOUT, d.consumer.get_info()).await {
            let mut st = d.lock();
            st.pending = info.num_pending;
            st.ack_pending = u64::try_from(info.num_ack_pending).unwrap_or(u64::MAX);
        }
    }
}

async fn nak_all(ackers: Vec<Arc<Acker>>) {
    for a in ackers {
        let _ = a.ack_with(AckKind::Nak(None)).await;
    }
}

impl Driver for NatsDriver {
    fn kind(&self) -> &'static str {
        "nats"
    }

    fn context(&self, job: &Job) -> Vec<u8> {
        job.context("nats", &self.opts.stream)
    }

    fn push(&self, jobs: Vec<Job>) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(async move {
            if self.lock().stopped {
                return Err(JobsError::Stopped(self.opts.pipeline.clone()));
            }
            let jobs: Vec<(Job, u64)> = jobs
                .into_iter()
                .map(|j| {
                    let delay = j.delay;
                    (j, delay)
                })
                .collect();
            self.publish(&jobs, false).await
        })
    }

    fn resume(&self) -> Result<(), JobsError> {
        let mut st = self.lock();
        if st.stopped {
            return Err(JobsError::Stopped(self.opts.pipeline.clone()));
        }
        if st.running {
            return Err(JobsError::State(
                "nats listener is already in the active state".to_owned(),
            ));
        }
        st.running = true;
        let cancel = self.shutdown.child_token();
        st.pull = Some(cancel.clone());
        self.tracker.spawn(pull_loop(
            self.me.clone(),
            self.consumer.clone(),
            self.link.connected.subscribe(),
            cancel,
        ));
        Ok(())
    }

    fn pause(&self) -> Result<(), JobsError> {
        let ackers = {
            let mut st = self.lock();
            if !st.running {
                return Err(JobsError::State(
                    "no active listeners, nothing to pause".to_owned(),
                ));
            }
            st.running = false;
            if let Some(pull) = st.pull.take() {
                pull.cancel();
            }
            self.take_back(&mut st)
        };
        self.tracker.spawn(nak_all(ackers));
        Ok(())
    }

    fn state(&self) -> PipelineState {
        let mut st = self.lock();
        let now = Instant::now();
        st.delayed.retain(|_, due| *due > now);
        let reserved = st.held.values().filter(|h| h.reserved).count();
        let queued = st.held.len() - reserved;
        // Unacknowledged on the server but neither held here nor delayed:
        // NAKed and waiting for their redelivery (or held by another
        // server consuming the same pipeline).
        let held = u64::try_from(st.held.len() + st.delayed.len()).unwrap_or(u64::MAX);
        let redelivering = st.ack_pending.saturating_sub(held);
        PipelineState {
            pipeline: self.opts.pipeline.clone(),
            driver: "nats".to_owned(),
            queue: self.opts.subject.clone(),
            active: i64::try_from(st.pending.saturating_add(redelivering))
                .unwrap_or(i64::MAX)
                .saturating_add(i64::try_from(queued).unwrap_or(i64::MAX)),
            delayed: i64::try_from(st.delayed.len()).unwrap_or(i64::MAX),
            reserved: i64::try_from(reserved).unwrap_or(i64::MAX),
            ready: st.running,
            priority: u64::try_from(self.opts.priority).unwrap_or(0),
            error_message: self.link.get(),
        }
    }

    fn stop(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let ackers = {
                let mut st = self.lock();
                st.running = false;
                st.stopped = true;
                if let Some(pull) = st.pull.take() {
                    pull.cancel();
                }
                self.take_back(&mut st)
            };
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, nak_all(ackers)).await;
            self.tasks.cancel();
            if self.opts.delete_stream_on_stop {
                match tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    self.js.delete_stream(&self.opts.stream),
                )
                .await
                {
                    Ok(Ok(_)) => {
                        tracing::debug!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                        stream = %self.opts.stream, "nats: stream deleted (delete_stream_on_stop)")
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                        stream = %self.opts.stream, "nats: deleting the stream failed: {e}")
                    }
                    Err(_) => {
                        tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                        stream = %self.opts.stream, "nats: deleting the stream timed out")
                    }
                }
            }
            let _ = tokio::time::timeout(REQUEST_TIMEOUT, self.client.flush()).await;
            0
        })
    }

    fn reserve(&self, handle: u64) {
        if let Some(h) = self.lock().held.get_mut(&handle) {
            h.reserved = true;
        }
    }

    fn ack(&self, handle: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.lock().held.remove(&handle);
        Box::pin(async move {
            match held {
                Some(h) => self.settle_ack(h).await,
                None => Ok(()),
            }
        })
    }

    fn nack(
        &self,
        handle: u64,
        _job: Job,
        redeliver: bool,
        delay: u64,
    ) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.lock().held.remove(&handle);
        Box::pin(async move {
            let Some(h) = held else { return Ok(()) };
            let kind = if !redeliver {
                AckKind::Term
            } else if delay > 0 {
                let wait = Duration::from_secs(delay);
                self.lock().delayed.insert(h.seq, Instant::now() + wait);
                AckKind::Nak(Some(wait))
            } else {
                AckKind::Nak(None)
            };
            h.acker.ack_with(kind).await.map_err(|e| self.broker(e))
        })
    }

    fn requeue(&self, handle: u64, job: Job, delay: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.lock().held.remove(&handle);
        Box::pin(async move {
            let published = self.publish(&[(job, delay)], true).await;
            let Some(h) = held else { return published };
            match published {
                Ok(()) => self.settle_ack(h).await,
                Err(e) => {
                    // Not requeued: the server redelivers the original.
                    let _ = h.acker.ack_with(AckKind::Nak(None)).await;
                    Err(e)
                }
            }
        })
    }
}
