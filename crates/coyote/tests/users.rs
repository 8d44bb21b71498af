//! End-to-end: `server.user`. Workers run as the configured user (the
//! server stays root), and their upload temp files are theirs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{config, get, http_port, post, start};

/// Creates (once) an unprivileged system user for the test; `None` when
/// not running as root, where workers cannot change user at all.
fn test_user() -> Option<(String, u32)> {
    let me = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = me.lines().find(|l| l.starts_with("Uid:")).unwrap();
    if uid_line.split_whitespace().nth(1) != Some("0") {
        eprintln!("not root: skipping the server.user test (it needs root, as RoadRunner does)");
        return None;
    }
    let name = "coyote-e2e";
    let _ = std::process::Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .output();
    let out = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "useradd {name} failed");
    let uid = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some((name.to_owned(), uid))
}

fn uid_of(pid: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn workers_run_as_the_configured_user() {
    let Some((user, uid)) = test_user() else {
        return;
    };
    let cfg = config(1, "").replace("server:\n", &format!("server:\n  user: {user}\n"));
    let server = start(&cfg);
    let http = http_port(&server);
    let pid = get(http, "/pid", "").text();
    assert_eq!(uid_of(&pid), uid, "worker {pid} runs as {user}");
    assert_eq!(
        uid_of(&server.pid().to_string()),
        0,
        "the server itself stays root"
    );
    // Upload temp files are handed to the worker user (0600), so PHP can
    // read them and nobody else can.
    let body = "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n\r\nsecret\r\n--B--\r\n";
    let r = post(
        http,
        "/echo",
        "multipart/form-data; boundary=B",
        body.as_bytes(),
    );
    let v = r.json();
    assert_eq!(
        v["uploads"]["f"]["content"], "secret",
        "the worker user could read its upload"
    );
}
