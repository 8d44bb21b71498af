//! The plugin host end to end: problems found while planning stop the
//! server before anything runs or binds; configs without `http` run their
//! other plugins; one grace deadline bounds every stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use coyote_test_support::{php, repo_root, wait_until, Server, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_coyote");

fn hang_worker() -> String {
    format!(
        "{} {}",
        php(),
        repo_root()
            .join("crates/coyote/tests/workers/hang.php")
            .display()
    )
}

/// A config whose `on_init` and workers would leave marker files in
/// `dir`, with status and rpc on port 0; `http` is appended.
fn marked(dir: &Path, http: &str) -> String {
    format!(
        r#"version: "3"
rpc:
  listen: tcp://127.0.0.1:0
status:
  address: 127.0.0.1:0
server:
  on_init:
    command: "touch {dir}/on_init-ran"
  command: "touch {dir}/worker-ran"
http:
  address: 127.0.0.1:0
  pool:
    num_workers: 1
{http}"#,
        dir = dir.display()
    )
}

#[test]
fn problems_found_while_planning_stop_the_server_before_anything_runs_or_binds() {
    let files = TempDir::new("coyote-plan").unwrap();
    let garbage = files.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let cases = [
        (
            "  middleware: [headers]\n  headers:\n    cors:\n      allowed_origin_regex: \"(unclosed\"\n",
            ".rr.yaml:17:7: http.headers.cors.allowed_origin_regex",
        ),
        (
            "  middleware: [static]\n  static:\n    dir: no-such-dir\n",
            ".rr.yaml:16:5: http.static.dir",
        ),
        (
            &format!(
                "  ssl:\n    address: 127.0.0.1:0\n    cert: {g}\n    key: {g}\n",
                g = garbage.display()
            ),
            ".rr.yaml:14:3: http.ssl",
        ),
    ];
    for (http, expected) in cases {
        let marks = TempDir::new("coyote-plan-marks").unwrap();
        let mut server = Server::start(BIN, &marked(marks.path(), http), &[]).unwrap();
        let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
        let out = server.output();
        assert_eq!(status.code(), Some(3), "{http}\n{out}");
        assert!(out.contains(expected), "{expected} in\n{out}");
        assert!(
            !marks.path().join("on_init-ran").exists(),
            "on_init ran: {out}"
        );
        assert!(
            !marks.path().join("worker-ran").exists(),
            "a worker ran: {out}"
        );
        assert!(
            server.events().iter().all(|e| !e.starts_with("listen ")),
            "something was bound: {:?}",
            server.events()
        );
    }
}

#[test]
fn every_problem_of_every_plugin_is_reported_at_once() {
    let marks = TempDir::new("coyote-plan-all").unwrap();
    let config = marked(
        marks.path(),
        "  middleware: [static, headers]\n  static:\n    dir: no-such-dir\n  headers:\n    cors:\n      allowed_origin_regex: \"[\"\n",
    )
    .replace("address: 127.0.0.1:0\nserver", "address: unix:///tmp/status.sock\nserver");
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(3), "{out}");
    for key in [
        "status.address",
        "http.static.dir",
        "http.headers.cors.allowed_origin_regex",
    ] {
        assert!(out.contains(key), "{key} in\n{out}");
    }
}

#[test]
fn a_config_without_http_runs_its_other_plugins() {
    let config =
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nstatus:\n  address: 127.0.0.1:0\n";
    let mut server = Server::start(BIN, config, &[]).unwrap();
    server.wait_ready();
    let (code, _) = http_get(server.port("status", "status"), "/health");
    assert_eq!(code, 200);
    let status = server.terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{}", server.output());
    let events = server.events();
    let phases: Vec<&str> = events
        .iter()
        .filter(|e| e.starts_with("phase "))
        .map(String::as_str)
        .collect();
    assert_eq!(
        phases,
        [
            "phase starting",
            "phase running",
            "phase stopping",
            "phase stopped"
        ]
    );
}

