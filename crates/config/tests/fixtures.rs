//! Real-world `.rr.yaml` files that must always load (add new ones, never
//! edit old ones to make a change pass).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coyote_config::{
    ClientAuthType, CollectorType, Config, ListenAddr, LoadOptions, LogEncoding, LogLevel, LogMode,
    Relay,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

fn load(name: &str, env: &[(&str, &str)]) -> coyote_config::Loaded {
    let opts = LoadOptions {
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<HashMap<_, _>>(),
        ..LoadOptions::default()
    };
    match Config::load(fixture(name), &opts) {
        Ok(loaded) => loaded,
        Err(e) => panic!("{name} must load, got:\n{e}"),
    }
}

#[test]
fn every_fixture_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            if let Err(e) = Config::load(&path, &LoadOptions::default()) {
                panic!("{} must load, got:\n{e}", path.display());
            }
            count += 1;
        }
    }
    assert!(count >= 4, "expected at least 4 fixtures, found {count}");
}

#[test]
fn minimal() {
    let loaded = load("minimal.rr.yaml", &[]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.server.unwrap().command, vec!["php", "worker.php"]);
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("0.0.0.0", 8080)));
    assert_eq!(http.pool.allocate_timeout, Duration::from_secs(60));
    assert!(c.rpc.is_none());
}

#[test]
fn full_sample() {
    let loaded = load("full.rr.yaml", &[]);
    let c = &loaded.config;

    let server = c.server.as_ref().unwrap();
    assert_eq!(
        server.env.get("APP_ENV").map(String::as_str),
        Some("production")
    );
    assert_eq!(server.relay, Relay::Pipes);
    let on_init = server.on_init.as_ref().unwrap();
    assert_eq!(on_init.command, vec!["php", "bin/warmup.php", "--cache"]);
    assert_eq!(on_init.exec_timeout, Duration::from_secs(20));
    assert!(on_init.env.contains_key("WARMUP_MODE"));

    assert_eq!(c.logs.mode, LogMode::Production);
    assert_eq!(c.logs.level, LogLevel::Info);
    assert_eq!(c.logs.encoding, Some(LogEncoding::Json));
    assert_eq!(c.logs.for_plugin("http").level, LogLevel::Debug);
    assert_eq!(c.logs.for_plugin("server").output, vec!["stdout"]);

    let http = c.http.as_ref().unwrap();
    assert_eq!(http.internal_error_code, 505);
    assert_eq!(http.middleware.len(), 4);
    assert_eq!(http.trusted_subnets.len(), 7);
    assert_eq!(http.trusted_headers, vec!["X-Forwarded-For", "X-Real-IP"]);
    assert_eq!(http.uploads.forbid.len(), 4);
    let cors = http.headers.as_ref().unwrap().cors.as_ref().unwrap();
    assert_eq!(cors.max_age, 600);
    assert!(cors.allow_credentials);
    let st = http.static_files.as_ref().unwrap();
    assert!(st.calculate_etag);
    assert_eq!(http.pool.num_workers, 8);
    assert_eq!(http.pool.command, None);
    let dynamic = http.pool.dynamic_allocator.as_ref().unwrap();
    assert_eq!(
        (
            dynamic.max_workers,
            dynamic.spawn_rate,
            dynamic.idle_timeout
        ),
        (25, 10, Duration::from_secs(10))
    );
    let sup = http.pool.supervisor.as_ref().unwrap();
    assert_eq!(sup.watch_tick, Duration::from_secs(1));
    assert_eq!(sup.max_worker_memory, 128);
    let ssl = http.ssl.as_ref().unwrap();
    assert!(http.tls_enabled());
    assert_eq!(ssl.client_auth_type, ClientAuthType::NoClientCerts);
    assert_eq!(http.fcgi_address(), Some(&ListenAddr::tcp("0.0.0.0", 7921)));

    let metrics = c.metrics.as_ref().unwrap();
    assert_eq!(metrics.collect.len(), 3);
    assert_eq!(metrics.collect["app_summary"].kind, CollectorType::Summary);
    assert_eq!(
        metrics.collect["app_summary"].objectives,
        vec![(1.4, 2.3), (2.0, 1.4)]
    );

    let status = c.status.as_ref().unwrap();
    assert_eq!(status.check_timeout, Duration::from_secs(60));

    for raw in ["jobs", "amqp", "kv", "service", "otel"] {
        assert!(c.has_section(raw), "{raw} kept raw");
        assert!(
            loaded
                .warnings
                .iter()
                .any(|w| w.contains(&format!("section {raw} is not supported yet"))),
            "{raw}: {:?}",
            loaded.warnings
        );
    }
}

