//! Typed decoding of a [`Node`] tree with serde, collecting every bad key.
//!
//! The deserializer is *weakly typed* the way RoadRunner's decoder
//! (mapstructure with `WeaklyTypedInput`) is, because `${VAR}` expansion turns
//! numbers into strings: `num_workers: "4"` is 4, `""` is 0 or false, a
//! single string where a list is expected is split on commas (viper's
//! `StringToSliceHookFunc(",")`: `middleware: "static,gzip"` is two names,
//! and so is `-o http.middleware=static,gzip`). Struct keys
//! are matched exactly, then ignoring case (viper lower-cases every key);
//! unknown keys are ignored with a warning; a `null` value is the same as an
//! absent key.
//!
//! serde stops at the first error, so [`decode`] runs in passes: each error
//! carries the path of the offending node, which is recorded and removed from
//! a scratch copy of the tree (so that its default applies), and decoding runs
//! again until it succeeds. Each pass costs one walk of a small tree.
//!
//! `Deserialize` impls inside the crate can attach a warning to the value they
//! are decoding with [`note`]; the deserializer files it under the current
//! path.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

use crate::error::{Location, Problem, ProblemKind};
use crate::node::{Entry, Node, NodeKind, Resolved, Seg};

/// More passes than this means something is wrong with the removal logic.
const MAX_PASSES: usize = 512;

thread_local! {
    static NOTES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Attaches a warning to the value being decoded (see the module docs).
/// Bounded, in case a crate type is decoded by another deserializer that
/// never collects the notes.
pub(crate) fn note(message: String) {
    NOTES.with(|n| {
        let mut notes = n.borrow_mut();
        if notes.len() < 64 {
            notes.push(message);
        }
    });
}

fn take_notes() -> Vec<String> {
    NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()))
}

/// The result of [`decode`]: a value unless the node itself was unusable.
pub(crate) struct Decoded<T> {
    pub(crate) value: Option<T>,
    pub(crate) errors: Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
}

/// Decodes `node` (named `prefix` in messages, reported at `at` when the
/// node itself is wrong) into `T`, collecting every error.
pub(crate) fn decode<T: DeserializeOwned>(node: &Node, prefix: &str, at: &Location) -> Decoded<T> {
    let mut scratch = node.clone();
    let mut errors = Vec::new();
    for _ in 0..MAX_PASSES {
        let ctx = Ctx::default();
        take_notes();
        let root = Path {
            parent: None,
            seg: PathSeg::Root(prefix),
        };
        let de = NodeDe {
            node: &scratch,
            at,
            path: &root,
            ctx: &ctx,
        };
        match T::deserialize(de) {
            Ok(value) => {
                return Decoded {
                    value: Some(value),
                    errors,
                    warnings: ctx.warnings.into_inner(),
                }
            }
            Err(err) => {
                let segs = err.segs.clone().unwrap_or_default();
                errors.push(err.into_problem(prefix, at));
                if segs.is_empty() || !scratch.remove_path(&segs) {
                    break;
                }
            }
        }
    }
    Decoded {
        value: None,
        errors,
        warnings: Vec::new(),
    }
}

#[derive(Default)]
struct Ctx {
    warnings: RefCell<Vec<Problem>>,
}

#[derive(Clone, Copy)]
enum PathSeg<'a> {
    Root(&'a str),
    Key(&'a str),
    Index(usize),
}

/// A path as a linked list on the stack: no allocation unless it is printed.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: PathSeg<'a>,
}

impl Path<'_> {
    fn segs(&self) -> Vec<Seg> {
        let mut out = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            match p.seg {
                PathSeg::Root(_) => {}
                PathSeg::Key(k) => out.push(Seg::Key(k.to_owned())),
                PathSeg::Index(i) => out.push(Seg::Index(i)),
            }
            cur = p.parent;
        }
        out.reverse();
        out
    }

    fn root(&self) -> &str {
        let mut cur = self;
        while let Some(p) = cur.parent {
            cur = p;
        }
        match cur.seg {
            PathSeg::Root(r) => r,
            _ => "",
        }
    }
}

