//! What the page shows, as one JSON document per second: per pool its
//! workers and its traffic (rates over the last second, latency quantiles
//! and queue waits over the last ten), per jobs pipeline its counts.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coyote_pool::{Pool, Reading, WorkerInfo};
use serde::Serialize;

/// Samples kept per pool: the quantile window is the oldest to the newest.
const WINDOW: usize = 11;

/// One document the page renders.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// When it was taken (Unix milliseconds).
    pub time_ms: u64,
    /// Whether reset / pause / resume are offered (a token is configured).
    pub actions: bool,
    /// The pools, by plugin name.
    pub pools: Vec<PoolView>,
    /// The jobs pipelines' states (RoadRunner's `jobs.State` fields).
    pub pipelines: Vec<serde_json::Value>,
}

/// One worker process.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct WorkerView {
    /// Process id.
    pub pid: u32,
    /// RoadRunner's state name (`ready`, `working`, ...).
    pub state: &'static str,
    /// Completed executions.
    pub execs: u64,
    /// Resident memory, bytes.
    pub rss: u64,
    /// Average CPU over the process's life, percent of one core.
    pub cpu: f64,
    /// Seconds since the process started.
    pub age_s: f64,
}

impl WorkerView {
    fn new(info: &WorkerInfo, now: SystemTime) -> Self {
        Self {
            pid: info.pid,
            state: info.status.as_str(),
            execs: info.num_execs,
            rss: info.memory_rss,
            cpu: round(info.cpu_percent, 1),
            age_s: round(
                now.duration_since(info.created)
                    .unwrap_or_default()
                    .as_secs_f64(),
                1,
            ),
        }
    }
}

/// One pool: its workers and traffic.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PoolView {
    /// The plugin the pool serves (`http`, `jobs`, ...).
    pub name: String,
    /// Its worker processes, oldest first.
    pub workers: Vec<WorkerView>,
    /// The traffic figures.
    #[serde(flatten)]
    pub traffic: Traffic,
}

/// A pool's traffic: totals, and rates between two samples.
#[derive(Serialize, Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    /// Requests recorded since the pool started.
    pub requests: u64,
    /// Server errors (HTTP 5xx) since the pool started.
    pub errors: u64,
    /// Requests per second over the last second (`None`: no earlier sample).
    pub rps: Option<f64>,
    /// Server errors per second over the last second.
    pub errors_per_s: Option<f64>,
    /// Median latency over the window, milliseconds (`None`: no request).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency over the window, milliseconds.
    pub p99_ms: Option<f64>,
    /// Callers waiting for a worker right now.
    pub queued: usize,
    /// Callers that had to wait for a worker since the pool started.
    pub waits: u64,
    /// Of those, per second over the window.
    pub waits_per_s: Option<f64>,
    /// Mean wait of those over the window, milliseconds.
    pub wait_ms: Option<f64>,
    /// Seconds the quantiles and waits cover.
    pub window_s: f64,
}

/// One pool's counters at one instant.
#[derive(Clone, Debug)]
pub struct Mark {
    /// When they were read.
    pub at: Instant,
    /// The traffic meter.
    pub meter: Reading,
    /// Queue waits: how many, how long in total.
    pub waits: (u64, Duration),
    /// Waiting right now.
    pub queued: usize,
}

