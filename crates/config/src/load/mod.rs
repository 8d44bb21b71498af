//! From a file (or a string) to a validated [`Config`]: read, parse, check
//! the version, merge includes, expand `${VAR}`, apply `-o` overrides, decode
//! every section, validate. Problems from every step are collected and
//! returned together.
//!
//! - `mod.rs`: the pipeline, section decoding, the environment, expansion.
//! - `version.rs`: the `version` key.
//! - `include.rs`: `include` files merged over the root.
//! - `overrides.rs`: `-o dotted.key=value` overrides.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

mod include;
mod overrides;
mod version;

use include::merge_includes;
use overrides::{apply_overrides, parse_overrides};
use version::check_version;

use crate::error::{ConfigError, Problem, ProblemKind};
use crate::node::{self, Entry, Node, NodeKind};
use crate::validate::Validator;
use crate::{Config, LoadOptions, Loaded};

/// Sections RoadRunner knows that Coyote keeps as raw YAML for now: when no
/// registered plugin consumes one ([`LoadOptions::plugin_sections`]), it
/// warns as "not supported yet" rather than "unknown".
pub(crate) const NOT_YET_SUPPORTED: &[&str] = &[
    "jobs",
    "kv",
    "lock",
    "grpc",
    "tcp",
    "temporal",
    "service",
    "otel",
    "centrifuge",
    "amqp",
    "beanstalk",
    "boltdb",
    "sqs",
    "nats",
    "kafka",
    "google_pub_sub",
    "redis",
    "memcached",
    "memory",
    "fileserver",
    "nsq",
    "websockets",
    "broadcast",
];

/// The top-level keys the loader reads itself (suggested for typos of
/// unknown sections, with the plugins' sections).
pub(crate) const TYPED_SECTIONS: &[&str] = &[
    "version", "include", "server", "rpc", "http", "logs", "metrics", "status", "endure",
];

/// Sections whose plugin runs a worker pool: `server.command` is required
/// when any of them is present.
pub(crate) const POOL_SECTIONS: &[&str] =
    &["http", "jobs", "grpc", "tcp", "temporal", "centrifuge"];

pub(crate) fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, ConfigError> {
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base_dir = opts.working_dir.clone().or_else(|| {
        path.parent().map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_owned()
            }
        })
    });
    load_text(
        &text,
        Arc::from(path.display().to_string()),
        base_dir.as_deref(),
        opts,
    )
}

pub(crate) fn load_text(
    text: &str,
    source: Arc<str>,
    base_dir: Option<&Path>,
    opts: &LoadOptions,
) -> Result<Loaded, ConfigError> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();

    let env = environment(opts, &mut problems)?;

    // Overrides count for the version check (as in RoadRunner): an empty
    // file plus `-o version=3 -o server.command=...` is a configuration.
    // A malformed flag or dotenv line is reported even when the file itself
    // stops the load.
    let overrides = parse_overrides(&opts.overrides, &env, &mut problems);
    let mut root = match node::parse(text, &source) {
        Ok(root) => root,
        Err(found) => {
            problems.extend(found);
            return Err(ConfigError::invalid(problems, warnings));
        }
    };
    let version = match check_version(&root, &overrides) {
        Ok(v) => v,
        Err(p) => {
            problems.push(p);
            return Err(ConfigError::invalid(problems, warnings));
        }
    };
    warnings.extend(version.warning.clone());
    if root.is_null() {
        // An empty document: its position stays the place to report
        // problems about the whole file.
        root = Node::empty_map(root.location.clone());
    }

    if let Some(include) = root.get("include").cloned() {
        merge_includes(
            &mut root,
            &include,
            &version,
            base_dir,
            &env,
            &mut problems,
            &mut warnings,
        );
    }

    expand_tree(&mut root, &env, &mut warnings);
    apply_overrides(&mut root, &overrides);

    let mut config = Config {
        version: "3".to_owned(),
        ..Config::default()
    };
    let mut reported = Vec::new();
    let mut unknown = Vec::new();
    let entries: Vec<Entry> = root.as_map().map(<[Entry]>::to_vec).unwrap_or_default();
    for entry in &entries {
        let mut d = SectionDecoder {
            entry,
            problems: &mut problems,
            warnings: &mut warnings,
            unknown: &mut unknown,
            reported: &mut reported,
        };
        match entry.key.as_str() {
            "version" | "include" => {}
            "server" => config.server = d.decode(),
            "rpc" => config.rpc = d.decode(),
            "http" => config.http = d.decode(),
            "logs" => config.logs = d.decode().unwrap_or_default(),
            "metrics" => config.metrics = d.decode(),
            "status" => config.status = d.decode(),
            "endure" => config.endure = d.decode().unwrap_or_default(),
            "envfile" => warnings.push(Problem::new(
                ProblemKind::Warning,
                "envfile",
                "RoadRunner's experimental envfile is not supported by Coyote; \
                 use --dotenv instead. Ignored",
                Some(entry.key_location.clone()),
            )),
            // A section a registered plugin decodes itself: kept raw, and
            // the plugin reports its problems while it plans.
            name if opts.plugin_sections.iter().any(|s| s == name) => {
                config.sections.insert(name.to_owned(), entry.value.clone());
            }
            name if NOT_YET_SUPPORTED.contains(&name) => {
                warnings.push(Problem::new(
                    ProblemKind::Warning,
                    "",
                    format!("section {name} is not supported yet by Coyote (kept as raw YAML)"),
                    Some(entry.key_location.clone()),
                ));
                config.sections.insert(name.to_owned(), entry.value.clone());
            }
            name => {
                let known = TYPED_SECTIONS
                    .iter()
                    .chain(NOT_YET_SUPPORTED)
                    .copied()
                    .chain(opts.plugin_sections.iter().map(String::as_str));
                let message = crate::suggest::with_suggestion(
                    format!("unknown section {name}, ignored (kept as raw YAML)"),
                    crate::suggest::closest(name, known),
                );
                unknown.push(Problem::new(
                    ProblemKind::UnknownKey,
                    "",
                    message,
                    Some(entry.key_location.clone()),
                ));
                config.sections.insert(name.to_owned(), entry.value.clone());
            }
        }
    }

    let mut v = Validator::new(&root, base_dir, reported);
    config.check(&mut v);
    problems.extend(v.errors);
    warnings.extend(v.warnings);
    // A required key left out by a typo is reported at the typo.
    crate::suggest::blame_typos(&mut problems, &mut unknown);
    if opts.strict {
        problems.extend(unknown.into_iter().map(crate::suggest::into_error));
    } else {
        warnings.extend(unknown);
    }

    if !problems.is_empty() {
        return Err(ConfigError::invalid(problems, warnings));
    }
    warnings.sort_by_key(Problem::sort_key);
    warnings.dedup();
    Ok(Loaded {
        config,
        warnings: warnings.iter().map(ToString::to_string).collect(),
        tree: root,
        strict: opts.strict,
    })
}

