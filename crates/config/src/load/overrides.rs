//! `-o dotted.key=value` overrides, with RoadRunner's quoting rules.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Location, Problem, ProblemKind};
use crate::node::Node;

/// One well-formed `-o dotted.key=value`: the key split on dots and the
/// (expanded) value, located at the flag.
#[derive(Clone, Debug)]
pub(super) struct Override {
    pub(super) keys: Vec<String>,
    pub(super) value: Node,
}

/// Parses every `-o` flag (the value is expanded with `env`); each
/// malformed one is reported.
pub(super) fn parse_overrides(
    overrides: &[String],
    env: &HashMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Vec<Override> {
    let mut parsed = Vec::new();
    for raw in overrides {
        let source: Arc<str> = Arc::from(format!("-o {raw}"));
        match parse_override(raw) {
            Ok((key, value)) => {
                let value = crate::env::expand(&value, env, &mut Vec::new()).unwrap_or(value);
                parsed.push(Override {
                    keys: key.split('.').map(str::to_owned).collect(),
                    value: Node::string(value, Location::whole(source)),
                });
            }
            Err(message) => problems.push(Problem::new(
                ProblemKind::Override,
                "",
                message,
                Some(Location::whole(source)),
            )),
        }
    }
    parsed
}

/// Applies the overrides in order (after includes and expansion, so they
/// win over both), creating missing intermediate mappings.
pub(super) fn apply_overrides(root: &mut Node, overrides: &[Override]) {
    for o in overrides {
        let keys: Vec<&str> = o.keys.iter().map(String::as_str).collect();
        root.set_path(&keys, o.value.clone());
    }
}

/// RoadRunner's `-o` rules: `key=value`, split at the first `=`; leading
/// quotes of the whole flag are dropped; a value starting with a quote
/// (`"`, `'` or `` ` ``) has that quote trimmed from both ends and `\<quote>`
/// unescaped; neither side may be empty.
pub(crate) fn parse_override(raw: &str) -> Result<(String, String), String> {
    let flag = raw.trim_start_matches([' ', '"', '\'', '`']);
    let Some((key, value)) = flag.split_once('=') else {
        return Err("invalid override: expected dotted.key=value".to_owned());
    };
    let key = key.trim_matches([' ', '\n', '\t']);
    let value = value.trim_matches([' ', '\n', '\t']);
    if key.is_empty() {
        return Err("invalid override: the key is empty".to_owned());
    }
    if key.split('.').any(str::is_empty) {
        return Err(format!(
            "invalid override: {key:?} has an empty path segment"
        ));
    }
    if value.is_empty() {
        return Err(format!("invalid override: the value for {key} is empty"));
    }
    let value = match value.chars().next() {
        Some(q @ ('"' | '\'' | '`')) => value
            .trim_matches(q)
            .replace(&format!("\\{q}"), &q.to_string()),
        _ => value.to_owned(),
    };
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_parsing_follows_roadrunner() {
        let ok = |s: &str| parse_override(s).unwrap();
        assert_eq!(
            ok("http.address=:8080"),
            ("http.address".into(), ":8080".into())
        );
        assert_eq!(ok(" a.b = c "), ("a.b".into(), "c".into()));
        assert_eq!(
            ok("a=\"quoted value\""),
            ("a".into(), "quoted value".into())
        );
        assert_eq!(ok("a='x'"), ("a".into(), "x".into()));
        assert_eq!(ok("a=`x`"), ("a".into(), "x".into()));
        assert_eq!(
            ok("a=\"say \\\"hi\\\" ok\""),
            ("a".into(), "say \"hi\" ok".into())
        );
        assert_eq!(ok("a=b=c"), ("a".into(), "b=c".into()));
        assert_eq!(ok("\"a=b\""), ("a".into(), "b\"".into()));
        for bad in ["novalue", "=x", "a=", "a..b=1", ".a=1"] {
            assert!(parse_override(bad).is_err(), "{bad:?} should fail");
        }
    }
}
