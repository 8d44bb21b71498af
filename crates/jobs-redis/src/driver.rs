//! The redis driver: a pipeline is a stream read by a consumer group.
//!
//! - **Push**: XADD (`MAXLEN ~` when `max_len` is set) of the job's fields;
//!   a delayed job is a member of `<stream>:delayed` scored by its due time
//!   (Unix ms); a batch is one MULTI (all or nothing).
//! - **Mover**: one task per pipeline runs a script that moves due members
//!   into the stream (ZRANGEBYSCORE, XADD, ZREM in one atomic call: a job is
//!   never in neither place nor in both), then sleeps until the next due
//!   time (at most 1 s, for members pushed by other servers).
//! - **Reader**: one task per pipeline, on a connection of its own, reads
//!   with XREADGROUP (COUNT: `prefetch` minus the unsettled deliveries);
//!   it first re-reads this consumer's own pending entries (id 0: after a
//!   restart with the same consumer name, a resume, a redial), claims the
//!   entries of consumers idle longer than `visibility_timeout`
//!   (XAUTOCLAIM), and touches its own unsettled entries every third of
//!   `visibility_timeout` (XCLAIM JUSTID) so that a live server's slow jobs
//!   are not claimed away. It is also the supervisor: it redials both
//!   connections with backoff when either fails.
//! - **Settle** (MULTI): ack and drop = XACK + XDEL; redeliver and requeue =
//!   XADD of the new fields (or ZADD when delayed) + XACK + XDEL. A settle
//!   that fails because the link is down is kept and replayed after the
//!   redial (the entry stays pending meanwhile, so it is not redelivered).
//! - **Stat** (refreshed each second and when asked): active = XLEN minus
//!   the group's pending entries plus this server's deliveries waiting for a
//!   poller; delayed = ZCARD; reserved = at this server's workers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coyote_jobs::driver::BoxFuture;
use coyote_jobs::{Delivery, Driver, Job, JobQueue, JobsError, PipelineState};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Options;
use crate::entry::{self, Entry};

mod loops;
use loops::{mover_loop, pending_summary, reader_loop, stats_loop};

