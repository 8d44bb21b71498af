//! The `handoff` plugin end to end with a minimal PHP worker
//! (`php/workers/handoff-http.php`) speaking the control protocol by
//! hand: `reuseport` and `fd_passing` with each balancer, the real
//! connection counts (least connections, a worker that never reports, a
//! worker that dies holding 100 connections), overflow with 503, rolling
//! reset under load, graceful stop, config errors at their key. The SIGKILL
//! storm under load is in `handoff_storm.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;

use common::handoff::{config, wait_counts, workers, LIMIT};
use common::{cli, BIN};
use coyote_test_support::{wait_until, Server};

fn start(listener: &str, workers: usize) -> Server {
    let mut server = Server::start(BIN, &config(listener, workers), &[]).unwrap();
    server.wait_ready();
    server
}

fn connect(server: &Server) -> TcpStream {
    let address = server.address("handoff", "web").unwrap();
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(LIMIT)).unwrap();
    stream
}

/// GET `path` on a new connection; the status line and body.
fn get(server: &Server, path: &str) -> (String, String) {
    try_get(server, path).unwrap()
}

fn try_get(server: &Server, path: &str) -> std::io::Result<(String, String)> {
    let mut stream = connect(server);
    request(&mut stream, path);
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(split(&answer))
}

fn request(stream: &mut TcpStream, path: &str) {
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
}

fn split(answer: &str) -> (String, String) {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

#[test]
fn reuseport_serves_from_several_workers() {
    let server = start("    mode: reuseport", 2);
    let mut pids = BTreeSet::new();
    for _ in 0..200 {
        let (status, body) = get(&server, "/");
        assert_eq!(status, "HTTP/1.1 200 OK");
        pids.insert(body);
        if pids.len() == 2 {
            break;
        }
    }
    assert_eq!(pids.len(), 2, "{pids:?}");
    // The workers' own reports feed the informer.
    let accepted = wait_until(LIMIT, || {
        let total: u64 = workers(&server).iter().map(|w| w.num_execs).sum();
        (total >= 2).then_some(total)
    });
    assert!(accepted.is_some(), "{:?}", workers(&server));
    assert!(
        server.output().contains("handoff worker"),
        "stderr not forwarded:\n{}",
        server.output()
    );
    let out = cli(&server, &["workers", "handoff"]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("CONNS"), "{table}");
}

#[test]
fn fd_passing_serves_with_each_balancer() {
    for balancer in ["least_connections", "round_robin", "ip_hash"] {
        let server = start(
            &format!("    mode: fd_passing\n    balancer: {balancer}"),
            2,
        );
        let mut pids = BTreeSet::new();
        for _ in 0..6 {
            let (status, body) = get(&server, "/");
            assert_eq!(status, "HTTP/1.1 200 OK", "{balancer}");
            pids.insert(body);
        }
        // Sequential connections: rotation reaches both workers; every
        // client here is 127.0.0.1, so ip_hash keeps one.
        let expected = if balancer == "ip_hash" { 1 } else { 2 };
        assert_eq!(pids.len(), expected, "{balancer}: {pids:?}");
    }
}

#[test]
fn least_connections_balances_held_connections() {
    let server = start("    mode: fd_passing", 3);
    let mut held = Vec::new();
    for _ in 0..7 {
        let mut s = connect(&server);
        request(&mut s, "/hold");
        held.push(s);
    }
    let counts = wait_counts(&server, "7 held", |c| c.iter().sum::<u64>() == 7);
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(max - min <= 1, "{counts:?}");
    // Clients hang up: the worker reports the closes.
    drop(held);
    wait_counts(&server, "all closed", |c| c.iter().all(|n| *n == 0));
}

#[test]
fn an_unreported_close_is_counted_out_when_the_client_hangs_up() {
    let server = start("    mode: fd_passing", 1);
    let mut s = connect(&server);
    request(&mut s, "/noreport");
    // The worker answered and closed its copy without a report: Coyote's
    // copy keeps the connection (the client has not seen the end).
    let mut buf = [0u8; 256];
    let mut answer = Vec::new();
    while !String::from_utf8_lossy(&answer).contains("pid=") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "early EOF");
        answer.extend_from_slice(&buf[..n]);
    }
    wait_counts(&server, "held by Coyote", |c| c == [1]);
    drop(s);
    wait_counts(&server, "counted out", |c| c == [0]);
}

