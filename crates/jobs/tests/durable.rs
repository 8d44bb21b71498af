//! The `boltdb` driver's store ([`RedbStore`]): what survives a reopen and a
//! SIGKILL, group commit under concurrency, bad files, and a [`Backlog`]
//! over it end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coyote_jobs::drivers::durable::{self, RedbStore};
use coyote_jobs::drivers::{Backlog, BacklogOptions, Store, Stored};
use coyote_jobs::{Driver, Job, JobQueue, JobsError};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Deadline of every test that could hang.
const BOUND: Duration = Duration::from_secs(120);

/// On the target's disk (where fsync costs what it costs), not a tmpfs.
fn dir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn stored(handle: u64, pipeline: &str) -> Stored {
    let mut job = Job::new(
        pipeline,
        "App\\Jobs\\Mail",
        format!("id-{handle}"),
        format!("payload \0 {handle}").into_bytes(),
    );
    job.headers
        .insert("attempt".into(), vec!["1".into(), "x".into()]);
    job.headers.insert("empty".into(), vec![]);
    job.priority = -7;
    job.delay = 30;
    job.auto_ack = true;
    job.attempts = 2;
    Stored {
        handle,
        job,
        due_ms: 1_700_000_000_000 + handle,
    }
}

async fn open(path: &Path, pipeline: &str) -> (Arc<RedbStore>, Vec<Stored>) {
    durable::open(path, 0o600, pipeline).await.unwrap()
}

/// Opens, returns what is stored, and closes (the store is dropped).
async fn content(path: &Path, pipeline: &str) -> Vec<Stored> {
    let (store, jobs) = open(path, pipeline).await;
    store.close().await;
    jobs
}

fn storage_message(e: JobsError) -> String {
    match e {
        JobsError::Storage { message, .. } => message,
        other => panic!("not a storage error: {other:?}"),
    }
}

#[tokio::test]
async fn insert_update_remove_survive_a_reopen() {
    let dir = dir();
    let path = dir.path().join("jobs.db");
    let (store, jobs) = open(&path, "p").await;
    assert!(jobs.is_empty() && store.durable());
    let (a, b) = (stored(1, "p"), stored(2, "p"));
    store.insert(&[a.clone(), b.clone()]).await.unwrap();
    drop(store);
    assert_eq!(content(&path, "p").await, [a.clone(), b.clone()]);

    let (store, _) = open(&path, "p").await;
    store.remove(1).await.unwrap();
    drop(store);
    assert_eq!(content(&path, "p").await, std::slice::from_ref(&b));

    let (store, _) = open(&path, "p").await;
    let mut changed = b.clone();
    changed
        .job
        .headers
        .insert("retry".into(), vec!["yes".into()]);
    changed.job.attempts = 3;
    changed.due_ms = 1_800_000_000_000;
    store.update(&changed).await.unwrap();
    drop(store);
    assert_eq!(content(&path, "p").await, [changed]);
}

#[tokio::test]
async fn changes_after_close_are_still_written() {
    let dir = dir();
    let path = dir.path().join("jobs.db");
    let (store, _) = open(&path, "p").await;
    store
        .insert(&[stored(1, "p"), stored(2, "p")])
        .await
        .unwrap();
    store.close().await;
    // A worker settles its jobs after the pipeline stopped.
    store.remove(1).await.unwrap();
    let mut requeued = stored(2, "p");
    requeued.job.attempts = 9;
    store.update(&requeued).await.unwrap();
    store.close().await;
    drop(store);
    assert_eq!(content(&path, "p").await, [requeued]);
}

