//! End-to-end: the nats jobs driver against a real nats-server with
//! JetStream (`COYOTE_TEST_NATS`, started by `scripts/test` when none
//! answers) and real PHP workers: every reply type, delays, pause / resume,
//! declare / destroy, Stat, RoadRunner's message format both ways, link
//! faults through a TCP proxy, two servers sharing one durable consumer,
//! and configuration mistakes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::jobs::{config, job, job_with, of, JobsServer};
use coyote_jobs::proto;
use coyote_test_support::{wait_until, FaultProxy, Server};
use futures::StreamExt;

const LIMIT: Duration = Duration::from_secs(30);

/// The test broker's `host:port`; a test without one fails.
fn nats_addr() -> String {
    let addr = std::env::var("COYOTE_TEST_NATS").unwrap_or_else(|_| "127.0.0.1:4222".to_owned());
    let hostport = addr.trim_start_matches("nats://").to_owned();
    let reachable = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "no NATS server with JetStream answers at {hostport} (COYOTE_TEST_NATS): \
         run the tests through scripts/test, which starts one and exports its address"
    );
    hostport
}

fn nats_socket() -> SocketAddr {
    nats_addr().to_socket_addrs().unwrap().next().unwrap()
}

/// A stream and a subject no other test (or run) uses.
struct Names {
    stream: String,
    subject: String,
}

fn names(tag: &str) -> Names {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    Names {
        stream: format!("coyote-{tag}-{pid}-{n}"),
        subject: format!("coyote.{tag}.{pid}.{n}"),
    }
}

/// The test's own NATS client: publishes as RoadRunner would, reads
/// stored messages, and deletes the test's streams when dropped.
struct Nats {
    rt: tokio::runtime::Runtime,
    js: async_nats::jetstream::Context,
    streams: Vec<String>,
}

impl Nats {
    fn connect() -> Self {
        let addr = nats_addr();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let js = rt.block_on(async {
            async_nats::jetstream::new(async_nats::connect(addr).await.unwrap())
        });
        Self {
            rt,
            js,
            streams: Vec::new(),
        }
    }

    /// Deletes `stream` at the end of the test.
    fn own(&mut self, n: &Names) {
        self.streams.push(n.stream.clone());
    }

    fn publish(&self, subject: &str, headers: &[(&str, &str)], body: &[u8]) {
        let mut map = async_nats::HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, *v);
        }
        self.rt.block_on(async {
            self.js
                .publish_with_headers(subject.to_owned(), map, body.to_vec().into())
                .await
                .unwrap()
                .await
                .unwrap();
        });
    }

    /// The last message stored on `subject`: headers and body.
    fn last(&self, n: &Names) -> (HashMap<String, Vec<String>>, Vec<u8>) {
        self.rt.block_on(async {
            let stream = self.js.get_stream(&n.stream).await.unwrap();
            let m = stream
                .get_last_raw_message_by_subject(&n.subject)
                .await
                .unwrap();
            let headers = m
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        v.iter().map(|v| v.as_str().to_owned()).collect(),
                    )
                })
                .collect();
            (headers, m.payload.to_vec())
        })
    }

    fn stream_exists(&self, stream: &str) -> bool {
        self.rt.block_on(self.js.get_stream(stream)).is_ok()
    }

    fn stream_storage_is_file(&self, stream: &str) -> bool {
        self.rt.block_on(async {
            let s = self.js.get_stream(stream).await.unwrap();
            s.cached_info().config.storage == async_nats::jetstream::stream::StorageType::File
        })
    }

    fn consumer_names(&self, stream: &str) -> Vec<String> {
        self.rt.block_on(async {
            let s = self.js.get_stream(stream).await.unwrap();
            let mut names = s.consumer_names();
            let mut out = Vec::new();
            while let Some(Ok(n)) = names.next().await {
                out.push(n);
            }
            out
        })
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for s in &self.streams {
            let _ = self.rt.block_on(self.js.delete_stream(s));
        }
    }
}

/// A nats pipeline on `n` with more `extra` config keys (indented 8).
fn pipeline(name: &str, n: &Names, extra: &str) -> String {
    format!(
        "    {name}:\n      driver: nats\n      config:\n        subject: {}\n        stream: {}\n{extra}",
        n.subject, n.stream
    )
}

/// The jobs config with the top-level `nats.addr`.
fn nats_config(workers: usize, consume: &[&str], pipelines: &str, addr: &str) -> String {
    format!(
        "{}nats:\n  addr: nats://{addr}\n",
        config(workers, consume, pipelines, "")
    )
}

