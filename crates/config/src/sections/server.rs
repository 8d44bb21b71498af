//! `server`: how workers are started.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::addr::Relay;
use crate::error::ProblemKind;
use crate::validate::Validator;

/// The `server` section.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Program and arguments of a worker. Written as a string it is split on
    /// whitespace (no shell quoting); as a list it is used as is. Required
    /// when any pool plugin (`http`, `jobs`, `grpc`, `tcp`, `temporal`,
    /// `centrifuge`) is configured.
    #[serde(deserialize_with = "crate::fields::de_command")]
    pub command: Vec<String>,
    /// Run workers as this user (a name, not a uid; needs root).
    #[serde(deserialize_with = "crate::fields::de_opt_string")]
    pub user: Option<String>,
    /// Group for the workers (RoadRunner parses it but uses the user's
    /// primary group).
    #[serde(deserialize_with = "crate::fields::de_opt_string")]
    pub group: Option<String>,
    /// Extra environment for every worker. Keys are upper-cased, as
    /// RoadRunner does (its config library lower-cases every key).
    pub env: BTreeMap<String, String>,
    /// How workers talk to the server. Default `pipes`.
    pub relay: Relay,
    /// Removed in RoadRunner v2025 (`allocate_timeout` now bounds the socket
    /// connect); accepted from older files with a warning, and honoured as
    /// the connect deadline of tcp / unix relay workers.
    #[serde(deserialize_with = "crate::duration::de_opt")]
    pub relay_timeout: Option<Duration>,
    /// A command run once before any worker starts.
    pub on_init: Option<OnInitConfig>,
}

/// `server.on_init`: a command run once before the pools start. Its failure
/// is logged and startup continues, unless `exit_on_error` is set.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct OnInitConfig {
    /// Program and arguments (required); same splitting rules as
    /// `server.command`.
    #[serde(deserialize_with = "crate::fields::de_command")]
    pub command: Vec<String>,
    /// Kill the command after this long. 60s.
    #[serde(deserialize_with = "crate::duration::de")]
    pub exec_timeout: Duration,
    /// Extra environment (keys upper-cased).
    pub env: BTreeMap<String, String>,
    /// Run the command as this user.
    #[serde(deserialize_with = "crate::fields::de_opt_string")]
    pub user: Option<String>,
    /// Stop startup when the command fails.
    pub exit_on_error: bool,
}

impl Default for OnInitConfig {
    fn default() -> Self {
        Self {
            command: Vec::new(),
            exec_timeout: Duration::from_secs(60),
            env: BTreeMap::new(),
            user: None,
            exit_on_error: false,
        }
    }
}

fn upper_case_keys(env: &mut BTreeMap<String, String>) {
    if env
        .keys()
        .any(|k| k.chars().any(|c| c.is_ascii_lowercase()))
    {
        *env = std::mem::take(env)
            .into_iter()
            .map(|(k, v)| (k.to_ascii_uppercase(), v))
            .collect();
    }
}

impl ServerConfig {
    pub(crate) fn check(&mut self, v: &mut Validator<'_>) {
        upper_case_keys(&mut self.env);
        if self.relay_timeout.is_some() {
            v.warn(
                "server.relay_timeout",
                "deprecated: removed in RoadRunner v2025 (pool.allocate_timeout bounds \
                 the worker connection there); Coyote still honours it for tcp/unix relays",
            );
        }
        if let Some(on_init) = &mut self.on_init {
            upper_case_keys(&mut on_init.env);
            if on_init.command.is_empty() {
                v.error(
                    ProblemKind::Missing,
                    "server.on_init.command",
                    "required when on_init is set",
                );
            }
            if on_init.exec_timeout.is_zero() {
                on_init.exec_timeout = Duration::from_secs(60);
            }
        }
    }
}
