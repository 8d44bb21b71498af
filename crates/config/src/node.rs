//! A YAML tree that remembers where every key and value came from.
//!
//! `serde_yaml`'s `Value` forgets positions, so the configuration is parsed
//! with `yaml-rust2`'s event API into this tree instead. Every later step works
//! on it: `include` merging, `${VAR}` expansion, `-o` overrides, typed
//! decoding (see `de.rs`) and validation, which looks keys up here to report
//! `file:line:column`.
//!
//! YAML features: anchors and aliases are resolved (an alias is a copy of its
//! anchor, positions included); merge keys (`<<: *base`) are applied, keys
//! already present win; a duplicate key is an error, as in RoadRunner's YAML
//! library; only the first document of a stream is read; keys must be scalars.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::error::{ConfigError, Location, Problem, ProblemKind};

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
    /// single string is a one-element list), Go durations through
    /// [`parse_duration`](crate::parse_duration) for fields that use it, every
    /// bad key collected. `path` names the node in messages (e.g. `jobs`).
    ///
    /// Returns the value and the warnings (unknown keys, ...), each formatted
    /// like a [`Problem`]. Meant for later crates that type a section kept raw
    /// in [`Config::unsupported`](crate::Config::unsupported).
    pub fn decode<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Vec<String>), ConfigError> {
        let decoded = crate::de::decode::<T>(self, path, &self.location);
        match decoded.value {
            Some(value) if decoded.errors.is_empty() => Ok((
                value,
                decoded.warnings.iter().map(ToString::to_string).collect(),
            )),
            _ => Err(ConfigError::invalid(decoded.errors)),
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

    pub(crate) fn get_segs_mut(&mut self, segs: &[Seg]) -> Option<&mut Node> {
        let mut node = self;
        for seg in segs {
            node = match (&mut node.kind, seg) {
                (NodeKind::Map(entries), Seg::Key(k)) => {
                    &mut entries.iter_mut().rev().find(|e| &e.key == k)?.value
                }
                (NodeKind::Seq(items), Seg::Index(i)) => items.get_mut(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Removes the value at `segs` (so that decoding falls back to the
    /// default). False when there is nothing to remove there.
    pub(crate) fn remove_path(&mut self, segs: &[Seg]) -> bool {
        let Some((last, parents)) = segs.split_last() else {
            return false;
        };
        let Some(parent) = self.get_segs_mut(parents) else {
            return false;
        };
        match (&mut parent.kind, last) {
            (NodeKind::Map(entries), Seg::Key(k)) => {
                let before = entries.len();
                entries.retain(|e| &e.key != k);
                entries.len() != before
            }
            (NodeKind::Seq(items), Seg::Index(i)) if *i < items.len() => {
                items.remove(*i);
                true
            }
            _ => false,
        }
    }

    /// Sets `keys` (a dotted path split on dots) to `value`, creating
    /// intermediate mappings and replacing non-mapping values in the way.
    pub(crate) fn set_path(&mut self, keys: &[&str], value: Node) {
        let Some((first, rest)) = keys.split_first() else {
            *self = value;
            return;
        };
        if self.map_mut().is_none() {
            *self = Node::empty_map(value.location.clone());
        }
        let location = value.location.clone();
        let Some(entries) = self.map_mut() else {
            return;
        };
        let idx = match entries.iter().rposition(|e| e.key == *first) {
            Some(i) => i,
            None => {
                entries.push(Entry {
                    key: (*first).to_owned(),
                    key_location: location.clone(),
                    value: Node::empty_map(location),
                });
                entries.len() - 1
            }
        };
        if let Some(entry) = entries.get_mut(idx) {
            entry.value.set_path(rest, value);
        }
    }

    /// Merges `other` over `self`: mappings are merged key by key
    /// (recursively), anything else in `other` replaces what `self` has.
    pub(crate) fn merge_from(&mut self, other: Node) {
        match (&mut self.kind, other.kind) {
            (NodeKind::Map(mine), NodeKind::Map(theirs)) => {
                for entry in theirs {
                    match mine.iter_mut().find(|e| e.key == entry.key) {
                        Some(existing) => {
                            if existing.value.as_map().is_some() && entry.value.as_map().is_some() {
                                existing.value.merge_from(entry.value);
                            } else {
                                *existing = entry;
                            }
                        }
                        None => mine.push(entry),
                    }
                }
            }
            (_, kind) => {
                self.kind = kind;
                self.location = other.location;
            }
        }
    }

    /// Calls `f` on every scalar value (never on keys) with its dotted path.
    pub(crate) fn for_each_scalar_mut(
        &mut self,
        path: &mut String,
        f: &mut dyn FnMut(&str, &mut Node),
    ) {
        match &mut self.kind {
            NodeKind::Scalar { .. } => f(path, self),
            NodeKind::Null => {}
            NodeKind::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    item.for_each_scalar_mut(path, f);
                    path.truncate(len);
                }
            }
            NodeKind::Map(entries) => {
                for entry in entries {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&entry.key);
                    entry.value.for_each_scalar_mut(path, f);
                    path.truncate(len);
                }
            }
        }
    }

    /// The position of the key at `path` (`http.pool.num_workers`,
    /// `http.trusted_subnets[1]`), or of the deepest parent that exists.
    ///
    /// Limits: keys that themselves contain a dot cannot be addressed (the
    /// path is split on every dot); keys are matched exactly first, then
    /// ignoring ASCII case.
    pub(crate) fn locate(&self, path: &str) -> Location {
        let mut node = self;
        let mut found = self.location.clone();
        for part in path.split('.').filter(|p| !p.is_empty()) {
            let (key, indices) = split_indices(part);
            let Some(entries) = node.as_map() else {
                return found;
            };
            let entry = entries.iter().rev().find(|e| e.key == key).or_else(|| {
                entries
                    .iter()
                    .rev()
                    .find(|e| e.key.eq_ignore_ascii_case(key))
            });
            let Some(entry) = entry else {
                return found;
            };
            found = entry.key_location.clone();
            node = &entry.value;
            for idx in indices {
                let Some(item) = node.as_seq().and_then(|items| items.get(idx)) else {
                    return found;
                };
                found = item.location.clone();
                node = item;
            }
        }
        found
    }

    /// Whether a value exists at `path` (null values count as absent).
    pub(crate) fn has(&self, path: &str) -> bool {
        let mut node = self;
        for part in path.split('.') {
            match node.get(part) {
                Some(next) => node = next,
                None => return false,
            }
        }
        !node.is_null()
    }
}

/// `name[1][2]` -> (`name`, [1, 2]).
fn split_indices(part: &str) -> (&str, Vec<usize>) {
    let Some(open) = part.find('[') else {
        return (part, Vec::new());
    };
    let indices = part[open..]
        .split(['[', ']'])
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    (&part[..open], indices)
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_yaml_int(text) {
        return Resolved::Int(i);
    }
    if looks_like_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(text)
}

/// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`.
fn parse_yaml_int(text: &str) -> Option<i128> {
    if let Some(hex) = text.strip_prefix("0x") {
        return i128::from_str_radix(hex, 16)
            .ok()
            .filter(|_| !hex.starts_with(['+', '-']));
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i128::from_str_radix(oct, 8)
            .ok()
            .filter(|_| !oct.starts_with(['+', '-']));
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn looks_like_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            (!int.is_empty() || !frac.is_empty())
                && int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
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

/// Parses YAML text into a tree. `source` names the text in locations.
/// Collects every duplicate key and non-scalar key; a syntax error stops
/// the parse and is the only problem returned.
pub(crate) fn parse(text: &str, source: &Arc<str>) -> Result<Node, Vec<Problem>> {
    let mut sink = EventSink::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut sink, false) {
        let m = e.marker();
        return Err(vec![Problem::new(
            ProblemKind::Syntax,
            "",
            format!("invalid YAML: {}", e.info()),
            Some(location(source, m)),
        )]);
    }
    let mut builder = Builder {
        events: sink.events,
        pos: 0,
        source,
        anchors: HashMap::new(),
        budget: NODE_BUDGET,
        problems: Vec::new(),
    };
    // Skip stream/document start events.
    while let Some((ev, _)) = builder.events.get(builder.pos) {
        match ev {
            Event::StreamStart | Event::DocumentStart | Event::Nothing => builder.pos += 1,
            _ => break,
        }
    }
    let root = match builder.events.get(builder.pos) {
        Some((Event::StreamEnd | Event::DocumentEnd, _)) | None => {
            Node::new(NodeKind::Null, Location::new(source.clone(), 1, 1))
        }
        _ => builder.build(),
    };
    if builder.problems.is_empty() {
        Ok(root)
    } else {
        Err(builder.problems)
    }
}

fn location(source: &Arc<str>, m: &Marker) -> Location {
    Location::new(
        source.clone(),
        u32::try_from(m.line()).unwrap_or(u32::MAX),
        u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
    )
}

#[derive(Default)]
struct EventSink {
    events: Vec<(Event, Marker)>,
}

impl MarkedEventReceiver for EventSink {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.events.push((ev, mark));
    }
}

struct Builder<'a> {
    events: Vec<(Event, Marker)>,
    pos: usize,
    source: &'a Arc<str>,
    /// Anchored nodes with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes left before alias expansion is considered abusive.
    budget: usize,
    problems: Vec<Problem>,
}

/// Nodes a document may expand to through aliases ("billion laughs" guard).
const NODE_BUDGET: usize = 1_000_000;

fn count_nodes(node: &Node) -> usize {
    1 + match &node.kind {
        NodeKind::Seq(items) => items.iter().map(count_nodes).sum(),
        NodeKind::Map(entries) => entries.iter().map(|e| 1 + count_nodes(&e.value)).sum(),
        NodeKind::Null | NodeKind::Scalar { .. } => 0,
    }
}

impl Builder<'_> {
    fn next(&mut self) -> Option<(Event, Marker)> {
        let item = self.events.get(self.pos).cloned();
        self.pos += 1;
        item
    }

    fn build(&mut self) -> Node {
        let Some((event, mark)) = self.next() else {
            return Node::new(NodeKind::Null, Location::whole(self.source.clone()));
        };
        let loc = location(self.source, &mark);
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let quoted = is_str_tag || !matches!(style, TScalarStyle::Plain);
                let kind = if !quoted && matches!(resolve_plain(&text), Resolved::Null) {
                    NodeKind::Null
                } else {
                    NodeKind::Scalar { text, quoted }
                };
                (Node::new(kind, loc), anchor)
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some((node, size)) if *size <= self.budget => {
                        self.budget -= size;
                        node.clone()
                    }
                    Some(_) => {
                        if self.budget > 0 {
                            self.budget = 0;
                            self.problems.push(Problem::new(
                                ProblemKind::Syntax,
                                "",
                                "aliases expand to too many nodes",
                                Some(loc.clone()),
                            ));
                        }
                        Node::new(NodeKind::Null, loc)
                    }
                    None => Node::new(NodeKind::Null, loc),
                };
                (node, 0)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                while let Some((ev, _)) = self.events.get(self.pos) {
                    if matches!(ev, Event::SequenceEnd) {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.build());
                }
                (Node::new(NodeKind::Seq(items), loc), anchor)
            }
            Event::MappingStart(anchor, _) => (self.build_map(loc), anchor),
            _ => (Node::new(NodeKind::Null, loc), 0),
        };
        if anchor > 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        node
    }

    fn build_map(&mut self, loc: Location) -> Node {
        let mut entries: Vec<Entry> = Vec::new();
        let mut merges: Vec<Node> = Vec::new();
        while let Some((ev, _)) = self.events.get(self.pos) {
            if matches!(ev, Event::MappingEnd) {
                self.pos += 1;
                break;
            }
            let key_node = self.build();
            let value = self.build();
            let key = match &key_node.kind {
                NodeKind::Scalar { text, quoted } => {
                    if !quoted && text == "<<" {
                        merges.push(value);
                        continue;
                    }
                    text.clone()
                }
                NodeKind::Null => String::new(),
                _ => {
                    self.problems.push(Problem::new(
                        ProblemKind::Syntax,
                        "",
                        "only scalar keys are supported",
                        Some(key_node.location.clone()),
                    ));
                    continue;
                }
            };
            if let Some(first) = entries.iter().find(|e| e.key == key) {
                let first_line = first.key_location.line().unwrap_or(0);
                self.problems.push(Problem::new(
                    ProblemKind::Syntax,
                    key.clone(),
                    format!("duplicate key (first defined at line {first_line})"),
                    Some(key_node.location.clone()),
                ));
                continue;
            }
            entries.push(Entry {
                key,
                key_location: key_node.location,
                value,
            });
        }
        // Merge keys: explicit keys win, then earlier merged mappings win.
        for merged in merges {
            let sources: Vec<Node> = match merged.kind {
                NodeKind::Map(_) => vec![merged],
                NodeKind::Seq(items) => items,
                _ => {
                    self.problems.push(Problem::new(
                        ProblemKind::Syntax,
                        "<<",
                        "a merge key needs a mapping or a list of mappings",
                        Some(merged.location),
                    ));
                    continue;
                }
            };
            for src in sources {
                match src.kind {
                    NodeKind::Map(src_entries) => {
                        for e in src_entries {
                            if !entries.iter().any(|have| have.key == e.key) {
                                entries.push(e);
                            }
                        }
                    }
                    _ => self.problems.push(Problem::new(
                        ProblemKind::Syntax,
                        "<<",
                        "a merge key needs a mapping or a list of mappings",
                        Some(src.location),
                    )),
                }
            }
        }
        // A block mapping's start event points past its first key; its
        // first key is a better place to report the whole mapping at.
        let loc = entries.first().map_or(loc, |e| e.key_location.clone());
        Node::new(NodeKind::Map(entries), loc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        parse(text, &Arc::from("t.yaml")).unwrap()
    }

    #[test]
    fn positions_are_one_based() {
        let t = tree("a:\n  b: 1\n  c: [x, y]\n");
        let b = t.get("a").unwrap().entry("b").unwrap();
        assert_eq!(b.key_location().line(), Some(2));
        assert_eq!(b.key_location().column(), Some(3));
        assert_eq!(t.locate("a.c[1]").to_string(), "t.yaml:3:10");
        assert_eq!(t.locate("a.missing").to_string(), "t.yaml:1:1");
    }

    #[test]
    fn scalars_resolve_like_yaml_core_schema() {
        let t = tree("a: 1\nb: '1'\nc: true\nd: 1.5\ne: ~\nf: x\ng: !!str 2\nh:\n");
        let r = |k: &str| t.get(k).unwrap().resolved().unwrap();
        assert_eq!(r("a"), Resolved::Int(1));
        assert_eq!(r("b"), Resolved::Str("1"));
        assert_eq!(r("c"), Resolved::Bool(true));
        assert_eq!(r("d"), Resolved::Float(1.5));
        assert_eq!(r("e"), Resolved::Null);
        assert_eq!(r("f"), Resolved::Str("x"));
        assert_eq!(r("g"), Resolved::Str("2"));
        assert_eq!(r("h"), Resolved::Null);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let t =
            tree("base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\nlist: &l [1, 2]\ncopy: *l\n");
        let other = t.get("other").unwrap();
        assert_eq!(other.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(other.get("y").unwrap().as_str(), Some("3"));
        assert_eq!(t.get("copy").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_lines() {
        let problems = parse("a: 1\nb: 2\na: 3\n", &Arc::from("t.yaml")).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "t.yaml:3:1: a: duplicate key (first defined at line 1)"
        );
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let problems = parse("a: [1, 2\nb: 3\n", &Arc::from("t.yaml")).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].kind, ProblemKind::Syntax);
        assert!(problems[0].location.as_ref().unwrap().line().is_some());
    }

    #[test]
    fn odd_documents_do_not_panic() {
        for text in [
            "---\n---\n",
            "...\n",
            "%YAML 1.2\n---\na: 1\n",
            "? [complex]\n: key\n",
            "a: &a [*a]\n",
            "a: *unknown\n",
            "\t\ta: 1",
            "a: 'unterminated\n",
            "{a: 1, b: [1, {c: d}]}",
            "a: !!binary aGVsbG8=\n",
        ] {
            let _ = parse(text, &Arc::from("t.yaml"));
        }
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let problems = parse(&text, &Arc::from("t.yaml")).unwrap_err();
        assert!(problems[0].message.contains("too many nodes"));
    }

    #[test]
    fn empty_document_is_null() {
        assert!(tree("").is_null());
        assert!(tree("# only a comment\n").is_null());
    }

    #[test]
    fn set_path_creates_maps_and_merge_is_deep() {
        let mut t = tree("http:\n  address: a\n  pool:\n    num_workers: 1\n");
        let loc = Location::whole(Arc::from("-o"));
        t.set_path(
            &["http", "pool", "max_jobs"],
            Node::string("5", loc.clone()),
        );
        t.set_path(&["rpc", "listen"], Node::string("tcp://x:1", loc));
        assert!(t.has("http.pool.max_jobs"));
        assert!(t.has("http.pool.num_workers"));
        assert!(t.has("rpc.listen"));

        let over = tree("http:\n  pool:\n    num_workers: 9\nlogs:\n  level: info\n");
        t.merge_from(over);
        assert_eq!(
            t.get("http")
                .unwrap()
                .get("pool")
                .unwrap()
                .get("num_workers")
                .unwrap()
                .as_str(),
            Some("9")
        );
        assert!(t.has("http.address"));
        assert!(t.has("logs.level"));
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
