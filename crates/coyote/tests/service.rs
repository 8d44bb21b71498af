//! The `service` plugin end to end with real processes (small `sh`
//! scripts): output in the log, restarts after `restart_sec`, SIGTERM then
//! SIGKILL, `exec_timeout`, `process_num`, the `service` RPC service as
//! roadrunner-php/services calls it, a command that does not exist
//! (retried with backoff, never a spin), and a server stop that leaves no
//! process behind, even under a short `endure.grace_period`.
//!
//! Every wait is on an event: a `--report` line (`service started NAME
//! PID`, `service exited NAME PID`, `service spawn-failed NAME`), a log
//! line, an RPC answer, or a pid leaving `/proc`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coyote_rpc::RpcClient;
use coyote_service::proto;
use coyote_test_support::{wait_until, Server, TempDir};
use goridge::flags;
use prost::Message;

use common::BIN;

/// A directory of scripts that outlives the server using them.
struct Scripts(TempDir);

impl Scripts {
    fn new() -> Self {
        Self(TempDir::new("coyote-service-scripts").unwrap())
    }

    /// Writes `body` as `name.sh`; returns `sh <path>` for a `command`.
    fn sh(&self, name: &str, body: &str) -> String {
        let path = self.0.path().join(format!("{name}.sh"));
        std::fs::write(&path, body).unwrap();
        format!("sh {}", path.display())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
}

/// A server with RPC and the `service` section `services` (its entries,
/// indented; empty: `service: {}`).
fn start(services: &str) -> Server {
    let section = if services.is_empty() {
        "service: {}\n".to_owned()
    } else {
        format!("service:\n{services}")
    };
    let config = format!(
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nlogs:\n  level: info\nendure:\n  grace_period: 20s\n{section}"
    );
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    server.wait_ready();
    server
}

/// Pids of `service started NAME PID` events, in order.
fn started(server: &Server, name: &str) -> Vec<u32> {
    let prefix = format!("service started {name} ");
    server
        .events()
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix)?.parse().ok())
        .collect()
}

fn count(server: &Server, line: &str) -> usize {
    server.events().iter().filter(|l| *l == line).count()
}

/// Waits until `name` has started `n` times; the pids.
fn wait_started(server: &Server, name: &str, n: usize, limit: Duration) -> Vec<u32> {
    wait_until(limit, || {
        let pids = started(server, name);
        (pids.len() >= n).then_some(pids)
    })
    .unwrap_or_else(|| {
        panic!(
            "{name} did not start {n} times: {:?}\n{}",
            server.events(),
            server.output()
        )
    })
}

fn wait_log(server: &Server, needle: &str, limit: Duration) {
    assert!(
        wait_until(limit, || server.output().contains(needle).then_some(())).is_some(),
        "no {needle:?} in the log:\n{}",
        server.output()
    );
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.get(s.rfind(')')? + 2..)?.chars().next()?;
            Some(state != 'Z')
        })
        .unwrap_or(false)
}

