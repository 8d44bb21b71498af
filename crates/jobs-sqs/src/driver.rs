//! [`SqsDriver`]: one pipeline on one SQS queue. A receive loop (one per
//! consuming run) long-polls the queue while fewer than
//! `max_messages_in_flight` deliveries are unsettled; each delivery waits
//! in `held` (handle -> receipt handle) until the worker's reply settles
//! it: delete (ack, nack without redelivery), visibility change (nack with
//! redelivery, pause), or a new message and the delete of the old one
//! (requeue). A housekeeping task reads the queue's counts for Stat every
//! half second and doubles as the link's health check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use coyote_jobs::driver::BoxFuture;
use coyote_jobs::drivers::broker::OpenContext;
use coyote_jobs::{Delivery, Driver, Job, JobQueue, JobsError, PipelineState};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::client::{self, Clients};
use crate::config::{SqsOptions, MAX_DELAY, MAX_VISIBILITY_TIMEOUT};
use crate::message::{self, Outgoing};

/// How often Stat's counts are read from the queue.
const INFO_EVERY: Duration = Duration::from_millis(500);
/// What one SendMessageBatch may carry.
const BATCH_COUNT: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;
const MAX_VISIBILITY_TIMEOUT_I32: i32 = 43_200;

struct Held {
    receipt: String,
    reserved: bool,
    /// When SQS makes it visible again unless told otherwise.
    hidden_until: Instant,
}

#[derive(Default)]
struct State {
    running: bool,
    stopped: bool,
    /// The current consuming run (a receive loop of an older run ends
    /// after its call and releases what that call brought).
    run: u64,
    /// Deliveries not settled yet: queued for the pollers or at a worker.
    held: HashMap<u64, Held>,
    /// Messages nacked with a delay (visibility changed), until when.
    delayed: Vec<Instant>,
    /// The queue's counts as of the last read: visible, delayed, in flight.
    visible: i64,
    sqs_delayed: i64,
    in_flight: i64,
    /// Why the link is unhealthy, or empty.
    error: String,
    /// The visibility timeout of what is received: the pipeline's, or the
    /// queue's own (read with the counts).
    visibility: Duration,
}

/// The sqs driver of one pipeline.
pub struct SqsDriver {
    opts: SqsOptions,
    clients: Clients,
    queue_url: String,
    queue: Arc<JobQueue>,
    tracker: TaskTracker,
    /// Ends the housekeeping task and the receive loop at stop (a child
    /// of the plugin's shutdown).
    tasks: CancellationToken,
    state: Mutex<State>,
    /// A delivery was settled: the receive loop may have room again.
    room: Notify,
    next_handle: AtomicU64,
    me: Weak<SqsDriver>,
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{}", N.fetch_add(1, AtomicOrdering::Relaxed))
}

impl SqsDriver {
    /// Connects, creates the queue (or only looks it up with
    /// `skip_queue_declaration`) and returns the driver, paused.
    ///
    /// # Errors
    /// The endpoint cannot be reached, the credentials are refused, the
    /// queue is missing (with `skip_queue_declaration`) or cannot be
    /// created.
    pub async fn open(opts: SqsOptions, ctx: OpenContext) -> Result<Arc<Self>, JobsError> {
        let clients = client::connect(&opts).await?;
        let queue_url = client::queue_url(&clients.client, &opts).await?;
        let visibility = opts.visibility_timeout;
        let driver = Arc::new_cyclic(|me| Self {
            opts,
            clients,
            queue_url,
            queue: ctx.queue.clone(),
            tracker: ctx.tracker.clone(),
            tasks: ctx.shutdown.child_token(),
            state: Mutex::new(State {
                // SQS's default until the queue's own is read.
                visibility: Duration::from_secs(
                    u64::try_from(visibility)
                        .ok()
                        .filter(|v| *v > 0)
                        .unwrap_or(30),
                ),
                ..State::default()
            }),
            room: Notify::new(),
            next_handle: AtomicU64::new(1),
            me: me.clone(),
        });
        ctx.tracker
            .spawn(housekeeping(Arc::downgrade(&driver), driver.tasks.clone()));
        tracing::debug!(target: "coyote::jobs", pipeline = %driver.opts.pipeline,
            queue = %driver.opts.queue, url = %driver.queue_url, "sqs pipeline opened");
        Ok(driver)
    }

