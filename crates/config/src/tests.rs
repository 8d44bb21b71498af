//! Tests of the whole pipeline through the public entry points.

use std::collections::HashMap;
use std::fs;
use std::time::Duration;

use serde::Deserialize;

use crate::*;

fn env(vars: &[(&str, &str)]) -> HashMap<String, String> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn opts_env(vars: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        env: env(vars),
        ..LoadOptions::default()
    }
}

fn ok(yaml: &str) -> Loaded {
    ok_with(yaml, &LoadOptions::default())
}

fn ok_with(yaml: &str, opts: &LoadOptions) -> Loaded {
    match Config::from_str(yaml, opts) {
        Ok(loaded) => loaded,
        Err(e) => panic!("expected the config to load, got:\n{e}"),
    }
}

fn err(yaml: &str) -> ConfigError {
    err_with(yaml, &LoadOptions::default())
}

fn err_with(yaml: &str, opts: &LoadOptions) -> ConfigError {
    match Config::from_str(yaml, opts) {
        Ok(loaded) => panic!("expected an error, got {:#?}", loaded.config),
        Err(e) => e,
    }
}

const BASE: &str = "version: \"3\"\nserver:\n  command: php worker.php\n";

// ---------------------------------------------------------------- defaults

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
    assert!(c.unsupported.is_empty());
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

// ----------------------------------------------------------- env expansion

#[test]
fn env_expansion_in_values() {
    let yaml = "version: \"3\"\n\
        server:\n  command: \"php ${SCRIPT}\"\n  env:\n    ${KEY_NOT_EXPANDED}: $HOME_DIR\n\
        rpc:\n  listen: tcp://127.0.0.1:${RPC_PORT:-6001}\n\
        http:\n  address: ${HOST:-0.0.0.0}:${PORT}\n  middleware: [\"$MW1\", \"${MW2:-gzip}\"]\n  \
        pool:\n    num_workers: ${WORKERS:-2}\n    max_jobs: ${EMPTY:-7}\n    debug: ${DEBUG}\n";
    let loaded = ok_with(
        yaml,
        &opts_env(&[
            ("SCRIPT", "worker.php"),
            ("HOME_DIR", "/home/app"),
            ("PORT", "8080"),
            ("MW1", "headers"),
            ("EMPTY", ""),
            ("DEBUG", "true"),
        ]),
    );
    let c = loaded.config;
    let server = c.server.unwrap();
    assert_eq!(server.command, vec!["php", "worker.php"]);
    // Keys are never expanded (only upper-cased).
    assert_eq!(
        server.env.get("${KEY_NOT_EXPANDED}").map(String::as_str),
        Some("/home/app")
    );
    assert_eq!(c.rpc.unwrap().listen, ListenAddr::tcp("127.0.0.1", 6001));
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("0.0.0.0", 8080)));
    assert_eq!(http.middleware, vec!["headers", "gzip"]);
    assert_eq!(http.pool.num_workers, 2);
    assert_eq!(http.pool.max_jobs, 7, "empty variable takes the default");
    assert!(http.pool.debug);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

#[test]
fn unset_variable_expands_to_empty_with_a_warning() {
    let loaded = ok(&format!(
        "{BASE}http:\n  address: 127.0.0.1:80\n  uploads:\n    dir: \"${{UPLOADS}}\"\n"
    ));
    assert_eq!(loaded.config.http.unwrap().uploads.dir, None);
    assert_eq!(
        loaded.warnings,
        vec![
            "<string>:7:10: http.uploads.dir: environment variable UPLOADS is not set; \
             using an empty string"
        ]
    );
}

#[test]
fn expanded_numbers_are_strings_for_durations() {
    // As in RoadRunner: "${T}" with T=5 is the string "5", not a number, so
    // a duration needs a unit.
    let e = err_with(
        &format!("{BASE}http:\n  address: :80\n  pool:\n    allocate_timeout: ${{T}}\n"),
        &opts_env(&[("T", "5")]),
    );
    assert!(
        e.to_string()
            .contains("http.pool.allocate_timeout: invalid duration \"5\": missing unit"),
        "{e}"
    );
}

