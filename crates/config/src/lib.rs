//! The `.rr.yaml` (version 3) model of Coyote, a RoadRunner-compatible PHP
//! application server: read a configuration file, expand `${VAR}`s, apply
//! `-o` overrides, decode every section into typed structs with RoadRunner's
//! defaults and validate them, reporting **every** bad key with its dotted
//! path and `file:line:column`, so the server can refuse to start before it
//! binds anything.
//!
//! ```
//! use coyote_config::{Config, LoadOptions};
//!
//! let yaml = r#"
//! version: "3"
//! server:
//!   command: "php worker.php"
//! http:
//!   address: 127.0.0.1:8080
//!   pool:
//!     num_workers: ${WORKERS:-4}
//! "#;
//! let loaded = Config::from_str(yaml, &LoadOptions::default()).unwrap();
//! let http = loaded.config.http.as_ref().unwrap();
//! assert_eq!(http.pool.num_workers, 4);
//! assert_eq!(http.internal_error_code, 500);
//! ```
//!
//! # Plugins: their own sections, and problems found while planning
//! A plugin host passes the sections its plugins decode themselves in
//! [`LoadOptions::plugin_sections`]; the loader keeps them raw in
//! [`Config::sections`] without a warning. A plugin decodes its section with
//! [`Node::decode`] (same rules as the typed sections: every bad key with its
//! dotted path and `file:line:col`, unknown keys as warnings). Checks deeper
//! than the decoder (a regex that does not compile, a directory that does
//! not exist) become a [`Problem`] located with [`Node::locate`] on
//! [`Loaded::tree`]: the key's position, or its nearest present parent's
//! when the key is absent (a default applies). [`ConfigError::Invalid`]
//! prints a list of them like the loader's own.
//!
//! ```
//! use coyote_config::{Config, ConfigError, LoadOptions, Problem, ProblemKind};
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default)]
//! struct Greeter { greeting: String, dir: String }
//!
//! let yaml = "version: \"3\"\ngreeter:\n  greeting: 42\n  dri: /srv\n";
//! let opts = LoadOptions { plugin_sections: vec!["greeter".into()], ..LoadOptions::default() };
//! let loaded = Config::from_str(yaml, &opts).unwrap();
//! assert!(loaded.warnings.is_empty(), "a plugin's section does not warn");
//!
//! let (greeter, warnings) = loaded.config.sections["greeter"].decode::<Greeter>("greeter").unwrap();
//! assert_eq!(greeter.greeting, "42");
//! assert_eq!(warnings, ["<string>:4:3: greeter.dri: unknown key, ignored; did you mean `dir`?"]);
//!
//! // `dir` is absent (the default applies): reported at `greeter`.
//! let path = "greeter.dir";
//! let problem = Problem::new(ProblemKind::File, path, "not a directory", loaded.tree.locate(path));
//! let err = ConfigError::Invalid { problems: vec![problem], warnings: vec![] };
//! assert_eq!(err.to_string(), "<string>:2:1: greeter.dir: not a directory");
//! ```
//!
//! # Layout
//! - `lib.rs`: [`Config`], [`LoadOptions`], [`Loaded`], the entry points.
//! - `load/`: the pipeline (version, includes, expansion, overrides,
//!   sections, validation).
//! - `node/`: [`Node`], a YAML tree that keeps positions: parsing (with
//!   yaml-rust2's event API), scalar resolution, lookups by dotted path,
//!   edits (overrides, include merging, expansion).
//! - `de/`: a serde deserializer over [`Node`], weakly typed like
//!   RoadRunner's decoder, that collects every error with its path (one
//!   file per serde access: maps, sequences, enums; weak scalar rules).
//! - `validate.rs`: cross-key checks and "0 means default" rules.
//! - `env.rs`: `${VAR}` expansion and dotenv files.
//! - `duration.rs`: Go durations; `addr.rs`: listen addresses and relays;
//!   `fields.rs`: shared field decoders (commands, CIDRs, ...).
//! - `sections/`: one module per typed section (`server`, `pool`, `http`,
//!   `rpc`, `logs`, `metrics`, `status`, `endure`).
//! - `error.rs`: [`ConfigError`], [`Problem`], [`Location`].
//! - `tests/`: tests of the whole pipeline, one file per topic.
//!
//! # Rules worth knowing
//! - `version` is required and must be a string. `-o` overrides count (they
//!   apply before the version check, as in RoadRunner), so an empty file
//!   plus `-o version=3 -o server.command=php,worker.php -o http.address=...`
//!   (how Laravel Octane starts RoadRunner) is a configuration. Any version
//!   other than `"3"` (`"2.7"`) warns, and the file is read as version 3.
//! - `include: [files]` merges files over the root, in order, maps key by
//!   key; an included file must have the root's version. Overrides win over
//!   included values.
//! - Values (never keys) are expanded: `$VAR`, `${VAR}`, `${VAR:-default}`
//!   (the default applies when the variable is unset or empty). The
//!   environment is [`LoadOptions::env`], never the process environment;
//!   dotenv values only fill variables not already set.
//! - Typing is weak as in RoadRunner: `"4"` is an integer, a string where a
//!   list is expected is split on commas (`-o server.command=php,worker.php`,
//!   as Laravel Octane passes it), `null` is the same as an absent key.
//!   Unknown keys and sections produce warnings (errors with
//!   [`LoadOptions::strict`]), each with "did you mean `X`?" when a known
//!   key is a few edits away; a required key left out by such a typo is
//!   reported at the typo. A section that
//!   a registered plugin consumes ([`LoadOptions::plugin_sections`]) is kept
//!   raw for it ([`Config::sections`], [`Node::decode`]) without one.
//! - A command given as one string (or a one-element list) is split on
//!   whitespace (`php worker.php`); there is no shell quoting. Beware that a
//!   comma inside a one-string command splits it too, exactly as in
//!   RoadRunner: use the list form for such commands.
//! - Durations are Go durations; a bare integer is nanoseconds (Go's rule),
//!   except `status.check_timeout`, which RoadRunner keeps in seconds.
//!   Sizes marked MB are megabytes (× 1024²).

