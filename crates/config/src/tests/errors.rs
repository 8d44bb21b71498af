//! Error reporting: every problem, with its path and position.

use std::fs;

use super::*;

#[test]
fn several_errors_at_once_with_paths_and_lines() {
    let yaml = "version: \"3\"
server:
  command: php worker.php
  relay: socket
http:
  address: 127.0.0.1:8080
  internal_error_code: 99
  trusted_subnets: [\"10.0.0.0/8\", \"nonsense\"]
  pool:
    num_workers: abc
    max_jobs: -1
    allocate_timeout: 10 seconds
    supervisor:
      exec_ttl: 1x
rpc:
  listen: localhost
logs:
  encoding: yaml
status:
  unavailable_status_code: 503
";
    let e = err(yaml);
    let text = e.to_string();
    let expected = "\
<string>:4:3: server.relay: invalid relay \"socket\": expected pipes, tcp://host:port or unix:///path
<string>:7:3: http.internal_error_code: 99 is not an HTTP status code (100-599)
<string>:8:35: http.trusted_subnets[1]: invalid CIDR \"nonsense\": expected e.g. 10.0.0.0/8
<string>:10:5: http.pool.num_workers: invalid type: string \"abc\", expected an integer
<string>:11:5: http.pool.max_jobs: invalid value: integer `-1`, expected u64
<string>:12:5: http.pool.allocate_timeout: invalid duration \"10 seconds\": unknown unit; use ns, us, ms, s, m or h
<string>:14:7: http.pool.supervisor.exec_ttl: invalid duration \"1x\": unknown unit; use ns, us, ms, s, m or h
<string>:16:3: rpc.listen: invalid address \"localhost\": expected host:port
<string>:18:3: logs.encoding: unknown variant `yaml`, expected `console` or `json`
<string>:19:1: status: missing field `address`";
    assert_eq!(text, expected);
    let kinds: Vec<ProblemKind> = e.problems().iter().map(|p| p.kind).collect();
    assert_eq!(kinds.last(), Some(&ProblemKind::Missing));
}

#[test]
fn errors_in_lists_point_at_the_item() {
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  trusted_subnets:\n    - 10.0.0.0/8\n    - 300.0.0.0/8\n"
    ));
    assert_eq!(
        e.to_string(),
        "<string>:8:7: http.trusted_subnets[1]: invalid CIDR \"300.0.0.0/8\": expected e.g. 10.0.0.0/8"
    );
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".rr.yaml");
    fs::write(
        &path,
        "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: :80\n  pool:\n    \
         num_workers: abc\n",
    )
    .unwrap();
    let e = Config::load(&path, &LoadOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:7:5: http.pool.num_workers: invalid type: string \"abc\", expected an integer",
            path.display()
        )
    );
    let p = &e.problems()[0];
    assert_eq!(p.path, "http.pool.num_workers");
    assert_eq!(p.location.as_ref().unwrap().line(), Some(7));
    assert_eq!(p.location.as_ref().unwrap().column(), Some(5));
}

#[test]
fn missing_file_is_a_read_error() {
    let e = Config::load("/no/such/dir/.rr.yaml", &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }));
    assert!(e
        .to_string()
        .starts_with("cannot read /no/such/dir/.rr.yaml"));
}

#[test]
fn syntax_error_is_reported_with_position() {
    let e = err("version: \"3\"\nhttp:\n  address: [oops\n");
    let p = &e.problems()[0];
    assert_eq!(p.kind, ProblemKind::Syntax);
    assert!(p.location.as_ref().unwrap().line().is_some());
}

#[test]
fn duplicate_keys_are_errors() {
    let e = err(
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:1\nrpc:\n  listen: tcp://127.0.0.1:2\n",
    );
    assert_eq!(
        e.to_string(),
        "<string>:4:1: rpc: duplicate key (first defined at line 2)"
    );
}

#[test]
fn the_loaded_tree_locates_keys_for_plugins() {
    let loaded = ok_with(
        "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:0\n  \
         static:\n    dir: /nope\n",
        &LoadOptions {
            overrides: vec!["http.pool.num_workers=2".to_owned()],
            ..LoadOptions::default()
        },
    );
    let at = |path: &str| loaded.tree.locate(path).map(|l| l.to_string());
    assert_eq!(at("http.static.dir").as_deref(), Some("<string>:7:5"));
    assert_eq!(at("http.headers.cors").as_deref(), Some("<string>:4:1"));
    assert_eq!(
        at("http.pool.num_workers").as_deref(),
        Some("-o http.pool.num_workers=2")
    );
    assert_eq!(at("").as_deref(), Some("<string>:1:1"));

    // A problem built by a plugin prints like the loader's own.
    let p = Problem::new(
        ProblemKind::File,
        "http.static.dir",
        "no such directory",
        loaded.tree.locate("http.static.dir"),
    );
    assert_eq!(
        ConfigError::Invalid {
            problems: vec![p],
            warnings: vec![]
        }
        .to_string(),
        "<string>:7:5: http.static.dir: no such directory"
    );
}
