//! The supervisor: replacing crashed workers (with backoff once they fail
//! to start), max_jobs, exec_ttl, ttl / idle_ttl, memory, the dynamic
//! allocator, workers asking to stop, debug mode.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{alive, body, opts, pids, raw, start, until_gone, until_workers, LogCapture};
use coyote_pool::{DynamicOptions, PoolError, SupervisorOptions, WorkerStatus};
use tokio::time::{sleep, Instant};

#[tokio::test]
async fn crash_mid_request_fails_that_request_and_is_replaced() {
    let pool = start(opts("crash", 2)).await;
    let before = pids(&pool);
    let err = pool.exec(raw("crash")).await.unwrap_err();
    assert!(matches!(err, PoolError::WorkerGone { .. }), "{err:?}");
    assert!(!err.retry_safe());
    assert_eq!(body(&pool, "after").await.unwrap(), "after");
    until_workers(&pool, "pool back to 2 workers, one of them new", |w| {
        let now: HashSet<u32> = w.iter().map(|w| w.pid).collect();
        now.len() == 2 && now.difference(&before).count() == 1
    })
    .await;
    pool.shutdown().await;
}

#[tokio::test]
async fn replacements_that_fail_to_start_back_off_without_spinning() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("boots.log");
    let mut o = opts("boot-once", 1);
    o.command = o
        .command
        .env(
            "BOOT_MARKER",
            &dir.path().join("marker").display().to_string(),
        )
        .env("BOOT_LOG", &log.display().to_string());
    let (capture, _guard) = LogCapture::install();
    let pool = start(o).await;
    let first = pool.workers()[0].pid;
    // The only worker dies; every replacement exits 3 at boot.
    let err = pool.exec(raw("crash")).await.unwrap_err();
    assert!(matches!(err, PoolError::WorkerGone { .. }), "{err:?}");
    until_gone(&pool, first).await;
    capture
        .until_line(&["worker failed to start", "exit status 3"])
        .await;
    // The logged error carries what the worker wrote (next lines).
    let text = capture.text();
    assert!(
        text.contains("the worker wrote:\n--- stderr ---\nboot-once: already booted once"),
        "{text}"
    );
    // Elapsed time is the behaviour under test: how many starts fit in
    // 2 s. Backoff (100 ms doubling, one probe at a time) allows about 5;
    // retrying at once would be dozens.
    sleep(Duration::from_secs(2)).await;
    let boots = std::fs::read_to_string(&log).unwrap().lines().count() - 1;
    assert!((1..=12).contains(&boots), "{boots} failed starts in ~2 s");
    let err = pool
        .exec_until(raw("x"), Some(Instant::now() + Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert!(matches!(err, PoolError::NoFreeWorkers { .. }), "{err:?}");
    pool.shutdown().await;
}

#[tokio::test]
async fn max_jobs_replaces_workers() {
    let mut o = opts("pid", 1);
    o.max_jobs = 3;
    let pool = start(o).await;
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(body(&pool, "pid").await.unwrap());
    }
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 3, "{seen:?}");
    for pid in &distinct {
        assert_eq!(seen.iter().filter(|p| p == pid).count(), 3);
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn exec_ttl_kills_a_stuck_worker() {
    let mut o = opts("slow", 1);
    o.supervisor.exec_ttl = Duration::from_millis(300);
    let pool = start(o).await;
    let pid = pool.workers()[0].pid;
    let started = Instant::now();
    let err = pool.exec(raw("5000")).await.unwrap_err();
    assert!(matches!(err, PoolError::ExecTtl { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    until_gone(&pool, pid).await;
    assert_eq!(body(&pool, "10").await.unwrap(), "slept 10");
    pool.shutdown().await;
}

#[tokio::test]
async fn ttl_and_idle_ttl_retire_workers() {
    for (ttl, idle_ttl) in [
        (Duration::from_millis(400), Duration::ZERO),
        (Duration::ZERO, Duration::from_millis(400)),
    ] {
        let mut o = opts("pid", 1);
        o.supervisor = SupervisorOptions {
            watch_tick: Duration::from_millis(100),
            ttl,
            idle_ttl,
            ..SupervisorOptions::default()
        };
        let pool = start(o).await;
        let first = body(&pool, "pid").await.unwrap();
        until_workers(&pool, "worker replaced", |w| {
            w.len() == 1 && w[0].pid.to_string() != first && w[0].status == WorkerStatus::Ready
        })
        .await;
        assert!(!alive(first.parse().unwrap()));
        assert_ne!(body(&pool, "pid").await.unwrap(), first);
        pool.shutdown().await;
    }
}

#[tokio::test]
async fn max_worker_memory_recycles_a_leaking_worker_without_failures() {
    let mut o = opts("leak", 1);
    o.supervisor = SupervisorOptions {
        watch_tick: Duration::from_millis(50),
        ..SupervisorOptions::default()
    };
    let probe = start(o.clone()).await;
    let base = probe.workers()[0].memory_rss;
    probe.shutdown().await;
    assert!(base > 0);
    let limit = base + 8 * 1024 * 1024;
    o.supervisor.max_worker_memory = limit;
    let pool = start(o).await;
    let mut seen = HashSet::new();
    // Each request leaks 1 MiB; once a worker is over the limit, the next
    // tick retires it, which shows as its process leaving the pool.
    for _ in 0..40 {
        body(&pool, "leak").await.expect("no request fails");
        let workers = pool.workers();
        seen.extend(workers.iter().map(|w| w.pid));
        if let Some(fat) = workers.iter().find(|w| w.memory_rss > limit) {
            until_gone(&pool, fat.pid).await;
        }
        if seen.len() >= 3 {
            break;
        }
    }
    assert!(
        seen.len() >= 2,
        "leaking worker recycled ({} pids)",
        seen.len()
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn dynamic_allocator_grows_under_load_and_shrinks_when_idle() {
    let mut o = opts("slow", 1);
    o.dynamic = Some(DynamicOptions {
        max_workers: 2,
        spawn_rate: 2,
        idle_timeout: Duration::from_secs(1),
    });
    o.supervisor.watch_tick = Duration::from_millis(100);
    let pool = start(o).await;
    let calls = (0..6).map(|_| {
        let pool = pool.clone();
        async move { body(&pool, "300").await.unwrap() }
    });
    futures::future::join_all(calls).await;
    assert_eq!(pool.process_count(), 3, "grew to 1 + 2 extra workers");
    // idle_timeout (1 s) is the behaviour; the wait is on the pool's size.
    until_workers(&pool, "extras removed after idle_timeout", |w| w.len() == 1).await;
    pool.shutdown().await;
}

#[tokio::test]
async fn worker_asking_to_stop_is_replaced_and_the_request_retried() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("stopped-once");
    let mut o = opts("stop", 1);
    o.command = o
        .command
        .env("STOP_ONCE_MARKER", &marker.display().to_string());
    let pool = start(o).await;
    let first = pool.workers()[0].pid;
    let answer = body(&pool, "stop").await.unwrap();
    assert_ne!(answer, first.to_string(), "served by a replacement");
    assert!(marker.exists());
    until_gone(&pool, first).await;
    pool.shutdown().await;
}

#[tokio::test]
async fn debug_mode_uses_a_fresh_worker_each_time() {
    let mut o = opts("pid", 4);
    o.debug = true;
    let pool = start(o).await;
    assert_eq!(pool.process_count(), 0);
    let a = body(&pool, "pid").await.unwrap();
    let b = body(&pool, "pid").await.unwrap();
    assert_ne!(a, b);
    until_workers(&pool, "debug workers stopped", <[_]>::is_empty).await;
    assert!(!alive(a.parse().unwrap()) && !alive(b.parse().unwrap()));
    pool.shutdown().await;
}
