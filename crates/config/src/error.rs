//! What can go wrong while loading a configuration, and where.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A position in a configuration source: a file, a dotenv file or a `-o`
/// override. Lines and columns count from 1; a line of 0 means the position
/// inside the source is unknown (overrides have none).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    source: Arc<str>,
    line: u32,
    column: u32,
}

impl Location {
    /// A position inside `source`.
    pub fn new(source: Arc<str>, line: u32, column: u32) -> Self {
        Self {
            source,
            line,
            column,
        }
    }

    /// A whole source without a position (an override, a missing file).
    pub fn whole(source: Arc<str>) -> Self {
        Self::new(source, 0, 0)
    }

    /// The file name as the user gave it, or a description such as
    /// `-o http.address=:8080`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// 1-based line, or `None` when unknown.
    pub fn line(&self) -> Option<u32> {
        (self.line > 0).then_some(self.line)
    }

    /// 1-based column, or `None` when unknown.
    pub fn column(&self) -> Option<u32> {
        (self.line > 0 && self.column > 0).then_some(self.column)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line(), self.column()) {
            (Some(line), Some(col)) => write!(f, "{}:{line}:{col}", self.source),
            (Some(line), None) => write!(f, "{}:{line}", self.source),
            _ => f.write_str(&self.source),
        }
    }
}

/// The broad kind of a [`Problem`], for callers and tests that want to tell
/// them apart without matching on message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The YAML (or dotenv) text itself is malformed.
    Syntax,
    /// `version` is missing, not a string, or not `"3"`.
    Version,
    /// A value has the wrong type or is out of range.
    Invalid,
    /// A required key is absent.
    Missing,
    /// An `include` entry could not be read or does not match the root.
    Include,
    /// A `-o key=value` override is malformed.
    Override,
    /// A file named by the configuration (certificate, key) does not exist.
    File,
    /// Something worth telling but not fatal (only used for warnings).
    Warning,
    /// A key (or top-level section) no one reads: a warning, or an error
    /// with [`LoadOptions::strict`](crate::LoadOptions::strict). Its message
    /// names the closest known key when one is close enough to be a typo.
    UnknownKey,
}

/// One bad key: where it is, its dotted path and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What sort of problem this is.
    pub kind: ProblemKind,
    /// Dotted path of the key (`http.pool.num_workers`, `http.trusted_subnets[2]`);
    /// empty for problems about a whole file.
    pub path: String,
    /// Why the value is wrong, in words.
    pub message: String,
    /// Where the key is, when known.
    pub location: Option<Location>,
}

impl Problem {
    /// A problem of `kind` at the dotted key `path` (`http.static.dir`; empty
    /// for the whole file), with `message` saying what is wrong, at
    /// `location` (usually [`Node::locate`](crate::Node::locate) of `path` in
    /// the loaded tree). For plugins that check their section themselves
    /// and report like the loader does:
    ///
    /// ```
    /// use coyote_config::{Config, LoadOptions, Problem, ProblemKind};
    ///
    /// let yaml = "version: \"3\"\ngreeter:\n  greeting: \"\"\n";
    /// let tree = Config::from_str(yaml, &LoadOptions::default()).unwrap().tree;
    /// let path = "greeter.greeting";
    /// let p = Problem::new(ProblemKind::Invalid, path, "must not be empty", tree.locate(path));
    /// assert_eq!(p.to_string(), "<string>:3:3: greeter.greeting: must not be empty");
    /// ```
    pub fn new(
        kind: ProblemKind,
        path: impl Into<String>,
        message: impl Into<String>,
        location: Option<Location>,
    ) -> Self {
        Self {
            kind,
            path: path.into(),
            message: message.into(),
            location,
        }
    }

    /// Sort key: problems with a position first, in source order.
    pub(crate) fn sort_key(&self) -> (bool, String, u32, u32) {
        match &self.location {
            Some(loc) => (
                loc.line().is_none(),
                loc.source().to_owned(),
                loc.line,
                loc.column,
            ),
            None => (true, String::new(), 0, 0),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded. The server refuses to start on
/// any of these, before binding anything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file (or an included file, or the dotenv file)
    /// could not be read.
    // The I/O error is the source, not part of this message: printed as
    // a chain (`{:#}`), it would otherwise appear twice.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file that could not be read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration. Every problem
    /// found is listed, one per line, followed by the warnings found on the
    /// way (an unknown key often explains a missing one), each line
    /// starting with `warning: `.
    #[error("{}", ProblemList(problems, warnings))]
    Invalid {
        /// Every bad key, in source order.
        problems: Vec<Problem>,
        /// The warnings, formatted like [`Loaded::warnings`](crate::Loaded::warnings).
        warnings: Vec<String>,
    },
}

impl ConfigError {
    /// The individual problems (empty for [`ConfigError::Read`]).
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } => problems,
            Self::Read { .. } => &[],
        }
    }

    /// The warnings found before the problems stopped the load (empty for
    /// [`ConfigError::Read`]).
    pub fn warnings(&self) -> &[String] {
        match self {
            Self::Invalid { warnings, .. } => warnings,
            Self::Read { .. } => &[],
        }
    }

    pub(crate) fn invalid(mut problems: Vec<Problem>, mut warnings: Vec<Problem>) -> Self {
        problems.sort_by_key(Problem::sort_key);
        problems.dedup();
        warnings.sort_by_key(Problem::sort_key);
        warnings.dedup();
        Self::Invalid {
            problems,
            warnings: warnings.iter().map(ToString::to_string).collect(),
        }
    }
}

struct ProblemList<'a>(&'a [Problem], &'a [String]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        for w in self.1 {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_every_problem_on_its_own_line() {
        let src: Arc<str> = Arc::from(".rr.yaml");
        let err = ConfigError::invalid(
            vec![
                Problem::new(
                    ProblemKind::Invalid,
                    "http.pool.num_workers",
                    "invalid type: string \"abc\", expected an integer",
                    Some(Location::new(src.clone(), 12, 5)),
                ),
                Problem::new(
                    ProblemKind::Missing,
                    "server.command",
                    "required",
                    Some(Location::new(src.clone(), 2, 1)),
                ),
            ],
            vec![Problem::new(
                ProblemKind::UnknownKey,
                "http.pool.num_worker",
                "unknown key, ignored; did you mean `num_workers`?",
                Some(Location::new(src, 13, 5)),
            )],
        );
        assert_eq!(
            err.to_string(),
            ".rr.yaml:2:1: server.command: required\n\
             .rr.yaml:12:5: http.pool.num_workers: invalid type: string \"abc\", expected an integer\n\
             warning: .rr.yaml:13:5: http.pool.num_worker: unknown key, ignored; did you mean `num_workers`?"
        );
    }

    #[test]
    fn location_without_line_prints_only_the_source() {
        let loc = Location::whole(Arc::from("-o http.address=x"));
        assert_eq!(loc.to_string(), "-o http.address=x");
        assert_eq!(loc.line(), None);
    }
}
