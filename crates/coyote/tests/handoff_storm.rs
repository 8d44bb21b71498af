//! The `handoff` plugin under a SIGKILL storm with load, in each mode
//! (`reuseport`; `fd_passing` with least connections), with the SDK's
//! event-driven keep-alive worker (`php/workers/handoff-hello.php`): the
//! server stays up, the pool comes back whole, only the victims'
//! connections fail, none of them is kept by Coyote, no descriptor leaks.
//! The timed version with wrk is `bench/chaos/handoff-kill-storm.sh`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::handoff::{config_for, wait_counts, workers, LIMIT};
use common::BIN;
use coyote_rpc::services::WorkerState;
use coyote_test_support::{wait_until, Server};

/// A kill storm's client reads: a hang this long is a failure.
const STORM_READ: Duration = Duration::from_secs(5);

/// An HTTP/1.1 connection to the SDK's hello worker (keep-alive).
struct Http {
    reader: BufReader<TcpStream>,
}

impl Http {
    fn open(address: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(STORM_READ))?;
        stream.set_write_timeout(Some(STORM_READ))?;
        Ok(Self {
            reader: BufReader::new(stream),
        })
    }

    /// `GET /`; `close` asks for `Connection: close`. Ok for a 200 with
    /// the hello body (read by its Content-Length: the connection stays
    /// usable).
    fn get(&mut self, close: bool) -> std::io::Result<()> {
        let other = |what: String| std::io::Error::other(what);
        let eof = || std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        let head = if close { "Connection: close\r\n" } else { "" };
        // One write: a request in pieces would wait for delayed ACKs.
        let request = format!("GET / HTTP/1.1\r\nHost: storm\r\n{head}\r\n");
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut status = String::new();
        if self.reader.read_line(&mut status)? == 0 {
            return Err(eof());
        }
        let mut length = 0;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(eof());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| other(line.clone()))?;
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        if status.starts_with("HTTP/1.1 200 ") && body == b"Hello, World!" {
            Ok(())
        } else {
            Err(other(format!(
                "{status:?} {:?}",
                String::from_utf8_lossy(&body)
            )))
        }
    }

    /// Whether the server ended this connection: a request on it meets EOF
    /// or a reset. A hang (the read timeout) is an error.
    fn ended(&mut self) -> Result<bool, String> {
        use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
        match self.get(false) {
            Ok(()) => Ok(false),
            Err(e)
                if matches!(
                    e.kind(),
                    BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
                ) =>
            {
                Ok(true)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What the storm's client saw.
struct Load {
    ok: u64,
    failed: u64,
    /// The first failures' errors.
    samples: Vec<String>,
}

impl Load {
    fn fail(&mut self, what: String) {
        self.failed += 1;
        if self.samples.len() < 10 {
            self.samples.push(what);
        }
    }
}

/// Requests in a loop until `stop`, one at a time: in turn one on a fresh
/// connection (`Connection: close`) and ten on a keep-alive connection. A
/// failed request ends its connection; the next one reconnects.
fn load(address: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Load> {
    std::thread::spawn(move || {
        let mut load = Load {
            ok: 0,
            failed: 0,
            samples: Vec::new(),
        };
        let (mut conn, mut left, mut fresh) = (None::<Http>, 0, false);
        while !stop.load(Ordering::Relaxed) {
            if conn.is_none() {
                fresh = !fresh;
                left = if fresh { 1 } else { 10 };
                match Http::open(&address) {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        load.fail(format!("connect: {e}"));
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            left -= 1;
            match c.get(fresh) {
                Ok(()) => load.ok += 1,
                Err(e) => {
                    load.fail(e.to_string());
                    left = 0;
                }
            }
            if left == 0 {
                conn = None;
            }
        }
        load
    })
}

/// Coyote's open descriptors.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// The ready workers, once there are at least `n`.
fn ready_at_least(server: &Server, n: usize) -> Vec<WorkerState> {
    let ready = wait_until(LIMIT, || {
        let ready: Vec<WorkerState> = workers(server)
            .into_iter()
            .filter(|w| w.status_str == "ready")
            .collect();
        (ready.len() >= n).then_some(ready)
    });
    ready.unwrap_or_else(|| panic!("never {n} ready workers\n{}", server.output()))
}

/// A SIGKILL storm under load: 12 idle keep-alive connections held, a
/// client thread's requests in a loop (fresh and keep-alive connections,
/// one at a time), and 20 workers SIGKILLed (the original three first,
/// then whoever holds the most connections; only while two are ready, so
/// that one always serves). Then: the server is up, the pool is whole
/// again with new workers, every held connection was ended (all three
/// holders died; a connection of a dead worker that Coyote kept would
/// hang here), at most one failed request per kill (the client has one
/// connection at a time: a kill can fail only the one its victim held, a
/// documented loose bound of "the connections the victims held"), fresh
/// requests all succeed, and Coyote's descriptors come back to the
/// baseline (+-5: RPC connections closing).
fn kill_storm(listener: &str) {
    const WORKERS: usize = 3;
    const KILLS: usize = 20;
    const HELD: usize = 12;
    let mut server =
        Server::start(BIN, &config_for("handoff-hello", listener, WORKERS), &[]).unwrap();
    server.wait_ready();
    let pid = server.pid();
    let original: BTreeSet<i64> = ready_at_least(&server, WORKERS)
        .iter()
        .map(|w| w.pid)
        .collect();
    let base = fds(pid);
    let address = server.address("handoff", "web").unwrap();
    let mut held: Vec<Http> = (0..HELD)
        .map(|_| {
            let mut c = Http::open(&address).unwrap();
            c.get(false).unwrap();
            c
        })
        .collect();
    wait_counts(&server, "held", |c| c.iter().sum::<u64>() == HELD as u64);

    let stop = Arc::new(AtomicBool::new(false));
    let client = load(address.clone(), stop.clone());
    let (mut killed, mut victims_held) = (BTreeSet::new(), 0);
    for _ in 0..KILLS {
        let ready = ready_at_least(&server, 2);
        let victim = ready
            .iter()
            .max_by_key(|w| (original.contains(&w.pid), w.connections.unwrap_or(0)))
            .unwrap();
        victims_held += victim.connections.unwrap_or(0);
        let target = nix::unistd::Pid::from_raw(i32::try_from(victim.pid).unwrap());
        nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL).unwrap();
        killed.insert(victim.pid);
        // Its exit was handled: it left the informer's list.
        let gone = wait_until(LIMIT, || {
            (!workers(&server).iter().any(|w| w.pid == victim.pid)).then_some(())
        });
        assert!(
            gone.is_some(),
            "{} never left\n{}",
            victim.pid,
            server.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let whole = wait_until(LIMIT, || {
        let now = workers(&server);
        (now.len() == WORKERS
            && now
                .iter()
                .all(|w| w.status_str == "ready" && !killed.contains(&w.pid)))
        .then_some(())
    });
    assert!(
        whole.is_some(),
        "{:?}\n{}",
        workers(&server),
        server.output()
    );
    stop.store(true, Ordering::Relaxed);
    let load = client.join().unwrap();
    assert!(
        server.wait_exit(Duration::ZERO).is_none(),
        "{}",
        server.output()
    );
    eprintln!(
        "{}: {} kills, {} ok, {} failed, victims held {victims_held}",
        listener.trim().replace("\n    ", ", "),
        killed.len(),
        load.ok,
        load.failed
    );
    assert!(load.ok > 0);
    assert!(
        load.failed <= KILLS as u64,
        "{} failed for {KILLS} kills (victims held {victims_held}): {:?}",
        load.failed,
        load.samples
    );
    assert!(original.is_subset(&killed), "{original:?} {killed:?}");
    for (i, c) in held.iter_mut().enumerate() {
        match c.ended() {
            Ok(true) => {}
            Ok(false) => panic!("held connection {i} answered though its worker was killed"),
            Err(e) => panic!("held connection {i} of a killed worker was not ended: {e}"),
        }
    }
    drop(held);
    for _ in 0..10 {
        Http::open(&address).unwrap().get(true).unwrap();
    }
    let mut kept = Http::open(&address).unwrap();
    for _ in 0..10 {
        kept.get(false).unwrap();
    }
    drop(kept);
    let settled = wait_until(LIMIT, || (fds(pid).abs_diff(base) <= 5).then_some(()));
    assert!(
        settled.is_some(),
        "{base} descriptors before the storm, {} after\n{}",
        fds(pid),
        server.output()
    );
}

#[test]
fn a_kill_storm_under_load_loses_only_the_victims_connections_reuseport() {
    kill_storm("    mode: reuseport");
}

#[test]
fn a_kill_storm_under_load_loses_only_the_victims_connections_fd_passing() {
    kill_storm("    mode: fd_passing\n    balancer: least_connections");
}
