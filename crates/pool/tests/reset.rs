//! Rolling reset: every worker replaced without failing in-flight or
//! queued work.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{alive, body, opts, pids, start};
use futures::poll;

#[tokio::test]
async fn reset_replaces_all_workers_without_failing_in_flight_work() {
    let pool = start(opts("slow", 2)).await;
    let before = pids(&pool);
    let mut in_flight = Box::pin(body(&pool, "600"));
    assert!(poll!(&mut in_flight).is_pending(), "request written");
    let reset = async {
        let mut served = 0;
        let reset = pool.reset();
        tokio::pin!(reset);
        loop {
            tokio::select! {
                r = &mut reset => { r.unwrap(); break served; }
                r = body(&pool, "5") => { assert_eq!(r.unwrap(), "slept 5"); served += 1; }
            }
        }
    };
    let (in_flight, served) = tokio::join!(in_flight, reset);
    assert_eq!(in_flight.unwrap(), "slept 600");
    assert!(served > 0, "requests kept flowing during the reset");
    let after = pids(&pool);
    assert_eq!(after.len(), 2);
    assert!(
        after.is_disjoint(&before),
        "every worker replaced: {before:?} -> {after:?}"
    );
    for pid in before {
        assert!(!alive(pid), "old worker {pid} still runs");
    }
    pool.shutdown().await;
}
