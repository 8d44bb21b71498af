//! The `version` key: the string `"3"`.

use crate::error::{Location, Problem, ProblemKind};
use crate::node::{Node, Resolved};

/// `version` must be the string `"3"`.
pub(super) fn check_version(root: &Node) -> Result<String, Problem> {
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
