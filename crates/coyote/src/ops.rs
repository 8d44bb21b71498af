//! Operator commands that talk to a running server over its RPC:
//! `coyote workers [-i]` and `coyote reset` (`coyote jobs` is in `jobs_cli`).

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use coyote_rpc::services::WorkerState;
use coyote_rpc::RpcClient;

use crate::cli::Global;
use crate::output::print;
use crate::{config_failure, runtime_failure, Failure};

#[derive(serde::Deserialize)]
struct WorkerList {
    workers: Vec<WorkerState>,
}

/// The RPC address from the config the server was started with.
pub(crate) fn rpc_address(global: &Global) -> Result<String, Failure> {
    let (loaded, _) = crate::serve::load(global, Vec::new())?;
    loaded
        .config
        .rpc
        .as_ref()
        .map(|rpc| rpc.listen.dsn())
        .ok_or_else(|| {
            config_failure(anyhow!(
                "the config has no rpc section; add `rpc: {{listen: tcp://127.0.0.1:6001}}`"
            ))
        })
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(runtime_failure)
}

pub(crate) async fn connect(address: &str) -> Result<RpcClient, Failure> {
    RpcClient::connect(address)
        .await
        .with_context(|| {
            format!("cannot reach the server's RPC at {address} (is coyote serve running?)")
        })
        .map_err(runtime_failure)
}

async fn plugins(
    client: &mut RpcClient,
    method: &str,
    asked: &[String],
) -> Result<Vec<String>, Failure> {
    if !asked.is_empty() {
        return Ok(asked.to_vec());
    }
    client
        .call_json(method, &true)
        .await
        .with_context(|| format!("{method} failed"))
        .map_err(runtime_failure)
}

fn human_bytes(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    format!("{:.1} MB", bytes as f64 / MB)
}

fn age(created_ns: i64) -> String {
    let created = UNIX_EPOCH + Duration::from_nanos(u64::try_from(created_ns).unwrap_or(0));
    let secs = SystemTime::now()
        .duration_since(created)
        .map_or(0, |d| d.as_secs());
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
    }
}

/// The table `coyote workers` prints for one plugin.
pub fn table(plugin: &str, workers: &[WorkerState]) -> String {
    let mut out = format!("Workers of [{plugin}]:\n");
    // Handoff workers: EXECS is the connections accepted, plus the open
    // connections and the idle time.
    let conns = workers.iter().any(|w| w.connections.is_some());
    let _ = write!(
        out,
        "{:>8}  {:<16}  {:>8}  {:>10}  {:>6}  {:>8}",
        "PID", "STATUS", "EXECS", "MEMORY", "CPU%", "AGE"
    );
    let _ = if conns {
        writeln!(out, "  {:>6}  {:>8}", "CONNS", "IDLE")
    } else {
        writeln!(out)
    };
    for w in workers {
        let _ = write!(
            out,
            "{:>8}  {:<16}  {:>8}  {:>10}  {:>6.1}  {:>8}",
            w.pid,
            w.status_str,
            w.num_execs,
            human_bytes(w.memory_usage),
            w.cpu_percent,
            age(w.created)
        );
        let _ = if conns {
            let idle = Duration::from_millis(w.idle_ms.unwrap_or(0)).as_secs_f64();
            writeln!(out, "  {:>6}  {:>7.1}s", w.connections.unwrap_or(0), idle)
        } else {
            writeln!(out)
        };
    }
    out
}

/// `coyote workers [plugins] [-i]`.
pub fn workers(global: &Global, asked: &[String], interactive: bool) -> Result<(), Failure> {
    let address = rpc_address(global)?;
    runtime()?.block_on(async {
        let mut client = connect(&address).await?;
        loop {
            let names = plugins(&mut client, "informer.List", asked).await?;
            let mut screen = String::new();
            for name in &names {
                let list: WorkerList = client
                    .call_json("informer.Workers", name)
                    .await
                    .with_context(|| format!("informer.Workers {name}"))
                    .map_err(runtime_failure)?;
                screen.push_str(&table(name, &list.workers));
                screen.push('\n');
            }
            if !interactive {
                return print(&screen);
            }
            // Clear the terminal and redraw, like `rr workers -i`.
            print(&format!(
                "\x1b[2J\x1b[H{screen}(refreshing every second; Ctrl-C to quit)\n"
            ))?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return Ok(()),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })
}

/// `coyote reset [plugins]`.
pub fn reset(global: &Global, asked: &[String]) -> Result<(), Failure> {
    let address = rpc_address(global)?;
    runtime()?.block_on(async {
        let mut client = connect(&address).await?;
        let names = plugins(&mut client, "resetter.List", asked).await?;
        for name in names {
            print(&format!("Resetting plugin: [{name}]\n"))?;
            let started = Instant::now();
            let done: bool = client
                .call_json("resetter.Reset", &name)
                .await
                .with_context(|| format!("resetter.Reset {name}"))
                .map_err(runtime_failure)?;
            if done {
                print(&format!(
                    "  done in {:.1}s\n",
                    started.elapsed().as_secs_f64()
                ))?;
            } else {
                return Err(runtime_failure(anyhow!("reset of {name} reported failure")));
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(connections: Option<u64>) -> WorkerState {
        WorkerState {
            pid: 42,
            status: 1,
            num_execs: 9,
            created: 0,
            memory_usage: 0,
            cpu_percent: 0.0,
            command: String::new(),
            status_str: "ready".into(),
            connections,
            idle_ms: connections.map(|_| 1500),
        }
    }

    #[test]
    fn handoff_workers_get_conns_and_idle_columns() {
        let pool = table("http", &[worker(None)]);
        assert!(!pool.contains("CONNS"), "{pool}");
        let handoff = table("handoff", &[worker(Some(3))]);
        let lines: Vec<&str> = handoff.lines().collect();
        assert!(lines[1].ends_with("CONNS      IDLE"), "{handoff}");
        assert!(lines[2].ends_with("     3      1.5s"), "{handoff}");
    }
}
