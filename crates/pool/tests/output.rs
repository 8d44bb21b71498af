//! What workers write outside frames: stderr lines (logged with pid, long
//! ones in bounded pieces, bytes that are not UTF-8), and stdout output
//! between requests, which replaces that worker instead of failing the
//! next request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{body, opts, start, until_gone, LogCapture, LIMIT};
use tokio::time::timeout;

#[tokio::test]
async fn worker_stderr_is_logged_with_pid() {
    let (log, _guard) = LogCapture::install();
    let pool = start(opts("stderr", 1)).await;
    let pid = pool.workers()[0].pid;
    body(&pool, "hi there").await.unwrap();
    log.until_line(&["stderr line: hi there", &format!("pid={pid}")])
        .await;
    pool.shutdown().await;
}

#[tokio::test]
async fn stderr_that_is_not_utf8_keeps_flowing() {
    // Before: the forwarder stopped at the first invalid byte, leaving the
    // pipe undrained (and the worker blocked or killed by SIGPIPE later).
    let (log, _guard) = LogCapture::install();
    let pool = start(opts("stderr-bytes", 1)).await;
    let pid = pool.workers()[0].pid;
    for i in 0..3 {
        assert_eq!(
            body(&pool, &format!("call {i}")).await.unwrap(),
            format!("call {i}")
        );
        log.until_line(&[&format!("after the bytes: call {i}")])
            .await;
    }
    let shown = log.until_line(&["not utf-8"]).await;
    assert!(shown.contains('\u{fffd}'), "{shown}");
    assert_eq!(pool.workers()[0].pid, pid);
    pool.shutdown().await;
}

#[tokio::test]
async fn a_200_kib_stderr_line_is_logged_in_pieces_and_forwarding_goes_on() {
    // Before: a line over 64 KiB ended the forwarder; the worker's next
    // write to stderr then failed and the marker was never logged.
    let (log, _guard) = LogCapture::install();
    let pool = start(opts("stderr-long-line", 1)).await;
    let pid = pool.workers()[0].pid;
    assert_eq!(body(&pool, "200").await.unwrap(), "200");
    log.until_line(&["marker after the long line", &format!("pid={pid}")])
        .await;
    let text = log.text();
    let pieces: Vec<&str> = text.lines().filter(|l| l.contains("xxxx")).collect();
    assert_eq!(pieces.len(), 4, "200 KiB in pieces of at most 64 KiB");
    for (i, piece) in pieces.iter().enumerate() {
        assert!(
            piece.contains(&format!("part={}", i + 1)),
            "{}",
            &piece[..200]
        );
        assert!(
            piece.len() < 64 * 1024 + 200,
            "piece {i}: {} bytes",
            piece.len()
        );
    }
    let xs: usize = pieces.iter().map(|l| l.matches('x').count()).sum();
    assert_eq!(xs, 200 * 1024);
    // The same worker keeps serving, and its stderr keeps being read.
    assert_eq!(body(&pool, "1").await.unwrap(), "1");
    assert_eq!(pool.workers()[0].pid, pid);
    pool.shutdown().await;
}

#[tokio::test]
async fn stdout_output_between_requests_replaces_the_worker_and_fails_nothing() {
    // Before: the stray bytes were read as the next request's answer, and
    // that unrelated request failed with a protocol error (a 500).
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("stray.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let (log, _guard) = LogCapture::install();
    let mut o = opts("stray-stdout", 1);
    o.command = o.command.env("STRAY_FIFO", &fifo.display().to_string());
    let pool = start(o).await;
    let pid = pool.workers()[0].pid;
    assert_eq!(body(&pool, "stray").await.unwrap(), "stray");
    // The answer is in; now let the idle worker write to stdout.
    let open = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new().write(true).open(&fifo)?;
        w.write_all(b"go\n")
    });
    timeout(LIMIT, open).await.unwrap().unwrap().unwrap();
    log.until_line(&["stray written", &format!("pid={pid}")])
        .await;
    // The bytes wait in the idle worker's pipe. The next request is not
    // handed to it: it is served by a replacement.
    let answer = timeout(LIMIT, body(&pool, "next")).await.unwrap();
    assert_eq!(answer.unwrap(), "next");
    let warning = log
        .until_line(&["possible echo", &format!("pid={pid}")])
        .await;
    assert!(
        warning.contains("Warning: stray output between requests\\n"),
        "the bytes are shown: {warning}"
    );
    until_gone(&pool, pid).await;
    assert_ne!(pool.workers()[0].pid, pid);
    assert_eq!(body(&pool, "again").await.unwrap(), "again");
    pool.shutdown().await;
    drop(dir);
}