    /// The queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn broker(&self, message: impl std::fmt::Display) -> JobsError {
        JobsError::Storage {
            pipeline: self.opts.pipeline.clone(),
            message: format!("sqs: {message}"),
        }
    }

    fn link_failed(&self, what: &str, e: impl std::fmt::Display) {
        let message = format!("sqs: {what} {}: {e}", self.opts.queue);
        let mut st = self.lock();
        if st.error.is_empty() {
            tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline, "{message}");
        }
        st.error = message;
    }

    fn link_ok(&self) {
        let mut st = self.lock();
        if !st.error.is_empty() {
            tracing::info!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                queue = %self.opts.queue, "sqs: reachable again");
            st.error.clear();
        }
    }

    /// Takes this pipeline's deliveries back from the plugin queue: their
    /// receipt handles, to make visible again.
    fn take_back(&self, st: &mut State) -> Vec<String> {
        self.queue
            .remove_pipeline(&self.opts.pipeline)
            .into_iter()
            .filter_map(|d| st.held.remove(&d.handle).map(|h| h.receipt))
            .collect()
    }

    /// Makes messages visible again at once (best effort: otherwise they
    /// come back after their visibility timeout).
    async fn release(&self, receipts: Vec<String>) {
        for receipt in receipts {
            if let Err(e) = self.change_visibility(&receipt, 0).await {
                tracing::debug!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                    "sqs: releasing a message failed (it returns after its visibility timeout): {e}");
            }
        }
    }

    async fn change_visibility(&self, receipt: &str, seconds: u64) -> Result<(), JobsError> {
        let seconds =
            i32::try_from(seconds.min(MAX_VISIBILITY_TIMEOUT.unsigned_abs())).unwrap_or(0);
        self.clients
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                self.broker(format!(
                    "changing the visibility of a message: {}",
                    DisplayErrorContext(e)
                ))
            })
    }

    async fn delete(&self, receipt: &str) -> Result<(), JobsError> {
        self.clients
            .client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.broker(format!("deleting a message: {}", DisplayErrorContext(e))))
    }

    /// A settled delivery: forgets it and wakes the receive loop.
    fn settled(&self, handle: u64) -> Option<Held> {
        let held = self.lock().held.remove(&handle);
        self.room.notify_one();
        held
    }

    /// Sends `jobs` (each with its delay; `requeue`: again, with a new
    /// deduplication id on a FIFO queue) and returns once SQS accepted
    /// every one of them.
    async fn send(&self, jobs: &[(Job, u64)], requeue: bool) -> Result<(), JobsError> {
        let mut batches: Vec<Vec<(usize, Outgoing, &Job, u64)>> = Vec::new();
        let mut bytes = 0;
        for (i, (job, delay)) in jobs.iter().enumerate() {
            let out = message::encode(job, *delay).map_err(JobsError::Invalid)?;
            let size = out.size();
            let full = batches
                .last()
                .is_none_or(|b| b.len() >= BATCH_COUNT || bytes + size > BATCH_BYTES);
            if full {
                batches.push(Vec::new());
                bytes = 0;
            }
            bytes += size;
            if let Some(b) = batches.last_mut() {
                b.push((i, out, job, *delay));
            }
        }
        let sent = futures::future::join_all(
            batches
                .into_iter()
                .map(|batch| self.send_batch(batch, requeue)),
        )
        .await;
        let failed: Vec<String> = sent.into_iter().filter_map(Result::err).collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(self.broker(format!(
                "sending to {} failed: {}",
                self.opts.queue,
                failed.join("; ")
            )))
        }
    }

    async fn send_batch(
        &self,
        batch: Vec<(usize, Outgoing, &Job, u64)>,
        requeue: bool,
    ) -> Result<(), String> {
        let fifo = self.opts.fifo();
        let group =
            (!self.opts.message_group_id.is_empty()).then(|| self.opts.message_group_id.clone());
        let dedup = |job: &Job| {
            fifo.then(|| {
                if requeue || job.id.is_empty() {
                    format!("{}-{}", job.id, unique())
                } else {
                    job.id.clone()
                }
            })
        };
        // A FIFO queue takes no per-message delay (RoadRunner sends 0 too).
        let delay_of = |d: u64| {
            if fifo {
                0
            } else {
                i32::try_from(d.min(MAX_DELAY)).unwrap_or(0)
            }
        };
        if let [(_, out, job, delay)] = batch.as_slice() {
            return self
                .clients
                .client
                .send_message()
                .queue_url(&self.queue_url)
                .message_body(out.body.clone())
                .set_message_attributes(Some(out.attributes.clone()))
                .delay_seconds(delay_of(*delay))
                .set_message_group_id(group)
                .set_message_deduplication_id(dedup(job))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("job {}: {}", job.id, DisplayErrorContext(e)));
        }
        let mut entries = Vec::with_capacity(batch.len());
        let mut ids = HashMap::with_capacity(batch.len());
        for (i, out, job, delay) in batch {
            ids.insert(i.to_string(), job.id.clone());
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(out.body)
                .set_message_attributes(Some(out.attributes))
                .delay_seconds(delay_of(delay))
                .set_message_group_id(group.clone())
                .set_message_deduplication_id(dedup(job))
                .build()
                .map_err(|e| format!("job {}: {e}", job.id))?;
            entries.push(entry);
        }
        let out = self
            .clients
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "jobs {}: {}",
                    ids.values().cloned().collect::<Vec<_>>().join(", "),
                    DisplayErrorContext(e)
                )
            })?;
        // A batch is accepted message by message: any refused one is the
        // caller's error (the others are stored).
        let refused: Vec<String> = out
            .failed()
            .iter()
            .map(|f| {
                format!(
                    "job {}: {} ({})",
                    ids.get(f.id()).map_or(f.id(), String::as_str),
                    f.message().unwrap_or_default(),
                    f.code()
                )
            })
            .collect();
        if refused.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} of the batch refused, the rest stored: {}",
                refused.len(),
                refused.join(", ")
            ))
        }
    }

    /// One ReceiveMessage: the messages go into the plugin queue (or back,
    /// when the pipeline stopped consuming meanwhile).
    async fn receive(&self, run: u64, max: usize) -> Result<usize, String> {
        let mut call = self
            .clients
            .poller
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(1))
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(self.opts.wait_time_seconds);
        if self.opts.visibility_timeout > 0 {
            call = call.visibility_timeout(self.opts.visibility_timeout);
        }
        let out = call
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        let messages = out.messages.unwrap_or_default();
        let n = messages.len();
        let Some(me) = self.me.upgrade() else {
            return Ok(n);
        };
        let mut refused = Vec::new();
        {
            let mut st = self.lock();
            for m in &messages {
                let Some(receipt) = m.receipt_handle() else {
                    continue;
                };
                if !st.running || st.stopped || st.run != run {
                    refused.push(receipt.to_owned());
                    continue;
                }
                let mut job = message::decode(&self.opts.pipeline, m);
                if job.priority == 0 {
                    job.priority = self.opts.priority;
                }
                let handle = self.next_handle.fetch_add(1, AtomicOrdering::Relaxed);
                let hidden_until = Instant::now() + st.visibility;
                st.held.insert(
                    handle,
                    Held {
                        receipt: receipt.to_owned(),
                        reserved: false,
                        hidden_until,
                    },
                );
                // Inserted under the state lock: a pause taking deliveries
                // back cannot miss it.
                self.queue.insert([Delivery {
                    job,
                    handle,
                    driver: me.clone(),
                }]);
            }
        }
        if !refused.is_empty() {
            self.release(refused).await;
        }
        Ok(n)
    }

    /// Keeps the deliveries held here hidden: each one due within half of
    /// the visibility timeout gets the whole timeout again
    /// (ChangeMessageVisibilityBatch), so a job that runs longer than the
    /// timeout is not delivered to anyone else meanwhile.
    async fn extend(&self) {
        let (due, visibility) = {
            let st = self.lock();
            let now = Instant::now();
            let soon = now + st.visibility / 2;
            let due: Vec<(u64, String)> = st
                .held
                .iter()
                .filter(|(_, h)| h.hidden_until <= soon)
                .map(|(k, h)| (*k, h.receipt.clone()))
                .collect();
            (due, st.visibility)
        };
        let secs = i32::try_from(visibility.as_secs()).unwrap_or(MAX_VISIBILITY_TIMEOUT_I32);
        for chunk in due.chunks(BATCH_COUNT) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .filter_map(|(handle, receipt)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(handle.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(secs)
                        .build()
                        .ok()
                })
                .collect();
            let sent = self
                .clients
                // One short attempt: on a bad link the counts' read fails
                // too, and the next round tries again.
                .probe
                .change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
                    let until = Instant::now() + visibility;
                    let mut st = self.lock();
                    for (handle, _) in chunk {
                        if failed.contains(&handle.to_string().as_str()) {
                            continue;
                        }
                        if let Some(h) = st.held.get_mut(handle) {
                            h.hidden_until = until;
                        }
                    }
                }
                Err(e) => tracing::debug!(target: "coyote::jobs", pipeline = %self.opts.pipeline,
                    "sqs: keeping deliveries hidden failed (they may be delivered again): {}",
                    DisplayErrorContext(e)),
            }
        }
    }

    async fn refresh(&self) {
        let read = self
            .clients
            .probe
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await;
        match read {
            Ok(out) => {
                let attrs = out.attributes.unwrap_or_default();
                let count = |k: QueueAttributeName| {
                    attrs
                        .get(&k)
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                {
                    let mut st = self.lock();
                    st.visible = count(QueueAttributeName::ApproximateNumberOfMessages);
                    st.sqs_delayed = count(QueueAttributeName::ApproximateNumberOfMessagesDelayed);
                    st.in_flight = count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
                    if self.opts.visibility_timeout == 0 {
                        let queue_own = count(QueueAttributeName::VisibilityTimeout);
                        st.visibility =
                            Duration::from_secs(u64::try_from(queue_own).unwrap_or(30).max(1));
                    }
                }
                self.link_ok();
            }
            Err(e) => self.link_failed("reading the counts of", DisplayErrorContext(e)),
        }
    }
}

