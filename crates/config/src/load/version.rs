//! The `version` key. RoadRunner applies `-o` overrides before it checks
//! the version, so an empty file plus `-o version=3` (how Laravel Octane
//! starts RoadRunner) is a valid configuration. A version string other than
//! `"3"` (`"2.7"`) only warns: the file is read as version 3.

use super::overrides::Override;
use crate::error::{Location, Problem, ProblemKind};
use crate::node::{Node, Resolved};

/// What a configuration's `version` says.
#[derive(Debug)]
pub(super) struct Version {
    /// The version as written (`"3"`, `"2.7"`): included files must match.
    pub(super) written: String,
    /// Where it is written (the key, or the `-o` flag that set it).
    pub(super) location: Location,
    /// Set when the version is not `"3"`: Coyote reads the file as
    /// version 3 anyway and says so.
    pub(super) warning: Option<Problem>,
}

/// `version` must be a string, after `overrides`; `"3"` is the one
/// version Coyote reads, any other string warns.
pub(super) fn check_version(root: &Node, overrides: &[Override]) -> Result<Version, Problem> {
    let problem = |message: String, location: &Location| {
        Problem::new(
            ProblemKind::Version,
            "version",
            message,
            Some(location.clone()),
        )
    };
    if !root.is_null() && root.as_map().is_none() {
        return Err(Problem::new(
            ProblemKind::Syntax,
            "",
            "the configuration must be a mapping of sections (version: \"3\", server: ..., http: ...)",
            Some(root.location.clone()),
        ));
    }
    let Some((value, location)) = effective(root, overrides) else {
        let message = if root.is_null() {
            "missing: the configuration is empty; it must start with version: \"3\" \
             (or pass -o version=3)"
        } else {
            "missing: add version: \"3\" at the top of the file (or pass -o version=3)"
        };
        return Err(problem(message.to_owned(), &root.location));
    };
    let text = match value.resolved() {
        Some(Resolved::Str(text)) => text,
        Some(Resolved::Int(_) | Resolved::Float(_)) => {
            return Err(problem(
                format!(
                    "must be a string: write version: \"{}\" (quoted)",
                    value.as_str().unwrap_or("3")
                ),
                &location,
            ))
        }
        _ => return Err(problem("must be the string \"3\"".to_owned(), &location)),
    };
    let warning = match text {
        "3" => None,
        "2.7" => Some(Problem::new(
            ProblemKind::Warning,
            "version",
            "version \"2.7\" is not \"3\": Coyote reads it as version 3 (update the file to \
             version: \"3\"; see RoadRunner's v3.0 configuration notes)",
            Some(location.clone()),
        )),
        other => Some(Problem::new(
            ProblemKind::Warning,
            "version",
            format!("version {other:?} is not \"3\": Coyote reads it as version 3"),
            Some(location.clone()),
        )),
    };
    Ok(Version {
        written: text.to_owned(),
        location,
        warning,
    })
}

/// The `version` value once the overrides that touch it are applied, with
/// where it was set.
fn effective(root: &Node, overrides: &[Override]) -> Option<(Node, Location)> {
    let mut found = root
        .entry("version")
        .map(|e| (e.value.clone(), e.key_location.clone()));
    for o in overrides {
        let Some((first, rest)) = o.keys.split_first() else {
            continue;
        };
        if first != "version" {
            continue;
        }
        let location = o.value.location.clone();
        let mut value = match found {
            Some((value, _)) if !rest.is_empty() => value,
            _ => Node::empty_map(location.clone()),
        };
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        value.set_path(&rest, o.value.clone());
        found = Some((value, location));
    }
    found
}
