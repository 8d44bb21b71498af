//! Looking keys up by path: dotted strings (`http.trusted_subnets[1]`) to
//! locate problems ([`Node::locate`]) and check presence, [`Seg`] lists for
//! the decoder.

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

    /// Where the key at `dotted_path` is written: `http.static.dir`,
    /// `http.middleware[1]` (a list item), `jobs.pipelines.a.queue`. When the
    /// key is absent, the position of its nearest present parent key (or
    /// of the document when not even the first key is there), so a problem
    /// about a missing key still points at the right section. For a key,
    /// that is where the key itself is written ([`Entry::key_location`]),
    /// not its value; for a list item, where the item starts. A key set by
    /// `-o` is located at the flag (`-o http.address=:8080`, no line).
    /// `""` is the document itself.
    ///
    /// Keys are matched exactly, then ignoring ASCII case (RoadRunner's
    /// keys are case-insensitive). A key that itself contains `.`, `[` or
    /// `]` cannot be addressed.
    ///
    /// `None` when `dotted_path` is malformed: an empty key (`a..b`, `.a`,
    /// `a.`), a `]` in a key, or an index that is not `[digits]` (`a[x]`,
    /// `a[1`, `a[1]b`).
    ///
    /// ```
    /// use coyote_config::{Config, LoadOptions};
    ///
    /// let yaml = "version: \"3\"\nserver:\n  command: php worker.php\n\
    ///             http:\n  address: :80\n  middleware: [static, gzip]\n";
    /// let tree = Config::from_str(yaml, &LoadOptions::default()).unwrap().tree;
    /// let at = |path: &str| tree.locate(path).map(|l| l.to_string());
    /// assert_eq!(at("http.middleware").as_deref(), Some("<string>:6:3"));
    /// assert_eq!(at("http.middleware[1]").as_deref(), Some("<string>:6:24"));
    /// assert_eq!(at("http.pool.num_workers").as_deref(), Some("<string>:4:1"));
    /// assert_eq!(at("http..address"), None);
    /// ```
    ///
    /// [`Entry::key_location`]: crate::Entry::key_location
    pub fn locate(&self, dotted_path: &str) -> Option<Location> {
        let steps = parse_dotted(dotted_path)?;
        let mut node = self;
        let mut found = &self.location;
        for (key, indices) in steps {
            let Some(entry) = node.as_map().and_then(|entries| {
                let mut by_case = entries.iter().rev();
                entries
                    .iter()
                    .rev()
                    .find(|e| e.key == key)
                    .or_else(|| by_case.find(|e| e.key.eq_ignore_ascii_case(key)))
            }) else {
                break;
            };
            found = &entry.key_location;
            node = &entry.value;
            for idx in indices {
                let Some(item) = node.as_seq().and_then(|items| items.get(idx)) else {
                    return Some(found.clone());
                };
                found = &item.location;
                node = item;
            }
        }
        Some(found.clone())
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

/// `a.b[1][2].c` -> `[("a", []), ("b", [1, 2]), ("c", [])]`; `None` when
/// malformed (see [`Node::locate`]); `""` is no step at all.
fn parse_dotted(path: &str) -> Option<Vec<(&str, Vec<usize>)>> {
    if path.is_empty() {
        return Some(Vec::new());
    }
    path.split('.')
        .map(|part| {
            let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
            if key.is_empty() || key.contains(']') {
                return None;
            }
            let mut indices = Vec::new();
            while !rest.is_empty() {
                let (inside, after) = rest.strip_prefix('[')?.split_once(']')?;
                if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                indices.push(inside.parse().ok()?);
                rest = after;
            }
            Some((key, indices))
        })
        .collect()
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
    }

    fn at(t: &Node, path: &str) -> Option<String> {
        t.locate(path).map(|l| l.to_string())
    }

    #[test]
    fn locate_finds_keys_items_and_nearest_parents() {
        let t = tree(
            "version: '3'\nhttp:\n  static:\n    dir: public\n    forbid:\n      - .php\n  \
             middleware: [static, gzip]\n  pool:\n    supervisor:\n      ttl: 1s\n\
             jobs:\n  pipelines:\n    - name: a\n      queue: [q1, [x, y]]\n",
        );
        let at = |p: &str| at(&t, p);
        // The key, not its value (which starts on the next line).
        assert_eq!(at("http").as_deref(), Some("t.yaml:2:1"));
        assert_eq!(at("http.static").as_deref(), Some("t.yaml:3:3"));
        assert_eq!(at("http.static.dir").as_deref(), Some("t.yaml:4:5"));
        assert_eq!(
            at("http.pool.supervisor.ttl").as_deref(),
            Some("t.yaml:10:7")
        );
        // List items.
        assert_eq!(at("http.middleware").as_deref(), Some("t.yaml:7:3"));
        assert_eq!(at("http.middleware[0]").as_deref(), Some("t.yaml:7:16"));
        assert_eq!(at("http.middleware[1]").as_deref(), Some("t.yaml:7:24"));
        assert_eq!(at("http.static.forbid[0]").as_deref(), Some("t.yaml:6:9"));
        assert_eq!(
            at("jobs.pipelines[0].queue").as_deref(),
            Some("t.yaml:14:7")
        );
        assert_eq!(
            at("jobs.pipelines[0].queue[1][1]").as_deref(),
            Some("t.yaml:14:23")
        );
        // Absent keys: the nearest present parent.
        assert_eq!(at("http.middleware[2]").as_deref(), Some("t.yaml:7:3"));
        assert_eq!(at("http.static.dir.deeper").as_deref(), Some("t.yaml:4:5"));
        assert_eq!(at("http.headers.cors").as_deref(), Some("t.yaml:2:1"));
        assert_eq!(at("http.dir[0]").as_deref(), Some("t.yaml:2:1"));
        assert_eq!(at("http.static[0]").as_deref(), Some("t.yaml:3:3"));
        assert_eq!(at("rpc.listen").as_deref(), Some("t.yaml:1:1"));
        assert_eq!(at("").as_deref(), Some("t.yaml:1:1"));
    }

    #[test]
    fn locate_prefers_the_exact_key_then_ignores_case() {
        let t = tree("a:\n  Key: 1\n  key: 2\n  Other: 3\n");
        assert_eq!(at(&t, "a.Key").as_deref(), Some("t.yaml:2:3"));
        assert_eq!(at(&t, "a.key").as_deref(), Some("t.yaml:3:3"));
        assert_eq!(at(&t, "A.other").as_deref(), Some("t.yaml:4:3"));
    }

    #[test]
    fn locate_refuses_malformed_paths() {
        let t = tree("a:\n  b: [1, 2]\n");
        for bad in [
            ".", "a..b", ".a", "a.", "a.b[", "a.b[x]", "a.b[1", "a.b]", "a.b[]", "a.b[1]x",
            "a.b[-1]", "[0]", "a.b[1]]",
        ] {
            assert_eq!(t.locate(bad), None, "{bad:?}");
        }
        assert!(t.locate("a.b[1]").is_some());
    }

    proptest::proptest! {
        #[test]
        fn locate_never_panics(path in "[a-z.\\[\\]0-9é]{0,24}") {
            let t = tree("a:\n  b: [1, {c: 2}]\n");
            let _ = t.locate(&path);
        }
    }
}
