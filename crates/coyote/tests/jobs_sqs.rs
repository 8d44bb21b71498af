//! End-to-end: the sqs jobs driver against a real SQS endpoint (moto in
//! server mode at `COYOTE_TEST_SQS`, started by `scripts/test` when none
//! answers) and real PHP workers: every reply type, delays, pause / resume,
//! declare / destroy, Stat, RoadRunner's message format both ways, link
//! faults through a TCP proxy, and start and configuration mistakes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sqs;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use common::jobs::{config, job, job_with, of, JobsServer};
use coyote_jobs::proto;
use coyote_test_support::{wait_until, FaultProxy, Server};
use sqs::{queue_name, sqs_endpoint, sqs_socket, Sqs};

const LIMIT: Duration = Duration::from_secs(30);
/// No test ever asks an instance-metadata endpoint for credentials.
const ENV: &[(&str, &str)] = &[("AWS_EC2_METADATA_DISABLED", "true")];

/// An sqs pipeline on `queue` with more `extra` config keys (indented 8).
fn pipeline(name: &str, queue: &str, extra: &str) -> String {
    format!("    {name}:\n      driver: sqs\n      config:\n        queue: {queue}\n{extra}")
}

/// The jobs config with the top-level `sqs` section at `endpoint`.
fn sqs_config(workers: usize, consume: &[&str], pipelines: &str, endpoint: &str) -> String {
    format!(
        "{}sqs:\n  key: test\n  secret: test\n  region: us-east-1\n  endpoint: {endpoint}\n",
        config(workers, consume, pipelines, "")
    )
}

fn start(yaml: &str) -> JobsServer {
    JobsServer::start_env(yaml, ENV)
}

