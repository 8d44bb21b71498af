//! Socket relays (tcp, unix): round trips, and the unix socket file.
//! (Handshake concurrency and refusing a regular file are the relay
//! listener's, tested with it.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{body, echo_roundtrips, opts, start};
use coyote_pool::RelayAddress;

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
async fn the_unix_socket_file_goes_with_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sock");
    // A stale socket from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut o = opts("echo", 1);
    o.relay = RelayAddress::Unix(path.clone());
    let pool = start(o).await;
    assert_eq!(body(&pool, "hi").await.unwrap(), "hi");
    assert!(path.exists());
    pool.shutdown().await;
    assert!(!path.exists(), "socket file removed after shutdown");
}
