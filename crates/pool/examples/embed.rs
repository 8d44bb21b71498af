//! Embedding the worker pool in a Rust program: start PHP workers, run
//! work on them concurrently, watch them, replace them, stop them.
//!
//! ```text
//! cargo run -p coyote-pool --example embed -- php php/workers/echo.php
//! ```
//!
//! What a program of your own needs in its `Cargo.toml` (the pool has no
//! optional features; tokio needs its runtime and macros, and a tracing
//! subscriber shows the pool's own log: spawns, exits, replacements):
//!
//! ```toml
//! [dependencies]
//! coyote-pool = { git = "...", package = "coyote-pool" }
//! tokio = { version = "1", features = ["rt-multi-thread", "macros"] }
//! tracing-subscriber = { version = "0.3", features = ["env-filter"] }
//! ```

use std::process::ExitCode;
use std::time::Duration;

use coyote_pool::{Payload, Pool, PoolError, PoolOptions, WorkerCommand};

#[tokio::main]
async fn main() -> ExitCode {
    // The pool logs through `tracing` (target `coyote::pool`); RUST_LOG
    // picks the level, info by default.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let line = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let line = if line.is_empty() {
        "php php/workers/echo.php".to_owned()
    } else {
        line
    };
    match run(&line).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A command that cannot start fails `Pool::start` itself (a
            // `PoolError::Boot` with the command, how the process ended
            // and what it wrote): it does not hand back a pool that never
            // serves.
            eprintln!("embed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(line: &str) -> Result<(), PoolError> {
    let pool = Pool::start(PoolOptions {
        // RR_MODE is what RoadRunner-style workers switch on.
        command: WorkerCommand::from_line(line).mode("echo"),
        num_workers: 2,
        max_jobs: 500,
        allocate_timeout: Duration::from_secs(10),
        ..PoolOptions::default()
    })
    .await?;

    // Concurrent work: the pool hands each execution to a free worker and
    // queues the rest.
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let pool = pool.clone();
        tasks.spawn(async move {
            let answer = pool.exec(Payload::raw("{}", format!("hello {i}"))).await?;
            Ok::<_, PoolError>(answer.body == format!("hello {i}"))
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        if matches!(done, Ok(Ok(true))) {
            ok += 1;
        }
    }
    println!("{ok} of 1000 echoes in {:?}", started.elapsed());
    for w in pool.workers() {
        println!(
            "worker {} {} execs={} rss={}",
            w.pid, w.status, w.num_execs, w.memory_rss
        );
    }

    // New code: a rolling replacement (a new worker first, then the old
    // one goes), no failed execution.
    pool.reset().await?;
    println!(
        "after reset: {:?}",
        pool.workers().iter().map(|w| w.pid).collect::<Vec<_>>()
    );

    // The stop frame, `destroy_timeout`, then SIGKILL.
    pool.shutdown().await;
    Ok(())
}