/// Deliveries per id in the worker log.
fn counts(entries: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in entries {
        *out.entry(e["id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    out
}

#[test]
fn every_reply_type_settles_its_job() {
    let q = queue_name("replies");
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    let mut s = start(&sqs_config(
        2,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        prefetch: 10\n        wait_time_seconds: 1\n",
        ),
        &sqs_endpoint(),
    ));
    let entries = s.settles_every_reply_type(LIMIT, "sqs", q.as_str());
    let requeued = of(&entries, "j9");
    // The message's system attributes are headers, as in RoadRunner.
    assert_eq!(
        requeued[0]["headers"]["ApproximateReceiveCount"][0], "1",
        "{:#?}",
        requeued[0]
    );
    let redelivered = of(&entries, "j8");
    assert_eq!(redelivered[2]["headers"]["ApproximateReceiveCount"][0], "3");
    let out = s.server.output();
    assert!(out.contains("boom from php"), "{out}");
    // Nothing left in the queue: every message was deleted.
    let url = sqs.url(&q).unwrap();
    let left = wait_until(LIMIT, || {
        let visible = sqs.attribute(&url, QueueAttributeName::ApproximateNumberOfMessages)?;
        let hidden = sqs.attribute(
            &url,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )?;
        (visible == "0" && hidden == "0").then_some(())
    });
    assert!(left.is_some(), "messages left in {q}");
    assert_eq!(s.entries().len(), entries.len());
}

#[test]
fn delays_and_delayed_requeues_are_honoured() {
    let q = queue_name("delay");
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    let mut s = start(&sqs_config(
        2,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        prefetch: 10\n        wait_time_seconds: 1\n",
        ),
        &sqs_endpoint(),
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
    assert!(at("now", 0) < 1.5, "undelayed job waited {}s", at("now", 0));
    assert_eq!(of(&entries, "twice")[1]["headers"]["delayed"][0], "1");
    // More than SQS takes: refused like RoadRunner does, nothing sent.
    let err = s
        .push(vec![job_with("p1", "ack", "too-late", |o| o.delay = 901)])
        .unwrap_err();
    assert!(err.contains("maximum possible delay is 900"), "{err}");
    s.wait_stats(LIMIT, |st| st["p1"].delayed == 0 && st["p1"].active == 0);
}

#[test]
fn pause_takes_deliveries_back_and_resume_consumes_them_once() {
    let q = queue_name("pause");
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    let mut s = start(&sqs_config(
        1,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        prefetch: 10\n        priority: 3\n        wait_time_seconds: 1\n        visibility_timeout: 3\n",
        ),
        &sqs_endpoint(),
    ));
    let st = s.stats();
    assert_eq!(
        (
            st["p1"].driver.as_str(),
            st["p1"].queue.as_str(),
            st["p1"].priority,
            st["p1"].ready
        ),
        ("sqs", q.as_str(), 3, true)
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
    s.wait_stats(LIMIT, |st| st["p1"].reserved == 0 && !st["p1"].ready);
    let before = s.entries().len();
    assert!(before < 20, "{before} ran, pause took nothing back");
    // Nothing more runs while paused; Stat counts what waits in the queue.
    s.push((0..3).map(|i| job("p1", "ack", &format!("a{i}"))).collect())
        .unwrap();
    let want = 23 - i64::try_from(before).unwrap();
    s.wait_stats(LIMIT, |st| st["p1"].active == want);
    assert_eq!(s.entries().len(), before, "consumed while paused");
    s.pipelines("Resume", &["p1"]).unwrap();
    let entries = s.wait_entries(LIMIT, |e| counts(e).len() == 23);
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    let seen = counts(&s.entries());
    assert!(seen.values().all(|c| *c == 1), "{seen:?}");
    assert_eq!(entries.len(), 23);
}

#[test]
fn declare_consume_and_destroy_an_sqs_pipeline() {
    let q = queue_name("declare");
    let idle_q = queue_name("declare-idle");
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    sqs.own(&idle_q);
    let memory = "    m1:\n      driver: memory\n";
    let mut s = start(&sqs_config(2, &["rt"], memory, &sqs_endpoint()));
    s.declare(&[
        ("driver", "sqs"),
        ("name", "rt"),
        ("queue", &q),
        ("prefetch", "5"),
        ("priority", "4"),
        ("visibility_timeout", "10"),
        ("wait_time_seconds", "1"),
        ("attributes", r#"{"MessageRetentionPeriod":3600}"#),
        ("tags", r#"{"team":"coyote"}"#),
    ])
    .unwrap();
    s.declare(&[
        ("driver", "sqs"),
        ("name", "idle"),
        ("queue", &idle_q),
        ("wait_time_seconds", "1"),
    ])
    .unwrap();
    let url = sqs.url(&q).expect("declared queue created");
    assert_eq!(
        sqs.attribute(&url, QueueAttributeName::MessageRetentionPeriod)
            .as_deref(),
        Some("3600")
    );
    let st = s.stats();
    assert!(st["rt"].ready && !st["idle"].ready, "{st:?}");
    assert_eq!(st["rt"].priority, 4);
    s.push(vec![job("rt", "ack", "r1"), job("idle", "ack", "i1")])
        .unwrap();
    s.wait_entries(LIMIT, |e| of(e, "r1").len() == 1);
    s.wait_stats(LIMIT, |st| st["idle"].active == 1);
    s.pipelines("Resume", &["idle"]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "i1").len() == 1);
    let err = s
        .declare(&[("driver", "sqs"), ("name", "bad"), ("prefetch", "lots")])
        .unwrap_err();
    assert!(err.contains("prefetch"), "{err}");
    assert_eq!(s.pipelines("Destroy", &["rt"]).unwrap(), ["rt"]);
    let mut list = s.pipelines("List", &[]).unwrap();
    list.sort();
    assert_eq!(list, ["idle", "m1"]);
    let err = s.push(vec![job("rt", "ack", "gone")]).unwrap_err();
    assert!(err.contains("no such pipeline"), "{err}");
}

#[test]
fn roadrunner_messages_are_consumed_and_coyote_sends_roadrunners_format() {
    let q = queue_name("interop");
    let mut sqs = Sqs::connect();
    let url = sqs.create(&q);
    let mut s = start(&sqs_config(
        1,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        wait_time_seconds: 1\n        skip_queue_declaration: true\n",
        ),
        &sqs_endpoint(),
    ));
    // What RoadRunner's sqs driver sends: the payload as the body, the job
    // in message attributes.
    sqs.send(
        &url,
        "from roadrunner",
        &[
            ("rr_id", "String", "rr-1"),
            ("rr_job", "String", "ack"),
            ("rr_delay", "String", "0"),
            ("rr_priority", "Number", "7"),
            ("rr_auto_ack", "String", "false"),
            (
                "rr_headers",
                "Binary",
                r#"{"attempt":["7"],"tags":["a","b"]}"#,
            ),
        ],
    );
    // RoadRunner's requeue of a job: the same format, headers merged.
    sqs.send(
        &url,
        "again",
        &[
            ("rr_id", "String", "rr-2"),
            ("rr_job", "String", "requeue:1"),
            ("rr_headers", "Binary", "{}"),
        ],
    );
    // Another producer's message: a raw job, its attributes as headers.
    sqs.send(&url, "just text", &[("color", "String", "red")]);
    let entries = s.wait_entries(LIMIT, |e| e.len() == 4);
    assert_eq!(of(&entries, "rr-2").len(), 2, "{entries:#?}");
    assert_eq!(of(&entries, "rr-2")[1]["headers"]["attempt"][0], "1");
    let rr = of(&entries, "rr-1");
    assert_eq!(rr.len(), 1, "{entries:#?}");
    assert_eq!(rr[0]["name"], "ack");
    assert_eq!(rr[0]["payload"], "from roadrunner");
    assert_eq!(rr[0]["pipeline"], "p1");
    assert_eq!(rr[0]["headers"]["attempt"], serde_json::json!(["7"]));
    assert_eq!(rr[0]["headers"]["tags"], serde_json::json!(["a", "b"]));
    let raw = entries
        .iter()
        .find(|e| e["id"] != "rr-1" && e["id"] != "rr-2")
        .unwrap();
    assert_eq!(raw["name"], "deduced_by_rr");
    assert_eq!(raw["payload"], "just text");
    assert_eq!(raw["headers"]["color"], serde_json::json!(["red"]));
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);

    // And what Coyote sends is what RoadRunner reads: paused, so that the
    // message stays for the test's own client.
    s.pipelines("Pause", &["p1"]).unwrap();
    s.wait_stats(LIMIT, |st| !st["p1"].ready);
    let mut j = job_with("p1", "ack", "c-1", |o| {
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
    let m = sqs.peek(&url);
    assert_eq!(m.body(), Some("payload-c-1"));
    let a = m.message_attributes().unwrap();
    let text = |k: &str| {
        let v = &a[k];
        (
            v.data_type().to_owned(),
            v.string_value().unwrap().to_owned(),
        )
    };
    assert_eq!(text("rr_id"), ("String".into(), "c-1".into()));
    assert_eq!(text("rr_job"), ("String".into(), "ack".into()));
    assert_eq!(text("rr_delay"), ("String".into(), "0".into()));
    assert_eq!(text("rr_priority"), ("Number".into(), "5".into()));
    assert_eq!(text("rr_auto_ack"), ("String".into(), "true".into()));
    assert_eq!(a["rr_headers"].data_type(), "Binary");
    let headers: serde_json::Value =
        serde_json::from_slice(a["rr_headers"].binary_value().unwrap().as_ref()).unwrap();
    assert_eq!(headers, serde_json::json!({"h": ["v1", "v2"]}));
}

#[test]
fn a_fifo_queue_keeps_the_order_of_its_group_and_requeues_are_not_deduplicated() {
    let q = format!("{}.fifo", queue_name("fifo"));
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    let yaml = sqs_config(
        1,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        prefetch: 10\n        wait_time_seconds: 1\n        message_group_id: g1\n",
        ),
        &sqs_endpoint(),
    )
    .replace("jobs:\n", "jobs:\n  num_pollers: 1\n");
    let mut s = start(&yaml);
    let mut batch: Vec<proto::Job> = (0..6).map(|i| job("p1", "ack", &format!("o{i}"))).collect();
    batch.insert(2, job("p1", "requeue:1", "rq"));
    s.push(batch).unwrap();
    // The requeue is sent while the original is still in the queue, with
    // the same job id: a fresh deduplication id keeps SQS from dropping it.
    let entries = s.wait_entries(LIMIT, |e| of(e, "rq").len() == 2 && e.len() >= 8);
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    // One poller and one worker: the worker sees SQS's order.
    let order: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        order,
        ["o0", "o1", "rq", "o2", "o3", "o4", "o5", "rq"],
        "{entries:#?}"
    );
    assert_eq!(of(&entries, "o0")[0]["headers"]["MessageGroupId"][0], "g1");
    assert_eq!(of(&entries, "rq")[1]["headers"]["attempt"][0], "1");
    assert_eq!(s.entries().len(), 8);
}

#[test]
fn retained_failed_jobs_go_to_the_dead_letter_queue() {
    let q = queue_name("retain");
    let dlq = queue_name("retain-dlq");
    let mut sqs = Sqs::connect();
    let dlq_url = sqs.create(&dlq);
    sqs.own(&q);
    let arn = sqs
        .attribute(&dlq_url, QueueAttributeName::QueueArn)
        .unwrap();
    let redrive = format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"2"}}"#);
    let mut s = start(&sqs_config(
        1,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            &format!(
                "        wait_time_seconds: 1\n        retain_failed_jobs: true\n        \
                 error_visibility_timeout: 1\n        attributes:\n          \
                 redrivepolicy: '{redrive}'\n"
            ),
        ),
        &sqs_endpoint(),
    ));
    s.push(vec![job("p1", "fail", "f1"), job("p1", "ack", "ok")])
        .unwrap();
    // Failed, kept, delivered again after error_visibility_timeout, failed
    // again: SQS moves it to the dead-letter queue on its third receive.
    let entries = s.wait_entries(LIMIT, |e| of(e, "f1").len() == 2);
    let f1 = of(&entries, "f1");
    assert_eq!(f1[1]["headers"]["ApproximateReceiveCount"][0], "2");
    let dead = sqs.peek(&dlq_url);
    let attrs = dead.message_attributes().unwrap();
    assert_eq!(attrs["rr_id"].string_value(), Some("f1"));
    assert_eq!(of(&s.entries(), "f1").len(), 2);
    assert_eq!(of(&s.entries(), "ok").len(), 1);
}

