//! `coyote jobs list | pause P... | resume P... | destroy P...`: RoadRunner's
//! `rr jobs` over the `jobs` RPC service (protobuf, as PHP producers call it).

use std::fmt::Write as _;

use anyhow::{anyhow, Context};
use coyote_jobs::proto;
use coyote_rpc::RpcClient;
use goridge::flags;
use prost::Message;

use crate::cli::{Global, JobsCommand};
use crate::ops::{connect, rpc_address, runtime};
use crate::output::print;
use crate::{runtime_failure, Failure};

async fn call<A: Message, R: Message + Default>(
    client: &mut RpcClient,
    method: &str,
    arg: &A,
) -> Result<R, Failure> {
    let out = client
        .call_raw(method, flags::CODEC_PROTO, arg.encode_to_vec().into())
        .await
        .with_context(|| format!("{method} failed"))
        .map_err(runtime_failure)?;
    R::decode(out)
        .with_context(|| format!("{method}: unreadable answer"))
        .map_err(runtime_failure)
}

/// The table `coyote jobs list` prints (an ERROR column when a pipeline
/// has one: a broker it cannot reach).
pub fn table(stats: &[proto::Stat]) -> String {
    let mut out = String::new();
    let errors = stats.iter().any(|s| !s.error_message.is_empty());
    let _ = write!(
        out,
        "{:<8}  {:<20}  {:<8}  {:<20}  {:>8}  {:>8}  {:>8}  {:>8}",
        "STATUS", "PIPELINE", "DRIVER", "QUEUE", "PRIORITY", "ACTIVE", "DELAYED", "RESERVED"
    );
    out.push_str(if errors { "  ERROR\n" } else { "\n" });
    for s in stats {
        let _ = write!(
            out,
            "{:<8}  {:<20}  {:<8}  {:<20}  {:>8}  {:>8}  {:>8}  {:>8}",
            if s.ready { "ready" } else { "paused" },
            s.pipeline,
            s.driver,
            s.queue,
            s.priority,
            s.active,
            s.delayed,
            s.reserved
        );
        if !s.error_message.is_empty() {
            out.push_str("  ");
            out.push_str(&s.error_message);
        }
        out.push('\n');
    }
    out
}

/// Runs one `coyote jobs` command.
pub fn run(global: &Global, command: &JobsCommand) -> Result<(), Failure> {
    let address = rpc_address(global)?;
    runtime()?.block_on(async {
        let mut client = connect(&address).await?;
        let (method, names) = match command {
            JobsCommand::List => {
                let mut stats: proto::Stats =
                    call(&mut client, "jobs.Stat", &proto::Empty {}).await?;
                stats.stats.sort_by(|a, b| a.pipeline.cmp(&b.pipeline));
                return print(&table(&stats.stats));
            }
            JobsCommand::Pause { pipelines } => ("jobs.Pause", pipelines),
            JobsCommand::Resume { pipelines } => ("jobs.Resume", pipelines),
            JobsCommand::Destroy { pipelines } => ("jobs.Destroy", pipelines),
        };
        if names.is_empty() {
            return Err(runtime_failure(anyhow!("name at least one pipeline")));
        }
        let arg = proto::Pipelines {
            pipelines: names.clone(),
        };
        let done: proto::Pipelines = call(&mut client, method, &arg).await?;
        let verb = match command {
            JobsCommand::Pause { .. } => "paused",
            JobsCommand::Resume { .. } => "resumed",
            _ => "destroyed",
        };
        let shown = if done.pipelines.is_empty() {
            names.clone()
        } else {
            done.pipelines
        };
        let lines: String = shown
            .iter()
            .map(|name| format!("{verb}: {name}\n"))
            .collect();
        print(&lines)
    })
}
