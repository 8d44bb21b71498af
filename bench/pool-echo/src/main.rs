//! Echo throughput and latency through `coyote_pool::Pool`, side by side
//! with the no-pool ceiling (the C driver in bench/ceiling) on the same
//! PHP echo script, in one run.
//!
//! Each cell: start a pool (relay, workers), warm up, then `concurrency`
//! tasks loop `exec` for `seconds`; report calls/s, p50 and p99.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use coyote_pool::{Payload, Pool, PoolOptions, RelayAddress, WorkerCommand};

#[derive(Parser, Debug)]
#[command(about = "Pool echo benchmark with a no-pool ceiling")]
struct Args {
    /// Worker counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    workers: Vec<usize>,
    /// Relays to measure.
    #[arg(long, value_delimiter = ',', default_value = "pipes,tcp,unix")]
    relays: Vec<String>,
    /// Concurrency levels (callers in flight); "auto" picks 1x, 2x, 4x, 16x workers.
    #[arg(long, value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Seconds per cell.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Body bytes per call.
    #[arg(long, default_value_t = 32)]
    body: usize,
    /// Tokio runtime: `current` (one thread) or `multi`.
    #[arg(long, default_value = "current")]
    runtime: String,
    /// The PHP echo worker.
    #[arg(long, default_value = "php/workers/echo.php")]
    worker: PathBuf,
    /// The compiled C ceiling driver (bench/ceiling/build.sh).
    #[arg(long)]
    ceiling: Option<PathBuf>,
    /// Headline rounds: pool and ceiling alternate this many times at the
    /// largest worker count over pipes, and the medians are compared, so one
    /// noisy moment on a shared 2-core VM does not decide the ratio.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

struct Cell {
    relay: String,
    workers: usize,
    concurrency: usize,
    calls: u64,
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = match args.runtime.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
        other => bail!("unknown runtime {other:?} (current | multi)"),
    };
    let mut cells = Vec::new();
    println!(
        "{:<6} {:>7} {:>6} {:>10} {:>12} {:>8} {:>8}",
        "relay", "workers", "conc", "calls", "calls/s", "p50_us", "p99_us"
    );
    for relay in &args.relays {
        for &workers in &args.workers {
            let levels = if args.concurrency.is_empty() {
                vec![workers, 2 * workers, 4 * workers, 16 * workers]
            } else {
                args.concurrency.clone()
            };
            for concurrency in levels {
                let cell = runtime.block_on(measure(&args, relay, workers, concurrency))?;
                println!(
                    "{:<6} {:>7} {:>6} {:>10} {:>12.0} {:>8} {:>8}",
                    cell.relay,
                    cell.workers,
                    cell.concurrency,
                    cell.calls,
                    cell.per_sec,
                    cell.p50_us,
                    cell.p99_us
                );
                cells.push(cell);
            }
        }
    }
    if let Some(ceiling) = &args.ceiling {
        for &workers in &args.workers {
            println!("{}", run_ceiling(ceiling, &args, workers)?);
        }
    }
    // The headline: the largest worker count over pipes, concurrency =
    // workers, alternating with the ceiling.
    let top = args.workers.iter().copied().max().unwrap_or(1);
    let mut pool_runs = Vec::new();
    let mut ceiling_runs = Vec::new();
    if let Some(ceiling) = &args.ceiling {
        for round in 0..args.rounds {
            let cell = runtime.block_on(measure(&args, "pipes", top, top))?;
            let line = run_ceiling(ceiling, &args, top)?;
            let c = field(&line, "calls_per_sec").unwrap_or(0.0);
            println!(
                "round {round}: pool {:.0} calls/s (p99 {} us), ceiling {c:.0} calls/s",
                cell.per_sec, cell.p99_us
            );
            pool_runs.push(cell.per_sec);
            ceiling_runs.push(c);
        }
    }
    let best = median(&mut pool_runs);
    let ceiling = median(&mut ceiling_runs);
    let ratio = if ceiling > 0.0 { best / ceiling } else { 0.0 };
    println!(
        "pool-echo workers={top} relay=pipes calls_per_sec={best:.0} ceiling_per_sec={ceiling:.0} ratio={ratio:.2}"
    );
    Ok(())
}

async fn measure(args: &Args, relay: &str, workers: usize, concurrency: usize) -> Result<Cell> {
    let dir = std::env::temp_dir().join(format!("coyote-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let relay_addr = match relay {
        "pipes" => RelayAddress::Pipes,
        "tcp" => RelayAddress::Tcp("127.0.0.1:0".into()),
        "unix" => RelayAddress::Unix(dir.join("relay.sock")),
        other => bail!("unknown relay {other:?}"),
    };
    let pool = Pool::start(PoolOptions {
        name: "bench".into(),
        command: WorkerCommand {
            argv: vec!["php".into(), args.worker.display().to_string()],
            ..WorkerCommand::from_line("")
        }
        .mode("bench"),
        relay: relay_addr,
        num_workers: workers,
        ..PoolOptions::default()
    })
    .await
    .context("starting the pool")?;
    if pool.process_count() != workers {
        bail!("only {} of {workers} workers started", pool.process_count());
    }
    let body = bytes::Bytes::from(vec![b'x'; args.body]);
    let context = bytes::Bytes::from_static(b"{}");
    // Warm-up: JIT-less PHP still benefits from hot caches.
    for _ in 0..200 {
        pool.exec(Payload::raw(context.clone(), body.clone()))
            .await?;
    }
    let run_for = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let pool = pool.clone();
        let body = body.clone();
        let context = context.clone();
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(1 << 16);
            while started.elapsed() < run_for {
                let t = Instant::now();
                let answer = pool
                    .exec(Payload::raw(context.clone(), body.clone()))
                    .await?;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
                if answer.body.len() != body.len() {
                    bail!("echo mismatch");
                }
            }
            Ok::<_, anyhow::Error>(lat)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    pool.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    all.sort_unstable();
    let pct = |p: f64| -> u64 {
        if all.is_empty() {
            return 0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        u64::from(all[i])
    };
    Ok(Cell {
        relay: relay.to_owned(),
        workers,
        concurrency,
        calls: all.len() as u64,
        per_sec: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    })
}

fn run_ceiling(ceiling: &PathBuf, args: &Args, workers: usize) -> Result<String> {
    let out = Command::new(ceiling)
        .args([
            "-w",
            &workers.to_string(),
            "-d",
            &format!("{}", args.seconds.ceil() as u64),
            "-s",
            &args.body.to_string(),
            "--",
            "php",
            &args.worker.display().to_string(),
        ])
        .output()
        .with_context(|| format!("running {}", ceiling.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .rev()
        .find(|l| l.starts_with("ceiling "))
        .map(str::to_owned)
        .with_context(|| format!("no result line from the ceiling driver: {text}"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}
