//! Sharded pools: workers spread over event-loop shards, callers served by
//! their own shard's workers first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{alive, body, opts, pids};
use coyote_pool::{Pool, PoolOptions, Shards};
use tokio::time::timeout;

async fn start_sharded(opts: PoolOptions, shards: &Shards) -> Pool {
    timeout(
        Duration::from_secs(20),
        Pool::start_sharded(opts, shards.clone()),
    )
    .await
    .expect("pool start timed out")
    .expect("pool start")
}

/// The pids of the processes that answer 20 calls made from `shard`.
async fn pids_seen_from(pool: &Pool, shards: &Shards, shard: usize) -> HashSet<String> {
    let pool = pool.clone();
    shards
        .handle(shard)
        .spawn(async move {
            let mut seen = HashSet::new();
            for _ in 0..20 {
                seen.insert(body(&pool, "").await.unwrap());
            }
            seen
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn workers_are_spread_and_callers_use_their_own_shards_workers() {
    let shards = Shards::start(2).unwrap();
    let pool = start_sharded(opts("pid", 4), &shards).await;
    assert_eq!(pool.workers().len(), 4);
    let from0 = pids_seen_from(&pool, &shards, 0).await;
    let from1 = pids_seen_from(&pool, &shards, 1).await;
    // Sequential calls from a shard always find one of its own workers
    // idle, and keep reusing the most recent one.
    assert_eq!(from0.len(), 1, "{from0:?}");
    assert_eq!(from1.len(), 1, "{from1:?}");
    assert_ne!(from0, from1, "both shards used the same worker");
    // Callers outside the shards are served by any worker.
    assert!(!body(&pool, "").await.unwrap().is_empty());
    pool.shutdown().await;
    shards.stop();
}

#[tokio::test]
async fn a_shard_without_workers_is_served_by_the_others() {
    let shards = Shards::start(3).unwrap();
    let pool = start_sharded(opts("slow", 2), &shards).await;
    // Two workers over three shards: one shard has none, and its callers
    // (also when they must queue) still get answers.
    let calls: Vec<_> = (0..3)
        .flat_map(|shard| (0..3).map(move |_| shard))
        .map(|shard| {
            let pool = pool.clone();
            shards
                .handle(shard)
                .spawn(async move { body(&pool, "20").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "slept 20");
    }
    pool.shutdown().await;
    shards.stop();
}

#[tokio::test]
async fn reset_and_shutdown_reach_every_shard() {
    let shards = Shards::start(2).unwrap();
    let pool = start_sharded(opts("pid", 2), &shards).await;
    let before = pids(&pool);
    pool.reset().await.unwrap();
    let after = pids(&pool);
    assert_eq!(after.len(), 2);
    assert!(before.is_disjoint(&after), "{before:?} {after:?}");
    let from0 = pids_seen_from(&pool, &shards, 0).await;
    let from1 = pids_seen_from(&pool, &shards, 1).await;
    let after_text: HashSet<String> = after.iter().map(u32::to_string).collect();
    assert_eq!(&from0 | &from1, after_text, "each shard has one new worker");
    pool.shutdown().await;
    assert_eq!(pool.process_count(), 0);
    for pid in before.iter().chain(&after) {
        assert!(!alive(*pid), "worker {pid} still alive");
    }
    shards.stop();
}