/// The pipelines' states as `status /jobs` reports them (with the error
/// message Stat does not carry).
fn status_jobs(server: &Server) -> Vec<serde_json::Value> {
    let port = server.port("status", "status");
    let reply = common::get(port, "/jobs", "");
    serde_json::from_slice(&reply.body).unwrap_or_default()
}

fn error_message(server: &Server, pipeline: &str) -> Option<String> {
    status_jobs(server)
        .into_iter()
        .find(|s| s["pipeline"] == pipeline)
        .and_then(|s| s["error_message"].as_str().map(str::to_owned))
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

fn entries_of(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn every_reply_type_settles_its_job() {
    let n = names("replies");
    let mut nats = Nats::connect();
    nats.own(&n);
    let mut s = JobsServer::start(&nats_config(
        2,
        &["p1"],
        &pipeline("p1", &n, ""),
        &nats_addr(),
    ));
    let entries = s.settles_every_reply_type(LIMIT, "nats", n.stream.as_str());
    let requeued = of(&entries, "j9");
    assert_eq!(
        requeued[0]["headers"]["x-nats-subject"][0],
        n.subject.as_str()
    );
    let out = s.server.output();
    assert!(out.contains("boom from php"), "{out}");
    // Nothing stuck on the server either: every message settled.
    assert!(nats.stream_storage_is_file(&n.stream));
    assert_eq!(nats.consumer_names(&n.stream), ["coyote-p1"]);
    assert_eq!(s.entries().len(), entries.len());
}

#[test]
fn delays_and_delayed_requeues_are_honoured() {
    let n = names("delay");
    let mut nats = Nats::connect();
    nats.own(&n);
    let mut s = JobsServer::start(&nats_config(
        2,
        &["p1"],
        &pipeline("p1", &n, ""),
        &nats_addr(),
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
    assert!(at("now", 0) < 1.0, "undelayed job waited {}s", at("now", 0));
    assert_eq!(of(&entries, "twice")[1]["headers"]["delayed"][0], "1");
    s.wait_stats(LIMIT, |st| st["p1"].delayed == 0 && st["p1"].active == 0);
}

#[test]
fn pause_takes_deliveries_back_and_resume_consumes_them_once() {
    let n = names("pause");
    let mut nats = Nats::connect();
    nats.own(&n);
    let mut s = JobsServer::start(&nats_config(
        1,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 10\n        priority: 3\n"),
        &nats_addr(),
    ));
    let st = s.stats();
    assert_eq!(
        (
            st["p1"].driver.as_str(),
            st["p1"].queue.as_str(),
            st["p1"].priority,
            st["p1"].ready
        ),
        ("nats", n.subject.as_str(), 3, true)
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
    // Nothing more runs while paused; Stat counts what waits on the server.
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
fn declare_consume_and_destroy_a_nats_pipeline() {
    let n = names("declare");
    let mut nats = Nats::connect();
    nats.own(&n);
    let other = names("declare-idle");
    nats.own(&other);
    let memory = "    m1:\n      driver: memory\n";
    let mut s = JobsServer::start(&nats_config(2, &["rt"], memory, &nats_addr()));
    s.declare(&[
        ("driver", "nats"),
        ("name", "rt"),
        ("subject", &n.subject),
        ("stream", &n.stream),
        ("prefetch", "5"),
        ("priority", "4"),
        ("deliver_new", "false"),
        ("delete_stream_on_stop", "true"),
        ("delete_after_ack", "true"),
    ])
    .unwrap();
    s.declare(&[
        ("driver", "nats"),
        ("name", "idle"),
        ("subject", &other.subject),
        ("stream", &other.stream),
    ])
    .unwrap();
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
        .declare(&[("driver", "nats"), ("name", "bad"), ("prefetch", "lots")])
        .unwrap_err();
    assert!(err.contains("prefetch"), "{err}");
    assert_eq!(s.pipelines("Destroy", &["rt"]).unwrap(), ["rt"]);
    let mut list = s.pipelines("List", &[]).unwrap();
    list.sort();
    assert_eq!(list, ["idle", "m1"]);
    assert!(!nats.stream_exists(&n.stream), "delete_stream_on_stop");
    assert!(nats.stream_exists(&other.stream));
    let err = s.push(vec![job("rt", "ack", "gone")]).unwrap_err();
    assert!(err.contains("no such pipeline"), "{err}");
}

#[test]
fn roadrunner_messages_are_consumed_and_coyote_publishes_roadrunners_format() {
    let n = names("interop");
    let mut nats = Nats::connect();
    nats.own(&n);
    let mut s = JobsServer::start(&nats_config(
        1,
        &["p1"],
        &pipeline("p1", &n, ""),
        &nats_addr(),
    ));
    // What RoadRunner's nats driver publishes: the item's JSON (payload as
    // Go encodes []byte) in the body, the job's headers as NATS headers.
    let body = br#"{"job":"ack","id":"rr-1","payload":"ZnJvbSByb2FkcnVubmVy","options":{"priority":0,"pipeline":"elsewhere","auto_ack":false,"Queue":""}}"#;
    nats.publish(
        &n.subject,
        &[
            ("attempt", "7"),
            ("tags", "a"),
            ("tags", "b"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ],
        body,
    );
    // A message that is not RoadRunner's JSON: a raw job.
    nats.publish(&n.subject, &[], b"just text");
    // A producer's deduplication id does not make its requeue a duplicate.
    let body = br#"{"job":"requeue:1","id":"rr-2","payload":"","options":{"priority":0,"pipeline":"x","auto_ack":false}}"#;
    nats.publish(&n.subject, &[("Nats-Msg-Id", "dedup-rr-2")], body);
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

    // And what Coyote publishes is what RoadRunner reads.
    let mut j = job_with("p1", "ack", "c-1", |o| o.priority = 5);
    j.headers.insert(
        "h".into(),
        proto::HeaderValue {
            value: vec!["v1".into(), "v2".into()],
        },
    );
    s.push(vec![j]).unwrap();
    let entries = s.wait_entries(LIMIT, |e| of(e, "c-1").len() == 1);
    assert_eq!(
        of(&entries, "c-1")[0]["headers"]["h"],
        serde_json::json!(["v1", "v2"])
    );
    let (headers, body) = nats.last(&n);
    // (async-nats' stored-message reader keeps the last value of a header.)
    assert!(headers.contains_key("h"), "{headers:?}");
    let item: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(item["job"], "ack");
    assert_eq!(item["id"], "c-1");
    assert_eq!(item["payload"], "cGF5bG9hZC1jLTE="); // base64("payload-c-1")
    assert_eq!(item["options"]["pipeline"], "p1");
    assert_eq!(item["options"]["priority"], 5);
    assert_eq!(item["options"]["auto_ack"], false);
}

#[test]
fn a_cut_link_fails_pushes_and_consuming_resumes_by_itself() {
    let n = names("fault");
    let mut nats = Nats::connect();
    nats.own(&n);
    let proxy = FaultProxy::start(nats_socket()).unwrap();
    let mut s = JobsServer::start(&nats_config(
        2,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 20\n        ack_wait: 3s\n"),
        &proxy.addr().to_string(),
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
        error_message(&s.server, "p1").filter(|m| !m.is_empty())
    })
    .unwrap_or_else(|| panic!("no error reported after the cut:\n{}", s.server.output()));
    assert!(down.contains("disconnected"), "{down}");
    // The link stays down for a second (the client redials and is
    // refused); pushes meanwhile are errors, and fast ones.
    let mut refused = 0;
    let mut b = 0;
    while b < 5 || cut_at.elapsed() < Duration::from_secs(1) {
        let batch: Vec<proto::Job> = (0..10)
            .map(|i| job("p1", "ack", &format!("cut{}", b * 10 + i)))
            .collect();
        let began = Instant::now();
        let err = s.push(batch).unwrap_err();
        assert!(began.elapsed() < Duration::from_secs(10), "push hung");
        assert!(err.contains("nats"), "{err}");
        refused += 10;
        b += 1;
        // Paces the attempts (not a synchronisation: each one must fail).
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = s.server.port("status", "status");
    assert_eq!(common::get(status, "/ready?plugin=jobs", "").status, 503);
    let at_restore = s.entries().len();
    // 3 ms a job: two workers cannot have drained the stream before the cut.
    assert!(
        at_restore + 100 < total,
        "the drain got too far before the cut ({at_restore} entries): nothing to resume"
    );
    proxy.restore();
    let restored = Instant::now();
    let cut_ms = restored.duration_since(cut_at).as_millis();
    s.wait_entries(Duration::from_secs(60), |e| e.len() > at_restore);
    let resume_ms = restored.elapsed().as_millis();
    wait_until(LIMIT, || {
        error_message(&s.server, "p1").filter(String::is_empty)
    })
    .expect("error message cleared after the reconnect");
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
    eprintln!(
        "nats fault: pushed={} delivered={delivered} duplicated={duplicated} lost={lost} \
         resume_ms={resume_ms} (cut {cut_ms} ms, {refused} pushes refused during the cut, \
         {unconfirmed} of them stored anyway)",
        pushed.len()
    );
}

#[test]
fn a_stalled_link_fails_pushes_within_the_request_timeout() {
    let n = names("stall");
    let mut nats = Nats::connect();
    nats.own(&n);
    let proxy = FaultProxy::start(nats_socket()).unwrap();
    let mut s = JobsServer::start(&nats_config(
        1,
        &["p1"],
        &pipeline("p1", &n, ""),
        &proxy.addr().to_string(),
    ));
    s.push(vec![job("p1", "ack", "before")]).unwrap();
    s.wait_entries(LIMIT, |e| of(e, "before").len() == 1);
    proxy.stall();
    let began = Instant::now();
    let err = s.push(vec![job("p1", "ack", "stalled")]).unwrap_err();
    let took = began.elapsed();
    assert!(took < Duration::from_secs(15), "push took {took:?}");
    assert!(err.contains("nats"), "{err}");
    proxy.restore();
    let ok = wait_until(LIMIT, || s.push(vec![job("p1", "ack", "after")]).ok());
    assert!(ok.is_some(), "pushes never worked again");
    s.wait_entries(LIMIT, |e| !of(e, "after").is_empty());
}

#[test]
fn a_job_longer_than_ack_wait_is_not_redelivered() {
    let n = names("long");
    let mut nats = Nats::connect();
    nats.own(&n);
    let mut s = JobsServer::start(&nats_config(
        1,
        &["p1"],
        &pipeline("p1", &n, "        ack_wait: 1s\n"),
        &nats_addr(),
    ));
    s.push(vec![
        job("p1", "slow:3500", "long"),
        job("p1", "ack", "next"),
    ])
    .unwrap();
    s.wait_entries(LIMIT, |e| of(e, "next").len() == 1);
    s.wait_stats(LIMIT, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
    // Reported in progress while it ran: delivered once, not every second.
    assert_eq!(of(&s.entries(), "long").len(), 1, "{:#?}", s.entries());
}

#[test]
fn jobs_of_a_killed_server_are_redelivered_to_the_next_one() {
    let n = names("killed");
    let mut nats = Nats::connect();
    nats.own(&n);
    let yaml = nats_config(
        1,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 5\n        ack_wait: 2s\n"),
        &nats_addr(),
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
        "nats kill: {at_kill} ran before SIGKILL, all 10 delivered after {} ms on the next \
         server, {again} ran twice",
        began.elapsed().as_millis()
    );
    drop(a);
}

#[test]
fn two_servers_share_one_durable_consumer() {
    let n = names("scale");
    let mut nats = Nats::connect();
    nats.own(&n);
    let yaml = nats_config(
        2,
        &["p1"],
        &pipeline("p1", &n, "        prefetch: 64\n"),
        &nats_addr(),
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
    assert_eq!(nats.consumer_names(&n.stream), ["coyote-p1"]);
    eprintln!(
        "nats scale-out: jobs={total} server_a={} server_b={} duplicated=0 pushed_in={pushed_s:.1}s \
         drained_in={drained_s:.1}s",
        ea.len(),
        eb.len()
    );
    drop(b);
}

#[test]
fn an_unreachable_server_at_start_is_a_start_error() {
    let n = names("unreachable");
    let yaml = format!(
        "{}nats:\n  addr: nats://127.0.0.1:1\n",
        config(1, &["p1"], &pipeline("p1", &n, ""), "")
    );
    let mut server = Server::start(common::BIN, &yaml, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("jobs.pipelines.p1"), "{out}");
    assert!(out.contains("nats://127.0.0.1:1"), "{out}");
}

#[test]
fn bad_keys_are_reported_at_their_paths() {
    // Badly typed keys and bad values in one pipeline: all reported.
    let bad = "    p1:\n      driver: nats\n      config:\n        prefetch: lots\n        \
               stream: a.b\n        subject: \"x y\"\n        priority: -1\n    \
               p2:\n      driver: nats\n      config:\n        delete_after_ack: maybe\n        \
               ack_wait: soon\n";
    let yaml = format!(
        "{}nats:\n  addr: \"nats://[::1\"\n",
        config(1, &[], bad, "")
    );
    let mut server = Server::start(common::BIN, &yaml, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(3), "{out}");
    for path in [
        "jobs.pipelines.p1.config.prefetch",
        "jobs.pipelines.p1.config.stream",
        "jobs.pipelines.p1.config.subject",
        "jobs.pipelines.p1.config.priority",
        "jobs.pipelines.p2.config.delete_after_ack",
        "jobs.pipelines.p2.config.ack_wait",
        "nats.addr",
    ] {
        assert!(out.contains(path), "{path} missing:\n{out}");
    }
}
