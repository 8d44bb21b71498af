//! The `tcp` plugin end to end with a real PHP worker (the SDK's
//! `TcpWorker`): a greeting written on CONNECTED, lines echoed with WRITE,
//! WRITECLOSE and CLOSE closing the socket, the CLOSE event, `tcp.Close(uuid)`
//! over RPC (the uuid as a string, and `tcp.v1.CloseRequest` in the protobuf
//! codec), a worker crashing mid-connection, the `read_buf_size` cap, a
//! custom delimiter, and config errors at their key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{blocking_rpc, wait_for_output, BIN};
use coyote_tcp::proto::{CloseRequest, Response};
use coyote_test_support::{php, repo_root, Server};
use goridge::flags;
use prost::Message;

/// Every socket read is bounded by this (a hung server fails the test).
const LIMIT: Duration = Duration::from_secs(20);

fn config(extra: &str) -> String {
    format!(
        r#"{preamble}tcp:
  servers:
    echo:
      addr: 127.0.0.1:0
    lines:
      addr: 127.0.0.1:0
      delimiter: "\n"
{extra}  pool:
    num_workers: 2
    allocate_timeout: 10s
    destroy_timeout: 5s
logs:
  level: debug
"#,
        preamble = common::preamble(&repo_root().join("crates/coyote/tests/workers/tcp-echo.php")),
    )
}

fn start(extra: &str) -> Server {
    let mut server = Server::start(BIN, &config(extra), &[]).unwrap();
    server.wait_ready();
    server
}

/// A client on the server `name`.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(server: &Server, name: &str) -> Self {
        let address = server.address("tcp", name).unwrap();
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(LIMIT)).unwrap();
        Self {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
        }
    }

    /// Reads the greeting, returns the connection's uuid.
    fn greeting(&mut self, server: &str) -> String {
        let line = self.line();
        let rest = line.strip_prefix("hello ").expect(&line);
        let (uuid, on) = rest.split_once(' ').unwrap();
        assert_eq!(on, format!("on {server} mode tcp\r\n"));
        assert_eq!(uuid.len(), 36, "{uuid}");
        uuid.to_owned()
    }

    fn send(&mut self, data: &[u8]) {
        self.writer.write_all(data).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    /// Waits for the server to close the connection (EOF, or a reset when
    /// unread data was discarded).
    fn closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest)),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
}

#[test]
fn greeting_echo_and_writeclose() {
    let server = start("");
    let mut client = Client::connect(&server, "echo");
    let uuid = client.greeting("echo");

    client.send(b"one\r\n");
    assert_eq!(client.line(), "one\r\n");
    // Split across writes, the delimiter too.
    client.send(b"tw");
    client.send(b"o\r");
    client.send(b"\nthree\r\n");
    assert_eq!(client.line(), "two\r\n");
    assert_eq!(client.line(), "three\r\n");
    // CONTINUE writes nothing: the next answer is the next echo.
    client.send(b"silent\r\nfour\r\n");
    assert_eq!(client.line(), "four\r\n");

    client.send(b"quit\r\n");
    assert_eq!(client.line(), "bye\r\n");
    client.closed();
    assert!(
        wait_for_output(&server, &format!("closed {uuid}"), LIMIT),
        "no CLOSE event: {}",
        server.output()
    );

    // Two connections get two uuids; CLOSE from the worker closes too.
    let mut a = Client::connect(&server, "echo");
    let mut b = Client::connect(&server, "echo");
    let (ua, ub) = (a.greeting("echo"), b.greeting("echo"));
    assert_ne!(ua, ub);
    a.send(b"close\r\n");
    a.closed();
    b.send(b"still here\r\n");
    assert_eq!(b.line(), "still here\r\n");
}

#[test]
fn custom_delimiter_and_client_hangup() {
    let server = start("");
    let mut client = Client::connect(&server, "lines");
    let uuid = client.greeting("lines");
    client.send(b"x\ny\r\n");
    assert_eq!(client.line(), "x\n");
    assert_eq!(client.line(), "y\r\n");
    // Bytes after the last delimiter still reach the worker on hang-up.
    client.send(b"tail");
    client.writer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = String::new();
    client.reader.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "tail");
    assert_closed_logged(&server, &uuid);
}

