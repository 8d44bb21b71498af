//! `${VAR}` expansion and dotenv files.
//!
//! Expansion follows RoadRunner's config plugin (a copy of Go's `os.Expand`
//! with a `:-` default):
//! - `$NAME` takes `NAME` = letters, digits and `_`;
//! - `${NAME}` takes everything up to the first `}`;
//! - `${NAME:-default}` uses `default` when `NAME` is unset **or empty**;
//! - an unset variable without a default becomes the empty string (Coyote
//!   also reports a warning for it);
//! - a `$` not followed by a name or `{`, and an unterminated `${`, are kept
//!   literally (Go drops some of those; keeping them is friendlier for
//!   passwords).
//!
//! Every string value and every string in a list is expanded, in every
//! section, including the ones Coyote keeps raw; keys never are.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Location, Problem, ProblemKind};

/// Expands `input`; returns `None` when it contains nothing to expand.
/// Names of unset variables referenced without a default go to `unset`.
pub(crate) fn expand(
    input: &str,
    env: &HashMap<String, String>,
    unset: &mut Vec<String>,
) -> Option<String> {
    if !input.contains('$') {
        return None;
    }
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut last = 0;
    let mut i = 0;
    let mut changed = false;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        if bytes[i + 1] == b'{' {
            let Some(close) = input[i + 2..].find('}') else {
                i += 1;
                continue;
            };
            let inner = &input[i + 2..i + 2 + close];
            if inner.is_empty() {
                i += 1;
                continue;
            }
            out.push_str(&input[last..i]);
            match inner.split_once(":-") {
                Some((name, default)) => match env.get(name) {
                    Some(v) if !v.is_empty() => out.push_str(v),
                    _ => out.push_str(default),
                },
                None => match env.get(inner) {
                    Some(v) => out.push_str(v),
                    None => unset.push(inner.to_owned()),
                },
            }
            i += 2 + close + 1;
            last = i;
            changed = true;
        } else if is_name_byte(bytes[i + 1]) {
            let end = bytes[i + 1..]
                .iter()
                .position(|&b| !is_name_byte(b))
                .map_or(bytes.len(), |p| i + 1 + p);
            let name = &input[i + 1..end];
            out.push_str(&input[last..i]);
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => unset.push(name.to_owned()),
            }
            i = end;
            last = end;
            changed = true;
        } else {
            i += 1;
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&input[last..]);
    Some(out)
}

fn is_name_byte(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

/// Parses a dotenv file: `KEY=VALUE` lines, `#` comments, an optional
/// `export ` prefix, values optionally in single quotes (taken literally) or
/// double quotes (`\n`, `\t`, `\"`, `\\` escapes). In unquoted values a ` #`
/// starts a comment. Variables inside values are not expanded. Every bad
/// line is reported.
pub(crate) fn parse_dotenv(
    text: &str,
    source: &Arc<str>,
) -> Result<Vec<(String, String)>, Vec<Problem>> {
    let mut vars = Vec::new();
    let mut problems = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let bad = |msg: &str| {
            Problem::new(
                ProblemKind::Syntax,
                "",
                msg.to_owned(),
                Some(Location::new(source.clone(), line_no, 1)),
            )
        };
        let Some((key, value)) = line.split_once('=') else {
            problems.push(bad("expected KEY=VALUE"));
            continue;
        };
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| is_name_byte(b) || b == b'.') {
            problems.push(bad("invalid variable name"));
            continue;
        }
        match parse_value(value.trim()) {
            Some(v) => vars.push((key.to_owned(), v)),
            None => problems.push(bad("unterminated quoted value")),
        }
    }
    if problems.is_empty() {
        Ok(vars)
    } else {
        Err(problems)
    }
}

fn parse_value(value: &str) -> Option<String> {
    if let Some(rest) = value.strip_prefix('\'') {
        let end = rest.find('\'')?;
        return Some(rest[..end].to_owned());
    }
    if let Some(rest) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(out),
                '\\' => match chars.next()? {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
        return None;
    }
    let value = match value.find(" #") {
        Some(i) => &value[..i],
        None => value,
    };
    Some(value.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        [("HOST", "example.com"), ("PORT", "8080"), ("EMPTY", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn x(s: &str) -> (String, Vec<String>) {
        let mut unset = Vec::new();
        let out = expand(s, &env(), &mut unset).unwrap_or_else(|| s.to_owned());
        (out, unset)
    }

    #[test]
    fn expansion_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("${HOST}:${PORT}", "example.com:8080"),
            ("$HOST:$PORT", "example.com:8080"),
            ("tcp://127.0.0.1:${RPC_PORT:-6001}", "tcp://127.0.0.1:6001"),
            ("${PORT:-1}", "8080"),
            ("${EMPTY:-fallback}", "fallback"),
            ("${UNSET:-}", ""),
            ("[$EMPTY]", "[]"),
            ("${HOST}${PORT}", "example.com8080"),
            ("cost: 5$", "cost: 5$"),
            ("a $ b", "a $ b"),
            ("${}", "${}"),
            ("${HOST", "${HOST"),
            ("$HOST-x", "example.com-x"),
            ("${DEFAULT:-a:-b}", "a:-b"),
        ];
        for (input, want) in cases {
            assert_eq!(x(input).0, *want, "input {input:?}");
        }
    }

    #[test]
    fn unset_variables_are_reported() {
        assert_eq!(x("${NOPE}/$ALSO_NOT").1, vec!["NOPE", "ALSO_NOT"]);
        assert!(x("${NOPE:-x}").1.is_empty());
        assert!(x("$EMPTY").1.is_empty());
    }

    #[test]
    fn dotenv_lines() {
        let text = "# comment\n\nA=1\nexport B = two words \nC='single $x # kept'\n\
                    D=\"dq \\\"x\\\"\\n\"\nE=value # comment\nF=\n";
        let vars = parse_dotenv(text, &Arc::from(".env")).unwrap();
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("A"), Some("1"));
        assert_eq!(get("B"), Some("two words"));
        assert_eq!(get("C"), Some("single $x # kept"));
        assert_eq!(get("D"), Some("dq \"x\"\n"));
        assert_eq!(get("E"), Some("value"));
        assert_eq!(get("F"), Some(""));
    }

    #[test]
    fn dotenv_reports_every_bad_line() {
        let problems =
            parse_dotenv("A=1\nnot a pair\nB=\"open\n=x\n", &Arc::from(".env")).unwrap_err();
        let lines: Vec<_> = problems
            .iter()
            .map(|p| p.location.as_ref().unwrap().line().unwrap())
            .collect();
        assert_eq!(lines, vec![2, 3, 4]);
    }
}
