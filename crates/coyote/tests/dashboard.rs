//! The live dashboard on `status.address`: end to end in headless Chromium
//! (Debian's `chromium`, driven by Playwright from
//! `tests/e2e-dashboard/`), and its HTTP surface: the SSE stream, the
//! token guard, reset, pause and resume against the real plugins.

// Test helpers fail by panicking, as the test functions do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{get, raw, worker_pids};
use coyote_test_support::{repo_root, wait_until, Server};

/// Two PHP workers serving HTTP, rpc and status on port 0; `dashboard` is
/// the YAML under `status.dashboard:` (indented 4).
fn config(dashboard: &str) -> String {
    common::config_with(2, "", &format!("  dashboard:\n{dashboard}\n"))
}

fn post(port: u16, path: &str, auth: Option<&str>) -> common::Reply {
    let auth = auth.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    raw(
        port,
        format!("POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
}

/// The e2e driver's directory, its packages installed (scripts/deps.sh
/// runs `npm ci` there); fails loudly when node or Chromium is missing.
fn driver_dir() -> PathBuf {
    let dir = repo_root().join("tests/e2e-dashboard");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run scripts/deps.sh test"
    );
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "{}/node_modules is missing: run scripts/deps.sh test (npm ci)",
        dir.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: run scripts/deps.sh test"
    );
    dir
}

/// Sends GET requests to `port` until `stop`, counting the answered ones;
/// one in ten is answered 503 by the worker (a 5xx the page must count).
fn load(port: u16, stop: Arc<AtomicBool>, sent: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let (path, want) = if n.is_multiple_of(10) {
                ("/status/503", 503)
            } else {
                ("/echo", 200)
            };
            let reply = get(port, path, "");
            assert_eq!(reply.status, want, "{path}: {}", reply.text());
            sent.fetch_add(1, Ordering::Relaxed);
        }
    })
}

struct Driver {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Driver {
    /// The next line, which must start with `word`; its other words.
    fn expect(&mut self, word: &str, server: &Server) -> Vec<String> {
        let mut line = String::new();
        // The driver bounds every wait (20 s) and its whole run (120 s), so
        // this read ends.
        let n = self.stdout.read_line(&mut line).unwrap();
        let mut words = line.split_whitespace().map(str::to_owned);
        if n == 0 || words.next().as_deref() != Some(word) {
            let _ = self.child.kill();
            let mut err = String::new();
            if let Some(mut e) = self.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!(
                "driver: expected {word:?}, got {line:?}\nstderr: {err}\nserver:\n{}",
                server.output()
            );
        }
        words.collect()
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dashboard_in_headless_chromium_follows_load_a_killed_worker_and_resets() {
    let dir = driver_dir();
    let server = common::start(&config("    token: e2e-token"));
    let status = server.port("status", "status");
    let http = common::http_port(&server);
    let screenshot = std::env::var("COYOTE_DASHBOARD_SCREENSHOT")
        .map_or_else(|_| server.dir.join("dashboard.png"), PathBuf::from);
    let mut child = Command::new("node")
        .arg(dir.join("dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{status}/dashboard"))
        .arg(&screenshot)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut driver = Driver {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        child,
    };

    // The page shows both workers, the same pids `coyote workers` lists.
    let mut pids = driver.expect("pids", &server);
    pids.sort();
    let mut listed = worker_pids(&server);
    listed.sort();
    assert_eq!(pids, listed, "page vs coyote workers");

    // Under load the counters move.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let loader = load(http, stop.clone(), sent.clone());
    assert!(
        wait_until(Duration::from_secs(20), || (sent.load(Ordering::Relaxed)
            >= 50)
            .then_some(()))
        .is_some(),
        "load did not get through:\n{}",
        server.output()
    );
    driver.send(&format!("load {}", sent.load(Ordering::Relaxed)));
    let moved = driver.expect("moved", &server);
    stop.store(true, Ordering::Relaxed);
    loader.join().unwrap();
    let requests: u64 = moved[0].parse().unwrap();
    let rps: f64 = moved[1].parse().unwrap();
    let errors: u64 = moved[2].parse().unwrap();
    assert!(requests >= 50 && rps > 0.0 && errors >= 5, "{moved:?}");
    driver.send("shoot");
    driver.expect("shot", &server);
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);

    // A SIGKILLed worker leaves the page and its replacement appears.
    let victim = pids[0].clone();
    let ok = Command::new("kill")
        .args(["-KILL", &victim])
        .status()
        .unwrap();
    assert!(ok.success());
    driver.send(&format!("killed {victim}"));
    let fresh = driver.expect("replaced", &server);
    assert!(!pids.contains(&fresh[0]), "{fresh:?} vs {pids:?}");
    assert!(
        wait_until(Duration::from_secs(10), || worker_pids(&server)
            .contains(&fresh[0])
            .then_some(()))
        .is_some(),
        "the page's new pid {} is not a worker: {:?}",
        fresh[0],
        worker_pids(&server)
    );

    // The page's reset button, with the token typed into its prompt.
    driver.send("reset e2e-token");
    let mut reset = driver.expect("reset", &server);
    reset.sort();
    let mut listed = worker_pids(&server);
    listed.sort();
    assert_eq!(reset, listed, "page vs coyote workers after the reset");
    assert!(
        !reset.contains(&fresh[0]),
        "{reset:?} still has {}",
        fresh[0]
    );
}

/// Reads the SSE stream until its first `data:` line.
fn first_event(port: u16) -> (String, serde_json::Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /dashboard/events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "closed: {head}");
        if let Some(data) = line.strip_prefix("data: ") {
            return (head, serde_json::from_str(data.trim()).unwrap());
        }
        head.push_str(&line);
    }
}