#[test]
fn rpc_close_closes_that_connection_only() {
    let server = start("");
    let (mut victim, mut other, uuid) = two_greeted(&server);

    let (runtime, mut rpc) = blocking_rpc(&server);
    let body = serde_json::to_vec(&uuid).unwrap();
    let answer = runtime
        .block_on(rpc.call_raw("tcp.Close", flags::CODEC_JSON, body.into()))
        .unwrap();
    assert_eq!(&answer[..], b"true");
    victim.closed();
    assert_closed_logged(&server, &uuid);
    // An unknown uuid is not an error (RoadRunner's answer), raw codec too.
    let answer = runtime
        .block_on(rpc.call_raw("tcp.Close", flags::CODEC_RAW, "nope".into()))
        .unwrap();
    assert_eq!(&answer[..], b"true");

    other.send(b"ping\r\n");
    assert_eq!(other.line(), "ping\r\n");
}

/// RoadRunner's tcp plugin since v2023: `tcp.v1.CloseRequest{uuid}` in the
/// protobuf codec, answered `tcp.v1.Response{ok: true}` in the protobuf
/// codec; a malformed message is an RPC error and nothing is closed.
#[test]
fn rpc_close_in_the_protobuf_codec() {
    let server = start("");
    let (mut victim, mut other, uuid) = two_greeted(&server);

    let (runtime, mut rpc) = blocking_rpc(&server);
    let close = |rpc: &mut coyote_rpc::RpcClient, body: Vec<u8>| {
        runtime.block_on(rpc.call_raw("tcp.Close", flags::CODEC_PROTO, body.into()))
    };
    // Malformed: a length running past the end, then a bad wire type.
    for body in [vec![0x0a, 40, b'x'], vec![0x0f]] {
        let err = close(&mut rpc, body).unwrap_err().to_string();
        assert!(
            err.contains("cannot decode the argument of tcp.Close"),
            "{err}"
        );
    }
    other.send(b"still open\r\n");
    assert_eq!(other.line(), "still open\r\n");
    victim.send(b"me too\r\n");
    assert_eq!(victim.line(), "me too\r\n");

    let request = CloseRequest { uuid: uuid.clone() }.encode_to_vec();
    let answer = close(&mut rpc, request).unwrap();
    assert_eq!(Response::decode(answer).unwrap(), Response { ok: true });
    victim.closed();
    assert_closed_logged(&server, &uuid);
    // An unknown uuid is not an error here either.
    let unknown = CloseRequest {
        uuid: "nope".into(),
    }
    .encode_to_vec();
    let answer = close(&mut rpc, unknown).unwrap();
    assert!(Response::decode(answer).unwrap().ok);
    // The JSON form on the same RPC connection still works.
    let answer = runtime
        .block_on(rpc.call_raw("tcp.Close", flags::CODEC_JSON, "\"nope\"".into()))
        .unwrap();
    assert_eq!(&answer[..], b"true");

    other.send(b"ping\r\n");
    assert_eq!(other.line(), "ping\r\n");
}

#[test]
fn a_crashing_worker_closes_its_connection_and_the_server_keeps_serving() {
    let server = start("");
    let mut bystander = Client::connect(&server, "echo");
    bystander.greeting("echo");
    let mut client = Client::connect(&server, "echo");
    client.greeting("echo");
    client.send(b"crash\r\n");
    client.closed();
    assert!(
        wait_for_output(&server, "worker failed", LIMIT),
        "{}",
        server.output()
    );

    bystander.send(b"fine\r\n");
    assert_eq!(bystander.line(), "fine\r\n");
    for _ in 0..3 {
        let mut next = Client::connect(&server, "echo");
        next.greeting("echo");
        next.send(b"again\r\n");
        assert_eq!(next.line(), "again\r\n");
    }
}

