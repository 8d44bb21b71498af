//! Frame sizes: large frames cost time linear in their size, frames over
//! `max_frame_payload` are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{opts, raw, start};
use coyote_pool::Payload;
use tokio::time::Instant;

#[tokio::test]
async fn a_32_mib_frame_through_a_php_echo_worker_completes_quickly() {
    let pool = start(opts("echo", 1)).await;
    let body = Bytes::from(vec![b'z'; 32 * 1024 * 1024]);
    let started = Instant::now();
    let answer = pool.exec(Payload::raw("{}", body.clone())).await.unwrap();
    let took = started.elapsed();
    assert!(answer.body == body, "the answer is the request");
    // Elapsed time is the behaviour under test; the bound is loose (a
    // debug build, shared cores). Measured: ~0.4 s, mostly PHP's side.
    assert!(
        took < Duration::from_secs(2),
        "32 MiB round trip took {took:?}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn reading_large_answers_costs_time_linear_in_their_size() {
    // Before: every read zeroed all the room the relay had reserved (a
    // whole frame, and later all the buffer kept from the largest frame),
    // so one 128 MiB answer took ~3 s and each 32 MiB one after it ~1 s
    // (debug build). Reads now touch at most the pipe's capacity: ~0.45 s
    // and ~0.05 s. Elapsed time is the behaviour under test.
    let pool = start(opts("big-answer", 1)).await;
    // PHP builds its 128 MiB string once, untimed.
    let answer = pool.exec(raw("128")).await.unwrap();
    assert_eq!(answer.body.len(), 128 << 20);
    let started = Instant::now();
    for mib in [128, 32, 32] {
        let answer = pool.exec(raw(&mib.to_string())).await.unwrap();
        assert_eq!(answer.body.len(), mib << 20);
        assert_eq!((answer.body[0], answer.body[(mib << 20) - 1]), (b'z', b'z'));
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "128 + 2 x 32 MiB answers took {took:?}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn a_request_abandoned_while_being_written_does_not_hold_its_worker() {
    // A client gone mid-upload: the request frame is only partly written,
    // so the worker waits for the rest and can never answer. It used to be
    // "drained" until stream_timeout (60 s) with the pool short of a worker
    // all along; it is now killed and replaced at once.
    let mut o = opts("echo", 1);
    o.stream_timeout = Duration::from_secs(60);
    o.allocate_timeout = Duration::from_secs(20);
    let pool = start(o).await;
    let body = Bytes::from(vec![b'z'; 256 << 20]);
    let abandoned = tokio::time::timeout(
        Duration::from_millis(20),
        pool.exec(Payload::raw("{}", body)),
    )
    .await;
    assert!(
        abandoned.is_err(),
        "256 MiB were written in 20 ms: nothing was abandoned mid-write"
    );
    let started = Instant::now();
    let answer = pool
        .exec(Payload::raw("{}", Bytes::from_static(b"after")))
        .await
        .unwrap();
    assert_eq!(&answer.body[..], b"after");
    // Elapsed time is the behaviour under test: a replacement worker boots
    // in well under a second; a drain waits the whole stream_timeout.
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the next request waited {took:?}"
    );
    pool.shutdown().await;
}

#[tokio::test]
async fn oversized_frame_from_worker_is_refused() {
    let mut o = opts("echo", 1);
    o.max_frame_payload = 1024;
    let pool = start(o).await;
    let err = pool.exec(raw(&"y".repeat(4096))).await.unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
    pool.shutdown().await;
}
