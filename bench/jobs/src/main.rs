//! Jobs push and drain rates through a running `coyote serve`, beside the
//! pool-echo ceiling of the same PHP consumer, in one run.
//!
//! For each driver (memory, boltdb, and the brokers: nats, redis,
//! beanstalk, amqp, sqs, found at the `COYOTE_TEST_*` addresses that
//! `scripts/brokers.sh` exports) and consumer count (2, 8; brokers 2):
//! 1. start coyote with one pipeline, not consumed (paused);
//! 2. push N jobs with PushBatch(100): from Rust over one connection, from
//!    Rust over 4 connections, and from PHP (the SDK's `pushBatch`);
//!    after each push, Resume and time the drain (until Stat shows nothing
//!    active, delayed or reserved), then Pause again;
//! 3. the ceiling: the same PHP consumer (`php/workers/jobs-bench.php`) in
//!    a `coyote_pool::Pool` of the same size, N executions of the same
//!    context and payload at the pollers' concurrency (consumers + 2).
//!
//! Broker pipelines use durable settings (JetStream file storage,
//! persistent AMQP messages with publisher confirms, Redis as configured,
//! beanstalkd as started) and a queue / stream / tube of their own per
//! cell, deleted at stop where the driver can. Their Stat counts come from
//! the broker, so a drain waits until Stat shows all `n` jobs queued first.
//!
//! Drains and ceilings alternate `rounds` times; medians are compared.
//! The last line is the memory driver at the smallest consumer count:
//! `jobs drain_per_sec=N ceiling_per_sec=M ratio=R`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Parser;
use coyote_jobs::proto;
use coyote_pool::{Payload, Pool, PoolOptions, RelayAddress, WorkerCommand};
use coyote_rpc::RpcClient;
use goridge::flags;
use prost::Message;

#[derive(Parser, Debug)]
#[command(about = "Jobs push / drain rates beside the pool ceiling")]
struct Args {
    /// The coyote binary.
    #[arg(long, default_value = "target/release/coyote")]
    coyote: PathBuf,
    /// Jobs per push / drain.
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// PHP consumer counts.
    #[arg(long, value_delimiter = ',', default_value = "2,8")]
    consumers: Vec<usize>,
    /// Drivers.
    #[arg(long, value_delimiter = ',', default_value = "memory,boltdb")]
    drivers: Vec<String>,
    /// PHP consumer counts for the broker drivers.
    #[arg(long, value_delimiter = ',', default_value = "2")]
    broker_consumers: Vec<usize>,
    /// The broker pipelines' prefetch (unsettled deliveries per server).
    #[arg(long, default_value_t = 100)]
    broker_prefetch: usize,
    /// Jobs per push / drain for `sqs` (moto, the local endpoint, answers
    /// some 60 requests a second here: it measures moto, not the driver).
    #[arg(long, default_value_t = 300)]
    sqs_jobs: usize,
    /// Drain / ceiling rounds per cell (medians compared).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The PHP binary.
    #[arg(long, default_value = "php")]
    php: String,
    /// The memory pipeline's prefetch (RoadRunner's default: 100000).
    #[arg(long, default_value_t = 100_000)]
    prefetch: usize,
}

const WORKER: &str = "php/workers/jobs-bench.php";

struct Coyote {
    child: Child,
    rpc: String,
    _dir: tempfile::TempDir,
}

