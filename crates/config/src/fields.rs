//! Field-level deserializers shared by the sections.

use std::fmt;
use std::path::PathBuf;

use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

/// A command: a string split on whitespace (Go's `strings.Fields`; no shell
/// quoting), or a list of arguments. RoadRunner also splits a one-element
/// list, so `["php worker.php"]` is two arguments, like the string form; a
/// string with commas is first split on them (`php,worker.php`), as every
/// string-to-list conversion is.
pub(crate) fn de_command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let parts: Vec<String> = Deserialize::deserialize(d)?;
    Ok(split_command(parts))
}

/// `Option` form of [`de_command`]; an empty command is `None`.
pub(crate) fn de_opt_command<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let cmd = de_command(d)?;
    Ok((!cmd.is_empty()).then_some(cmd))
}

pub(crate) fn split_command(parts: Vec<String>) -> Vec<String> {
    match parts.as_slice() {
        [single] => single.split_whitespace().map(str::to_owned).collect(),
        _ => parts,
    }
}

/// An optional string where empty means absent.
pub(crate) fn de_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: String = Deserialize::deserialize(d)?;
    Ok((!s.trim().is_empty()).then_some(s))
}

/// An optional path where empty means absent.
pub(crate) fn de_opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    Ok(de_opt_string(d)?.map(PathBuf::from))
}

/// One CIDR, parsed like Go's `net.ParseCIDR` (host bits are cleared:
/// `10.1.2.3/8` is `10.0.0.0/8`).
struct Cidr(IpNet);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cidr;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CIDR such as 10.0.0.0/8 or fc00::/7")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cidr, E> {
                v.trim()
                    .parse::<IpNet>()
                    .map(|n| Cidr(n.trunc()))
                    .map_err(|_| E::custom(format!("invalid CIDR {v:?}: expected e.g. 10.0.0.0/8")))
            }
        }
        d.deserialize_str(V)
    }
}

/// A list of CIDRs; each bad entry is reported at its own index.
pub(crate) fn de_cidrs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<IpNet>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of CIDRs")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<IpNet>, A::Error> {
            let mut out = Vec::new();
            while let Some(Cidr(net)) = seq.next_element()? {
                out.push(net);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

/// `(quantile, error)` pairs of a summary: a mapping `{0.5: 0.05}` or, as in
/// RoadRunner's sample, a list of one-entry mappings `[{0.5: 0.05}]`.
pub(crate) fn de_objectives<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
    struct Pairs(Vec<(f64, f64)>);
    impl<'de> Deserialize<'de> for Pairs {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(ObjectivesVisitor).map(Pairs)
        }
    }
    struct ObjectivesVisitor;
    impl<'de> Visitor<'de> for ObjectivesVisitor {
        type Value = Vec<(f64, f64)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a mapping of quantile: error")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((q, e)) = map.next_entry::<f64, f64>()? {
                out.push((q, e));
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Pairs(pairs)) = seq.next_element()? {
                out.extend(pairs);
            }
            Ok(out)
        }
    }
    d.deserialize_any(ObjectivesVisitor)
}
