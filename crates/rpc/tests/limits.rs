//! The RPC listener's limits: pipelined calls get backpressure instead of
//! a buffer, connections are bounded, idle ones are closed under
//! pressure, and `informer` cannot grow or empty a pool without bound.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use coyote_pool::{Pool, PoolOptions, WorkerCommand};
use coyote_rpc::services::{Informer, Pools};
use coyote_rpc::{Call, RpcClient, RpcLimits, RpcServer, Service, ServiceFuture, Services};
use coyote_test_support::worker_argv;
use goridge::flags;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// `gate.Wait`: blocks until the test opens the gate; counts the calls
/// running at once.
struct Gate {
    open: Semaphore,
    running: AtomicUsize,
    entered: watch::Sender<usize>,
}

impl Service for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn call<'a>(&'a self, _method: &'a str, _codec: u8, _body: Bytes) -> ServiceFuture<'a> {
        Box::pin(async move {
            self.running.fetch_add(1, Ordering::SeqCst);
            self.entered.send_modify(|n| *n += 1);
            let _pass = self.open.acquire().await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(b"true".to_vec())
        })
    }
}

async fn serve(services: Services, limits: RpcLimits) -> (String, CancellationToken, TaskTracker) {
    let server = RpcServer::bind("tcp://127.0.0.1:0")
        .await
        .unwrap()
        .with_limits(limits);
    let address = server.address().trim_start_matches("tcp://").to_owned();
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    tracker.spawn(server.serve(services, shutdown.clone(), tracker.clone()));
    (address, shutdown, tracker)
}

fn calls(n: u32, method: &str) -> BytesMut {
    let mut out = BytesMut::new();
    for seq in 1..=n {
        let call = Call {
            seq,
            method: method.into(),
            codec: flags::CODEC_JSON,
            body: Bytes::from_static(b"true"),
        };
        goridge::encode(&call.to_frame(), &mut out).unwrap();
    }
    out
}

#[tokio::test]
async fn pipelined_calls_beyond_the_in_flight_limit_wait_unread() {
    let gate = Arc::new(Gate {
        open: Semaphore::new(0),
        running: AtomicUsize::new(0),
        entered: watch::Sender::new(0),
    });
    let limits = RpcLimits {
        max_in_flight: 4,
        ..RpcLimits::default()
    };
    let (address, shutdown, _tracker) = serve(Services::new().with(gate.clone()), limits).await;
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(&calls(100, "gate.Wait")).await.unwrap();
    let mut entered = gate.entered.subscribe();
    entered.wait_for(|n| *n >= 4).await.unwrap();
    // Nothing more may start while the four are running: the 96 other
    // calls are already on the socket, so a server that buffers would
    // start them at once (waiting for nothing is the behaviour here).
    let more = tokio::time::timeout(Duration::from_millis(300), entered.wait_for(|n| *n > 4)).await;
    assert!(
        more.is_err(),
        "more than 4 calls started: {}",
        *gate.entered.borrow()
    );
    assert_eq!(gate.running.load(Ordering::SeqCst), 4);
    // Open the gate: calls start only as others finish; all 100 answer.
    gate.open.add_permits(100);
    let mut answered = 0;
    let mut buf = BytesMut::new();
    while answered < 100 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read_buf(&mut buf))
            .await
            .expect("answers in time")
            .unwrap();
        assert!(n > 0);
        while let Some(frame) = goridge::decode(&mut buf, 1 << 20).unwrap() {
            assert!(!frame.has_flag(flags::ERROR));
            answered += 1;
        }
        assert!(gate.running.load(Ordering::SeqCst) <= 4);
    }
    shutdown.cancel();
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_and_idle_ones_close_under_pressure() {
    let limits = RpcLimits {
        max_connections: 2,
        idle_timeout: Duration::from_millis(200),
        ..RpcLimits::default()
    };
    let (address, shutdown, _tracker) = serve(Services::new(), limits).await;
    let mut first = TcpStream::connect(&address).await.unwrap();
    let mut second = TcpStream::connect(&address).await.unwrap();
    // Two of two slots open: both idle connections are closed after
    // idle_timeout (the time passing is the behaviour under test).
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), first.read(&mut byte)).await;
    assert_eq!(closed.expect("closed in time").unwrap(), 0);
    let closed = tokio::time::timeout(Duration::from_secs(5), second.read(&mut byte)).await;
    assert_eq!(closed.expect("closed in time").unwrap(), 0);
    shutdown.cancel();
}

#[tokio::test]
async fn a_connection_over_the_limit_is_served_once_a_slot_frees() {
    let pools = Pools::new();
    let limits = RpcLimits {
        max_connections: 1,
        idle_timeout: Duration::from_secs(3600),
        ..RpcLimits::default()
    };
    let services = Services::new().with(Arc::new(Informer::new(pools)));
    let (address, shutdown, tracker) = serve(services, limits).await;
    let mut first = RpcClient::connect(&address).await.unwrap();
    let listed: Vec<String> = first.call_json("informer.List", &true).await.unwrap();
    assert!(listed.is_empty());
    let waiting = tracker.spawn({
        let address = address.clone();
        async move {
            let mut second = RpcClient::connect(&address).await.unwrap();
            second
                .call_json::<_, Vec<String>>("informer.List", &true)
                .await
        }
    });
    // The second call is not served while the first connection holds the
    // only slot (nothing happening is the behaviour under test).
    let early = tokio::time::timeout(Duration::from_millis(300), async {
        while !waiting.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        early.is_err(),
        "a second connection was served beyond the limit"
    );
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served after the first closed")
        .unwrap()
        .unwrap();
    assert!(answer.is_empty());
    shutdown.cancel();
}

#[tokio::test]
async fn informer_cannot_grow_a_pool_past_its_ceiling_nor_empty_it() {
    let pool = Pool::start(PoolOptions {
        name: "http".into(),
        command: WorkerCommand {
            argv: worker_argv("echo"),
            ..WorkerCommand::default()
        },
        num_workers: 2,
        allocate_timeout: Duration::from_secs(10),
        destroy_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    })
    .await
    .unwrap();
    let pools = Pools::new();
    pools.insert("http", pool.clone());
    let (address, shutdown, _tracker) = serve(
        Services::new().with(Arc::new(Informer::new(pools))),
        RpcLimits::default(),
    )
    .await;
    let mut client = RpcClient::connect(&address).await.unwrap();
    for _ in 0..2 {
        let added: bool = client
            .call_json("informer.AddWorker", &"http")
            .await
            .unwrap();
        assert!(added);
    }
    let err = client
        .call_json::<_, bool>("informer.AddWorker", &"http")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already at 4 workers"), "{err}");
    assert_eq!(pool.target_workers(), 4);
    for _ in 0..3 {
        let removed: bool = client
            .call_json("informer.RemoveWorker", &"http")
            .await
            .unwrap();
        assert!(removed);
    }
    let err = client
        .call_json::<_, bool>("informer.RemoveWorker", &"http")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot remove the last worker"),
        "{err}"
    );
    assert_eq!(pool.target_workers(), 1);
    shutdown.cancel();
    pool.shutdown().await;
}
