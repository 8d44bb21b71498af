//! Binding and accepting over real sockets: port 0, IPv6, unix socket
//! files (stale ones replaced, anything else refused, our own removed),
//! and the stop token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use coyote_listener::{Address, ListenError, Listener, LocalAddr, Peer, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(5);

async fn accept(listener: &Listener) -> (Stream, Peer) {
    let stop = CancellationToken::new();
    timeout(LIMIT, listener.accept(&stop))
        .await
        .expect("accept timed out")
        .expect("accept returned None without a stop")
}

/// Writes a line from `client`, reads it back through `stream` and the
/// other way round.
async fn exchange<C>(mut client: C, stream: Stream)
where
    C: AsyncReadExt + AsyncWriteExt + Unpin,
{
    let (mut read, mut write) = stream.into_split();
    client.write_all(b"ping").await.unwrap();
    let mut got = [0u8; 4];
    read.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ping");
    write.write_all(b"pong").await.unwrap();
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"pong");
}

#[tokio::test]
async fn tcp_port_zero_reports_the_port_it_got() {
    for host in ["127.0.0.1:0", "[::1]:0"] {
        let listener = Listener::bind(&Address::Tcp(host.into())).await.unwrap();
        let local = listener.local_addr().tcp().expect("a TCP address");
        assert_ne!(local.port(), 0, "{host}");
        assert_eq!(listener.local_addr().port(), Some(local.port()));
        assert_eq!(local.is_ipv6(), host.starts_with('['), "{host}");
        assert_eq!(listener.local_addr().to_string(), format!("tcp://{local}"));

        let client = TcpStream::connect(local).await.unwrap();
        let (stream, peer) = accept(&listener).await;
        assert_eq!(peer, Peer::Tcp(client.local_addr().unwrap()));
        let Stream::Tcp(tcp) = &stream else {
            panic!("a TCP listener accepted {stream:?}")
        };
        assert!(tcp.nodelay().unwrap(), "TCP_NODELAY is set");
        exchange(client, stream).await;
        assert_eq!(listener.accept_errors(), 0);
    }
}

#[tokio::test]
async fn a_tcp_address_in_use_is_a_bind_error_naming_it() {
    let first = Listener::bind(&Address::Tcp("127.0.0.1:0".into()))
        .await
        .unwrap();
    let taken = first.local_addr().tcp().unwrap().to_string();
    let err = Listener::bind(&Address::Tcp(taken.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ListenError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse),
        "{err:?}"
    );
    assert!(err.to_string().contains(&taken), "{err}");
}

#[tokio::test]
async fn a_stale_unix_socket_is_replaced_and_ours_removed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    // A socket left behind by a run that died without cleaning up.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let listener = Listener::bind(&Address::Unix(path.clone())).await.unwrap();
    assert_eq!(listener.local_addr(), &LocalAddr::Unix(path.clone()));
    let client = UnixStream::connect(&path).await.unwrap();
    let (stream, peer) = accept(&listener).await;
    assert_eq!(peer, Peer::Unix);
    assert!(matches!(stream, Stream::Unix(_)));
    exchange(client, stream).await;

    drop(listener);
    assert!(!path.exists(), "the listener removes its socket file");
}

#[tokio::test]
async fn a_regular_file_at_the_socket_path_is_refused_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("precious.txt");
    std::fs::write(&path, "keep me").unwrap();
    let err = Listener::bind(&Address::Unix(path.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ListenError::NotASocket { path: p } if *p == path),
        "{err:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");

    // A directory, and a symlink to a socket, are not sockets either.
    let sub = dir.path().join("dir");
    std::fs::create_dir(&sub).unwrap();
    let err = Listener::bind(&Address::Unix(sub.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, ListenError::NotASocket { .. }), "{err:?}");
    assert!(sub.is_dir());
    let target = dir.path().join("real.sock");
    let _live = std::os::unix::net::UnixListener::bind(&target).unwrap();
    let link = dir.path().join("link.sock");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let err = Listener::bind(&Address::Unix(link.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, ListenError::NotASocket { .. }), "{err:?}");
    assert!(target.exists() && link.exists());
}

#[tokio::test]
async fn a_socket_file_replaced_by_someone_else_is_not_removed_on_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sock");
    let first = Listener::bind(&Address::Unix(path.clone())).await.unwrap();
    // A second run takes the path over while the first is still stopping.
    let second = Listener::bind(&Address::Unix(path.clone())).await.unwrap();
    drop(first);
    assert!(path.exists(), "the newer listener's socket stays");
    UnixStream::connect(&path).await.unwrap();
    let _ = accept(&second).await;
    drop(second);
    assert!(!path.exists());
}

#[tokio::test]
async fn a_listener_taken_over_leaves_its_socket_file_to_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.sock");
    let bound = tokio::net::UnixListener::bind(&path).unwrap();
    let listener = Listener::from_unix(bound).unwrap();
    assert_eq!(listener.local_addr(), &LocalAddr::Unix(path.clone()));
    drop(listener);
    assert!(path.exists());
}

#[tokio::test]
async fn accept_returns_none_once_stop_fires() {
    let listener = Listener::bind(&Address::Tcp("127.0.0.1:0".into()))
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let waiting = listener.accept(&stop);
    tokio::pin!(waiting);
    tokio::select! {
        _ = &mut waiting => panic!("accepted with no client"),
        () = tokio::task::yield_now() => {}
    }
    stop.cancel();
    assert!(timeout(LIMIT, waiting).await.unwrap().is_none());

    // A fired token wins over a connection already waiting.
    let _client = TcpStream::connect(listener.local_addr().tcp().unwrap())
        .await
        .unwrap();
    assert!(listener.accept(&stop).await.is_none());
    let fresh = CancellationToken::new();
    assert!(timeout(LIMIT, listener.accept(&fresh))
        .await
        .unwrap()
        .is_some());
}

#[test]
fn accepting_can_run_on_any_worker_thread() {
    fn send<T: Send>(_: &T) {}
    let stop = CancellationToken::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(Listener::bind(&Address::Tcp("127.0.0.1:0".into())))
        .unwrap();
    send(&listener.accept(&stop));
    send(&listener);
    fn sync<T: Sync>(_: &T) {}
    sync(&listener);
}
