//! Shared by the jobs end-to-end files: a config with the jobs plugin and
//! the `jobs-driven.php` worker, a blocking `jobs.*` RPC client (protobuf,
//! as roadrunner-php/jobs calls it), and the worker's JSON-lines log.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use coyote_jobs::proto;
use coyote_rpc::RpcClient;
use coyote_test_support::{repo_root, wait_until, Server};
use goridge::flags;
use prost::Message;

use super::BIN;

/// A config running `jobs-driven.php` with `workers` workers; `pipelines`
/// is the YAML under `jobs.pipelines:` (indented 4), `extra` more keys
/// under `jobs:` (indented 2).
pub fn config(workers: usize, consume: &[&str], pipelines: &str, extra: &str) -> String {
    let worker = repo_root().join("php/workers/jobs-driven.php");
    format!(
        r#"{preamble}status:
  address: 127.0.0.1:0
jobs:
  pool:
    num_workers: {workers}
  consume: [{consume}]
{extra}
  pipelines:
{pipelines}
"#,
        preamble = super::preamble(&worker),
        consume = consume.join(", "),
    )
}

/// A started server whose workers log to `log`.
pub struct JobsServer {
    pub server: Server,
    pub log: PathBuf,
    runtime: tokio::runtime::Runtime,
    client: Option<RpcClient>,
}

impl JobsServer {
    pub fn start(config: &str) -> Self {
        Self::start_env(config, &[])
    }

    pub fn start_env(config: &str, env: &[(&str, &str)]) -> Self {
        let log_dir = tempfile::tempdir().unwrap().keep();
        Self::start_with_log(config, env, log_dir.join("jobs.log"))
    }

    /// Starts with workers logging to `log` (a second server appends to the
    /// first one's log).
    pub fn start_with_log(config: &str, env: &[(&str, &str)], log: PathBuf) -> Self {
        let mut all = vec![("JOBS_LOG", log.to_str().unwrap())];
        all.extend_from_slice(env);
        let mut server = Server::start_with_env(BIN, config, &[], &all).unwrap();
        server.wait_ready();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Self {
            server,
            log,
            runtime,
            client: None,
        }
    }

    /// Calls `jobs.<method>` with a protobuf argument.
    pub fn call<M: Message>(&mut self, method: &str, arg: &M) -> Result<Bytes, String> {
        self.call_bytes(method, arg.encode_to_vec().into())
    }

    /// Calls `jobs.<method>` with raw bytes as the protobuf argument.
    pub fn call_bytes(&mut self, method: &str, body: Bytes) -> Result<Bytes, String> {
        if self.client.is_none() {
            let address = self.server.address("rpc", "rpc").unwrap();
            self.client = Some(self.runtime.block_on(RpcClient::connect(&address)).unwrap());
        }
        let client = self.client.as_mut().unwrap();
        self.runtime
            .block_on(client.call_raw(&format!("jobs.{method}"), flags::CODEC_PROTO, body))
            .map_err(|e| e.to_string())
    }

    pub fn push(&mut self, jobs: Vec<proto::Job>) -> Result<(), String> {
        self.call("PushBatch", &proto::PushBatchRequest { jobs })
            .map(|_| ())
    }

    pub fn pipelines(&mut self, method: &str, names: &[&str]) -> Result<Vec<String>, String> {
        let arg = proto::Pipelines {
            pipelines: names.iter().map(|s| (*s).to_owned()).collect(),
        };
        let out = self.call(method, &arg)?;
        Ok(proto::Pipelines::decode(out).unwrap_or_default().pipelines)
    }

    pub fn stats(&mut self) -> HashMap<String, proto::Stat> {
        let out = self.call("Stat", &proto::Empty {}).unwrap();
        proto::Stats::decode(out)
            .unwrap()
            .stats
            .into_iter()
            .map(|s| (s.pipeline.clone(), s))
            .collect()
    }

    pub fn declare(&mut self, pairs: &[(&str, &str)]) -> Result<(), String> {
        let pipeline = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.call("Declare", &proto::DeclareRequest { pipeline })
            .map(|_| ())
    }

