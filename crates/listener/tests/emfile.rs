//! Out of descriptors (`EMFILE`): the accept loop backs off instead of
//! spinning, and takes the waiting connection once descriptors are free.
//!
//! A test binary of its own, with this one test: it lowers the process's
//! descriptor limit and uses up every descriptor, which would break any
//! test running beside it. Time passing is the behaviour under test: the
//! number of attempts in a fixed window is what tells a backoff from a
//! spin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coyote_listener::{Address, Listener, Peer};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use tokio::time::{sleep, timeout, Instant};
use tokio_util::sync::CancellationToken;

/// Descriptors this process may have while the test runs.
const NOFILE: u64 = 128;
/// How long the loop is watched while no descriptor is free.
const WINDOW: Duration = Duration::from_millis(600);

#[tokio::test(flavor = "current_thread")]
async fn emfile_backs_off_without_spinning_and_recovers() {
    let listener = Listener::bind(&Address::Tcp("127.0.0.1:0".into()))
        .await
        .unwrap();
    let address = listener.local_addr().tcp().unwrap();
    // The client's connection completes in the kernel and waits in the
    // listen backlog; taking it needs one more descriptor.
    let client = std::net::TcpStream::connect(address).unwrap();

    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, NOFILE.min(hard), hard).unwrap();
    let mut hoard = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => hoard.push(file),
            Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EMFILE as i32) => break,
            Err(e) => panic!("unexpected error while using up descriptors: {e}"),
        }
        assert!(hoard.len() as u64 <= NOFILE, "the limit did not apply");
    }

    let stop = CancellationToken::new();
    let accepting = listener.accept(&stop);
    tokio::pin!(accepting);
    let began = Instant::now();
    tokio::select! {
        accepted = &mut accepting => panic!("accepted without a free descriptor: {accepted:?}"),
        () = sleep(WINDOW) => {}
    }
    let attempts = listener.accept_errors();
    let watched = began.elapsed();
    // Pauses of 5, 10, 20, 40, 80, 160, 320 ms: 7 attempts in 600 ms (fewer
    // on a slow machine). A loop that retried at once would count
    // thousands, and one that slept a fixed 50 ms a dozen.
    assert!(
        (2..=8).contains(&attempts),
        "{attempts} accept attempts in {watched:?}"
    );

    drop(hoard);
    let (_stream, peer) = timeout(Duration::from_secs(5), accepting)
        .await
        .expect("the waiting connection is taken once descriptors are free")
        .expect("no stop was asked for");
    assert_eq!(peer, Peer::Tcp(client.local_addr().unwrap()));
    assert!(
        listener.accept_errors() <= attempts + 1,
        "at most one more failure before the retry that worked"
    );
}