#[tokio::test]
async fn pipelines_sharing_a_file_keep_their_own_jobs() {
    let dir = dir();
    let path = dir.path().join("shared.db");
    let (one, _) = open(&path, "one").await;
    let (two, _) = open(&path, "two").await;
    one.insert(&[stored(1, "one")]).await.unwrap();
    two.insert(&[stored(1, "two"), stored(2, "two")])
        .await
        .unwrap();

    // A pipeline is open once per file at a time.
    let e = durable::open(&path, 0o600, "one").await.err().unwrap();
    let msg = storage_message(e);
    assert!(
        msg.contains("pipeline one already") && msg.contains("shared.db"),
        "{msg}"
    );
    // After close it can be opened again (a redeclared pipeline), even
    // while the old store object is alive.
    one.close().await;
    let (again, jobs) = open(&path, "one").await;
    assert_eq!(jobs, [stored(1, "one")]);
    drop((one, two, again));

    assert_eq!(
        content(&path, "two").await,
        [stored(1, "two"), stored(2, "two")]
    );
    assert_eq!(content(&path, "one").await, [stored(1, "one")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_and_removes_leave_the_file_empty() {
    let dir = dir();
    let path = dir.path().join("jobs.db");
    let (store, _) = open(&path, "p").await;
    let tracker = TaskTracker::new();
    let run = async {
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let store = store.clone();
                tracker.spawn(async move {
                    let handles: Vec<u64> = (0..500).map(|i| t * 1000 + i).collect();
                    for &h in &handles {
                        store.insert(&[stored(h, "p")]).await.unwrap();
                    }
                    for &h in &handles {
                        store.remove(h).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(BOUND, run).await.expect("deadlock");
    assert!(store.commits() < 8000, "{} commits", store.commits());
    drop(store);
    assert!(content(&path, "p").await.is_empty());
}

/// Prints the rates (run with `--nocapture`); asserts nothing about speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_rates() {
    let dir = dir();
    let path = dir.path().join("rates.db");
    let (store, _) = open(&path, "p").await;
    const TASKS: u64 = 8;
    const EACH: u64 = 250;

    let before = store.commits();
    let started = Instant::now();
    for h in 0..100 {
        store.insert(&[stored(100_000 + h, "p")]).await.unwrap();
    }
    let serial = 100.0 / started.elapsed().as_secs_f64();
    let serial_commits = store.commits() - before;

    let tracker = TaskTracker::new();
    let phase = |remove: bool| {
        let (store, tracker) = (store.clone(), tracker.clone());
        async move {
            let before = store.commits();
            let started = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|t| {
                    let store = store.clone();
                    tracker.spawn(async move {
                        for i in 0..EACH {
                            let h = t * EACH + i;
                            if remove {
                                store.remove(h).await.unwrap();
                            } else {
                                store.insert(&[stored(h, "p")]).await.unwrap();
                            }
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let n = (TASKS * EACH) as f64;
            let commits = store.commits() - before;
            (n / started.elapsed().as_secs_f64(), n / commits as f64)
        }
    };
    let (pushes, push_batch) = tokio::time::timeout(BOUND, phase(false)).await.unwrap();
    let (acks, ack_batch) = tokio::time::timeout(BOUND, phase(true)).await.unwrap();

    // PushBatch of 100 jobs: one insert call.
    let batch: Vec<Stored> = (0..100).map(|h| stored(200_000 + h, "p")).collect();
    let started = Instant::now();
    for _ in 0..10 {
        store.insert(&batch).await.unwrap();
    }
    let batched = 1000.0 / started.elapsed().as_secs_f64();

    println!(
        "durable store: 1 task serial inserts {serial:.0}/s ({serial_commits} commits for 100); \
         {TASKS} tasks: inserts {pushes:.0}/s ({push_batch:.1} per commit), \
         acks (removes) {acks:.0}/s ({ack_batch:.1} per commit); \
         PushBatch of 100: {batched:.0} jobs/s"
    );
}

#[tokio::test]
async fn a_file_that_is_not_redb_is_a_clear_error_and_left_alone() {
    let dir = dir();
    // A bbolt meta page: page id, flags = meta (0x04), then magic 0xED0CDAED.
    let mut bbolt = vec![0u8; 8192];
    bbolt[8..10].copy_from_slice(&4u16.to_le_bytes());
    bbolt[16..20].copy_from_slice(&0xED0C_DAEDu32.to_le_bytes());
    bbolt[20..24].copy_from_slice(&2u32.to_le_bytes());
    bbolt[24..28].copy_from_slice(&4096u32.to_le_bytes());
    let mut noise = vec![0u8; 100_000];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in &mut noise {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    for (name, bytes) in [
        ("rr.db", bbolt),
        ("noise.db", noise),
        ("short.db", b"hello".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let e = durable::open(&path, 0o600, "p").await.err().unwrap();
        let JobsError::Storage { pipeline, message } = e else {
            panic!("{name}: not a storage error")
        };
        assert_eq!(pipeline, "p");
        assert!(message.contains(name), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was modified");
    }
}

#[tokio::test]
async fn missing_directory_is_an_error_naming_the_path() {
    let dir = dir();
    let path = dir.path().join("no/such/dir/jobs.db");
    let msg = storage_message(durable::open(&path, 0o600, "p").await.err().unwrap());
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("directory does not exist"), "{msg}");
}

#[tokio::test]
async fn permissions_apply_to_a_new_file_only() {
    let dir = dir();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let new = dir.path().join("new.db");
    let (store, _) = durable::open(&new, 0o640, "p").await.unwrap();
    assert_eq!(mode(&new), 0o640);
    drop(store);
    // Beyond the umask too.
    let wide = dir.path().join("wide.db");
    drop(durable::open(&wide, 0o666, "p").await.unwrap());
    assert_eq!(mode(&wide), 0o666);
    // An existing file keeps its mode.
    drop(durable::open(&new, 0o644, "p").await.unwrap());
    assert_eq!(mode(&new), 0o640);
}

#[tokio::test]
async fn corrupt_records_are_skipped_counted_and_kept_aside() {
    let dir = dir();
    let path = dir.path().join("jobs.db");
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let def = redb::TableDefinition::<u64, &[u8]>::new("jobs/p");
            let mut t = txn.open_table(def).unwrap();
            t.insert(5, &b"\xff\xff\xff"[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let (store, jobs) = open(&path, "p").await;
    store.insert(&[stored(1, "p")]).await.unwrap();
    assert!(jobs.is_empty());
    assert_eq!(store.corrupt_records(), 1);
    drop(store);
    // Moved aside: not reported again.
    let (store, jobs) = open(&path, "p").await;
    assert_eq!((jobs, store.corrupt_records()), (vec![stored(1, "p")], 0));
}

const CHILD: &str = "COYOTE_DURABLE_CRASH_CHILD";
const CRASH_TEST: &str = "a_killed_process_keeps_every_insert_it_saw_resolve";

/// The child: 4 tasks insert until killed, printing each resolved insert.
fn crash_child(path: PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (store, _) = open(&path, "p").await;
        println!("opened");
        let tracker = TaskTracker::new();
        let next = Arc::new(AtomicU64::new(1));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (store, next) = (store.clone(), next.clone());
                tracker.spawn(async move {
                    for _ in 0..100_000 {
                        let h = next.fetch_add(1, Ordering::Relaxed);
                        store.insert(&[stored(h, "p")]).await.unwrap();
                        println!("stored {h}");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn a_killed_process_keeps_every_insert_it_saw_resolve() {
    if let Some(path) = std::env::var_os(CHILD) {
        return crash_child(path.into());
    }
    let dir = dir();
    let path = dir.path().join("crash.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([CRASH_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut reported = BTreeSet::new();
    let mut killed = false;
    // After the kill, the lines already in the pipe still count.
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(h) = line.strip_prefix("stored ") {
            reported.insert(h.parse::<u64>().unwrap());
            if reported.len() == 300 && !killed {
                child.kill().unwrap();
                killed = true;
            }
        }
    }
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was not killed: {status}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let jobs = rt.block_on(content(&path, "p"));
    let present: BTreeSet<u64> = jobs.iter().map(|s| s.handle).collect();
    let lost: Vec<_> = reported.difference(&present).collect();
    assert!(lost.is_empty(), "reported and lost: {lost:?}");
    for s in &jobs {
        assert_eq!(*s, stored(s.handle, "p"));
    }
    println!(
        "crash: {} inserts reported, {} in the file",
        reported.len(),
        present.len()
    );
}

fn backlog(
    store: Arc<RedbStore>,
    recovered: Vec<Stored>,
    queue: &Arc<JobQueue>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) -> Arc<Backlog> {
    let opts = BacklogOptions {
        kind: "boltdb",
        pipeline: "p".into(),
        priority: 10,
        prefetch: 10,
        limit: 1000,
    };
    Backlog::start(
        opts,
        store,
        recovered,
        queue.clone(),
        tracker,
        shutdown.clone(),
    )
}

#[tokio::test]
async fn backlog_redelivers_a_job_held_by_a_worker_after_a_restart() {
    let dir = dir();
    let path = dir.path().join("jobs.db");
    let job = Job::new("p", "App\\Job", "job-1", "body");
    {
        let (store, recovered) = open(&path, "p").await;
        let (queue, tracker, shutdown) = (
            Arc::new(JobQueue::new()),
            TaskTracker::new(),
            CancellationToken::new(),
        );
        let driver = backlog(store, recovered, &queue, &tracker, &shutdown);
        driver.push(vec![job.clone()]).await.unwrap();
        driver.resume().unwrap();
        let d = tokio::time::timeout(BOUND, queue.pop(&shutdown))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.job.id, "job-1");
        d.driver.reserve(d.handle);
        assert_eq!(driver.state().reserved, 1);
        // The server dies with the job at a worker: no ack, no stop.
        shutdown.cancel();
        tracker.close();
        tracker.wait().await;
        drop((d, driver, queue));
    }
    let (store, recovered) = open(&path, "p").await;
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        recovered[0].job.priority, 10,
        "the pipeline's priority is kept"
    );
    let (queue, tracker, shutdown) = (
        Arc::new(JobQueue::new()),
        TaskTracker::new(),
        CancellationToken::new(),
    );
    let driver = backlog(store, recovered, &queue, &tracker, &shutdown);
    driver.resume().unwrap();
    let d = tokio::time::timeout(BOUND, queue.pop(&shutdown))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.job,
        Job {
            priority: 10,
            ..job
        }
    );
    d.driver.reserve(d.handle);
    d.driver.ack(d.handle).await.unwrap();
    assert_eq!(driver.stop().await, 0);
    shutdown.cancel();
    drop((d, driver, queue));
    assert!(content(&path, "p").await.is_empty());
}
