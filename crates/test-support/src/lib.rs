//! Shared fixtures for Coyote's tests: where the PHP SDK and its test
//! workers live, and the PHP binary to run them with.
//!
//! Tests that need PHP fail loudly when it is missing: the README's test
//! command installs it, and a silently skipped test would hide a regression.

use std::path::PathBuf;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// Path of a test worker script in `php/workers/`, e.g. `worker("echo")`.
pub fn worker_script(name: &str) -> PathBuf {
    repo_root().join("php/workers").join(format!("{name}.php"))
}

/// The PHP interpreter: `$COYOTE_PHP` or `php` from `PATH`.
pub fn php() -> String {
    std::env::var("COYOTE_PHP").unwrap_or_else(|_| "php".to_owned())
}

/// `argv` that runs a test worker: `[php, -n?, path]`.
pub fn worker_argv(name: &str) -> Vec<String> {
    vec![php(), worker_script(name).display().to_string()]
}
