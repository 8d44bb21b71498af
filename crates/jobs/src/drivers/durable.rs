//! The `boltdb` driver's store: [`RedbStore`], a [`Store`] on an embedded
//! redb database, so a pipeline's jobs survive a restart (pushed and not
//! acked, including those a worker held when the server died, are
//! delivered again).
//!
//! # Layout on disk
//! One redb file may hold several pipelines: each has its table
//! `jobs/<pipeline>` (key: the driver's handle, value: a [`record`]
//! message), and records that fail to decode at open are moved aside to
//! `corrupt/<pipeline>`. redb locks a file for one `Database` per process,
//! so the stores opened on one path share one database through a
//! process-wide registry; a pipeline can be open once per file at a time.
//!
//! # Group commit
//! Every change is committed with `Durability::Immediate` (fsync) before
//! its future resolves, and callers share commits: a change joins a
//! queue, and one writer (a blocking-pool task, started when the queue
//! becomes non-empty and ending when it is drained) applies everything
//! queued in one write transaction, commits once and answers every caller.
//! No redb call runs on a tokio worker thread.

pub mod record;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::io::ErrorKind;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError, Durability, ReadableTable, Table, TableDefinition};
use tokio::sync::oneshot;

use super::backlog::{Store, Stored};
use crate::driver::BoxFuture;
use crate::JobsError;

/// The largest encoded job the store accepts (redb's own limit is 3 GiB).
const MAX_RECORD: usize = 1 << 30;
/// The page cache of one database file at most.
const CACHE_BYTES: usize = 32 << 20;
/// How long an open waits for the previous handle of the same file to close.
const CLOSING_WAIT: Duration = Duration::from_secs(30);

type Jobs<'t> = Table<'t, u64, &'static [u8]>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn table_def(name: &str) -> TableDefinition<'_, u64, &'static [u8]> {
    TableDefinition::new(name)
}

/// The process-wide map of open database files (canonical path -> the
/// shared database), and the signal that a closing one is gone.
struct Registry {
    files: Mutex<BTreeMap<PathBuf, Weak<Shared>>>,
    closed: Condvar,
}

static REGISTRY: Registry = Registry {
    files: Mutex::new(BTreeMap::new()),
    closed: Condvar::new(),
};

/// A change waiting for the writer.
enum Op {
    /// Insert or replace encoded records.
    Put(Vec<(u64, Vec<u8>)>),
    /// Delete one record.
    Remove(u64),
    /// Nothing: answered once every change queued before it is committed.
    Flush,
}

struct Pending {
    table: Arc<str>,
    op: Op,
    reply: oneshot::Sender<Result<(), String>>,
}

#[derive(Default)]
struct Queue {
    ops: Vec<Pending>,
    /// A writer task runs (and will look at `ops` again before it ends).
    writing: bool,
}

/// One open database file, shared by the stores opened on it.
struct Shared {
    path: PathBuf,
    /// `Some` until dropped (taken to close it off the async threads).
    db: Option<Database>,
    queue: Mutex<Queue>,
    /// The pipelines whose store on this file is open (not closed).
    pipelines: Mutex<BTreeSet<String>>,
    commits: AtomicU64,
}

impl Shared {
    fn fail(&self, what: &str, e: impl Display) -> String {
        format!("{}: {what}: {e}", self.path.display())
    }

    fn db(&self) -> Result<&Database, String> {
        self.db
            .as_ref()
            .ok_or_else(|| format!("{}: database closed", self.path.display()))
    }

