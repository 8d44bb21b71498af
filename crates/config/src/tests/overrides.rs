//! `-o dotted.key=value` overrides, and the Octane-style start (an empty
//! file plus overrides).

use std::fs;
use std::time::Duration;

use super::*;

#[test]
fn overrides_apply_after_expansion_and_create_maps() {
    let opts = LoadOptions {
        env: env(&[("PORT", "9000"), ("W", "3")]),
        overrides: vec![
            "http.address=\"127.0.0.1:${PORT}\"".to_owned(),
            "http.pool.num_workers=$W".to_owned(),
            "http.pool.supervisor.exec_ttl='10s'".to_owned(),
            "rpc.listen=tcp://127.0.0.1:7000".to_owned(),
            "logs.level=warn".to_owned(),
            "http.middleware=headers,gzip".to_owned(),
        ],
        ..LoadOptions::default()
    };
    let c = ok_with(&format!("{BASE}http:\n  address: ${{PORT}}\n"), &opts).config;
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("127.0.0.1", 9000)));
    assert_eq!(http.pool.num_workers, 3);
    assert_eq!(
        http.pool.supervisor.unwrap().exec_ttl,
        Duration::from_secs(10)
    );
    assert_eq!(http.middleware, vec!["headers", "gzip"]);
    assert_eq!(c.rpc.unwrap().listen, ListenAddr::tcp("127.0.0.1", 7000));
    assert_eq!(c.logs.level, LogLevel::Warn);
}

#[test]
fn override_replaces_a_scalar_with_a_map() {
    let opts = LoadOptions {
        overrides: vec!["http.pool.num_workers=2".to_owned()],
        ..LoadOptions::default()
    };
    let c = ok_with(&format!("{BASE}http:\n  address: :80\n  pool: ~\n"), &opts).config;
    assert_eq!(c.http.unwrap().pool.num_workers, 2);
}

#[test]
fn bad_overrides_are_all_reported() {
    let opts = LoadOptions {
        overrides: vec![
            "nokey".to_owned(),
            "http.pool.num_workers=abc".to_owned(),
            "a=".to_owned(),
        ],
        ..LoadOptions::default()
    };
    let e = err_with(&format!("{BASE}http:\n  address: :80\n"), &opts);
    let text = e.to_string();
    assert!(text.contains("-o nokey: invalid override"), "{text}");
    assert!(text.contains("-o a=: invalid override"), "{text}");
    assert!(
        text.contains(
            "-o http.pool.num_workers=abc: http.pool.num_workers: invalid type: string \"abc\", \
             expected an integer"
        ),
        "{text}"
    );
}

/// What Laravel Octane passes to `rr serve` (its StartRoadRunnerCommand),
/// with an empty `.rr.yaml`.
fn octane() -> LoadOptions {
    LoadOptions {
        overrides: [
            "version=3",
            "http.address=127.0.0.1:8000",
            "server.command=/usr/bin/php,/app/vendor/bin/roadrunner-worker",
            "http.pool.num_workers=4",
            "http.pool.max_jobs=500",
            "rpc.listen=tcp://127.0.0.1:6001",
            "http.pool.supervisor.exec_ttl=30s",
            "http.static.dir=/app/public",
            "http.middleware=static",
            "logs.mode=production",
            "logs.level=warn",
            "logs.output=stdout",
            "logs.encoding=json",
        ]
        .map(str::to_owned)
        .to_vec(),
        ..LoadOptions::default()
    }
}

fn assert_octane(loaded: &Loaded) {
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    assert_eq!(c.version, "3");
    assert_eq!(
        c.server.as_ref().unwrap().command,
        vec!["/usr/bin/php", "/app/vendor/bin/roadrunner-worker"]
    );
    let http = c.http.as_ref().unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("127.0.0.1", 8000)));
    assert_eq!((http.pool.num_workers, http.pool.max_jobs), (4, 500));
    assert_eq!(
        http.pool.supervisor.as_ref().unwrap().exec_ttl,
        Duration::from_secs(30)
    );
    assert_eq!(
        http.static_files.as_ref().unwrap().dir,
        std::path::PathBuf::from("/app/public")
    );
    assert_eq!(http.middleware, vec!["static"]);
    assert_eq!(
        c.rpc.as_ref().unwrap().listen,
        ListenAddr::tcp("127.0.0.1", 6001)
    );
    assert_eq!(
        (c.logs.mode, c.logs.level, c.logs.encoding),
        (LogMode::Production, LogLevel::Warn, Some(LogEncoding::Json))
    );
    assert_eq!(c.logs.output, vec!["stdout"]);
}

#[test]
fn octane_starts_with_an_empty_file_and_overrides() {
    for empty in ["", "\n", "# written by octane\n", "null\n", "~\n", "---\n"] {
        let loaded = match Config::from_str(empty, &octane()) {
            Ok(loaded) => loaded,
            Err(e) => panic!("{empty:?}: {e}"),
        };
        assert_octane(&loaded);
    }
    // The minimal form from the brief.
    let opts = LoadOptions {
        overrides: vec![
            "version=3".to_owned(),
            "server.command=php,worker.php".to_owned(),
            "http.address=127.0.0.1:8000".to_owned(),
        ],
        ..LoadOptions::default()
    };
    let c = ok_with("", &opts).config;
    assert_eq!(c.server.unwrap().command, vec!["php", "worker.php"]);
    assert_eq!(
        c.http.unwrap().address,
        Some(ListenAddr::tcp("127.0.0.1", 8000))
    );
}

#[test]
fn octane_starts_with_an_empty_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".rr.yaml");
    fs::write(&path, "").unwrap();
    let loaded = match Config::load(&path, &octane()) {
        Ok(loaded) => loaded,
        Err(e) => panic!("{e}"),
    };
    assert_octane(&loaded);
    assert_eq!(
        serde_json::to_value(&loaded.tree).unwrap()["http"]["address"],
        "127.0.0.1:8000"
    );
}

#[test]
fn empty_file_problems_point_at_the_file() {
    // Without -o version=3 an empty file is still refused.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".rr.yaml");
    fs::write(&path, "").unwrap();
    let mut opts = octane();
    opts.overrides.retain(|o| o != "version=3");
    let e = Config::load(&path, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1:1: version: missing: the configuration is empty; it must start with \
             version: \"3\" (or pass -o version=3)",
            path.display()
        )
    );
    // A key the overrides do not supply is reported at the file, not at
    // one of the flags.
    let mut opts = octane();
    opts.overrides.retain(|o| !o.starts_with("server."));
    let e = Config::load(&path, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:1:1: server.command: required: http runs PHP workers",
            path.display()
        )
    );
}
