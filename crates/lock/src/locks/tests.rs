use std::sync::Arc;

use tokio_util::task::TaskTracker;

use super::*;

const NO_WAIT: Duration = Duration::ZERO;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn exclusive_excludes_and_release_needs_the_owner() {
    let l = Locks::new();
    assert!(l.acquire(Kind::Exclusive, "r", "a", None, NO_WAIT).await);
    assert!(!l.acquire(Kind::Exclusive, "r", "b", None, NO_WAIT).await);
    assert!(!l.acquire(Kind::Read, "r", "b", None, NO_WAIT).await);
    assert!(!l.acquire(Kind::Exclusive, "r", "a", None, NO_WAIT).await);
    assert!(!l.release("r", "b"));
    assert!(l.exists("r", "a") && l.exists("r", "*") && !l.exists("r", "b"));
    assert!(l.release("r", "a"));
    assert!(!l.release("r", "a"));
    assert!(!l.exists("r", "*"));
    assert!(l.table().resources.is_empty());
}

#[tokio::test(start_paused = true)]
async fn readers_share_and_block_a_writer() {
    let l = Locks::new();
    assert!(l.acquire(Kind::Read, "r", "a", None, NO_WAIT).await);
    assert!(l.acquire(Kind::Read, "r", "b", None, NO_WAIT).await);
    assert!(!l.acquire(Kind::Exclusive, "r", "c", None, ms(50)).await);
    assert!(l.release("r", "a"));
    assert!(!l.acquire(Kind::Exclusive, "r", "c", None, NO_WAIT).await);
    assert!(l.release("r", "b"));
    assert!(l.acquire(Kind::Exclusive, "r", "c", None, NO_WAIT).await);
}

