//! End-to-end: the amqp jobs driver against a real RabbitMQ
//! (`COYOTE_TEST_AMQP`, started by `scripts/test` when none answers) and
//! real PHP workers: every reply type, delays through RoadRunner's
//! dead-letter queues, pause / resume, declare / destroy, RoadRunner's
//! message format both ways (read raw with lapin), link faults through a
//! TCP proxy, a killed server's jobs, two servers sharing one queue.
//! Configuration mistakes are in `jobs_amqp_start.rs`. Every test uses its
//! own queue and exchange names and deletes them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod amqp;
mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use amqp::*;
use common::jobs::{job, job_with, of, JobsServer};
use coyote_jobs::proto;
use coyote_test_support::{wait_until, FaultProxy};
use lapin::types::{AMQPValue, ByteArray, FieldTable};

#[test]
fn every_reply_type_settles_its_job() {
    let n = names("replies");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let mut s = JobsServer::start(&amqp_config(
        2,
        &["p1"],
        &pipeline("p1", &n, ""),
        &amqp_addr(),
    ));
    let entries = s.settles_every_reply_type(LIMIT, "amqp", n.queue.as_str());
    let out = s.server.output();
    assert!(out.contains("boom from php"), "{out}");
    // Nothing left on the broker either: every message settled.
    let settled = wait_until(LIMIT, || (amqp.count(&n.queue) == Some(0)).then_some(()));
    assert!(settled.is_some(), "{:?} left", amqp.count(&n.queue));
    assert_eq!(s.entries().len(), entries.len());
}

#[test]
fn requeue_on_fail_returns_failed_jobs_to_the_queue() {
    let n = names("onfail");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let mut s = JobsServer::start(&amqp_config(
        1,
        &["p1"],
        &pipeline("p1", &n, "        requeue_on_fail: true\n"),
        &amqp_addr(),
    ));
    // A worker error is RoadRunner's Nack(): redelivered with requeue_on_fail.
    s.push(vec![job("p1", "error", "e1"), job("p1", "nack", "n1")])
        .unwrap();
    s.wait_entries(LIMIT, |e| of(e, "e1").len() >= 3 && of(e, "n1").len() == 1);
    s.pipelines("Pause", &["p1"]).unwrap();
    // A nack without requeue is not a failure: dropped.
    assert_eq!(of(&s.entries(), "n1").len(), 1);
}

#[test]
fn delays_and_delayed_requeues_are_honoured() {
    let n = names("delay");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[1, 2]);
    let mut s = JobsServer::start(&amqp_config(
        2,
        &["p1"],
        &pipeline("p1", &n, ""),
        &amqp_addr(),
    ));
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    s.push(vec![
        job_with("p1", "ack", "later", |o| o.delay = 2),
        job("p1", "delay:1", "twice"),
        job("p1", "ack", "now"),
    ])
    .unwrap();
    // RoadRunner's dead-letter queue holds it meanwhile.
    assert_eq!(amqp.count(&delay_queue(&n, 2)), Some(1));
    s.wait_stats(LIMIT, |st| st["p1"].delayed >= 1);
    let entries = s.wait_entries(LIMIT, |e| {
        of(e, "later").len() == 1 && of(e, "twice").len() == 2 && of(e, "now").len() == 1
    });
    let at = |id: &str, i: usize| of(&entries, id)[i]["t"].as_f64().unwrap() - epoch;
    assert!(
        at("later", 0) >= 1.95,
        "delayed job ran after {}s",
        at("later", 0)
    );
    assert!(
        at("twice", 1) - at("twice", 0) >= 0.95,
        "requeue delay: {}s",
        at("twice", 1) - at("twice", 0)
    );
    assert!(at("now", 0) < 1.0, "undelayed job waited {}s", at("now", 0));
    assert_eq!(of(&entries, "twice")[1]["headers"]["delayed"][0], "1");
    s.wait_stats(LIMIT, |st| st["p1"].delayed == 0 && st["p1"].active == 0);
}