#[test]
fn a_worker_dying_with_100_connections_ends_them_all() {
    let server = start("    mode: fd_passing", 1);
    let mut held: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = connect(&server);
            request(&mut s, "/hold");
            s
        })
        .collect();
    wait_counts(&server, "100 held", |c| c == [100]);
    let first = workers(&server)[0].pid;
    let mut killer = connect(&server);
    request(&mut killer, "/exit");
    for s in &mut held {
        let mut buf = [0u8; 16];
        assert_eq!(s.read(&mut buf).unwrap(), 0, "not EOF");
    }
    // The replacement serves new connections.
    let (status, body) = get(&server, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_ne!(body, format!("pid={first}"));
    wait_counts(&server, "only the new worker", |c| c == [0]);
}

#[test]
fn beyond_the_queue_the_overflow_answers_503() {
    let yaml = config(
        "    mode: fd_passing\n    max_connections: 1\n    max_queue_size: 1\n    overflow: http_503",
        1,
    ) + "metrics:\n  address: 127.0.0.1:0\n";
    let mut server = Server::start(BIN, &yaml, &[]).unwrap();
    server.wait_ready();
    let mut holder = connect(&server);
    request(&mut holder, "/hold");
    wait_counts(&server, "held", |c| c == [1]);
    // The worker is at its cap: the next waits in the queue, the third
    // overflows.
    let mut queued = connect(&server);
    request(&mut queued, "/");
    let mut third = connect(&server);
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert_eq!(
        answer,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let metrics = server.port("metrics", "metrics");
    let text = common::get(metrics, "/metrics", "").text();
    let value = |series: &str| common::series_value(&text, series);
    assert_eq!(value("coyote_handoff_refused_total{listener=\"web\"}"), 1.0);
    assert_eq!(value("coyote_handoff_queue_size{listener=\"web\"}"), 1.0);
    assert_eq!(
        value("coyote_handoff_connections_open{listener=\"web\"}"),
        1.0
    );
    assert_eq!(
        value("coyote_handoff_accepted_total{listener=\"web\"}"),
        1.0
    );
    // The holder leaves: the queued one gets the worker.
    drop(holder);
    let mut answer = String::new();
    queued.read_to_string(&mut answer).unwrap();
    assert_eq!(split(&answer).0, "HTTP/1.1 200 OK", "{answer}");
}

/// Requests on new connections in a loop while `coyote reset handoff`
/// replaces every worker; no request may fail.
fn reset_under_load(listener: &str) {
    let server = start(listener, 2);
    let before: BTreeSet<i64> = workers(&server).iter().map(|w| w.pid).collect();
    let address = server.address("handoff", "web").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = TcpStream::connect(&address).and_then(|mut s| {
                    s.set_read_timeout(Some(LIMIT))?;
                    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                    let mut answer = String::new();
                    s.read_to_string(&mut answer)?;
                    Ok(answer)
                });
                match answer {
                    Ok(a) if a.starts_with("HTTP/1.1 200 OK") => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        })
    };
    let out = cli(&server, &["reset", "handoff"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Some more requests after the reset, then stop the load.
    let after = wait_until(LIMIT, || {
        let now: BTreeSet<i64> = workers(&server)
            .iter()
            .filter(|w| w.status_str == "ready")
            .map(|w| w.pid)
            .collect();
        (now.len() == 2 && now.is_disjoint(&before)).then_some(now)
    });
    assert!(after.is_some(), "{:?}", workers(&server));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = load.join().unwrap();
    assert!(failed.is_empty(), "{} ok, failed: {failed:?}", ok);
    assert!(ok > 0);
}

#[test]
fn rolling_reset_refuses_nothing_reuseport() {
    reset_under_load("    mode: reuseport");
}

#[test]
fn rolling_reset_refuses_nothing_fd_passing() {
    reset_under_load("    mode: fd_passing");
}

#[test]
fn graceful_stop_closes_held_connections_and_exits_0() {
    let mut server = start("    mode: fd_passing", 1);
    let mut held = connect(&server);
    request(&mut held, "/hold");
    wait_counts(&server, "held", |c| c == [1]);
    let status = server.terminate(LIMIT).expect("no exit");
    assert!(status.success(), "{status:?}\n{}", server.output());
    let mut buf = [0u8; 16];
    assert_eq!(held.read(&mut buf).unwrap(), 0);
    let output = server.output();
    assert!(!output.contains("SIGTERM"), "{output}");
    assert!(!output.contains("exited unexpectedly"), "{output}");
}

#[test]
fn hostile_control_messages_get_the_worker_replaced() {
    let server = start("    mode: fd_passing", 1);
    for (path, logged) in [
        ("/garbage", "broke the control protocol"),
        ("/huge", "oversized message"),
    ] {
        let first = workers(&server)[0].pid;
        // The answer may or may not arrive before the kill.
        let _ = try_get(&server, path);
        assert!(
            wait_until(LIMIT, || server.output().contains(logged).then_some(())).is_some(),
            "{path}:\n{}",
            server.output()
        );
        let replaced = wait_until(LIMIT, || {
            let (status, body) = try_get(&server, "/").ok()?;
            (status == "HTTP/1.1 200 OK" && body != format!("pid={first}")).then_some(())
        });
        assert!(replaced.is_some(), "{path}:\n{}", server.output());
    }
}

/// Starts a one-worker `reuseport` server with `supervisor` limits and
/// waits until its worker was replaced for `reason`; with `load`, every
/// request on the way is served.
fn retired_for(limits: &str, reason: &str, load: bool) {
    let yaml = config("    mode: reuseport", 1).replace(
        "      destroy_timeout: 5s\n",
        &format!("      destroy_timeout: 5s\n      supervisor:\n        watch_tick: 1s\n{limits}"),
    );
    let mut server = Server::start(BIN, &yaml, &[]).unwrap();
    server.wait_ready();
    let first = workers(&server)[0].pid;
    let retired = wait_until(LIMIT, || {
        if load {
            let (status, body) = get(&server, "/");
            assert_eq!(status, "HTTP/1.1 200 OK");
            return (body != format!("pid={first}")).then_some(());
        }
        let ready: Vec<i64> = workers(&server)
            .iter()
            .filter(|w| w.status_str == "ready")
            .map(|w| w.pid)
            .collect();
        (!ready.is_empty() && !ready.contains(&first)).then_some(())
    });
    assert!(retired.is_some(), "{}", server.output());
    assert!(server.output().contains(reason), "{}", server.output());
}

#[test]
fn ttl_retires_workers_gracefully() {
    retired_for("        ttl: 1s\n", "ttlReached", true);
}

#[test]
fn idle_ttl_retires_idle_workers() {
    retired_for("        idle_ttl: 1s\n", "idleTTLReached", false);
}

#[test]
fn max_worker_memory_retires_workers() {
    // 1 MB: any PHP process is above it.
    retired_for("        max_worker_memory: 1\n", "maxMemoryReached", true);
}

#[test]
fn a_worker_ignoring_stop_is_terminated_after_destroy_timeout() {
    let yaml = config("    mode: fd_passing", 1)
        .replace("destroy_timeout: 5s", "destroy_timeout: 1s")
        .replace(
            "server:\n",
            "server:\n  env:\n    handoff_ignore_stop: \"1\"\n",
        );
    let mut server = Server::start(BIN, &yaml, &[]).unwrap();
    server.wait_ready();
    let status = server.terminate(LIMIT).expect("no exit");
    assert!(status.success(), "{status:?}\n{}", server.output());
    assert!(
        server
            .output()
            .contains("did not stop within destroy_timeout"),
        "{}",
        server.output()
    );
}

#[test]
fn unix_sockets_in_both_modes() {
    for mode in ["reuseport", "fd_passing"] {
        let yaml = config(&format!("    mode: {mode}"), 2)
            .replace("tcp://127.0.0.1:0", "unix://handoff.sock");
        let mut server = Server::start(BIN, &yaml, &[]).unwrap();
        server.wait_ready();
        assert_eq!(
            server.address("handoff", "web").as_deref(),
            Some("unix://handoff.sock")
        );
        let path = server.dir.join("handoff.sock");
        for _ in 0..4 {
            let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
            s.set_read_timeout(Some(LIMIT)).unwrap();
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut answer = String::new();
            s.read_to_string(&mut answer).unwrap();
            assert!(answer.starts_with("HTTP/1.1 200 OK"), "{mode}: {answer}");
            assert!(split(&answer).1.starts_with("pid="), "{mode}: {answer}");
        }
    }
}

#[test]
fn config_errors_name_the_key() {
    for (listener, expected) in [
        ("    mode: sideways", "handoff.web.mode"),
        (
            "    mode: fd_passing\n    balancer: random",
            "handoff.web.balancer",
        ),
        (
            "    mode: fd_passing\n    overflow: maybe",
            "handoff.web.overflow",
        ),
        (
            "    mode: fd_passing\n    backlog: -1",
            "handoff.web.backlog",
        ),
    ] {
        let yaml = config(listener, 1);
        let mut server = Server::start(BIN, &yaml, &[]).unwrap();
        assert_eq!(server.wait_exit(LIMIT).unwrap().code(), Some(3), "{yaml}");
        assert!(server.output().contains(expected), "{}", server.output());
    }
}
