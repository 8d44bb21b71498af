//! Tests of the whole pipeline through the public entry points, one file
//! per topic.

mod defaults;
mod errors;
mod expansion;
mod http;
mod include;
mod overrides;
mod plugin_sections;
mod sections;
mod server;
mod unknown_keys;
mod version;

use std::collections::HashMap;

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