mod addr;
mod de;
pub mod duration;
mod env;
mod error;
mod fields;
mod load;
mod node;
pub mod sections;
mod suggest;
mod validate;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use addr::{AddrError, ListenAddr, Relay};
pub use duration::{parse_duration, DurationError};
pub use error::{ConfigError, Location, Problem, ProblemKind};
pub use node::{Entry, Node};
pub use sections::endure::EndureConfig;
pub use sections::http::{
    AcmeConfig, ChallengeType, ClientAuthType, ContextEncoding, CorsConfig, FcgiConfig,
    HeadersConfig, Http2Config, Http3Config, HttpConfig, SslConfig, StaticConfig, UploadsConfig,
};
pub use sections::logs::{FileLoggerOptions, LogEncoding, LogLevel, LogMode, LogsConfig};
pub use sections::metrics::{Collector, CollectorType, MetricsConfig};
pub use sections::pool::{DynamicAllocatorConfig, PoolConfig, SupervisorConfig};
pub use sections::rpc::RpcConfig;
pub use sections::server::{OnInitConfig, ServerConfig};
pub use sections::status::StatusConfig;

use crate::error::ProblemKind as Kind;
use crate::validate::Validator;

/// How to load a configuration.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The environment used for `${VAR}` expansion (pass the process
    /// environment as a map; tests pass their own).
    pub env: HashMap<String, String>,
    /// A dotenv file (`--dotenv`); when `None`, `DOTENV_PATH` from `env` is
    /// used if set. Its variables only fill names not already in `env` (the
    /// real environment wins, as in RoadRunner). A relative path is relative
    /// to the process's current directory.
    pub dotenv: Option<PathBuf>,
    /// `-o dotted.key=value` overrides, applied in order after includes and
    /// expansion (so they win over both); `version` overrides count for the
    /// version check. The value's surrounding quotes are stripped and the
    /// value is expanded; missing intermediate mappings are created.
    pub overrides: Vec<String>,
    /// The working directory (`-w`): `include` entries and the files named
    /// by `http.ssl` are resolved against it. `None` means the configuration
    /// file's directory for [`Config::load`] (RoadRunner changes into it), and
    /// the process's current directory for [`Config::from_str`], where file
    /// existence is then not checked.
    pub working_dir: Option<PathBuf>,
    /// Names of top-level sections that a registered plugin decodes itself
    /// (the host passes its plugins' names). Those the crate does not type
    /// are kept raw in [`Config::sections`] without a warning; the plugin
    /// decodes them with [`Node::decode`] and reports their problems.
    /// Untyped sections not listed here still warn ("section jobs is not
    /// supported yet", "unknown section foo"). Typed sections (`http`,
    /// `rpc`, ...) are decoded and checked by the crate whether listed or
    /// not.
    pub plugin_sections: Vec<String>,
    /// Unknown keys and unknown sections are errors, not warnings
    /// (`coyote serve --strict`, `COYOTE_STRICT=1`). Kept in
    /// [`Loaded::strict`] so plugins decode their sections the same way.
    pub strict: bool,
}

