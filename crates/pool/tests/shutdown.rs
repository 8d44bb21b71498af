//! Stopping: in-flight work finishes, stubborn workers are killed, and
//! however a worker ends, its process group goes with it, so children it
//! forked cannot hold the pool's stderr forwarders (and shutdown) open.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    alive, body, exited_or_exiting, opts, raw, start, until_gone, until_reaped, until_workers,
};
use coyote_pool::{Pool, PoolError};
use futures::poll;
use tokio::time::{timeout, Instant};

#[tokio::test]
async fn shutdown_lets_in_flight_work_finish_then_stops_everything() {
    let pool = start(opts("slow", 2)).await;
    let pids: Vec<u32> = pool.workers().iter().map(|w| w.pid).collect();
    let mut in_flight = Box::pin(body(&pool, "400"));
    assert!(poll!(&mut in_flight).is_pending(), "request written");
    let (answer, ()) = tokio::join!(in_flight, pool.shutdown());
    assert_eq!(answer.unwrap(), "slept 400");
    assert_eq!(pool.process_count(), 0);
    for pid in pids {
        assert!(!alive(pid), "worker {pid} still alive");
    }
    let err = pool.exec(raw("1")).await.unwrap_err();
    assert!(matches!(err, PoolError::Stopped { .. }), "{err:?}");
}

#[tokio::test]
async fn worker_ignoring_stop_is_killed_after_destroy_timeout() {
    let mut o = opts("ignore-stop", 1);
    o.destroy_timeout = Duration::from_millis(300);
    let pool = start(o).await;
    let pid = pool.workers()[0].pid;
    assert_eq!(body(&pool, "still here").await.unwrap(), "still here");
    let started = Instant::now();
    pool.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(!alive(pid));
}

/// The pid of the `sleep 60` a fork-child worker started, checked to share
/// the worker's stderr pipe.
async fn forked_child(pool: &Pool, worker: u32) -> u32 {
    let child: u32 = body(pool, "child").await.unwrap().parse().unwrap();
    assert!(child > 0 && alive(child), "the worker forked {child}");
    let stderr = |pid: u32| std::fs::read_link(format!("/proc/{pid}/fd/2")).unwrap();
    assert_eq!(
        stderr(child),
        stderr(worker),
        "the child holds the worker's stderr"
    );
    assert!(stderr(child).to_string_lossy().starts_with("pipe:"));
    child
}

#[tokio::test]
async fn a_forked_child_holding_stderr_does_not_hold_up_shutdown() {
    // Before: shutdown waited for the stderr forwarder until the child's
    // `sleep 60` ended (measured 60.0 s), and the child outlived the pool.
    // After: the worker exits on the stop frame, its group is killed.
    let destroy_timeout = Duration::from_secs(3);
    let mut o = opts("fork-child", 1);
    o.destroy_timeout = destroy_timeout;
    let pool = start(o).await;
    let worker = pool.workers()[0].pid;
    let child = forked_child(&pool, worker).await;
    let started = Instant::now();
    timeout(destroy_timeout + Duration::from_secs(2), pool.shutdown())
        .await
        .expect("shutdown is not held up by the child");
    let took = started.elapsed();
    // The worker exits on the stop frame at once; no timeout is involved.
    assert!(took < destroy_timeout, "shutdown took {took:?}");
    assert!(!alive(worker));
    assert!(exited_or_exiting(child), "child {child} outlived the pool");
    until_reaped(child).await;
}

#[tokio::test]
async fn a_crashed_or_replaced_workers_children_die_with_it() {
    let pool = start(opts("fork-child", 2)).await;
    let workers: Vec<u32> = pool.workers().iter().map(|w| w.pid).collect();
    // Each worker forked its own child at boot: find it by the stderr pipe
    // they share.
    let mut by_worker = Vec::new();
    for &worker in &workers {
        let fd2 = std::fs::read_link(format!("/proc/{worker}/fd/2")).unwrap();
        let child = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| {
                *pid != worker
                    && std::fs::read_link(format!("/proc/{pid}/fd/2"))
                        .ok()
                        .as_ref()
                        == Some(&fd2)
            })
            .expect("the worker's forked child");
        by_worker.push((worker, child));
    }
    // One worker crashes (killed from outside, not by the pool) ...
    let (crashed, crashed_child) = by_worker[0];
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(crashed).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    until_gone(&pool, crashed).await;
    until_workers(&pool, "crashed worker replaced", |w| w.len() == 2).await;
    // ... the other is replaced by a reset (stop frame, clean exit).
    let (replaced, replaced_child) = by_worker[1];
    pool.reset().await.unwrap();
    until_gone(&pool, replaced).await;
    // Neither old worker's task waits on its child any more: the pool
    // stops at once, and only its current workers' children were left.
    let started = Instant::now();
    pool.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    for child in [crashed_child, replaced_child] {
        assert!(
            exited_or_exiting(child),
            "child {child} survived its worker"
        );
        until_reaped(child).await;
    }
}
