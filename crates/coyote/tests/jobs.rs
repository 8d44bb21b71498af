//! End-to-end: the jobs plugin with real PHP workers (memory driver):
//! every reply type of RoadRunner's table, priorities, delays, requeue with
//! attempts, nack, auto_ack, pause / resume, declare / destroy, bad input,
//! reset under load, graceful stop, and what operators see (Stat,
//! informer.Jobs, status /jobs, metrics, `coyote jobs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::jobs::{config, job, job_with, of, JobsServer};
use coyote_jobs::proto;

const LIMIT: Duration = Duration::from_secs(20);

fn memory(name: &str, extra: &str) -> String {
    format!("    {name}:\n      driver: memory\n      config:\n        priority: 10\n{extra}")
}

#[test]
fn every_reply_type_settles_its_job() {
    let mut s = JobsServer::start(&config(2, &["p1"], &memory("p1", ""), ""));
    let entries = s.settles_every_reply_type(LIMIT, "memory", "p1");
    let out = s.server.output();
    assert!(out.contains("unreadable reply"), "{out}");
    assert!(out.contains("boom from php"), "{out}");
    assert!(out.contains("unknown response type"), "{out}");
    // Nothing lost, nothing stuck: exactly the expected deliveries.
    assert_eq!(s.entries().len(), entries.len());
}

#[test]
fn lower_priority_numbers_run_first_and_pipeline_priority_is_inherited() {
    let mut s = JobsServer::start(&config(1, &[], &memory("p1", ""), "  num_pollers: 1"));
    let jobs = [(5, "a"), (1, "b"), (0, "c"), (3, "d"), (1, "e"), (20, "f")]
        .iter()
        .map(|(p, id)| job_with("p1", "ack", id, |o| o.priority = *p))
        .collect();
    s.push(jobs).unwrap();
    assert_eq!(s.stats()["p1"].active, 6);
    assert!(!s.stats()["p1"].ready, "not in consume: paused");
    s.pipelines("Resume", &["p1"]).unwrap();
    let entries = s.wait_entries(LIMIT, |e| e.len() == 6);
    let order: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    // 1, 1 (first in, first out), 3, 5, 10 (inherited), 20.
    assert_eq!(order, ["b", "e", "d", "a", "c", "f"]);
}

#[test]
fn delays_and_delayed_requeues_wait() {
    let mut s = JobsServer::start(&config(2, &["p1"], &memory("p1", ""), ""));
    let pushed = Instant::now();
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    s.push(vec![
        job_with("p1", "ack", "later", |o| o.delay = 1),
        job("p1", "delay:1", "twice"),
        job("p1", "ack", "now"),
    ])
    .unwrap();
    let st = s.stats();
    assert!(st["p1"].delayed >= 1, "{st:?}");
    let entries = s.wait_entries(LIMIT, |e| {
        of(e, "later").len() == 1 && of(e, "twice").len() == 2 && of(e, "now").len() == 1
    });
    let at = |id: &str, n: usize| of(&entries, id)[n]["t"].as_f64().unwrap() - epoch;
    assert!(
        at("later", 0) >= 0.95,
        "delayed job ran after {}s",
        at("later", 0)
    );
    assert!(at("twice", 1) - at("twice", 0) >= 0.95, "requeue delay");
    assert!(at("now", 0) < 0.95, "undelayed job waited");
    assert!(pushed.elapsed() >= Duration::from_millis(950));
    assert_eq!(of(&entries, "twice")[1]["headers"]["delayed"][0], "1");
}

#[test]
fn auto_ack_jobs_are_not_redelivered_when_the_worker_dies() {
    let mut s = JobsServer::start(&config(2, &["p1"], &memory("p1", ""), ""));
    s.push(vec![
        job_with("p1", "crash-always", "auto", |o| o.auto_ack = true),
        job("p1", "crash", "plain"),
    ])
    .unwrap();
    s.wait_entries(LIMIT, |e| of(e, "plain").len() == 2);
    s.wait_stats(LIMIT, |st| st["p1"].reserved == 0 && st["p1"].active == 0);
    assert_eq!(of(&s.entries(), "auto").len(), 1);
}