/// A loaded configuration with what was worth telling about it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The typed, validated configuration.
    pub config: Config,
    /// Non-fatal findings, formatted like problems
    /// (`.rr.yaml:3:1: section jobs is not supported yet by Coyote ...`):
    /// sections neither typed nor consumed by a plugin, unknown keys,
    /// deprecated keys, unset variables, old versions, values clamped to
    /// RoadRunner's limits.
    pub warnings: Vec<String>,
    /// The whole configuration after includes, expansion and overrides
    /// (what RoadRunner's `rpc.Config` returns, as JSON via serde).
    pub tree: Node,
    /// [`LoadOptions::strict`]: plugins decode their sections with
    /// [`Node::decode_with`] in the same mode.
    pub strict: bool,
}

/// A `.rr.yaml` configuration. Sections that enable a plugin are `Option`s:
/// `None` means the section is absent (or null) and the plugin is off.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The version Coyote read the file as: always `"3"` (a file that says
    /// `"2.7"` is read as version 3, with a warning).
    pub version: String,
    /// How workers are started.
    pub server: Option<ServerConfig>,
    /// The RPC listener.
    pub rpc: Option<RpcConfig>,
    /// The HTTP plugin.
    pub http: Option<HttpConfig>,
    /// Logging (always present, with defaults).
    pub logs: LogsConfig,
    /// The Prometheus endpoint.
    pub metrics: Option<MetricsConfig>,
    /// Health and readiness endpoints.
    pub status: Option<StatusConfig>,
    /// Shutdown grace and container options (always present).
    pub endure: EndureConfig,
    /// The raw nodes of every top-level section the crate does not type, by
    /// name: sections of plugins ([`LoadOptions::plugin_sections`]) such as
    /// `jobs`, `kv` or `greeter`, and unknown ones. Decode them with
    /// [`Node::decode`].
    pub sections: BTreeMap<String, Node>,
}

impl Config {
    /// Loads and validates the file at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file (or the dotenv file) cannot be
    /// read; [`ConfigError::Invalid`] listing every problem found otherwise.
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
        load::load_file(path.as_ref(), opts)
    }

    /// Loads and validates configuration text (named `<string>` in
    /// messages). Includes are resolved against `opts.working_dir`.
    ///
    /// # Errors
    /// As [`Config::load`].
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(yaml: &str, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
        load::load_text(
            yaml,
            Arc::from("<string>"),
            opts.working_dir.as_deref(),
            opts,
        )
    }

    /// Whether a top-level section is present and not null (typed or not).
    pub fn has_section(&self, name: &str) -> bool {
        match name {
            "server" => self.server.is_some(),
            "rpc" => self.rpc.is_some(),
            "http" => self.http.is_some(),
            "metrics" => self.metrics.is_some(),
            "status" => self.status.is_some(),
            "logs" | "endure" | "version" => true,
            other => self.sections.get(other).is_some_and(|n| !n.is_null()),
        }
    }

    fn check(&mut self, v: &mut Validator<'_>) {
        if let Some(server) = &mut self.server {
            server.check(v);
        }
        if let Some(http) = &mut self.http {
            http.check(v);
        }
        if let Some(status) = &mut self.status {
            status.check(v);
        }
        self.logs.normalize();
        self.endure.normalize();

        let pools: Vec<&str> = load::POOL_SECTIONS
            .iter()
            .copied()
            .filter(|s| v.present(s))
            .collect();
        let has_command = self.server.as_ref().is_some_and(|s| !s.command.is_empty());
        if !pools.is_empty() && !has_command {
            v.error(
                Kind::Missing,
                "server.command",
                format!(
                    "required: {} run{} PHP workers",
                    pools.join(", "),
                    if pools.len() == 1 { "s" } else { "" }
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;

/// Loads `bytes` as a configuration file (with a fixed environment, one
/// override and one plugin section), looks keys up and decodes the plugin
/// section, and checks that the loader answers with a config or an error,
/// never a panic, and that every error names at least one problem. Shared
/// by the cargo-fuzz target and a stable property test.
pub fn fuzz_load(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let opts = LoadOptions {
        env: HashMap::from([("WORKERS".to_owned(), "4".to_owned())]),
        overrides: vec!["http.pool.debug=false".to_owned()],
        plugin_sections: vec!["jobs".to_owned()],
        ..LoadOptions::default()
    };
    match Config::from_str(text, &opts) {
        Ok(loaded) => {
            let _ = loaded.config.has_section("http");
            let _ = loaded.tree.locate("http.pool.supervisor.ttl");
            let _ = loaded.tree.locate("jobs.pipelines[0].queue");
            if let Some(jobs) = loaded.config.sections.get("jobs") {
                let _ = jobs.decode::<BTreeMap<String, Vec<String>>>("jobs");
            }
        }
        Err(ConfigError::Invalid { problems, .. }) => assert!(!problems.is_empty()),
        Err(other) => {
            let _ = other.to_string();
        }
    }
}
