//! End-to-end: event-loop shards (`COYOTE_SHARDS`): one pinned event loop
//! per shard, with its own workers on the same CPU.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::{config, get, http_port, start_with_env};

/// CPUs this process may run on (`Cpus_allowed_list`, e.g. "0-1,4").
fn allowed_cpus(pid: u32) -> Vec<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_owned();
    list.split(',')
        .flat_map(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap()
        })
        .collect()
}

#[test]
fn sharded_server_runs_a_pinned_event_loop_and_workers_per_cpu() {
    let server = start_with_env(&config(4, ""), &[("COYOTE_SHARDS", "2")]);
    let http = http_port(&server);
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .collect();
    for shard in ["coyote-shard-0", "coyote-shard-1"] {
        assert!(threads.iter().any(|t| t == shard), "{threads:?}");
    }
    // Many connections at once, with queueing (4 workers, 16 callers):
    // every request is answered, by workers of both shards.
    let callers: Vec<_> = (0..16)
        .map(|_| {
            std::thread::spawn(move || {
                (0..10)
                    .map(|_| {
                        let r = get(http, "/pid", "");
                        assert_eq!(r.status, 200, "{}", r.text());
                        r.text().trim().parse::<u32>().unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let pids: HashSet<u32> = callers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    assert!(pids.len() >= 2, "{pids:?}");
    // With at least two CPUs, each shard and its two workers share one.
    let workers: Vec<u32> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .map(|p| p.parse::<u32>().unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(workers.len(), 4, "{workers:?}");
    assert!(
        pids.iter().all(|p| workers.contains(p)),
        "{pids:?} {workers:?}"
    );
    if allowed_cpus(server.pid()).len() >= 2 {
        let mut per_cpu = std::collections::BTreeMap::<usize, usize>::new();
        for pid in &workers {
            let pinned = allowed_cpus(*pid);
            assert_eq!(pinned.len(), 1, "worker {pid} is not pinned: {pinned:?}");
            *per_cpu.entry(pinned[0]).or_default() += 1;
        }
        assert_eq!(
            per_cpu.values().copied().collect::<Vec<_>>(),
            [2, 2],
            "{per_cpu:?}"
        );
    }
}