#[test]
fn a_chunk_over_read_buf_size_is_cut_off_with_a_log_line() {
    let server = start("  read_buf_size: 1\n");
    let mut client = Client::connect(&server, "echo");
    client.greeting("echo");
    // Exactly 1 MiB with its delimiter passes.
    let mut line = vec![b'a'; 1024 * 1024 - 2];
    line.extend_from_slice(b"\r\n");
    client.send(&line);
    let mut echoed = vec![0; line.len()];
    client.reader.read_exact(&mut echoed).unwrap();
    assert!(echoed == line, "the 1 MiB line came back changed");
    // One byte more without a delimiter does not.
    let writer = client.writer.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut writer = writer;
        // The server closes while we write: an error here is expected.
        let _ = writer.write_all(&vec![b'b'; 1024 * 1024 + 1]);
    });
    client.closed();
    sender.join().unwrap();
    assert!(
        wait_for_output(&server, "no delimiter within read_buf_size", LIMIT),
        "{}",
        server.output()
    );
    let mut next = Client::connect(&server, "echo");
    next.greeting("echo");
}

#[test]
fn config_errors_name_the_key() {
    for (yaml, key) in [
        (
            "tcp:\n  servers:\n    a:\n      delimiter: x\n",
            "tcp.servers.a.addr",
        ),
        (
            "tcp:\n  servers:\n    a:\n      addr: nowhere\n",
            "tcp.servers.a.addr",
        ),
        ("tcp:\n  servers: {}\n", "tcp.servers"),
        (
            "tcp:\n  read_buf_size: -1\n  servers:\n    a:\n      addr: 127.0.0.1:0\n",
            "tcp.read_buf_size",
        ),
        (
            "tcp:\n  servers:\n    a:\n      addr: 127.0.0.1:0\n  pool:\n    num_workers: lots\n",
            "tcp.pool.num_workers",
        ),
    ] {
        let config = format!(
            "version: \"3\"\nserver:\n  command: \"{} /nonexistent.php\"\n{yaml}",
            php()
        );
        let mut server = Server::start(BIN, &config, &[]).unwrap();
        assert_eq!(server.wait_exit(LIMIT).unwrap().code(), Some(3), "{yaml}");
        let out = server.output();
        assert!(out.contains(key), "{key} in {out}");
        assert!(
            !server.events().iter().any(|e| e.starts_with("listen ")),
            "nothing bound: {:?}",
            server.events()
        );
    }
}

#[test]
fn the_graceful_stop_closes_idle_connections_with_their_close_event() {
    let mut server = start("");
    let mut idle = Client::connect(&server, "echo");
    let uuid = idle.greeting("echo");
    // A client that connects and sends nothing holds no worker: others
    // are served while it waits.
    let mut silent = TcpStream::connect(server.address("tcp", "echo").unwrap()).unwrap();
    let mut busy = Client::connect(&server, "echo");
    busy.greeting("echo");
    busy.send(b"served\r\n");
    assert_eq!(busy.line(), "served\r\n");

    let status = server.terminate(LIMIT).expect("stops within the limit");
    assert!(status.success(), "{status:?}: {}", server.output());
    idle.closed();
    silent.set_read_timeout(Some(LIMIT)).unwrap();
    let mut rest = Vec::new();
    // Its greeting (unless the stop came first), then EOF.
    silent.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty() || rest.starts_with(b"hello "), "{rest:?}");
    assert!(
        server.output().contains(&format!("closed {uuid}")),
        "{}",
        server.output()
    );
}

/// Two clients of the echo server, greeted; the first one's uuid.
fn two_greeted(server: &Server) -> (Client, Client, String) {
    let mut victim = Client::connect(server, "echo");
    let mut other = Client::connect(server, "echo");
    let uuid = victim.greeting("echo");
    other.greeting("echo");
    (victim, other, uuid)
}

/// The server logged the close of connection `uuid`.
fn assert_closed_logged(server: &Server, uuid: &str) {
    assert!(
        wait_for_output(server, &format!("closed {uuid}"), LIMIT),
        "{}",
        server.output()
    );
}
