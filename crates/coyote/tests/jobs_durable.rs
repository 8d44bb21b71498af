//! End-to-end: the durable `boltdb` driver (redb underneath). Jobs pushed
//! are on disk before Push returns: a server killed with SIGKILL in the
//! middle of a 10k-job drain loses none (redeliveries are counted, allowed
//! by at-least-once); a graceful stop keeps queued jobs for the next start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::jobs::{config, job, JobsServer};

const LIMIT: Duration = Duration::from_secs(120);

fn boltdb(name: &str, file: &std::path::Path, prefetch: usize) -> String {
    format!(
        "    {name}:\n      driver: boltdb\n      config:\n        file: {}\n        prefetch: {prefetch}\n        priority: 5\n",
        file.display()
    )
}

/// How many times each id was delivered.
fn deliveries(s: &JobsServer) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for e in s.entries() {
        *seen
            .entry(e["id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    seen
}

#[test]
fn kill_9_during_a_10k_drain_loses_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.db");
    let yaml = config(2, &["d1"], &boltdb("d1", &file, 200), "");
    let mut s = JobsServer::start(&yaml);
    let n = 10_000;
    let pushed = Instant::now();
    for b in 0..n / 100 {
        s.push(
            (0..100)
                .map(|i| job("d1", "ack", &format!("k{}", b * 100 + i)))
                .collect(),
        )
        .unwrap();
    }
    let push_secs = pushed.elapsed().as_secs_f64();
    // Mid-drain: some done, most not.
    s.wait_entries(LIMIT, |e| e.len() >= 1500);
    let pid = i32::try_from(s.server.pid()).unwrap();
    assert_eq!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .code(),
        Some(0)
    );
    s.server.wait_exit(LIMIT).expect("killed");
    let before_restart = s.entries().len();
    let log = s.log.clone();
    drop(s);

    let s = JobsServer::start_with_log(&yaml, &[], log);
    s.wait_entries(LIMIT, |e| {
        let ids: std::collections::HashSet<&str> =
            e.iter().filter_map(|v| v["id"].as_str()).collect();
        ids.len() >= n
    });
    let seen = deliveries(&s);
    let lost = (0..n)
        .filter(|i| !seen.contains_key(&format!("k{i}")))
        .count();
    let duplicated = seen.values().filter(|c| **c > 1).count();
    eprintln!(
        "durable kill -9: pushed={n} push_secs={push_secs:.2} delivered_before_kill={before_restart} \
         delivered_total={} duplicated={duplicated} lost={lost}",
        seen.values().sum::<usize>()
    );
    assert_eq!(lost, 0);
    assert_eq!(seen.len(), n, "no unknown ids");
    // Redeliveries: what was in flight at the kill (prefetch 200) and the
    // acks of the last uncommitted round (acks are not waited for).
    assert!(duplicated < 2000, "duplicated {duplicated}");
}

#[test]
fn graceful_stop_keeps_queued_jobs_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keep.db");
    // Not consumed: the jobs stay queued on disk.
    let paused = config(1, &[], &boltdb("d1", &file, 10), "");
    let mut s = JobsServer::start(&paused);
    s.push(
        (0..50)
            .map(|i| job("d1", "ack", &format!("g{i}")))
            .collect(),
    )
    .unwrap();
    assert_eq!(s.stats()["d1"].active, 50);
    assert_eq!(s.stats()["d1"].driver, "boltdb");
    let status = s.server.terminate(LIMIT).expect("stops");
    assert!(status.success());
    assert!(
        !s.server.output().contains("dropped"),
        "{}",
        s.server.output()
    );
    let log = s.log.clone();
    drop(s);

    let consuming = config(1, &["d1"], &boltdb("d1", &file, 10), "");
    let mut s = JobsServer::start_with_log(&consuming, &[], log);
    s.wait_entries(LIMIT, |e| e.len() >= 50);
    s.wait_stats(LIMIT, |st| st["d1"].active == 0 && st["d1"].reserved == 0);
    let seen = deliveries(&s);
    assert_eq!(seen.len(), 50);
    assert!(seen.values().all(|c| *c == 1), "{seen:?}");
    assert!(
        s.server.output().contains("recovered jobs"),
        "{}",
        s.server.output()
    );
}

#[test]
fn a_file_that_is_not_a_database_fails_the_start_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rr.db");
    std::fs::write(&file, b"this is a bbolt file, not redb").unwrap();
    let yaml = config(1, &["d1"], &boltdb("d1", &file, 10), "");
    let mut server = coyote_test_support::Server::start(common::BIN, &yaml, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    assert!(!status.success());
    let out = server.output();
    assert!(
        out.contains("jobs.pipelines.d1") && out.contains("rr.db"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"this is a bbolt file, not redb",
        "left untouched"
    );
}
