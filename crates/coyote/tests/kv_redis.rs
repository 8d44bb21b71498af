//! End-to-end: the `redis` kv driver against the Redis this machine runs
//! (`COYOTE_TEST_REDIS`, default `127.0.0.1:6379`): every method, expiry,
//! RoadRunner's key names, bad input, a Redis that goes away and comes
//! back (through a TCP proxy: errors, `/ready` 503, reconnect by itself),
//! and one out of reach from the start. Each test uses its own database
//! number, so Clear (`FLUSHDB`) touches nothing else.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use common::kv::{bad_input, config, exercise, expires, KvServer};
use coyote_test_support::{wait_until, FaultProxy};

fn redis_addr() -> String {
    std::env::var("COYOTE_TEST_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".to_owned())
}

fn redis_socket() -> SocketAddr {
    redis_addr()
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("COYOTE_TEST_REDIS={} is not host:port", redis_addr()))
}

/// A direct connection to database `db`; fails (never skips) without Redis.
fn direct(db: i64) -> redis::Connection {
    let url = format!("redis://{}/{db}", redis_addr());
    redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Redis at {} (COYOTE_TEST_REDIS): {e}; run the tests through scripts/test, which starts Redis",
                redis_addr()
            )
        })
}

fn storage(addr: &str, db: i64) -> String {
    config(&format!(
        "  shared:\n    driver: redis\n    config:\n      addrs: [\"{addr}\"]\n      db: {db}\n      dial_timeout: 2s\n      read_timeout: 2s\n"
    ))
}

#[test]
fn redis_storage_every_method() {
    direct(11);
    let mut s = KvServer::start(&storage(&redis_addr(), 11));
    exercise(&mut s, "shared");
    assert_eq!(s.ready(), 200);
}

#[test]
fn redis_keys_are_plain_strings_under_their_names_and_expire() {
    let mut conn = direct(12);
    let mut s = KvServer::start(&storage(&redis_addr(), 12));
    s.set(
        "shared",
        &[("rr:key", b"\x00value")],
        Some(Duration::from_secs(60)),
    );
    let got: Vec<u8> = redis::cmd("GET").arg("rr:key").query(&mut conn).unwrap();
    assert_eq!(got, b"\x00value");
    let pttl: i64 = redis::cmd("PTTL").arg("rr:key").query(&mut conn).unwrap();
    assert!((50_000..=61_000).contains(&pttl), "pttl {pttl}");
    // A key written by another client is read as is.
    let _: () = redis::cmd("SET")
        .arg("from-php-redis")
        .arg("x")
        .query(&mut conn)
        .unwrap();
    assert_eq!(s.mget("shared", &["from-php-redis"])[0].1, b"x");
    expires(&mut s, "shared");
    bad_input(&mut s, "shared");
    s.call("Clear", "shared", Vec::new()).unwrap();
}

#[test]
fn redis_going_away_is_a_clear_error_then_reconnects_by_itself() {
    direct(13);
    let proxy = FaultProxy::start(redis_socket()).unwrap();
    let mut s = KvServer::start(&storage(&proxy.addr().to_string(), 13));
    s.set("shared", &[("k", b"before")], None);
    assert_eq!(s.ready(), 200);

    proxy.cut();
    let err = wait_until(Duration::from_secs(10), || {
        s.call("MGet", "shared", common::kv::keys(&["k"])).err()
    })
    .expect("calls fail while Redis is away");
    assert!(err.contains("redis"), "{err}");
    assert!(
        wait_until(Duration::from_secs(10), || (s.ready() == 503).then_some(())).is_some(),
        "/ready?plugin=kv stays 200 while Redis is away"
    );

    proxy.restore();
    assert!(
        wait_until(Duration::from_secs(15), || (s.ready() == 200).then_some(())).is_some(),
        "/ready never came back: {}",
        s.server.output()
    );
    assert_eq!(s.mget("shared", &["k"])[0].1, b"before");
    s.call("Clear", "shared", Vec::new()).unwrap();
}

#[test]
fn redis_out_of_reach_at_start_serves_errors_and_is_not_ready() {
    // A port nothing listens on: bound and dropped.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let mut s = KvServer::start(&storage(&addr.to_string(), 0));
    assert_eq!(s.ready(), 503);
    let err = s
        .call(
            "Set",
            "shared",
            vec![coyote_kv::proto::Item {
                key: "k".into(),
                value: bytes::Bytes::from_static(b"v"),
                timeout: String::new(),
            }],
        )
        .unwrap_err();
    assert!(err.contains("is out of reach"), "{err}");
    assert!(err.contains("rpc_set: redis_driver_set"), "{err}");
}
