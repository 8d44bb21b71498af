//! End-to-end pool tests with real PHP workers (php/workers/*.php).
//! Every wait has a deadline; no test sleeps to "let things settle" without
//! checking a condition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{alive, body, echo_roundtrips, opts, raw, start};

use std::collections::HashSet;
use std::future::Future;
use std::time::Duration;

use coyote_pool::{
    DynamicOptions, Payload, Pool, PoolError, PoolOptions, RelayAddress, SupervisorOptions,
    WorkerStatus,
};
use tokio::time::{sleep, timeout, Instant};

/// Polls `cond` until it holds or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        // Polls an event with a deadline (the pool has no watch for these
        // states), never waits a guessed time.
        sleep(Duration::from_millis(5)).await;
    }
}

/// Runs futures concurrently on the current task.
async fn futures_join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}

#[tokio::test]
async fn echo_over_pipes() {
    echo_roundtrips(RelayAddress::Pipes).await;
}

#[tokio::test]
async fn echo_over_tcp() {
    echo_roundtrips(RelayAddress::Tcp("127.0.0.1:0".into())).await;
}

#[tokio::test]
async fn echo_over_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    echo_roundtrips(RelayAddress::Unix(dir.path().join("relay.sock"))).await;
}

#[tokio::test]
async fn workers_get_roadrunner_environment() {
    let mut o = opts("env", 1);
    o.command.mode = "http".into();
    o.command.rpc = Some("tcp://127.0.0.1:6001".into());
    o.command.version = "9.9.9".into();
    o.command = o.command.env("COYOTE_TEST", "yes");
    let pool = start(o).await;
    let env: serde_json::Value = serde_json::from_str(&body(&pool, "env").await.unwrap()).unwrap();
    assert_eq!(env["RR_MODE"], "http");
    assert_eq!(env["RR_RELAY"], "pipes");
    assert_eq!(env["RR_RPC"], "tcp://127.0.0.1:6001");
    assert_eq!(env["RR_VERSION"], "9.9.9");
    assert_eq!(env["COYOTE_TEST"], "yes");
    pool.shutdown().await;
}

#[tokio::test]
async fn error_frame_is_a_job_error_and_worker_stays() {
    let pool = start(opts("error", 1)).await;
    let pid = pool.workers()[0].pid;
    for _ in 0..3 {
        match pool.exec(raw("bad")).await {
            Err(PoolError::Job { message }) => assert_eq!(message, "boom: bad"),
            other => panic!("expected a job error, got {other:?}"),
        }
    }
    let workers = pool.workers();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].pid, pid, "worker kept after soft errors");
    assert_eq!(workers[0].num_execs, 3);
    pool.shutdown().await;
}