// --------------------------------------------------------------- overrides

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

// ------------------------------------------------------------------ dotenv

#[test]
fn dotenv_fills_only_unset_variables() {
    let dir = tempfile::tempdir().unwrap();
    let dotenv = dir.path().join(".env");
    fs::write(
        &dotenv,
        "PORT=7000\nHOST=10.0.0.1\n# comment\nWORKERS='6'\n",
    )
    .unwrap();
    let opts = LoadOptions {
        env: env(&[("PORT", "8000")]),
        dotenv: Some(dotenv),
        ..LoadOptions::default()
    };
    let c = ok_with(
        &format!(
            "{BASE}http:\n  address: ${{HOST}}:${{PORT}}\n  pool:\n    num_workers: ${{WORKERS}}\n"
        ),
        &opts,
    )
    .config;
    let http = c.http.unwrap();
    assert_eq!(http.address, Some(ListenAddr::tcp("10.0.0.1", 8000)));
    assert_eq!(http.pool.num_workers, 6);
}

#[test]
fn dotenv_path_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let dotenv = dir.path().join("app.env");
    fs::write(&dotenv, "PORT=7001\n").unwrap();
    let opts = opts_env(&[("DOTENV_PATH", dotenv.to_str().unwrap())]);
    let c = ok_with(&format!("{BASE}http:\n  address: :${{PORT}}\n"), &opts).config;
    assert_eq!(c.http.unwrap().address, Some(ListenAddr::tcp("", 7001)));
}

#[test]
fn missing_dotenv_is_a_read_error() {
    let opts = LoadOptions {
        dotenv: Some("/definitely/not/here/.env".into()),
        ..LoadOptions::default()
    };
    assert!(matches!(
        Config::from_str(BASE, &opts),
        Err(ConfigError::Read { .. })
    ));
}

// -------------------------------------------------------- error reporting

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

// ---------------------------------------------------------------- version

#[test]
fn version_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "",
            "<string>:1:1: version: missing: the configuration is empty",
        ),
        (
            "rpc:\n  listen: tcp://127.0.0.1:1\n",
            "version: missing: add version: \"3\"",
        ),
        (
            "version: 3\n",
            "<string>:1:1: version: must be a string: write version: \"3\" (quoted)",
        ),
        (
            "version: \"2.7\"\n",
            "version \"2.7\" files are not supported",
        ),
        ("version: '4'\n", "unsupported version \"4\""),
        ("version: [3]\n", "must be the string \"3\""),
        ("- a\n- b\n", "must be a mapping of sections"),
    ];
    for (yaml, want) in cases {
        let e = err(yaml);
        assert!(e.to_string().contains(want), "{yaml:?}: {e}");
        assert_eq!(e.problems().len(), 1, "{yaml:?}");
    }
}

#[test]
fn version_accepts_single_quotes() {
    assert_eq!(ok("version: '3'\n").config.version, "3");
}

// ------------------------------------------------------------------ relay

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

// ----------------------------------------------------------------- server

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
        e.to_string(),
        "<string>:2:1: server.command: required: http, jobs run PHP workers"
    );
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

// ------------------------------------------------------------------- pool

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

// ------------------------------------------------------------------- http

#[test]
fn http_needs_a_listener() {
    let e = err(&format!("{BASE}http:\n  pool:\n    num_workers: 1\n"));
    assert!(
        e.to_string()
            .starts_with("<string>:4:1: http.address: no listener"),
        "{e}"
    );
    // FastCGI alone is enough.
    ok(&format!(
        "{BASE}http:\n  fcgi:\n    address: unix:///run/php.sock\n"
    ));
    // TLS alone is enough (files are not checked without a working dir).
    ok(&format!(
        "{BASE}http:\n  ssl:\n    cert: c.pem\n    key: k.pem\n"
    ));
}

#[test]
fn ssl_problems() {
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  ssl:\n    cert: c.pem\n    client_auth_type: require_and_verify_client_cert\n"
    ));
    assert_eq!(
        e.to_string(),
        "<string>:6:3: http.ssl.key: required with ssl.cert\n\
         <string>:6:3: http.ssl.root_ca: required to verify client certificates"
    );
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  ssl:\n    acme:\n      domains: [example.com]\n"
    ));
    assert_eq!(
        e.to_string(),
        "<string>:7:5: http.ssl.acme.email: required for acme"
    );
}