/// How long one XREADGROUP waits for new entries (the reader then looks
/// at pause, stop, reclaim and heartbeat).
const BLOCK: Duration = Duration::from_millis(1000);
/// Entries read (or claimed) per command at most.
const MAX_BATCH: usize = 1000;
/// Delayed jobs moved per script call at most.
const MOVE_BATCH: usize = 500;
/// Redial backoff.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How often the counts are refreshed without being asked.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Removes this consumer from the group when it holds no pending entry.
/// KEYS: stream. ARGV: group, consumer.
const FORGET_SCRIPT: &str = r"
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether an error means the connection is gone (as opposed to a reply
/// error from a live server).
fn broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

fn short(e: &RedisError) -> String {
    e.to_string()
}

/// What a settle does on Redis besides XACK + XDEL of the entry.
#[derive(Clone)]
enum Then {
    /// Nothing more (ack, drop).
    Nothing,
    /// XADD these fields now.
    Add(Vec<(&'static str, Vec<u8>)>),
    /// ZADD this member at this due time.
    Later(Vec<u8>, u64),
}

#[derive(Clone)]
struct Settle {
    entry: String,
    then: Then,
}

/// The counts of the last refresh.
#[derive(Default)]
struct Counts {
    /// XLEN: entries not read by the group, plus pending ones (acks delete).
    len: i64,
    /// The group's pending entries.
    pending: i64,
    /// This consumer's pending entries.
    ours: i64,
    /// ZCARD of the delayed set.
    delayed: i64,
}

#[derive(Default)]
struct State {
    running: bool,
    stopped: bool,
    next_handle: u64,
    /// Deliveries queued for the pollers or at a worker: handle -> entry id.
    held: HashMap<u64, String>,
    /// Entry ids delivered and not yet settled on Redis (held ones, and
    /// settles waiting for the link).
    unsettled: HashSet<String>,
    /// Held by a worker.
    reserved: usize,
    /// Settles that failed on a lost link, replayed after the redial.
    retry: Vec<Settle>,
    /// Re-read this consumer's pending entries from the start.
    reread: bool,
    counts: Counts,
}

struct Link {
    generation: u64,
    conn: Option<MultiplexedConnection>,
    error: String,
}

/// One redis pipeline.
pub struct RedisDriver {
    o: Options,
    client: redis::Client,
    queue: Arc<JobQueue>,
    pipeline_size: usize,
    st: Mutex<State>,
    link: Mutex<Link>,
    /// Wakes the reader (room freed, resumed, link lost).
    wake: Notify,
    /// Wakes the mover (a delayed job was added here).
    mover_wake: Notify,
    /// Wakes the stats task (someone asked).
    stats_wake: Notify,
    /// Cancelled at stop (and with the plugin).
    stop: CancellationToken,
    tokens: AtomicU64,
    me: Weak<RedisDriver>,
}

fn client(o: &Options) -> Result<redis::Client, String> {
    let c = &o.connection;
    let addr = match &c.tls {
        None => redis::ConnectionAddr::Tcp(c.host.clone(), c.port),
        Some(_) => redis::ConnectionAddr::TcpTls {
            host: c.host.clone(),
            port: c.port,
            insecure: false,
            tls_params: None,
        },
    };
    let mut settings = redis::RedisConnectionInfo::default().set_db(c.db);
    if !c.username.is_empty() {
        settings = settings.set_username(&c.username);
    }
    if !c.password.is_empty() {
        settings = settings.set_password(&c.password);
    }
    let info = redis::IntoConnectionInfo::into_connection_info(addr)
        .map_err(|e| e.to_string())?
        .set_redis_settings(settings);
    match &c.tls {
        None => redis::Client::open(info).map_err(|e| e.to_string()),
        Some(tls) => {
            // One provider for the process: ring, as the rest of Coyote.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|e| format!("tls: cannot read {}: {e}", p.display()))
            };
            let root_cert = tls.ca.as_deref().map(read).transpose()?;
            let client_tls = match &tls.client {
                None => None,
                Some((cert, key)) => Some(redis::ClientTlsConfig {
                    client_cert: read(cert)?,
                    client_key: read(key)?,
                }),
            };
            redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls,
                    root_cert,
                },
            )
            .map_err(|e| format!("tls: {e}"))
        }
    }
}

