//! [`AmqpDriver`]: one pipeline on a RabbitMQ queue. One connection per
//! pipeline, redialed by the driver's own supervisor: a publish channel in
//! confirm mode, a consume channel per connection while consuming
//! (basic.qos = `prefetch`), and a channel for Stat's passive declares.
//! Deliveries go into the plugin's queue and wait in `held` (handle -> the
//! delivery's acker, and the connection it came on) until a worker's reply
//! settles them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coyote_jobs::driver::BoxFuture;
use coyote_jobs::drivers::broker::OpenContext;
use coyote_jobs::{Delivery, Driver, Job, JobQueue, JobsError, PipelineState};
use futures::StreamExt;
use lapin::message::Delivery as AmqpDelivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Acker, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{redact, AmqpOptions};
use crate::message;

mod link;
mod loops;
use link::{declare_topology, dial};
use loops::{consume_loop, nack_all, requeue, supervise};

/// How long a publish may wait for the broker's confirm (and a broker
/// command for its answer): a push during a stalled link fails within it.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one dial (TCP, TLS, AMQP handshake, declarations) may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the link's health is checked and Stat's counts refreshed.
const TICK: Duration = Duration::from_millis(250);
/// Stat's counts from the broker are refreshed this often.
const INFO_EVERY: Duration = Duration::from_millis(500);
/// The first and the longest pause between two redials.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One live connection and its channels.
struct Link {
    generation: u64,
    conn: Connection,
    publish: Channel,
    /// The channel of Stat's passive declares (replaced when a declare
    /// closed it).
    info: Mutex<Option<Channel>>,
    /// The consume channel, kept for the connection's life: closing it
    /// would give the broker back what workers still run (after a pause).
    consume: Mutex<Option<Channel>>,
    /// Delay queues declared on this connection.
    delay_queues: Mutex<HashSet<String>>,
    /// Cancelled when the link is found dead.
    dead: CancellationToken,
}

impl Link {
    fn alive(&self) -> bool {
        !self.dead.is_cancelled() && self.conn.status().connected()
    }
}

struct Held {
    acker: Acker,
    generation: u64,
    reserved: bool,
}

#[derive(Default)]
struct State {
    running: bool,
    stopped: bool,
    /// Cancels the consume loop of the current run.
    consume: Option<CancellationToken>,
    /// Deliveries not settled yet: queued for the pollers or at a worker.
    held: HashMap<u64, Held>,
    /// Ready messages in the queue (as of the last passive declare).
    ready: u64,
    /// Messages waiting in this pipeline's delay queues.
    delayed: u64,
}

/// The amqp driver of one pipeline.
pub struct AmqpDriver {
    opts: AmqpOptions,
    queue: Arc<JobQueue>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// Ends the supervisor at stop.
    tasks: CancellationToken,
    /// The live link, `None` while redialing.
    link: watch::Sender<Option<Arc<Link>>>,
    error: Mutex<String>,
    state: Mutex<State>,
    next_handle: AtomicU64,
    generations: AtomicU64,
    /// Delay queues ever used here (Stat counts what waits in them).
    delay_queues: Mutex<HashSet<String>>,
    me: Weak<AmqpDriver>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn is_soft(e: &lapin::Error, kind: AMQPSoftError) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.kind() == &AMQPErrorKind::Soft(kind))
}

