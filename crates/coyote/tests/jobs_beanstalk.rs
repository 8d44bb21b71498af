//! End-to-end: the `beanstalk` driver against a real beanstalkd (from
//! `COYOTE_TEST_BEANSTALK`; `scripts/test` starts one when none answers):
//! the reply table, delays, pause / resume, declare / destroy, Stat, and a
//! link cut through a fault proxy mid-drain (redial, nothing lost).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::jobs::{config, job, job_with, of, JobsServer};
use coyote_test_support::FaultProxy;

const LIMIT: Duration = Duration::from_secs(30);

fn beanstalkd() -> SocketAddr {
    let addr = std::env::var("COYOTE_TEST_BEANSTALK").unwrap_or_else(|_| "127.0.0.1:11300".into());
    let sock = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("bad COYOTE_TEST_BEANSTALK {addr:?}"));
    assert!(
        std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(2)).is_ok(),
        "no beanstalkd at {addr}: run the suite through scripts/test, which starts one \
         (or set COYOTE_TEST_BEANSTALK)"
    );
    sock
}

/// A tube name no other test (or run) uses.
fn tube() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "coyote-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn yaml(addr: SocketAddr, tube: &str, workers: usize, consume: &[&str]) -> String {
    let pipelines = format!(
        "    b1:\n      driver: beanstalk\n      config:\n        tube: {tube}\n        reserve_timeout: 1\n        prefetch: 20\n"
    );
    config(workers, consume, &pipelines, "").replace(
        "jobs:\n",
        &format!("beanstalk:\n  addr: tcp://{addr}\n  timeout: 10s\njobs:\n"),
    )
}

#[test]
fn every_reply_type_through_beanstalkd() {
    let addr = beanstalkd();
    let mut s = JobsServer::start(&yaml(addr, &tube(), 2, &["b1"]));
    let names = [
        "ack",
        "nack",
        "fail",
        "error",
        "requeue:2",
        "fail-requeue:1",
        "crash",
        "garbage",
    ];
    let expected = [1, 1, 1, 1, 3, 2, 2, 1];
    s.push(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| job("b1", n, &format!("j{i}")))
            .collect(),
    )
    .unwrap();
    let total: usize = expected.iter().sum();
    s.wait_entries(LIMIT, |e| e.len() >= total);
    s.wait_stats(LIMIT, |st| st["b1"].active == 0 && st["b1"].reserved == 0);
    let entries = s.entries();
    for (i, (name, want)) in names.iter().zip(expected).enumerate() {
        assert_eq!(
            of(&entries, &format!("j{i}")).len(),
            want,
            "{name}: {entries:#?}"
        );
    }
    let requeued = of(&entries, "j4");
    assert_eq!(requeued.last().unwrap()["headers"]["attempt"][0], "2");
    assert_eq!(requeued[0]["driver"], "beanstalk");
    assert_eq!(entries.len(), total);
}

#[test]
fn delay_pause_resume_declare_destroy_and_stat() {
    let addr = beanstalkd();
    let t = tube();
    let mut s = JobsServer::start(&yaml(addr, &t, 1, &[]));
    let st = s.stats();
    assert_eq!(
        (st["b1"].driver.as_str(), st["b1"].queue.as_str()),
        ("beanstalk", t.as_str())
    );
    assert!(!st["b1"].ready);
    let pushed = Instant::now();
    s.push(vec![
        job("b1", "ack", "now"),
        job_with("b1", "ack", "later", |o| o.delay = 1),
    ])
    .unwrap();
    s.wait_stats(LIMIT, |st| st["b1"].active == 1 && st["b1"].delayed == 1);
    assert!(s.entries().is_empty(), "consumed while paused");
    s.pipelines("Resume", &["b1"]).unwrap();
    s.wait_entries(LIMIT, |e| {
        of(e, "now").len() == 1 && of(e, "later").len() == 1
    });
    assert!(pushed.elapsed() >= Duration::from_millis(950));
    s.pipelines("Pause", &["b1"]).unwrap();

    let t2 = tube();
    s.declare(&[("driver", "beanstalk"), ("name", "b2"), ("tube", &t2)])
        .unwrap();
    s.push(vec![job("b2", "ack", "d1")]).unwrap();
    s.pipelines("Resume", &["b2"]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "d1").len() == 1);
    assert_eq!(s.pipelines("Destroy", &["b2"]).unwrap(), ["b2"]);
    let err = s.push(vec![job("b2", "ack", "gone")]).unwrap_err();
    assert!(err.contains("no such pipeline"), "{err}");
}

#[test]
fn a_cut_link_is_redialed_and_nothing_is_lost() {
    let upstream = beanstalkd();
    let proxy = FaultProxy::start(upstream).unwrap();
    let mut s = JobsServer::start(&yaml(proxy.addr(), &tube(), 2, &["b1"]));
    let mut pushed = 0usize;
    let mut refused = 0usize;
    for b in 0..10 {
        s.push(
            (0..100)
                .map(|i| job("b1", "ack", &format!("k{}", b * 100 + i)))
                .collect(),
        )
        .unwrap();
        pushed += 100;
    }
    s.wait_entries(LIMIT, |e| e.len() >= 200);
    proxy.cut();
    let cut_at = Instant::now();
    // Pushes during the outage are errors to the caller, never accepted
    // and dropped.
    for i in 0..5 {
        if s.push(vec![job("b1", "ack", &format!("x{i}"))]).is_err() {
            refused += 1;
        } else {
            pushed += 1;
        }
    }
    s.wait_error("b1", LIMIT, |e| !e.is_empty());
    let ready = common::get(s.server.port("status", "status"), "/ready?plugin=jobs", "");
    assert_eq!(
        ready.status, 503,
        "not ready while the broker is out of reach"
    );
    proxy.restore();
    s.wait_error("b1", LIMIT, |e| e.is_empty());
    let resume_ms = cut_at.elapsed().as_millis();
    // Pushes work again after the redial.
    for i in 0..5 {
        s.push(vec![job("b1", "ack", &format!("y{i}"))]).unwrap();
        pushed += 1;
    }
    let entries = s.wait_entries(Duration::from_secs(60), |e| {
        let ids: std::collections::HashSet<&str> =
            e.iter().filter_map(|v| v["id"].as_str()).collect();
        ids.len() >= pushed
    });
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for e in &entries {
        *seen.entry(e["id"].as_str().unwrap()).or_default() += 1;
    }
    let duplicated = seen.values().filter(|c| **c > 1).count();
    eprintln!(
        "beanstalk fault: pushed={pushed} refused_during_cut={refused} delivered={} duplicated={duplicated} lost=0 resume_ms={resume_ms}",
        entries.len()
    );
    assert_eq!(
        seen.len(),
        pushed,
        "every pushed job delivered, none unknown"
    );
    assert!(refused > 0, "pushes during the cut must fail");
}
