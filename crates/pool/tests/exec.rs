//! Executions: answers, errors, protocol violations, queueing, streams,
//! deadlines, abandoned calls, the informer snapshot, worker logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{alive, body, echo_roundtrips, opts, raw, start, until_gone};
use coyote_pool::{Payload, PoolError, RelayAddress, WorkerStatus};
use futures::poll;
use tokio::time::{timeout, Instant};

#[tokio::test]
async fn echo_over_pipes() {
    echo_roundtrips(RelayAddress::Pipes).await;
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
async fn allocate_timeout_and_queue_limit() {
    let mut o = opts("slow", 1);
    o.allocate_timeout = Duration::from_millis(200);
    o.max_queue_size = 1;
    let pool = start(o).await;
    // Polled once, a call takes the idle worker and writes its request.
    let mut busy = Box::pin(body(&pool, "1000"));
    assert!(poll!(&mut busy).is_pending());
    assert_eq!(pool.workers()[0].status, WorkerStatus::Working);
    // The next one queues; the one after that finds the queue full.
    let mut waiting = Box::pin(pool.exec(raw("1")));
    assert!(poll!(&mut waiting).is_pending());
    assert_eq!(pool.waiting(), 1);
    let rejected = pool.exec(raw("1")).await;
    assert!(
        matches!(rejected, Err(PoolError::QueueFull { limit: 1, .. })),
        "{rejected:?}"
    );
    // allocate_timeout is the behaviour under test: the waiter gives up
    // after 200 ms while the worker is still busy for 1 s.
    let (busy, waited) = tokio::join!(busy, waiting);
    assert_eq!(busy.unwrap(), "slept 1000");
    assert!(
        matches!(waited, Err(PoolError::NoFreeWorkers { .. })),
        "{waited:?}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    let pool = start(opts("slow", 1)).await;
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut calls: Vec<_> = (0..5)
        .map(|i| {
            let pool = pool.clone();
            let order = order.clone();
            Box::pin(async move {
                body(&pool, "20").await.unwrap();
                order.lock().unwrap().push(i);
            })
        })
        .collect();
    // Each call, polled once in turn, takes the worker or queues behind
    // the previous ones.
    for (i, call) in calls.iter_mut().enumerate() {
        assert!(poll!(call).is_pending());
        assert_eq!(pool.waiting(), i);
    }
    futures::future::join_all(calls).await;
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
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
    let mut abandoned = Box::pin(pool.exec(raw("300")));
    assert!(poll!(&mut abandoned).is_pending(), "request written");
    assert_eq!(pool.workers()[0].status, WorkerStatus::Working);
    drop(abandoned); // the caller gave up mid-execution
    assert_eq!(body(&pool, "1").await.unwrap(), "slept 1");
    assert_eq!(pool.workers()[0].pid, pid);
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
    until_gone(&pool, pid).await;
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
    let mut busy = Box::pin(body(&pool, "200"));
    assert!(poll!(&mut busy).is_pending());
    assert_eq!(pool.workers()[0].status, WorkerStatus::Working);
    let mut queued = Box::pin(body(&pool, "1"));
    // Polled once, it finds no idle worker and queues.
    assert!(poll!(&mut queued).is_pending());
    assert_eq!(pool.waiting(), 1);
    // The busy call's release sends the worker to the queued caller,
    // which is then cancelled without running again.
    assert_eq!(busy.await.unwrap(), "slept 200");
    drop(queued);
    assert_eq!(body(&pool, "1").await.unwrap(), "slept 1");
    let workers = pool.workers();
    assert_eq!(workers.len(), 1);
    assert_eq!(workers[0].pid, pid, "the worker was lost and replaced");
    pool.shutdown().await;
}