/// A fresh id for a message that carries no `rr_id` (a uuid v4, as
/// RoadRunner gives one).
fn fresh_id() -> String {
    let h = format!("{:032x}", fastrand::u128(..));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl AmqpDriver {
    /// Connects (the first dial failing is an error), declares the exchange
    /// and the queue, and returns the driver, paused.
    ///
    /// # Errors
    /// The broker cannot be reached, refuses the credentials, or the
    /// exchange or the queue cannot be declared (nor exist).
    pub async fn open(opts: AmqpOptions, ctx: OpenContext) -> Result<Arc<Self>, JobsError> {
        let link = dial(&opts, 1)
            .await
            .map_err(|e| JobsError::Invalid(format!("amqp: {e}")))?;
        let driver = Arc::new_cyclic(|me| Self {
            opts,
            queue: ctx.queue.clone(),
            tracker: ctx.tracker.clone(),
            shutdown: ctx.shutdown.clone(),
            tasks: ctx.shutdown.child_token(),
            link: watch::Sender::new(Some(link)),
            error: Mutex::new(String::new()),
            state: Mutex::new(State::default()),
            next_handle: AtomicU64::new(1),
            generations: AtomicU64::new(1),
            delay_queues: Mutex::new(HashSet::new()),
            me: me.clone(),
        });
        ctx.tracker
            .spawn(supervise(Arc::downgrade(&driver), driver.tasks.clone()));
        tracing::debug!(target: "coyote::jobs", pipeline = %driver.opts.pipeline,
            queue = %driver.opts.queue, exchange = %driver.opts.exchange,
            routing_key = %driver.opts.routing_key, "amqp pipeline opened");
        Ok(driver)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_error(&self, message: String) {
        *self
            .error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = message;
    }

    fn error(&self) -> String {
        self.error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn broker(&self, message: impl std::fmt::Display) -> JobsError {
        JobsError::Storage {
            pipeline: self.opts.pipeline.clone(),
            message: format!("amqp: {message}"),
        }
    }

    /// The live link, or why there is none.
    fn live(&self) -> Result<Arc<Link>, JobsError> {
        match self.link.borrow().as_ref() {
            Some(l) if l.alive() => return Ok(l.clone()),
            _ => {}
        }
        let why = self.error();
        Err(self.broker(if why.is_empty() {
            format!("not connected to {}", redact(&self.opts.addr))
        } else {
            why.trim_start_matches("amqp: ").to_owned()
        }))
    }

    /// The link died (found by the supervisor or by the consumer, whichever
    /// first): what was queued from it and is not at a worker yet is
    /// dropped here (the broker redelivers it), and the error says so.
    fn lost(&self, link: &Link) {
        if link.dead.is_cancelled() {
            return;
        }
        link.dead.cancel();
        self.set_error(format!(
            "amqp: connection to {} lost, redialing",
            redact(&self.opts.addr)
        ));
        let mut st = self.lock();
        let _ = self.take_back(&mut st, Some(link.generation));
        st.held
            .retain(|_, h| h.generation != link.generation || h.reserved);
    }

    /// Takes this pipeline's deliveries back from the plugin queue (all of
    /// them, or those of connection `generation`): their ackers.
    fn take_back(&self, st: &mut State, generation: Option<u64>) -> Vec<Acker> {
        let mut back = Vec::new();
        let mut keep = Vec::new();
        for d in self.queue.remove_pipeline(&self.opts.pipeline) {
            let matches = st
                .held
                .get(&d.handle)
                .is_some_and(|h| generation.is_none_or(|g| h.generation == g));
            if matches {
                if let Some(h) = st.held.remove(&d.handle) {
                    back.push(h.acker);
                }
            } else {
                keep.push(d);
            }
        }
        if !keep.is_empty() {
            self.queue.insert(keep);
        }
        back
    }

    /// A delivered message: into the plugin queue, or straight back to the
    /// broker when the pipeline is not consuming any more.
    async fn accept(&self, delivery: AmqpDelivery, generation: u64) {
        let AmqpDelivery {
            properties,
            data,
            acker,
            ..
        } = delivery;
        let mut job = message::unpack(&self.opts.pipeline, &properties, data, fresh_id);
        if job.priority == 0 {
            job.priority = self.opts.priority;
        }
        let Some(me) = self.me.upgrade() else { return };
        let refused = {
            let mut st = self.lock();
            let current = self
                .link
                .borrow()
                .as_ref()
                .is_some_and(|l| l.generation == generation && l.alive());
            if !current {
                // Its connection is gone: the broker redelivers it.
                tracing::debug!(target: "coyote::jobs", pipeline = %self.opts.pipeline, generation,
                    "amqp: a delivery of a lost connection is left to the broker");
                return;
            }
            if !st.running || st.stopped {
                Some(acker)
            } else {
                let handle = self.next_handle.fetch_add(1, AtomicOrdering::Relaxed);
                st.held.insert(
                    handle,
                    Held {
                        acker,
                        generation,
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
            let _ = tokio::time::timeout(CONFIRM_TIMEOUT, acker.nack(requeue())).await;
        }
    }

    /// The delay queue for `delay_ms` (RoadRunner's dead-letter scheme:
    /// `delayed-<ms>.<exchange>.<queue or routing key>`, its messages
    /// dead-lettered to the exchange by the routing key when their TTL
    /// ends, the queue itself gone after twice the TTL unused), declared
    /// and bound once per connection.
    async fn delay_queue(&self, link: &Link, delay_ms: i64, rk: &str) -> Result<String, JobsError> {
        let target = if self.opts.queue.is_empty() {
            rk
        } else {
            self.opts.queue.as_str()
        };
        let name = format!("delayed-{delay_ms}.{}.{target}", self.opts.exchange);
        let known = link
            .delay_queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&name);
        if known {
            return Ok(name);
        }
        let mut args = FieldTable::default();
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(self.opts.exchange.as_str().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(rk.into()),
        );
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(delay_ms));
        args.insert(
            "x-expires".into(),
            AMQPValue::LongLongInt(delay_ms.saturating_mul(2)),
        );
        let work = async {
            // A throwaway channel: a refused declaration closes it, not the
            // publish channel.
            let ch = link.conn.create_channel().await?;
            ch.queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                args,
            )
            .await?;
            ch.queue_bind(
                name.as_str().into(),
                self.opts.exchange.as_str().into(),
                name.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
            let _ = ch.close(200, "OK".into()).await;
            Ok::<(), lapin::Error>(())
        };
        match tokio::time::timeout(CONFIRM_TIMEOUT, work).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.broker(format!("declaring delay queue {name}: {e}"))),
            Err(_) => {
                return Err(self.broker(format!(
                    "declaring delay queue {name}: no answer within {CONFIRM_TIMEOUT:?}"
                )))
            }
        }
        link.delay_queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone());
        self.delay_queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone());
        Ok(name)
    }

    /// Publishes `jobs` (each with its delay) and returns once the broker
    /// confirmed every one of them: a nack, a message the broker could not
    /// route anywhere, a lost link or no confirm in time is an error.
    async fn publish(&self, jobs: &[(Job, u64)]) -> Result<(), JobsError> {
        // One deadline for the whole push: a link dying under it may leave
        // a publish or a confirm unanswered for good.
        match tokio::time::timeout(CONFIRM_TIMEOUT, self.publish_now(jobs)).await {
            Ok(r) => r,
            Err(_) => Err(self.broker(format!(
                "no publisher confirm from {} within {CONFIRM_TIMEOUT:?}",
                redact(&self.opts.addr)
            ))),
        }
    }

    async fn publish_now(&self, jobs: &[(Job, u64)]) -> Result<(), JobsError> {
        let link = self.live()?;
        let mut confirms = Vec::with_capacity(jobs.len());
        for (job, delay) in jobs {
            let rk = message::routing_key(job, &self.opts.routing_key).to_owned();
            let table = message::pack(job, *delay).map_err(JobsError::Invalid)?;
            let routing = if *delay > 0 {
                let ms = i64::try_from(delay.saturating_mul(1000)).unwrap_or(i64::MAX);
                self.delay_queue(&link, ms, &rk).await?
            } else {
                rk
            };
            let confirm = link
                .publish
                .basic_publish(
                    self.opts.exchange.as_str().into(),
                    routing.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &job.payload,
                    message::properties(table, now_secs()),
                )
                .await
                .map_err(|e| self.broker(format!("publishing job {}: {e}", job.id)))?;
            confirms.push((job.id.as_str(), routing, confirm));
        }
        let wait = async {
            for (id, routing, confirm) in confirms {
                match confirm.await {
                    Ok(Confirmation::Ack(None)) => {}
                    Ok(Confirmation::Ack(Some(returned))) => {
                        return Err(self.broker(format!(
                            "job {id} was not stored: no queue is bound to exchange {:?} by routing key {routing:?} ({} {})",
                            self.opts.exchange, returned.reply_code, returned.reply_text
                        )))
                    }
                    Ok(Confirmation::Nack(_)) => {
                        return Err(self.broker(format!("the broker refused job {id} (nack)")))
                    }
                    Ok(Confirmation::NotRequested) => {
                        return Err(self.broker("publisher confirms are off on the channel"))
                    }
                    Err(e) => {
                        return Err(self.broker(format!("publishing job {id}: {e}")));
                    }
                }
            }
            Ok(())
        };
        wait.await
    }

    fn held_of(&self, handle: u64) -> Option<Held> {
        self.lock().held.remove(&handle)
    }

    async fn settle(&self, held: Held, ack: bool, requeue: bool) -> Result<(), JobsError> {
        let stale = !self
            .link
            .borrow()
            .as_ref()
            .is_some_and(|l| l.generation == held.generation && l.alive());
        if stale {
            return Err(self.broker(
                "the connection it was delivered on is gone; the broker delivers it again",
            ));
        }
        let sent = async {
            if ack {
                // multiple_ack: the flag would also settle deliveries other
                // workers still hold on this channel, so each ack covers its
                // own delivery.
                held.acker.ack(BasicAckOptions::default()).await
            } else {
                held.acker
                    .nack(BasicNackOptions {
                        requeue,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
        };
        // Bounded: on a link dying under it, an ack may never be answered.
        match tokio::time::timeout(CONFIRM_TIMEOUT, sent).await {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(self.broker("the delivery's channel is closed")),
            Ok(Err(e)) => Err(self.broker(e)),
            Err(_) => Err(self.broker(format!(
                "settling took longer than {CONFIRM_TIMEOUT:?}; the broker delivers it again if it is lost"
            ))),
        }
    }

    /// Refreshes Stat's counts from the broker (passive declares).
    async fn refresh(&self, link: &Link) {
        let channel = {
            let mut info = link
                .info
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match info.as_ref() {
                Some(c) if c.status().connected() => Some(c.clone()),
                _ => {
                    *info = None;
                    None
                }
            }
        };
        let channel = match channel {
            Some(c) => c,
            None => match link.conn.create_channel().await {
                Ok(c) => {
                    *link
                        .info
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(c.clone());
                    c
                }
                Err(_) => return,
            },
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        if !self.opts.queue.is_empty() {
            if let Ok(Ok(q)) = tokio::time::timeout(
                CONFIRM_TIMEOUT,
                channel.queue_declare(
                    self.opts.queue.as_str().into(),
                    passive,
                    FieldTable::default(),
                ),
            )
            .await
            {
                self.lock().ready = u64::from(q.message_count());
            }
        }
        let names: Vec<String> = self
            .delay_queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect();
        let mut delayed = 0u64;
        for name in names {
            let ch = match link
                .info
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
            {
                Some(c) if c.status().connected() => c.clone(),
                _ => break,
            };
            match tokio::time::timeout(
                CONFIRM_TIMEOUT,
                ch.queue_declare(name.as_str().into(), passive, FieldTable::default()),
            )
            .await
            {
                Ok(Ok(q)) => delayed += u64::from(q.message_count()),
                Ok(Err(e)) if is_soft(&e, AMQPSoftError::NOTFOUND) => {
                    // Expired (x-expires): nothing waits in it any more.
                    self.delay_queues
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&name);
                    link.delay_queues
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&name);
                    *link
                        .info
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                    break;
                }
                _ => break,
            }
        }
        self.lock().delayed = delayed;
    }
}

impl Driver for AmqpDriver {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    fn context(&self, job: &Job) -> Vec<u8> {
        job.context("amqp", &self.opts.queue)
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
            self.publish(&jobs).await
        })
    }

    fn resume(&self) -> Result<(), JobsError> {
        if self.opts.queue.is_empty() {
            return Err(JobsError::State(
                "empty queue name, consider adding the queue name to the AMQP configuration"
                    .to_owned(),
            ));
        }
        let mut st = self.lock();
        if st.stopped {
            return Err(JobsError::Stopped(self.opts.pipeline.clone()));
        }
        if st.running {
            return Err(JobsError::State(
                "amqp listener is already in the active state".to_owned(),
            ));
        }
        st.running = true;
        let cancel = self.shutdown.child_token();
        st.consume = Some(cancel.clone());
        self.tracker.spawn(consume_loop(self.me.clone(), cancel));
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
            if let Some(c) = st.consume.take() {
                c.cancel();
            }
            self.take_back(&mut st, None)
        };
        self.tracker.spawn(nack_all(ackers));
        Ok(())
    }

    fn state(&self) -> PipelineState {
        let st = self.lock();
        let reserved = st.held.values().filter(|h| h.reserved).count();
        let queued = st.held.len() - reserved;
        PipelineState {
            pipeline: self.opts.pipeline.clone(),
            driver: "amqp".to_owned(),
            queue: self.opts.queue.clone(),
            active: i64::try_from(st.ready)
                .unwrap_or(i64::MAX)
                .saturating_add(i64::try_from(queued).unwrap_or(i64::MAX)),
            delayed: i64::try_from(st.delayed).unwrap_or(i64::MAX),
            reserved: i64::try_from(reserved).unwrap_or(i64::MAX),
            ready: st.running,
            priority: u64::try_from(self.opts.priority).unwrap_or(0),
            error_message: self.error(),
        }
    }

    fn stop(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let ackers = {
                let mut st = self.lock();
                st.running = false;
                st.stopped = true;
                if let Some(c) = st.consume.take() {
                    c.cancel();
                }
                self.take_back(&mut st, None)
            };
            let _ = tokio::time::timeout(CONFIRM_TIMEOUT, nack_all(ackers)).await;
            self.tasks.cancel();
            if self.opts.delete_queue_on_stop && !self.opts.queue.is_empty() {
                if let Ok(link) = self.live() {
                    let work = async {
                        let ch = link.conn.create_channel().await?;
                        ch.queue_delete(
                            self.opts.queue.as_str().into(),
                            QueueDeleteOptions::default(),
                        )
                        .await
                    };
                    match tokio::time::timeout(CONFIRM_TIMEOUT, work).await {
                        Ok(Ok(n)) => tracing::debug!(target: "coyote::jobs",
                            pipeline = %self.opts.pipeline, queue = %self.opts.queue, purged = n,
                            "amqp: queue deleted (delete_queue_on_stop)"),
                        Ok(Err(e)) => tracing::warn!(target: "coyote::jobs",
                            pipeline = %self.opts.pipeline, queue = %self.opts.queue,
                            "amqp: deleting the queue failed: {e}"),
                        Err(_) => tracing::warn!(target: "coyote::jobs",
                            pipeline = %self.opts.pipeline, queue = %self.opts.queue,
                            "amqp: deleting the queue timed out"),
                    }
                }
            }
            0
        })
    }

    fn reserve(&self, handle: u64) {
        if let Some(h) = self.lock().held.get_mut(&handle) {
            h.reserved = true;
        }
    }

    fn ack(&self, handle: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.held_of(handle);
        Box::pin(async move {
            match held {
                Some(h) => self.settle(h, true, false).await,
                None => Ok(()),
            }
        })
    }

    fn nack(
        &self,
        handle: u64,
        job: Job,
        redeliver: bool,
        delay: u64,
    ) -> BoxFuture<'_, Result<(), JobsError>> {
        if redeliver && delay > 0 {
            // RoadRunner: a delayed redelivery is a requeue.
            return self.requeue(handle, job, delay);
        }
        let held = self.held_of(handle);
        Box::pin(async move {
            match held {
                Some(h) => self.settle(h, false, redeliver).await,
                None => Ok(()),
            }
        })
    }

    fn fail(&self, handle: u64, _job: Job) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.held_of(handle);
        Box::pin(async move {
            match held {
                Some(h) => self.settle(h, false, self.opts.requeue_on_fail).await,
                None => Ok(()),
            }
        })
    }

    fn requeue(&self, handle: u64, job: Job, delay: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        let held = self.held_of(handle);
        Box::pin(async move {
            let published = self.publish(&[(job, delay)]).await;
            let Some(h) = held else { return published };
            match published {
                // Acked once the copy is confirmed: never lost, at worst twice.
                Ok(()) => self.settle(h, true, false).await,
                Err(e) => {
                    // Not requeued: back to the broker as it was.
                    let _ = self.settle(h, false, true).await;
                    Err(e)
                }
            }
        })
    }
}