    /// Applies `batch` in one write transaction and commits it durably.
    fn apply(&self, batch: &[Pending]) -> Result<(), String> {
        if batch.iter().all(|p| matches!(p.op, Op::Flush)) {
            return Ok(());
        }
        let db = self.db()?;
        let mut txn = db.begin_write().map_err(|e| self.fail("write", e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| self.fail("write", e))?;
        {
            let mut tables: BTreeMap<&str, Jobs<'_>> = BTreeMap::new();
            for p in batch {
                if matches!(p.op, Op::Flush) {
                    continue;
                }
                let table = match tables.entry(&p.table) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => v.insert(
                        txn.open_table(table_def(&p.table))
                            .map_err(|e| self.fail("open table", e))?,
                    ),
                };
                match &p.op {
                    Op::Put(records) => {
                        for (handle, bytes) in records {
                            table
                                .insert(*handle, bytes.as_slice())
                                .map_err(|e| self.fail("insert", e))?;
                        }
                    }
                    Op::Remove(handle) => {
                        table.remove(*handle).map_err(|e| self.fail("remove", e))?;
                    }
                    Op::Flush => {}
                }
            }
        }
        txn.commit().map_err(|e| self.fail("commit", e))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let closing = Closing {
            db: self.db.take(),
            path: std::mem::take(&mut self.path),
        };
        // Closing a database writes and syncs its header: off the async
        // threads when there are any. `Closing` does its work when dropped,
        // so a task the runtime discards at shutdown still closes it.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(move || drop(closing))),
            Err(_) => drop(closing),
        }
    }
}

/// Closes a database, then lets opens of the same path proceed.
struct Closing {
    db: Option<Database>,
    path: PathBuf,
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            if let Err(e) = db.close() {
                tracing::error!(target: "coyote::jobs", file = %self.path.display(),
                    "closing the jobs database: {e}");
            }
        }
        let mut files = lock(&REGISTRY.files);
        if files.get(&self.path).is_some_and(|w| w.strong_count() == 0) {
            files.remove(&self.path);
        }
        drop(files);
        REGISTRY.closed.notify_all();
    }
}

/// Drains the queue: one transaction per round, every caller queued in
/// that round answered after its commit.
fn write_loop(mut guard: WriterGuard) {
    loop {
        let batch = {
            let mut q = lock(&guard.shared.queue);
            if q.ops.is_empty() {
                q.writing = false;
                guard.done = true;
                return;
            }
            std::mem::take(&mut q.ops)
        };
        let result = guard.shared.apply(&batch);
        for p in batch {
            // A caller that does not wait (an ack) still hears of a failure
            // through the log.
            if let Err(Err(e)) = p.reply.send(result.clone()) {
                tracing::error!(target: "coyote::jobs", file = %guard.shared.path.display(),
                    "committing a change nobody waits for failed: {e}");
            }
        }
    }
}

/// Ends a writer that did not finish normally (a panic, or the runtime
/// discarding the task unrun): the queued callers get an error (their
/// reply senders drop) rather than waiting forever, and the next change
/// starts a new writer.
struct WriterGuard {
    shared: Arc<Shared>,
    done: bool,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if !self.done {
            let mut q = lock(&self.shared.queue);
            q.writing = false;
            q.ops.clear();
        }
    }
}

/// A pipeline's jobs in a redb database file (see the [module](self)
/// docs). Changes made after [`Store::close`] are still written.
pub struct RedbStore {
    shared: Arc<Shared>,
    pipeline: String,
    table: Arc<str>,
    closed: AtomicBool,
    corrupt: usize,
}

impl RedbStore {
    /// The database file (canonical path).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How many records failed to decode at open (each logged with its
    /// handle and moved to the table `corrupt/<pipeline>`).
    pub fn corrupt_records(&self) -> usize {
        self.corrupt
    }

