//! Looking keys up by path: dotted strings (`http.trusted_subnets[1]`) for
//! reporting and presence checks, [`Seg`] lists for the decoder.

use super::{Node, NodeKind, Seg};
use crate::error::Location;

impl Node {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::parse;
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
}
