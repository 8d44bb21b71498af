//! The decoder's error: a message, and once a node has claimed it, the
//! path and position of that node.

use std::fmt;

use serde::de;

use super::deserializer::NodeDe;
use super::path::display_path;
use crate::error::{Location, Problem, ProblemKind};
use crate::node::Seg;

/// A decoding error; knows where it happened once a node has claimed it.
#[derive(Debug)]
pub(crate) struct DeError {
    pub(super) message: String,
    pub(super) segs: Option<Vec<Seg>>,
    pub(super) location: Option<Location>,
}

impl DeError {
    pub(super) fn attach(mut self, de: &NodeDe<'_>) -> Self {
        if self.segs.is_none() {
            self.segs = Some(de.path.segs());
            self.location = Some(de.at.clone());
        }
        self
    }

    pub(super) fn into_problem(self, prefix: &str, at: &Location) -> Problem {
        let kind = if self.message.starts_with("missing field") {
            ProblemKind::Missing
        } else {
            ProblemKind::Invalid
        };
        let segs = self.segs.unwrap_or_default();
        Problem::new(
            kind,
            display_path(prefix, &segs),
            self.message,
            Some(self.location.unwrap_or_else(|| at.clone())),
        )
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            message: msg.to_string(),
            segs: None,
            location: None,
        }
    }
}