/// Reads the queue's counts every [`INFO_EVERY`] until the driver stops.
async fn housekeeping(driver: Weak<SqsDriver>, stop: CancellationToken) {
    loop {
        {
            let Some(d) = driver.upgrade() else { return };
            tokio::select! {
                () = async { d.extend().await; d.refresh().await } => {}
                () = stop.cancelled() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(INFO_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Receives while the run lasts: at most `max_messages_in_flight`
/// unsettled, `prefetch` per call; errors back off (100 ms doubling to
/// 2 s) and set the pipeline's error message until a call succeeds.
async fn receive_loop(driver: Weak<SqsDriver>, run: u64, cancel: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(d) = driver.upgrade() else { return };
        let room = {
            let st = d.lock();
            if !st.running || st.stopped || st.run != run {
                return;
            }
            d.opts.max_in_flight.saturating_sub(st.held.len())
        };
        if room == 0 {
            tokio::select! {
                () = d.room.notified() => {}
                () = cancel.cancelled() => return,
            }
            continue;
        }
        let max = room.min(d.opts.prefetch);
        // A pause lets the call end (within wait_time_seconds) and
        // releases what it brought; a call cut short by the server's stop
        // leaves what SQS handed out in flight until its visibility
        // timeout (SQS may still hand out messages to an abandoned poll).
        let got = tokio::select! {
            r = d.receive(run, max) => r,
            () = cancel.cancelled() => return,
        };
        let idle = match got {
            Ok(n) => {
                d.link_ok();
                backoff = Duration::from_millis(100);
                // Short polling (wait_time_seconds 0) on an empty queue
                // would spin: a pause between empty answers.
                (n == 0 && d.opts.wait_time_seconds == 0).then_some(Duration::from_millis(200))
            }
            Err(e) => {
                d.link_failed("receiving from", e);
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                Some(wait)
            }
        };
        drop(d);
        if let Some(wait) = idle {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = cancel.cancelled() => return,
            }
        }
    }
}

impl Driver for SqsDriver {
    fn kind(&self) -> &'static str {
        "sqs"
    }

    fn context(&self, job: &Job) -> Vec<u8> {
        job.context("sqs", &self.opts.queue)
    }

    fn push(&self, jobs: Vec<Job>) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(async move {
            if self.lock().stopped {
                return Err(JobsError::Stopped(self.opts.pipeline.clone()));
            }
            let mut out = Vec::with_capacity(jobs.len());
            for mut j in jobs {
                if j.delay > MAX_DELAY {
                    return Err(JobsError::Invalid(format!(
                        "job {}: unable to push, maximum possible delay is {MAX_DELAY} seconds (15 minutes), provided: {}",
                        j.id, j.delay
                    )));
                }
                if j.priority == 0 {
                    j.priority = self.opts.priority;
                }
                let delay = j.delay;
                out.push((j, delay));
            }
            self.send(&out, false).await
        })
    }

    fn resume(&self) -> Result<(), JobsError> {
        let mut st = self.lock();
        if st.stopped {
            return Err(JobsError::Stopped(self.opts.pipeline.clone()));
        }
        if st.running {
            return Err(JobsError::State(
                "sqs listener is already in the active state".to_owned(),
            ));
        }
        st.running = true;
        st.run += 1;
        self.tracker
            .spawn(receive_loop(self.me.clone(), st.run, self.tasks.clone()));
        Ok(())
    }

    fn pause(&self) -> Result<(), JobsError> {
        let receipts = {
            let mut st = self.lock();
            if !st.running {
                return Err(JobsError::State(
                    "no active listeners, nothing to pause".to_owned(),
                ));
            }
            st.running = false;
            self.take_back(&mut st)
        };
        // Wakes a loop waiting for room: it sees the pause and ends.
        self.room.notify_one();
        if let Some(me) = self.me.upgrade() {
            self.tracker
                .spawn(async move { me.release(receipts).await });
        }
        Ok(())
    }

    fn state(&self) -> PipelineState {
        let mut st = self.lock();
        let now = Instant::now();
        st.delayed.retain(|due| *due > now);
        let reserved = st.held.values().filter(|h| h.reserved).count();
        let queued = st.held.len() - reserved;
        let local_delayed = st.delayed.len();
        PipelineState {
            pipeline: self.opts.pipeline.clone(),
            driver: "sqs".to_owned(),
            queue: self.opts.queue.clone(),
            active: st
                .visible
                .saturating_add(i64::try_from(queued).unwrap_or(i64::MAX)),
            delayed: st
                .sqs_delayed
                .saturating_add(i64::try_from(local_delayed).unwrap_or(i64::MAX)),
            reserved: i64::try_from(reserved).unwrap_or(i64::MAX),
            ready: st.running,
            priority: u64::try_from(self.opts.priority).unwrap_or(0),
            error_message: st.error.clone(),
        }
    }

    fn stop(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let receipts = {
                let mut st = self.lock();
                st.running = false;
                st.stopped = true;
                self.take_back(&mut st)
            };
            let _ = tokio::time::timeout(Duration::from_secs(5), self.release(receipts)).await;
            self.tasks.cancel();
            self.room.notify_one();
            // Messages stay in SQS: nothing is dropped.
            0
        })
    }

    fn reserve(&self, handle: u64) {
        if let Some(h) = self.lock().held.get_mut(&handle) {
            h.reserved = true;
        }
    }

    fn ack(&self, handle: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.settled(handle);
        Box::pin(async move {
            match held {
                Some(h) => self.delete(&h.receipt).await,
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
        let held = self.settled(handle);
        Box::pin(async move {
            let Some(h) = held else { return Ok(()) };
            if redeliver {
                if delay > 0 {
                    let wait =
                        Duration::from_secs(delay.min(MAX_VISIBILITY_TIMEOUT.unsigned_abs()));
                    self.lock().delayed.push(Instant::now() + wait);
                }
                return self.change_visibility(&h.receipt, delay).await;
            }
            if self.opts.retain_failed_jobs {
                // Left in the queue for SQS to deliver again (and, with a
                // redrive policy, to move to the dead-letter queue).
                if self.opts.error_visibility_timeout > 0 {
                    let secs = u64::try_from(self.opts.error_visibility_timeout).unwrap_or(0);
                    return self.change_visibility(&h.receipt, secs).await;
                }
                return Ok(());
            }
            self.delete(&h.receipt).await
        })
    }

    fn requeue(&self, handle: u64, job: Job, delay: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.settled(handle);
        Box::pin(async move {
            if delay > MAX_DELAY {
                tracing::warn!(target: "coyote::jobs", pipeline = %self.opts.pipeline, id = %job.id,
                    "sqs: a requeue delay of {delay} s is more than SQS takes; requeued with {MAX_DELAY} s");
            }
            let mut job = job;
            job.attempts = job.attempts.saturating_add(1);
            // Deleted only once the new message is in: otherwise the
            // original comes back after its visibility timeout.
            self.send(&[(job, delay.min(MAX_DELAY))], true).await?;
            match held {
                Some(h) => self.delete(&h.receipt).await,
                None => Ok(()),
            }
        })
    }
}
