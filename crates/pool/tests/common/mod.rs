//! Shared fixtures for the pool's end-to-end tests with real PHP workers
//! (php/workers/*.php). Every wait has a deadline and waits on an event
//! (the pool's process watch, a log line), never on a guessed sleep.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coyote_pool::{Payload, Pool, PoolError, PoolOptions, RelayAddress, WorkerCommand, WorkerInfo};
use coyote_test_support::worker_argv;
use tokio::sync::watch;
use tokio::time::{timeout, timeout_at, Instant};

/// Generous bound for waits on events that normally take milliseconds.
pub const LIMIT: Duration = Duration::from_secs(10);

pub fn command(worker: &str) -> WorkerCommand {
    WorkerCommand {
        argv: worker_argv(worker),
        mode: "test".into(),
        version: "test".into(),
        ..WorkerCommand::default()
    }
}

pub fn opts(worker: &str, workers: usize) -> PoolOptions {
    PoolOptions {
        name: "test".into(),
        command: command(worker),
        num_workers: workers,
        allocate_timeout: Duration::from_secs(10),
        destroy_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    }
}

pub async fn start(opts: PoolOptions) -> Pool {
    timeout(Duration::from_secs(20), Pool::start(opts))
        .await
        .expect("pool start timed out")
        .expect("pool start")
}

/// Starts a pool that must fail to start, and returns why.
pub async fn start_fails(opts: PoolOptions) -> PoolError {
    match timeout(Duration::from_secs(20), Pool::start(opts))
        .await
        .expect("a failing start returns in time")
    {
        Ok(pool) => {
            pool.shutdown().await;
            panic!("the pool started")
        }
        Err(e) => e,
    }
}

pub fn raw(body: &str) -> Payload {
    Payload::raw("{}", body.to_owned())
}

pub async fn body(pool: &Pool, req: &str) -> Result<String, PoolError> {
    let r = pool.exec(raw(req)).await?;
    Ok(String::from_utf8(r.body.to_vec()).unwrap())
}

/// Round trips of every size and concurrency through a 3-worker pool.
pub async fn echo_roundtrips(relay: RelayAddress) {
    let pool = start(PoolOptions {
        relay,
        ..opts("echo", 3)
    })
    .await;
    assert_eq!(pool.process_count(), 3);
    let answer = pool
        .exec(Payload::raw(r#"{"ctx":1}"#, "hello"))
        .await
        .unwrap();
    assert_eq!(answer.context, r#"{"ctx":1}"#);
    assert_eq!(answer.body, "hello");
    let big = "x".repeat(3 * 1024 * 1024);
    assert_eq!(body(&pool, &big).await.unwrap().len(), big.len());
    let calls = (0..60).map(|i| {
        let pool = pool.clone();
        async move { body(&pool, &format!("call-{i}")).await.unwrap() }
    });
    let got = futures::future::join_all(calls).await;
    for (i, b) in got.iter().enumerate() {
        assert_eq!(b, &format!("call-{i}"));
    }
    let execs: u64 = pool.workers().iter().map(|w| w.num_execs).sum();
    assert_eq!(execs, 62);
    pool.shutdown().await;
    assert_eq!(pool.process_count(), 0);
}

/// True while `pid` is a running (not zombie) process.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
}

/// True once `pid` is gone, a zombie, or exiting (its descriptors closed).
/// After the last holder of a pipe closed it, this holds without a race.
pub fn exited_or_exiting(pid: u32) -> bool {
    !alive(pid) || std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(true, |fds| fds.count() == 0)
}

/// Waits until `/proc/PID` is gone: a process that is not ours (a
/// worker's child) was killed and reaped by init. No event tells us that,
/// so this checks every 10 ms, bounded by [`LIMIT`].
pub async fn until_reaped(pid: u32) {
    let deadline = Instant::now() + LIMIT;
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "process {pid} still exists");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn pids(pool: &Pool) -> HashSet<u32> {
    pool.workers().iter().map(|w| w.pid).collect()
}

/// Waits until `cond` holds for the pool's workers, re-checking each time a
/// process joins or leaves the pool. A process that left was reaped.
pub async fn until_workers<F>(pool: &Pool, what: &str, mut cond: F)
where
    F: FnMut(&[WorkerInfo]) -> bool,
{
    let deadline = Instant::now() + LIMIT;
    let mut changes = pool.watch_processes();
    loop {
        changes.borrow_and_update();
        let workers = pool.workers();
        if cond(&workers) {
            return;
        }
        match timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => panic!("pool gone while waiting for: {what}"),
            Err(_) => panic!("timed out waiting for: {what}; workers now: {workers:?}"),
        }
    }
}

/// Waits until the process `pid` has left the pool (it was reaped).
pub async fn until_gone(pool: &Pool, pid: u32) {
    until_workers(pool, &format!("worker {pid} gone"), |w| {
        w.iter().all(|w| w.pid != pid)
    })
    .await;
    assert!(!alive(pid), "worker {pid} left the pool but still runs");
}

/// Log output of the current thread's tracing events, with a way to wait
/// for a line. Keep the guard alive for the test's duration.
#[derive(Clone)]
pub struct LogCapture {
    text: Arc<Mutex<Vec<u8>>>,
    written: watch::Sender<usize>,
}

impl LogCapture {
    pub fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let capture = Self {
            text: Arc::default(),
            written: watch::Sender::new(0),
        };
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (capture, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.text.lock().unwrap()).into_owned()
    }

    /// Waits until the log holds a line containing every one of `parts`.
    pub async fn until_line(&self, parts: &[&str]) -> String {
        let deadline = Instant::now() + LIMIT;
        let mut changes = self.written.subscribe();
        loop {
            changes.borrow_and_update();
            let text = self.text();
            if let Some(line) = text
                .lines()
                .find(|line| parts.iter().all(|p| line.contains(p)))
            {
                return line.to_owned();
            }
            match timeout_at(deadline, changes.changed()).await {
                Ok(_) => {}
                Err(_) => panic!("no log line with {parts:?}; log:\n{text}"),
            }
        }
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.text.lock().unwrap().extend_from_slice(b);
        self.written.send_modify(|n| *n += b.len());
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
