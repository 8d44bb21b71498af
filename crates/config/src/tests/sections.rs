//! logs, status, metrics; unknown sections and keys.

use std::time::Duration;

use super::*;

#[test]
fn logs_accept_roadrunner_spellings() {
    let loaded = ok(
        "version: \"3\"\nlogs:\n  mode: NONE\n  level: WARNING\n  output: stdout\n  \
                     channels:\n    http:\n      level: error\n  file_logger_options:\n    \
                     log_output: /var/log/rr.log\n    max_size: 0\n",
    );
    let logs = loaded.config.logs;
    assert_eq!(logs.mode, LogMode::Off);
    assert_eq!(logs.level, LogLevel::Warn);
    assert_eq!(logs.output, vec!["stdout"]);
    assert_eq!(logs.channels["http"].level, LogLevel::Error);
    assert_eq!(logs.channels["http"].mode, LogMode::Development);
    assert_eq!(logs.for_plugin("server").mode, LogMode::Off);
    let file = logs.file_logger_options.unwrap();
    assert_eq!(file.max_size, 100);
    assert!(loaded.warnings.is_empty());

    let loaded = ok("version: \"3\"\nlogs:\n  mode: verbose\n");
    assert_eq!(loaded.config.logs.mode, LogMode::Development);
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:3:3: logs.mode: unknown log mode \"verbose\" (development, production, \
             raw, off); using development"
        ]
    );
}

#[test]
fn status_check_timeout_integer_is_seconds() {
    let c = ok("version: \"3\"\nstatus:\n  address: :2114\n  check_timeout: 5\n").config;
    assert_eq!(c.status.unwrap().check_timeout, Duration::from_secs(5));
    let c = ok("version: \"3\"\nstatus:\n  address: :2114\n  check_timeout: 1500ms\n").config;
    assert_eq!(c.status.unwrap().check_timeout, Duration::from_millis(1500));
}

#[test]
fn status_dashboard_defaults_token_and_unknown_keys() {
    let c = ok("version: \"3\"\nstatus:\n  address: :2114\n").config;
    let dashboard = c.status.unwrap().dashboard;
    assert!(dashboard.enabled, "on by default, read-only");
    assert!(dashboard.token.is_empty(), "actions off by default");
    let loaded = ok_with(
        "version: \"3\"\nstatus:\n  address: :2114\n  dashboard:\n    enabled: false\n    \
         token: ${DASH_TOKEN}\n    tokn: typo\n",
        &opts_env(&[("DASH_TOKEN", "s3cret")]),
    );
    let dashboard = loaded.config.status.unwrap().dashboard;
    assert!(!dashboard.enabled);
    assert_eq!(dashboard.token, "s3cret");
    assert_eq!(
        loaded.warnings,
        vec!["<string>:7:5: status.dashboard.tokn: unknown key, ignored; did you mean `token`?"]
    );
}

#[test]
fn metrics_collector_needs_a_type() {
    let e = err(
        "version: \"3\"\nmetrics:\n  collect:\n    ok:\n      type: gauge\n    bad:\n      \
                 help: no type\n",
    );
    assert_eq!(
        e.to_string(),
        "<string>:6:5: metrics.collect.bad: missing field `type`"
    );
}

#[test]
fn unknown_sections_and_keys_warn() {
    let loaded = ok(
        "version: \"3\"\nfoo:\n  bar: 1\njobs:\n  consume: []\nserver:\n  \
                     command: php w.php\n  comand: typo\nenvfile: .env\n",
    );
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:2:1: unknown section foo, ignored (kept as raw YAML)",
            "<string>:4:1: section jobs is not supported yet by Coyote (kept as raw YAML)",
            "<string>:8:3: server.comand: unknown key, ignored; did you mean `command`?",
            "<string>:9:1: envfile: RoadRunner's experimental envfile is not supported by \
             Coyote; use --dotenv instead. Ignored",
        ]
    );
    assert!(loaded.config.sections.contains_key("foo"));
    assert!(loaded.config.has_section("jobs"));
    assert!(!loaded.config.has_section("kv"));
}

#[test]
fn keys_match_case_insensitively_like_viper() {
    let c = ok(&format!(
        "{BASE}http:\n  Address: :80\n  Pool:\n    Num_Workers: 3\n"
    ))
    .config;
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("", 80)));
    assert_eq!(http.pool.num_workers, 3);
}