#[test]
fn a_job_longer_than_the_visibility_timeout_is_not_delivered_again() {
    let q = queue_name("long");
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    let mut s = start(&sqs_config(
        1,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        prefetch: 2\n        wait_time_seconds: 1\n        visibility_timeout: 3\n",
        ),
        &sqs_endpoint(),
    ));
    s.push(vec![
        job("p1", "slow:7000", "long"),
        job("p1", "ack", "next"),
    ])
    .unwrap();
    // "next" waited in the plugin queue for the one worker all along.
    s.wait_entries(LIMIT, |e| of(e, "next").len() == 1);
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    let entries = s.entries();
    assert_eq!(of(&entries, "long").len(), 1, "{entries:#?}");
    assert_eq!(of(&entries, "next").len(), 1, "{entries:#?}");
    assert_eq!(
        of(&entries, "next")[0]["headers"]["ApproximateReceiveCount"][0],
        "1"
    );
}

#[test]
fn a_cut_link_fails_pushes_and_consuming_resumes_by_itself() {
    let q = queue_name("fault");
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    let proxy = FaultProxy::start(sqs_socket()).unwrap();
    let mut s = start(&sqs_config(
        2,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        prefetch: 10\n        max_messages_in_flight: 20\n        wait_time_seconds: 1\n        visibility_timeout: 3\n",
        ),
        &format!("http://{}", proxy.addr()),
    ));
    let mut pushed: HashSet<String> = HashSet::new();
    // (moto answers some 60 requests a second on this machine: the
    // figures are modest, the faults real.)
    let total = 300;
    for b in 0..total / 50 {
        let batch: Vec<proto::Job> = (0..50)
            .map(|i| job("p1", "ack", &format!("f{}", b * 50 + i)))
            .collect();
        s.push(batch).unwrap();
        pushed.extend((0..50).map(|i| format!("f{}", b * 50 + i)));
    }
    // Cut mid-drain.
    s.wait_entries(LIMIT, |e| e.len() >= 60);
    proxy.cut();
    let cut_at = Instant::now();
    s.wait_error("p1", Duration::from_secs(15), |m| m.contains("sqs"));
    // Pushes during the outage are errors, and fast ones.
    let mut refused = 0;
    let mut b = 0;
    while b < 3 || cut_at.elapsed() < Duration::from_secs(2) {
        let batch: Vec<proto::Job> = (0..10)
            .map(|i| job("p1", "ack", &format!("cut{}", b * 10 + i)))
            .collect();
        let began = Instant::now();
        let err = s.push(batch).unwrap_err();
        assert!(began.elapsed() < Duration::from_secs(15), "push hung");
        assert!(err.contains("sqs"), "{err}");
        refused += 10;
        b += 1;
    }
    let status = s.server.port("status", "status");
    assert_eq!(common::get(status, "/ready?plugin=jobs", "").status, 503);
    let at_restore = s.entries().len();
    proxy.restore();
    let restored = Instant::now();
    let cut_ms = restored.duration_since(cut_at).as_millis();
    s.wait_entries(Duration::from_secs(60), |e| e.len() > at_restore);
    let resume_ms = restored.elapsed().as_millis();
    s.wait_error("p1", LIMIT, str::is_empty);
    // Pushes work again.
    let batch: Vec<proto::Job> = (0..50)
        .map(|i| job("p1", "ack", &format!("g{i}")))
        .collect();
    s.push(batch).unwrap();
    pushed.extend((0..50).map(|i| format!("g{i}")));
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
    eprintln!(
        "sqs cut: pushed={} delivered={delivered} duplicated={duplicated} lost={lost} \
         resume_ms={resume_ms} (cut {cut_ms} ms, {refused} pushes refused during the cut, \
         {unconfirmed} of them stored anyway)",
        pushed.len()
    );
}