/// Formats segments below `prefix` as `prefix.key[1].other`.
pub(crate) fn display_path(prefix: &str, segs: &[Seg]) -> String {
    let mut out = prefix.to_owned();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A decoding error; knows where it happened once a node has claimed it.
#[derive(Debug)]
pub(crate) struct DeError {
    message: String,
    segs: Option<Vec<Seg>>,
    location: Option<Location>,
}

impl DeError {
    fn attach(mut self, de: &NodeDe<'_>) -> Self {
        if self.segs.is_none() {
            self.segs = Some(de.path.segs());
            self.location = Some(de.at.clone());
        }
        self
    }

    fn into_problem(self, prefix: &str, at: &Location) -> Problem {
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

/// Deserializer for one node.
#[derive(Clone, Copy)]
struct NodeDe<'a> {
    node: &'a Node,
    /// Where to report problems with this node: its key for mapping values.
    at: &'a Location,
    path: &'a Path<'a>,
    ctx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    /// Attaches the path to errors and files notes as warnings.
    fn finish<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
        let notes = take_notes();
        match result {
            Ok(v) => {
                if !notes.is_empty() {
                    let path = display_path(self.path.root(), &self.path.segs());
                    let mut warnings = self.ctx.warnings.borrow_mut();
                    for message in notes {
                        warnings.push(Problem::new(
                            ProblemKind::Warning,
                            path.clone(),
                            message,
                            Some(self.at.clone()),
                        ));
                    }
                }
                Ok(v)
            }
            Err(e) => Err(e.attach(self)),
        }
    }

    fn warn(&self, path: &Path<'_>, at: &Location, message: &str) {
        self.ctx.warnings.borrow_mut().push(Problem::new(
            ProblemKind::Warning,
            display_path(path.root(), &path.segs()),
            message,
            Some(at.clone()),
        ));
    }

    fn unexpected(&self) -> Unexpected<'a> {
        match &self.node.kind {
            NodeKind::Null => Unexpected::Other("null"),
            NodeKind::Seq(_) => Unexpected::Seq,
            NodeKind::Map(_) => Unexpected::Map,
            NodeKind::Scalar { text, quoted } => {
                if *quoted {
                    return Unexpected::Str(text);
                }
                match crate::node::resolve_plain(text) {
                    Resolved::Bool(b) => Unexpected::Bool(b),
                    Resolved::Int(i) => match i64::try_from(i) {
                        Ok(i) if i < 0 => Unexpected::Signed(i),
                        Ok(i) => Unexpected::Unsigned(i.unsigned_abs()),
                        Err(_) => Unexpected::Str(text),
                    },
                    Resolved::Float(f) => Unexpected::Float(f),
                    Resolved::Null => Unexpected::Other("null"),
                    Resolved::Str(s) => Unexpected::Str(s),
                }
            }
        }
    }

    fn text(&self) -> Option<&'a str> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => Some(text.trim()),
            _ => None,
        }
    }

    fn deserialize_integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.text().map(parse_weak_int) {
            Some(Some(i)) => {
                if let Ok(u) = u64::try_from(i) {
                    visitor.visit_u64(u)
                } else if let Ok(s) = i64::try_from(i) {
                    visitor.visit_i64(s)
                } else {
                    Err(de::Error::custom(format!("integer {i} is out of range")))
                }
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &"an integer")),
        };
        self.finish(result)
    }

    fn seq<'de, V: Visitor<'de>>(self, visitor: V, items: &'a [Node]) -> Result<V::Value, DeError> {
        visitor.visit_seq(SeqDe {
            items,
            idx: 0,
            parent: self,
        })
    }

    fn map<'de, V: Visitor<'de>>(
        self,
        visitor: V,
        entries: &'a [Entry],
        fields: Option<&'static [&'static str]>,
    ) -> Result<V::Value, DeError> {
        visitor.visit_map(MapDe {
            entries,
            idx: 0,
            fields,
            seen: Vec::new(),
            pending: None,
            parent: self,
        })
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` plus mapstructure's weak rules: empty
/// is 0; `0x`, `0o`, `0b` prefixes and `_` separators are accepted.
fn parse_weak_int(text: &str) -> Option<i128> {
    if text.is_empty() {
        return Some(0);
    }
    let (neg, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else {
        (10, body)
    };
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let value = i128::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -value } else { value })
}

/// Go's `strconv.ParseBool` plus YAML 1.1's yes/no/on/off; empty is false.
fn parse_weak_bool(text: &str) -> Option<bool> {
    match text {
        "" => Some(false),
        "1" | "t" | "T" | "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
        | "y" | "Y" => Some(true),
        "0" | "f" | "F" | "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off"
        | "OFF" | "n" | "N" => Some(false),
        _ => None,
    }
}

fn parse_weak_float(text: &str) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    match crate::node::resolve_plain(text) {
        Resolved::Int(i) => Some(i as f64),
        Resolved::Float(f) => Some(f),
        _ => None,
    }
}

macro_rules! forward_integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_integer(visitor)
        }
    )*};
}

macro_rules! forward_strings {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            self.deserialize_str(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Null => visitor.visit_unit(),
            NodeKind::Seq(items) => self.seq(visitor, items),
            NodeKind::Map(entries) => self.map(visitor, entries, None),
            NodeKind::Scalar { text, quoted: true } => visitor.visit_str(text),
            NodeKind::Scalar {
                text,
                quoted: false,
            } => match crate::node::resolve_plain(text) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => match (u64::try_from(i), i64::try_from(i)) {
                    (Ok(u), _) => visitor.visit_u64(u),
                    (_, Ok(s)) => visitor.visit_i64(s),
                    _ => visitor.visit_str(text),
                },
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str(s) => visitor.visit_str(s),
            },
        };
        self.finish(result)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.text().map(parse_weak_bool) {
            Some(Some(b)) => visitor.visit_bool(b),
            _ => Err(de::Error::invalid_type(self.unexpected(), &"a boolean")),
        };
        self.finish(result)
    }

    forward_integers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.text().map(parse_weak_float) {
            Some(Some(f)) => visitor.visit_f64(f),
            _ => Err(de::Error::invalid_type(self.unexpected(), &"a number")),
        };
        self.finish(result)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Scalar { text, .. } => visitor.visit_str(text),
            NodeKind::Null => visitor.visit_str(""),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        };
        self.finish(result)
    }

    forward_strings! {
        deserialize_char deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_identifier
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.node.is_null() {
            self.finish(visitor.visit_none())
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = if self.node.is_null() {
            visitor.visit_unit()
        } else {
            Err(de::Error::invalid_type(self.unexpected(), &visitor))
        };
        self.finish(result)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = visitor.visit_newtype_struct(self);
        self.finish(result)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Seq(items) => self.seq(visitor, items),
            NodeKind::Null => self.seq(visitor, &[]),
            // Weak typing: a single string where a list is expected is split
            // on commas, as viper's StringToSliceHookFunc(",") does
            // (Octane passes `-o server.command=php,worker.php`).
            NodeKind::Scalar { text, .. } => {
                let parts: Vec<Node> = if text.trim().is_empty() {
                    Vec::new()
                } else {
                    text.split(',')
                        .map(|p| Node::string(p.trim(), self.node.location.clone()))
                        .collect()
                };
                visitor.visit_seq(SplitSeq {
                    items: parts.iter(),
                    parent: self,
                })
            }
            NodeKind::Map(_) => Err(de::Error::invalid_type(self.unexpected(), &"a list")),
        };
        self.finish(result)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Map(entries) => self.map(visitor, entries, None),
            NodeKind::Null => self.map(visitor, &[], None),
            _ => Err(de::Error::invalid_type(self.unexpected(), &"a mapping")),
        };
        self.finish(result)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Map(entries) => self.map(visitor, entries, Some(fields)),
            NodeKind::Null => self.map(visitor, &[], Some(fields)),
            _ => Err(de::Error::invalid_type(self.unexpected(), &"a mapping")),
        };
        self.finish(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            NodeKind::Scalar { text, .. } => {
                let text = text.trim();
                // Match exactly, then ignoring case.
                let name = if variants.contains(&text) {
                    text.to_owned()
                } else {
                    variants
                        .iter()
                        .find(|v| v.eq_ignore_ascii_case(text))
                        .map_or_else(|| text.to_owned(), |v| (*v).to_owned())
                };
                visitor.visit_enum(EnumDe {
                    variant: name,
                    value: None,
                    parent: self,
                })
            }
            NodeKind::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                visitor.visit_enum(EnumDe {
                    variant: entry.key.clone(),
                    value: Some(&entry.value),
                    parent: self,
                })
            }
            _ => Err(de::Error::invalid_type(self.unexpected(), &OneOf(variants))),
        };
        self.finish(result)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

struct OneOf(&'static [&'static str]);

impl de::Expected for OneOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one of ")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{v}`")?;
        }
        Ok(())
    }
}

