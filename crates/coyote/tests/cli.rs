//! End-to-end: RoadRunner's command line around `serve` (issue 17, items
//! 3 and 4): `-v` in `rr version X` form, `serve -p` / `--pid-file` with
//! `stop [-f]`, a missing config (exit 1, said once), unknown keys with a
//! suggestion, `--strict` and `COYOTE_STRICT=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{config, get, http_port, marker, start, wait_for_marker, wait_for_output, BIN};
use coyote_test_support::{wait_until, Server, TempDir};

const LIMIT: Duration = Duration::from_secs(20);

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_prints_roadrunners_line_first_then_coyotes() {
    // No config anywhere: `rr --version` works in an empty directory.
    let dir = TempDir::new("coyote-cli-version").unwrap();
    let line = regex::Regex::new(
        r"^rr version (\d+\.\d+\.\d+) \(build time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000, rustc \d+\.\d+\.\d+[^)]*\), OS: [a-z]+, arch: [a-z0-9_]+$",
    )
    .unwrap();
    for flag in ["-v", "--version"] {
        let out = run(&[flag], dir.path());
        assert!(out.status.success(), "{flag}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        let caps = line
            .captures(lines[0])
            .unwrap_or_else(|| panic!("{flag}: not RoadRunner's shape: {}", lines[0]));
        assert_eq!(&caps[1], coyote::version::ROADRUNNER_VERSION);
        // What Laravel Octane does: starts with "rr version", third word.
        assert!(stdout.starts_with("rr version "));
        assert_eq!(
            stdout.split(' ').nth(2),
            Some(coyote::version::ROADRUNNER_VERSION)
        );
        assert_eq!(
            lines[1],
            format!(
                "coyote {} (RoadRunner-compatible 2025.1)",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}

#[test]
fn serve_p_writes_the_pid_file_stop_uses_it_and_exit_removes_it() {
    let mut server = Server::start(BIN, &config(1, ""), &["-p"]).unwrap();
    server.wait_ready();
    let pid_file = server.dir.join(".pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        server.pid().to_string()
    );
    let rr_yaml = server.dir.join(".rr.yaml").display().to_string();
    let elsewhere = TempDir::new("coyote-cli-stop").unwrap();
    // `stop` finds `.pid` in the working directory: the config's.
    let out = run(&["stop", "-c", &rr_yaml], elsewhere.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("stopping process with PID: {}", server.pid())),
        "{}",
        text(&out.stderr)
    );
    let status = server.wait_exit(LIMIT).expect("the server stopped");
    assert!(status.success(), "{status:?}\n{}", server.output());
    assert!(!pid_file.exists(), "the pid file is removed on exit");

    // Nothing left to stop: a clear error, exit 1.
    let out = run(&["stop", "-c", &rr_yaml], elsewhere.path());
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot read the pid file") && err.contains("coyote serve -p"),
        "{err}"
    );
}

#[test]
fn stop_f_stops_at_once_with_a_request_in_flight() {
    let pid_dir = TempDir::new("coyote-cli-pidfile").unwrap();
    let pid_file = pid_dir.path().join("coyote.pid");
    let pid_arg = pid_file.display().to_string();
    let mut server = Server::start(BIN, &config(1, ""), &["--pid-file", &pid_arg]).unwrap();
    server.wait_ready();
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        server.pid().to_string()
    );
    // A request that would hold a graceful stop for a minute.
    let http = http_port(&server);
    let m = marker(&server, "held");
    let path = format!("/slow?ms=60000&marker={}", m.display());
    let _held = std::thread::spawn(move || {
        let _ = std::panic::catch_unwind(|| get(http, &path, ""));
    });
    wait_for_marker(&server, &m);

    let out = run(&["stop", "-f", "--pid-file", &pid_arg], pid_dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    server
        .wait_exit(LIMIT)
        .expect("stop -f did not wait for the request");
    let log = server.output();
    assert!(log.contains("second signal: stopping now"), "{log}");
    assert!(!pid_file.exists(), "the pid file is removed on exit");
}

#[test]
fn stop_refuses_stale_and_garbage_pid_files() {
    let dir = TempDir::new("coyote-cli-stale").unwrap();
    let pid_file = dir.path().join(".pid");
    // A pid that has certainly exited (and been reaped).
    let mut child = Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    std::fs::write(&pid_file, gone.to_string()).unwrap();
    let rr_yaml = dir.path().join(".rr.yaml").display().to_string();
    let out = run(&["stop", "-c", &rr_yaml], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("no process {gone} is running")),
        "{}",
        text(&out.stderr)
    );

    // "-1" would signal every process we may signal: refused.
    for garbage in ["-1", "0", "abc", ""] {
        std::fs::write(&pid_file, garbage).unwrap();
        let out = run(&["stop", "-c", &rr_yaml], dir.path());
        assert_eq!(out.status.code(), Some(1), "{garbage:?}");
        assert!(
            text(&out.stderr).contains("not a process id"),
            "{garbage:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_missing_config_is_said_once_and_exits_1() {
    let dir = TempDir::new("coyote-cli-missing").unwrap();
    for command in [&["serve"][..], &["workers"], &["reset"], &["jobs", "list"]] {
        let mut args = command.to_vec();
        args.extend(["-c", "nope.rr.yaml"]);
        let out = run(&args, dir.path());
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("nope.rr.yaml"), "{err}");
        assert_eq!(
            err.matches("No such file or directory").count(),
            1,
            "{args:?}: the OS error once: {err}"
        );
    }
}

#[test]
fn a_typo_in_a_required_key_is_reported_at_the_typo() {
    let typo = config(1, "").replace("  command:", "  comand:");
    let mut server = Server::start(BIN, &typo, &[]).unwrap();
    let status = server.wait_exit(LIMIT).expect("exits");
    assert_eq!(status.code(), Some(3));
    let out = server.output();
    assert!(
        out.contains(".rr.yaml:5:3: server.comand: unknown key; did you mean `command`?"),
        "{out}"
    );
}

#[test]
fn unknown_keys_warn_with_a_suggestion_and_strict_refuses_them() {
    let typo = config(1, "").replace(
        "    allocate_timeout:",
        "    num_worker: 2\n    allocate_timeout:",
    );
    let expected = "http.pool.num_worker: unknown key, ignored; did you mean `num_workers`?";

    // Without --strict: it starts, and says so (even with errors elsewhere).
    let server = start(&typo);
    assert!(
        wait_for_output(&server, expected, LIMIT),
        "{}",
        server.output()
    );
    drop(server);
    let broken = typo.replace("num_workers: 1", "num_workers: lots");
    let mut server = Server::start(BIN, &broken, &[]).unwrap();
    assert_eq!(server.wait_exit(LIMIT).unwrap().code(), Some(3));
    let out = server.output();
    assert!(out.contains("http.pool.num_workers: invalid type"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("warning: ")
                && l.ends_with(&format!(".rr.yaml:10:5: {expected}"))),
        "{out}"
    );

    // --strict, or COYOTE_STRICT=1: an error, exit 3, nothing bound.
    let strict_error =
        "http.pool.num_worker: unknown key; did you mean `num_workers`? (strict mode)";
    let mut by_flag = Server::start(BIN, &typo, &["--strict"]).unwrap();
    let mut by_env = Server::start_with_env(BIN, &typo, &[], &[("COYOTE_STRICT", "1")]).unwrap();
    for server in [&mut by_flag, &mut by_env] {
        assert_eq!(server.wait_exit(LIMIT).unwrap().code(), Some(3));
        let out = server.output();
        assert!(out.contains(strict_error), "{out}");
        assert!(
            !server.events().iter().any(|e| e.starts_with("listen ")),
            "nothing bound: {:?}",
            server.events()
        );
    }
}

#[test]
fn strict_applies_to_plugin_sections_too() {
    let cfg = format!(
        "{}kv:\n  local:\n    driver: memory\n    drivr: x\n",
        config(1, "")
    );
    let mut server = Server::start(BIN, &cfg, &["--strict"]).unwrap();
    let status = server
        .wait_exit(LIMIT)
        .unwrap_or_else(|| panic!("kept running:\n{}", server.output()));
    assert_eq!(status.code(), Some(3));
    let out = server.output();
    assert!(
        out.contains("kv.local.drivr: unknown key; did you mean `driver`? (strict mode)"),
        "{out}"
    );
    // The same config without --strict starts.
    let mut server = Server::start(BIN, &cfg, &[]).unwrap();
    server.wait_ready();
    assert!(
        wait_until(LIMIT, || server
            .output()
            .contains("kv.local.drivr")
            .then_some(()))
        .is_some(),
        "{}",
        server.output()
    );
}
