//! End-to-end: the `redis` jobs driver (Redis streams) against the Redis
//! this machine runs (`COYOTE_TEST_REDIS`, default `127.0.0.1:6379`), with
//! real PHP workers: every reply type, delays, pause / resume (deliveries
//! taken back and re-read), declare / destroy, Stat, kill -9 mid-drain and
//! restart, a dead server's jobs claimed by another, two servers sharing
//! one stream, link faults through a TCP proxy (cut, stall), TLS with a
//! private CA (a redis-server of the test's own), bad configs.
//! Every stream is named after the test process and deleted at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::jobs::{config, job, job_with, of, JobsServer};
use coyote_test_support::{wait_until, FaultProxy};

const LIMIT: Duration = Duration::from_secs(60);

/// The Redis the tests use.
fn redis_addr() -> String {
    std::env::var("COYOTE_TEST_REDIS").unwrap_or_else(|_| "127.0.0.1:6379".to_owned())
}

fn redis_socket() -> SocketAddr {
    redis_addr()
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("COYOTE_TEST_REDIS={} is not host:port", redis_addr()))
}

/// A connection to the test Redis; fails the test (never skips it) when
/// there is none.
struct Redis(redis::Connection);

impl Redis {
    fn connect() -> Self {
        let addr = redis_addr();
        let conn = redis::Client::open(format!("redis://{addr}/"))
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(3)));
        match conn {
            Ok(mut c) => {
                redis::cmd("PING")
                    .query::<String>(&mut c)
                    .unwrap_or_else(|e| panic!("Redis at {addr} does not answer PING: {e}; run the tests through scripts/test, which starts Redis"));
                Self(c)
            }
            Err(e) => panic!(
                "cannot reach Redis at {addr} (COYOTE_TEST_REDIS): {e}; run the tests through scripts/test, which starts Redis"
            ),
        }
    }

    fn int(&mut self, args: &[&str]) -> i64 {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query::<i64>(&mut self.0).unwrap()
    }

    /// The group's pending count (0 when there is no group).
    fn pending(&mut self, stream: &str, group: &str) -> i64 {
        redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .query::<redis::Value>(&mut self.0)
            .ok()
            .and_then(|v| match v {
                redis::Value::Array(parts) => match parts.first() {
                    Some(redis::Value::Int(n)) => Some(*n),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or(0)
    }
}

/// A stream name unique to this test process, deleted (with its delayed
/// set) when dropped.
struct Stream {
    name: String,
}

impl Stream {
    fn new(what: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "coyote-test:{}:{}:{what}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let s = Self { name };
        s.delete();
        s
    }

    fn delete(&self) {
        let mut r = Redis::connect();
        r.int(&["DEL", &self.name, &format!("{}:delayed", self.name)]);
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.delete();
    }
}

/// A pipeline named `name` on `stream`; `extra` are more config lines
/// (indented 8).
fn pipeline(name: &str, stream: &Stream, extra: &str) -> String {
    format!(
        "    {name}:\n      driver: redis\n      config:\n        stream: \"{}\"\n{extra}",
        stream.name
    )
}

/// The jobs config plus the `redis` section pointing at `addr`.
fn yaml(workers: usize, consume: &[&str], pipelines: &str, jobs_extra: &str, addr: &str) -> String {
    format!(
        "{}redis:\n  addrs: [\"{addr}\"]\n",
        config(workers, consume, pipelines, jobs_extra)
    )
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Deliveries per id over several servers' logs.
fn deliveries(servers: &[&JobsServer]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for s in servers {
        for e in s.entries() {
            *seen
                .entry(e["id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
    }
    seen
}

fn kill_9(s: &mut JobsServer) {
    let pid = s.server.pid().to_string();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    s.server.wait_exit(LIMIT).expect("killed");
}

/// The pipeline's entry of `status /jobs` (it has `error_message`).
fn status_of(s: &JobsServer, pipeline: &str) -> serde_json::Value {
    let port = s.server.port("status", "status");
    let r = common::get(port, "/jobs", "");
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["pipeline"] == pipeline)
        .cloned()
        .unwrap_or_default()
}

fn wait_settled(r: &mut Redis, stream: &Stream) {
    let settled = wait_until(LIMIT, || {
        (r.int(&["XLEN", &stream.name]) == 0 && r.pending(&stream.name, "coyote") == 0)
            .then_some(())
    });
    assert!(
        settled.is_some(),
        "stream {} still holds {} entries, {} pending",
        stream.name,
        r.int(&["XLEN", &stream.name]),
        r.pending(&stream.name, "coyote")
    );
}

#[test]
fn every_reply_type_settles_its_job() {
    let mut r = Redis::connect();
    let stream = Stream::new("replies");
    let mut s = JobsServer::start(&yaml(
        2,
        &["r1"],
        &pipeline("r1", &stream, ""),
        "",
        &redis_addr(),
    ));
    let names = [
        "ack",
        "complete",
        "empty",
        "unknown",
        "garbage",
        "nack",
        "fail",
        "error",
        "nack-redeliver:2",
        "requeue:3",
        "fail-requeue:2",
        "crash",
    ];
    let mut batch: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| job("r1", n, &format!("j{i}")))
        .collect();
    batch[0].headers.insert(
        "origin".into(),
        coyote_jobs::proto::HeaderValue {
            value: vec!["test".into()],
        },
    );
    s.push(batch).unwrap();
    let expected = [1, 1, 1, 1, 1, 1, 1, 1, 3, 4, 3, 2];
    let total: usize = expected.iter().sum();
    s.wait_entries(LIMIT, |e| e.len() >= total);
    s.wait_stats(LIMIT, |st| st["r1"].active == 0 && st["r1"].reserved == 0);
    wait_settled(&mut r, &stream);
    let entries = s.entries();
    for (i, (name, want)) in names.iter().zip(expected).enumerate() {
        let seen = of(&entries, &format!("j{i}"));
        assert_eq!(seen.len(), want, "{name}: {seen:#?}");
        assert!(seen
            .iter()
            .all(|e| e["name"] == *name && e["pipeline"] == "r1"));
    }
    let first = of(&entries, "j0");
    assert_eq!(first[0]["driver"], "redis");
    assert_eq!(first[0]["queue"], stream.name.as_str());
    assert_eq!(first[0]["payload"], "payload-j0");
    assert_eq!(first[0]["headers"]["origin"][0], "test");
    // Requeue keeps the id and carries the worker's headers.
    let requeued = of(&entries, "j9");
    assert_eq!(requeued.last().unwrap()["headers"]["attempt"][0], "3");
    let out = s.server.output();
    assert!(out.contains("boom from php"), "{out}");
    assert_eq!(s.entries().len(), total);
}

#[test]
fn delays_are_honoured_from_push_and_from_requeue() {
    let stream = Stream::new("delay");
    let mut s = JobsServer::start(&yaml(
        1,
        &["r1"],
        &pipeline("r1", &stream, ""),
        "",
        &redis_addr(),
    ));
    let pushed = now_secs();
    s.push(vec![
        job_with("r1", "ack", "late", |o| o.delay = 2),
        job("r1", "delay:1", "again"),
    ])
    .unwrap();
    s.wait_stats(LIMIT, |st| st["r1"].delayed >= 1);
    let entries = s.wait_entries(LIMIT, |e| {
        of(e, "late").len() == 1 && of(e, "again").len() == 2
    });
    let late = of(&entries, "late")[0]["t"].as_f64().unwrap();
    assert!(
        late - pushed >= 1.9,
        "ran {:.2}s after the push",
        late - pushed
    );
    let again = of(&entries, "again");
    let gap = again[1]["t"].as_f64().unwrap() - again[0]["t"].as_f64().unwrap();
    assert!(
        gap >= 0.9,
        "requeued with delay 1 ran again after {gap:.2}s"
    );
    assert_eq!(again[1]["headers"]["delayed"][0], "1");
    s.wait_stats(LIMIT, |st| st["r1"].delayed == 0 && st["r1"].active == 0);
}

#[test]
fn pause_takes_deliveries_back_and_resume_reads_them_again() {
    let stream = Stream::new("pause");
    // One worker, prefetch 10: most deliveries wait in the plugin queue
    // when the pause comes.
    let mut s = JobsServer::start(&yaml(
        1,
        &["r1"],
        &pipeline("r1", &stream, "        prefetch: 10\n"),
        "",
        &redis_addr(),
    ));
    s.push(
        (0..20)
            .map(|i| job("r1", "slow:100", &format!("p{i}")))
            .collect(),
    )
    .unwrap();
    s.wait_entries(LIMIT, |e| !e.is_empty());
    s.pipelines("Pause", &["r1"]).unwrap();
    s.wait_stats(LIMIT, |st| !st["r1"].ready && st["r1"].reserved == 0);
    let done = s.entries().len();
    assert!(done < 20, "all ran before the pause");
    s.push((0..5).map(|i| job("r1", "ack", &format!("q{i}"))).collect())
        .unwrap();
    // Everything not run yet is waiting: taken back, unread, new.
    let want = i64::try_from(25 - done).unwrap();
    let st = s.wait_stats(LIMIT, |st| st["r1"].active == want);
    assert_eq!(s.entries().len(), done, "nothing runs while paused: {st:?}");
    s.pipelines("Resume", &["r1"]).unwrap();
    s.wait_entries(LIMIT, |e| {
        e.iter()
            .filter_map(|v| v["id"].as_str())
            .collect::<HashSet<_>>()
            .len()
            == 25
    });
    s.wait_stats(LIMIT, |st| st["r1"].active == 0 && st["r1"].reserved == 0);
    let seen = deliveries(&[&s]);
    assert!(seen.values().all(|c| *c == 1), "each once: {seen:?}");
}

#[test]
fn declare_at_runtime_and_destroy() {
    let mut r = Redis::connect();
    let stream = Stream::new("declared");
    let mut s = JobsServer::start(&yaml(1, &[], "    {}\n", "", &redis_addr()));
    s.declare(&[
        ("driver", "redis"),
        ("name", "dyn"),
        ("stream", &stream.name),
        ("prefetch", "5"),
        ("priority", "4"),
        ("delete_stream_on_stop", "true"),
    ])
    .unwrap();
    assert!(s
        .pipelines("List", &[])
        .unwrap()
        .contains(&"dyn".to_owned()));
    s.push(
        (0..3)
            .map(|i| job("dyn", "ack", &format!("d{i}")))
            .collect(),
    )
    .unwrap();
    let st = s.wait_stats(LIMIT, |st| st["dyn"].active == 3);
    assert_eq!(st["dyn"].driver, "redis");
    assert_eq!(st["dyn"].queue, stream.name);
    assert_eq!(st["dyn"].priority, 4);
    s.pipelines("Resume", &["dyn"]).unwrap();
    s.wait_entries(LIMIT, |e| e.len() == 3);
    s.pipelines("Pause", &["dyn"]).unwrap();
    s.push(vec![job("dyn", "ack", "left")]).unwrap();
    assert_eq!(r.int(&["EXISTS", &stream.name]), 1);
    assert_eq!(
        s.pipelines("Destroy", &["dyn"]).unwrap(),
        vec!["dyn".to_owned()]
    );
    assert!(!s
        .pipelines("List", &[])
        .unwrap()
        .contains(&"dyn".to_owned()));
    assert_eq!(r.int(&["EXISTS", &stream.name]), 0, "delete_stream_on_stop");
    // A bad declare is refused with the key.
    let err = s
        .declare(&[("driver", "redis"), ("name", "bad"), ("prefetch", "many")])
        .unwrap_err();
    assert!(err.contains("prefetch"), "{err}");
}

#[test]
fn stat_reports_the_stream_its_counts_and_state() {
    let stream = Stream::new("stat");
    let mut s = JobsServer::start(&yaml(
        1,
        &[],
        &pipeline("r1", &stream, "        priority: 5\n"),
        "",
        &redis_addr(),
    ));
    let mut jobs: Vec<_> = (0..3).map(|i| job("r1", "ack", &format!("s{i}"))).collect();
    jobs.extend((0..2).map(|i| job_with("r1", "ack", &format!("later{i}"), |o| o.delay = 600)));
    s.push(jobs).unwrap();
    let st = s.wait_stats(LIMIT, |st| st["r1"].active == 3 && st["r1"].delayed == 2);
    let r1 = &st["r1"];
    assert_eq!(
        (
            r1.driver.as_str(),
            r1.queue.as_str(),
            r1.ready,
            r1.priority,
            r1.reserved
        ),
        ("redis", stream.name.as_str(), false, 5, 0)
    );
    s.pipelines("Resume", &["r1"]).unwrap();
    s.wait_entries(LIMIT, |e| e.len() == 3);
    let st = s.wait_stats(LIMIT, |st| {
        st["r1"].active == 0 && st["r1"].reserved == 0 && st["r1"].ready
    });
    assert_eq!(st["r1"].delayed, 2);
    assert_eq!(status_of(&s, "r1")["error_message"], "");
}

#[test]
fn kill_9_mid_drain_and_restart_loses_no_job() {
    let stream = Stream::new("kill9");
    let yaml = yaml(
        2,
        &["r1"],
        &pipeline(
            "r1",
            &stream,
            "        prefetch: 100\n        consumer: kill9\n",
        ),
        "",
        &redis_addr(),
    );
    let mut s = JobsServer::start(&yaml);
    let n = 5_000;
    for b in 0..n / 500 {
        s.push(
            (0..500)
                .map(|i| job("r1", "ack", &format!("k{}", b * 500 + i)))
                .collect(),
        )
        .unwrap();
    }
    s.wait_entries(LIMIT, |e| e.len() >= 1000);
    kill_9(&mut s);
    let before = s.entries().len();
    assert!(before < n, "the drain finished before the kill");
    let log = s.log.clone();
    drop(s);
    let s = JobsServer::start_with_log(&yaml, &[], log);
    s.wait_entries(LIMIT, |e| {
        e.iter()
            .filter_map(|v| v["id"].as_str())
            .collect::<HashSet<_>>()
            .len()
            >= n
    });
    let seen = deliveries(&[&s]);
    let lost = (0..n)
        .filter(|i| !seen.contains_key(&format!("k{i}")))
        .count();
    let duplicated = seen.values().filter(|c| **c > 1).count();
    eprintln!(
        "redis kill9: pushed={n} delivered={} duplicated={duplicated} lost={lost} delivered_before_kill={before}",
        seen.values().sum::<usize>()
    );
    assert_eq!(lost, 0);
    assert_eq!(seen.len(), n, "no unknown ids");
    // At most what was unsettled at the kill (prefetch) runs twice.
    assert!(duplicated <= 100, "duplicated {duplicated}");
    let mut r = Redis::connect();
    wait_settled(&mut r, &stream);
}

#[test]
fn a_dead_servers_jobs_are_claimed_by_another_after_visibility_timeout() {
    let stream = Stream::new("claim");
    let config_of = |consumer: &str| {
        yaml(
            1,
            &["r1"],
            &pipeline(
                "r1",
                &stream,
                &format!(
                    "        prefetch: 20\n        visibility_timeout: 1s\n        consumer: {consumer}\n"
                ),
            ),
            "",
            &redis_addr(),
        )
    };
    let mut dead = JobsServer::start(&config_of("dead"));
    dead.push(
        (0..200)
            .map(|i| job("r1", "slow:5", &format!("c{i}")))
            .collect(),
    )
    .unwrap();
    dead.wait_entries(LIMIT, |e| e.len() >= 10);
    kill_9(&mut dead);
    let alive = JobsServer::start(&config_of("alive"));
    alive.wait_entries(LIMIT, |e| {
        let mut ids: HashSet<&str> = e.iter().filter_map(|v| v["id"].as_str()).collect();
        let d = dead.entries();
        ids.extend(d.iter().filter_map(|v| v["id"].as_str()));
        ids.len() >= 200
    });
    let seen = deliveries(&[&dead, &alive]);
    let lost = (0..200)
        .filter(|i| !seen.contains_key(&format!("c{i}")))
        .count();
    assert_eq!(lost, 0);
    let out = alive.server.output();
    assert!(
        out.contains("claimed entries idle past visibility_timeout"),
        "{out}"
    );
}

#[test]
fn two_servers_share_one_stream_each_job_once() {
    let stream = Stream::new("shared");
    let yaml = yaml(
        2,
        &["r1"],
        &pipeline("r1", &stream, "        prefetch: 50\n"),
        "",
        &redis_addr(),
    );
    let mut a = JobsServer::start(&yaml);
    let b = JobsServer::start(&yaml);
    let n = 10_000;
    for batch in 0..n / 1000 {
        a.push(
            (0..1000)
                .map(|i| job("r1", "ack", &format!("t{}", batch * 1000 + i)))
                .collect(),
        )
        .unwrap();
    }
    let all = wait_until(Duration::from_secs(120), || {
        (a.entries().len() + b.entries().len() >= n).then_some(())
    });
    assert!(
        all.is_some(),
        "drained {} + {}",
        a.entries().len(),
        b.entries().len()
    );
    let seen = deliveries(&[&a, &b]);
    let (share_a, share_b) = (a.entries().len(), b.entries().len());
    eprintln!("redis two servers: jobs={n} a={share_a} b={share_b}");
    assert_eq!(seen.len(), n);
    assert!(seen.values().all(|c| *c == 1), "each job once");
    assert!(share_a > 0 && share_b > 0, "a={share_a} b={share_b}");
}

/// Pushes `ids` in batches of `size`; the ids whose push succeeded.
fn push_all(s: &mut JobsServer, ids: &[String], size: usize) -> (Vec<String>, usize) {
    let mut ok = Vec::new();
    let mut failed = 0;
    for chunk in ids.chunks(size) {
        match s.push(chunk.iter().map(|id| job("r1", "slow:1", id)).collect()) {
            Ok(()) => ok.extend(chunk.iter().cloned()),
            Err(_) => failed += 1,
        }
    }
    (ok, failed)
}

/// Drains through a proxy, breaks it with `fault`, checks that pushes fail
/// and the pipeline reports the error, restores it and checks that the
/// pipeline resumes by itself and loses nothing. Prints the summary.
fn fault_run(what: &str, fault: impl Fn(&FaultProxy)) {
    let stream = Stream::new(what);
    let proxy = FaultProxy::start(redis_socket()).unwrap();
    let yaml = format!(
        "{}  dial_timeout: 1s\n  command_timeout: 1s\n",
        yaml(
            2,
            &["r1"],
            &pipeline("r1", &stream, "        prefetch: 50\n"),
            "",
            &proxy.addr().to_string(),
        )
    );
    let mut s = JobsServer::start(&yaml);
    let first: Vec<String> = (0..2000).map(|i| format!("f{i}")).collect();
    let (mut pushed, failed) = push_all(&mut s, &first, 200);
    assert_eq!(failed, 0);
    s.wait_entries(LIMIT, |e| e.len() >= 300);
    fault(&proxy);
    // The pipeline reports the outage; pushes meanwhile are errors.
    let reported = wait_until(LIMIT, || {
        let e = status_of(&s, "r1")["error_message"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        (!e.is_empty()).then_some(e)
    })
    .expect("the outage is reported");
    assert!(reported.contains("redis"), "{reported}");
    let ready = common::get(s.server.port("status", "status"), "/ready?plugin=jobs", "");
    assert_eq!(ready.status, 503, "{}", ready.text());
    let during: Vec<String> = (0..50).map(|i| format!("x{i}")).collect();
    let (accepted, refused) = push_all(&mut s, &during, 10);
    assert_eq!(refused, 5, "pushes during the {what} are errors");
    pushed.extend(accepted);
    // The deliveries this server held run out: the drain stops (no new
    // entry for 300 ms), so the first one after the restore was read anew.
    s.wait_entries(LIMIT, |e| {
        e.iter().filter_map(|v| v["t"].as_f64()).fold(0.0, f64::max) < now_secs() - 0.3
    });
    let restored = Instant::now();
    let restored_at = now_secs();
    proxy.restore();
    // Resumes by itself: no error, and deliveries again.
    wait_until(LIMIT, || {
        status_of(&s, "r1")["error_message"]
            .as_str()
            .is_some_and(str::is_empty)
            .then_some(())
    })
    .expect("the error clears");
    let healed_ms = restored.elapsed().as_millis();
    let after: Vec<String> = (0..500).map(|i| format!("a{i}")).collect();
    let (accepted, failed) = push_all(&mut s, &after, 100);
    assert_eq!(failed, 0, "pushes after the restore");
    pushed.extend(accepted);
    let entries = s.wait_entries(LIMIT, |e| {
        let ids: HashSet<&str> = e.iter().filter_map(|v| v["id"].as_str()).collect();
        pushed.iter().all(|p| ids.contains(p.as_str()))
    });
    let resume_ms = entries
        .iter()
        .filter_map(|e| e["t"].as_f64())
        .filter(|t| *t >= restored_at)
        .fold(f64::MAX, f64::min);
    let resume_ms = ((resume_ms - restored_at) * 1000.0).max(0.0) as u64;
    let seen = deliveries(&[&s]);
    let lost = pushed.iter().filter(|p| !seen.contains_key(*p)).count();
    let duplicated = seen.values().filter(|c| **c > 1).count();
    eprintln!(
        "redis fault ({what}): pushed={} delivered={} duplicated={duplicated} lost={lost} resume_ms={resume_ms} healed_ms={healed_ms}",
        pushed.len(),
        seen.values().sum::<usize>()
    );
    assert_eq!(lost, 0);
    s.wait_stats(LIMIT, |st| st["r1"].active == 0 && st["r1"].reserved == 0);
    let mut r = Redis::connect();
    wait_settled(&mut r, &stream);
}

#[test]
fn a_cut_link_mid_drain_is_redialed_and_loses_nothing() {
    fault_run("cut", FaultProxy::cut);
}

#[test]
fn a_stalled_link_mid_drain_is_redialed_and_loses_nothing() {
    fault_run("stall", FaultProxy::stall);
}

#[test]
fn an_unreachable_redis_at_start_fails_naming_pipeline_and_address() {
    let stream = Stream::new("unreachable");
    // A port nothing listens on: bind one and let it go.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let yaml = yaml(
        1,
        &["r1"],
        &pipeline("r1", &stream, ""),
        "",
        &free.to_string(),
    );
    let mut server = coyote_test_support::Server::start(common::BIN, &yaml, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("jobs.pipelines.r1") && out.contains(&free.to_string()),
        "{out}"
    );
}

#[test]
fn bad_keys_are_reported_with_their_paths() {
    let stream = Stream::new("badkeys");
    let pipelines = format!(
        "{}{}",
        pipeline(
            "r1",
            &stream,
            "        prefetch: lots\n        visibility_timeout: forever\n",
        ),
        pipeline(
            "r2",
            &stream,
            "        max_len: -5\n        priority: -1\n        addrs: [nohost]\n"
        ),
    );
    let yaml = format!(
        "{}  db: -1\n",
        yaml(1, &["r1"], &pipelines, "", &redis_addr())
    );
    let mut server = coyote_test_support::Server::start(common::BIN, &yaml, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(3), "{out}");
    for path in [
        "jobs.pipelines.r1.config.prefetch",
        "jobs.pipelines.r1.config.visibility_timeout",
        "jobs.pipelines.r2.config.max_len",
        "jobs.pipelines.r2.config.priority",
        "jobs.pipelines.r2.config.addrs",
        "redis.db",
    ] {
        assert!(out.contains(path), "{path} missing:\n{out}");
    }
    assert_eq!(out.matches("redis.db").count(), 1, "reported once:\n{out}");
}

/// A `redis-server` of the test's own on a free port, TLS only (with the
/// test PKI), stopped when dropped.
struct TlsRedis {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
    pki: coyote_test_support::pki::Pki,
}

impl TlsRedis {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = coyote_test_support::pki::Pki::generate(dir.path()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--tls-port", &port.to_string(), "--tls-auth-clients", "no"])
            .arg("--tls-cert-file")
            .arg(&pki.server_cert)
            .arg("--tls-key-file")
            .arg(&pki.server_key)
            .arg("--tls-ca-cert-file")
            .arg(&pki.ca)
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server ({e}); run the tests through scripts/test, which installs Redis")
            });
        let up = wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            up.is_some(),
            "redis-server with TLS did not listen on {port}"
        );
        Self {
            child,
            port,
            _dir: dir,
            pki,
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tls_with_a_private_ca_and_plain_text_refused() {
    let tls = TlsRedis::start();
    let stream = Stream::new("tls");
    let addr = format!("127.0.0.1:{}", tls.port);
    let with_ca = format!(
        "{}  tls:\n    ca: {}\n",
        yaml(1, &["r1"], &pipeline("r1", &stream, ""), "", &addr),
        tls.pki.ca.display()
    );
    let mut s = JobsServer::start(&with_ca);
    s.push(vec![job("r1", "ack", "secure")]).unwrap();
    let e = s.wait_entries(LIMIT, |e| e.len() == 1);
    assert_eq!(e[0]["driver"], "redis");
    drop(s);
    // The same server without TLS cannot start.
    let plain = yaml(1, &["r1"], &pipeline("r1", &stream, ""), "", &addr);
    let plain = plain.replace("redis:\n  addrs", "redis:\n  dial_timeout: 1s\n  addrs");
    let mut server = coyote_test_support::Server::start(common::BIN, &plain, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    let out = server.output();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("jobs.pipelines.r1") && out.contains(&addr),
        "{out}"
    );
}