struct SeqDe<'a> {
    items: &'a [Node],
    idx: usize,
    parent: NodeDe<'a>,
}

impl<'de> SeqAccess<'de> for SeqDe<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(item) = self.items.get(self.idx) else {
            return Ok(None);
        };
        let path = Path {
            parent: Some(self.parent.path),
            seg: PathSeg::Index(self.idx),
        };
        self.idx += 1;
        let de = NodeDe {
            node: item,
            at: &item.location,
            path: &path,
            ctx: self.parent.ctx,
        };
        seed.deserialize(de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.idx)
    }
}

/// The comma-separated parts of a scalar seen as a list; errors are
/// reported at the scalar itself.
struct SplitSeq<'a, 'b> {
    items: std::slice::Iter<'b, Node>,
    parent: NodeDe<'a>,
}

impl<'de> SeqAccess<'de> for SplitSeq<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => seed
                .deserialize(NodeDe {
                    node,
                    ..self.parent
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

struct MapDe<'a> {
    entries: &'a [Entry],
    idx: usize,
    /// `Some` when decoding a struct: unknown keys are skipped with a warning.
    fields: Option<&'static [&'static str]>,
    seen: Vec<&'static str>,
    pending: Option<&'a Entry>,
    parent: NodeDe<'a>,
}

