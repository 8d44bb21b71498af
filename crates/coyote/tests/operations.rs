//! End-to-end: operating a running server. Graceful stop with requests in
//! flight, `coyote workers` / `coyote reset` over the bound RPC address,
//! /health and /ready, rolling resets under load, metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    cli, cli_args, config, get, http_port, marker, start, wait_for_marker, wait_for_output,
    worker_pids, BIN,
};
use coyote_test_support::{php, repo_root, wait_until};

#[test]
fn graceful_stop_finishes_in_flight_requests() {
    let mut server = start(&config(2, ""));
    let http = http_port(&server);
    let markers: Vec<_> = (0..2)
        .map(|i| marker(&server, &format!("in-flight-{i}")))
        .collect();
    let in_flight: Vec<_> = markers
        .iter()
        .map(|m| {
            let path = format!("/slow?ms=800&marker={}", m.display());
            std::thread::spawn(move || get(http, &path, ""))
        })
        .collect();
    // Both requests are on a worker when the stop begins.
    for m in &markers {
        wait_for_marker(&server, m);
    }
    let status = server
        .terminate(Duration::from_secs(20))
        .expect("stopped in time");
    assert!(status.success(), "{status:?}\n{}", server.output());
    for t in in_flight {
        let r = t.join().unwrap();
        assert_eq!((r.status, r.text()), (200, "slept".to_owned()));
    }
    assert!(
        TcpStream::connect(("127.0.0.1", http)).is_err(),
        "listener closed"
    );
}

#[test]
fn operator_commands_and_status() {
    let server = start(&config(2, ""));
    let status = server.port("status", "status");
    let run = |args: &[&str]| {
        let out = cli(&server, args);
        assert!(
            out.status.success(),
            "{:?}: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&["workers"]);
    assert!(table.contains("Workers of [http]"), "{table}");
    assert_eq!(table.matches("ready").count(), 2, "{table}");
    let before: Vec<String> = table
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    let reset = run(&["reset"]);
    assert!(
        reset.contains("Resetting plugin: [http]") && reset.contains("done"),
        "{reset}"
    );
    let after = run(&["workers", "http"]);
    for pid in &before {
        assert!(!after.contains(pid.as_str()), "{pid} replaced: {after}");
    }
    // -i redraws every second until interrupted.
    let mut live = std::process::Command::new(BIN)
        .args(["workers", "-i"])
        .args(cli_args(&server))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = live.stdout.take().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    // Interrupted once the second screen is out (or after 20 s, and the
    // assertion below fails).
    let screens = || {
        String::from_utf8_lossy(&seen.lock().unwrap())
            .matches("Workers of [http]")
            .count()
    };
    wait_until(Duration::from_secs(20), || (screens() >= 2).then_some(()));
    std::process::Command::new("kill")
        .args(["-INT", &live.id().to_string()])
        .status()
        .unwrap();
    assert!(live.wait().unwrap().success());
    reader.join().unwrap();
    let screen = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        screen.matches("Workers of [http]").count() >= 2,
        "refreshed: {screen}"
    );
    assert!(screen.contains("\x1b[2J"), "clears the screen");
    let health = get(status, "/health?plugin=http", "");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()[0]["plugin_name"], "http");
    assert_eq!(get(status, "/ready?plugin=http", "").status, 200);
    drop(server);
}

