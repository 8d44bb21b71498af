//! End-to-end: `coyote serve` under systemd `Type=notify` (issue 17,
//! item 3): `READY=1` on `$NOTIFY_SOCKET` once every plugin serves,
//! `STOPPING=1` when SIGTERM starts the stop. The test plays systemd: it
//! binds the datagram socket (a path, and an abstract `@name`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::{config, get, http_port, wait_for_output, BIN};
use coyote_test_support::{Server, TempDir};

fn recv(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("a notification within 30 s");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn ready_then_stopping(socket: &UnixDatagram, notify_socket: &str) {
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut server = Server::start_with_env(
        BIN,
        &config(1, ""),
        &[],
        &[("NOTIFY_SOCKET", notify_socket)],
    )
    .unwrap();
    assert_eq!(recv(socket), "READY=1", "{}", server.output());
    // Ready means serving: the listener answers and a worker replies.
    assert!(server.events().iter().any(|e| e == "phase running"));
    assert_eq!(get(http_port(&server), "/status/204", "").status, 204);

    let status = server.terminate(Duration::from_secs(20)).expect("stopped");
    assert!(status.success(), "{status:?}\n{}", server.output());
    assert_eq!(recv(socket), "STOPPING=1", "{}", server.output());
    // Nothing else was sent.
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    assert!(socket.recv(&mut buf).is_err(), "one READY, one STOPPING");
}

#[test]
fn notifies_a_path_socket() {
    let dir = TempDir::new("coyote-notify").unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    ready_then_stopping(&socket, path.to_str().unwrap());
}

#[test]
fn notifies_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("coyote-notify-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    ready_then_stopping(&socket, &format!("@{name}"));
}

#[test]
fn serves_without_a_notify_socket_listening() {
    // systemd gone (or a stale variable): a warning, the server still runs.
    let dir = TempDir::new("coyote-notify-none").unwrap();
    let path = dir.path().join("nobody.sock");
    let mut server = Server::start_with_env(
        BIN,
        &config(1, ""),
        &[],
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    )
    .unwrap();
    server.wait_ready();
    assert_eq!(get(http_port(&server), "/status/204", "").status, 204);
    assert!(
        wait_for_output(&server, "sd_notify failed", Duration::from_secs(20)),
        "{}",
        server.output()
    );
}