#[test]
fn a_config_that_names_no_plugin_is_refused() {
    let mut server = Server::start(BIN, "version: \"3\"\n", &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(3), "{}", server.output());
    assert!(
        server.output().contains("nothing to serve"),
        "{}",
        server.output()
    );
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

/// A server on the hang worker with a 1 s grace period.
fn hanging() -> Server {
    let config = format!(
        "version: \"3\"\nendure:\n  grace_period: 1s\nserver:\n  command: \"{}\"\nhttp:\n  address: 127.0.0.1:0\n  pool:\n    num_workers: 1\n    destroy_timeout: 30s\n",
        hang_worker()
    );
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    server.wait_ready();
    server
}

/// SIGTERM, then the time until the process exited.
fn time_to_exit(server: &mut Server) -> Duration {
    let began = Instant::now();
    let status = server.terminate(Duration::from_secs(60)).expect("exits");
    let took = began.elapsed();
    assert!(status.success(), "{status}: {}", server.output());
    took
}

fn wait_output(server: &Server, needle: &str) {
    let seen = wait_until(Duration::from_secs(20), || {
        server.output().contains(needle).then_some(())
    });
    assert!(
        seen.is_some(),
        "{needle} never appeared:\n{}",
        server.output()
    );
}

#[test]
fn the_grace_period_bounds_a_stop_held_by_a_client_trickling_its_body() {
    let mut server = hanging();
    let mut client = TcpStream::connect(("127.0.0.1", server.port("http", "http"))).unwrap();
    client
        .write_all(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nfirst bytes")
        .unwrap();
    // The server runs one event loop here (one worker: no shards), so a
    // request on a second connection answered after the first connection
    // wrote its head means that head was accepted and read.
    assert_eq!(http_get(server.port("http", "http"), "/").0, 200);
    let took = time_to_exit(&mut server);
    assert!(took < Duration::from_secs(6), "stopped after {took:?}");
    assert!(server.output().contains("abandoned"), "{}", server.output());
    drop(client);
}

#[test]
fn the_grace_period_bounds_a_stop_held_by_an_endless_stream() {
    let mut server = hanging();
    let port = server.port("http", "http");
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    wait_output(&server, "hang: endless");
    let took = time_to_exit(&mut server);
    assert!(took < Duration::from_secs(6), "stopped after {took:?}");
    let out = server.output();
    assert!(out.contains("endure.grace_period is over"), "{out}");
    assert!(
        out.contains("abandoned") && out.contains("plugin=\"http\""),
        "{out}"
    );
    drop(client);
}

#[test]
fn a_stop_is_not_held_by_a_child_a_worker_forked() {
    let mut server = hanging();
    let (code, reply) = http_get(server.port("http", "http"), "/fork");
    assert_eq!(code, 200, "{reply}");
    let child: i32 = reply
        .rsplit("\r\n\r\n")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(child > 0);
    let took = time_to_exit(&mut server);
    assert!(took < Duration::from_secs(6), "stopped after {took:?}");
    let gone = wait_until(Duration::from_secs(5), || {
        (!Path::new(&format!("/proc/{child}")).exists()).then_some(())
    });
    assert!(
        gone.is_some(),
        "the forked child {child} outlived the server"
    );
}

#[test]
fn the_small_endpoints_close_a_silent_connection_at_the_header_deadline() {
    let config = "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nstatus:\n  address: 127.0.0.1:0\nmetrics:\n  address: 127.0.0.1:0\n";
    let mut server = Server::start(BIN, config, &[]).unwrap();
    server.wait_ready();
    for plugin in ["status", "metrics"] {
        let mut silent = TcpStream::connect(("127.0.0.1", server.port(plugin, plugin))).unwrap();
        silent
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let began = Instant::now();
        let mut buf = [0u8; 512];
        // The connection is closed by the server (EOF or a 408), never
        // held until our read timeout; the wait is the behaviour under test.
        let n = silent.read(&mut buf).unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            n == 0 || text.starts_with("HTTP/1.1 408"),
            "{plugin}: {text}"
        );
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "{plugin}: {:?}",
            began.elapsed()
        );
    }
}

#[test]
fn a_worker_that_cannot_boot_stops_the_server_with_its_output() {
    let config = format!(
        "version: \"3\"\nstatus:\n  address: 127.0.0.1:0\nserver:\n  command: \"{} missing-worker.php\"\nhttp:\n  address: 127.0.0.1:0\n  pool:\n    num_workers: 2\n",
        php()
    );
    let began = Instant::now();
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("exits by itself");
    let out = server.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("missing-worker.php"), "the command in\n{out}");
    assert!(
        out.contains("Could not open input file"),
        "the worker's output in\n{out}"
    );
    assert!(
        !server.events().iter().any(|e| e == "phase running"),
        "{:?}",
        server.events()
    );
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "{:?}",
        began.elapsed()
    );
}

#[test]
fn an_empty_config_with_overrides_starts_as_laravel_octane_does_it() {
    let command = format!(
        "server.command={},{}",
        php(),
        repo_root()
            .join("crates/coyote/tests/workers/hang.php")
            .display()
    );
    let args = [
        "-o",
        "version=3",
        "-o",
        &command,
        "-o",
        "http.address=127.0.0.1:0",
        "-o",
        "http.pool.num_workers=1",
    ];
    let mut server = Server::start(BIN, "", &args).unwrap();
    server.wait_ready();
    assert_eq!(http_get(server.port("http", "http"), "/").0, 200);
    let status = server.terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "{}", server.output());
}

#[test]
fn an_old_config_version_warns_and_runs_as_version_3() {
    let config = format!(
        "version: \"2.7\"\nserver:\n  command: \"{}\"\nhttp:\n  address: 127.0.0.1:0\n  pool:\n    num_workers: 1\n",
        hang_worker()
    );
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    server.wait_ready();
    let out = server.output();
    assert!(
        out.contains(".rr.yaml:1:1: version") && out.contains("version 3"),
        "{out}"
    );
    assert_eq!(http_get(server.port("http", "http"), "/").0, 200);
}
