//! Mappings: maps pass every key through; structs match keys exactly, then
//! ignoring case, skip null values and warn about unknown keys.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess};

use super::deserializer::NodeDe;
use super::path::{Path, PathSeg};
use super::DeError;
use crate::node::{Entry, Node, NodeKind};

pub(super) struct MapDe<'a> {
    pub(super) entries: &'a [Entry],
    pub(super) idx: usize,
    /// `Some` when decoding a struct: unknown keys are skipped with a warning.
    pub(super) fields: Option<&'static [&'static str]>,
    pub(super) seen: Vec<&'static str>,
    pub(super) pending: Option<&'a Entry>,
    pub(super) parent: NodeDe<'a>,
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
                let suggestion = crate::suggest::closest(&entry.key, fields.iter().copied());
                self.parent.unknown(&path, &entry.key_location, suggestion);
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
        // An error the value's own deserializer did not claim (from a
        // `deserialize_with` that checks the text after reading it) is
        // still about this value, not about the whole mapping.
        seed.deserialize(de).map_err(|e| e.attach(&de))
    }
}
