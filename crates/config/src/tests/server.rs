//! The server section (relay, command, on_init) and pool limits.

use std::time::Duration;

use super::*;

#[test]
fn relay_is_parsed_into_an_enum() {
    let c =
        ok("version: \"3\"\nserver:\n  command: php w.php\n  relay: tcp://127.0.0.1:6002\n").config;
    assert_eq!(
        c.server.unwrap().relay,
        Relay::Tcp {
            host: "127.0.0.1".into(),
            port: 6002
        }
    );
    let c =
        ok("version: \"3\"\nserver:\n  command: php w.php\n  relay: unix:///run/rr.sock\n").config;
    assert_eq!(c.server.unwrap().relay, Relay::Unix("/run/rr.sock".into()));
    let e = err("version: \"3\"\nserver:\n  command: php w.php\n  relay: tcp://:6002\n");
    assert!(
        e.to_string()
            .starts_with("<string>:4:3: server.relay: invalid relay"),
        "{e}"
    );
}

#[test]
fn command_forms() {
    let cmd = |v: &str| {
        ok(&format!("version: \"3\"\nserver:\n  command: {v}\n"))
            .config
            .server
            .unwrap()
            .command
    };
    assert_eq!(
        cmd("\"php  -d x=1 worker.php\""),
        vec!["php", "-d", "x=1", "worker.php"]
    );
    assert_eq!(cmd("[\"php worker.php\"]"), vec!["php", "worker.php"]);
    assert_eq!(
        cmd("[php, \"my worker.php\"]"),
        vec!["php", "my worker.php"]
    );
    assert_eq!(cmd("php,worker.php"), vec!["php", "worker.php"]);
}

#[test]
fn server_command_required_with_a_pool_plugin() {
    let e = err("version: \"3\"\nhttp:\n  address: :80\n");
    assert_eq!(
        e.to_string(),
        "<string>:1:1: server.command: required: http runs PHP workers"
    );
    let e =
        err("version: \"3\"\nserver:\n  user: www\nhttp:\n  address: :80\njobs:\n  consume: []\n");
    assert_eq!(
        e.problems()[0].to_string(),
        "<string>:2:1: server.command: required: http, jobs run PHP workers"
    );
    assert_eq!(e.problems().len(), 1);
    // Without pool plugins the server section is optional.
    ok("version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:6001\nlogs:\n  level: info\n");
}

#[test]
fn server_env_keys_are_upper_cased_and_on_init_needs_a_command() {
    let c = ok(
        "version: \"3\"\nserver:\n  command: php w.php\n  env:\n    app_env: prod\n    \
                MixedCase: 1\n",
    )
    .config;
    let server = c.server.unwrap();
    assert_eq!(server.env["APP_ENV"], "prod");
    assert_eq!(server.env["MIXEDCASE"], "1");

    let e =
        err("version: \"3\"\nserver:\n  command: php w.php\n  on_init:\n    exec_timeout: 5s\n");
    assert_eq!(
        e.to_string(),
        "<string>:4:3: server.on_init.command: required when on_init is set"
    );
}

#[test]
fn relay_timeout_is_accepted_with_a_warning() {
    let loaded = ok("version: \"3\"\nserver:\n  command: php w.php\n  relay_timeout: 20s\n");
    assert_eq!(
        loaded.config.server.unwrap().relay_timeout,
        Some(Duration::from_secs(20))
    );
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].starts_with("<string>:4:3: server.relay_timeout: deprecated"));
}

#[test]
fn pool_limits() {
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  pool:\n    num_workers: 501\n"
    ));
    assert_eq!(
        e.to_string(),
        "<string>:7:5: http.pool.num_workers: 501 workers requested; RoadRunner allows at most 500"
    );
    let loaded = ok(&format!(
        "{BASE}http:\n  address: :80\n  pool:\n    num_workers: 500\n    dynamic_allocator:\n      \
         max_workers: 1000\n      spawn_rate: 500\n      idle_timeout: 100ms\n"
    ));
    let d = loaded.config.http.unwrap().pool.dynamic_allocator.unwrap();
    assert_eq!(d.max_workers, 100);
    assert_eq!(d.spawn_rate, 100);
    assert_eq!(d.idle_timeout, Duration::from_secs(60));
    assert_eq!(loaded.warnings.len(), 3, "{:?}", loaded.warnings);
}
