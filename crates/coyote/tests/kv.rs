//! End-to-end: the `kv` plugin with the memory and boltdb (embedded redb)
//! drivers over the real server's RPC: every method, binary values, TTL
//! expiry (polled with a deadline), durability across a restart, bad
//! input, and config problems reported at their keys before anything runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::kv::{bad_input, config, exercise, expires, KvServer};
use common::BIN;
use coyote_test_support::Server;

const MEMORY: &str = "  cache:\n    driver: memory\n    config: {}\n";

#[test]
fn memory_storage_every_method() {
    let mut s = KvServer::start(&config(MEMORY));
    exercise(&mut s, "cache");
    assert_eq!(s.ready(), 200);
}

#[test]
fn memory_keys_expire() {
    let mut s = KvServer::start(&config(MEMORY));
    expires(&mut s, "cache");
}

#[test]
fn memory_bad_input_is_refused_with_clear_errors() {
    let mut s = KvServer::start(&config(MEMORY));
    bad_input(&mut s, "cache");
}

#[test]
fn two_storages_are_separate() {
    let mut s = KvServer::start(&config(
        "  a:\n    driver: memory\n  b:\n    driver: boltdb\n    config:\n      file: b.db\n",
    ));
    s.set("a", &[("k", b"in a")], None);
    assert!(s.has("b", &["k"]).is_empty());
    s.set("b", &[("k", b"in b")], None);
    assert_eq!(s.mget("a", &["k"])[0].1, b"in a");
    s.call("Clear", "a", Vec::new()).unwrap();
    assert_eq!(s.mget("b", &["k"])[0].1, b"in b");
}

fn bolt(extra: &str) -> String {
    config(&format!(
        "  disk:\n    driver: boltdb\n    config:\n      file: kv.db\n      permissions: 0600\n      interval: 1\n{extra}"
    ))
}

#[test]
fn boltdb_storage_every_method() {
    let mut s = KvServer::start(&bolt(""));
    exercise(&mut s, "disk");
}

#[test]
fn boltdb_keys_expire_and_bad_input_is_refused() {
    let mut s = KvServer::start(&bolt(""));
    expires(&mut s, "disk");
    bad_input(&mut s, "disk");
}

#[test]
fn boltdb_survives_a_restart() {
    let mut s = KvServer::start(&bolt(""));
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    s.set("disk", &[("kept", &binary)], None);
    s.set("disk", &[("timed", b"t")], Some(Duration::from_secs(3600)));
    let dir = s.server.dir.clone();
    let ttl_before = s.ttl("disk", &["timed"]);
    let status = s.server.terminate(Duration::from_secs(20)).expect("stops");
    assert!(status.success(), "{}", s.server.output());
    let file = dir.join("kv.db");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // The same file from a second server in another directory.
    let again = bolt("").replace("file: kv.db", &format!("file: {}", file.display()));
    let mut s2 = KvServer::start(&again);
    assert_eq!(s2.mget("disk", &["kept"])[0].1, binary);
    assert_eq!(s2.ttl("disk", &["timed"]), ttl_before);
}

#[test]
fn kv_config_problems_are_reported_at_their_keys_before_anything_runs() {
    let bad = config(
        "  nodriver:\n    config: {}\n  wrong:\n    driver: mongo\n  bolt:\n    driver: boltdb\n    config:\n      permissions: 99999\n      interval: soon\n  r:\n    driver: redis\n    config:\n      addrs: [\"nohost\"]\n      db: -1\n  m:\n    driver: memcached\n    config:\n      addr: [\"localhost:11211\", 7]\n",
    );
    let mut server = Server::start(BIN, &bad, &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(3), "{}", server.output());
    let out = server.output();
    for want in [
        ".rr.yaml:9:3: kv.nodriver: required key driver is missing",
        ".rr.yaml:12:5: kv.wrong.driver: unknown driver \"mongo\"",
        "kv.bolt.config.interval",
        "kv.r.config.addrs[0]",
        "kv.r.config.db",
        "kv.m.config.addr[1]",
    ] {
        assert!(out.contains(want), "{want:?} missing in:\n{out}");
    }
    assert!(
        !server.events().iter().any(|e| e.starts_with("listen ")),
        "nothing bound: {:?}",
        server.events()
    );
}

#[test]
fn a_boltdb_file_that_cannot_be_created_fails_the_start() {
    let cfg = config("  d:\n    driver: boltdb\n    config:\n      file: /nonexistent-dir/kv.db\n");
    let mut server = Server::start(BIN, &cfg, &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(1), "{}", server.output());
    assert!(
        server
            .output()
            .contains("kv.d: /nonexistent-dir/kv.db: cannot create the file"),
        "{}",
        server.output()
    );
}