impl<'de> MapAccess<'de> for MapDe<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        while let Some(entry) = self.entries.get(self.idx) {
            self.idx += 1;
            let Some(fields) = self.fields else {
                self.pending = Some(entry);
                let path = Path {
                    parent: Some(self.parent.path),
                    seg: PathSeg::Key(&entry.key),
                };
                let key_node = Node::new(
                    NodeKind::Scalar {
                        text: entry.key.clone(),
                        quoted: false,
                    },
                    entry.key_location.clone(),
                );
                let de = NodeDe {
                    node: &key_node,
                    at: &entry.key_location,
                    path: &path,
                    ctx: self.parent.ctx,
                };
                return seed.deserialize(de).map(Some);
            };
            // Struct: a null value is an absent key.
            if entry.value.is_null() {
                continue;
            }
            let path = Path {
                parent: Some(self.parent.path),
                seg: PathSeg::Key(&entry.key),
            };
            let field = fields
                .iter()
                .find(|f| **f == entry.key)
                .or_else(|| fields.iter().find(|f| f.eq_ignore_ascii_case(&entry.key)));
            let Some(&field) = field else {
                self.parent
                    .warn(&path, &entry.key_location, "unknown key, ignored");
                continue;
            };
            if self.seen.contains(&field) {
                self.parent.warn(
                    &path,
                    &entry.key_location,
                    &format!("`{field}` is already set (keys are case-insensitive), ignored"),
                );
                continue;
            }
            self.seen.push(field);
            self.pending = Some(entry);
            return seed.deserialize(field.into_deserializer()).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some(entry) = self.pending.take() else {
            return Err(de::Error::custom("value requested before key"));
        };
        let path = Path {
            parent: Some(self.parent.path),
            seg: PathSeg::Key(&entry.key),
        };
        let de = NodeDe {
            node: &entry.value,
            at: &entry.key_location,
            path: &path,
            ctx: self.parent.ctx,
        };
        seed.deserialize(de)
    }
}

struct EnumDe<'a> {
    variant: String,
    value: Option<&'a Node>,
    parent: NodeDe<'a>,
}