impl RedisDriver {
    /// Connects (the first dial failing is the error) and starts the
    /// pipeline's tasks on `tracker`; paused.
    pub async fn open(
        o: Options,
        queue: Arc<JobQueue>,
        tracker: &TaskTracker,
        shutdown: &CancellationToken,
        pipeline_size: usize,
    ) -> Result<Arc<Self>, JobsError> {
        let unreachable = |why: String| {
            JobsError::Invalid(format!(
                "cannot reach redis at {}: {why}",
                o.connection.addr
            ))
        };
        let client = client(&o).map_err(unreachable)?;
        let driver = Arc::new_cyclic(|me| Self {
            client,
            queue,
            pipeline_size,
            st: Mutex::new(State {
                next_handle: 1,
                reread: true,
                ..State::default()
            }),
            link: Mutex::new(Link {
                generation: 0,
                conn: None,
                error: String::new(),
            }),
            wake: Notify::new(),
            mover_wake: Notify::new(),
            stats_wake: Notify::new(),
            stop: shutdown.child_token(),
            tokens: AtomicU64::new(0),
            me: me.clone(),
            o: o.clone(),
        });
        let reader = driver.connect().await.map_err(|e| {
            JobsError::Invalid(format!(
                "cannot reach redis at {}: {e}",
                driver.o.connection.addr
            ))
        })?;
        driver.refresh().await;
        tracing::info!(target: "coyote::jobs", pipeline = %o.pipeline, addr = %o.connection.addr,
            stream = %o.stream, group = %o.group, consumer = %o.consumer, "redis pipeline connected");
        tracker.spawn(reader_loop(driver.clone(), reader));
        tracker.spawn(mover_loop(driver.clone()));
        tracker.spawn(stats_loop(driver.clone()));
        Ok(driver)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.st
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn link(&self) -> MutexGuard<'_, Link> {
        self.link
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn storage(&self, message: String) -> JobsError {
        JobsError::Storage {
            pipeline: self.o.pipeline.clone(),
            message,
        }
    }

    /// The command connection, or why there is none.
    fn conn(&self) -> Result<(u64, MultiplexedConnection), JobsError> {
        let link = self.link();
        match &link.conn {
            Some(c) => Ok((link.generation, c.clone())),
            None => Err(self.storage(link.error.clone())),
        }
    }

    fn link_is_up(&self) -> bool {
        self.link().conn.is_some()
    }

    /// The link of `generation` failed: drop it, say why, wake the reader
    /// (which redials).
    fn link_failed(&self, generation: Option<u64>, why: &str) {
        {
            let mut link = self.link();
            if generation.is_some_and(|g| g != link.generation) {
                return;
            }
            if link.conn.is_some() {
                tracing::warn!(target: "coyote::jobs", pipeline = %self.o.pipeline,
                    addr = %self.o.connection.addr, "redis link lost, redialing: {why}");
            }
            link.conn = None;
            link.error = format!(
                "redis {}: link lost ({why}); redialing",
                self.o.connection.addr
            );
        }
        self.wake.notify_one();
    }

    async fn dial(&self, response_timeout: Duration) -> Result<MultiplexedConnection, String> {
        let c = &self.o.connection;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(c.dial_timeout))
            .set_response_timeout(Some(response_timeout));
        let dial = async {
            let mut conn = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|e| short(&e))?;
            redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| short(&e))?;
            Ok(conn)
        };
        tokio::time::timeout(c.dial_timeout, dial)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {:?} (dial_timeout)",
                    c.dial_timeout
                ))
            })
    }

    async fn ensure_group(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&self.o.stream)
            .arg(&self.o.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async::<()>(conn)
            .await;
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        }
    }

    /// Dials both connections and makes sure the group exists; the command
    /// link is then up. Returns the reader's connection.
    async fn connect(&self) -> Result<MultiplexedConnection, String> {
        let c = &self.o.connection;
        let mut cmd = self.dial(c.command_timeout).await?;
        let reader = self.dial(c.command_timeout + BLOCK).await?;
        self.ensure_group(&mut cmd).await.map_err(|e| short(&e))?;
        {
            let mut link = self.link();
            link.generation += 1;
            link.conn = Some(cmd);
            link.error.clear();
        }
        self.lock().reread = true;
        self.mover_wake.notify_one();
        self.stats_wake.notify_one();
        Ok(reader)
    }

    fn token(&self) -> String {
        format!(
            "{}:{}:{}",
            self.o.consumer,
            self.tokens.fetch_add(1, Ordering::Relaxed),
            now_ms()
        )
    }

    fn xadd(&self, pipe: &mut redis::Pipeline, fields: &[(&'static str, Vec<u8>)]) {
        let cmd = pipe.cmd("XADD").arg(&self.o.stream);
        if self.o.max_len > 0 {
            cmd.arg("MAXLEN").arg("~").arg(self.o.max_len);
        }
        cmd.arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(v.as_slice());
        }
        cmd.ignore();
    }

    async fn push_jobs(&self, jobs: Vec<Job>) -> Result<(), JobsError> {
        {
            let st = self.lock();
            if st.stopped {
                return Err(JobsError::Stopped(self.o.pipeline.clone()));
            }
            // The counts of the last refresh (at most a second old).
            let waiting = (st.counts.len - st.counts.pending).max(0) + st.counts.delayed;
            let waiting = usize::try_from(waiting).unwrap_or(0);
            if waiting + jobs.len() > self.pipeline_size {
                return Err(JobsError::Full {
                    pipeline: self.o.pipeline.clone(),
                    limit: self.pipeline_size,
                });
            }
        }
        let (generation, mut conn) = self.conn()?;
        let now = now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic();
        let mut delayed = 0;
        for mut job in jobs {
            if job.priority == 0 {
                job.priority = self.o.priority;
            }
            let fields = entry::fields(&job);
            if job.delay > 0 {
                let due = now.saturating_add(job.delay.saturating_mul(1000));
                pipe.cmd("ZADD")
                    .arg(&self.o.delayed)
                    .arg(due)
                    .arg(entry::member(&self.token(), &fields))
                    .ignore();
                delayed += 1;
            } else {
                self.xadd(&mut pipe, &fields);
            }
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => {
                if delayed > 0 {
                    self.mover_wake.notify_one();
                }
                Ok(())
            }
            Err(e) => {
                if broken(&e) {
                    self.link_failed(Some(generation), &short(&e));
                }
                Err(self.storage(format!(
                    "redis {}: push failed, the jobs were not queued: {}",
                    self.o.connection.addr,
                    short(&e)
                )))
            }
        }
    }

    async fn execute(
        &self,
        conn: &mut MultiplexedConnection,
        s: &Settle,
    ) -> Result<(), RedisError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        match &s.then {
            Then::Nothing => {}
            Then::Add(fields) => self.xadd(&mut pipe, fields),
            Then::Later(member, due) => {
                pipe.cmd("ZADD")
                    .arg(&self.o.delayed)
                    .arg(*due)
                    .arg(member.as_slice())
                    .ignore();
            }
        }
        pipe.cmd("XACK")
            .arg(&self.o.stream)
            .arg(&self.o.group)
            .arg(&s.entry)
            .ignore();
        pipe.cmd("XDEL").arg(&self.o.stream).arg(&s.entry).ignore();
        pipe.query_async::<()>(conn).await
    }

    /// The settle is done on Redis: free its slot.
    fn settled(&self, s: &Settle) {
        self.lock().unsettled.remove(&s.entry);
        if matches!(s.then, Then::Later(..)) {
            self.mover_wake.notify_one();
        }
        self.wake.notify_one();
    }

    async fn settle(&self, handle: u64, then: Then) -> Result<(), JobsError> {
        let entry = {
            let mut st = self.lock();
            let Some(entry) = st.held.remove(&handle) else {
                return Ok(());
            };
            st.reserved = st.reserved.saturating_sub(1);
            entry
        };
        let s = Settle { entry, then };
        let (generation, mut conn) = match self.conn() {
            Ok(c) => c,
            Err(_) => {
                self.keep_for_retry(s);
                return Ok(());
            }
        };
        match self.execute(&mut conn, &s).await {
            Ok(()) => {
                self.settled(&s);
                Ok(())
            }
            Err(e) if broken(&e) => {
                self.link_failed(Some(generation), &short(&e));
                self.keep_for_retry(s);
                Ok(())
            }
            Err(e) => {
                self.lock().unsettled.remove(&s.entry);
                self.wake.notify_one();
                Err(self.storage(format!(
                    "redis: settling entry {} failed: {}",
                    s.entry,
                    short(&e)
                )))
            }
        }
    }

    fn keep_for_retry(&self, s: Settle) {
        let mut st = self.lock();
        if st.stopped {
            tracing::warn!(target: "coyote::jobs", pipeline = %self.o.pipeline, entry = %s.entry,
                "redis link down after stop: the entry stays pending and is claimed by a consumer after visibility_timeout");
            st.unsettled.remove(&s.entry);
            return;
        }
        tracing::debug!(target: "coyote::jobs", pipeline = %self.o.pipeline, entry = %s.entry,
            "redis link down: settling after the redial");
        st.retry.push(s);
    }

    /// Replays the settles kept while the link was down.
    async fn replay(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        loop {
            let Some(s) = self.lock().retry.first().cloned() else {
                return Ok(());
            };
            match self.execute(conn, &s).await {
                Ok(()) => {
                    self.lock().retry.remove(0);
                    self.settled(&s);
                }
                Err(e) if broken(&e) => return Err(e),
                Err(e) => {
                    tracing::error!(target: "coyote::jobs", pipeline = %self.o.pipeline, entry = %s.entry,
                        "redis: settling a kept entry failed: {}", short(&e));
                    let mut st = self.lock();
                    st.retry.remove(0);
                    st.unsettled.remove(&s.entry);
                }
            }
        }
    }

    /// Hands entries read from the stream to the pollers (skipping those
    /// this server holds already); returns entry ids to drop (deleted while
    /// pending, or not jobs).
    fn deliver(&self, entries: Vec<Entry>) -> Vec<String> {
        let mut drop_ids = Vec::new();
        let mut out = Vec::new();
        let Some(me) = self.me.upgrade() else {
            return drop_ids;
        };
        {
            let mut st = self.lock();
            if !st.running || st.stopped {
                // Read as the pipeline paused: they stay pending, re-read on resume.
                st.reread = true;
                return drop_ids;
            }
            for e in entries {
                if st.unsettled.contains(&e.id) {
                    continue;
                }
                let Some(fields) = e.fields else {
                    drop_ids.push(e.id);
                    continue;
                };
                match entry::job(&self.o.pipeline, &fields) {
                    Ok(job) => {
                        let handle = st.next_handle;
                        st.next_handle += 1;
                        st.held.insert(handle, e.id.clone());
                        st.unsettled.insert(e.id);
                        out.push(Delivery {
                            job,
                            handle,
                            driver: me.clone(),
                        });
                    }
                    Err(why) => {
                        tracing::error!(target: "coyote::jobs", pipeline = %self.o.pipeline,
                            stream = %self.o.stream, entry = %e.id, "dropping a stream entry that is not a job: {why}");
                        drop_ids.push(e.id);
                    }
                }
            }
        }
        if !out.is_empty() {
            self.queue.insert(out);
        }
        drop_ids
    }

    fn take_back(&self, st: &mut State) {
        for d in self.queue.remove_pipeline(&self.o.pipeline) {
            if let Some(id) = st.held.remove(&d.handle) {
                st.unsettled.remove(&id);
            }
        }
    }

    /// Reads the counts (XLEN, the group's pending count, ZCARD).
    async fn refresh(&self) {
        let Ok((generation, mut conn)) = self.conn() else {
            return;
        };
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN")
            .arg(&self.o.stream)
            .cmd("XPENDING")
            .arg(&self.o.stream)
            .arg(&self.o.group)
            .cmd("ZCARD")
            .arg(&self.o.delayed);
        match pipe.query_async::<(i64, Value, i64)>(&mut conn).await {
            Ok((len, pending, delayed)) => {
                let (pending, ours) = pending_summary(&pending, &self.o.consumer);
                self.lock().counts = Counts {
                    len,
                    pending,
                    ours,
                    delayed,
                };
            }
            Err(e) if broken(&e) => self.link_failed(Some(generation), &short(&e)),
            Err(e) => {
                tracing::debug!(target: "coyote::jobs", pipeline = %self.o.pipeline, "redis stat: {}", short(&e));
            }
        }
    }

    async fn heartbeat(&self, conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
        let ids: Vec<String> = self.lock().unsettled.iter().cloned().collect();
        for chunk in ids.chunks(500) {
            redis::cmd("XCLAIM")
                .arg(&self.o.stream)
                .arg(&self.o.group)
                .arg(&self.o.consumer)
                .arg(0)
                .arg(chunk)
                .arg("JUSTID")
                .query_async::<Value>(conn)
                .await?;
        }
        Ok(())
    }

    async fn drop_entries(
        &self,
        conn: &mut MultiplexedConnection,
        ids: &[String],
    ) -> Result<(), RedisError> {
        if ids.is_empty() {
            return Ok(());
        }
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&self.o.stream)
            .arg(&self.o.group)
            .arg(ids)
            .ignore()
            .cmd("XDEL")
            .arg(&self.o.stream)
            .arg(ids)
            .ignore()
            .query_async::<()>(conn)
            .await
    }
}

