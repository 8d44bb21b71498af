//! YAML text to a [`Node`] tree, with yaml-rust2's event API.
//!
//! YAML features: anchors and aliases are resolved (an alias is a copy of its
//! anchor, positions included); merge keys (`<<: *base`) are applied, keys
//! already present win; a duplicate key is an error, as in RoadRunner's YAML
//! library; only the first document of a stream is read; keys must be scalars.

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::{resolve_plain, Entry, Node, NodeKind, Resolved};
use crate::error::{Location, Problem, ProblemKind};

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
}
