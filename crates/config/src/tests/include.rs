//! `include` files merged over the root.

use std::fs;

use super::*;

#[test]
fn includes_merge_over_the_root() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("logs.yaml"),
        "version: \"3\"\nlogs:\n  level: info\nhttp:\n  pool:\n    num_workers: ${N:-9}\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("rpc.yaml"),
        "version: \"3\"\nrpc:\n  listen: tcp://127.0.0.1:6100\nlogs:\n  level: error\n",
    )
    .unwrap();
    let root = dir.path().join(".rr.yaml");
    fs::write(
        &root,
        format!(
            "{BASE}include: [logs.yaml, rpc.yaml]\nlogs:\n  mode: production\n  level: debug\n\
             http:\n  address: :80\n  pool:\n    max_jobs: 4\n"
        ),
    )
    .unwrap();
    let c = Config::load(&root, &LoadOptions::default()).unwrap().config;
    assert_eq!(c.logs.mode, LogMode::Production, "root keys survive");
    assert_eq!(c.logs.level, LogLevel::Error, "later includes win");
    let http = c.http.unwrap();
    assert_eq!(http.pool.num_workers, 9, "included values are expanded");
    assert_eq!(http.pool.max_jobs, 4);
    assert_eq!(c.rpc.unwrap().listen, ListenAddr::tcp("127.0.0.1", 6100));
}

#[test]
fn include_errors() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("old.yaml"), "version: \"2.7\"\n").unwrap();
    fs::write(
        dir.path().join("bad.yaml"),
        "version: \"3\"\nhttp:\n  pool:\n    num_workers: x\n",
    )
    .unwrap();
    let root = dir.path().join(".rr.yaml");
    fs::write(
        &root,
        format!(
            "{BASE}include:\n  - missing.yaml\n  - old.yaml\n  - bad.yaml\nhttp:\n  address: :80\n"
        ),
    )
    .unwrap();
    let e = Config::load(&root, &LoadOptions::default()).unwrap_err();
    let kinds: Vec<_> = e
        .problems()
        .iter()
        .map(|p| (p.kind, p.path.as_str()))
        .collect();
    assert!(kinds.contains(&(ProblemKind::Include, "include[0]")), "{e}");
    assert!(kinds.contains(&(ProblemKind::Include, "version")), "{e}");
    let bad = e
        .problems()
        .iter()
        .find(|p| p.path == "http.pool.num_workers")
        .unwrap();
    assert!(bad
        .location
        .as_ref()
        .unwrap()
        .source()
        .ends_with("bad.yaml"));
    assert_eq!(bad.location.as_ref().unwrap().line(), Some(4));
}