#[test]
fn ssl_files_must_exist_relative_to_the_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("cert.pem"), "x").unwrap();
    let path = dir.path().join(".rr.yaml");
    fs::write(
        &path,
        format!("{BASE}http:\n  ssl:\n    cert: cert.pem\n    key: key.pem\n"),
    )
    .unwrap();
    let e = Config::load(&path, &LoadOptions::default()).unwrap_err();
    let p = &e.problems()[0];
    assert_eq!(e.problems().len(), 1, "{e}");
    assert_eq!(p.kind, ProblemKind::File);
    assert_eq!(p.path, "http.ssl.key");
    assert!(
        p.message.contains("key.pem does not exist"),
        "{}",
        p.message
    );
}

#[test]
fn context_encoding_extension() {
    let c = ok(&format!(
        "{BASE}http:\n  address: :80\n  context_encoding: proto\n"
    ))
    .config;
    assert_eq!(c.http.unwrap().context_encoding, ContextEncoding::Proto);
    let e = err(&format!(
        "{BASE}http:\n  address: :80\n  context_encoding: xml\n"
    ));
    assert!(e.to_string().contains("unknown variant `xml`"), "{e}");
}

#[test]
fn upload_extensions_are_lower_cased() {
    let c = ok(&format!(
        "{BASE}http:\n  address: :80\n  uploads:\n    forbid: [.PHP]\n    allow: [.JPG, .png]\n"
    ))
    .config;
    let uploads = c.http.unwrap().uploads;
    assert_eq!(uploads.forbid, vec![".php"]);
    assert_eq!(uploads.allow, vec![".jpg", ".png"]);
}

// ----------------------------------------------------- logs, status, etc.

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
            "<string>:8:3: server.comand: unknown key, ignored",
            "<string>:9:1: envfile: RoadRunner's experimental envfile is not supported by \
             Coyote; use --dotenv instead. Ignored",
        ]
    );
    assert!(loaded.config.unsupported.contains_key("foo"));
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

// ---------------------------------------------------------------- include

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

// -------------------------------------------------------- raw sections

#[test]
fn raw_sections_decode_later_with_the_same_rules() {
    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Jobs {
        num_pollers: u64,
        consume: Vec<String>,
        pool: PoolConfig,
    }
    impl Default for Jobs {
        fn default() -> Self {
            Self {
                num_pollers: 1,
                consume: Vec::new(),
                pool: PoolConfig::default(),
            }
        }
    }
    let loaded = ok(&format!(
        "{BASE}jobs:\n  num_pollers: \"${{P:-4}}\"\n  consume: a,b\n  pool:\n    num_workers: 2\n  x: 1\n"
    ));
    let (jobs, warnings) = loaded.config.unsupported["jobs"]
        .decode::<Jobs>("jobs")
        .unwrap();
    assert_eq!(jobs.num_pollers, 4);
    assert_eq!(jobs.consume, vec!["a", "b"]);
    assert_eq!(jobs.pool.num_workers, 2);
    assert_eq!(warnings, vec!["<string>:9:3: jobs.x: unknown key, ignored"]);

    let bad = ok(&format!("{BASE}jobs:\n  num_pollers: many\n"));
    let e = bad.config.unsupported["jobs"]
        .decode::<Jobs>("jobs")
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "<string>:5:3: jobs.num_pollers: invalid type: string \"many\", expected an integer"
    );
}

#[test]
fn tree_is_available_as_json() {
    let loaded = ok_with(
        &format!("{BASE}http:\n  address: ${{A}}\n  pool:\n    num_workers: 2\n"),
        &opts_env(&[("A", ":80")]),
    );
    let json = serde_json::to_value(&loaded.tree).unwrap();
    assert_eq!(json["http"]["address"], ":80");
    assert_eq!(json["http"]["pool"]["num_workers"], 2);
}
