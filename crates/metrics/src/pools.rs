//! Worker metrics read from the pools at scrape time, named like
//! RoadRunner's (`rr_http_total_workers`, `rr_http_workers_memory_bytes`,
//! `rr_http_worker_state`, `rr_http_worker_memory_bytes`,
//! `rr_http_workers_ready` / `_working` / `_invalid`), plus Coyote's own
//! (`_requests_waiting`, `_queue_waits`, `_queue_wait_seconds`,
//! `_worker_processed_jobs`).

use std::collections::BTreeMap;

use coyote_pool::{Pool, WorkerStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::MetricType;

pub(crate) struct PoolCollector {
    pools: BTreeMap<String, Pool>,
}

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.pools.keys()).finish()
    }
}

impl PoolCollector {
    pub(crate) fn new(pools: BTreeMap<String, Pool>) -> Self {
        Self { pools }
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, pool) in &self.pools {
            let workers = pool.workers();
            let count = |s: WorkerStatus| workers.iter().filter(|w| w.status == s).count() as i64;
            gauge(
                &mut encoder,
                &format!("rr_{name}_total_workers"),
                "Worker processes in the pool",
                workers.len() as i64,
            )?;
            gauge(
                &mut encoder,
                &format!("rr_{name}_workers_ready"),
                "Workers idle and ready",
                count(WorkerStatus::Ready),
            )?;
            gauge(
                &mut encoder,
                &format!("rr_{name}_workers_working"),
                "Workers executing a request",
                count(WorkerStatus::Working),
            )?;
            gauge(
                &mut encoder,
                &format!("rr_{name}_workers_invalid"),
                "Workers marked for replacement",
                workers.len() as i64 - count(WorkerStatus::Ready) - count(WorkerStatus::Working),
            )?;
            let memory_total: u64 = workers.iter().map(|w| w.memory_rss).sum();
            gauge(
                &mut encoder,
                &format!("rr_{name}_workers_memory_bytes"),
                "Memory usage by the pool's workers",
                i64::try_from(memory_total).unwrap_or(i64::MAX),
            )?;
            // RoadRunner's state family: one series per worker, value 0,
            // the state in a label.
            let states = Family::<Vec<(String, String)>, Gauge>::default();
            for w in &workers {
                let _ = states.get_or_create(&vec![
                    ("state".to_owned(), w.status.as_str().to_owned()),
                    ("pid".to_owned(), w.pid.to_string()),
                ]);
            }
            let state_name = format!("rr_{name}_worker_state");
            let m = encoder.encode_descriptor(
                &state_name,
                "Worker current state",
                None,
                MetricType::Gauge,
            )?;
            states.encode(m)?;
            // Not `rr_<pool>_requests_queue`: RoadRunner's
            // `rr_http_requests_queue` (http_metrics) counts requests in
            // flight, and the HTTP plugin's request metrics export it.
            gauge(
                &mut encoder,
                &format!("rr_{name}_requests_waiting"),
                "Requests waiting for a free worker",
                pool.waiting() as i64,
            )?;
            let (waits, waited) = pool.queue_wait();
            let waits_name = format!("rr_{name}_queue_waits");
            let m = encoder.encode_descriptor(
                &waits_name,
                "Executions that had to wait for a free worker",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(waits).encode(m)?;
            let waited_name = format!("rr_{name}_queue_wait_seconds");
            let m = encoder.encode_descriptor(
                &waited_name,
                "Total time executions waited for a free worker",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(waited.as_secs_f64()).encode(m)?;
            let memory = Family::<Vec<(String, String)>, Gauge>::default();
            let execs = Family::<Vec<(String, String)>, Gauge>::default();
            for w in &workers {
                let labels = vec![("pid".to_owned(), w.pid.to_string())];
                memory
                    .get_or_create(&labels)
                    .set(i64::try_from(w.memory_rss).unwrap_or(i64::MAX));
                execs
                    .get_or_create(&labels)
                    .set(i64::try_from(w.num_execs).unwrap_or(i64::MAX));
            }
            let memory_name = format!("rr_{name}_worker_memory_bytes");
            let m = encoder.encode_descriptor(
                &memory_name,
                "Resident memory of each worker",
                None,
                MetricType::Gauge,
            )?;
            memory.encode(m)?;
            let execs_name = format!("rr_{name}_worker_processed_jobs");
            let m = encoder.encode_descriptor(
                &execs_name,
                "Executions completed by each worker",
                None,
                MetricType::Gauge,
            )?;
            execs.encode(m)?;
        }
        Ok(())
    }
}
