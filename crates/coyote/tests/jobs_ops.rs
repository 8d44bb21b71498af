//! End-to-end: operating the jobs plugin — what `status /jobs`,
//! `informer.Jobs`, metrics and `coyote jobs` show, `coyote reset jobs`
//! under load (no job lost or run twice), graceful stop (in-flight jobs
//! finish; the memory driver reports what it drops), config errors at
//! their keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::jobs::{config, job, of, JobsServer};
use common::{cli, get, BIN};
use coyote_test_support::Server;

const LIMIT: Duration = Duration::from_secs(30);

fn memory(name: &str) -> String {
    format!("    {name}:\n      driver: memory\n      config:\n        priority: 7\n")
}

#[test]
fn stat_informer_status_metrics_and_the_cli_agree() {
    let yaml = config(2, &["p1"], &(memory("p1") + &memory("p2")), "")
        .replace("status:", "metrics:\n  address: 127.0.0.1:0\nstatus:");
    let mut s = JobsServer::start(&yaml);
    s.push(vec![
        job("p1", "ack", "a"),
        job("p2", "ack", "b"),
        job("p2", "ack", "c"),
    ])
    .unwrap();
    s.wait_entries(LIMIT, |e| e.len() == 1);
    s.wait_stats(LIMIT, |st| st["p1"].reserved == 0 && st["p1"].active == 0);

    let status = s.server.port("status", "status");
    let r = get(status, "/jobs", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let by_name: BTreeMap<String, serde_json::Value> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["pipeline"].as_str().unwrap().to_owned(), v.clone()))
        .collect();
    assert_eq!(by_name["p2"]["active"], 2);
    assert_eq!(by_name["p2"]["ready"], false);
    assert_eq!(by_name["p1"]["driver"], "memory");
    assert_eq!(by_name["p1"]["priority"], 7);

    let out = cli(&s.server, &["jobs", "list"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p2 = text.lines().find(|l| l.contains("p2")).unwrap();
    let cols: Vec<&str> = p2.split_whitespace().collect();
    assert_eq!(
        cols,
        ["paused", "p2", "memory", "p2", "7", "2", "0", "0"],
        "{text}"
    );

    let out = cli(&s.server, &["jobs", "resume", "p2"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "resumed: p2\n");
    s.wait_entries(LIMIT, |e| e.len() == 3);
    let out = cli(&s.server, &["jobs", "pause", "p2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "paused: p2\n");
    let out = cli(&s.server, &["jobs", "pause", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such pipeline"));
    let out = cli(&s.server, &["jobs", "destroy", "p2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "destroyed: p2\n");
    assert_eq!(s.pipelines("List", &[]).unwrap(), ["p1"]);

    // informer.Jobs over JSON, as `rr` and PHP tooling call it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let address = s.server.address("rpc", "rpc").unwrap();
    let states: serde_json::Value = rt.block_on(async {
        let mut c = coyote_rpc::RpcClient::connect(&address).await.unwrap();
        c.call_json("informer.Jobs", &"jobs").await.unwrap()
    });
    assert_eq!(states[0]["pipeline"], "p1");
    assert_eq!(states[0]["queue"], "p1");

    let metrics = get(s.server.port("metrics", "metrics"), "/metrics", "").text();
    for line in [
        "rr_jobs_jobs_ok 3",
        "rr_jobs_push_ok 3",
        "rr_jobs_jobs_err 0",
        "rr_jobs_push_err 0",
        "rr_jobs_total_workers 2",
        "rr_jobs_pipeline_active{pipeline=\"p1\",driver=\"memory\"} 0",
        "rr_jobs_pipeline_ready{pipeline=\"p1\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
}

#[test]
fn reset_under_load_loses_and_repeats_nothing() {
    let mut s = JobsServer::start(&config(2, &["p1"], &memory("p1"), ""));
    let before = common::worker_pids_of(&s.server, "jobs");
    let n = 300;
    s.push(
        (0..n)
            .map(|i| job("p1", "slow:4", &format!("r{i}")))
            .collect(),
    )
    .unwrap();
    s.wait_entries(LIMIT, |e| e.len() >= 20);
    let out = cli(&s.server, &["reset", "jobs"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = s.wait_entries(LIMIT, |e| e.len() >= n);
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    for i in 0..n {
        assert_eq!(of(&entries, &format!("r{i}")).len(), 1, "r{i}");
    }
    assert_eq!(s.entries().len(), n);
    let after = common::worker_pids_of(&s.server, "jobs");
    assert!(
        before.iter().all(|p| !after.contains(p)),
        "{before:?} {after:?}"
    );
}

#[test]
fn graceful_stop_finishes_in_flight_jobs_and_reports_dropped_ones() {
    let mut s = JobsServer::start(&config(1, &["p1"], &memory("p1"), ""));
    let n = 20;
    let mut batch = vec![job("p1", "slow:400", "slow")];
    batch.extend((0..n).map(|i| job("p1", "ack", &format!("q{i}"))));
    s.push(batch).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "slow").len() == 1);
    let status = s.server.terminate(LIMIT).expect("stopped in time");
    assert!(status.success(), "{status:?}\n{}", s.server.output());
    let out = s.server.output();
    let done = s.entries().len();
    let dropped: usize = out
        .lines()
        .find_map(|l| {
            let at = l.find("pipeline stopped: ")?;
            l[at + 18..].split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0);
    assert!(done >= 1, "the in-flight job finished");
    assert_eq!(
        done + dropped,
        n + 1,
        "every job ran or is reported dropped\n{out}"
    );
    assert!(dropped > 0, "{out}");
}

#[test]
fn config_errors_name_their_keys() {
    let bad = config(
        1,
        &["p1"],
        "    p1:\n      driver: kafka\n    p2:\n      config:\n        priority: 1\n    p3:\n      driver: memory\n      config:\n        priority: -2\n        prefetch: lots\n    p4:\n      driver: boltdb\n      config:\n        permissions: 99999\n",
        "  pipeline_size: 0\n  timeout: soon",
    );
    let mut server = Server::start(BIN, &bad, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    assert_eq!(status.code(), Some(3), "{}", server.output());
    let out = server.output();
    for want in [
        "jobs.pipelines.p1.driver: driver kafka is not available",
        "jobs.pipelines.p2: required key driver is missing",
        "jobs.pipelines.p3.config.prefetch: invalid type",
        "jobs.timeout:",
        "jobs.pipelines.p4.config.permissions: 303237 is not a file mode",
    ] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
    // Every problem carries file:line:col.
    assert!(out.contains(".rr.yaml:"), "{out}");
}