impl Driver for RedisDriver {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn context(&self, job: &Job) -> Vec<u8> {
        job.context("redis", &self.o.stream)
    }

    fn push(&self, jobs: Vec<Job>) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(self.push_jobs(jobs))
    }

    fn resume(&self) -> Result<(), JobsError> {
        let mut st = self.lock();
        if st.stopped {
            return Err(JobsError::Stopped(self.o.pipeline.clone()));
        }
        if st.running {
            return Err(JobsError::State(
                "redis listener is already in the active state".to_owned(),
            ));
        }
        st.running = true;
        st.reread = true;
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
        drop(st);
        self.wake.notify_one();
        Ok(())
    }

    fn state(&self) -> PipelineState {
        self.stats_wake.notify_one();
        let error_message = self.link().error.clone();
        let st = self.lock();
        // Not read by the group yet, plus this consumer's pending entries
        // that no worker here holds (queued for a poller, taken back by a
        // pause, left by a restart); a settle kept for the redial is done.
        let busy = i64::try_from(st.reserved + st.retry.len()).unwrap_or(i64::MAX);
        let unread = (st.counts.len - st.counts.pending).max(0);
        let ours = (st.counts.ours - busy).max(0);
        PipelineState {
            pipeline: self.o.pipeline.clone(),
            driver: "redis".to_owned(),
            queue: self.o.stream.clone(),
            active: unread.saturating_add(ours),
            delayed: st.counts.delayed.max(0),
            reserved: i64::try_from(st.reserved).unwrap_or(i64::MAX),
            ready: st.running,
            priority: u64::try_from(self.o.priority).unwrap_or(0),
            error_message,
        }
    }

    fn stop(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move {
            let idle = {
                let mut st = self.lock();
                st.running = false;
                st.stopped = true;
                self.take_back(&mut st);
                st.held.is_empty() && st.retry.is_empty()
            };
            self.stop.cancel();
            let Ok((_, mut conn)) = self.conn() else {
                return 0;
            };
            if self.o.delete_stream_on_stop {
                let deleted = redis::pipe()
                    .atomic()
                    .cmd("XLEN")
                    .arg(&self.o.stream)
                    .cmd("ZCARD")
                    .arg(&self.o.delayed)
                    .cmd("DEL")
                    .arg(&self.o.stream)
                    .arg(&self.o.delayed)
                    .ignore()
                    .query_async::<(i64, i64)>(&mut conn)
                    .await;
                return match deleted {
                    Ok((len, delayed)) => {
                        tracing::info!(target: "coyote::jobs", pipeline = %self.o.pipeline,
                            stream = %self.o.stream, "redis: stream deleted (delete_stream_on_stop)");
                        usize::try_from(len + delayed).unwrap_or(0)
                    }
                    Err(e) => {
                        tracing::warn!(target: "coyote::jobs", pipeline = %self.o.pipeline,
                            "redis: deleting the stream failed: {}", short(&e));
                        0
                    }
                };
            }
            if idle {
                // A consumer that holds nothing leaves the group, so that
                // the group does not collect one consumer per restart.
                let forgot = redis::Script::new(FORGET_SCRIPT)
                    .key(&self.o.stream)
                    .arg(&self.o.group)
                    .arg(&self.o.consumer)
                    .invoke_async::<i64>(&mut conn)
                    .await;
                if let Err(e) = forgot {
                    tracing::debug!(target: "coyote::jobs", pipeline = %self.o.pipeline,
                        "redis: leaving the group: {}", short(&e));
                }
            }
            0
        })
    }

    fn reserve(&self, _handle: u64) {
        self.lock().reserved += 1;
    }

    fn ack(&self, handle: u64) -> BoxFuture<'_, Result<(), JobsError>> {
        Box::pin(self.settle(handle, Then::Nothing))
    }

    fn nack(
        &self,
        handle: u64,
        job: Job,
        redeliver: bool,
        delay: u64,
    ) -> BoxFuture<'_, Result<(), JobsError>> {
        if redeliver {
            self.requeue(handle, job, delay)
        } else {
            self.ack(handle)
        }
    }

    fn requeue(
        &self,
        handle: u64,
        mut job: Job,
        delay: u64,
    ) -> BoxFuture<'_, Result<(), JobsError>> {
        job.attempts = job.attempts.saturating_add(1);
        let fields = entry::fields(&job);
        let then = if delay == 0 {
            Then::Add(fields)
        } else {
            let due = now_ms().saturating_add(delay.saturating_mul(1000));
            Then::Later(entry::member(&self.token(), &fields), due)
        };
        Box::pin(self.settle(handle, then))
    }
}