#[test]
fn dashboard_streams_snapshots_and_guards_reset_with_the_token() {
    let server = common::start(&config("    token: s3cret"));
    let status = server.port("status", "status");
    let (head, snapshot) = first_event(status);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );
    assert!(head.contains("retry: 2000"), "{head}");
    let http = &snapshot["pools"][0];
    assert_eq!(http["name"], "http");
    assert_eq!(http["workers"].as_array().unwrap().len(), 2, "{snapshot}");
    assert_eq!(snapshot["actions"], true);

    let path = "/dashboard/api/reset?pool=http";
    assert_eq!(post(status, path, None).status, 401);
    assert_eq!(post(status, path, Some("wrong")).status, 403);
    assert_eq!(
        post(status, "/dashboard/api/reset?pool=nope", Some("s3cret")).status,
        404
    );
    let before = worker_pids(&server);
    let reply = post(status, path, Some("s3cret"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let after = worker_pids(&server);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "{before:?} -> {after:?}"
    );
    // The status plugin's own routes are untouched.
    assert_eq!(get(status, "/health?plugin=http", "").status, 200);
}

#[test]
fn dashboard_actions_are_off_without_a_token_and_the_page_can_be_turned_off() {
    let server = common::start(&config("    enabled: true"));
    let status = server.port("status", "status");
    let page = get(status, "/dashboard", "");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<title>Coyote dashboard</title>"));
    let reply = post(status, "/dashboard/api/reset?pool=http", Some("anything"));
    assert_eq!(reply.status, 403, "{}", reply.text());
    let snapshot = get(status, "/dashboard/api/snapshot", "").json();
    assert_eq!(snapshot["actions"], false);
    drop(server);

    let server = common::start(&config("    enabled: false"));
    let status = server.port("status", "status");
    assert_eq!(get(status, "/dashboard", "").status, 404);
    assert_eq!(get(status, "/health?plugin=http", "").status, 200);
}

#[test]
fn dashboard_pauses_and_resumes_a_jobs_pipeline() {
    let yaml = common::jobs::config(
        1,
        &["emails"],
        "    emails:\n      driver: memory\n      config:\n        priority: 10\n",
        "",
    )
    .replace(
        "status:\n  address: 127.0.0.1:0\n",
        "status:\n  address: 127.0.0.1:0\n  dashboard:\n    token: t\n",
    );
    let mut jobs = common::jobs::JobsServer::start(&yaml);
    let status = jobs.server.port("status", "status");
    let ready = |name: &str| {
        let states = get(status, "/jobs", "").json();
        states
            .as_array()
            .and_then(|a| a.iter().find(|s| s["pipeline"] == name))
            .map(|s| s["ready"].clone())
    };
    assert_eq!(ready("emails"), Some(serde_json::Value::Bool(true)));
    let (_, snapshot) = first_event(status);
    assert_eq!(snapshot["pipelines"][0]["pipeline"], "emails", "{snapshot}");

    assert_eq!(
        post(status, "/dashboard/api/pause?pipeline=emails", None).status,
        401
    );
    let reply = post(status, "/dashboard/api/pause?pipeline=emails", Some("t"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(ready("emails"), Some(serde_json::Value::Bool(false)));
    let reply = post(status, "/dashboard/api/resume?pipeline=emails", Some("t"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(ready("emails"), Some(serde_json::Value::Bool(true)));
    let reply = post(status, "/dashboard/api/pause?pipeline=nope", Some("t"));
    assert_eq!(reply.status, 500, "{}", reply.text());

    // The jobs pool's executions show in its figures.
    let ids = ["a", "b", "c"];
    jobs.push(
        ids.iter()
            .map(|id| common::jobs::job("emails", "ack", id))
            .collect(),
    )
    .unwrap();
    jobs.wait_entries(Duration::from_secs(20), |e| e.len() >= ids.len());
    let executed = wait_until(Duration::from_secs(20), || {
        let snapshot = get(status, "/dashboard/api/snapshot", "").json();
        let pool = snapshot["pools"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "jobs")?
            .clone();
        (pool["requests"].as_u64()? >= 3).then_some(pool)
    });
    let pool = executed.expect("the jobs pool never counted 3 executions");
    assert_eq!(pool["errors"], 0, "{pool}");
}
