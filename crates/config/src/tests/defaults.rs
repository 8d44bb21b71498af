//! RoadRunner's defaults, "0 means default", null sections.

use std::time::Duration;

use super::*;

#[test]
fn defaults_of_every_section() {
    let c = ok(&format!(
        "{BASE}rpc: {{}}\nhttp:\n  address: 127.0.0.1:8080\n  pool:\n    supervisor: {{}}\n    \
         dynamic_allocator: {{}}\n  ssl:\n    cert: c.pem\n    key: k.pem\n  fcgi:\n    \
         address: 127.0.0.1:9000\n  headers:\n    cors: {{}}\n  static: {{}}\n\
         metrics: {{}}\nstatus:\n  address: 127.0.0.1:2114\n"
    ))
    .config;
    assert_eq!(c.version, "3");

    let server = c.server.unwrap();
    assert_eq!(server.relay, Relay::Pipes);
    assert_eq!(server.user, None);
    assert_eq!(server.group, None);
    assert!(server.env.is_empty());
    assert_eq!(server.relay_timeout, None);
    assert_eq!(server.on_init, None);
    assert_eq!(
        OnInitConfig::default().exec_timeout,
        Duration::from_secs(60)
    );
    assert!(!OnInitConfig::default().exit_on_error);

    assert_eq!(c.rpc.unwrap().listen, ListenAddr::tcp("127.0.0.1", 6001));

    let http = c.http.unwrap();
    assert_eq!(http.internal_error_code, 500);
    assert!(!http.access_logs);
    assert_eq!(http.max_request_size, 1000);
    assert_eq!(http.max_request_size_bytes(), 1000 * 1024 * 1024);
    assert!(!http.raw_body);
    assert_eq!(http.trusted_subnets.len(), 10);
    assert_eq!(http.trusted_subnets[0].to_string(), "10.0.0.0/8");
    assert_eq!(http.trusted_headers[0], "Forwarded");
    assert_eq!(http.uploads.dir, None);
    assert_eq!(http.uploads.forbid, vec![".php", ".exe", ".bat"]);
    assert!(http.uploads.allow.is_empty());
    assert!(http.middleware.is_empty());
    assert_eq!(http.context_encoding, ContextEncoding::Json);
    assert_eq!(http.http2.max_concurrent_streams, 128);
    assert!(!http.http2.h2c);
    assert!(http.http3.is_none());

    let pool = &http.pool;
    assert_eq!(pool.command, None);
    assert_eq!(pool.num_workers, 0);
    assert_eq!(pool.num_workers(), None);
    assert_eq!(pool.max_jobs, 0);
    assert_eq!(pool.max_jobs(), None);
    assert_eq!(pool.max_queue_size, 0);
    for t in [
        pool.allocate_timeout,
        pool.destroy_timeout,
        pool.reset_timeout,
        pool.stream_timeout,
    ] {
        assert_eq!(t, Duration::from_secs(60));
    }
    assert!(!pool.debug);
    let sup = pool.supervisor.as_ref().unwrap();
    assert_eq!(sup.watch_tick, Duration::from_secs(5));
    assert_eq!(sup.ttl, Duration::ZERO);
    assert_eq!(sup.idle_ttl, Duration::ZERO);
    assert_eq!(sup.exec_ttl, Duration::ZERO);
    assert_eq!(sup.max_worker_memory, 0);
    assert_eq!(sup.max_worker_memory_bytes(), None);
    let dynamic = pool.dynamic_allocator.as_ref().unwrap();
    assert_eq!(dynamic.max_workers, 10);
    assert_eq!(dynamic.spawn_rate, 5);
    assert_eq!(dynamic.idle_timeout, Duration::from_secs(60));

    let ssl = http.ssl.as_ref().unwrap();
    assert_eq!(ssl.address, ListenAddr::tcp("127.0.0.1", 443));
    assert!(!ssl.redirect);
    assert_eq!(ssl.client_auth_type, ClientAuthType::NoClientCerts);
    assert_eq!(ssl.root_ca, None);
    let cors = http.headers.as_ref().unwrap().cors.as_ref().unwrap();
    assert_eq!(cors, &CorsConfig::default());
    let st = http.static_files.as_ref().unwrap();
    assert_eq!(st.dir, std::path::PathBuf::from("."));
    assert!(!st.calculate_etag && !st.weak);
    let acme = AcmeConfig::default();
    assert_eq!(acme.cache_dir, std::path::PathBuf::from("rr_cache_dir"));
    assert_eq!((acme.alt_http_port, acme.alt_tlsalpn_port), (80, 443));
    assert_eq!(acme.challenge_type, ChallengeType::Http01);

    assert_eq!(c.logs.mode, LogMode::Development);
    assert_eq!(c.logs.level, LogLevel::Debug);
    assert_eq!(c.logs.encoding, None);
    assert_eq!(c.logs.line_ending, "\n");
    assert_eq!(c.logs.output, vec!["stderr"]);
    assert_eq!(c.logs.err_output, vec!["stderr"]);
    assert!(c.logs.channels.is_empty());
    let file = FileLoggerOptions::default();
    assert_eq!(
        (file.max_size, file.max_age, file.max_backups),
        (100, 24, 10)
    );

    let metrics = c.metrics.unwrap();
    assert_eq!(metrics.address, ListenAddr::tcp("127.0.0.1", 2112));
    assert!(metrics.collect.is_empty());

    let status = c.status.unwrap();
    assert_eq!(status.unavailable_status_code, 503);
    assert_eq!(status.check_timeout, Duration::from_secs(60));

    assert_eq!(c.endure.grace_period, Duration::from_secs(30));
    assert_eq!(c.endure.log_level, LogLevel::Error);
    assert!(!c.endure.print_graph);
    assert_eq!(c.endure.watchdog_sec, 0);
    assert!(c.sections.is_empty());
}

#[test]
fn zero_means_default_as_in_roadrunner() {
    let c = ok(&format!(
        "{BASE}http:\n  address: :80\n  max_request_size: 0\n  internal_error_code: 500\n  \
         pool:\n    allocate_timeout: 0\n    destroy_timeout: \"0s\"\n    supervisor:\n      \
         watch_tick: 0\n    dynamic_allocator:\n      max_workers: 0\n      spawn_rate: 0\n  \
         http2:\n    max_concurrent_streams: 0\nendure:\n  grace_period: 0s\n"
    ))
    .config;
    let http = c.http.unwrap();
    assert_eq!(http.max_request_size, 1000);
    assert_eq!(http.http2.max_concurrent_streams, 128);
    assert_eq!(http.pool.allocate_timeout, Duration::from_secs(60));
    assert_eq!(http.pool.destroy_timeout, Duration::from_secs(60));
    assert_eq!(
        http.pool.supervisor.unwrap().watch_tick,
        Duration::from_secs(5)
    );
    let d = http.pool.dynamic_allocator.unwrap();
    assert_eq!((d.max_workers, d.spawn_rate), (10, 5));
    assert_eq!(c.endure.grace_period, Duration::from_secs(30));
}

#[test]
fn null_sections_are_absent() {
    let c = ok("version: \"3\"\nrpc:\nmetrics: ~\nhttp:\n").config;
    assert!(c.rpc.is_none() && c.metrics.is_none() && c.http.is_none());
}
