//! Changing the tree: `-o` overrides (`set_path`), `include` merging
//! (`merge_from`), `${VAR}` expansion (`for_each_scalar_mut`) and the
//! decoder's removal of bad values (`remove_path`).

use super::{Entry, Node, NodeKind, Seg};

impl Node {
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
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::parse;
    use super::*;
    use crate::error::Location;

    fn tree(text: &str) -> Node {
        parse(text, &Arc::from("t.yaml")).unwrap()
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
}