#[test]
fn pause_resume_declare_destroy_and_list() {
    let mut s = JobsServer::start(&config(2, &["p1", "rt"], &memory("p1", ""), ""));
    s.pipelines("Pause", &["p1"]).unwrap();
    s.push((0..3).map(|i| job("p1", "ack", &format!("p{i}"))).collect())
        .unwrap();
    let st = s.stats();
    assert_eq!((st["p1"].active, st["p1"].ready), (3, false), "{st:?}");
    assert!(s.entries().is_empty(), "consumed while paused");
    s.pipelines("Resume", &["p1"]).unwrap();
    s.wait_entries(LIMIT, |e| e.len() == 3);

    // Declared at runtime: consumed at once when listed in `consume`...
    s.declare(&[("driver", "memory"), ("name", "rt"), ("priority", "4")])
        .unwrap();
    // ... otherwise only after Resume.
    s.declare(&[("driver", "memory"), ("name", "idle")])
        .unwrap();
    let mut list = s.pipelines("List", &[]).unwrap();
    list.sort();
    assert_eq!(list, ["idle", "p1", "rt"]);
    let st = s.stats();
    assert!(st["rt"].ready && !st["idle"].ready, "{st:?}");
    assert_eq!(st["rt"].priority, 4);
    s.push(vec![job("rt", "ack", "r1"), job("idle", "ack", "i1")])
        .unwrap();
    s.wait_entries(LIMIT, |e| of(e, "r1").len() == 1);
    assert_eq!(s.stats()["idle"].active, 1);
    s.pipelines("Resume", &["idle"]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "i1").len() == 1);
    assert!(s
        .declare(&[("driver", "memory"), ("name", "rt")])
        .unwrap_err()
        .contains("already exists"));

    assert_eq!(
        s.pipelines("Destroy", &["rt", "idle"]).unwrap(),
        ["rt", "idle"]
    );
    assert_eq!(s.pipelines("List", &[]).unwrap(), ["p1"]);
    let err = s.push(vec![job("rt", "ack", "gone")]).unwrap_err();
    assert!(err.contains("no such pipeline"), "{err}");
    assert!(s
        .pipelines("Destroy", &["nope"])
        .unwrap_err()
        .contains("no such pipeline"));
    assert!(s
        .pipelines("Pause", &["nope"])
        .unwrap_err()
        .contains("no such pipeline"));
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let mut s = JobsServer::start(&config(
        1,
        &["p1"],
        &memory("p1", ""),
        "  max_job_size: 1024",
    ));
    let cases = [
        (job("nope", "ack", "x"), "no such pipeline, requested: nope"),
        (job("p1", "ack", ""), "empty ID field not allowed"),
        (
            job_with("p1", "ack", "x", |o| o.priority = -1),
            "priority -1 is negative",
        ),
        (
            job_with("p1", "ack", "x", |o| o.delay = -5),
            "delay -5 is negative",
        ),
    ];
    for (j, want) in cases {
        let err = s
            .call("Push", &proto::PushRequest { job: Some(j) })
            .unwrap_err();
        assert!(err.contains(want), "{err} lacks {want}");
    }
    let mut big = job("p1", "ack", "big");
    big.payload = vec![b'x'; 2048].into();
    let err = s.push(vec![job("p1", "ack", "fine"), big]).unwrap_err();
    assert!(err.contains("max_job_size"), "{err}");
    // One bad job refuses the whole batch: "fine" was not queued.
    let err = s
        .call_bytes("Push", bytes::Bytes::from_static(b"\xff\xff\xff"))
        .unwrap_err();
    assert!(err.contains("cannot decode"), "{err}");
    let err = s
        .declare(&[("driver", "kafka"), ("name", "k")])
        .unwrap_err();
    assert!(err.contains("not available"), "{err}");
    // Payloads need not be UTF-8.
    let mut binary = job("p1", "ack", "bin");
    binary.payload = vec![0xff, 0x00, 0xfe].into();
    s.push(vec![binary]).unwrap();
    let e = s.wait_entries(LIMIT, |e| of(e, "bin").len() == 1);
    assert_eq!(of(&e, "bin")[0]["payload"], "base64:/wD+");
    assert!(of(&s.entries(), "fine").is_empty());
    assert_eq!(s.stats()["p1"].active, 0);
}

#[test]
fn a_job_that_always_kills_its_worker_is_dropped_after_three_deliveries() {
    let mut s = JobsServer::start(&config(1, &["p1"], &memory("p1", ""), ""));
    s.push(vec![
        job("p1", "crash-always", "poison"),
        job("p1", "ack", "after"),
    ])
    .unwrap();
    s.wait_entries(LIMIT, |e| {
        of(e, "poison").len() == 3 && of(e, "after").len() == 1
    });
    s.wait_stats(LIMIT, |st| st["p1"].reserved == 0 && st["p1"].active == 0);
    assert_eq!(of(&s.entries(), "poison").len(), 3);
    assert!(
        s.server.output().contains("dropping it"),
        "{}",
        s.server.output()
    );
}
