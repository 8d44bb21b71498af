//! Failing fast: when an initial worker cannot start, `Pool::start` stops
//! the others and returns `PoolError::Boot` with the command, how the
//! process ended and what it wrote.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{alive, body, opts, start, start_fails};
use coyote_pool::{BootStatus, Pool, PoolError, RelayAddress, Shards, SpawnError};
use coyote_test_support::php;
use tokio::time::Instant;

/// The parts of a `PoolError::Boot`, or a panic naming what came instead.
fn boot_parts(err: &PoolError) -> (&str, &SpawnError, BootStatus, &str) {
    match err {
        PoolError::Boot {
            command,
            cause,
            status,
            output,
        } => (command, cause, *status, output),
        other => panic!("expected PoolError::Boot, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_script_fails_the_start_with_phps_message() {
    let mut o = opts("echo", 2);
    o.command.argv = vec![php(), "/nonexistent/coyote/missing.php".into()];
    let started = Instant::now();
    let err = start_fails(o).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fails at once, not after allocate_timeout: {:?}",
        started.elapsed()
    );
    let (command, _, status, output) = boot_parts(&err);
    assert_eq!(
        command,
        format!("{} /nonexistent/coyote/missing.php", php())
    );
    assert_eq!(status, BootStatus::Exited(1));
    assert!(
        output.contains("Could not open input file: /nonexistent/coyote/missing.php"),
        "{output}"
    );
    let shown = format!("{err:#}");
    for part in [
        "/nonexistent/coyote/missing.php",
        "exit status 1",
        "--- stdout ---",
        "Could not open input file: /nonexistent/coyote/missing.php",
    ] {
        assert!(shown.contains(part), "{part:?} missing from: {shown}");
    }
    assert!(err.retry_safe());
}

#[tokio::test]
async fn a_binary_that_does_not_exist_fails_the_start() {
    let mut o = opts("echo", 2);
    o.command.argv = vec!["/nonexistent/coyote-no-such-binary".into(), "x".into()];
    let err = start_fails(o).await;
    let (command, cause, status, output) = boot_parts(&err);
    assert_eq!(command, "/nonexistent/coyote-no-such-binary x");
    assert_eq!(status, BootStatus::NotStarted);
    assert!(
        matches!(cause, SpawnError::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
        "{cause:?}"
    );
    assert_eq!(output, "");
    let shown = err.to_string();
    assert!(
        shown.contains("/nonexistent/coyote-no-such-binary x"),
        "{shown}"
    );
    assert!(shown.contains("never started"), "{shown}");
}

#[tokio::test]
async fn garbage_instead_of_the_handshake_is_shown_whole() {
    // The worker prints two lines on stdout, then sleeps 30 s: the pool
    // reads what follows the 12 bytes of a would-be header, then kills it.
    let started = Instant::now();
    let err = start_fails(opts("garbage-at-boot", 1)).await;
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let (_, cause, status, output) = boot_parts(&err);
    assert!(matches!(cause, SpawnError::Protocol(_)), "{cause:?}");
    assert_eq!(status, BootStatus::Killed);
    assert!(
        output.contains(
            "Deprecated: something in the bootstrap printed this on stdout\n\
             and a second line, well past the 12 bytes of a frame header"
        ),
        "{output}"
    );
    assert!(
        format!("{err:#}").contains("well past the 12 bytes"),
        "{err:#}"
    );
}

#[tokio::test]
async fn exit_after_a_long_stderr_message_shows_all_of_it() {
    let err = start_fails(opts("boot-stderr-exit", 2)).await;
    let (_, cause, status, output) = boot_parts(&err);
    assert_eq!(status, BootStatus::Exited(3));
    assert!(
        matches!(cause, SpawnError::ExitedEarly | SpawnError::Protocol(_)),
        "{cause:?}"
    );
    let expected = "--- stderr ---\n\
        PHP Fatal error:  Uncaught RuntimeException: database unreachable\n\
        Stack trace:\n\
        #0 /app/bootstrap.php(12): connect()\n\
        #1 {main}\n  thrown in /app/bootstrap.php on line 12\n";
    assert_eq!(output, expected);
    let shown = format!("{err:#}");
    assert!(shown.contains("exit status 3"), "{shown}");
    assert!(shown.contains(expected.trim_end()), "{shown}");
}

#[tokio::test]
async fn no_handshake_within_allocate_timeout_fails_the_start() {
    let mut o = opts("echo", 1);
    o.command.argv = vec![php(), "-r".into(), "sleep(30);".into()];
    o.allocate_timeout = Duration::from_millis(500);
    let started = Instant::now();
    let err = start_fails(o).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    let (_, cause, status, _) = boot_parts(&err);
    assert!(
        matches!(cause, SpawnError::Timeout(t) if *t == Duration::from_millis(500)),
        "{cause:?}"
    );
    assert_eq!(status, BootStatus::Killed);
    assert!(err.to_string().contains("killed by the pool"), "{err}");
}

#[tokio::test]
async fn a_socket_worker_that_never_connects_fails_the_start_with_its_output() {
    let mut o = opts("echo", 1);
    o.relay = RelayAddress::Tcp("127.0.0.1:0".into());
    o.command.argv = vec![
        php(),
        "-r".into(),
        r#"echo "to stdout\n"; fwrite(STDERR, "to stderr\n"); sleep(30);"#.into(),
    ];
    o.allocate_timeout = Duration::from_secs(30);
    o.relay_timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let err = start_fails(o).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "relay_timeout bounds the connect wait: {:?}",
        started.elapsed()
    );
    let (_, cause, status, output) = boot_parts(&err);
    assert!(matches!(cause, SpawnError::Timeout(_)), "{cause:?}");
    assert_eq!(status, BootStatus::Killed);
    assert_eq!(
        output,
        "--- stderr ---\nto stderr\n--- stdout ---\nto stdout\n"
    );
}

#[tokio::test]
async fn one_failing_initial_worker_stops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pids.log");
    let mut o = opts("boot-one-fails", 3);
    o.command = o
        .command
        .env(
            "BOOT_MARKER",
            &dir.path().join("marker").display().to_string(),
        )
        .env("BOOT_LOG", &log.display().to_string())
        .env("BOOT_OTHERS", "2");
    let err = start_fails(o).await;
    let (_, _, status, output) = boot_parts(&err);
    assert_eq!(status, BootStatus::Exited(3));
    assert!(
        output.contains("boot-one-fails: this one fails"),
        "{output}"
    );
    let others: Vec<u32> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(others.len(), 2, "the other two workers had started");
    for pid in others {
        assert!(!alive(pid), "worker {pid} outlived the failed start");
    }
}

#[tokio::test]
async fn a_sharded_pool_fails_its_start_too() {
    let shards = Shards::start(2).unwrap();
    let mut o = opts("echo", 2);
    o.command.argv = vec![php(), "/nonexistent/coyote/missing.php".into()];
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        Pool::start_sharded(o, shards.clone()),
    )
    .await
    .expect("returns in time");
    let err = result.err().expect("the start fails");
    assert_eq!(boot_parts(&err).2, BootStatus::Exited(1));
    shards.stop();
}

#[tokio::test]
async fn a_debug_pool_starts_and_fails_each_request_instead() {
    let mut o = opts("echo", 2);
    o.debug = true;
    o.command.argv = vec![php(), "/nonexistent/coyote/missing.php".into()];
    let pool = start(o).await;
    assert_eq!(pool.process_count(), 0);
    let err = body(&pool, "x").await.unwrap_err();
    assert!(matches!(err, PoolError::Spawn { .. }), "{err:?}");
    pool.shutdown().await;
}