#[tokio::test]
async fn crash_mid_request_fails_that_request_and_is_replaced() {
    let pool = start(opts("crash", 2)).await;
    let before: HashSet<u32> = pool.workers().iter().map(|w| w.pid).collect();
    let err = pool.exec(raw("crash")).await.unwrap_err();
    assert!(matches!(err, PoolError::WorkerGone { .. }), "{err:?}");
    assert!(!err.retry_safe());
    assert_eq!(body(&pool, "after").await.unwrap(), "after");
    eventually(
        Duration::from_secs(10),
        "pool back to 2 workers",
        || async {
            let now: HashSet<u32> = pool.workers().iter().map(|w| w.pid).collect();
            now.len() == 2 && now.difference(&before).count() == 1
        },
    )
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
    let (capture, _guard) = common::LogCapture::install();
    let pool = start(o).await;
    let first = pool.workers()[0].pid;
    // The only worker dies; every replacement exits 3 at boot.
    let err = pool.exec(raw("crash")).await.unwrap_err();
    assert!(matches!(err, PoolError::WorkerGone { .. }), "{err:?}");
    common::until_gone(&pool, first).await;
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
async fn stdout_garbage_is_a_protocol_error_not_a_hang() {
    let pool = start(opts("garbage", 1)).await;
    let err = timeout(Duration::from_secs(10), pool.exec(raw("garbage")))
        .await
        .expect("no hang")
        .unwrap_err();
    assert!(matches!(err, PoolError::Protocol { .. }), "{err:?}");
    assert!(
        err.to_string().contains("echo"),
        "message names the cause: {err}"
    );
    assert_eq!(body(&pool, "fine").await.unwrap(), "fine");
    pool.shutdown().await;
}

#[tokio::test]
async fn hostile_frames_kill_only_that_worker() {
    let mut o = opts("hostile", 2);
    o.stream_timeout = Duration::from_millis(500);
    o.max_frame_payload = 1 << 20;
    let pool = start(o).await;
    for case in ["badcrc", "huge", "truncated", "half-sleep", "badversion"] {
        let started = Instant::now();
        let err = timeout(Duration::from_secs(10), pool.exec(raw(case)))
            .await
            .expect("no hang")
            .unwrap_err();
        assert!(
            matches!(
                err,
                PoolError::Protocol { .. } | PoolError::WorkerGone { .. }
            ),
            "{case}: {err:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{case} took too long"
        );
        assert_eq!(
            body(&pool, "ok").await.unwrap(),
            "ok",
            "pool serves after {case}"
        );
    }
    pool.shutdown().await;
}

#[tokio::test]
async fn max_jobs_replaces_workers() {
    let mut o = opts("pid", 1);
    o.max_jobs = 3;
    let pool = start(o).await;
    let mut pids = Vec::new();
    for _ in 0..9 {
        pids.push(body(&pool, "pid").await.unwrap());
    }
    let distinct: HashSet<_> = pids.iter().collect();
    assert_eq!(distinct.len(), 3, "{pids:?}");
    for pid in &distinct {
        assert_eq!(pids.iter().filter(|p| p == pid).count(), 3);
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
    eventually(Duration::from_secs(5), "stuck worker killed", || async {
        !alive(pid)
    })
    .await;
    assert_eq!(body(&pool, "10").await.unwrap(), "slept 10");
    pool.shutdown().await;
}

#[tokio::test]
async fn allocate_timeout_and_queue_limit() {
    let mut o = opts("slow", 1);
    o.allocate_timeout = Duration::from_millis(200);
    o.max_queue_size = 1;
    let pool = start(o).await;
    let busy = {
        let pool = pool.clone();
        async move { body(&pool, "1000").await }
    };
    let waits = {
        let pool = pool.clone();
        async move {
            // The only worker is busy before the next call is made, and
            // that call waits in the queue before the third is refused.
            eventually(Duration::from_secs(5), "worker busy", || async {
                pool.idle_count() == 0
            })
            .await;
            let waiting = pool.exec(raw("1"));
            let rejected = async {
                eventually(Duration::from_secs(5), "one caller queued", || async {
                    pool.waiting() == 1
                })
                .await;
                pool.exec(raw("1")).await
            };
            tokio::join!(waiting, rejected)
        }
    };
    let (busy, (waited, rejected)) = tokio::join!(busy, waits);
    assert_eq!(busy.unwrap(), "slept 1000");
    assert!(
        matches!(waited, Err(PoolError::NoFreeWorkers { .. })),
        "{waited:?}"
    );
    assert!(
        matches!(rejected, Err(PoolError::QueueFull { limit: 1, .. })),
        "{rejected:?}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    let pool = start(opts("slow", 1)).await;
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = (0..5).map(|i| {
        let pool = pool.clone();
        let order = order.clone();
        async move {
            // Call i arrives once the worker is busy and i - 1 callers
            // wait: arrival order is made, not guessed.
            eventually(
                Duration::from_secs(10),
                "earlier callers queued",
                || async { i == 0 || (pool.idle_count() == 0 && pool.waiting() == i as usize - 1) },
            )
            .await;
            body(&pool, "100").await.unwrap();
            order.lock().unwrap().push(i);
        }
    });
    futures_join_all(calls).await;
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
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
    eventually(Duration::from_secs(10), "debug workers stopped", || async {
        pool.process_count() == 0
    })
    .await;
    pool.shutdown().await;
}

#[tokio::test]
async fn reset_replaces_all_workers_without_failing_in_flight_work() {
    let pool = start(opts("slow", 2)).await;
    let before: HashSet<u32> = pool.workers().iter().map(|w| w.pid).collect();
    let in_flight = {
        let pool = pool.clone();
        async move { body(&pool, "600").await }
    };
    let reset = {
        let pool = pool.clone();
        async move {
            // The reset starts while the long request holds a worker.
            eventually(Duration::from_secs(5), "a worker busy", || async {
                pool.idle_count() < 2
            })
            .await;
            let mut served = 0;
            let reset = pool.reset();
            tokio::pin!(reset);
            loop {
                tokio::select! {
                    r = &mut reset => { r.unwrap(); break served; }
                    r = body(&pool, "5") => { assert_eq!(r.unwrap(), "slept 5"); served += 1; }
                }
            }
        }
    };
    let (in_flight, served) = tokio::join!(in_flight, reset);
    assert_eq!(in_flight.unwrap(), "slept 600");
    assert!(served > 0, "requests kept flowing during the reset");
    let after: HashSet<u32> = pool.workers().iter().map(|w| w.pid).collect();
    assert_eq!(after.len(), 2);
    assert!(
        after.is_disjoint(&before),
        "every worker replaced: {before:?} -> {after:?}"
    );
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
        eventually(Duration::from_secs(10), "worker replaced", || async {
            let w = pool.workers();
            w.len() == 1 && w[0].pid.to_string() != first && w[0].status == WorkerStatus::Ready
        })
        .await;
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
    o.supervisor.max_worker_memory = base + 8 * 1024 * 1024;
    let pool = start(o).await;
    let mut pids = HashSet::new();
    for _ in 0..60 {
        body(&pool, "leak").await.expect("no request fails");
        pids.extend(pool.workers().iter().map(|w| w.pid));
        // sleep is the behaviour under test: requests spread over the
        // supervisor's watch ticks, which sample worker memory.
        sleep(Duration::from_millis(20)).await;
    }
    assert!(
        pids.len() >= 2,
        "leaking worker recycled ({} pids)",
        pids.len()
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
    futures_join_all(calls).await;
    let peak = pool.process_count();
    assert_eq!(peak, 3, "grew to 1 + 2 extra workers");
    eventually(
        Duration::from_secs(10),
        "extras removed after idle_timeout",
        || async { pool.process_count() == 1 },
    )
    .await;
    pool.shutdown().await;
}

#[tokio::test]
async fn streamed_answers_arrive_in_parts_and_cancel_cleanly() {
    let mut o = opts("stream", 1);
    o.command = o.command.env("STREAM_DELAY_MS", "30");
    let pool = start(o).await;
    let pid = pool.workers()[0].pid;
    let whole = pool.exec(Payload::raw("{\"h\":1}", "3")).await.unwrap();
    assert_eq!(whole.context, "{\"h\":1}");
    assert_eq!(whole.body, "chunk-0\nchunk-1\nchunk-2\n");

    let mut stream = pool.exec_stream(raw("4")).await.unwrap();
    let mut parts = Vec::new();
    while let Some(part) = stream.next().await {
        parts.push(String::from_utf8(part.unwrap().body.to_vec()).unwrap());
    }
    assert_eq!(
        parts,
        ["chunk-0\n", "chunk-1\n", "chunk-2\n", "chunk-3\n", ""]
    );

    let mut stream = pool.exec_stream(raw("1000")).await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().body, "chunk-0\n");
    drop(stream); // the client went away
    let again = timeout(Duration::from_secs(10), pool.exec(raw("2")))
        .await
        .expect("cancelled stream drained in time")
        .unwrap();
    assert_eq!(again.body, "chunk-0\nchunk-1\n");
    assert_eq!(pool.workers()[0].pid, pid, "drained, not killed");
    pool.shutdown().await;
}

#[tokio::test]
async fn abandoned_execution_is_drained_and_the_worker_reused() {
    let pool = start(opts("slow", 1)).await;
    let pid = pool.workers()[0].pid;
    let abandoned = timeout(Duration::from_millis(100), pool.exec(raw("300"))).await;
    assert!(abandoned.is_err(), "caller gave up");
    assert_eq!(body(&pool, "1").await.unwrap(), "slept 1");
    assert_eq!(pool.workers()[0].pid, pid);
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
    eventually(Duration::from_secs(10), "old worker gone", || async {
        !alive(first)
    })
    .await;
    pool.shutdown().await;
}

#[tokio::test]
async fn per_exec_deadline_bounds_waiting_and_execution() {
    let pool = start(opts("slow", 1)).await;
    let pid = pool.workers()[0].pid;
    let started = Instant::now();
    let err = pool
        .exec_until(
            raw("3000"),
            Some(Instant::now() + Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PoolError::Deadline { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    eventually(
        Duration::from_secs(5),
        "worker past the deadline killed",
        || async { !alive(pid) },
    )
    .await;
    let ok = pool
        .exec_until(raw("5"), Some(Instant::now() + Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(ok.body, "slept 5");
    pool.shutdown().await;
}

#[tokio::test]
async fn informer_snapshot_and_empty_payload() {
    let pool = start(opts("echo", 2)).await;
    body(&pool, "a").await.unwrap();
    let workers = pool.workers();
    assert_eq!(workers.len(), 2);
    for w in &workers {
        assert_eq!(w.status, WorkerStatus::Ready);
        assert!(w.memory_rss > 1024 * 1024, "rss {}", w.memory_rss);
        assert!(w.command.contains("echo.php"));
        assert!(alive(w.pid));
    }
    assert_eq!(workers.iter().map(|w| w.num_execs).sum::<u64>(), 1);
    let err = pool.exec(Payload::raw("", "")).await.unwrap_err();
    assert!(matches!(err, PoolError::EmptyPayload));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_waiter_cancelled_after_its_worker_arrived_hands_the_worker_on() {
    let pool = start(opts("slow", 1)).await;
    let pid = pool.workers()[0].pid;
    let tasks = tokio_util::task::TaskTracker::new();
    let busy = tasks.spawn({
        let pool = pool.clone();
        async move { body(&pool, "200").await }
    });
    eventually(Duration::from_secs(5), "worker busy", || async {
        pool.workers()[0].status == WorkerStatus::Working
    })
    .await;
    let mut queued = Box::pin(body(&pool, "1"));
    // Polled once, it finds no idle worker and queues.
    assert!(futures::poll!(&mut queued).is_pending());
    assert_eq!(pool.waiting(), 1);
    // The busy call's release sends the worker to the queued caller,
    // which is then cancelled without running again.
    assert_eq!(busy.await.unwrap().unwrap(), "slept 200");
    drop(queued);
    assert_eq!(body(&pool, "1").await.unwrap(), "slept 1");
    let workers = pool.workers();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].pid, pid, "the worker was lost and replaced");
    pool.shutdown().await;
}

mod sharded {
    use super::*;
    use coyote_pool::Shards;

    async fn start_sharded(opts: PoolOptions, shards: &Shards) -> Pool {
        timeout(
            Duration::from_secs(20),
            Pool::start_sharded(opts, shards.clone()),
        )
        .await
        .expect("pool start timed out")
        .expect("pool start")
    }

    /// The pid of the process that answers, from each shard.
    async fn pids_seen_from(pool: &Pool, shards: &Shards, shard: usize) -> HashSet<String> {
        let pool = pool.clone();
        shards
            .handle(shard)
            .spawn(async move {
                let mut seen = HashSet::new();
                for _ in 0..20 {
                    seen.insert(body(&pool, "").await.unwrap());
                }
                seen
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn workers_are_spread_and_callers_use_their_own_shards_workers() {
        let shards = Shards::start(2).unwrap();
        let pool = start_sharded(opts("pid", 4), &shards).await;
        assert_eq!(pool.workers().len(), 4);
        let from0 = pids_seen_from(&pool, &shards, 0).await;
        let from1 = pids_seen_from(&pool, &shards, 1).await;
        // Sequential calls from a shard always find one of its own
        // workers idle, and keep reusing the most recent one.
        assert_eq!(from0.len(), 1, "{from0:?}");
        assert_eq!(from1.len(), 1, "{from1:?}");
        assert_ne!(from0, from1, "both shards used the same worker");
        // Callers outside the shards are served by any worker.
        assert!(!body(&pool, "").await.unwrap().is_empty());
        pool.shutdown().await;
        shards.stop();
    }

    #[tokio::test]
    async fn a_shard_without_workers_is_served_by_the_others() {
        let shards = Shards::start(3).unwrap();
        let pool = start_sharded(opts("slow", 2), &shards).await;
        // Two workers over three shards: one shard has none, and its
        // callers (also when they must queue) still get answers.
        let calls: Vec<_> = (0..3)
            .flat_map(|shard| {
                let shards = shards.clone();
                (0..3).map(move |_| (shard, shards.clone()))
            })
            .map(|(shard, shards)| {
                let pool = pool.clone();
                shards
                    .handle(shard)
                    .spawn(async move { body(&pool, "20").await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), "slept 20");
        }
        pool.shutdown().await;
        shards.stop();
    }

    #[tokio::test]
    async fn reset_and_shutdown_reach_every_shard() {
        let shards = Shards::start(2).unwrap();
        let pool = start_sharded(opts("pid", 2), &shards).await;
        let before: HashSet<u32> = pool.workers().iter().map(|w| w.pid).collect();
        pool.reset().await.unwrap();
        let after: HashSet<u32> = pool.workers().iter().map(|w| w.pid).collect();
        assert_eq!(after.len(), 2);
        assert!(before.is_disjoint(&after), "{before:?} {after:?}");
        let from0 = pids_seen_from(&pool, &shards, 0).await;
        let from1 = pids_seen_from(&pool, &shards, 1).await;
        let after_text: HashSet<String> = after.iter().map(u32::to_string).collect();
        assert_eq!(&from0 | &from1, after_text, "each shard has one new worker");
        pool.shutdown().await;
        assert_eq!(pool.process_count(), 0);
        for pid in before.iter().chain(&after) {
            assert!(!alive(*pid), "worker {pid} still alive");
        }
        shards.stop();
    }
}
