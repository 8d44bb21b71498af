//! /health and /ready over real HTTP, backed by real PHP worker pools.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use coyote_pool::{Payload, Pool, PoolOptions, WorkerCommand};
use coyote_status::{Checker, Status};
use coyote_test_support::{wait_until, worker_argv};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

async fn pool(worker: &str) -> Pool {
    Pool::start(PoolOptions {
        name: worker.into(),
        command: WorkerCommand {
            argv: worker_argv(worker),
            ..WorkerCommand::default()
        },
        num_workers: 1,
        allocate_timeout: Duration::from_millis(500),
        destroy_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    })
    .await
    .unwrap()
}

async fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: status\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("answer in time")
        .unwrap();
    let text = String::from_utf8(raw).unwrap();
    let code = text[9..12].parse().unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (code, body)
}

#[tokio::test]
async fn readiness_follows_idle_workers_and_health_follows_live_ones() {
    let slow = pool("slow").await;
    // A pool whose only worker booted once, then crashed; every
    // replacement fails at boot (the pool refuses to start on a worker
    // that cannot boot at all, so it has to be broken after the start).
    let dir = coyote_test_support::TempDir::new("coyote-status-broken").unwrap();
    let broken = Pool::start(PoolOptions {
        name: "jobs".into(),
        command: WorkerCommand {
            argv: worker_argv("boot-once"),
            env: [
                (
                    "BOOT_LOG".to_owned(),
                    dir.path().join("log").display().to_string(),
                ),
                (
                    "BOOT_MARKER".to_owned(),
                    dir.path().join("marker").display().to_string(),
                ),
            ]
            .into_iter()
            .collect(),
            ..WorkerCommand::default()
        },
        num_workers: 1,
        allocate_timeout: Duration::from_millis(500),
        destroy_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    })
    .await
    .unwrap();
    assert!(broken.exec(Payload::raw("{}", "crash")).await.is_err());
    let dead = {
        let broken = broken.clone();
        tokio::task::spawn_blocking(move || {
            wait_until(Duration::from_secs(10), || {
                (broken.health() == 503).then_some(())
            })
        })
    };
    assert!(
        dead.await.unwrap().is_some(),
        "the crashed pool never turned unhealthy"
    );
    let mut plugins: BTreeMap<String, Arc<dyn Checker>> = BTreeMap::new();
    plugins.insert("http".into(), Arc::new(slow.clone()));
    plugins.insert("jobs".into(), Arc::new(broken.clone()));
    let stopping = CancellationToken::new();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let status = Arc::new(Status::new(plugins, 503, stopping.clone()));
    tracker.spawn(status.serve(listener, shutdown.clone(), tracker.clone()));

    let (code, body) = get(&addr, "/ready?plugin=http").await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = get(&addr, "/health?plugin=jobs").await;
    assert_eq!(
        code, 503,
        "a pool whose workers crash at boot is unhealthy: {body}"
    );
    assert!(body.contains("\"plugin_name\":\"jobs\""), "{body}");

    // Occupy the only worker: not ready, still healthy.
    let busy = {
        let slow = slow.clone();
        tracker.spawn(async move { slow.exec(Payload::raw("{}", "700")).await })
    };
    // The exec has the worker once the pool has no idle one left (polled
    // off the runtime, which keeps serving meanwhile).
    let taken = {
        let slow = slow.clone();
        tokio::task::spawn_blocking(move || {
            wait_until(Duration::from_secs(5), || {
                (slow.idle_count() == 0).then_some(())
            })
        })
    };
    assert!(
        taken.await.unwrap().is_some(),
        "the exec never took the only worker"
    );
    let (code, _) = get(&addr, "/ready?plugin=http").await;
    assert_eq!(
        code, 503,
        "/ready turned 503 while the only worker was busy"
    );
    assert_eq!(get(&addr, "/health?plugin=http").await.0, 200);
    busy.await.unwrap().unwrap();
    assert_eq!(get(&addr, "/ready?plugin=http").await.0, 200);

    // Graceful stop: health says so with 200, ready turns unavailable.
    stopping.cancel();
    let (code, body) = get(&addr, "/health?plugin=http").await;
    assert_eq!((code, body.trim()), (200, "service is shutting down"));
    assert_eq!(get(&addr, "/ready?plugin=http").await.0, 503);

    shutdown.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .unwrap();
    slow.shutdown().await;
    broken.shutdown().await;
}