impl Mark {
    /// Reads `pool`'s counters.
    pub fn of(pool: &Pool, at: Instant) -> Self {
        Self {
            at,
            meter: pool.meter().read(),
            waits: pool.queue_wait(),
            queued: pool.waiting(),
        }
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

fn per_second(count: u64, over: Duration) -> Option<f64> {
    (!over.is_zero()).then(|| round(count as f64 / over.as_secs_f64(), 1))
}

impl Traffic {
    /// The figures at `now`, with rates against `last` (about a second
    /// ago) and quantiles and waits against `oldest` (the window start).
    pub fn between(oldest: Option<&Mark>, last: Option<&Mark>, now: &Mark) -> Self {
        let mut traffic = Self {
            requests: now.meter.requests,
            errors: now.meter.errors,
            queued: now.queued,
            waits: now.waits.0,
            ..Self::default()
        };
        if let Some(last) = last {
            let over = now.at.saturating_duration_since(last.at);
            let recent = now.meter.since(&last.meter);
            traffic.rps = per_second(recent.requests, over);
            traffic.errors_per_s = per_second(recent.errors, over);
        }
        if let Some(oldest) = oldest {
            let over = now.at.saturating_duration_since(oldest.at);
            let window = now.meter.since(&oldest.meter);
            let ms = |d: Duration| round(d.as_secs_f64() * 1000.0, 2);
            traffic.p50_ms = window.quantile(0.5).map(ms);
            traffic.p99_ms = window.quantile(0.99).map(ms);
            let waits = now.waits.0.saturating_sub(oldest.waits.0);
            let waited = now.waits.1.saturating_sub(oldest.waits.1);
            traffic.waits_per_s = per_second(waits, over);
            traffic.wait_ms = u32::try_from(waits)
                .ok()
                .filter(|n| *n > 0)
                .map(|n| ms(waited / n));
            traffic.window_s = round(over.as_secs_f64(), 1);
        }
        traffic
    }
}

/// Turns successive readings of the pools into snapshots, keeping the last
/// [`WINDOW`] marks of each pool.
#[derive(Default)]
pub struct Sampler {
    history: BTreeMap<String, VecDeque<Mark>>,
}

impl Sampler {
    /// Forgets the history (nobody watched for a while: rates restart).
    pub fn clear(&mut self) {
        self.history.clear();
    }

    /// One snapshot of `pools` and `pipelines` at `now`.
    pub fn sample(
        &mut self,
        now: Instant,
        pools: &BTreeMap<String, Pool>,
        pipelines: Vec<serde_json::Value>,
        actions: bool,
    ) -> Snapshot {
        self.history.retain(|name, _| pools.contains_key(name));
        let wall = SystemTime::now();
        let pools = pools
            .iter()
            .map(|(name, pool)| {
                let mark = Mark::of(pool, now);
                let history = self.history.entry(name.clone()).or_default();
                let traffic = Traffic::between(history.front(), history.back(), &mark);
                history.push_back(mark);
                while history.len() > WINDOW {
                    history.pop_front();
                }
                PoolView {
                    name: name.clone(),
                    workers: pool
                        .workers()
                        .iter()
                        .map(|w| WorkerView::new(w, wall))
                        .collect(),
                    traffic,
                }
            })
            .collect();
        Snapshot {
            time_ms: wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            actions,
            pools,
            pipelines,
        }
    }
}

#[cfg(test)]
mod tests {
    use coyote_pool::Meter;

    use super::*;

    fn mark(meter: &Meter, at: Instant, waits: (u64, Duration)) -> Mark {
        Mark {
            at,
            meter: meter.read(),
            waits,
            queued: 2,
        }
    }

    #[test]
    fn rates_and_quantiles_between_marks() {
        let meter = Meter::default();
        let t0 = Instant::now();
        let first = mark(&meter, t0, (0, Duration::ZERO));
        let alone = Traffic::between(None, None, &first);
        assert_eq!(alone.rps, None, "no rate without an earlier sample");
        assert_eq!(alone.p50_ms, None);
        assert_eq!(alone.queued, 2);

        for _ in 0..40 {
            meter.record(Duration::from_millis(2), false);
        }
        let second = mark(
            &meter,
            t0 + Duration::from_secs(1),
            (4, Duration::from_millis(40)),
        );
        for _ in 0..9 {
            meter.record(Duration::from_millis(2), false);
        }
        meter.record(Duration::from_millis(500), true);
        let third = mark(
            &meter,
            t0 + Duration::from_secs(2),
            (6, Duration::from_millis(100)),
        );
        let traffic = Traffic::between(Some(&first), Some(&second), &third);
        assert_eq!((traffic.requests, traffic.errors), (50, 1));
        assert_eq!(traffic.rps, Some(10.0), "10 requests in the last second");
        assert_eq!(traffic.errors_per_s, Some(1.0));
        let p50 = traffic.p50_ms.unwrap();
        let p99 = traffic.p99_ms.unwrap();
        assert!((1.8..=2.3).contains(&p50), "p50 {p50}");
        assert!((440.0..=560.0).contains(&p99), "p99 {p99}");
        assert_eq!(traffic.waits, 6);
        assert_eq!(traffic.waits_per_s, Some(3.0));
        assert_eq!(traffic.wait_ms, Some(16.67), "100 ms over 6 waits");
        assert_eq!(traffic.window_s, 2.0);
    }

    #[test]
    fn snapshot_serialises_flat_pool_figures() {
        let snapshot = Snapshot {
            time_ms: 1,
            actions: false,
            pools: vec![PoolView {
                name: "http".into(),
                workers: vec![WorkerView {
                    pid: 42,
                    state: "ready",
                    execs: 3,
                    rss: 1024,
                    cpu: 0.5,
                    age_s: 1.5,
                }],
                traffic: Traffic {
                    requests: 7,
                    ..Traffic::default()
                },
            }],
            pipelines: vec![serde_json::json!({"pipeline": "p", "ready": true})],
        };
        let json = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(json["pools"][0]["requests"], 7);
        assert_eq!(json["pools"][0]["workers"][0]["pid"], 42);
        assert_eq!(json["pools"][0]["rps"], serde_json::Value::Null);
        assert_eq!(json["pipelines"][0]["pipeline"], "p");
    }
}
