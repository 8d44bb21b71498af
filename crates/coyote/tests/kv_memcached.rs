//! End-to-end: the `memcached` kv driver against a real memcached
//! (`COYOTE_TEST_MEMCACHED`, started by `scripts/test` through
//! `scripts/brokers.sh memcached`; default `127.0.0.1:11211`): every
//! method (TTL read back with the meta protocol), expiry, bad input, and
//! a memcached that goes away and comes back through a TCP proxy.
//! Clear is `flush_all`: the tests of this file run one storage each on
//! keys of their own, and only one of them clears.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use common::kv::{bad_input, config, exercise, expires, KvServer};
use coyote_test_support::{wait_until, FaultProxy};

/// `flush_all` clears the whole server: tests that clear run one at a time.
static SERVER: Mutex<()> = Mutex::new(());

fn memcached() -> SocketAddr {
    let addr =
        std::env::var("COYOTE_TEST_MEMCACHED").unwrap_or_else(|_| "127.0.0.1:11211".to_owned());
    let socket = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("COYOTE_TEST_MEMCACHED={addr} is not host:port"));
    TcpStream::connect_timeout(&socket, Duration::from_secs(2)).unwrap_or_else(|e| {
        panic!(
            "cannot reach memcached at {addr} (COYOTE_TEST_MEMCACHED): {e}; run the tests through scripts/test, which starts it"
        )
    });
    socket
}

fn storage(addr: &str) -> String {
    config(&format!(
        "  mc:\n    driver: memcached\n    config:\n      addr: \"{addr}\"\n"
    ))
}

#[test]
fn memcached_storage_every_method() {
    let _one = SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut s = KvServer::start(&storage(&memcached().to_string()));
    exercise(&mut s, "mc");
    assert_eq!(s.ready(), 200);
}

#[test]
fn memcached_keys_expire_and_bad_input_is_refused() {
    let _one = SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut s = KvServer::start(&storage(&memcached().to_string()));
    expires(&mut s, "mc");
    bad_input(&mut s, "mc");
    // memcached's own key rule, as a clear error.
    let long = "k".repeat(300);
    let err = s
        .call("Has", "mc", common::kv::keys(&[long.as_str()]))
        .unwrap_err();
    assert!(
        err.contains("memcached keys are at most 250 bytes"),
        "{err}"
    );
    let err = s
        .call("MGet", "mc", common::kv::keys(&["fine", "with space"]))
        .unwrap_err();
    assert!(err.contains("without spaces"), "{err}");
}

#[test]
fn memcached_going_away_is_a_clear_error_then_reconnects_by_itself() {
    let _one = SERVER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let proxy = FaultProxy::start(memcached()).unwrap();
    let mut s = KvServer::start(&storage(&proxy.addr().to_string()));
    s.set("mc", &[("mc-fault", b"before")], None);
    assert_eq!(s.ready(), 200);

    proxy.cut();
    let err = wait_until(Duration::from_secs(10), || {
        s.call("MGet", "mc", common::kv::keys(&["mc-fault"])).err()
    })
    .expect("calls fail while memcached is away");
    assert!(err.contains("memcached"), "{err}");
    assert!(
        wait_until(Duration::from_secs(10), || (s.ready() == 503).then_some(())).is_some(),
        "/ready?plugin=kv stays 200 while memcached is away"
    );

    proxy.restore();
    assert!(
        wait_until(Duration::from_secs(15), || (s.ready() == 200).then_some(())).is_some(),
        "/ready never came back: {}",
        s.server.output()
    );
    assert_eq!(s.mget("mc", &["mc-fault"])[0].1, b"before");
}
