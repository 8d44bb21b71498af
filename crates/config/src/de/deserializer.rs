//! The serde `Deserializer` for one [`Node`]: weak scalars, comma-split
//! lists, case-insensitive enum variants; every error is tagged with the
//! node's path and position on its way out (`NodeDe::finish`).

use serde::de::{self, Unexpected, Visitor};

use super::map::MapDe;
use super::path::{display_path, Path};
use super::scalar::{parse_weak_bool, parse_weak_float, parse_weak_int};
use super::seq::{SeqDe, SplitSeq};
use super::variant::{EnumDe, OneOf};
use super::{take_notes, Ctx, DeError};
use crate::error::{Location, Problem, ProblemKind};
use crate::node::{Entry, Node, NodeKind, Resolved};

/// Deserializer for one node.
#[derive(Clone, Copy)]
pub(super) struct NodeDe<'a> {
    pub(super) node: &'a Node,
    /// Where to report problems with this node: its key for mapping values.
    pub(super) at: &'a Location,
    pub(super) path: &'a Path<'a>,
    pub(super) ctx: &'a Ctx,
}

impl<'a> NodeDe<'a> {
    /// Attaches the path to errors and files notes as warnings.
    pub(super) fn finish<T>(&self, result: Result<T, DeError>) -> Result<T, DeError> {
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

    pub(super) fn warn(&self, path: &Path<'_>, at: &Location, message: &str) {
        self.ctx.warnings.borrow_mut().push(Problem::new(
            ProblemKind::Warning,
            display_path(path.root(), &path.segs()),
            message,
            Some(at.clone()),
        ));
    }

    /// Files an unknown key (see [`Ctx::unknown`]).
    pub(super) fn unknown(&self, path: &Path<'_>, at: &Location, suggestion: Option<&str>) {
        self.ctx.unknown.borrow_mut().push(Problem::new(
            ProblemKind::UnknownKey,
            display_path(path.root(), &path.segs()),
            crate::suggest::unknown_key_message(suggestion),
            Some(at.clone()),
        ));
    }

    pub(super) fn unexpected(&self) -> Unexpected<'a> {
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

    pub(super) fn text(&self) -> Option<&'a str> {
        match &self.node.kind {
            NodeKind::Scalar { text, .. } => Some(text.trim()),
            _ => None,
        }
    }

    pub(super) fn deserialize_integer<'de, V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, DeError> {
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

    pub(super) fn seq<'de, V: Visitor<'de>>(
        self,
        visitor: V,
        items: &'a [Node],
    ) -> Result<V::Value, DeError> {
        visitor.visit_seq(SeqDe {
            items,
            idx: 0,
            parent: self,
        })
    }

    pub(super) fn map<'de, V: Visitor<'de>>(
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