    /// Write transactions committed on this store's file so far (by all
    /// the pipelines sharing it): changes / commits is the group-commit
    /// batch size.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    fn release(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            lock(&self.shared.pipelines).remove(&self.pipeline);
        }
    }

    /// Queues `op` now (it is written even if nobody waits for it) and
    /// starts the writer when none runs.
    fn queue(&self, op: Op) -> oneshot::Receiver<Result<(), String>> {
        let (reply, done) = oneshot::channel();
        let start = {
            let mut q = lock(&self.shared.queue);
            q.ops.push(Pending {
                table: self.table.clone(),
                op,
                reply,
            });
            !std::mem::replace(&mut q.writing, true)
        };
        if start {
            let guard = WriterGuard {
                shared: self.shared.clone(),
                done: false,
            };
            drop(tokio::task::spawn_blocking(move || write_loop(guard)));
        }
        done
    }

    /// Waits for the commit of a queued change.
    async fn wait(&self, done: oneshot::Receiver<Result<(), String>>) -> Result<(), String> {
        done.await.unwrap_or_else(|_| {
            Err(format!(
                "{}: the writer stopped before committing",
                self.shared.path.display()
            ))
        })
    }

    /// Queues `op` and waits for its commit.
    async fn submit(&self, op: Op) -> Result<(), String> {
        let done = self.queue(op);
        self.wait(done).await
    }

    fn encode(&self, stored: &Stored) -> Result<(u64, Vec<u8>), String> {
        let bytes = record::encode(stored);
        if bytes.len() > MAX_RECORD {
            return Err(format!(
                "{}: job {} is {} bytes encoded, more than the store's {MAX_RECORD}",
                self.shared.path.display(),
                stored.job.id,
                bytes.len()
            ));
        }
        Ok((stored.handle, bytes))
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.release();
    }
}

impl Store for RedbStore {
    fn durable(&self) -> bool {
        true
    }

    fn insert<'a>(&'a self, jobs: &'a [Stored]) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if jobs.is_empty() {
                return Ok(());
            }
            let records = jobs
                .iter()
                .map(|s| self.encode(s))
                .collect::<Result<Vec<_>, _>>()?;
            self.submit(Op::Put(records)).await
        })
    }

    fn remove(&self, handle: u64) -> BoxFuture<'_, Result<(), String>> {
        // Queued at once: the backlog does not wait for acks.
        let done = self.queue(Op::Remove(handle));
        Box::pin(self.wait(done))
    }

    fn update<'a>(&'a self, job: &'a Stored) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let record = self.encode(job)?;
            self.submit(Op::Put(vec![record])).await
        })
    }

    /// Waits until every change queued before is committed and releases
    /// the pipeline's claim on the file (it may be opened again). The
    /// writer ends once the queue is empty; later changes start it again.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let flushed = self.submit(Op::Flush).await;
            self.release();
            if let Err(e) = flushed {
                tracing::error!(target: "coyote::jobs", pipeline = %self.pipeline,
                    "flushing the jobs store: {e}");
            }
        })
    }
}

/// Opens (creating it with mode `permissions` when missing; its directory
/// must exist) the database file at `path` for `pipeline`, and reads back
/// every job of the pipeline still stored, in handle (arrival) order.
///
/// Errors name the file and the cause: a missing directory, a file that
/// is not a redb database (a RoadRunner bbolt file, garbage), a file
/// another process has open, the pipeline already open on this file.
pub async fn open(
    path: &Path,
    permissions: u32,
    pipeline: &str,
) -> Result<(Arc<RedbStore>, Vec<Stored>), JobsError> {
    let storage = |message: String| JobsError::Storage {
        pipeline: pipeline.to_owned(),
        message,
    };
    let (owned_path, owned_pipeline) = (path.to_owned(), pipeline.to_owned());
    tokio::task::spawn_blocking(move || open_blocking(&owned_path, permissions, &owned_pipeline))
        .await
        .map_err(|e| storage(format!("{}: opening failed: {e}", path.display())))?
        .map_err(storage)
}

fn open_blocking(
    path: &Path,
    permissions: u32,
    pipeline: &str,
) -> Result<(Arc<RedbStore>, Vec<Stored>), String> {
    create_file(path, permissions)?;
    let canonical = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let shared = shared_db(&canonical)?;
    if !lock(&shared.pipelines).insert(pipeline.to_owned()) {
        return Err(format!(
            "{}: pipeline {pipeline} already has this file open",
            canonical.display()
        ));
    }
    let mut store = RedbStore {
        shared,
        pipeline: pipeline.to_owned(),
        table: Arc::from(format!("jobs/{pipeline}")),
        closed: AtomicBool::new(false),
        corrupt: 0,
    };
    // On error `store` drops and releases the pipeline.
    let (recovered, corrupt) = recover(&store.shared, &store.table, pipeline)?;
    store.corrupt = corrupt;
    Ok((Arc::new(store), recovered))
}