#[test]
fn pause_takes_deliveries_back_and_resume_consumes_them_once() {
    let n = names("pause");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let mut s = JobsServer::start(&amqp_config(
        1,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 10\n        priority: 3\n"),
        &amqp_addr(),
    ));
    let st = s.stats();
    assert_eq!(
        (
            st["p1"].driver.as_str(),
            st["p1"].queue.as_str(),
            st["p1"].priority,
            st["p1"].ready
        ),
        ("amqp", n.queue.as_str(), 3, true)
    );
    // Paused while the worker runs one and nine wait in the plugin queue.
    s.push(
        (0..20)
            .map(|i| job("p1", "slow:100", &format!("s{i}")))
            .collect(),
    )
    .unwrap();
    s.wait_entries(LIMIT, |e| !e.is_empty());
    s.pipelines("Pause", &["p1"]).unwrap();
    let st = s.wait_stats(LIMIT, |st| st["p1"].reserved == 0 && !st["p1"].ready);
    let before = s.entries().len();
    assert!(before < 20, "{before} ran, pause took nothing back");
    // Nothing more runs while paused; Stat counts what waits on the broker.
    s.push((0..3).map(|i| job("p1", "ack", &format!("a{i}"))).collect())
        .unwrap();
    let want = 23 - i64::try_from(before).unwrap();
    let st2 = s.wait_stats(LIMIT, |st| st["p1"].active == want);
    assert!(!st2["p1"].ready, "{st:?}");
    assert_eq!(s.entries().len(), before, "consumed while paused");
    s.pipelines("Resume", &["p1"]).unwrap();
    let entries = s.wait_entries(LIMIT, |e| counts(e).len() == 23);
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    let seen = counts(&s.entries());
    assert!(seen.values().all(|c| *c == 1), "{seen:?}");
    assert_eq!(entries.len(), 23);
    assert!(
        s.pipelines("Resume", &["p1"]).is_ok(),
        "resuming twice is logged, not an error"
    );
}

#[test]
fn declare_consume_and_destroy_an_amqp_pipeline() {
    let n = names("declare");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let other = names("declare-idle");
    amqp.own(&other, &[]);
    let memory = "    m1:\n      driver: memory\n";
    let mut s = JobsServer::start(&amqp_config(2, &["rt"], memory, &amqp_addr()));
    s.declare(&[
        ("driver", "amqp"),
        ("name", "rt"),
        ("queue", &n.queue),
        ("exchange", &n.exchange),
        ("routing_key", &n.queue),
        ("prefetch", "5"),
        ("priority", "4"),
        ("durable", "true"),
        ("delete_queue_on_stop", "true"),
        ("queue_headers", r#"{"x-max-priority": 10}"#),
    ])
    .unwrap();
    s.declare(&[
        ("driver", "amqp"),
        ("name", "idle"),
        ("queue", &other.queue),
        ("exchange", &other.exchange),
        ("exchange_type", "fanout"),
    ])
    .unwrap();
    let st = s.stats();
    assert!(st["rt"].ready && !st["idle"].ready, "{st:?}");
    assert_eq!(st["rt"].priority, 4);
    s.push(vec![job("rt", "ack", "r1"), job("idle", "ack", "i1")])
        .unwrap();
    s.wait_entries(LIMIT, |e| of(e, "r1").len() == 1);
    // Not consumed yet, but stored: the queue was declared with the pipeline.
    s.wait_stats(LIMIT, |st| st["idle"].active == 1);
    s.pipelines("Resume", &["idle"]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "i1").len() == 1);
    let err = s
        .declare(&[("driver", "amqp"), ("name", "bad"), ("prefetch", "lots")])
        .unwrap_err();
    assert!(err.contains("prefetch"), "{err}");
    let err = s
        .declare(&[
            ("driver", "amqp"),
            ("name", "bad"),
            ("addr", "x"),
            ("exchange_type", "sideways"),
        ])
        .unwrap_err();
    assert!(err.contains("exchange_type"), "{err}");
    assert!(amqp.count(&n.queue).is_some());
    assert_eq!(s.pipelines("Destroy", &["rt"]).unwrap(), ["rt"]);
    let mut list = s.pipelines("List", &[]).unwrap();
    list.sort();
    assert_eq!(list, ["idle", "m1"]);
    assert_eq!(amqp.count(&n.queue), None, "delete_queue_on_stop");
    assert!(amqp.count(&other.queue).is_some());
    let err = s.push(vec![job("rt", "ack", "gone")]).unwrap_err();
    assert!(err.contains("no such pipeline"), "{err}");
}

