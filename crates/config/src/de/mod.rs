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
//!
//! - `mod.rs`: [`decode`] in passes, notes, the shared context.
//! - `deserializer.rs`: the `Deserializer` for one node.
//! - `map.rs`, `seq.rs`, `variant.rs`: serde's access traits for mappings
//!   (structs: unknown keys, case-insensitive keys), sequences (including
//!   comma-split strings) and enums.
//! - `scalar.rs`: the weak scalar rules (integers, booleans, floats).
//! - `path.rs`: the path of the node being decoded, printed as
//!   `http.pool.num_workers`.
//! - `error.rs`: the decoder's error, turned into a [`Problem`].

mod deserializer;
mod error;
mod map;
mod path;
mod scalar;
mod seq;
mod variant;

use std::cell::RefCell;

use serde::de::DeserializeOwned;

use crate::error::{Location, Problem};
use crate::node::Node;

use deserializer::NodeDe;
use path::{Path, PathSeg};

pub(crate) use error::DeError;

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

pub(super) fn take_notes() -> Vec<String> {
    NOTES.with(|n| std::mem::take(&mut *n.borrow_mut()))
}

/// The result of [`decode`]: a value unless the node itself was unusable.
pub(crate) struct Decoded<T> {
    pub(crate) value: Option<T>,
    pub(crate) errors: Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
    /// Unknown keys ([`ProblemKind::UnknownKey`](crate::ProblemKind)):
    /// warnings, or errors in strict mode; the caller decides.
    pub(crate) unknown: Vec<Problem>,
}

impl<T> Decoded<T> {
    /// Files the unknown keys as errors (`strict`) or warnings.
    pub(crate) fn settle_unknown(&mut self, strict: bool) {
        let unknown = std::mem::take(&mut self.unknown);
        if strict {
            self.errors
                .extend(unknown.into_iter().map(crate::suggest::into_error));
        } else {
            self.warnings.extend(unknown);
        }
    }
}

/// Decodes `node` (named `prefix` in messages, reported at `at` when the
/// node itself is wrong) into `T`, collecting every error. A missing field
/// with an unknown key close to it beside it is reported at that key
/// ([`crate::suggest::blame_typos`]). The warnings and unknown keys of the
/// last pass are kept even when no value could be made.
pub(crate) fn decode<T: DeserializeOwned>(node: &Node, prefix: &str, at: &Location) -> Decoded<T> {
    let mut decoded = decode_passes::<T>(node, prefix, at);
    crate::suggest::blame_typos(&mut decoded.errors, &mut decoded.unknown);
    decoded
}

fn decode_passes<T: DeserializeOwned>(node: &Node, prefix: &str, at: &Location) -> Decoded<T> {
    let mut scratch = node.clone();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut unknown = Vec::new();
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
        let result = T::deserialize(de);
        warnings = ctx.warnings.into_inner();
        unknown = ctx.unknown.into_inner();
        match result {
            Ok(value) => {
                return Decoded {
                    value: Some(value),
                    errors,
                    warnings,
                    unknown,
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
        warnings,
        unknown,
    }
}

#[derive(Default)]
struct Ctx {
    pub(super) warnings: RefCell<Vec<Problem>>,
    pub(super) unknown: RefCell<Vec<Problem>>,
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
        let mut decoded = decode::<T>(&tree, "root", &tree.location);
        decoded.settle_unknown(false);
        decoded
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
        assert_eq!(
            w,
            vec!["t.yaml:3:3: root.inner.nmu: unknown key, ignored; did you mean `num`?"]
        );
    }

    #[test]
    fn unknown_keys_far_from_every_field_get_no_suggestion() {
        let d = run::<Outer>(
            "inner:
  colour: red
  flags: true
",
        );
        let w: Vec<String> = d.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            vec![
                "t.yaml:2:3: root.inner.colour: unknown key, ignored",
                "t.yaml:3:3: root.inner.flags: unknown key, ignored; did you mean `flag`?",
            ]
        );
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Required {
        command: String,
        other: u8,
    }

    #[test]
    fn a_missing_field_is_reported_at_the_typo_beside_it() {
        let tree = crate::node::parse(
            "comand: php
other: 1
",
            &Arc::from("t.yaml"),
        )
        .unwrap();
        let mut d = decode::<Required>(&tree, "server", &tree.location);
        assert!(d.value.is_none());
        assert!(d.unknown.is_empty(), "the typo is the error now");
        let e: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            vec![
                "t.yaml:1:1: server.comand: unknown key; did you mean `command`? \
                 (server: missing field `command`)"
            ]
        );
        d.settle_unknown(true);
        assert_eq!(d.errors.len(), 1);
    }

    #[test]
    fn strict_mode_makes_unknown_keys_errors() {
        let tree = crate::node::parse(
            "inner:
  nmu: 1
",
            &Arc::from("t.yaml"),
        )
        .unwrap();
        let mut d = decode::<Outer>(&tree, "root", &tree.location);
        d.settle_unknown(true);
        assert!(d.warnings.is_empty());
        let e: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            vec!["t.yaml:2:3: root.inner.nmu: unknown key; did you mean `num`? (strict mode)"]
        );
    }

    #[test]
    fn wrong_shape_of_whole_node_gives_no_value() {
        let d = run::<Outer>("- 1\n- 2\n");
        assert!(d.value.is_none());
        assert_eq!(d.errors.len(), 1);
        assert_eq!(d.errors[0].path, "root");
    }

    /// A field decoder that reads a string, then checks it: its error comes
    /// back unclaimed by any node.
    fn port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a port")))
    }

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default)]
    struct Checked {
        #[serde(deserialize_with = "port")]
        port: u16,
        #[serde(deserialize_with = "ports")]
        ports: Vec<u16>,
        num: u64,
    }

    fn ports<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
        #[derive(Deserialize)]
        struct P(#[serde(deserialize_with = "port")] u16);
        Ok(Vec::<P>::deserialize(d)?.into_iter().map(|p| p.0).collect())
    }

    #[test]
    fn errors_of_field_decoders_name_the_field() {
        let d = run::<Checked>(
            "num: x
port: http
ports: [1, two, 3]
",
        );
        let msgs: Vec<String> = d.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            vec![
                "t.yaml:1:1: root.num: invalid type: string \"x\", expected an integer",
                "t.yaml:2:1: root.port: \"http\" is not a port",
                "t.yaml:3:12: root.ports[1]: \"two\" is not a port",
            ]
        );
        assert!(d.value.is_some(), "the rest still decodes");
    }
}