/// Creates the file with `permissions` when it does not exist.
fn create_file(path: &Path, permissions: u32) -> Result<(), String> {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(permissions)
        .open(path);
    match created {
        // The mode given at creation is filtered by the umask.
        Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(permissions))
            .map_err(|e| format!("{}: setting permissions: {e}", path.display())),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(format!(
            "{}: cannot create the file, its directory does not exist",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The database open on `path` in this process, or a newly opened one.
fn shared_db(path: &Path) -> Result<Arc<Shared>, String> {
    let deadline = Instant::now() + CLOSING_WAIT;
    let mut files = lock(&REGISTRY.files);
    loop {
        match files.get(path).map(Weak::upgrade) {
            Some(Some(shared)) => return Ok(shared),
            // The last store on the file is gone and its database is closing.
            Some(None) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!(
                        "{}: the previous handle on this file is still closing",
                        path.display()
                    ));
                }
                files = REGISTRY
                    .closed
                    .wait_timeout(files, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            None => break,
        }
    }
    let db = Database::builder()
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(true)
        .create(path)
        .map_err(|e| open_error(path, e))?;
    let shared = Arc::new(Shared {
        path: path.to_owned(),
        db: Some(db),
        queue: Mutex::new(Queue::default()),
        pipelines: Mutex::new(BTreeSet::new()),
        commits: AtomicU64::new(0),
    });
    files.insert(path.to_owned(), Arc::downgrade(&shared));
    Ok(shared)
}

fn open_error(path: &Path, e: DatabaseError) -> String {
    let path = path.display();
    match e {
        DatabaseError::DatabaseAlreadyOpen => {
            format!("{path}: the database is open in another process")
        }
        DatabaseError::UpgradeRequired(v) => {
            format!("{path}: a redb file of an older format ({v}): upgrade it first")
        }
        other => format!("{path}: not a usable redb database ({other})"),
    }
}

/// Reads the pipeline's table (creating it), moving undecodable records
/// to `corrupt/<pipeline>`.
fn recover(shared: &Shared, table: &str, pipeline: &str) -> Result<(Vec<Stored>, usize), String> {
    let db = shared.db()?;
    let txn = db.begin_write().map_err(|e| shared.fail("write", e))?;
    let mut recovered = Vec::new();
    let mut corrupt = Vec::new();
    {
        let mut jobs = txn
            .open_table(table_def(table))
            .map_err(|e| shared.fail("open table", e))?;
        for entry in jobs.iter().map_err(|e| shared.fail("read", e))? {
            let (key, value) = entry.map_err(|e| shared.fail("read", e))?;
            let handle = key.value();
            match record::decode(handle, value.value()) {
                Ok(stored) => recovered.push(stored),
                Err(e) => {
                    tracing::error!(target: "coyote::jobs", pipeline, handle,
                        file = %shared.path.display(),
                        "undecodable job record moved to corrupt/{pipeline}: {e}");
                    corrupt.push((handle, value.value().to_vec()));
                }
            }
        }
        if !corrupt.is_empty() {
            let name = format!("corrupt/{pipeline}");
            let mut aside = txn
                .open_table(table_def(&name))
                .map_err(|e| shared.fail("open table", e))?;
            for (handle, bytes) in &corrupt {
                aside
                    .insert(*handle, bytes.as_slice())
                    .map_err(|e| shared.fail("insert", e))?;
                jobs.remove(*handle).map_err(|e| shared.fail("remove", e))?;
            }
        }
    }
    txn.commit().map_err(|e| shared.fail("commit", e))?;
    Ok((recovered, corrupt.len()))
}
