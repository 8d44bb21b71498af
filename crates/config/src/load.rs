//! From a file (or a string) to a validated [`Config`]: read, parse, check
//! the version, merge includes, expand `${VAR}`, apply `-o` overrides, decode
//! every section, validate. Problems from every step are collected and
//! returned together.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::{ConfigError, Location, Problem, ProblemKind};
use crate::node::{self, Entry, Node, NodeKind, Resolved};
use crate::validate::Validator;
use crate::{Config, LoadOptions, Loaded};

/// Sections RoadRunner knows that Coyote keeps as raw YAML for now.
pub(crate) const NOT_YET_SUPPORTED: &[&str] = &[
    "jobs",
    "kv",
    "lock",
    "grpc",
    "tcp",
    "temporal",
    "service",
    "otel",
    "reload",
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

    let mut root = match node::parse(text, &source) {
        Ok(root) => root,
        Err(found) => return Err(ConfigError::invalid(found)),
    };
    let version = match check_version(&root) {
        Ok(v) => v,
        Err(p) => return Err(ConfigError::invalid(vec![p])),
    };

    if let Some(include) = root.get("include").cloned() {
        merge_includes(
            &mut root,
            &include,
            base_dir,
            &env,
            &mut problems,
            &mut warnings,
        );
    }

    expand_tree(&mut root, &env, &mut warnings);
    apply_overrides(&mut root, &opts.overrides, &env, &mut problems);

    let mut config = Config {
        version,
        ..Config::default()
    };
    let mut reported = Vec::new();
    let entries: Vec<Entry> = root.as_map().map(<[Entry]>::to_vec).unwrap_or_default();
    for entry in &entries {
        let mut d = SectionDecoder {
            entry,
            problems: &mut problems,
            warnings: &mut warnings,
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
            name => {
                let message = if NOT_YET_SUPPORTED.contains(&name) {
                    format!("section {name} is not supported yet by Coyote (kept as raw YAML)")
                } else {
                    format!("unknown section {name}, ignored (kept as raw YAML)")
                };
                warnings.push(Problem::new(
                    ProblemKind::Warning,
                    "",
                    message,
                    Some(entry.key_location.clone()),
                ));
                config
                    .unsupported
                    .insert(name.to_owned(), entry.value.clone());
            }
        }
    }

    let mut v = Validator::new(&root, base_dir, reported);
    config.check(&mut v);
    problems.extend(v.errors);
    warnings.extend(v.warnings);

    if !problems.is_empty() {
        return Err(ConfigError::invalid(problems));
    }
    warnings.sort_by_key(Problem::sort_key);
    warnings.dedup();
    Ok(Loaded {
        config,
        warnings: warnings.iter().map(ToString::to_string).collect(),
        tree: root,
    })
}

/// Decodes one top-level section, filing its problems.
struct SectionDecoder<'a> {
    entry: &'a Entry,
    problems: &'a mut Vec<Problem>,
    warnings: &'a mut Vec<Problem>,
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

/// `version` must be the string `"3"`.
fn check_version(root: &Node) -> Result<String, Problem> {
    let problem = |message: String, location: &Location| {
        Problem::new(
            ProblemKind::Version,
            "version",
            message,
            Some(location.clone()),
        )
    };
    if root.is_null() {
        return Err(problem(
            "missing: the configuration is empty; it must start with version: \"3\"".to_owned(),
            &root.location,
        ));
    }
    if root.as_map().is_none() {
        return Err(Problem::new(
            ProblemKind::Syntax,
            "",
            "the configuration must be a mapping of sections (version: \"3\", server: ..., http: ...)",
            Some(root.location.clone()),
        ));
    }
    let Some(entry) = root.entry("version") else {
        return Err(problem(
            "missing: add version: \"3\" at the top of the file".to_owned(),
            &root.location,
        ));
    };
    match entry.value.resolved() {
        Some(Resolved::Str("3")) => Ok("3".to_owned()),
        Some(Resolved::Str("2.7")) => Err(problem(
            "version \"2.7\" files are not supported; migrate the file to version \"3\" \
             (see RoadRunner's v3.0 configuration notes)"
                .to_owned(),
            &entry.key_location,
        )),
        Some(Resolved::Str(other)) => Err(problem(
            format!("unsupported version {other:?}; Coyote reads version \"3\" files"),
            &entry.key_location,
        )),
        Some(Resolved::Int(_) | Resolved::Float(_)) => Err(problem(
            format!(
                "must be a string: write version: \"{}\" (quoted)",
                entry.value.as_str().unwrap_or("3")
            ),
            &entry.key_location,
        )),
        _ => Err(problem(
            "must be the string \"3\"".to_owned(),
            &entry.key_location,
        )),
    }
}

