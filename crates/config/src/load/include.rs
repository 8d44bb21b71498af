//! `include: [files]`: files merged over the root, in order.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::version::{check_version, Version};
use crate::error::{Problem, ProblemKind};
use crate::node::{self, Node, NodeKind};

/// Merges the files listed in `include` over the root, in order; each must
/// have the root's `version`. Paths are relative to the working directory (the
/// config file's directory unless one is given). As in RoadRunner, only the
/// root's `include` is read.
pub(super) fn merge_includes(
    root: &mut Node,
    include: &Node,
    version: &Version,
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
        match check_version(&included, &[]) {
            Ok(theirs) if theirs.written == version.written => {}
            Ok(theirs) => {
                problems.push(Problem::new(
                    ProblemKind::Include,
                    "version",
                    format!(
                        "version {:?} differs from the root's {:?} (set at {}); an included \
                         file must have the same version as the root",
                        theirs.written, version.written, version.location
                    ),
                    Some(theirs.location),
                ));
                continue;
            }
            Err(mut p) => {
                p.kind = ProblemKind::Include;
                p.message = format!(
                    "{} (an included file must have the same version as the root)",
                    p.message
                );
                problems.push(p);
                continue;
            }
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