/// RoadRunner 2025: two read locks, an exclusive request refused after its
/// wait, then release and force release must still work, and the resource
/// must be free afterwards. A table that keeps the refused waiter (or a
/// "writer pending" marker) refuses the last lock.
#[tokio::test(start_paused = true)]
async fn refused_writer_leaves_nothing_behind() {
    let l = Locks::new();
    assert!(l.acquire(Kind::Read, "r", "a", None, NO_WAIT).await);
    assert!(l.acquire(Kind::Read, "r", "b", None, NO_WAIT).await);
    assert!(!l.acquire(Kind::Exclusive, "r", "w", None, ms(100)).await);
    assert_eq!(l.waiting("r"), 0);
    assert!(l.acquire(Kind::Read, "r", "c", None, NO_WAIT).await);
    assert!(l.release("r", "a"));
    assert!(l.force_release("r"));
    assert!(!l.exists("r", "*"));
    assert!(l.acquire(Kind::Exclusive, "r", "d", None, NO_WAIT).await);
    assert!(l.release("r", "d"));
    assert!(!l.force_release("r"));
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_order() {
    let tracker = TaskTracker::new();
    let l = Arc::new(Locks::new());
    assert!(
        l.acquire(Kind::Exclusive, "r", "holder", None, NO_WAIT)
            .await
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (lt, tx) = (l.clone(), tx.clone());
        tasks.push(tracker.spawn(async move {
            let id = format!("w{i}");
            assert!(
                lt.acquire(Kind::Exclusive, "r", &id, None, ms(60_000))
                    .await
            );
            tx.send(i).unwrap();
            assert!(lt.release("r", &id));
        }));
        // Queue them one by one.
        while l.waiting("r") < i + 1 {
            tokio::task::yield_now().await;
        }
    }
    // A newcomer does not overtake the queue, even when the lock is free.
    assert!(l.release("r", "holder"));
    for t in tasks {
        t.await.unwrap();
    }
    let order: Vec<usize> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_reader_behind_a_waiting_writer_waits() {
    let tracker = TaskTracker::new();
    let l = Arc::new(Locks::new());
    assert!(l.acquire(Kind::Read, "r", "a", None, NO_WAIT).await);
    let writer = {
        let l = l.clone();
        tracker.spawn(async move { l.acquire(Kind::Exclusive, "r", "w", None, ms(10_000)).await })
    };
    while l.waiting("r") < 1 {
        tokio::task::yield_now().await;
    }
    // Fair: the writer is first in line.
    assert!(!l.acquire(Kind::Read, "r", "b", None, NO_WAIT).await);
    assert!(l.release("r", "a"));
    assert!(writer.await.unwrap());
    assert!(l.exists("r", "w"));
}

#[tokio::test(start_paused = true)]
async fn a_released_writer_lets_all_queued_readers_in() {
    let tracker = TaskTracker::new();
    let l = Arc::new(Locks::new());
    assert!(l.acquire(Kind::Exclusive, "r", "w", None, NO_WAIT).await);
    let mut readers = Vec::new();
    for i in 0..3 {
        let lt = l.clone();
        readers.push(tracker.spawn(async move {
            lt.acquire(Kind::Read, "r", &format!("r{i}"), None, ms(10_000))
                .await
        }));
        while l.waiting("r") < i + 1 {
            tokio::task::yield_now().await;
        }
    }
    assert!(l.release("r", "w"));
    for r in readers {
        assert!(r.await.unwrap());
    }
    assert!(l.exists("r", "r0") && l.exists("r", "r1") && l.exists("r", "r2"));
}

#[tokio::test(start_paused = true)]
async fn ttl_expires_and_hands_over() {
    let tracker = TaskTracker::new();
    let l = Arc::new(Locks::new());
    let stop = CancellationToken::new();
    let timer = {
        let (l, stop) = (l.clone(), stop.clone());
        tracker.spawn(async move { l.run_timer(stop).await })
    };
    assert!(
        l.acquire(Kind::Exclusive, "r", "a", Some(ms(100)), NO_WAIT)
            .await
    );
    let start = Instant::now();
    assert!(
        l.acquire(Kind::Exclusive, "r", "b", Some(ms(500)), ms(5_000))
            .await
    );
    let waited = start.elapsed();
    assert!(waited >= ms(100) && waited < ms(200), "{waited:?}");
    assert!(!l.exists("r", "a") && l.exists("r", "b"));
    // Extended: not expired at the old deadline.
    assert!(l.update_ttl("r", "b", ms(2_000)));
    tokio::time::sleep(ms(1_000)).await;
    assert!(l.exists("r", "b"));
    tokio::time::sleep(ms(1_100)).await;
    assert!(!l.exists("r", "*"));
    assert!(l.table().expiries.is_empty());
    stop.cancel();
    timer.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn update_ttl_needs_the_holder_and_a_positive_ttl() {
    let l = Locks::new();
    assert!(!l.update_ttl("r", "a", ms(10)));
    assert!(l.acquire(Kind::Read, "r", "a", None, NO_WAIT).await);
    assert!(!l.update_ttl("r", "a", Duration::ZERO));
    assert!(!l.update_ttl("r", "b", ms(10)));
    assert!(l.update_ttl("r", "a", ms(10)));
    assert!(l.release("r", "a"));
    assert!(l.table().expiries.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaves_the_queue() {
    let tracker = TaskTracker::new();
    let l = Arc::new(Locks::new());
    assert!(l.acquire(Kind::Exclusive, "r", "a", None, NO_WAIT).await);
    let waiter = {
        let l = l.clone();
        tracker.spawn(async move { l.acquire(Kind::Exclusive, "r", "b", None, ms(60_000)).await })
    };
    while l.waiting("r") < 1 {
        tokio::task::yield_now().await;
    }
    waiter.abort();
    assert!(waiter.await.is_err());
    assert_eq!(l.waiting("r"), 0);
    assert!(l.release("r", "a"));
    assert!(l.table().resources.is_empty());
}

#[tokio::test(start_paused = true)]
async fn force_release_serves_the_queue() {
    let tracker = TaskTracker::new();
    let l = Arc::new(Locks::new());
    assert!(l.acquire(Kind::Exclusive, "r", "a", None, NO_WAIT).await);
    let waiter = {
        let l = l.clone();
        tracker.spawn(async move { l.acquire(Kind::Read, "r", "b", None, ms(60_000)).await })
    };
    while l.waiting("r") < 1 {
        tokio::task::yield_now().await;
    }
    assert!(l.force_release("r"));
    assert!(waiter.await.unwrap());
    assert!(l.exists("r", "b") && !l.exists("r", "a"));
}

#[tokio::test(start_paused = true)]
async fn an_absurd_ttl_does_not_panic() {
    let l = Locks::new();
    assert!(
        l.acquire(
            Kind::Exclusive,
            "r",
            "a",
            Some(Duration::MAX),
            Duration::MAX
        )
        .await
    );
    assert!(!l.update_ttl("r", "a", Duration::MAX));
    assert!(l.exists("r", "a"));
    assert!(l.table().expiries.is_empty());
    assert!(
        !l.acquire(Kind::Read, "r", "b", None, Duration::from_millis(5))
            .await
    );
}
