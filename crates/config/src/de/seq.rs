//! Sequences: YAML lists, and a scalar split on commas where a list is
//! expected.

use serde::de::{DeserializeSeed, SeqAccess};

use super::deserializer::NodeDe;
use super::path::{Path, PathSeg};
use super::DeError;
use crate::node::Node;

pub(super) struct SeqDe<'a> {
    pub(super) items: &'a [Node],
    pub(super) idx: usize,
    pub(super) parent: NodeDe<'a>,
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
        // Errors not claimed by the item's deserializer are the item's.
        seed.deserialize(de).map(Some).map_err(|e| e.attach(&de))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.idx)
    }
}

/// The comma-separated parts of a scalar seen as a list; errors are
/// reported at the scalar itself.
pub(super) struct SplitSeq<'a, 'b> {
    pub(super) items: std::slice::Iter<'b, Node>,
    pub(super) parent: NodeDe<'a>,
}

impl<'de> SeqAccess<'de> for SplitSeq<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.items.next() {
            Some(node) => {
                let de = NodeDe {
                    node,
                    ..self.parent
                };
                seed.deserialize(de).map(Some).map_err(|e| e.attach(&de))
            }
            None => Ok(None),
        }
    }
}