#[test]
fn a_stalled_link_fails_pushes_and_consuming_resumes_by_itself() {
    let q = queue_name("stall");
    let mut sqs = Sqs::connect();
    sqs.own(&q);
    let proxy = FaultProxy::start(sqs_socket()).unwrap();
    let mut s = start(&sqs_config(
        2,
        &["p1"],
        &pipeline(
            "p1",
            &q,
            "        prefetch: 10\n        wait_time_seconds: 1\n        visibility_timeout: 3\n",
        ),
        &format!("http://{}", proxy.addr()),
    ));
    let mut pushed: HashSet<String> = HashSet::new();
    for b in 0..4 {
        let batch: Vec<proto::Job> = (0..50)
            .map(|i| job("p1", "slow:5", &format!("s{}", b * 50 + i)))
            .collect();
        s.push(batch).unwrap();
        pushed.extend((0..50).map(|i| format!("s{}", b * 50 + i)));
    }
    s.wait_entries(LIMIT, |e| e.len() >= 40);
    proxy.stall();
    let stalled_at = Instant::now();
    let began = Instant::now();
    let err = s.push(vec![job("p1", "ack", "stalled")]).unwrap_err();
    let took = began.elapsed();
    assert!(took < Duration::from_secs(15), "push took {took:?}");
    assert!(err.contains("sqs"), "{err}");
    s.wait_error("p1", Duration::from_secs(15), |m| m.contains("sqs"));
    let status = s.server.port("status", "status");
    assert_eq!(common::get(status, "/ready?plugin=jobs", "").status, 503);
    let at_restore = s.entries().len();
    proxy.restore();
    let restored = Instant::now();
    let stall_ms = restored.duration_since(stalled_at).as_millis();
    s.wait_entries(Duration::from_secs(60), |e| e.len() > at_restore);
    let resume_ms = restored.elapsed().as_millis();
    s.wait_error("p1", LIMIT, str::is_empty);
    s.push(vec![job("p1", "ack", "after")]).unwrap();
    pushed.insert("after".into());
    let entries = s.wait_entries(Duration::from_secs(90), |e| {
        let seen = counts(e);
        pushed.iter().all(|id| seen.contains_key(id))
    });
    let seen = counts(&entries);
    let lost = pushed.iter().filter(|id| !seen.contains_key(*id)).count();
    let duplicated: usize = pushed
        .iter()
        .filter_map(|id| seen.get(id))
        .map(|c| c - 1)
        .sum();
    assert_eq!(lost, 0);
    eprintln!(
        "sqs stall: pushed={} delivered={} duplicated={duplicated} lost={lost} \
         resume_ms={resume_ms} (stalled {stall_ms} ms, the push during it failed after {} ms, \
         stored anyway: {})",
        pushed.len(),
        pushed.len() - lost,
        took.as_millis(),
        seen.contains_key("stalled")
    );
}

