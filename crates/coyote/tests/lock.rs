//! The `lock` RPC service end to end: each method over protobuf as
//! roadrunner-php/lock calls it, waiters served in order, TTL expiry, the
//! RoadRunner 2025 sequence (two read locks, a refused exclusive lock, then
//! release and force release), and bad input answered with an RPC error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use coyote_lock::proto::{Request, Response};
use coyote_rpc::RpcClient;
use coyote_test_support::{wait_until, Server};
use goridge::flags;
use prost::Message;

use common::BIN;

const CONFIG: &str = "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nlogs:\n  level: debug\n";

fn start() -> Server {
    start_with(CONFIG)
}

fn start_with(config: &str) -> Server {
    let mut server = Server::start(BIN, config, &[]).unwrap();
    server.wait_ready();
    server
}

/// A blocking `lock.*` client on its own connection.
struct Client {
    runtime: tokio::runtime::Runtime,
    client: RpcClient,
}

impl Client {
    fn connect(server: &Server) -> Self {
        let (runtime, client) = common::blocking_rpc(server);
        Self { runtime, client }
    }

    fn raw(&mut self, method: &str, codec: u8, body: Vec<u8>) -> Result<bool, String> {
        let out = self
            .runtime
            .block_on(
                self.client
                    .call_raw(&format!("lock.{method}"), codec, body.into()),
            )
            .map_err(|e| e.to_string())?;
        Ok(Response::decode(out).map_err(|e| e.to_string())?.ok)
    }

    /// `ttl` and `wait` in microseconds, as the PHP client sends them.
    fn call(&mut self, method: &str, resource: &str, id: &str, ttl: i64, wait: i64) -> bool {
        let req = Request {
            resource: resource.to_owned(),
            id: id.to_owned(),
            ttl: Some(ttl),
            wait: Some(wait),
        };
        self.raw(method, flags::CODEC_PROTO, req.encode_to_vec())
            .unwrap()
    }

    fn lock(&mut self, resource: &str, id: &str, ttl: i64, wait: i64) -> bool {
        self.call("Lock", resource, id, ttl, wait)
    }

    fn lock_read(&mut self, resource: &str, id: &str, ttl: i64, wait: i64) -> bool {
        self.call("LockRead", resource, id, ttl, wait)
    }

    fn release(&mut self, resource: &str, id: &str) -> bool {
        self.call("Release", resource, id, 0, 0)
    }

    fn exists(&mut self, resource: &str, id: &str) -> bool {
        self.call("Exists", resource, id, 0, 0)
    }
}

const SECOND: i64 = 1_000_000;

/// Waits until the server logged that `id` is queued on `resource`.
fn wait_queued(server: &Server, resource: &str, id: &str) {
    let found = wait_until(Duration::from_secs(10), || {
        server
            .output()
            .lines()
            .any(|l| {
                l.contains("lock waiter queued")
                    && l.contains(&format!("resource=\"{resource}\""))
                    && l.contains(&format!("id=\"{id}\""))
            })
            .then_some(())
    });
    assert!(found.is_some(), "{id} never queued:\n{}", server.output());
}

#[test]
fn every_method_over_protobuf() {
    let server = start();
    let mut c = Client::connect(&server);
    assert!(c.lock("res", "a", 0, 0));
    assert!(!c.lock("res", "b", 0, 0));
    assert!(!c.lock_read("res", "b", 0, 0));
    assert!(c.exists("res", "*") && c.exists("res", "a") && !c.exists("res", "b"));
    assert!(c.call("UpdateTTL", "res", "a", 30 * SECOND, 0));
    assert!(!c.call("UpdateTTL", "res", "b", 30 * SECOND, 0));
    assert!(!c.release("res", "b"), "only the owner releases");
    assert!(c.release("res", "a"));
    assert!(!c.exists("res", "*"));
    assert!(c.lock_read("res", "r1", 0, 0) && c.lock_read("res", "r2", 0, 0));
    assert!(c.exists("res", "r1") && c.exists("res", "r2"));
    assert!(c.call("ForceRelease", "res", "", 0, 0));
    assert!(!c.exists("res", "*"));
    assert!(!c.call("ForceRelease", "res", "", 0, 0));
}

