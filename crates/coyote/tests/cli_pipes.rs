//! End-to-end: the operator commands write to a stdout whose reader has
//! gone (`coyote workers | head -1`) without panicking: they end quietly
//! with exit code 0 (issue 17, item 3).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::jobs::{config, JobsServer};
use common::{cli_args, BIN};
use coyote_test_support::wait_until;

#[test]
fn a_closed_stdout_ends_each_command_quietly() {
    let pipeline = "    p1:\n      driver: memory\n      config:\n        priority: 1\n";
    let s = JobsServer::start(&config(1, &["p1"], pipeline, ""));
    for args in [
        &["workers"][..],
        &["workers", "-i"],
        &["reset"],
        &["jobs", "list"],
        &["jobs", "pause", "p1"],
    ] {
        let mut child = Command::new(BIN)
            .args(args)
            .args(cli_args(&s.server))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command has written anything:
        // its first write fails with EPIPE.
        drop(child.stdout.take());
        let status = wait_until(Duration::from_secs(30), || child.try_wait().ok().flatten());
        let status = status.unwrap_or_else(|| {
            let _ = child.kill();
            panic!("{args:?} kept running with a closed stdout")
        });
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} said: {stderr}");
    }
}
