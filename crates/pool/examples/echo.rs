//! Runs N echo executions through a pool: `cargo run --example echo -- php worker.php`.
use coyote_pool::{Payload, Pool, PoolOptions, WorkerCommand};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let pool = Pool::start(PoolOptions {
        command: WorkerCommand {
            argv,
            ..WorkerCommand::from_line("")
        }
        .mode("echo"),
        num_workers: 2,
        ..PoolOptions::default()
    })
    .await?;
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let answer = pool.exec(Payload::raw("{}", format!("hello {i}"))).await?;
        assert_eq!(answer.body, format!("hello {i}"));
    }
    println!("1000 sequential execs in {:?}", started.elapsed());
    for w in pool.workers() {
        println!("{} {} {} {}", w.pid, w.status, w.num_execs, w.memory_rss);
    }
    pool.shutdown().await;
    Ok(())
}
