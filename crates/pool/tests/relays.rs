//! tcp / unix relays with real PHP workers: a client that connects to the
//! relay address and never answers the handshake holds up nobody, is cut
//! off after `relay_timeout`, and is closed when the pool stops.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use coyote_pool::{Payload, Pool, PoolOptions, RelayAddress, WorkerCommand};
use coyote_test_support::worker_argv;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::{timeout, Instant};

/// Long enough that waiting for it would fail every deadline below.
const LONG: Duration = Duration::from_secs(60);
/// What "promptly" means on a loaded two-core machine.
const PROMPT: Duration = Duration::from_secs(10);

fn opts(relay: RelayAddress, relay_timeout: Duration) -> PoolOptions {
    PoolOptions {
        name: "relays".into(),
        command: WorkerCommand {
            argv: worker_argv("env"),
            mode: "test".into(),
            version: "test".into(),
            ..WorkerCommand::default()
        },
        relay,
        num_workers: 2,
        allocate_timeout: LONG,
        relay_timeout: Some(relay_timeout),
        stream_timeout: LONG,
        reset_timeout: LONG,
        destroy_timeout: Duration::from_secs(5),
        ..PoolOptions::default()
    }
}

async fn start(opts: PoolOptions) -> Pool {
    timeout(PROMPT, Pool::start(opts))
        .await
        .expect("pool start timed out")
        .expect("pool start")
}

/// The `RR_RELAY` the pool's workers were given (port 0 resolved).
async fn relay_of(pool: &Pool) -> String {
    let answer = timeout(PROMPT, pool.exec(Payload::raw("{}", "env")))
        .await
        .expect("exec timed out")
        .expect("exec");
    let env: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    env["RR_RELAY"].as_str().unwrap().to_owned()
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to the relay as a worker would, and waits for the pool's
/// greeting (its half of the handshake): from then on the pool waits for
/// an answer this client never sends.
async fn connect_silently(relay: &str) -> Box<dyn Io> {
    let mut client: Box<dyn Io> = if let Some(address) = relay.strip_prefix("tcp://") {
        Box::new(TcpStream::connect(address).await.unwrap())
    } else if let Some(path) = relay.strip_prefix("unix://") {
        Box::new(UnixStream::connect(path).await.unwrap())
    } else {
        panic!("not a socket relay: {relay}")
    };
    let mut greeting = [0u8; 1];
    timeout(PROMPT, client.read_exact(&mut greeting))
        .await
        .expect("the pool greets a new relay connection")
        .unwrap();
    client
}

/// Reads until the pool closes the connection; true if it did in `limit`.
async fn closed_within(client: &mut Box<dyn Io>, limit: Duration) -> bool {
    let mut rest = Vec::new();
    // A reset counts as closed as well as a FIN.
    timeout(limit, client.read_to_end(&mut rest)).await.is_ok()
}

fn pids(pool: &Pool) -> HashSet<u32> {
    pool.workers().iter().map(|w| w.pid).collect()
}

async fn a_silent_connection_stalls_no_spawn(relay: RelayAddress) {
    let pool = start(opts(relay, LONG)).await;
    let old = pids(&pool);
    let mut silent = connect_silently(&relay_of(&pool).await).await;

    // Every worker is replaced: two spawns whose connections arrive after
    // the silent one, while its handshake is still waiting.
    let began = Instant::now();
    timeout(PROMPT, pool.reset())
        .await
        .expect("worker spawns waited behind a silent relay connection")
        .unwrap();
    let new = pids(&pool);
    assert!(
        new.is_disjoint(&old) && !new.is_empty(),
        "{old:?} -> {new:?}"
    );
    assert!(began.elapsed() < PROMPT);
    relay_of(&pool).await;

    // Stopping the pool ends the handshake still waiting.
    timeout(PROMPT, pool.shutdown())
        .await
        .expect("shutdown timed out");
    assert!(
        closed_within(&mut silent, PROMPT).await,
        "the pool's shutdown closes a half-done handshake"
    );
}

#[tokio::test]
async fn a_silent_tcp_relay_connection_stalls_no_spawn() {
    a_silent_connection_stalls_no_spawn(RelayAddress::Tcp("127.0.0.1:0".into())).await;
}

#[tokio::test]
async fn a_silent_unix_relay_connection_stalls_no_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sock");
    a_silent_connection_stalls_no_spawn(RelayAddress::Unix(path.clone())).await;
    assert!(!path.exists(), "the stopped pool removed its socket file");
}

#[tokio::test]
async fn a_silent_relay_connection_is_cut_off_after_relay_timeout() {
    let relay_timeout = Duration::from_millis(500);
    let pool = start(opts(RelayAddress::Tcp("127.0.0.1:0".into()), relay_timeout)).await;
    let mut silent = connect_silently(&relay_of(&pool).await).await;
    let began = Instant::now();
    assert!(
        closed_within(&mut silent, PROMPT).await,
        "a silent connection is closed after relay_timeout, not after stream_timeout"
    );
    assert!(began.elapsed() < LONG / 2);
    relay_of(&pool).await;
    pool.shutdown().await;
}