    /// The `error_message` of a pipeline, from `status /jobs`.
    pub fn error_of(&self, pipeline: &str) -> String {
        let port = self.server.port("status", "status");
        let r = super::get(port, "/jobs", "");
        r.json()
            .as_array()
            .and_then(|a| a.iter().find(|v| v["pipeline"] == pipeline).cloned())
            .and_then(|v| v["error_message"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Waits until `pred` holds for the pipeline's error message.
    pub fn wait_error(&self, pipeline: &str, limit: Duration, pred: impl Fn(&str) -> bool) {
        let found = wait_until(limit, || pred(&self.error_of(pipeline)).then_some(()));
        assert!(
            found.is_some(),
            "error message of {pipeline} never matched: {:?}",
            self.error_of(pipeline)
        );
    }

    /// The worker log's entries so far.
    pub fn entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until `pred` holds for the log entries (a deadline, not a sleep).
    pub fn wait_entries(
        &self,
        limit: Duration,
        pred: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let found = wait_until(limit, || {
            let e = self.entries();
            pred(&e).then_some(e)
        });
        found.unwrap_or_else(|| {
            panic!(
                "worker log never matched; entries: {:#?}\nserver output:\n{}",
                self.entries(),
                self.server.output()
            )
        })
    }
    /// RoadRunner's reply table on pipeline `p1` of `driver` (whose queue
    /// is `queue`): one job per reply kind (`php/workers/jobs-driven.php`
    /// answers by job name); waits until every delivery happened and the
    /// pipeline is empty, checks each job's delivery count and the requeued
    /// job's id, headers, driver, queue and payload. The worker log.
    pub fn settles_every_reply_type(
        &mut self,
        limit: Duration,
        driver: &str,
        queue: &str,
    ) -> Vec<serde_json::Value> {
        const NAMES: [&str; 12] = [
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
        // Deliveries expected per job: acked ones once, dropped ones once,
        // redelivered / requeued ones until the worker acks.
        const EXPECTED: [usize; 12] = [1, 1, 1, 1, 1, 1, 1, 1, 3, 4, 3, 2];
        let batch = NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| job("p1", n, &format!("j{i}")))
            .collect();
        self.push(batch).unwrap();
        let total: usize = EXPECTED.iter().sum();
        self.wait_entries(limit, |e| e.len() >= total);
        self.wait_stats(limit, |st| st["p1"].active == 0 && st["p1"].reserved == 0);
        let entries = self.entries();
        for (i, (name, want)) in NAMES.iter().zip(EXPECTED).enumerate() {
            let seen = of(&entries, &format!("j{i}"));
            assert_eq!(seen.len(), want, "{name}: {seen:#?}");
            assert!(seen
                .iter()
                .all(|e| e["name"] == *name && e["pipeline"] == "p1"));
        }
        // Requeue keeps the id and carries the worker's headers.
        let requeued = of(&entries, "j9");
        assert_eq!(requeued.last().unwrap()["headers"]["attempt"][0], "3");
        assert_eq!(requeued[0]["driver"], driver);
        assert_eq!(requeued[0]["queue"], queue);
        assert_eq!(requeued[0]["payload"], "payload-j9");
        entries
    }

    /// Waits until `pred` holds for the pipeline stats.
    pub fn wait_stats(
        &mut self,
        limit: Duration,
        pred: impl Fn(&HashMap<String, proto::Stat>) -> bool,
    ) -> HashMap<String, proto::Stat> {
        let found = wait_until(limit, || {
            let s = self.stats();
            pred(&s).then_some(s)
        });
        found.unwrap_or_else(|| panic!("stats never matched: {:#?}", self.stats()))
    }
}

/// A job for `pipeline`, named `name` (the worker's instruction).
pub fn job(pipeline: &str, name: &str, id: &str) -> proto::Job {
    proto::Job {
        job: name.to_owned(),
        id: id.to_owned(),
        payload: Bytes::from(format!("payload-{id}")),
        headers: HashMap::new(),
        options: Some(proto::Options {
            pipeline: pipeline.to_owned(),
            ..proto::Options::default()
        }),
    }
}

/// `job` with options changed by `f`.
pub fn job_with(
    pipeline: &str,
    name: &str,
    id: &str,
    f: impl FnOnce(&mut proto::Options),
) -> proto::Job {
    let mut j = job(pipeline, name, id);
    if let Some(o) = j.options.as_mut() {
        f(o);
    }
    j
}

/// Entries with this id.
pub fn of<'a>(entries: &'a [serde_json::Value], id: &str) -> Vec<&'a serde_json::Value> {
    entries.iter().filter(|e| e["id"] == id).collect()
}
