//! Checks that need more than one key, or RoadRunner's "0 means default"
//! rules, run after decoding. Problems are located by looking their dotted
//! path up in the tree (see [`Node::locate`] for the limits of that).

use std::path::Path;

use crate::error::{Problem, ProblemKind};
use crate::node::Node;

/// Collects errors and warnings for the sections' `check` methods.
pub(crate) struct Validator<'a> {
    tree: &'a Node,
    /// Directory relative files are resolved against; `None` skips the
    /// file-existence checks (`Config::from_str` without a working dir).
    base_dir: Option<&'a Path>,
    /// Paths that already have a decoding error: no second error for them.
    reported: Vec<String>,
    pub(crate) errors: Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
}

impl<'a> Validator<'a> {
    pub(crate) fn new(tree: &'a Node, base_dir: Option<&'a Path>, reported: Vec<String>) -> Self {
        Self {
            tree,
            base_dir,
            reported,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn already_reported(&self, path: &str) -> bool {
        self.reported.iter().any(|r| {
            path == r
                || path
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
    }

    /// An error at `path`.
    pub(crate) fn error(&mut self, kind: ProblemKind, path: &str, message: impl Into<String>) {
        if self.already_reported(path) {
            return;
        }
        let location = self.tree.locate(path);
        self.errors
            .push(Problem::new(kind, path, message, location));
    }

    /// A warning at `path`.
    pub(crate) fn warn(&mut self, path: &str, message: impl Into<String>) {
        let location = self.tree.locate(path);
        self.warnings
            .push(Problem::new(ProblemKind::Warning, path, message, location));
    }

    /// Whether the key is written in the configuration (and not null).
    pub(crate) fn present(&self, path: &str) -> bool {
        self.tree.has(path)
    }

    /// Reports `path` (a file named by key `key`) when it does not exist.
    pub(crate) fn file_exists(&mut self, key: &str, file: &Path) {
        let Some(base) = self.base_dir else {
            return;
        };
        let full = base.join(file);
        if !full.exists() {
            self.error(
                ProblemKind::File,
                key,
                format!("file {} does not exist", full.display()),
            );
        }
    }
}