/// Merges the files listed in `include` over the root, in order; each must
/// be a version "3" file. Paths are relative to the working directory (the
/// config file's directory unless one is given). As in RoadRunner, only the
/// root's `include` is read.
fn merge_includes(
    root: &mut Node,
    include: &Node,
    base_dir: Option<&Path>,
    env: &HashMap<String, String>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    let items: Vec<&Node> = match &include.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Scalar { .. } => vec![include],
        NodeKind::Null => Vec::new(),
        NodeKind::Map(_) => {
            problems.push(Problem::new(
                ProblemKind::Include,
                "include",
                "must be a list of file names",
                Some(include.location.clone()),
            ));
            return;
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        let path_key = format!("include[{i}]");
        let Some(name) = item.as_str() else {
            problems.push(Problem::new(
                ProblemKind::Include,
                path_key,
                "must be a file name",
                Some(item.location.clone()),
            ));
            continue;
        };
        let name =
            crate::env::expand(name, env, &mut Vec::new()).unwrap_or_else(|| name.to_owned());
        let path = match base_dir {
            Some(base) => base.join(&name),
            None => PathBuf::from(&name),
        };
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(Problem::new(
                    ProblemKind::Include,
                    path_key,
                    format!("cannot read {}: {e}", path.display()),
                    Some(item.location.clone()),
                ));
                continue;
            }
        };
        let source: Arc<str> = Arc::from(path.display().to_string());
        let mut included = match node::parse(&text, &source) {
            Ok(n) => n,
            Err(found) => {
                problems.extend(found);
                continue;
            }
        };
        if let Err(mut p) = check_version(&included) {
            p.kind = ProblemKind::Include;
            p.message = format!(
                "{} (an included file must have the same version as the root)",
                p.message
            );
            problems.push(p);
            continue;
        }
        if let Some(entries) = included.map_mut() {
            if let Some(nested) = entries.iter().find(|e| e.key == "include") {
                warnings.push(Problem::new(
                    ProblemKind::Warning,
                    "include",
                    "include inside an included file is ignored",
                    Some(nested.key_location.clone()),
                ));
            }
            entries.retain(|e| e.key != "version" && e.key != "include");
        }
        root.merge_from(included);
    }
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

/// Applies `-o dotted.key=value` overrides (after expansion; the value is
/// expanded too). Every malformed override is reported.
fn apply_overrides(
    root: &mut Node,
    overrides: &[String],
    env: &HashMap<String, String>,
    problems: &mut Vec<Problem>,
) {
    for raw in overrides {
        let source: Arc<str> = Arc::from(format!("-o {raw}"));
        match parse_override(raw) {
            Ok((key, value)) => {
                let value = crate::env::expand(&value, env, &mut Vec::new()).unwrap_or(value);
                let keys: Vec<&str> = key.split('.').collect();
                root.set_path(&keys, Node::string(value, Location::whole(source)));
            }
            Err(message) => problems.push(Problem::new(
                ProblemKind::Override,
                "",
                message,
                Some(Location::whole(source)),
            )),
        }
    }
}

/// RoadRunner's `-o` rules: `key=value`, split at the first `=`; leading
/// quotes of the whole flag are dropped; a value starting with a quote
/// (`"`, `'` or `` ` ``) has that quote trimmed from both ends and `\<quote>`
/// unescaped; neither side may be empty.
pub(crate) fn parse_override(raw: &str) -> Result<(String, String), String> {
    let flag = raw.trim_start_matches([' ', '"', '\'', '`']);
    let Some((key, value)) = flag.split_once('=') else {
        return Err("invalid override: expected dotted.key=value".to_owned());
    };
    let key = key.trim_matches([' ', '\n', '\t']);
    let value = value.trim_matches([' ', '\n', '\t']);
    if key.is_empty() {
        return Err("invalid override: the key is empty".to_owned());
    }
    if key.split('.').any(str::is_empty) {
        return Err(format!(
            "invalid override: {key:?} has an empty path segment"
        ));
    }
    if value.is_empty() {
        return Err(format!("invalid override: the value for {key} is empty"));
    }
    let value = match value.chars().next() {
        Some(q @ ('"' | '\'' | '`')) => value
            .trim_matches(q)
            .replace(&format!("\\{q}"), &q.to_string()),
        _ => value.to_owned(),
    };
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_parsing_follows_roadrunner() {
        let ok = |s: &str| parse_override(s).unwrap();
        assert_eq!(
            ok("http.address=:8080"),
            ("http.address".into(), ":8080".into())
        );
        assert_eq!(ok(" a.b = c "), ("a.b".into(), "c".into()));
        assert_eq!(
            ok("a=\"quoted value\""),
            ("a".into(), "quoted value".into())
        );
        assert_eq!(ok("a='x'"), ("a".into(), "x".into()));
        assert_eq!(ok("a=`x`"), ("a".into(), "x".into()));
        assert_eq!(
            ok("a=\"say \\\"hi\\\" ok\""),
            ("a".into(), "say \"hi\" ok".into())
        );
        assert_eq!(ok("a=b=c"), ("a".into(), "b=c".into()));
        assert_eq!(ok("\"a=b\""), ("a".into(), "b\"".into()));
        for bad in ["novalue", "=x", "a=", "a..b=1", ".a=1"] {
            assert!(parse_override(bad).is_err(), "{bad:?} should fail");
        }
    }
}
