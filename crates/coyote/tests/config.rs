//! End-to-end: config errors (the key, the file and line, exit code 3,
//! nothing bound), `-o` overrides and `${ENV}` expansion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{config, get, http_port, BIN};
use coyote_test_support::Server;

#[test]
fn config_errors_name_the_key_and_line_and_exit_3() {
    let bad = config(1, "").replace("num_workers: 1", "num_workers: lots");
    let mut server = Server::start(BIN, &bad, &[]).unwrap();
    let status = server.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(3));
    let out = server.output();
    assert!(out.contains("http.pool.num_workers"), "{out}");
    assert!(out.contains(".rr.yaml:9:"), "file:line in {out}");
    assert!(
        !server.events().iter().any(|e| e.starts_with("listen ")),
        "nothing bound: {:?}",
        server.events()
    );

    let missing = config(
        1,
        "  middleware: [\"static\"]\n  static:\n    dir: /nonexistent/coyote-static\n",
    );
    let mut server = Server::start(BIN, &missing, &[]).unwrap();
    assert_eq!(
        server.wait_exit(Duration::from_secs(20)).unwrap().code(),
        Some(3)
    );
    assert!(
        server.output().contains("http.static.dir"),
        "{}",
        server.output()
    );

    let mut server = Server::start(BIN, "version: \"2.7\"\n", &[]).unwrap();
    assert_eq!(
        server.wait_exit(Duration::from_secs(20)).unwrap().code(),
        Some(3)
    );
    assert!(server.output().contains("version"), "{}", server.output());
}

#[test]
fn overrides_and_env_expansion() {
    let cfg = config(1, "").replace(
        "  address: 127.0.0.1:0\n  pool:",
        "  address: 127.0.0.1:${HTTP_PORT:-1}\n  pool:",
    );
    assert!(cfg.contains("${HTTP_PORT:-1}"));
    let mut server = Server::start(BIN, &cfg, &["-o", "http.address=127.0.0.1:0"]).unwrap();
    server.wait_ready();
    let http = http_port(&server);
    assert_ne!(http, 1, "the override replaced the expanded value");
    assert_eq!(get(http, "/status/204", "").status, 204);
    server.terminate(Duration::from_secs(10));
}