impl Drop for Coyote {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The broker address `var` (exported by `scripts/brokers.sh`).
fn broker(var: &str) -> Result<String> {
    std::env::var(var).with_context(|| format!("{var} is not set (run through bench/jobs/run.sh)"))
}

/// The pipeline's `driver` + `config` lines, and the top-level section
/// the driver reads.
fn pipeline_config(args: &Args, driver: &str, dir: &Path, tag: &str) -> Result<(String, String)> {
    let pf = args.broker_prefetch;
    Ok(match driver {
        "memory" => (
            format!("driver: memory\n      config:\n        prefetch: {}", args.prefetch),
            String::new(),
        ),
        "boltdb" => (
            format!(
                "driver: boltdb\n      config:\n        prefetch: 10000\n        file: {}",
                dir.join("bench.db").display()
            ),
            String::new(),
        ),
        "nats" => (
            format!("driver: nats\n      config:\n        prefetch: {pf}\n        subject: {tag}\n        stream: {tag}\n        delete_stream_on_stop: true"),
            format!("nats:\n  addr: nats://{}\n", broker("COYOTE_TEST_NATS")?),
        ),
        "redis" => (
            format!("driver: redis\n      config:\n        prefetch: {pf}\n        stream: {tag}\n        delete_stream_on_stop: true"),
            format!("redis:\n  addrs: [\"{}\"]\n", broker("COYOTE_TEST_REDIS")?),
        ),
        "beanstalk" => (
            format!("driver: beanstalk\n      config:\n        prefetch: {pf}\n        tube: {tag}"),
            format!("beanstalk:\n  addr: tcp://{}\n", broker("COYOTE_TEST_BEANSTALK")?),
        ),
        "amqp" => (
            format!("driver: amqp\n      config:\n        prefetch: {pf}\n        queue: {tag}\n        exchange: {tag}\n        routing_key: {tag}\n        durable: true\n        delete_queue_on_stop: true"),
            format!("amqp:\n  addr: {}\n", broker("COYOTE_TEST_AMQP")?),
        ),
        "sqs" => (
            format!("driver: sqs\n      config:\n        prefetch: 10\n        max_messages_in_flight: {pf}\n        queue: {tag}\n        wait_time_seconds: 1"),
            format!(
                "sqs:\n  endpoint: {}\n  key: bench\n  secret: bench\n  region: us-east-1\n",
                broker("COYOTE_TEST_SQS")?
            ),
        ),
        other => bail!("unknown driver {other}"),
    })
}

fn is_broker(driver: &str) -> bool {
    !matches!(driver, "memory" | "boltdb")
}

fn start_coyote(args: &Args, driver: &str, consumers: usize) -> Result<Coyote> {
    let dir = tempfile::tempdir()?;
    let root = std::env::current_dir()?;
    let tag = format!("coyote-bench-{}-{driver}-{consumers}", std::process::id());
    let (config, section) = pipeline_config(args, driver, dir.path(), &tag)?;
    let yaml = format!(
        "version: \"3\"\n{section}rpc:\n  listen: tcp://127.0.0.1:0\nlogs:\n  level: warn\nserver:\n  command: \"{php} -d opcache.enable_cli=1 {worker}\"\njobs:\n  pool:\n    num_workers: {consumers}\n  pipelines:\n    bench:\n      {config}\n",
        php = args.php,
        worker = root.join(WORKER).display(),
    );
    std::fs::write(dir.path().join(".rr.yaml"), yaml)?;
    let report = dir.path().join("report");
    let log = std::fs::File::create(dir.path().join("coyote.log"))?;
    let child = Command::new(root.join(&args.coyote))
        .args(["serve", "--report"])
        .arg(&report)
        .current_dir(dir.path())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting coyote")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        if text.lines().any(|l| l == "phase running") {
            let rpc = text
                .lines()
                .find_map(|l| l.strip_prefix("listen rpc rpc "))
                .context("no rpc address in the report")?
                .to_owned();
            return Ok(Coyote {
                child,
                rpc,
                _dir: dir,
            });
        }
        if Instant::now() > deadline {
            bail!("coyote did not start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

async fn call<M: Message>(c: &mut RpcClient, method: &str, arg: &M) -> Result<Bytes> {
    Ok(
        c.call_raw(method, flags::CODEC_PROTO, arg.encode_to_vec().into())
            .await?,
    )
}

fn batch(from: usize, n: usize) -> proto::PushBatchRequest {
    proto::PushBatchRequest {
        jobs: (from..from + n)
            .map(|i| proto::Job {
                job: "bench".into(),
                id: format!("job-{i}"),
                payload: Bytes::from(format!("payload-{i}")),
                headers: Default::default(),
                options: Some(proto::Options {
                    pipeline: "bench".into(),
                    ..Default::default()
                }),
            })
            .collect(),
    }
}

/// Pushes `n` jobs over `connections` connections; jobs per second.
async fn push_rust(rpc: &str, n: usize, connections: usize) -> Result<f64> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per = n / connections;
    for c in 0..connections {
        let rpc = rpc.to_owned();
        tasks.spawn(async move {
            let mut client = RpcClient::connect(&rpc).await?;
            let mut done = 0;
            while done < per {
                let k = 100.min(per - done);
                call(&mut client, "jobs.PushBatch", &batch(c * per + done, k)).await?;
                done += k;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok((per * connections) as f64 / started.elapsed().as_secs_f64())
}

fn push_php(args: &Args, rpc: &str, n: usize) -> Result<f64> {
    let out = Command::new(&args.php)
        .args([
            "-d",
            "opcache.enable_cli=1",
            "bench/jobs/push.php",
            rpc,
            "bench",
        ])
        .arg(n.to_string())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let secs: f64 = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("seconds="))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("push.php said: {text}"))?;
    Ok(n as f64 / secs)
}

async fn stat(c: &mut RpcClient) -> Result<proto::Stat> {
    let out = call(c, "jobs.Stat", &proto::Empty {}).await?;
    proto::Stats::decode(out)?
        .stats
        .into_iter()
        .find(|s| s.pipeline == "bench")
        .context("no bench pipeline")
}

/// Resumes the pipeline holding `n` jobs; jobs per second until drained.
async fn drain(rpc: &str, n: usize) -> Result<f64> {
    let mut c = RpcClient::connect(rpc).await?;
    // A broker's count reaches `n` once it has every job (some brokers
    // count asynchronously); more than `n` is a leftover: an error.
    let waiting = Instant::now();
    loop {
        let s = stat(&mut c).await?;
        let active = usize::try_from(s.active).unwrap_or(0);
        if active == n {
            break;
        }
        if active > n || waiting.elapsed() > Duration::from_secs(60) {
            bail!("expected {n} queued jobs, Stat says {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let names = proto::Pipelines {
        pipelines: vec!["bench".into()],
    };
    let started = Instant::now();
    call(&mut c, "jobs.Resume", &names).await?;
    loop {
        let s = stat(&mut c).await?;
        if s.active == 0 && s.reserved == 0 && s.delayed == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("drain stuck: {s:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    call(&mut c, "jobs.Pause", &names).await?;
    Ok(rate)
}

/// The same PHP consumer driven directly by a pool: executions per second.
async fn ceiling(args: &Args, workers: usize, n: usize, driver: &str) -> Result<f64> {
    let root = std::env::current_dir()?;
    let pool = Pool::start(PoolOptions {
        name: "ceiling".into(),
        command: WorkerCommand {
            argv: vec![
                args.php.clone(),
                "-d".into(),
                "opcache.enable_cli=1".into(),
                root.join(WORKER).display().to_string(),
            ],
            ..WorkerCommand::from_line("")
        }
        .mode("jobs"),
        relay: RelayAddress::Pipes,
        num_workers: workers,
        ..PoolOptions::default()
    })
    .await?;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let driver = driver.to_owned();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers + 2 {
        let (pool, next, driver) = (pool.clone(), next.clone(), driver.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let context = format!(
                    r#"{{"id":"job-{i}","job":"bench","driver":"{driver}","headers":{{}},"pipeline":"bench","queue":"bench"}}"#
                );
                let answer = pool
                    .exec(Payload::raw(context, format!("payload-{i}")))
                    .await?;
                if !answer.body.starts_with(br#"{"type":2"#) {
                    bail!("unexpected reply {:?}", answer.body);
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    pool.shutdown().await;
    Ok(rate)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if !Path::new(WORKER).exists() {
        bail!("run from the repository root (no {WORKER})");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let n = args.jobs;
    println!(
        "{:<9} {:>9} {:>7} {:>12} {:>12} {:>10} {:>11} {:>11} {:>6}",
        "driver",
        "consumers",
        "jobs",
        "push_rust1/s",
        "push_rust4/s",
        "push_php/s",
        "drain/s",
        "ceiling/s",
        "ratio"
    );
    let mut headline = None;
    let mut lines = Vec::new();
    for driver in &args.drivers {
        let counts = if is_broker(driver) {
            &args.broker_consumers
        } else {
            &args.consumers
        };
        let n = if driver == "sqs" { args.sqs_jobs } else { n };
        for &consumers in counts {
            let server = start_coyote(&args, driver, consumers)?;
            let (mut drains, mut ceilings) = (Vec::new(), Vec::new());
            let (mut rust1, mut rust4, mut php) = (Vec::new(), Vec::new(), Vec::new());
            for round in 0..args.rounds {
                let pushed = match round % 3 {
                    0 => {
                        rust1.push(rt.block_on(push_rust(&server.rpc, n, 1))?);
                        n
                    }
                    1 => {
                        rust4.push(rt.block_on(push_rust(&server.rpc, n, 4))?);
                        n / 4 * 4
                    }
                    _ => {
                        php.push(push_php(&args, &server.rpc, n)?);
                        n
                    }
                };
                drains.push(rt.block_on(drain(&server.rpc, pushed))?);
                ceilings.push(rt.block_on(ceiling(&args, consumers, n, driver))?);
            }
            drop(server);
            let (d, c) = (median(drains.clone()), median(ceilings.clone()));
            let show = |v: &Vec<f64>| {
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    format!("{:.0}", median(v.clone()))
                }
            };
            println!(
                "{driver:<9} {consumers:>9} {n:>7} {:>12} {:>12} {:>10} {d:>11.0} {c:>11.0} {:>6.2}",
                show(&rust1),
                show(&rust4),
                show(&php),
                d / c
            );
            println!(
                "  rounds drain/s: {:?}  ceiling/s: {:?}",
                drains.iter().map(|x| x.round()).collect::<Vec<_>>(),
                ceilings.iter().map(|x| x.round()).collect::<Vec<_>>()
            );
            lines.push(format!(
                "jobs driver={driver} consumers={consumers} drain_per_sec={d:.0} ceiling_per_sec={c:.0} ratio={:.2}",
                d / c
            ));
            if headline.is_none() && driver == "memory" {
                headline = Some((d, c));
            }
        }
    }
    for l in &lines {
        println!("{l}");
    }
    if let Some((d, c)) = headline {
        println!(
            "jobs drain_per_sec={d:.0} ceiling_per_sec={c:.0} ratio={:.2}",
            d / c
        );
    }
    Ok(())
}
