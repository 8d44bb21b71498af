//! What a plugin sees while it plans: the whole configuration, the raw
//! tree (for sections only the plugin types, and for positions), and a
//! place for every problem it finds, reported like the loader's own.

use std::path::Path;

use coyote_config::sections::pool::PoolConfig;
use coyote_config::{Config, ConfigError, ListenAddr, Location, Node, Problem, ProblemKind};
use coyote_pool::PoolOptions;
use serde::de::DeserializeOwned;

/// The planning context of one plugin.
pub struct Plan<'a> {
    config: &'a Config,
    tree: &'a Node,
    working_dir: &'a Path,
    /// Unknown keys are errors (`--strict`).
    strict: bool,
    pub(crate) problems: Vec<Problem>,
    pub(crate) warnings: Vec<String>,
}

impl<'a> Plan<'a> {
    /// A planning context over a loaded configuration (the host makes one
    /// per plugin; public so plugins' unit tests can plan a section).
    pub fn new(config: &'a Config, tree: &'a Node, working_dir: &'a Path) -> Self {
        Self {
            config,
            tree,
            working_dir,
            strict: false,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Decodes sections with unknown keys as errors.
    pub(crate) fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The typed configuration.
    pub fn config(&self) -> &'a Config {
        self.config
    }

    /// The raw section `name` (after includes, `${VAR}` and `-o`), when
    /// present and not null.
    pub fn section(&self, name: &str) -> Option<&'a Node> {
        self.tree.get(name).filter(|n| !n.is_null())
    }

    /// The directory relative paths in the config are resolved against.
    pub fn working_dir(&self) -> &'a Path {
        self.working_dir
    }

    /// Records a problem at the dotted key `path` (`http.static.dir`); the
    /// position is the key's, or its nearest present parent's.
    pub fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problem_of(ProblemKind::Invalid, path, message);
    }

    /// Like [`Plan::problem`] with a kind ([`ProblemKind::File`] for a
    /// file that cannot be read, [`ProblemKind::Missing`], ...). The same
    /// problem at the same key is recorded once (a shared section, such
    /// as `amqp`, checked for each pipeline that reads it).
    pub fn problem_of(&mut self, kind: ProblemKind, path: &str, message: impl Into<String>) {
        let message = message.into();
        if self
            .problems
            .iter()
            .any(|p| p.path == path && p.message == message)
        {
            return;
        }
        self.problems.push(Problem {
            kind,
            path: path.to_owned(),
            message,
            location: locate(self.tree, path),
        });
    }

    /// The problems recorded so far.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Whether no problem was recorded so far (a plugin returns `None`
    /// instead of half-valid options).
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Records a warning (printed at start, before anything runs).
    pub fn warn(&mut self, path: &str, message: impl std::fmt::Display) {
        let at = locate(self.tree, path).map_or_else(String::new, |l| format!("{l}: "));
        self.warnings.push(format!("{at}{path}: {message}"));
    }

    /// Decodes the raw section `name` with the loader's rules (weak
    /// typing, RoadRunner's defaults through `serde(default)`, unknown keys
    /// as warnings or, with `--strict`, errors), recording every bad key.
    /// `None` when the section is absent or invalid.
    pub fn decode<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        let node = self.section(name)?;
        self.decode_node(node, name)
    }

    /// Decodes `node` (a part of a section, found at the dotted `path`)
    /// with the loader's rules, recording every bad key; `None` when it is
    /// invalid. For sections whose parts decode differently by a key (a
    /// pipeline's `config` by its `driver`).
    pub fn decode_node<T: DeserializeOwned>(&mut self, node: &Node, path: &str) -> Option<T> {
        match node.decode_with::<T>(path, self.strict) {
            Ok((value, warnings)) => {
                self.warnings.extend(warnings);
                Some(value)
            }
            Err(ConfigError::Invalid { problems, warnings }) => {
                self.problems.extend(problems);
                self.warnings.extend(warnings);
                None
            }
            Err(other) => {
                self.problem(path, other.to_string());
                None
            }
        }
    }

    /// The `host:port` to bind for a TCP-only listener at key `path`
    /// (an empty host is every interface, as in Go); a unix socket there
    /// is a problem.
    pub fn tcp_address(&mut self, path: &str, addr: &ListenAddr) -> Option<String> {
        match addr {
            ListenAddr::Tcp { host, port } if host.is_empty() => Some(format!("0.0.0.0:{port}")),
            ListenAddr::Tcp { host, port } if host.contains(':') => {
                Some(format!("[{host}]:{port}"))
            }
            ListenAddr::Tcp { host, port } => Some(format!("{host}:{port}")),
            ListenAddr::Unix(_) => {
                self.problem(path, "unix sockets are not supported here; use host:port");
                None
            }
        }
    }

    /// The options of the pool `plugin` runs, from `server` and its `pool`
    /// section (the key path of problems is `plugin.pool`).
    pub fn pool_options(&mut self, plugin: &str, pool: &PoolConfig) -> Option<PoolOptions> {
        let server = self.config.server.clone().unwrap_or_default();
        match crate::pool_options(
            plugin,
            pool,
            &server,
            self.config.rpc.as_ref(),
            Some(self.working_dir),
        ) {
            Ok(opts) => Some(opts),
            Err(e) => {
                let path = match &e {
                    crate::ServerError::UnknownAccount { .. }
                    | crate::ServerError::NotRoot { .. } => "server.user".to_owned(),
                    _ => format!("{plugin}.pool"),
                };
                self.problem(&path, e.to_string());
                None
            }
        }
    }
}

/// The position of the dotted key `path` in `tree`, or of its nearest
/// present parent (the document for an empty path).
pub(crate) fn locate(tree: &Node, path: &str) -> Option<Location> {
    tree.locate(path).or_else(|| Some(tree.location().clone()))
}

#[cfg(test)]
mod tests {
    use coyote_config::LoadOptions;

    use super::*;

    #[test]
    fn problems_point_at_the_key_or_its_parent() {
        let loaded = Config::from_str(
            "version: \"3\"\nserver:\n  command: php w.php\nhttp:\n  address: 127.0.0.1:0\n  static:\n    dir: /nope\n",
            &LoadOptions::default(),
        )
        .unwrap();
        let mut plan = Plan::new(&loaded.config, &loaded.tree, Path::new("."));
        plan.problem("http.static.dir", "no such directory");
        plan.problem("http.headers.cors", "absent key");
        let shown: Vec<String> = plan.problems.iter().map(ToString::to_string).collect();
        assert_eq!(shown[0], "<string>:7:5: http.static.dir: no such directory");
        assert!(
            shown[1].starts_with("<string>:4:1: http.headers.cors"),
            "{}",
            shown[1]
        );
    }
}