#[test]
fn laravel_octane_with_env() {
    let loaded = load(
        "laravel-octane.rr.yaml",
        &[
            ("OCTANE_PORT", "9000"),
            ("OCTANE_WORKERS", "12"),
            ("APP_BASE_PATH", "/srv/app"),
        ],
    );
    let c = loaded.config;
    assert_eq!(c.rpc.unwrap().listen.dsn(), "tcp://127.0.0.1:6001");
    let server = c.server.unwrap();
    assert_eq!(
        server.command,
        vec!["php", "./vendor/bin/roadrunner-worker"]
    );
    assert_eq!(server.env["APP_BASE_PATH"], "/srv/app");
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("0.0.0.0", 9000)));
    assert_eq!(http.pool.num_workers, 12);
    assert_eq!(http.pool.max_jobs, 500);
    assert_eq!(http.max_request_size, 64);
    assert_eq!(c.logs.output, vec!["stdout"]);
    assert_eq!(c.logs.level, LogLevel::Info);
}

#[test]
fn octane_style_overrides() {
    // What `php artisan octane:start --server=roadrunner` passes to `rr serve`.
    let opts = LoadOptions {
        overrides: [
            "version=3",
            "http.address=127.0.0.1:8001",
            "server.command=/usr/bin/php8.2,./vendor/bin/roadrunner-worker",
            "http.pool.num_workers=2",
            "http.pool.max_jobs=250",
            "rpc.listen=tcp://127.0.0.1:6002",
            "http.pool.supervisor.exec_ttl=30s",
            "http.static.dir=public",
            "http.middleware=static",
            "logs.mode=production",
            "logs.level=debug",
            "logs.output=stdout",
            "logs.encoding=json",
        ]
        .map(String::from)
        .to_vec(),
        ..LoadOptions::default()
    };
    let loaded = Config::load(fixture("minimal.rr.yaml"), &opts).unwrap();
    let c = loaded.config;
    assert_eq!(
        c.server.unwrap().command,
        vec!["/usr/bin/php8.2", "./vendor/bin/roadrunner-worker"]
    );
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("127.0.0.1", 8001)));
    assert_eq!(http.pool.num_workers, 2);
    assert_eq!(
        http.pool.supervisor.unwrap().exec_ttl,
        Duration::from_secs(30)
    );
    assert_eq!(http.middleware, vec!["static"]);
    assert_eq!(c.rpc.unwrap().listen, ListenAddr::tcp("127.0.0.1", 6002));
    assert_eq!(c.logs.mode, LogMode::Production);
}

#[test]
fn legacy_2023_loads_with_warnings() {
    let loaded = load("legacy-2023.rr.yaml", &[]);
    let w = loaded.warnings.join("\n");
    assert!(w.contains("server.relay_timeout: deprecated"), "{w}");
    assert!(w.contains("http.ssl.rootCa: unknown key"), "{w}");
    assert!(
        w.contains("http.pool.supervisor.watch_tick: bare integer 1"),
        "{w}"
    );
    assert!(w.contains("section redis is not supported yet"), "{w}");
    let server = loaded.config.server.unwrap();
    assert_eq!(server.relay_timeout, Some(Duration::from_secs(20)));
    assert_eq!(server.user, None);
    let http = loaded.config.http.unwrap();
    assert!(!http.tls_enabled());
    // Go semantics: bare integers in durations are nanoseconds.
    assert_eq!(
        http.pool.supervisor.unwrap().idle_ttl,
        Duration::from_nanos(10)
    );
}