#[test]
fn rolling_reset_under_load_fails_no_request() {
    let server = start(&config(2, ""));
    let http = http_port(&server);
    let stop = Arc::new(AtomicBool::new(false));
    // Requests answered so far, by all load threads.
    let served = Arc::new(AtomicU32::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            let served = served.clone();
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0u32, Vec::new());
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let r = get(http, "/pid", "");
                    if r.status == 200 {
                        ok += 1;
                        served.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.push(format!("{} {}", r.status, r.text()));
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    // The resets begin while requests are being served.
    let served_at_least = |n: u32| {
        wait_until(Duration::from_secs(20), || {
            (served.load(Ordering::Relaxed) >= n).then_some(())
        })
        .is_some()
    };
    assert!(served_at_least(20), "the load did not start");
    let before = worker_pids(&server);
    for _ in 0..2 {
        let out = cli(&server, &["reset"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The same through a signal.
    std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(
        wait_for_output(&server, "workers reset", Duration::from_secs(20)),
        "SIGHUP reset not logged:\n{}",
        server.output()
    );
    // And the load goes on with the new workers for a while.
    let at_reset = served.load(Ordering::Relaxed);
    assert!(
        served_at_least(at_reset + 20),
        "no requests after the SIGHUP reset"
    );
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for t in load {
        let (o, f) = t.join().unwrap();
        ok += o;
        failed.extend(f);
    }
    let after = worker_pids(&server);
    assert!(ok > 50, "load ran ({ok} requests)");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during resets: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(after.len(), 2);
    assert!(
        after.iter().all(|pid| !before.contains(pid)),
        "{before:?} -> {after:?}"
    );
    eprintln!("reset under load: {ok} requests, 0 failed, 3 rolling resets");
}

#[test]
fn metrics_from_pools_http_config_and_php() {
    let cfg = format!(
        "{}metrics:\n  address: 127.0.0.1:0\n  collect:\n    app_started:\n      type: gauge\n      help: Declared in the config\n",
        config(2, "")
    );
    let server = start(&cfg);
    let http = http_port(&server);
    let metrics_port = server.port("metrics", "metrics");
    let rpc = server.address("rpc", "rpc").unwrap();
    for _ in 0..3 {
        assert_eq!(get(http, "/status/200", "").status, 200);
    }
    assert_eq!(get(http, "/status/404", "").status, 404);
    let script = repo_root().join("crates/coyote/tests/workers/metrics-client.php");
    let out = std::process::Command::new(php())
        .arg(&script)
        .env("RR_RPC", rpc)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("undefined collector never_declared"),
        "{stdout}"
    );
    assert!(stdout.contains("done"));

    let scrape = get(metrics_port, "/metrics", "");
    assert_eq!(scrape.status, 200);
    let text = scrape.text();
    let value = |series: &str| common::series_value(&text, series);
    assert_eq!(value("rr_http_total_workers"), 2.0);
    assert_eq!(value("rr_http_workers_ready"), 2.0);
    assert_eq!(value("rr_http_request_total{status=\"200\"}"), 3.0);
    assert_eq!(value("rr_http_request_total{status=\"404\"}"), 1.0);
    assert_eq!(
        value("rr_http_request_duration_seconds_count{status=\"200\"}"),
        3.0
    );
    assert_eq!(value("rr_http_requests_queue"), 0.0);
    // The 0.0.4 text format (the default): the counter PHP declared as
    // `orders` is scraped as `orders`.
    assert_eq!(value("orders{shop=\"north\"}"), 5.0);
    assert_eq!(value("app_queue_depth"), 6.0);
    assert_eq!(value("render_seconds_bucket{le=\"0.5\"}"), 1.0);
    assert_eq!(value("render_seconds_bucket{le=\"0.1\"}"), 0.0);
    assert_eq!(value("payload_bytes{quantile=\"0.5\"}"), 300.0);
    assert_eq!(value("payload_bytes_count"), 5.0);
    assert_eq!(value("payload_bytes_sum"), 1500.0);
    assert_eq!(value("app_started"), 0.0);
    assert!(!text.contains("to_remove"), "unregistered collector gone");
    assert!(
        text.contains("rr_http_queue_waits_total "),
        "queue wait exported"
    );
    assert!(
        text.contains("rr_http_queue_wait_seconds_total "),
        "queue wait exported"
    );
    assert!(
        !text.contains("# EOF"),
        "no OpenMetrics terminator in 0.0.4"
    );
    let om = get(
        metrics_port,
        "/metrics",
        "Accept: application/openmetrics-text; version=1.0.0\r\n",
    )
    .text();
    assert!(om.trim_end().ends_with("# EOF"), "{om}");
    assert!(om.contains("orders_total{shop=\"north\"} 5"), "{om}");
    let mut worker_memory = text
        .lines()
        .filter(|l| l.starts_with("rr_http_worker_memory_bytes{pid="));
    assert!(worker_memory.next().is_some());

    let logged = wait_until(Duration::from_secs(5), || {
        let out = server.output();
        (out.contains("hello from the app logger")
            && out.contains("with context over protobuf")
            && out.contains("user:42,route:/x"))
        .then_some(())
    });
    assert!(
        logged.is_some(),
        "app logger line missing:\n{}",
        server.output()
    );
}
