//! A YAML tree that remembers where every key and value came from.
//!
//! `serde_yaml`'s `Value` forgets positions, so the configuration is parsed
//! with `yaml-rust2`'s event API into this tree instead. Every later step works
//! on it: `include` merging, `${VAR}` expansion, `-o` overrides, typed
//! decoding (see `de/`) and validation, which looks keys up here to report
//! `file:line:column`.
//!
//! - `mod.rs`: the tree ([`Node`], [`Entry`]), read accessors, JSON output.
//! - `parse.rs`: YAML text to a tree (anchors, merge keys, duplicate keys).
//! - `scalar.rs`: what a plain scalar means (YAML 1.2 core schema).
//! - `path.rs`: looking keys up by dotted path (`http.pool.num_workers`).
//! - `edit.rs`: changing the tree: overrides, include merging, expansion,
//!   removal of bad values while decoding.

mod edit;
mod parse;
mod path;
mod scalar;

use std::fmt;

use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::{ConfigError, Location};

pub(crate) use parse::parse;
pub(crate) use scalar::resolve_plain;

/// One YAML value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) location: Location,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeKind {
    /// `~`, `null`, or nothing at all after a key.
    Null,
    /// Any scalar. `quoted` is true for quoted and block scalars, `!!str`
    /// tagged ones and values produced by `${VAR}` expansion or `-o`
    /// overrides: those are always strings, never numbers or booleans.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub(crate) key: String,
    pub(crate) key_location: Location,
    pub(crate) value: Node,
}

impl Entry {
    /// The key text.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Where the key is written.
    pub fn key_location(&self) -> &Location {
        &self.key_location
    }

    /// The value.
    pub fn value(&self) -> &Node {
        &self.value
    }
}

/// One step of a path into the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A plain scalar's meaning under YAML 1.2's core schema.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(&'a str),
}

impl Node {
    pub(crate) fn new(kind: NodeKind, location: Location) -> Self {
        Self { kind, location }
    }

    pub(crate) fn string(text: impl Into<String>, location: Location) -> Self {
        Self::new(
            NodeKind::Scalar {
                text: text.into(),
                quoted: true,
            },
            location,
        )
    }

    pub(crate) fn empty_map(location: Location) -> Self {
        Self::new(NodeKind::Map(Vec::new()), location)
    }

    /// Where the value starts.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// True for `~`, `null` and empty values.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The text of a scalar (numbers and booleans included, as written).
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The items of a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a mapping, in file order.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    pub(crate) fn entry(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }

    pub(crate) fn map_mut(&mut self) -> Option<&mut Vec<Entry>> {
        match &mut self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// Decodes this node into `T` with the same rules as the built-in
    /// sections: weak typing as in RoadRunner (`"4"` is a fine integer, a
    /// single string is a list split on commas), keys matched ignoring case,
    /// `null` the same as an absent key, RoadRunner's defaults through
    /// `serde(default)`, Go durations through
    /// [`parse_duration`](crate::parse_duration) for fields that use it.
    /// `path` names the node in messages (a plugin passes its section name,
    /// `greeter`), so problems read `greeter.pool.num_workers`.
    ///
    /// Every bad value is collected, not just the first, each with its dotted
    /// path and the position of its key (or list item). Problems about the
    /// node as a whole (not a mapping, a missing required field) are reported
    /// at the node's own position: for a mapping, its first key.
    ///
    /// Returns the value and the warnings (unknown keys, with "did you
    /// mean `X`?" when a known key is close, ...), each formatted like a
    /// [`Problem`](crate::Problem) (`file:line:col: path: message`).
    /// Meant for plugins that type a section kept raw in
    /// [`Config::sections`](crate::Config::sections).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with every problem found (never empty), and
    /// the warnings.
    pub fn decode<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Vec<String>), ConfigError> {
        self.decode_with(path, false)
    }

    /// [`Node::decode`]; with `strict` ([`Loaded::strict`](crate::Loaded::strict)),
    /// unknown keys are errors instead of warnings.
    ///
    /// # Errors
    /// As [`Node::decode`].
    pub fn decode_with<T: DeserializeOwned>(
        &self,
        path: &str,
        strict: bool,
    ) -> Result<(T, Vec<String>), ConfigError> {
        let mut decoded = crate::de::decode::<T>(self, path, &self.location);
        decoded.settle_unknown(strict);
        match decoded.value {
            Some(value) if decoded.errors.is_empty() => {
                let mut warnings = decoded.warnings;
                warnings.sort_by_key(crate::Problem::sort_key);
                Ok((value, warnings.iter().map(ToString::to_string).collect()))
            }
            _ => Err(ConfigError::invalid(decoded.errors, decoded.warnings)),
        }
    }

    /// The scalar's meaning: quoted scalars are strings; plain ones follow
    /// YAML 1.2's core schema.
    pub(crate) fn resolved(&self) -> Option<Resolved<'_>> {
        match &self.kind {
            NodeKind::Null => Some(Resolved::Null),
            NodeKind::Scalar { text, quoted: true } => Some(Resolved::Str(text)),
            NodeKind::Scalar {
                text,
                quoted: false,
            } => Some(resolve_plain(text)),
            _ => None,
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.kind {
            NodeKind::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            NodeKind::Map(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for e in entries {
                    map.serialize_entry(&e.key, &e.value)?;
                }
                map.end()
            }
            NodeKind::Null | NodeKind::Scalar { .. } => match self.resolved() {
                Some(Resolved::Bool(b)) => s.serialize_bool(b),
                Some(Resolved::Int(i)) => match i64::try_from(i) {
                    Ok(i) => s.serialize_i64(i),
                    Err(_) => s.serialize_str(self.as_str().unwrap_or_default()),
                },
                Some(Resolved::Float(f)) => s.serialize_f64(f),
                Some(Resolved::Str(text)) => s.serialize_str(text),
                Some(Resolved::Null) | None => s.serialize_unit(),
            },
        }
    }
}

impl fmt::Display for Node {
    /// A short description for messages: the scalar text, or the kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKind::Null => f.write_str("null"),
            NodeKind::Scalar { text, .. } => write!(f, "{text:?}"),
            NodeKind::Seq(_) => f.write_str("a sequence"),
            NodeKind::Map(_) => f.write_str("a mapping"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tree(text: &str) -> Node {
        parse(text, &Arc::from("t.yaml")).unwrap()
    }

    #[test]
    fn serializes_to_json_with_types() {
        let t = tree("a: 1\nb: '1'\nc: [true, x, 1.5]\nd: ~\n");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"a": 1, "b": "1", "c": [true, "x", 1.5], "d": null})
        );
    }
}