fn wait_gone(pids: &[u32], limit: Duration) {
    assert!(
        wait_until(limit, || pids.iter().all(|p| !alive(*p)).then_some(())).is_some(),
        "still alive: {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

/// A blocking `service.*` client.
struct Client {
    runtime: tokio::runtime::Runtime,
    client: RpcClient,
}

impl Client {
    fn connect(server: &Server) -> Self {
        let (runtime, client) = common::blocking_rpc(server);
        Self { runtime, client }
    }

    fn raw(&mut self, method: &str, body: Vec<u8>) -> Result<bytes::Bytes, String> {
        self.runtime
            .block_on(self.client.call_raw(
                &format!("service.{method}"),
                flags::CODEC_PROTO,
                body.into(),
            ))
            .map_err(|e| e.to_string())
    }

    fn create(&mut self, create: proto::Create) -> Result<bool, String> {
        let out = self.raw("Create", create.encode_to_vec())?;
        Ok(proto::Response::decode(out).unwrap().ok)
    }

    fn named(&mut self, method: &str, name: &str) -> Result<bytes::Bytes, String> {
        let body = proto::Service {
            name: name.to_owned(),
        }
        .encode_to_vec();
        self.raw(method, body)
    }

    fn ok(&mut self, method: &str, name: &str) -> Result<bool, String> {
        Ok(proto::Response::decode(self.named(method, name)?)
            .unwrap()
            .ok)
    }

    fn statuses(&mut self, name: &str) -> Result<Vec<proto::Status>, String> {
        Ok(proto::Statuses::decode(self.named("Statuses", name)?)
            .unwrap()
            .status)
    }

    fn list(&mut self) -> Vec<String> {
        proto::List::decode(self.named("List", "").unwrap())
            .unwrap()
            .services
    }
}

#[test]
fn output_is_logged_and_an_exited_service_restarts_after_restart_sec() {
    let scripts = Scripts::new();
    let ticker = scripts.sh(
        "ticker",
        "echo \"tick from $$\"\necho \"oops on stderr\" >&2\nexit 3\n",
    );
    let once = scripts.sh("once", "echo \"once from $$\"\n");
    let mut server = start(&format!(
        "  ticker:\n    command: {ticker}\n    remain_after_exit: true\n    restart_sec: 300ms\n    service_name_in_log: true\n  once:\n    command: {once}\n"
    ));
    // Restarted twice, each after restart_sec.
    let first = Instant::now();
    let pids = wait_started(&server, "ticker", 1, Duration::from_secs(10));
    wait_started(&server, "ticker", 3, Duration::from_secs(10));
    assert!(
        first.elapsed() >= Duration::from_millis(550),
        "two restarts took {:?}, less than 2 x restart_sec",
        first.elapsed()
    );
    wait_log(
        &server,
        &format!("tick from {}", pids[0]),
        Duration::from_secs(5),
    );
    let log = server.output();
    let line = log.lines().find(|l| l.contains("tick from")).unwrap();
    assert!(line.contains("service=ticker"), "{line}");
    assert!(log.contains("oops on stderr"), "{log}");
    // Without remain_after_exit, one run; its status says why it is not running.
    let once_pid = wait_started(&server, "once", 1, Duration::from_secs(5))[0];
    assert!(server.wait_event(
        &format!("service exited once {once_pid}"),
        Duration::from_secs(5)
    ));
    wait_log(
        &server,
        &format!("once from {once_pid}"),
        Duration::from_secs(5),
    );
    let once_line = server
        .output()
        .lines()
        .find(|l| l.contains("once from"))
        .unwrap()
        .to_owned();
    assert!(!once_line.contains("service=once"), "{once_line}");
    let mut client = Client::connect(&server);
    let status = client.statuses("once").unwrap();
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].pid, once_pid as i32);
    let why = status[0].status.as_ref().unwrap().message.clone();
    assert!(
        why.contains("not restarted (remain_after_exit is false)"),
        "{why}"
    );
    assert_eq!(started(&server, "once").len(), 1);
    assert!(server.terminate(Duration::from_secs(15)).unwrap().success());
}