/// Decodes one top-level section, filing its problems.
struct SectionDecoder<'a> {
    entry: &'a Entry,
    problems: &'a mut Vec<Problem>,
    warnings: &'a mut Vec<Problem>,
    /// Unknown keys: warnings, or errors in strict mode, once a missing
    /// key had the chance to claim its typo.
    unknown: &'a mut Vec<Problem>,
    reported: &'a mut Vec<String>,
}

impl SectionDecoder<'_> {
    /// `None` when the section is null (same as absent) or unusable.
    fn decode<T: DeserializeOwned>(&mut self) -> Option<T> {
        if self.entry.value.is_null() {
            return None;
        }
        let decoded =
            crate::de::decode::<T>(&self.entry.value, &self.entry.key, &self.entry.key_location);
        self.reported
            .extend(decoded.errors.iter().map(|p| p.path.clone()));
        self.problems.extend(decoded.errors);
        self.warnings.extend(decoded.warnings);
        self.unknown.extend(decoded.unknown);
        decoded.value
    }
}

/// The environment used for expansion: the given map, plus the dotenv file
/// (`opts.dotenv`, else `$DOTENV_PATH`). Variables already in the map win
/// over the file, as with RoadRunner (godotenv never overrides a set
/// variable).
fn environment(
    opts: &LoadOptions,
    problems: &mut Vec<Problem>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut env = opts.env.clone();
    let dotenv = opts.dotenv.clone().or_else(|| {
        env.get("DOTENV_PATH")
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from)
    });
    if let Some(path) = dotenv {
        let text = fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        match crate::env::parse_dotenv(&text, &Arc::from(path.display().to_string())) {
            Ok(vars) => {
                for (k, v) in vars {
                    env.entry(k).or_insert(v);
                }
            }
            Err(found) => problems.extend(found),
        }
    }
    Ok(env)
}

/// `${VAR}` expansion of every scalar value; expanded values become strings.
fn expand_tree(root: &mut Node, env: &HashMap<String, String>, warnings: &mut Vec<Problem>) {
    root.for_each_scalar_mut(&mut String::new(), &mut |path, node| {
        let NodeKind::Scalar { text, quoted } = &mut node.kind else {
            return;
        };
        let mut unset = Vec::new();
        if let Some(expanded) = crate::env::expand(text, env, &mut unset) {
            *text = expanded;
            *quoted = true;
        }
        for name in unset {
            warnings.push(Problem::new(
                ProblemKind::Warning,
                path,
                format!("environment variable {name} is not set; using an empty string"),
                Some(node.location.clone()),
            ));
        }
    });
}