/// RoadRunner 2025: after two read locks and an exclusive lock refused
/// when its wait elapsed, release and force release still work and the
/// resource is free again.
#[test]
fn refused_exclusive_lock_leaves_nothing_behind() {
    let server = start();
    let mut c = Client::connect(&server);
    assert!(c.lock_read("doc", "r1", 0, 0));
    assert!(c.lock_read("doc", "r2", 0, 0));
    let started = Instant::now();
    assert!(!c.lock("doc", "w", 0, SECOND / 5));
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Nothing of the refused writer remains: readers still get in at once.
    assert!(c.lock_read("doc", "r3", 0, 0));
    assert!(c.release("doc", "r1"));
    assert!(c.call("ForceRelease", "doc", "", 0, 0));
    assert!(!c.exists("doc", "*"));
    assert!(c.lock("doc", "w2", 0, 0), "the resource must be free");
    assert!(c.release("doc", "w2"));
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let server = start();
    let mut holder = Client::connect(&server);
    assert!(holder.lock("q", "holder", 0, 0));
    let (tx, rx) = mpsc::channel();
    let mut threads = Vec::new();
    for i in 0..4 {
        let mut c = Client::connect(&server);
        let tx = tx.clone();
        let id = format!("waiter{i}");
        threads.push(std::thread::spawn({
            let id = id.clone();
            move || {
                assert!(c.lock("q", &id, 0, 30 * SECOND));
                tx.send(i).unwrap();
                assert!(c.release("q", &id));
            }
        }));
        wait_queued(&server, "q", &id);
    }
    assert!(holder.release("q", "holder"));
    for t in threads {
        t.join().unwrap();
    }
    let order: Vec<i32> = rx.try_iter().collect();
    assert_eq!(order, vec![0, 1, 2, 3]);
}

#[test]
fn a_waiter_gets_the_lock_when_the_ttl_expires() {
    let server = start();
    let mut c = Client::connect(&server);
    assert!(c.lock("t", "short", SECOND / 2, 0));
    let started = Instant::now();
    // Blocks on the lock itself until the holder's TTL runs out.
    assert!(c.lock("t", "next", 0, 10 * SECOND));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(!c.exists("t", "short") && c.exists("t", "next"));
    // A read lock's TTL, observed by polling with a deadline.
    assert!(c.lock_read("t2", "r", SECOND / 5, 0));
    let mut poll = Client::connect(&server);
    let gone = wait_until(Duration::from_secs(5), || {
        (!poll.exists("t2", "*")).then_some(())
    });
    assert!(gone.is_some(), "the read lock never expired");
}

#[test]
fn bad_input_is_an_rpc_error_and_the_server_survives() {
    let server = start();
    let mut c = Client::connect(&server);
    let req = |resource: &str, id: &str, ttl: Option<i64>, wait: Option<i64>| {
        Request {
            resource: resource.to_owned(),
            id: id.to_owned(),
            ttl,
            wait,
        }
        .encode_to_vec()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("Lock", vec![0x0a, 0xff, 0x01], "cannot decode"),
        ("Lock", req("", "a", None, None), "empty resource"),
        ("Lock", req("r", "", None, None), "empty ID"),
        ("Release", req("r", "", None, None), "empty ID"),
        (
            "LockRead",
            req("r", "a", Some(-1), None),
            "ttl must not be negative",
        ),
        (
            "Lock",
            req("r", "a", None, Some(-1)),
            "wait must not be negative",
        ),
        (
            "Lock",
            req("r", "a", Some(i64::MAX), None),
            "above the limit",
        ),
        (
            "Lock",
            req("r", "a", None, Some(i64::MAX)),
            "above the limit",
        ),
        ("Nope", req("r", "a", None, None), "can't find method"),
    ];
    for (method, body, expected) in cases {
        let err = c.raw(method, flags::CODEC_PROTO, body).unwrap_err();
        assert!(err.contains(expected), "{method}: {err}");
    }
    let err = c
        .raw("Lock", flags::CODEC_JSON, b"{}".to_vec())
        .unwrap_err();
    assert!(err.contains("codec"), "{err}");
    // Still serving, and nothing was locked by the refused calls.
    assert!(!c.exists("r", "*"));
    assert!(c.lock("r", "a", 0, 0));
    assert!(!server.output().contains("panicked"));
}