impl<'de, 'a> EnumAccess<'de> for EnumDe<'a> {
    type Error = DeError;
    type Variant = VariantDe<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDe<'a>), DeError> {
        let de: de::value::StringDeserializer<DeError> = self.variant.into_deserializer();
        let value = seed.deserialize(de)?;
        Ok((
            value,
            VariantDe {
                value: self.value,
                parent: self.parent,
            },
        ))
    }
}

struct VariantDe<'a> {
    value: Option<&'a Node>,
    parent: NodeDe<'a>,
}

impl<'a> VariantDe<'a> {
    fn value_de(&self) -> Result<NodeDe<'a>, DeError> {
        match self.value {
            Some(node) => Ok(NodeDe {
                node,
                ..self.parent
            }),
            None => Err(de::Error::custom("expected a mapping for this variant")),
        }
    }
}

impl<'de> VariantAccess<'de> for VariantDe<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(node) if node.is_null() => Ok(()),
            Some(_) => Err(de::Error::custom("this variant takes no value")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, DeError> {
        seed.deserialize(self.value_de()?)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_seq(self.value_de()?, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        de::Deserializer::deserialize_struct(self.value_de()?, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Inner {
        num: u64,
        flag: bool,
        names: Vec<String>,
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Outer {
        name: String,
        inner: Inner,
        list: Vec<Inner>,
        map: BTreeMap<String, u16>,
        ratio: f64,
        opt: Option<u8>,
    }

    fn run<T: DeserializeOwned>(yaml: &str) -> Decoded<T> {
        let tree = crate::node::parse(yaml, &Arc::from("t.yaml")).unwrap();
        decode::<T>(&tree, "root", &tree.location)
    }

    #[test]
    fn weak_typing_matches_roadrunner() {
        let d = run::<Outer>(
            "name: 12\ninner:\n  num: '7'\n  flag: 'yes'\n  names: single\nratio: '1.5'\nopt: ~\n",
        );
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        let v = d.value.unwrap();
        assert_eq!(v.name, "12");
        assert_eq!(v.inner.num, 7);
        assert!(v.inner.flag);
        assert_eq!(v.inner.names, vec!["single"]);
        assert_eq!(v.ratio, 1.5);
        assert_eq!(v.opt, None);
    }

    #[test]
    fn every_error_is_collected_with_path_and_line() {
        let d = run::<Outer>(
            "inner:\n  num: abc\n  flag: maybe\nlist:\n  - num: 1\n  - num: [1]\nmap:\n  a: 1\n  b: 70000\n",
        );
        let msgs: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "t.yaml:2:3: root.inner.num: invalid type: string \"abc\", expected an integer",
                "t.yaml:3:3: root.inner.flag: invalid type: string \"maybe\", expected a boolean",
                "t.yaml:6:5: root.list[1].num: invalid type: sequence, expected an integer",
                "t.yaml:9:3: root.map.b: invalid value: integer `70000`, expected u16",
            ]
        );
        // The rest still decoded.
        let v = d.value.unwrap();
        assert_eq!(v.list.len(), 2);
        assert_eq!(v.map.get("a"), Some(&1));
    }

    #[test]
    fn unknown_keys_warn_and_case_is_ignored() {
        let d = run::<Outer>("Name: x\ninner:\n  nmu: 1\n");
        assert!(d.errors.is_empty());
        assert_eq!(d.value.unwrap().name, "x");
        let w: Vec<String> = d.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w, vec!["t.yaml:3:3: root.inner.nmu: unknown key, ignored"]);
    }

    #[test]
    fn wrong_shape_of_whole_node_gives_no_value() {
        let d = run::<Outer>("- 1\n- 2\n");
        assert!(d.value.is_none());
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].path, "root");
    }

    #[test]
    fn weak_ints() {
        assert_eq!(parse_weak_int("0x1F"), Some(31));
        assert_eq!(parse_weak_int("-12"), Some(-12));
        assert_eq!(parse_weak_int("1_000"), Some(1000));
        assert_eq!(parse_weak_int(""), Some(0));
        assert_eq!(parse_weak_int("1.5"), None);
        assert_eq!(parse_weak_int("--1"), None);
    }
}