#[test]
fn roadrunner_messages_are_consumed() {
    let n = names("from-rr");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let s = JobsServer::start(&amqp_config(
        1,
        &["p1"],
        &pipeline("p1", &n, ""),
        &amqp_addr(),
    ));
    // What RoadRunner's driver publishes (amqp091-go's field types).
    let mut h = FieldTable::default();
    h.insert("rr_id".into(), long("rr-1"));
    h.insert("rr_job".into(), long("ack"));
    h.insert("rr_pipeline".into(), long("elsewhere"));
    h.insert(
        "rr_headers".into(),
        AMQPValue::ByteArray(ByteArray::from(
            br#"{"attempt":["7"],"tags":["a","b"]}"#.to_vec(),
        )),
    );
    h.insert("rr_delay".into(), AMQPValue::LongInt(0));
    h.insert("rr_priority".into(), AMQPValue::LongLongInt(5));
    h.insert("rr_auto_ack".into(), AMQPValue::Boolean(false));
    amqp.publish(&n.exchange, &n.queue, h, b"from roadrunner");
    // A plain AMQP message: a raw job with a fresh id, its headers kept.
    let mut h = FieldTable::default();
    h.insert("x-trace".into(), long("abc"));
    h.insert("n".into(), AMQPValue::ShortInt(3));
    amqp.publish(&n.exchange, &n.queue, h, b"just text");
    let entries = s.wait_entries(LIMIT, |e| e.len() == 2);
    let rr = of(&entries, "rr-1");
    assert_eq!(rr.len(), 1, "{entries:#?}");
    assert_eq!(rr[0]["name"], "ack");
    assert_eq!(rr[0]["payload"], "from roadrunner");
    assert_eq!(rr[0]["pipeline"], "p1");
    assert_eq!(rr[0]["queue"], n.queue.as_str());
    assert_eq!(rr[0]["headers"]["attempt"], serde_json::json!(["7"]));
    assert_eq!(rr[0]["headers"]["tags"], serde_json::json!(["a", "b"]));
    let raw = entries.iter().find(|e| e["id"] != "rr-1").unwrap();
    assert_eq!(raw["name"], "deduced_by_rr");
    assert_eq!(raw["payload"], "just text");
    assert_eq!(raw["id"].as_str().unwrap().len(), 36, "{raw}");
    assert_eq!(raw["headers"]["x-trace"], serde_json::json!(["abc"]));
    assert_eq!(raw["headers"]["n"], serde_json::json!(["3"]));
    let settled = wait_until(LIMIT, || (amqp.count(&n.queue) == Some(0)).then_some(()));
    assert!(settled.is_some());
}