#[test]
fn sigterm_stops_a_service_and_sigkill_follows_for_one_that_ignores_it() {
    let scripts = Scripts::new();
    let polite = scripts.sh(
        "polite",
        "trap 'echo \"got SIGTERM\"; exit 0' TERM\necho ready\nwhile :; do sleep 0.05; done\n",
    );
    let stubborn = scripts.sh(
        "stubborn",
        "trap '' INT TERM\nsleep 1000 &\necho \"child $!\"\nwhile :; do sleep 0.05; done\n",
    );
    let mut server = start(&format!(
        "  polite:\n    command: {polite}\n  stubborn:\n    command: {stubborn}\n    timeout_stop_sec: 1\n"
    ));
    let polite_pid = wait_started(&server, "polite", 1, Duration::from_secs(5))[0];
    let stubborn_pid = wait_started(&server, "stubborn", 1, Duration::from_secs(5))[0];
    wait_log(&server, "child ", Duration::from_secs(5));
    let log = server.output();
    let child: u32 = log
        .lines()
        .find_map(|l| {
            l.split("child ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap();
    assert!(alive(child));
    let mut client = Client::connect(&server);

    let began = Instant::now();
    assert!(client.ok("Terminate", "polite").unwrap());
    let polite_took = began.elapsed();
    assert!(polite_took < Duration::from_secs(1), "{polite_took:?}");
    wait_log(&server, "got SIGTERM", Duration::from_secs(2));
    assert!(!alive(polite_pid));

    let began = Instant::now();
    assert!(client.ok("Terminate", "stubborn").unwrap());
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "SIGKILL after timeout_stop_sec 1s came after {took:?}"
    );
    wait_gone(&[stubborn_pid, child], Duration::from_secs(2));
    assert!(server
        .output()
        .contains("did not stop after SIGTERM: SIGKILL"));
    assert_eq!(client.list(), Vec::<String>::new());
    assert!(server.terminate(Duration::from_secs(15)).unwrap().success());
}

#[test]
fn exec_timeout_kills_a_long_run_and_process_num_runs_copies() {
    let scripts = Scripts::new();
    let forever = scripts.sh("forever", "while :; do sleep 0.05; done\n");
    let mut server = start(&format!(
        "  slow:\n    command: {forever}\n    exec_timeout: 1s\n  many:\n    command: {forever}\n    process_num: 3\n"
    ));
    let slow = wait_started(&server, "slow", 1, Duration::from_secs(5))[0];
    let began = Instant::now();
    assert!(server.wait_event(
        &format!("service exited slow {slow}"),
        Duration::from_secs(5)
    ));
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    let many = wait_started(&server, "many", 3, Duration::from_secs(5));
    let mut client = Client::connect(&server);
    let why = client.statuses("slow").unwrap()[0]
        .status
        .clone()
        .unwrap()
        .message;
    assert!(why.contains("killed at exec_timeout"), "{why}");
    let statuses = client.statuses("many").unwrap();
    assert_eq!(statuses.len(), 3);
    let mut pids: Vec<u32> = statuses.iter().map(|s| s.pid as u32).collect();
    pids.sort_unstable();
    let mut expected = many.clone();
    expected.sort_unstable();
    assert_eq!(pids, expected);
    for s in &statuses {
        assert!(s.status.is_none(), "{s:?}");
        assert!(s.memory_usage > 0, "{s:?}");
        assert!(s.cpu_percent >= 0.0);
        assert_eq!(s.command, forever);
        assert!(alive(s.pid as u32));
    }
    // The deprecated Status answers one process.
    let one = proto::Status::decode(client.named("Status", "many").unwrap()).unwrap();
    assert!(many.contains(&(one.pid as u32)));
    assert!(server.terminate(Duration::from_secs(15)).unwrap().success());
    wait_gone(&many, Duration::from_secs(2));
}

#[test]
fn the_rpc_service_creates_lists_restarts_and_terminates() {
    let scripts = Scripts::new();
    let env_script = scripts.sh(
        "env",
        "echo \"greeting=$GREETING\"\nwhile :; do sleep 0.05; done\n",
    );
    let mut server = start("");
    let mut client = Client::connect(&server);
    assert_eq!(client.list(), Vec::<String>::new());
    let create = proto::Create {
        name: "made".into(),
        command: env_script.clone(),
        process_num: 2,
        env: [("greeting".to_owned(), "hello".to_owned())].into(),
        restart_sec: 1,
        service_name_in_logs: true,
        ..proto::Create::default()
    };
    assert!(client.create(create.clone()).unwrap());
    let pids = wait_started(&server, "made", 2, Duration::from_secs(5));
    wait_log(&server, "greeting=hello", Duration::from_secs(5));
    assert_eq!(client.list(), vec!["made".to_owned()]);
    let err = client.create(create.clone()).unwrap_err();
    assert!(err.contains("service already exists: made"), "{err}");

    assert!(client.ok("Restart", "made").unwrap());
    let after = wait_started(&server, "made", 4, Duration::from_secs(5));
    wait_gone(&pids, Duration::from_secs(2));
    let now: Vec<u32> = client
        .statuses("made")
        .unwrap()
        .iter()
        .map(|s| s.pid as u32)
        .collect();
    assert_eq!(now.len(), 2);
    assert!(
        now.iter().all(|p| after[2..].contains(p) && alive(*p)),
        "{now:?} {after:?}"
    );

    assert!(client.ok("Terminate", "made").unwrap());
    wait_gone(&now, Duration::from_secs(2));
    assert_eq!(client.list(), Vec::<String>::new());

    for method in ["Terminate", "Restart", "Status", "Statuses"] {
        let err = client.named(method, "nope").unwrap_err();
        assert!(err.contains("no such service: nope"), "{method}: {err}");
    }
    let missing = proto::Create {
        name: "broken".into(),
        command: "/no/such/program --flag".into(),
        process_num: 1,
        ..proto::Create::default()
    };
    let err = client.create(missing).unwrap_err();
    assert!(
        err.contains("cannot start \"/no/such/program --flag\""),
        "{err}"
    );
    assert!(err.contains("No such file or directory"), "{err}");
    assert_eq!(client.list(), Vec::<String>::new());
    for (bad, why) in [
        (
            proto::Create {
                process_num: 0,
                ..create.clone()
            },
            "process_num must be between 1 and 1024",
        ),
        (
            proto::Create {
                process_num: 5000,
                ..create.clone()
            },
            "process_num must be between 1 and 1024",
        ),
        (
            proto::Create {
                exec_timeout: -1,
                ..create.clone()
            },
            "exec_timeout must be between 0",
        ),
        (
            proto::Create {
                command: " ".into(),
                ..create.clone()
            },
            "command must not be empty",
        ),
        (
            proto::Create {
                name: String::new(),
                ..create.clone()
            },
            "service name must not be empty",
        ),
    ] {
        let err = client.create(bad).unwrap_err();
        assert!(err.contains(why), "{err}");
    }
    let err = client.raw("Create", vec![0xff, 0xff]).unwrap_err();
    assert!(err.contains("cannot decode"), "{err}");
    let err = client.raw("Update", Vec::new()).unwrap_err();
    assert!(err.contains("can't find method service.Update"), "{err}");
    assert!(server.terminate(Duration::from_secs(15)).unwrap().success());
}

#[test]
fn a_command_that_does_not_exist_is_retried_with_backoff_not_spun() {
    let mut server = start(
        "  ghost:\n    command: /no/such/daemon --serve\n    remain_after_exit: true\n    restart_sec: 200ms\n",
    );
    let began = Instant::now();
    let line = "service spawn-failed ghost";
    assert!(
        wait_until(Duration::from_secs(10), || (count(&server, line) >= 4)
            .then_some(()))
        .is_some(),
        "{:?}",
        server.events()
    );
    // Delays 200 ms, 400 ms, 800 ms between the four attempts.
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(1300),
        "four attempts in {took:?}"
    );
    assert_eq!(count(&server, line), 4, "a fifth attempt came too early");
    let log = server.output();
    assert!(log.contains("cannot start the service"), "{log}");
    assert!(log.contains("No such file or directory"), "{log}");
    let mut client = Client::connect(&server);
    let why = client.statuses("ghost").unwrap()[0]
        .status
        .clone()
        .unwrap()
        .message;
    assert!(
        why.contains("cannot start \"/no/such/daemon --serve\""),
        "{why}"
    );
    assert!(server.terminate(Duration::from_secs(15)).unwrap().success());
}

#[test]
fn the_server_stop_leaves_no_process_behind_within_the_grace_period() {
    let scripts = Scripts::new();
    let stubborn = scripts.sh(
        "stubborn",
        "trap '' INT TERM\nsleep 1000 &\necho \"child $!\" >> \"$PIDS\"\nwhile :; do sleep 0.05; done\n",
    );
    let pids_file = scripts.path("pids");
    let config = format!(
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nendure:\n  grace_period: 2s\nservice:\n  stubborn:\n    command: {stubborn}\n    process_num: 2\n    timeout_stop_sec: 60\n    env:\n      pids: {}\n",
        pids_file.display()
    );
    let mut server = Server::start(BIN, &config, &[]).unwrap();
    server.wait_ready();
    let mut pids = wait_started(&server, "stubborn", 2, Duration::from_secs(5));
    let children: Vec<u32> = wait_until(Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&pids_file).unwrap_or_default();
        let found: Vec<u32> = text
            .lines()
            .filter_map(|l| l.strip_prefix("child ")?.parse().ok())
            .collect();
        (found.len() == 2).then_some(found)
    })
    .unwrap();
    pids.extend(children);
    assert!(pids.iter().all(|p| alive(*p)));
    let began = Instant::now();
    let status = server.terminate(Duration::from_secs(10)).unwrap();
    let took = began.elapsed();
    assert!(status.success(), "{status:?}");
    // SIGKILL comes before the 2 s grace deadline, not after timeout_stop_sec 60.
    assert!(took < Duration::from_secs(3), "the stop took {took:?}");
    let log = server.output();
    assert!(
        !log.contains("abandon"),
        "the host had to abandon the services:\n{log}"
    );
    assert!(log.contains("did not stop after SIGTERM: SIGKILL"), "{log}");
    wait_gone(&pids, Duration::from_secs(2));
}

#[test]
fn a_bad_service_section_stops_the_server_before_anything_runs() {
    let mut server = Server::start(
        BIN,
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:0\nservice:\n  a:\n    process_num: 2\n  b:\n    command: sleep 100\n    exec_timeout: soon\n",
        &[],
    )
    .unwrap();
    let status = server.wait_exit(Duration::from_secs(10)).unwrap();
    assert_eq!(status.code(), Some(3));
    let log = server.output();
    assert!(
        log.contains(".rr.yaml:5:3: service.a.command: required key command is missing or empty"),
        "{log}"
    );
    assert!(
        log.contains(".rr.yaml:9:5: service.b.exec_timeout: invalid duration \"soon\""),
        "{log}"
    );
    assert!(started(&server, "b").is_empty());
}