#[test]
fn an_unreachable_endpoint_at_start_is_a_start_error() {
    let q = queue_name("unreachable");
    let yaml = sqs_config(1, &["p1"], &pipeline("p1", &q, ""), "http://127.0.0.1:1");
    let mut server = Server::start_with_env(common::BIN, &yaml, &[], ENV).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("jobs.pipelines.p1"), "{out}");
    assert!(out.contains("http://127.0.0.1:1"), "{out}");
}

#[test]
fn a_missing_queue_with_skip_queue_declaration_is_a_start_error() {
    let q = queue_name("missing");
    let yaml = sqs_config(
        1,
        &["p1"],
        &pipeline("p1", &q, "        skip_queue_declaration: true\n"),
        &sqs_endpoint(),
    );
    let mut server = Server::start_with_env(common::BIN, &yaml, &[], ENV).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("does not exist"), "{out}");
    assert!(out.contains(&q), "{out}");
    assert!(Sqs::connect().url(&q).is_none(), "the queue was created");
}

#[test]
fn bad_keys_are_reported_at_their_paths() {
    // Badly typed keys and bad values in two pipelines: all reported.
    let bad = "    p1:\n      driver: sqs\n      config:\n        prefetch: lots\n        \
               queue: \"a b\"\n        visibility_timeout: 50000\n        priority: -1\n    \
               p2:\n      driver: sqs\n      config:\n        skip_queue_declaration: maybe\n        \
               wait_time_seconds: 21\n        queue: q.fifo\n        attributes:\n          \
               Colour: blue\n";
    let yaml = format!(
        "{}sqs:\n  key: only-a-key\n  endpoint: 127.0.0.1:4566\n",
        config(1, &[], bad, "")
    );
    let mut server = Server::start_with_env(common::BIN, &yaml, &[], ENV).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(3), "{out}");
    for path in [
        "jobs.pipelines.p1.config.prefetch",
        "jobs.pipelines.p1.config.queue",
        "jobs.pipelines.p1.config.visibility_timeout",
        "jobs.pipelines.p1.config.priority",
        "jobs.pipelines.p2.config.skip_queue_declaration",
        "jobs.pipelines.p2.config.wait_time_seconds",
        "jobs.pipelines.p2.config.message_group_id",
        "jobs.pipelines.p2.config.attributes.Colour",
        "sqs.endpoint",
        "sqs.secret",
    ] {
        assert!(out.contains(path), "{path} missing:\n{out}");
    }
    // Each at its file:line:col.
    let line = out
        .lines()
        .find(|l| l.contains("jobs.pipelines.p1.config.queue"))
        .unwrap();
    let at = line.split(": jobs.pipelines").next().unwrap();
    let mut parts = at.rsplit(':');
    let (col, row) = (parts.next().unwrap(), parts.next().unwrap());
    assert!(
        at.contains(".yaml")
            && col.parse::<u32>().is_ok_and(|c| c > 0)
            && row.parse::<u32>().is_ok_and(|r| r > 0),
        "{line}"
    );
}