#[test]
fn coyote_publishes_roadrunners_format() {
    let n = names("to-rr");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    // Not consumed: the message stays in the queue for the raw reader.
    let mut s = JobsServer::start(&amqp_config(1, &[], &pipeline("p1", &n, ""), &amqp_addr()));
    let mut j = job_with("p1", "App\\Job", "c-1", |o| {
        o.priority = 5;
        o.auto_ack = true;
    });
    j.headers.insert(
        "h".into(),
        proto::HeaderValue {
            value: vec!["v1".into(), "v2".into()],
        },
    );
    s.push(vec![j]).unwrap();
    let (props, body) = amqp.get(&n.queue).expect("a message in the queue");
    assert_eq!(body, b"payload-c-1");
    assert_eq!(props.delivery_mode(), &Some(2));
    assert_eq!(
        props.content_type().as_ref().map(|c| c.as_str()),
        Some("application/octet-stream")
    );
    assert!(props.timestamp().is_some());
    let headers = props.headers().as_ref().unwrap().inner();
    let field = |k: &str| {
        headers
            .get(k)
            .unwrap_or_else(|| panic!("{k} in {headers:?}"))
    };
    assert_eq!(field("rr_id"), &long("c-1"));
    assert_eq!(field("rr_job"), &long("App\\Job"));
    assert_eq!(field("rr_pipeline"), &long("p1"));
    assert_eq!(field("rr_delay"), &AMQPValue::LongInt(0));
    assert_eq!(field("rr_priority"), &AMQPValue::LongLongInt(5));
    assert_eq!(field("rr_auto_ack"), &AMQPValue::Boolean(true));
    let AMQPValue::ByteArray(json) = field("rr_headers") else {
        panic!("rr_headers is not a byte array: {:?}", field("rr_headers"));
    };
    let json: serde_json::Value = serde_json::from_slice(json.as_slice()).unwrap();
    assert_eq!(json, serde_json::json!({"h": ["v1", "v2"]}));
    assert_eq!(headers.len(), 7, "{headers:?}");
    // A delayed job: in RoadRunner's delay queue, with rr_delay.
    s.push(vec![job_with("p1", "ack", "c-2", |o| o.delay = 30)])
        .unwrap();
    amqp.queues.push(delay_queue(&n, 30));
    let (props, _) = amqp.get(&delay_queue(&n, 30)).expect("in the delay queue");
    let headers = props.headers().as_ref().unwrap().inner();
    assert_eq!(headers["rr_delay"], AMQPValue::LongInt(30));
    assert_eq!(headers["rr_id"], long("c-2"));
}

#[test]
fn refused_and_unroutable_pushes_are_errors() {
    let n = names("refused");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    // A queue that holds one message and refuses more (the broker nacks
    // the publish), not consumed.
    let mut s = JobsServer::start(&amqp_config(
        1,
        &[],
        &pipeline(
            "p1",
            &n,
            "        queue_headers:\n          x-max-length: 1\n          x-overflow: reject-publish\n",
        ),
        &amqp_addr(),
    ));
    s.push(vec![job("p1", "ack", "first")]).unwrap();
    let err = s.push(vec![job("p1", "ack", "second")]).unwrap_err();
    assert!(err.contains("refused job second (nack)"), "{err}");
    // Routed nowhere (RoadRunner's x-routing-key header names the key):
    // returned by the broker, an error rather than a silent drop.
    let mut j = job("p1", "ack", "lost");
    j.headers.insert(
        "x-routing-key".into(),
        proto::HeaderValue {
            value: vec!["nowhere".into()],
        },
    );
    let err = s.push(vec![j]).unwrap_err();
    assert!(err.contains("no queue is bound"), "{err}");
    assert!(err.contains("\"nowhere\""), "{err}");
    assert_eq!(amqp.count(&n.queue), Some(1));
}

