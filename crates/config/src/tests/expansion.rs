//! `${VAR}` expansion and dotenv files.

use std::fs;

use super::*;

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