#[test]
fn a_bad_lock_driver_is_a_config_error_and_an_unknown_key_a_warning() {
    let config = format!("{CONFIG}lock:\n  driver: etcd\n");
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(3), "{}", server.output());
    let out = server.output();
    assert!(out.contains("lock.driver"), "{out}");
    assert!(out.contains(".rr.yaml:7:"), "file:line in {out}");
    // An unknown key is reported, as everywhere in the config; memory runs.
    let config = format!("{CONFIG}lock:\n  driver: memory\n  drvier: x\n");
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    server.wait_ready();
    assert!(
        server.output().contains("lock.drvier"),
        "{}",
        server.output()
    );
    assert!(Client::connect(&server).lock("r", "a", 0, 0));
}

#[test]
fn a_waiting_call_answers_false_when_the_server_stops() {
    let mut server = start();
    let mut holder = Client::connect(&server);
    assert!(holder.lock("s", "holder", 0, 0));
    let mut waiter = Client::connect(&server);
    let thread = std::thread::spawn(move || {
        let req = Request {
            resource: "s".to_owned(),
            id: "waiter".to_owned(),
            ttl: None,
            wait: Some(3600 * SECOND),
        };
        waiter.raw("Lock", flags::CODEC_PROTO, req.encode_to_vec())
    });
    wait_queued(&server, "s", "waiter");
    let started = Instant::now();
    let status = server.terminate(Duration::from_secs(20)).expect("stops");
    assert!(status.success(), "{status:?}\n{}", server.output());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(thread.join().unwrap(), Ok(false));
}

fn redis_addr() -> String {
    std::env::var("COYOTE_TEST_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".to_owned())
}

/// `lock.driver: redis`: two servers share the lock table; four PHP
/// clients (two per server) do 2 500 read-modify-write increments each of
/// one Redis counter under the lock: no update is lost. Fails (never
/// skips) without a Redis at `COYOTE_TEST_REDIS`.
#[test]
fn redis_driver_two_servers_lose_no_update() {
    let addr = redis_addr();
    let config = format!("{CONFIG}lock:\n  driver: redis\n  addrs: [\"{addr}\"]\n");
    let a = start_with(&config);
    let b = start_with(&config);
    let key = format!("coyote-lock-test-{}-{}", std::process::id(), line!());
    let script =
        coyote_test_support::repo_root().join("crates/coyote/tests/workers/lock-counter.php");
    let started = Instant::now();
    let children: Vec<_> = [&a, &b, &a, &b]
        .iter()
        .map(|server| {
            std::process::Command::new(coyote_test_support::php())
                .arg(&script)
                .arg(server.address("rpc", "rpc").unwrap())
                .arg(&addr)
                .arg(&key)
                .arg("2500")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let elapsed = started.elapsed();
    let mut redis = redis::Client::open(format!("redis://{addr}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let value: i64 = redis::cmd("GET").arg(&key).query(&mut redis).unwrap();
    let _: i64 = redis::cmd("DEL").arg(&key).query(&mut redis).unwrap();
    assert_eq!(value, 10_000, "lost updates ({elapsed:?})");
    eprintln!("10 000 increments under the redis lock, 2 servers: {elapsed:?}");
    // The table is shared: a lock taken through one server is seen by the other.
    let (mut ca, mut cb) = (Client::connect(&a), Client::connect(&b));
    let resource = format!("{key}-shared");
    assert!(ca.lock(&resource, "x", 5 * SECOND, 0));
    assert!(!cb.lock(&resource, "y", 0, 0));
    assert!(cb.exists(&resource, "x"));
    assert!(!cb.release(&resource, "y"));
    assert!(cb.call("ForceRelease", &resource, "", 0, 0));
    assert!(ca.lock_read(&resource, "r", 0, 0) && cb.lock_read(&resource, "s", 0, 0));
    assert!(!ca.lock(&resource, "w", 0, SECOND / 10));
    assert!(ca.release(&resource, "r") && cb.release(&resource, "s"));
    assert!(!ca.exists(&resource, "*"));
}