// Each job takes a worker 3 ms, so that 2 workers drain at most ~650 jobs/s:
// when the link is cut after 300 entries, well over a thousand jobs are still
// in the broker (checked), and "consuming resumes" is observable. (Run with
// instant jobs, the drain could finish before the cut on a loaded machine,
// and nothing was left to resume: that was the flake once filed as a bug.)
#[test]
fn a_cut_link_fails_pushes_and_consuming_resumes_by_itself() {
    let n = names("fault");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let proxy = FaultProxy::start(amqp_socket()).unwrap();
    let mut s = JobsServer::start(&amqp_config(
        2,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 20\n"),
        &via(proxy.addr()),
    ));
    let mut pushed: HashSet<String> = HashSet::new();
    let total = 2000;
    for b in 0..total / 100 {
        let batch: Vec<proto::Job> = (0..100)
            .map(|i| job("p1", "slow:3", &format!("f{}", b * 100 + i)))
            .collect();
        s.push(batch).unwrap();
        pushed.extend((0..100).map(|i| format!("f{}", b * 100 + i)));
    }
    // Cut mid-drain.
    s.wait_entries(LIMIT, |e| e.len() >= 300);
    proxy.cut();
    let cut_at = Instant::now();
    let down = wait_until(Duration::from_secs(10), || {
        Some(s.error_of("p1")).filter(|m| !m.is_empty())
    })
    .unwrap_or_else(|| panic!("no error reported after the cut:\n{}", s.server.output()));
    assert!(down.contains("amqp"), "{down}");
    // Pushes meanwhile are errors, and fast ones.
    let mut refused = 0;
    let mut b = 0;
    while b < 5 || cut_at.elapsed() < Duration::from_secs(1) {
        let batch: Vec<proto::Job> = (0..10)
            .map(|i| job("p1", "ack", &format!("cut{}", b * 10 + i)))
            .collect();
        let began = Instant::now();
        let err = s.push(batch).unwrap_err();
        assert!(began.elapsed() < Duration::from_secs(10), "push hung");
        assert!(err.contains("amqp"), "{err}");
        refused += 10;
        b += 1;
        // Paces the attempts (not a synchronisation: each one must fail).
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = s.server.port("status", "status");
    assert_eq!(common::get(status, "/ready?plugin=jobs", "").status, 503);
    let listed = common::cli(&s.server, &["jobs", "list"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.contains("redialing"), "{listed}");
    let at_restore = s.entries().len();
    let left = amqp.count(&n.queue).unwrap_or(0);
    assert!(
        left > 100,
        "the drain got too far before the cut ({left} jobs left, {at_restore} entries): nothing to resume"
    );
    proxy.restore();
    let restored = Instant::now();
    let cut_ms = restored.duration_since(cut_at).as_millis();
    if wait_until(Duration::from_secs(60), || {
        (s.entries().len() > at_restore).then_some(())
    })
    .is_none()
    {
        let out = s.server.output();
        let tail: Vec<&str> = out.lines().rev().take(80).collect();
        panic!(
            "consuming did not resume in 60 s: stat {:?}, ready in the broker {:?}, entries {} \
             ({at_restore} at restore); server output (end):\n{}",
            s.stats().get("p1"),
            amqp.count(&n.queue),
            s.entries().len(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let resume_ms = restored.elapsed().as_millis();
    s.wait_error("p1", LIMIT, str::is_empty);
    // Pushes work again.
    for b in 0..2 {
        let batch: Vec<proto::Job> = (0..100)
            .map(|i| job("p1", "ack", &format!("g{}", b * 100 + i)))
            .collect();
        s.push(batch).unwrap();
        pushed.extend((0..100).map(|i| format!("g{}", b * 100 + i)));
    }
    let entries = s.wait_entries(Duration::from_secs(90), |e| {
        let seen = counts(e);
        pushed.iter().all(|id| seen.contains_key(id))
    });
    let seen = counts(&entries);
    let lost = pushed.iter().filter(|id| !seen.contains_key(*id)).count();
    let delivered = pushed.iter().filter(|id| seen.contains_key(*id)).count();
    let duplicated: usize = pushed
        .iter()
        .filter_map(|id| seen.get(id))
        .map(|c| c - 1)
        .sum();
    let unconfirmed = seen.keys().filter(|id| id.starts_with("cut")).count();
    assert_eq!(lost, 0);
    assert_eq!(unconfirmed, 0, "a push refused during the cut was stored");
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    eprintln!(
        "amqp fault: pushed={} delivered={delivered} duplicated={duplicated} lost={lost} \
         resume_ms={resume_ms} (cut {cut_ms} ms, {refused} pushes refused during the cut, \
         {unconfirmed} of them stored anyway)",
        pushed.len()
    );
}

#[test]
fn a_stalled_link_fails_pushes_and_is_redialed() {
    let n = names("stall");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let proxy = FaultProxy::start(amqp_socket()).unwrap();
    let mut s = JobsServer::start(&amqp_config(
        1,
        &["p1"],
        &pipeline("p1", &n, ""),
        // A short heartbeat: the stall is found dead sooner.
        &format!("{}?heartbeat=2", via(proxy.addr())),
    ));
    s.push(vec![job("p1", "ack", "before")]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "before").len() == 1);
    proxy.stall();
    let stalled = Instant::now();
    let err = s.push(vec![job("p1", "ack", "stalled")]).unwrap_err();
    let took = stalled.elapsed();
    assert!(took < Duration::from_secs(15), "push took {took:?}");
    assert!(err.contains("amqp"), "{err}");
    // Missed heartbeats: the link is dead, the pipeline says so.
    s.wait_error("p1", LIMIT, |m| m.contains("redialing"));
    let detected_ms = stalled.elapsed().as_millis();
    proxy.restore();
    let restored = Instant::now();
    let ok = wait_until(LIMIT, || s.push(vec![job("p1", "ack", "after")]).ok());
    assert!(ok.is_some(), "pushes never worked again");
    s.wait_entries(LIMIT, |e| !of(e, "after").is_empty());
    let resume_ms = restored.elapsed().as_millis();
    let entries = s.entries();
    eprintln!(
        "amqp stall: push failed after {} ms, link found dead after {detected_ms} ms, \
         consuming again {resume_ms} ms after the restore; the unconfirmed push ran {} times",
        took.as_millis(),
        of(&entries, "stalled").len()
    );
}

#[test]
fn jobs_of_a_killed_server_are_redelivered_to_the_next_one() {
    let n = names("killed");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let yaml = amqp_config(
        1,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 5\n        durable: true\n"),
        &amqp_addr(),
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("jobs.log");
    let mut a = JobsServer::start_with_log(&yaml, &[], log.clone());
    a.push(
        (0..10)
            .map(|i| job("p1", "slow:200", &format!("k{i}")))
            .collect(),
    )
    .unwrap();
    a.wait_entries(LIMIT, |e| !e.is_empty());
    // Killed with one job at the worker and four waiting for a poller:
    // nothing was acknowledged for them.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &a.server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let at_kill = entries_of(&log).len();
    let b = JobsServer::start_with_log(&yaml, &[], log.clone());
    let began = Instant::now();
    let entries = b.wait_entries(LIMIT, |e| counts(e).len() == 10);
    let seen = counts(&entries);
    assert!((0..10).all(|i| seen.contains_key(&format!("k{i}"))));
    let again: usize = seen.values().map(|c| c - 1).sum();
    eprintln!(
        "amqp kill: {at_kill} ran before SIGKILL, all 10 delivered after {} ms on the next \
         server, {again} ran twice",
        began.elapsed().as_millis()
    );
    drop(a);
}

#[test]
fn two_servers_share_one_queue() {
    let n = names("scale");
    let mut amqp = Amqp::connect();
    amqp.own(&n, &[]);
    let yaml = amqp_config(
        2,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 64\n        durable: true\n"),
        &amqp_addr(),
    );
    let dir = tempfile::tempdir().unwrap();
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut a = JobsServer::start_with_log(&yaml, &[], log_a.clone());
    let b = JobsServer::start_with_log(&yaml, &[], log_b.clone());
    let total = 10_000;
    let began = Instant::now();
    for batch in 0..total / 500 {
        a.push(
            (0..500)
                .map(|i| job("p1", "ack", &format!("x{}", batch * 500 + i)))
                .collect(),
        )
        .unwrap();
    }
    let pushed_s = began.elapsed().as_secs_f64();
    let done = wait_until(Duration::from_secs(180), || {
        let n = entries_of(&log_a).len() + entries_of(&log_b).len();
        (n >= total).then_some(())
    });
    let drained_s = began.elapsed().as_secs_f64();
    let (ea, eb) = (entries_of(&log_a), entries_of(&log_b));
    assert!(
        done.is_some(),
        "{} of {total} delivered\nA:\n{}\nB:\n{}",
        ea.len() + eb.len(),
        a.server.output(),
        b.server.output()
    );
    a.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    let mut all = ea.clone();
    all.extend(eb.iter().cloned());
    let seen = counts(&all);
    assert_eq!(seen.len(), total);
    let twice = seen.values().filter(|c| **c > 1).count();
    assert_eq!(twice, 0, "jobs processed more than once");
    assert!(
        !ea.is_empty() && !eb.is_empty(),
        "a={} b={}",
        ea.len(),
        eb.len()
    );
    assert_eq!(amqp.count(&n.queue), Some(0));
    eprintln!(
        "amqp scale-out: jobs={total} server_a={} server_b={} duplicated=0 pushed_in={pushed_s:.1}s \
         drained_in={drained_s:.1}s",
        ea.len(),
        eb.len()
    );
    drop(b);
}
